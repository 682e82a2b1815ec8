//! An independent model of RudderStack's hosted hub (rudderlabs/actions, 2020, SDK 0.0.3):
//! what one Look becomes, row by row, in `rudderstack` mapping mode.
//!
//! Written from the spec alone (looker.md section 6 "Mapping algorithm (fork)" and the quirks
//! of rudderstack-hub-observed.md), without looking at the hub's code, so that the property
//! tests compare two implementations that can disagree. JavaScript semantics matter here and
//! are modelled explicitly: truthiness (`0`, `""`, `false`, `null` are falsy; `[]` and `{}`
//! are truthy) and object key order (integer-like keys first, ascending, then the others in
//! insertion order).

use serde_json::{Map, Value};

/// The four id tags.
pub const ID_TAGS: [&str; 4] = ["user_id", "rudder_anonymous_id", "email", "rudder_group_id"];

/// Marker for "a freshly generated uuid v4" in model output.
pub const GENERATED: &str = "<generated uuid>";

/// The query-requires message (the fork's wording; it does not mention rudder_group_id).
pub const NO_ID_FIELD: &str =
    "Query requires a field tagged email or user_id or rudder_anonymous_id.";

/// Which field group a field belongs to; fieldset order is the declaration order here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Dimension,
    Measure,
    Filter,
    Parameter,
    TableCalculation,
}

/// A field of the Look.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub tags: Vec<String>,
    pub group: Group,
}

/// A Look as json_detail carries it.
#[derive(Debug, Clone)]
pub struct Look {
    pub fields: Vec<Field>,
    pub hidden_fields: Vec<String>,
    /// Rows of cells, each cell exactly as sent (`{"value":…}` or a pivot map).
    pub rows: Vec<Map<String, Value>>,
}

impl Look {
    /// The fork's `fieldset`: dimensions, measures, filters, parameters, table calculations.
    pub fn fieldset(&self) -> Vec<&Field> {
        let order = [
            Group::Dimension,
            Group::Measure,
            Group::Filter,
            Group::Parameter,
            Group::TableCalculation,
        ];
        order
            .iter()
            .flat_map(|g| self.fields.iter().filter(move |f| f.group == *g))
            .collect()
    }
}

/// The three calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Identify,
    Track,
    Group,
}

/// What the model says happens.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Per row processed: the payload handed to the SDK (after its id stringification), or
    /// the SDK's validation error for that row.
    pub rows: Vec<Result<Map<String, Value>, String>>,
    /// A throw that aborted the stream (after `rows.len()` rows).
    pub abort: Option<String>,
}

/// JavaScript truthiness of a JSON value (`undefined` is `None`).
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_)) | Some(Value::Object(_)) => true,
    }
}

/// Is `k` an array-index-like key, which JavaScript objects enumerate first?
fn integer_like(k: &str) -> bool {
    k == "0"
        || (!k.is_empty()
            && !k.starts_with('0')
            && k.len() <= 10
            && k.bytes().all(|b| b.is_ascii_digit())
            && k.parse::<u64>().is_ok_and(|n| n < u32::MAX as u64))
}

/// Keys of a JSON object in JavaScript enumeration order (`Object.keys` after `JSON.parse`).
pub fn js_keys(o: &Map<String, Value>) -> Vec<&String> {
    let mut ints: Vec<&String> = o.keys().filter(|k| integer_like(k)).collect();
    ints.sort_by_key(|k| k.parse::<u64>().unwrap_or(0));
    ints.into_iter()
        .chain(o.keys().filter(|k| !integer_like(k)))
        .collect()
}

/// The fork's `filterJson(cell, name)` result array: walk the cell's keys in order; `value`
/// records `{parentKey: value}` and stops that object; every other key that is not an id field
/// name is walked and its result pushed (the `res !== {}` check is always true, so empty
/// objects are pushed too). Primitives have no keys to walk and yield `{}`.
pub fn filter_json(cell: &Value, name: &str, id_names: &[&str]) -> Vec<Value> {
    fn walk(
        cur: &Value,
        name: &str,
        id_names: &[&str],
        out: &mut Vec<Value>,
    ) -> Map<String, Value> {
        let mut ret = Map::new();
        let entries: Vec<(String, &Value)> = match cur {
            Value::Object(o) => js_keys(o).into_iter().map(|k| (k.clone(), &o[k])).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (key, child) in entries {
            if key == "value" {
                ret.insert(name.to_string(), child.clone());
                return ret;
            } else if !id_names.contains(&key.as_str()) {
                let res = walk(child, &key, id_names, out);
                out.push(Value::Object(res));
            }
        }
        ret
    }
    let mut out = Vec::new();
    walk(cell, name, id_names, &mut out);
    out
}

/// The SDK (analytics-node 0.0.3) stringifies a truthy id that is not a string.
fn sdk_id(v: Value) -> Value {
    match &v {
        Value::String(_) => v,
        other if truthy(Some(other)) => Value::String(other.to_string()),
        _ => v,
    }
}

/// Run the model over a Look.
pub fn rudderstack(look: &Look, call: Call, event: Option<&str>) -> Outcome {
    let fieldset = look.fieldset();
    let has_tag = |f: &Field, t: &str| f.tags.iter().any(|x| x == t);
    let id_names: Vec<&str> = fieldset
        .iter()
        .filter(|f| ID_TAGS.iter().any(|t| has_tag(f, t)))
        .map(|f| f.name.as_str())
        .collect();
    let first = |t: &str| {
        fieldset
            .iter()
            .find(|f| has_tag(f, t))
            .map(|f| f.name.as_str())
    };
    let (user_f, anon_f, group_f, email_f) = (
        first("user_id"),
        first("rudder_anonymous_id"),
        first("rudder_group_id"),
        first("email"),
    );
    let mut out = Outcome {
        rows: Vec::new(),
        abort: None,
    };
    if id_names.is_empty() {
        out.abort = Some(NO_ID_FIELD.to_string());
        return out;
    }
    let value_of = |row: &Map<String, Value>, f: &str| -> Value {
        row.get(f)
            .and_then(|c| c.get("value"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    for row in &look.rows {
        let mut traits = Map::new();
        for f in &fieldset {
            if !id_names.contains(&f.name.as_str()) && !look.hidden_fields.contains(&f.name) {
                let Some(cell) = row.get(&f.name) else {
                    out.abort = Some(format!(
                        "Field id {} does not exist for JsonDetail.Row",
                        f.name
                    ));
                    return out;
                };
                let v = cell.get("value");
                if truthy(v) {
                    traits.insert(f.name.clone(), v.cloned().unwrap_or(Value::Null));
                } else {
                    traits.insert(
                        f.name.clone(),
                        Value::Array(filter_json(cell, &f.name, &id_names)),
                    );
                }
            }
            if Some(f.name.as_str()) == email_f {
                traits.insert("email".into(), value_of(row, &f.name));
            }
        }
        let user_id = user_f.map(|f| value_of(row, f)).unwrap_or(Value::Null);
        let anonymous_id = match anon_f {
            Some(f) => value_of(row, f),
            None if truthy(Some(&user_id)) => Value::Null,
            None => Value::String(GENERATED.into()),
        };
        let group_id = group_f.map(|f| value_of(row, f)).unwrap_or(Value::Null);
        // SDK validation, generic check first, then the call's own.
        if !truthy(Some(&user_id)) && !truthy(Some(&anonymous_id)) {
            out.rows.push(Err(
                "You must pass either an \"anonymousId\" or a \"userId\".".into(),
            ));
            continue;
        }
        let event_v = event.filter(|e| !e.is_empty());
        match call {
            Call::Track if event_v.is_none() => {
                out.rows.push(Err("You must pass an \"event\".".into()));
                continue;
            }
            Call::Group if !truthy(Some(&group_id)) => {
                out.rows.push(Err("You must pass a \"groupId\".".into()));
                continue;
            }
            _ => {}
        }
        let mut p = Map::new();
        p.insert("userId".into(), sdk_id(user_id));
        p.insert("anonymousId".into(), sdk_id(anonymous_id));
        if !group_id.is_null() {
            p.insert("groupId".into(), group_id);
        }
        let key = if call == Call::Track {
            "properties"
        } else {
            "traits"
        };
        p.insert(key.into(), Value::Object(traits));
        if let Some(e) = event_v {
            p.insert("event".into(), Value::String(e.into()));
        }
        out.rows.push(Ok(p));
    }
    out
}
