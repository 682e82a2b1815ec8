//! Properties of the column-to-trait mapping over generated Looks.
//!
//! `invariants` states what any correct mapping must do, independently of how; it is applied
//! to the model here and to the hub's mapping (both modes) once wired.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::looks;
use crate::model::{self, Call, GENERATED, ID_TAGS, Look};

fn is_id(f: &model::Field) -> bool {
    f.tags.iter().any(|t| ID_TAGS.contains(&t.as_str()))
}

/// Invariants of one payload produced from `row`: every visible non-id column appears
/// exactly once under its field name, no id column becomes a trait except `email`, hidden
/// non-id fields never appear, and userId/groupId/event are where they belong.
pub fn invariants(
    look: &Look,
    row: &Map<String, Value>,
    payload: &Map<String, Value>,
    call: Call,
    event: Option<&str>,
) -> Result<(), String> {
    let key = if call == Call::Track {
        "properties"
    } else {
        "traits"
    };
    let traits = payload
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("no `{key}` object in {payload:?}"))?;
    let email = look
        .fieldset()
        .into_iter()
        .find(|f| f.tags.iter().any(|t| t == "email"));
    for f in look.fieldset() {
        let visible = !look.hidden_fields.contains(&f.name);
        let present = traits.contains_key(&f.name);
        match (is_id(f), visible) {
            (false, true) if !present => return Err(format!("visible column {} missing", f.name)),
            (false, false) if present => return Err(format!("hidden column {} present", f.name)),
            (true, _) if present => return Err(format!("id column {} became a trait", f.name)),
            _ => {}
        }
    }
    let allowed = traits.keys().all(|k| {
        (k == "email" && email.is_some()) || look.fields.iter().any(|f| &f.name == k && !is_id(f))
    });
    if !allowed {
        return Err(format!("unexpected trait keys in {traits:?}"));
    }
    if let Some(e) = email {
        let want = row[&e.name].get("value").cloned().unwrap_or(Value::Null);
        if traits.get("email") != Some(&want) {
            return Err(format!(
                "email trait {:?}, expected {want}",
                traits.get("email")
            ));
        }
    }
    let first = |t: &str| {
        look.fieldset()
            .into_iter()
            .find(|f| f.tags.iter().any(|x| x == t))
    };
    let user = first("user_id")
        .map(|f| row[&f.name]["value"].clone())
        .unwrap_or(Value::Null);
    let got_user = payload.get("userId").cloned().unwrap_or(Value::Null);
    // The SDK stringifies truthy numeric ids: "123" stands for 123.
    let same_id = |a: &Value, b: &Value| {
        let text = b.to_string();
        a == b || a.as_str() == Some(text.as_str())
    };
    if !same_id(&got_user, &user) {
        return Err(format!("userId {got_user}, expected {user}"));
    }
    if let Some(g) = first("rudder_group_id") {
        let want = &row[&g.name]["value"];
        if !want.is_null() && payload.get("groupId") != Some(want) {
            return Err(format!(
                "groupId {:?}, expected {want}",
                payload.get("groupId")
            ));
        }
    } else if payload.contains_key("groupId") {
        return Err("groupId without a group column".into());
    }
    let want_event = event
        .filter(|e| !e.is_empty())
        .map(|e| Value::String(e.into()));
    if payload.get("event") != want_event.as_ref() {
        return Err(format!(
            "event {:?}, expected {want_event:?}",
            payload.get("event")
        ));
    }
    Ok(())
}

fn call() -> impl Strategy<Value = (Call, Option<&'static str>)> {
    prop_oneof![
        Just((Call::Identify, None)),
        Just((Call::Track, Some("Signed Up"))),
        Just((Call::Group, None)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The model obeys the invariants on every row it accepts.
    #[test]
    fn model_obeys_the_invariants(look in looks::look(), (call, event) in call()) {
        let out = model::rudderstack(&look, call, event);
        for (row, res) in look.rows.iter().zip(&out.rows) {
            if let Ok(p) = res {
                if let Err(e) = invariants(&look, row, p, call, event) {
                    return Err(TestCaseError::fail(e));
                }
                if let Some(Value::String(s)) = p.get("anonymousId") {
                    prop_assert!(s != GENERATED || !model::truthy(p.get("userId")));
                }
            }
        }
    }
}

/// The hub's pure mapping of one row, parsed back.
fn hub_map(
    look: &Look,
    row: &Map<String, Value>,
    call: Call,
    mode: hub::MappingMode,
    event: Option<&str>,
) -> Result<Map<String, Value>, hub::mapping::RowError> {
    use hub::mapping::{AnonymousId, CallType, Field, Fields, MapContext, map_row};
    let group = |g: model::Group| -> Vec<Field> {
        look.fields
            .iter()
            .filter(|f| f.group == g)
            .map(|f| Field {
                name: f.name.clone(),
                tags: f.tags.clone(),
            })
            .collect()
    };
    let fields = Fields {
        dimensions: group(model::Group::Dimension),
        measures: group(model::Group::Measure),
        filters: group(model::Group::Filter),
        parameters: group(model::Group::Parameter),
        table_calculations: group(model::Group::TableCalculation),
    };
    let call = match call {
        Call::Identify => CallType::Identify,
        Call::Track => CallType::Track,
        Call::Group => CallType::Group,
    };
    let mut ctx = MapContext::example(call, mode);
    ctx.hidden_fields = &look.hidden_fields;
    ctx.event = event;
    ctx.anonymous_id = AnonymousId::Fixed(GENERATED);
    let text = serde_json::to_string(row).expect("row serialises");
    let mut out = Vec::new();
    map_row(&fields, &text, &ctx, &mut out)?;
    let v: Value = serde_json::from_slice(&out).expect("the hub writes valid JSON");
    Ok(v.as_object().cloned().expect("an event is an object"))
}

/// Deep equality where object key order matters (the hub promises byte-for-byte order) and
/// numbers compare by value (`5` written by JSON.stringify equals `5.0`). serde_json's default
/// float parser is best-effort (last-digit error without its `float_roundtrip` feature, which
/// this crate must not switch on for the whole workspace), so floats read back from the hub's
/// bytes may differ in the last bit: allow that, nothing more.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p == q || (p - q).abs() <= p.abs().max(q.abs()) * 4e-16,
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
        }
        (x, y) => x == y,
    }
}

/// The part of an event the mapping decides (the rest is context, timestamps and ids).
fn core_of(p: &Map<String, Value>) -> Map<String, Value> {
    [
        "userId",
        "anonymousId",
        "groupId",
        "traits",
        "properties",
        "event",
    ]
    .iter()
    .filter_map(|k| p.get(*k).map(|v| (k.to_string(), v.clone())))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// rudderstack mode equals the independent model of the hosted hub, row by row: same ids,
    /// same traits in the same key order, same per-row errors, same aborts.
    #[test]
    fn rudderstack_mode_equals_the_model(look in looks::look(), (call, event) in call()) {
        let model = model::rudderstack(&look, call, event);
        for (i, row) in look.rows.iter().enumerate() {
            let got = hub_map(&look, row, call, hub::MappingMode::RudderStack, event);
            match (model.rows.get(i), &got) {
                (Some(Ok(want)), Ok(p)) => {
                    let (w, g) = (Value::Object(want.clone()), Value::Object(core_of(p)));
                    prop_assert!(same(&w, &g), "row {i}:\n model {w}\n hub   {g}\n row {}", Value::Object(row.clone()));
                    if call == Call::Identify {
                        let ct = p.get("context").and_then(|c| c.get("traits"));
                        prop_assert!(ct.is_some_and(|t| same(t, &want["traits"])), "context.traits {ct:?}");
                    }
                }
                (Some(Err(want)), Err(e)) => prop_assert_eq!(want, &e.to_string(), "row {}", i),
                (None, Err(e)) => {
                    let e = e.to_string();
                    prop_assert_eq!(model.abort.as_deref(), Some(e.as_str()), "row {}", i)
                }
                (want, got) => prop_assert!(false, "row {i}: model {want:?} (abort {:?}), hub {got:?}; row {}", model.abort, Value::Object(row.clone())),
            }
            if model.rows.get(i).is_none() {
                break;
            }
        }
    }

    /// clean mode: every visible non-id column arrives exactly once under its field name with
    /// its value round-tripped exactly (a pivot as `{pivot_key: value}`); ids never become
    /// traits (except `email`); hidden columns never appear.
    #[test]
    fn clean_mode_round_trips_every_value(look in looks::look(), (call, event) in call()) {
        for row in &look.rows {
            let Ok(p) = hub_map(&look, row, call, hub::MappingMode::Clean, event) else { continue };
            let key = if call == Call::Track { "properties" } else { "traits" };
            let traits = p.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
            for f in look.fieldset() {
                let hidden = look.hidden_fields.contains(&f.name);
                let got = traits.get(&f.name);
                if is_id(f) || hidden {
                    prop_assert!(got.is_none(), "{} must not be a trait: {traits:?}", f.name);
                    continue;
                }
                let cell = &row[&f.name];
                let want = match cell.get("value") {
                    Some(v) => v.clone(),
                    None => Value::Object(
                        cell.as_object().unwrap().iter()
                            .map(|(k, c)| (k.clone(), c["value"].clone()))
                            .collect(),
                    ),
                };
                let ok = got.is_some_and(|g| g == &want || same(g, &want));
                prop_assert!(ok, "{}: want {want}, got {got:?}", f.name);
            }
            let allowed = traits.keys().all(|k| k == "email" || look.fields.iter().any(|f| &f.name == k && !is_id(f)));
            prop_assert!(allowed, "unexpected trait keys {:?}", traits.keys().collect::<Vec<_>>());
            let first = |t: &str| look.fieldset().into_iter().find(|f| f.tags.iter().any(|x| x == t));
            if let Some(e) = first("email") {
                prop_assert_eq!(traits.get("email"), Some(&row[&e.name]["value"]));
            }
            let want_event = event.map(|e| Value::String(e.into()));
            prop_assert_eq!(p.get("event"), want_event.as_ref());
            if let Some(u) = first("user_id") {
                let v = &row[&u.name]["value"];
                let want = match v {
                    Value::String(s) if !s.is_empty() => Some(v.clone()),
                    Value::Number(_) => Some(Value::String(v.to_string())),
                    _ => None,
                };
                if let Some(w) = want {
                    prop_assert_eq!(p.get("userId"), Some(&w));
                }
            }
        }
    }
}

/// The tolerance in [`same`] is only for reading numbers back: the hub's bytes carry the exact
/// shortest round-trip digits, in both modes (the values proptest first tripped on).
#[test]
fn floats_are_written_with_exact_digits() {
    use hub::mapping::{CallType, Field, Fields, MapContext, map_row};
    let fields = Fields {
        dimensions: vec![
            Field::new("users.id", &["user_id"]),
            Field::new("users.x", &[]),
        ],
        ..Fields::default()
    };
    for mode in [hub::MappingMode::RudderStack, hub::MappingMode::Clean] {
        for x in [
            "522459.11150290276",
            "-931719.5860989571",
            "252254.92190275918",
            "0.1",
        ] {
            let row = format!(r#"{{"users.id":{{"value":"u1"}},"users.x":{{"value":{x}}}}}"#);
            let mut out = Vec::new();
            map_row(
                &fields,
                &row,
                &MapContext::example(CallType::Identify, mode),
                &mut out,
            )
            .expect("maps");
            let text = String::from_utf8(out).expect("utf-8");
            assert!(
                text.contains(&format!(r#""users.x":{x}"#)),
                "{mode}: {x} not in {text}"
            );
        }
    }
}
