//! Converting a scenario Look into the mock Looker's Look.

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use crate::format::{FieldSpec, LookSpec};

/// Convert a scenario Look into the mock Looker's Look.
pub fn to_look(spec: &LookSpec) -> anyhow::Result<mock_looker::Look> {
    if let Some(def) = &spec.looker_def {
        let def: mock_looker::LookDef = serde_json::from_value(def.clone())
            .context("reading the mock Looker Look of `looker_file`")?;
        return Ok(mock_looker::Look::from_def(def)?);
    }
    let fields = |list: &[FieldSpec]| -> Vec<Value> {
        list.iter()
            .map(|f| {
                let mut o = Map::new();
                o.insert("name".into(), json!(f.name));
                o.insert("tags".into(), json!(f.tags));
                if let Some(l) = &f.label {
                    o.insert("label".into(), json!(l));
                }
                if let Some(k) = &f.kind {
                    o.insert("type".into(), json!(k));
                }
                if f.hidden {
                    o.insert("hidden".into(), json!(true));
                }
                Value::Object(o)
            })
            .collect()
    };
    let mut def = Map::new();
    def.insert(
        "title".into(),
        json!(spec.title.clone().unwrap_or_else(|| "Scenario Look".into())),
    );
    def.insert(
        "model".into(),
        json!(spec.model.clone().unwrap_or_else(|| "thelook".into())),
    );
    def.insert(
        "explore".into(),
        json!(spec.explore.clone().unwrap_or_else(|| "users".into())),
    );
    if let Some(r) = &spec.ran_at {
        def.insert("ran_at".into(), json!(r));
    }
    if spec.ran_at_after_data {
        anyhow::bail!(
            "the mock Looker always writes ran_at before the rows; send a raw body for `ran_at_after_data`"
        );
    }
    if !spec.hidden_fields.is_empty() {
        def.insert(
            "vis_config".into(),
            json!({"hidden_fields": spec.hidden_fields}),
        );
    }
    if let Some(g) = &spec.generate {
        let dims: Vec<Value> = g
            .columns
            .iter()
            .map(|c| {
                let mut o = Map::new();
                o.insert("name".into(), json!(c.name));
                o.insert("tags".into(), json!(c.tags));
                if let Some(k) = &c.kind {
                    o.insert("type".into(), json!(k));
                }
                o.insert("generator".into(), c.generator.clone());
                if c.null_ratio > 0.0 {
                    o.insert("null_ratio".into(), json!(c.null_ratio));
                }
                Value::Object(o)
            })
            .collect();
        def.insert("fields".into(), json!({"dimensions": dims}));
        def.insert("generate".into(), json!({"rows": g.rows, "seed": g.seed}));
    } else {
        let f = spec.fields.clone().unwrap_or_default();
        if !f.filters.is_empty() || !f.parameters.is_empty() {
            anyhow::bail!(
                "the mock Looker's Looks have no filters/parameters field groups; send a raw body"
            );
        }
        // Pivot keys in order of first appearance in pivoted cells.
        let mut pivot_keys: Vec<String> = Vec::new();
        for row in &spec.rows {
            for cell in row.values() {
                if let Value::Object(o) = cell
                    && !o.contains_key("value")
                {
                    for k in o.keys() {
                        if !pivot_keys.contains(k) {
                            pivot_keys.push(k.clone());
                        }
                    }
                }
            }
        }
        def.insert(
            "fields".into(),
            json!({
                "dimensions": fields(&f.dimensions),
                "measures": fields(&f.measures),
                "table_calculations": fields(&f.table_calculations),
                "pivots": fields(&f.pivots),
            }),
        );
        if !pivot_keys.is_empty() {
            def.insert(
                "pivots".into(),
                Value::Array(
                    pivot_keys
                        .iter()
                        .map(|k| json!({"key": k, "is_total": k == "$$$_row_total_$$$"}))
                        .collect(),
                ),
            );
        }
        def.insert(
            "rows".into(),
            Value::Array(spec.rows.iter().cloned().map(Value::Object).collect()),
        );
    }
    let def: mock_looker::LookDef = serde_json::from_value(Value::Object(def))
        .context("converting the Look for the mock Looker")?;
    Ok(mock_looker::Look::from_def(def)?)
}
