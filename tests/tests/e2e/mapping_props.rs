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
    let same_id = |a: &Value, b: &Value| a == b || a.as_str().is_some_and(|s| s == b.to_string());
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
