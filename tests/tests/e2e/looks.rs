//! proptest strategies for Looks: any number and order of tagged, untagged and hidden fields
//! across views and field groups, pivots, nulls, numbers, booleans, unicode, empty strings.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::model::{Field, Group, Look};

/// A column before values are drawn.
#[derive(Debug, Clone)]
pub struct ColumnGen {
    pub field: Field,
    pub hidden: bool,
    pub pivoted: bool,
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        4 => Just(vec![]),
        2 => Just(vec!["user_id".to_string()]),
        2 => Just(vec!["email".to_string()]),
        1 => Just(vec!["rudder_anonymous_id".to_string()]),
        1 => Just(vec!["rudder_group_id".to_string()]),
        1 => Just(vec!["pii".to_string()]),
        1 => Just(vec!["email".to_string(), "user_id".to_string()]),
    ]
}

fn group() -> impl Strategy<Value = Group> {
    prop_oneof![
        4 => Just(Group::Dimension),
        2 => Just(Group::Measure),
        1 => Just(Group::Filter),
        1 => Just(Group::Parameter),
        1 => Just(Group::TableCalculation),
    ]
}

/// A scalar cell value: nulls, booleans, numbers (0 included), unicode and empty strings.
pub fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(json!(0)),
        2 => (-1000i64..1000).prop_map(|n| json!(n)),
        1 => (-1e6f64..1e6).prop_map(|f| json!(f)),
        1 => Just(json!("")),
        3 => "\\PC{1,8}".prop_map(Value::String),
    ]
}

/// An id value: mostly non-empty strings, sometimes falsy or numeric.
fn id_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => "[a-z0-9@._-]{1,10}".prop_map(Value::String),
        1 => Just(Value::Null),
        1 => Just(json!("")),
        1 => (1i64..100000).prop_map(|n| json!(n)),
    ]
}

/// A cell around a value: `{value}`, `{rendered, value}` or `{value, rendered}`.
fn cell(v: Value) -> impl Strategy<Value = Value> {
    let v2 = v.clone();
    let v3 = v.clone();
    prop_oneof![
        3 => Just(json!({"value": v})),
        1 => "\\PC{0,4}".prop_map(move |r| {
            let mut m = Map::new();
            m.insert("rendered".into(), Value::String(r));
            m.insert("value".into(), v2.clone());
            Value::Object(m)
        }),
        1 => "\\PC{0,4}".prop_map(move |r| {
            let mut m = Map::new();
            m.insert("value".into(), v3.clone());
            m.insert("rendered".into(), Value::String(r));
            Value::Object(m)
        }),
    ]
}

const PIVOT_KEYS: [&str; 5] = ["2019", "2020", "a", "Q1|2024", "$$$_row_total_$$$"];

fn pivot_cell() -> impl Strategy<Value = Value> {
    (
        proptest::sample::subsequence(PIVOT_KEYS.to_vec(), 1..=PIVOT_KEYS.len()),
        proptest::collection::vec(scalar(), PIVOT_KEYS.len()),
        any::<u64>(),
    )
        .prop_map(|(keys, values, shuffle)| {
            let mut keys = keys;
            // A deterministic rotation, so keys arrive in any order (JS reorders integer keys).
            let n = keys.len();
            keys.rotate_left((shuffle as usize) % n);
            let mut m = Map::new();
            for (k, v) in keys.iter().zip(values) {
                m.insert(k.to_string(), json!({"value": v}));
            }
            Value::Object(m)
        })
}

fn column() -> impl Strategy<Value = (String, Vec<String>, Group, bool, bool)> {
    (
        prop_oneof![
            Just("users"),
            Just("orders"),
            Just("accounts"),
            Just("événements")
        ],
        "[a-z][a-z_]{0,7}",
        tags(),
        group(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(view, f, tags, group, hidden, pivoted)| {
            (format!("{view}.{f}"), tags, group, hidden, pivoted)
        })
}

/// Columns with unique names.
pub fn columns() -> impl Strategy<Value = Vec<ColumnGen>> {
    proptest::collection::vec(column(), 0..8).prop_map(|cols| {
        let mut seen = std::collections::HashSet::new();
        cols.into_iter()
            .filter(|(name, ..)| seen.insert(name.clone()))
            .map(|(name, tags, group, hidden, pivoted)| ColumnGen {
                pivoted: pivoted && group == Group::Measure && tags.is_empty(),
                field: Field { name, tags, group },
                hidden,
            })
            .collect()
    })
}

fn row(cols: &[ColumnGen]) -> BoxedStrategy<Map<String, Value>> {
    let cells: Vec<BoxedStrategy<(String, Value)>> = cols
        .iter()
        .map(|c| {
            let name = c.field.name.clone();
            if c.pivoted {
                pivot_cell().prop_map(move |v| (name.clone(), v)).boxed()
            } else if c
                .field
                .tags
                .iter()
                .any(|t| crate::model::ID_TAGS.contains(&t.as_str()))
            {
                id_value()
                    .prop_map(move |v| (name.clone(), json!({"value": v})))
                    .boxed()
            } else {
                scalar()
                    .prop_flat_map(cell)
                    .prop_map(move |v| (name.clone(), v))
                    .boxed()
            }
        })
        .collect();
    cells.prop_map(|kv| kv.into_iter().collect()).boxed()
}

/// A whole Look.
pub fn look() -> impl Strategy<Value = Look> {
    columns().prop_flat_map(|cols| {
        let hidden: Vec<String> = cols
            .iter()
            .filter(|c| c.hidden)
            .map(|c| c.field.name.clone())
            .collect();
        let fields: Vec<Field> = cols.iter().map(|c| c.field.clone()).collect();
        proptest::collection::vec(row(&cols), 0..5).prop_map(move |rows| Look {
            fields: fields.clone(),
            hidden_fields: hidden.clone(),
            rows,
        })
    })
}
