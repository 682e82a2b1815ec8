//! The model checked against the cases the spec writes down (looker.md section 7, the
//! observed table of rudderstack-hub-observed.md), so that the property tests compare the hub
//! with a model that is itself right.

use serde_json::{Map, Value, json};

use crate::model::{Call, Field, GENERATED, Group, Look, NO_ID_FIELD, filter_json, rudderstack};

fn look(dims: &[(&str, &[&str])], rows: Value) -> Look {
    Look {
        fields: dims
            .iter()
            .map(|(n, t)| Field {
                name: n.to_string(),
                tags: t.iter().map(|s| s.to_string()).collect(),
                group: Group::Dimension,
            })
            .collect(),
        hidden_fields: vec![],
        rows: rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect(),
    }
}

fn one(l: &Look, call: Call, event: Option<&str>) -> Map<String, Value> {
    let out = rudderstack(l, call, event);
    assert_eq!(out.abort, None);
    out.rows[0].clone().expect("row valid")
}

#[test]
fn official_identify_cases() {
    // 1: user_id
    let l = look(
        &[("coolfield", &["user_id"])],
        json!([{"coolfield": {"value": "funvalue"}}]),
    );
    assert_eq!(
        Value::Object(one(&l, Call::Identify, None)),
        json!({"userId": "funvalue", "anonymousId": null, "traits": {}})
    );
    // 2: email → generated anonymousId
    let l = look(
        &[("coolfield", &["email"])],
        json!([{"coolfield": {"value": "funvalue"}}]),
    );
    assert_eq!(
        Value::Object(one(&l, Call::Identify, None)),
        json!({"userId": null, "anonymousId": GENERATED, "traits": {"email": "funvalue"}})
    );
    // 3: pivoted values
    let mut l = look(
        &[("coolfield", &["user_id"])],
        json!([{"coolfield": {"value": "funvalue"}, "users.count": {"f": {"value": 1}, "z": {"value": 3}}}]),
    );
    l.fields.push(Field {
        name: "users.count".into(),
        tags: vec![],
        group: Group::Measure,
    });
    assert_eq!(
        one(&l, Call::Identify, None)["traits"],
        json!({"users.count": [{"f": 1}, {"z": 3}]})
    );
    // 6: email + user id + anon + untagged
    let l = look(
        &[
            ("e", &["email"]),
            ("u", &["user_id"]),
            ("a", &["rudder_anonymous_id"]),
            ("cooltrait", &[]),
        ],
        json!([{"e": {"value": "emailval"}, "u": {"value": "id"}, "a": {"value": "anon_id"}, "cooltrait": {"value": "funtrait"}}]),
    );
    assert_eq!(
        Value::Object(one(&l, Call::Identify, None)),
        json!({"userId": "id", "anonymousId": "anon_id", "traits": {"email": "emailval", "cooltrait": "funtrait"}})
    );
    // 8: anonymous id only → userId null
    let l = look(
        &[("a", &["rudder_anonymous_id"])],
        json!([{"a": {"value": "anon_id"}}]),
    );
    assert_eq!(
        Value::Object(one(&l, Call::Identify, None)),
        json!({"userId": null, "anonymousId": "anon_id", "traits": {}})
    );
    // 9: hidden fields
    let mut l = look(
        &[
            ("coolfield", &["email"]),
            ("hiddenfield", &[]),
            ("nonhiddenfield", &[]),
        ],
        json!([{"coolfield": {"value": "funvalue"}, "hiddenfield": {"value": "h"}, "nonhiddenfield": {"value": "n"}}]),
    );
    l.hidden_fields = vec!["hiddenfield".into()];
    assert_eq!(
        one(&l, Call::Identify, None)["traits"],
        json!({"email": "funvalue", "nonhiddenfield": "n"})
    );
    // 10: null user id
    let l = look(
        &[("coolfield", &["user_id"])],
        json!([{"coolfield": {"value": null}}]),
    );
    assert_eq!(
        Value::Object(one(&l, Call::Identify, None)),
        json!({"userId": null, "anonymousId": GENERATED, "traits": {}})
    );
    // 14: no tagged field
    let l = look(
        &[("coolfield", &[])],
        json!([{"coolfield": {"value": "x"}}]),
    );
    assert_eq!(
        rudderstack(&l, Call::Identify, None).abort.as_deref(),
        Some(NO_ID_FIELD)
    );
}

#[test]
fn official_group_and_track_cases() {
    let l = look(
        &[("g", &["rudder_group_id"])],
        json!([{"g": {"value": "funvalue"}}]),
    );
    assert_eq!(
        Value::Object(one(&l, Call::Group, None)),
        json!({"userId": null, "anonymousId": GENERATED, "groupId": "funvalue", "traits": {}})
    );
    let l = look(
        &[("g", &["rudder_group_id"]), ("u", &["user_id"])],
        json!([{"g": {"value": "funvalue"}, "u": {"value": null}}]),
    );
    assert_eq!(one(&l, Call::Group, None)["anonymousId"], json!(GENERATED));
    let l = look(
        &[("coolfield", &["user_id"])],
        json!([{"coolfield": {"value": "funvalue"}}]),
    );
    assert_eq!(
        Value::Object(one(&l, Call::Track, Some("funevent"))),
        json!({"userId": "funvalue", "anonymousId": null, "properties": {}, "event": "funevent"})
    );
}

#[test]
fn observed_quirks() {
    // d: falsy plain cells become []
    let l = look(
        &[
            ("id", &["user_id"]),
            ("n", &[]),
            ("z", &[]),
            ("f", &[]),
            ("e", &[]),
        ],
        json!([{"id": {"value": "u1"}, "n": {"value": null}, "z": {"value": 0}, "f": {"value": false}, "e": {"value": ""}}]),
    );
    assert_eq!(
        one(&l, Call::Identify, None)["traits"],
        json!({"n": [], "z": [], "f": [], "e": []})
    );
    // d2: keys before value push {} each, links recursively (5 for one link object)
    let cell = json!({"links": [{"label": "Drill", "url": "/x", "type": "drill"}], "value": false});
    assert_eq!(filter_json(&cell, "f", &[]), vec![json!({}); 5]);
    assert_eq!(
        filter_json(&json!({"rendered": "x", "value": null}), "n", &[]),
        vec![json!({})]
    );
    assert_eq!(
        filter_json(&json!({"value": "", "rendered": ""}), "e", &[]),
        Vec::<Value>::new()
    );
    // e: falsy values inside pivots are kept; JS enumerates integer-like keys first
    let cell =
        json!({"$$$_row_total_$$$": {"value": 3}, "2020": {"value": 0}, "2019": {"value": null}});
    assert_eq!(
        filter_json(&cell, "orders.count", &[]),
        vec![
            json!({"2019": null}),
            json!({"2020": 0}),
            json!({"$$$_row_total_$$$": 3})
        ]
    );
    // a pivot key equal to an id field name is skipped
    assert_eq!(
        filter_json(
            &json!({"uid": {"value": 1}, "z": {"value": 2}}),
            "m",
            &["uid"]
        ),
        vec![json!({"z": 2})]
    );
    // g: groupId rides along on identify; u: anon column null → validation error
    let l = look(
        &[("u", &["user_id"]), ("g", &["rudder_group_id"])],
        json!([{"u": {"value": "u1"}, "g": {"value": "acc-1"}}]),
    );
    assert_eq!(one(&l, Call::Identify, None)["groupId"], json!("acc-1"));
    let l = look(
        &[("e", &["email"]), ("a", &["rudder_anonymous_id"])],
        json!([{"e": {"value": "x"}, "a": {"value": null}}]),
    );
    assert_eq!(
        rudderstack(&l, Call::Identify, None).rows[0],
        Err("You must pass either an \"anonymousId\" or a \"userId\".".to_string())
    );
    // k: truthy non-string ids stringified, 0 left alone
    let l = look(
        &[("u", &["user_id"]), ("a", &["rudder_anonymous_id"])],
        json!([{"u": {"value": 123}, "a": {"value": 456}}, {"u": {"value": 0}, "a": {"value": "a2"}}]),
    );
    let out = rudderstack(&l, Call::Identify, None);
    assert_eq!(out.rows[0].as_ref().unwrap()["userId"], json!("123"));
    assert_eq!(out.rows[0].as_ref().unwrap()["anonymousId"], json!("456"));
    assert_eq!(out.rows[1].as_ref().unwrap()["userId"], json!(0));
    // a: group without group id → per-row error; track without event → per-row error
    let l = look(&[("u", &["user_id"])], json!([{"u": {"value": "u1"}}]));
    assert_eq!(
        rudderstack(&l, Call::Group, None).rows[0],
        Err("You must pass a \"groupId\".".to_string())
    );
    assert_eq!(
        rudderstack(&l, Call::Track, None).rows[0],
        Err("You must pass an \"event\".".to_string())
    );
    // o: missing cell aborts
    let l = look(
        &[("u", &["user_id"]), ("users.city", &[])],
        json!([{"u": {"value": "u1"}, "users.city": {"value": "P"}}, {"u": {"value": "u2"}}]),
    );
    let out = rudderstack(&l, Call::Identify, None);
    assert_eq!(out.rows.len(), 1);
    assert_eq!(
        out.abort.as_deref(),
        Some("Field id users.city does not exist for JsonDetail.Row")
    );
    // f2/w: hidden email still sent, null email kept
    let mut l = look(
        &[("e", &["email"]), ("u", &["user_id"])],
        json!([{"e": {"value": null}, "u": {"value": "u1"}}]),
    );
    l.hidden_fields = vec!["e".into()];
    assert_eq!(
        one(&l, Call::Identify, None)["traits"],
        json!({"email": null})
    );
}
