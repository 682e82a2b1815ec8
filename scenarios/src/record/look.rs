//! The Look a recorded execute carried (inline or behind its download URL), as a mock Looker
//! Look definition (`mock_looker::LookDef`, the format `mock-looker --looks DIR` loads), so a
//! replay sends the same fields, metadata, hidden fields and cells.

use serde_json::{Map, Value, json};

/// The json_detail field keys the mock Looker writes itself (from the typed part of a
/// `FieldDef` or derived); any other key of a recorded field is kept in `extra`, which the mock
/// appends verbatim.
const WRITTEN_BY_THE_MOCK: &[&str] = &[
    "align",
    "can_filter",
    "can_pivot",
    "default_filter_value",
    "description",
    "dynamic",
    "enumerations",
    "error",
    "expression",
    "field_group_label",
    "field_group_variant",
    "file_path",
    "fill_style",
    "fiscal_month_offset",
    "has_allowed_values",
    "hidden",
    "is_filter",
    "is_numeric",
    "is_table_calculation",
    "is_timeframe",
    "label",
    "label_short",
    "lookml_link",
    "measure",
    "name",
    "permanent",
    "primary_key",
    "project_id",
    "requires_refresh_on_sort",
    "scope",
    "sortable",
    "sorted",
    "source_file",
    "sql",
    "suggest_dimension",
    "suggest_explore",
    "suggestable",
    "tags",
    "time_interval",
    "type",
    "user_attribute_filter_types",
    "value_format",
    "view",
    "view_label",
];

/// The typed `FieldDef` keys taken over as they are.
const TYPED: &[&str] = &[
    "name",
    "label",
    "label_short",
    "view",
    "view_label",
    "type",
    "tags",
    "description",
    "is_numeric",
    "hidden",
    "primary_key",
    "value_format",
    "field_group_label",
    "field_group_variant",
    "expression",
    "sorted",
    "time_interval",
];

/// Which Looker data format a recorded attachment is in, as far as its shape tells (the execute
/// body does not name it).
pub fn format_of(data: &Value) -> Option<&'static str> {
    let o = data.as_object()?;
    if !(o.contains_key("fields") && o.contains_key("data")) {
        return None;
    }
    // json_detail_lite_stream is exactly `{ran_at, fields, data}`; json_detail has the query
    // result's other keys (`status`, `sql`, `id`, …).
    if o.keys()
        .all(|k| matches!(k.as_str(), "ran_at" | "fields" | "data"))
    {
        Some("json_detail_lite_stream")
    } else {
        Some("json_detail")
    }
}

/// The Look definition from a json_detail(-lite) document and the execute's `scheduled_plan`.
/// `Err` names what is missing (the scenario then says why it has no Look).
pub fn look_def(data: &Value, plan: &Value) -> Result<Value, String> {
    let doc = data
        .as_object()
        .ok_or("the Look data is not a JSON object (only json_detail formats become Looks)")?;
    let fields = doc
        .get("fields")
        .and_then(Value::as_object)
        .ok_or("the Look data has no `fields` object")?;
    let rows = doc
        .get("data")
        .and_then(Value::as_array)
        .ok_or("the Look data has no `data` array")?;
    let query = plan.get("query").cloned().unwrap_or(Value::Null);
    let mut def = Map::new();
    let text = |v: Option<&Value>, default: &str| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(default)
            .to_owned()
    };
    def.insert(
        "title".into(),
        json!(text(plan.get("title"), "Recorded Look")),
    );
    def.insert("model".into(), json!(text(query.get("model"), "recorded")));
    def.insert("explore".into(), json!(text(query.get("view"), "recorded")));
    let mut groups = Map::new();
    for group in ["dimensions", "measures", "table_calculations", "pivots"] {
        let list: Vec<Value> = fields
            .get(group)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(field_def).collect())
            .unwrap_or_default();
        groups.insert(group.into(), Value::Array(list));
    }
    let pivoted = groups["pivots"].as_array().is_some_and(|a| !a.is_empty());
    def.insert("fields".into(), Value::Object(groups));
    let pivots = pivots(doc.get("pivots"), rows, pivoted);
    if !pivots.is_empty() {
        def.insert("pivots".into(), Value::Array(pivots));
    }
    def.insert("rows".into(), Value::Array(rows.clone()));
    if let Some(v) = query.get("vis_config").filter(|v| v.is_object()) {
        def.insert("vis_config".into(), v.clone());
    }
    if let Some(v) = query.get("filters").filter(|v| v.is_object()) {
        def.insert("filters".into(), v.clone());
    }
    if let Some(v) = query.get("sorts").filter(|v| v.is_array()) {
        def.insert("sorts".into(), v.clone());
    }
    if let Some(v) = query.get("limit").and_then(Value::as_str) {
        def.insert("limit".into(), json!(v));
    }
    for key in ["ran_at", "sql", "timezone"] {
        if let Some(v) = doc.get(key).and_then(Value::as_str) {
            def.insert(key.into(), json!(v));
        }
    }
    Ok(Value::Object(def))
}

fn field_def(f: &Value) -> Option<Value> {
    let o = f.as_object()?;
    o.get("name")?.as_str()?;
    let mut out = Map::new();
    let mut extra = Map::new();
    for (k, v) in o {
        if TYPED.contains(&k.as_str()) {
            // Typed keys must have the type the mock expects; a null says nothing.
            let fits = match k.as_str() {
                "tags" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                "is_numeric" | "hidden" | "primary_key" => v.is_boolean(),
                "sorted" | "time_interval" => v.is_object(),
                _ => v.is_string(),
            };
            if fits {
                out.insert(k.clone(), v.clone());
            }
        } else if !WRITTEN_BY_THE_MOCK.contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    if !extra.is_empty() {
        out.insert("extra".into(), Value::Object(extra));
    }
    Some(Value::Object(out))
}

/// The pivot columns: json_detail's top-level `pivots` (key, data, is_total), or for the lite
/// format the keys of the pivoted cells in order of first appearance.
fn pivots(top: Option<&Value>, rows: &[Value], pivoted: bool) -> Vec<Value> {
    if let Some(list) = top.and_then(Value::as_array) {
        return list
            .iter()
            .filter_map(|p| {
                let key = p.get("key")?.as_str()?;
                let mut o = Map::new();
                o.insert("key".into(), json!(key));
                if let Some(d) = p.get("data").filter(|d| d.is_object()) {
                    o.insert("data".into(), d.clone());
                }
                if p.get("is_total").and_then(Value::as_bool) == Some(true) {
                    o.insert("is_total".into(), json!(true));
                }
                Some(Value::Object(o))
            })
            .collect();
    }
    if !pivoted {
        return Vec::new();
    }
    let mut keys: Vec<String> = Vec::new();
    for row in rows {
        for cell in row.as_object().into_iter().flat_map(|o| o.values()) {
            if let Value::Object(o) = cell
                && !o.contains_key("value")
            {
                for k in o.keys() {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
    }
    keys.into_iter()
        .map(|k| json!({"key": k, "is_total": k == "$$$_row_total_$$$"}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_detail_document_becomes_a_look_the_mock_accepts() {
        let data = json!({
            "status": "complete", "ran_at": "2024-05-01T12:00:00+00:00",
            "fields": {"dimensions": [
                {"name": "users.email", "label": "Users Email", "tags": ["email"], "type": "string",
                 "is_numeric": false, "align": "left", "suggest_persist_for": "6 hours"}],
                "measures": [], "table_calculations": [], "pivots": []},
            "data": [{"users.email": {"value": "a@x.io", "rendered": "a@x.io", "links": []}}]
        });
        assert_eq!(format_of(&data), Some("json_detail"));
        let plan = json!({"title": "Users", "query": {"model": "m", "view": "users",
            "vis_config": {"hidden_fields": ["users.email"]}, "limit": "500"}});
        let def = look_def(&data, &plan).unwrap();
        assert_eq!(
            def["fields"]["dimensions"][0]["extra"],
            json!({"suggest_persist_for": "6 hours"})
        );
        assert!(def["fields"]["dimensions"][0].get("align").is_none());
        // Keys the mock writes itself are left to it (else the field would carry them twice).
        let written = serde_json::to_string(&look_def(
            &json!({"fields": {"dimensions": [{"name": "a.b", "file_path": "a.view.lkml"}]}, "data": []}),
            &plan,
        )
        .unwrap())
        .unwrap();
        assert!(!written.contains("file_path"), "{written}");
        let def: mock_looker::LookDef = serde_json::from_value(def).unwrap();
        let look = mock_looker::Look::from_def(def).unwrap();
        assert_eq!(look.title(), "Users");
    }

    #[test]
    fn lite_stream_pivots_come_from_the_cells() {
        let data = json!({"ran_at": "x", "fields": {"dimensions": [{"name": "u.id"}],
            "measures": [{"name": "o.count"}], "pivots": [{"name": "o.month"}]},
            "data": [{"u.id": {"value": 1}, "o.count": {"2024-01": {"value": 1}, "2024-02": {"value": 2}}}]});
        assert_eq!(format_of(&data), Some("json_detail_lite_stream"));
        let def = look_def(&data, &json!({})).unwrap();
        assert_eq!(def["pivots"][1]["key"], "2024-02");
        let def: mock_looker::LookDef = serde_json::from_value(def).unwrap();
        mock_looker::Look::from_def(def).unwrap();
    }

    #[test]
    fn csv_is_not_a_look() {
        assert_eq!(format_of(&json!("a,b\n1,2")), None);
        assert!(look_def(&json!("a,b"), &json!({})).is_err());
    }
}
