//! The metadata around json_detail's rows: the result id, SQL text, applied filters, pivots,
//! and each field's metadata as Looker derives it.

use serde_json::{Map, Value, json};

use crate::look::{Category, Column, Look};

/// A stable 32-hex result id for the Look (json_detail's `id`).
pub(super) fn query_result_id(look: &Look) -> String {
    let mut h = crate::look::SplitMix64::new(
        look.title()
            .bytes()
            .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64)),
    );
    format!("{:016x}{:016x}", h.next_u64(), h.next_u64())
}

pub(super) fn sql_text(look: &Look) -> String {
    if let Some(sql) = &look.def().sql {
        return sql.clone();
    }
    let cols: Vec<String> = look
        .columns()
        .iter()
        .map(|c| format!("\t{} AS `{}`", c.def.name, c.def.name))
        .collect();
    format!(
        "SELECT \n{}\nFROM {}\nLIMIT {}",
        cols.join(",\n"),
        look.def().explore,
        look.def().limit.as_deref().unwrap_or("500")
    )
}

pub(super) fn applied_filters(look: &Look) -> Value {
    let mut m = Map::new();
    for (k, v) in &look.def().filters {
        let field = look
            .columns()
            .iter()
            .find(|c| &c.def.name == k)
            .map(|c| field_meta(look, c))
            .unwrap_or_else(|| json!({"name": k}));
        m.insert(k.clone(), json!({"field": field, "value": v}));
    }
    Value::Object(m)
}

pub(super) fn top_level_pivots(look: &Look) -> Vec<u8> {
    let list: Vec<Value> = look
        .pivots()
        .iter()
        .map(|p| {
            let metadata: Map<String, Value> =
                p.data.keys().map(|k| (k.clone(), json!({}))).collect();
            json!({"key": p.key, "is_total": p.is_total, "data": p.data, "metadata": metadata})
        })
        .collect();
    serde_json::to_vec(&list).expect("serialisable")
}

/// The json_detail `fields` object, in the key order of the real example: measures,
/// dimensions, table_calculations, pivots.
pub fn fields_json(look: &Look) -> Vec<u8> {
    let pick = |cat: Category| -> Vec<Value> {
        look.columns()
            .iter()
            .filter(|c| c.category == cat)
            .map(|c| field_meta(look, c))
            .collect()
    };
    let pivots: Vec<Value> = look
        .def()
        .fields
        .pivots
        .iter()
        .map(|f| {
            let c = Column {
                def: f.clone(),
                category: Category::Dimension,
                label: f
                    .label
                    .clone()
                    .unwrap_or_else(|| crate::look::default_label(&f.name)),
                pivoted: false,
                hidden_in_vis: false,
                is_numeric: f.is_numeric.unwrap_or(false),
            };
            field_meta(look, &c)
        })
        .collect();
    let v = json!({
        "measures": pick(Category::Measure),
        "dimensions": pick(Category::Dimension),
        "table_calculations": pick(Category::TableCalculation),
        "pivots": pivots,
    });
    serde_json::to_vec(&v).expect("serialisable")
}

/// One field's json_detail metadata, keys in the order of the real example.
pub fn field_meta(look: &Look, c: &Column) -> Value {
    let f = &c.def;
    let (view, short) = match f.name.split_once('.') {
        Some((v, s)) => (v.to_owned(), s.to_owned()),
        None => (String::new(), f.name.clone()),
    };
    let view = f.view.clone().unwrap_or(view);
    let view_label = f
        .view_label
        .clone()
        .unwrap_or_else(|| crate::look::default_label(&view));
    let label_short = f
        .label_short
        .clone()
        .unwrap_or_else(|| crate::look::default_label(&short));
    let explore = &look.def().explore;
    let project = "mock_looker";
    let mut m = Map::new();
    if c.category == Category::TableCalculation {
        // Table calculations have a smaller, different key set in Looker's json_detail.
        m.insert("label".into(), json!(c.label));
        m.insert("name".into(), json!(f.name));
        m.insert(
            "expression".into(),
            json!(f.expression.clone().unwrap_or_default()),
        );
        m.insert("can_pivot".into(), json!(true));
        m.insert("sortable".into(), json!(true));
        m.insert(
            "type".into(),
            json!(f.kind.clone().unwrap_or_else(|| "number".into())),
        );
        m.insert(
            "align".into(),
            json!(if c.is_numeric { "right" } else { "left" }),
        );
        m.insert("measure".into(), json!(true));
        m.insert("is_table_calculation".into(), json!(true));
        m.insert("dynamic".into(), json!(true));
        m.insert("value_format".into(), json!(f.value_format));
        m.insert("is_numeric".into(), json!(c.is_numeric));
        m.insert("tags".into(), json!(f.tags));
        m.insert("hidden".into(), json!(f.hidden));
    } else {
        let measure = c.category == Category::Measure;
        let kind = f.kind.clone().unwrap_or_else(|| {
            if measure {
                "count".into()
            } else {
                "string".into()
            }
        });
        m.insert("name".into(), json!(f.name));
        m.insert("label".into(), json!(c.label));
        m.insert("tags".into(), json!(f.tags));
        m.insert("label_short".into(), json!(label_short));
        m.insert("view_label".into(), json!(view_label));
        m.insert("primary_key".into(), json!(f.primary_key));
        m.insert("type".into(), json!(kind));
        m.insert(
            "align".into(),
            json!(if c.is_numeric { "right" } else { "left" }),
        );
        m.insert("measure".into(), json!(measure));
        m.insert("is_filter".into(), json!(false));
        m.insert("default_filter_value".into(), Value::Null);
        m.insert("hidden".into(), json!(f.hidden));
        m.insert("view".into(), json!(view));
        m.insert("is_numeric".into(), json!(c.is_numeric));
        m.insert("scope".into(), json!(view));
        m.insert("project_id".into(), json!(project));
        m.insert("file_path".into(), json!(format!("{view}.view.lkml")));
        m.insert(
            "source_file".into(),
            json!(format!("{project}/{view}.view.lkml")),
        );
        m.insert("can_filter".into(), json!(true));
        m.insert("requires_refresh_on_sort".into(), json!(false));
        m.insert("sortable".into(), json!(true));
        m.insert("error".into(), Value::Null);
        m.insert("value_format".into(), json!(f.value_format));
        m.insert("has_allowed_values".into(), json!(false));
        m.insert("field_group_label".into(), json!(f.field_group_label));
        m.insert(
            "field_group_variant".into(),
            json!(
                f.field_group_variant
                    .clone()
                    .unwrap_or_else(|| label_short.clone())
            ),
        );
        m.insert(
            "lookml_link".into(),
            json!(format!(
                "/projects/{project}/files/{view}.view.lkml?line=1.0"
            )),
        );
        m.insert(
            "fill_style".into(),
            if f.time_interval.is_some() {
                json!("range")
            } else {
                Value::Null
            },
        );
        let uaft = if f.time_interval.is_some() || kind.starts_with("date") || kind == "time" {
            ["datetime", "advanced_filter_datetime"]
        } else if c.is_numeric {
            ["number", "advanced_filter_number"]
        } else {
            ["string", "advanced_filter_string"]
        };
        m.insert("user_attribute_filter_types".into(), json!(uaft));
        m.insert("fiscal_month_offset".into(), json!(0));
        m.insert("suggest_explore".into(), json!(explore));
        m.insert("suggest_dimension".into(), json!(f.name));
        m.insert("enumerations".into(), Value::Null);
        m.insert("suggestable".into(), json!(!measure && !c.is_numeric));
        if let Some(d) = &f.description {
            m.insert("description".into(), json!(d));
        }
        if let Some(ti) = &f.time_interval {
            m.insert("time_interval".into(), ti.clone());
            m.insert("is_timeframe".into(), json!(true));
        }
        if let Some(s) = &f.sorted {
            m.insert("sorted".into(), s.clone());
        }
    }
    for (k, v) in &f.extra {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}
