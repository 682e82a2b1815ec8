//! The mapping: each RudderStack quirk shown in both modes, plus the real batch fixture.

use hub::mapping::{
    AnonymousId, CallType, Field, Fields, MapContext, MappingMode, RowError, map_row,
};
use serde_json::{Value, json};

use CallType::{Group, Identify, Track};
use MappingMode::{Clean, RudderStack as Rs};

fn dims(spec: &[(&str, &[&str])]) -> Fields {
    Fields {
        dimensions: spec.iter().map(|(n, t)| Field::new(n, t)).collect(),
        ..Fields::default()
    }
}

fn run_with(
    fields: &Fields,
    row: &str,
    call: CallType,
    mode: MappingMode,
    hidden: &[String],
    event: Option<&str>,
) -> Result<String, RowError> {
    let mut ctx = MapContext::example(call, mode);
    ctx.hidden_fields = hidden;
    ctx.event = event;
    let mut out = Vec::new();
    map_row(fields, row, &ctx, &mut out)?;
    Ok(String::from_utf8(out).expect("utf8"))
}

fn run(fields: &Fields, row: &str, call: CallType, mode: MappingMode) -> Value {
    let s = run_with(fields, row, call, mode, &[], Some("ev")).expect("maps");
    serde_json::from_str(&s).expect("valid JSON")
}

fn traits(v: &Value) -> &Value {
    v.get("traits").or(v.get("properties")).expect("traits")
}

#[test]
fn falsy_values_become_empty_arrays_in_rudderstack_mode_and_stay_in_clean() {
    let f = dims(&[
        ("u.id", &["user_id"]),
        ("u.n", &[]),
        ("u.zero", &[]),
        ("u.flag", &[]),
        ("u.empty", &[]),
        ("u.x", &[]),
    ]);
    let row = r#"{"u.id":{"value":"u1"},"u.n":{"value":null},"u.zero":{"value":0},"u.flag":{"value":false},"u.empty":{"value":""},"u.x":{"value":5}}"#;
    let rs = run(&f, row, Identify, Rs);
    assert_eq!(
        traits(&rs),
        &json!({"u.n":[],"u.zero":[],"u.flag":[],"u.empty":[],"u.x":5})
    );
    let clean = run(&f, row, Identify, Clean);
    assert_eq!(
        traits(&clean),
        &json!({"u.n":null,"u.zero":0,"u.flag":false,"u.empty":"","u.x":5})
    );
}

#[test]
fn keys_before_value_push_empty_objects_recursively_through_links() {
    let f = dims(&[
        ("u.id", &["user_id"]),
        ("u.n", &[]),
        ("u.flag", &[]),
        ("u.empty", &[]),
    ]);
    // As observed (case d2): rendered before value gives [{}]; a link object with 3 keys
    // pushes 3 + 1 (the object) + 1 (the links array) = 5; value first gives [].
    let row = r#"{"u.id":{"value":"u1"},"u.n":{"rendered":"x","value":null},
        "u.flag":{"links":[{"label":"a","url":"/b","type":"drill"}],"value":false},
        "u.empty":{"value":"","rendered":"-"}}"#;
    let rs = run(&f, row, Identify, Rs);
    assert_eq!(
        traits(&rs),
        &json!({"u.n":[{}],"u.flag":[{},{},{},{},{}],"u.empty":[]})
    );
    let clean = run(&f, row, Identify, Clean);
    assert_eq!(
        traits(&clean),
        &json!({"u.n":null,"u.flag":false,"u.empty":""})
    );
}

#[test]
fn pivots_are_arrays_of_single_key_objects_keeping_falsy_values_or_objects_in_clean() {
    let f = Fields {
        dimensions: vec![Field::new("u.id", &["user_id"])],
        measures: vec![Field::new("orders.count", &[])],
        ..Fields::default()
    };
    // JSON order 2020 before 2019: JavaScript lists integer-like keys ascending.
    let row = r#"{"u.id":{"value":"u1"},"orders.count":{"2020":{"value":0},"2019":{"value":3},"$$$_row_total_$$$":{"value":null}}}"#;
    let rs = run_with(&f, row, Identify, Rs, &[], None).unwrap();
    assert!(
        rs.contains(
            r#""traits":{"orders.count":[{"2019":3},{"2020":0},{"$$$_row_total_$$$":null}]}"#
        ),
        "{rs}"
    );
    let clean = run_with(&f, row, Identify, Clean, &[], None).unwrap();
    assert!(
        clean.contains(r#""traits":{"orders.count":{"2020":0,"2019":3,"$$$_row_total_$$$":null}}"#),
        "{clean}"
    );
}

#[test]
fn official_pivot_case_gives_f_and_z() {
    let f = Fields {
        dimensions: vec![Field::new("coolfield", &["user_id"])],
        measures: vec![Field::new("users.count", &[])],
        ..Fields::default()
    };
    let row =
        r#"{"coolfield":{"value":"funvalue"},"users.count":{"f":{"value":1},"z":{"value":3}}}"#;
    let rs = run(&f, row, Identify, Rs);
    assert_eq!(traits(&rs), &json!({"users.count":[{"f":1},{"z":3}]}));
    assert_eq!(rs["anonymousId"], Value::Null);
    let clean = run(&f, row, Identify, Clean);
    assert_eq!(traits(&clean), &json!({"users.count":{"f":1,"z":3}}));
}

#[test]
fn pivot_key_equal_to_an_id_field_name_is_skipped_only_in_rudderstack_mode() {
    let f = Fields {
        dimensions: vec![Field::new("uid", &["user_id"])],
        measures: vec![Field::new("m", &[])],
        ..Fields::default()
    };
    let row = r#"{"uid":{"value":"u1"},"m":{"uid":{"value":1},"b":{"value":2}}}"#;
    assert_eq!(traits(&run(&f, row, Identify, Rs)), &json!({"m":[{"b":2}]}));
    assert_eq!(
        traits(&run(&f, row, Identify, Clean)),
        &json!({"m":{"uid":1,"b":2}})
    );
}

#[test]
fn email_is_copied_even_when_hidden_or_null_in_both_modes() {
    let f = dims(&[("u.mail", &["email"]), ("u.secret", &[]), ("u.city", &[])]);
    let hidden = vec!["u.mail".to_string(), "u.secret".to_string()];
    let row =
        r#"{"u.mail":{"value":"a@x.io"},"u.secret":{"value":"s"},"u.city":{"value":"Paris"}}"#;
    for mode in [Rs, Clean] {
        let s = run_with(&f, row, Identify, mode, &hidden, None).unwrap();
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            traits(&v),
            &json!({"email":"a@x.io","u.city":"Paris"}),
            "{mode}"
        );
        assert_eq!(v["anonymousId"], "stubanon");
    }
    let null_row =
        r#"{"u.mail":{"value":null},"u.secret":{"value":"s"},"u.city":{"value":"Paris"}}"#;
    for mode in [Rs, Clean] {
        let s = run_with(&f, null_row, Identify, mode, &[], None).unwrap();
        assert!(
            s.contains(r#""traits":{"email":null,"u.secret":"s","u.city":"Paris"}"#),
            "{mode}: {s}"
        );
    }
}

#[test]
fn group_id_rides_on_every_call_type_in_both_modes_numbers_stringified_only_in_rudderstack_mode() {
    let f = dims(&[
        ("u.id", &["user_id"]),
        ("a.id", &["rudder_group_id"]),
        ("a.plan", &[]),
    ]);
    let row = r#"{"u.id":{"value":"u1"},"a.id":{"value":"acc-1"},"a.plan":{"value":"pro"}}"#;
    for call in [Identify, Track, Group] {
        for mode in [Rs, Clean] {
            let v = run(&f, row, call, mode);
            assert_eq!(v["groupId"], "acc-1", "{call:?} {mode}");
            assert_eq!(traits(&v), &json!({"a.plan":"pro"}));
        }
    }
    // groupId null is dropped on identify.
    let nrow = r#"{"u.id":{"value":"u1"},"a.id":{"value":null},"a.plan":{"value":"pro"}}"#;
    for mode in [Rs, Clean] {
        assert!(run(&f, nrow, Identify, mode).get("groupId").is_none());
    }
    // The SDK stringifies only userId/anonymousId: a numeric groupId stays a number.
    let num = r#"{"u.id":{"value":"u1"},"a.id":{"value":7},"a.plan":{"value":"pro"}}"#;
    assert_eq!(run(&f, num, Group, Rs)["groupId"], json!(7));
    assert_eq!(run(&f, num, Group, Clean)["groupId"], json!(7));
}

#[test]
fn anonymous_id_rules() {
    // Anon column present with null: kept null, no uuid, and the row is rejected (case u).
    let f = dims(&[("u.mail", &["email"]), ("u.anon", &["rudder_anonymous_id"])]);
    let row = r#"{"u.mail":{"value":"a@x.io"},"u.anon":{"value":null}}"#;
    let err = run_with(&f, row, Identify, Rs, &[], None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "You must pass either an \"anonymousId\" or a \"userId\"."
    );
    // Clean mode generates one instead.
    assert_eq!(run(&f, row, Identify, Clean)["anonymousId"], "stubanon");
    // user id truthy and no anon column: null in both.
    let f2 = dims(&[("u.id", &["user_id"])]);
    for mode in [Rs, Clean] {
        assert_eq!(
            run(&f2, r#"{"u.id":{"value":"x"}}"#, Identify, mode)["anonymousId"],
            Value::Null
        );
    }
    // Random ids are uuids v4, one per row.
    let mut ctx = MapContext::example(Identify, Rs);
    ctx.anonymous_id = AnonymousId::Random;
    let f3 = dims(&[("u.mail", &["email"])]);
    let mut a = Vec::new();
    let mut b = Vec::new();
    map_row(&f3, r#"{"u.mail":{"value":"a"}}"#, &ctx, &mut a).unwrap();
    map_row(&f3, r#"{"u.mail":{"value":"a"}}"#, &ctx, &mut b).unwrap();
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&a).unwrap(),
        serde_json::from_slice(&b).unwrap(),
    );
    let id = uuid::Uuid::parse_str(a["anonymousId"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 4);
    assert_ne!(a["anonymousId"], b["anonymousId"]);
}

#[test]
fn numeric_ids_are_stringified_when_truthy_and_zero_or_empty_kept_in_rudderstack_mode() {
    let f = dims(&[("u.id", &["user_id"]), ("u.anon", &["rudder_anonymous_id"])]);
    let rs = run(
        &f,
        r#"{"u.id":{"value":123},"u.anon":{"value":456}}"#,
        Identify,
        Rs,
    );
    assert_eq!(
        (&rs["userId"], &rs["anonymousId"]),
        (&json!("123"), &json!("456"))
    );
    let clean = run(
        &f,
        r#"{"u.id":{"value":123},"u.anon":{"value":456}}"#,
        Identify,
        Clean,
    );
    assert_eq!(
        (&clean["userId"], &clean["anonymousId"]),
        (&json!("123"), &json!("456"))
    );

    let f1 = dims(&[("u.id", &["user_id"])]);
    let rs0 = run(&f1, r#"{"u.id":{"value":0}}"#, Identify, Rs);
    assert_eq!(
        (&rs0["userId"], &rs0["anonymousId"]),
        (&json!(0), &json!("stubanon"))
    );
    let rs_empty = run(&f1, r#"{"u.id":{"value":""}}"#, Identify, Rs);
    assert_eq!(
        (&rs_empty["userId"], &rs_empty["anonymousId"]),
        (&json!(""), &json!("stubanon"))
    );
    let clean0 = run(&f1, r#"{"u.id":{"value":0}}"#, Identify, Clean);
    assert_eq!(
        (&clean0["userId"], &clean0["anonymousId"]),
        (&json!("0"), &Value::Null)
    );
    let clean_empty = run(&f1, r#"{"u.id":{"value":""}}"#, Identify, Clean);
    assert_eq!(
        (&clean_empty["userId"], &clean_empty["anonymousId"]),
        (&json!(""), &json!("stubanon"))
    );
}

#[test]
fn key_order_matches_the_observed_sample_for_each_call_type() {
    let f = dims(&[
        ("u.mail", &["email"]),
        ("u.id", &["user_id"]),
        ("a.id", &["rudder_group_id"]),
        ("u.city", &[]),
    ]);
    let row = r#"{"u.mail":{"value":"a@x.io"},"u.id":{"value":"u1"},"a.id":{"value":"g"},"u.city":{"value":"Paris"}}"#;
    let keys = |call| -> Vec<String> {
        let v = run(&f, row, call, Rs);
        v.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(
        keys(Identify),
        [
            "userId",
            "anonymousId",
            "groupId",
            "traits",
            "event",
            "context",
            "timestamp",
            "type",
            "originalTimestamp",
            "messageId",
            "sentAt"
        ]
    );
    assert_eq!(
        keys(Track),
        [
            "userId",
            "anonymousId",
            "groupId",
            "properties",
            "event",
            "context",
            "timestamp",
            "type",
            "originalTimestamp",
            "messageId",
            "sentAt"
        ]
    );
    let id = run(&f, row, Identify, Rs);
    assert_eq!(id["context"]["traits"], id["traits"]);
    assert_eq!(
        id["context"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["library", "app", "traits"]
    );
    assert!(run(&f, row, Track, Rs)["context"].get("traits").is_none());
    assert!(run(&f, row, Group, Rs)["context"].get("traits").is_none());
}

#[test]
fn values_are_reserialised_like_json_stringify_in_rudderstack_mode_and_copied_in_clean() {
    let f = dims(&[
        ("u.id", &["user_id"]),
        ("a", &[]),
        ("b", &[]),
        ("c", &[]),
        ("d", &[]),
        ("e", &[]),
    ]);
    let row = r#"{"u.id":{"value":"u1"},"a":{"value":1.50},"b":{"value":1e21},"c":{"value":"\/x\u00e9"},"d":{"value":{"z":1, "2":[1.0, 2]}},"e":{"value":0.0000001}}"#;
    let rs = run_with(&f, row, Identify, Rs, &[], None).unwrap();
    assert!(
        rs.contains(r#""traits":{"a":1.5,"b":1e+21,"c":"/xé","d":{"2":[1,2],"z":1},"e":1e-7}"#),
        "{rs}"
    );
    let clean = run_with(&f, row, Identify, Clean, &[], None).unwrap();
    assert!(
        clean.contains(
            r#""traits":{"a":1.50,"b":1e21,"c":"\/x\u00e9","d":{"z":1,"2":[1.0,2]},"e":0.0000001}"#
        ),
        "{clean}"
    );
}

#[test]
fn hidden_plain_fields_are_skipped_in_both_modes() {
    let f = dims(&[
        ("coolfield", &["email"]),
        ("hiddenfield", &[]),
        ("nonhiddenfield", &[]),
    ]);
    let hidden = vec!["hiddenfield".to_string()];
    let row = r#"{"coolfield":{"value":"funvalue"},"hiddenfield":{"value":"x"},"nonhiddenfield":{"value":"y"}}"#;
    for mode in [Rs, Clean] {
        let v: Value =
            serde_json::from_str(&run_with(&f, row, Identify, mode, &hidden, None).unwrap())
                .unwrap();
        assert_eq!(
            traits(&v),
            &json!({"email":"funvalue","nonhiddenfield":"y"})
        );
    }
}

#[test]
fn validation_errors_per_row() {
    let f = dims(&[("u.id", &["user_id"])]);
    let row = r#"{"u.id":{"value":"u1"}}"#;
    for mode in [Rs, Clean] {
        assert_eq!(
            run_with(&f, row, Track, mode, &[], None)
                .unwrap_err()
                .to_string(),
            "You must pass an \"event\"."
        );
        assert_eq!(
            run_with(&f, row, Group, mode, &[], None)
                .unwrap_err()
                .to_string(),
            "You must pass a \"groupId\"."
        );
        assert_eq!(
            run_with(&f, r#"{"u.id":{"value":true}}"#, Identify, mode, &[], None)
                .unwrap_err()
                .to_string(),
            "\"userId\" must be a string or number."
        );
    }
    let none = dims(&[("x", &[])]);
    assert_eq!(
        run_with(&none, "{}", Identify, Rs, &[], None).unwrap_err(),
        RowError::NoIdField
    );
    let two = dims(&[("u.id", &["user_id"]), ("u.city", &[])]);
    assert_eq!(
        run_with(&two, row, Identify, Rs, &[], None)
            .unwrap_err()
            .to_string(),
        "Field id u.city does not exist for JsonDetail.Row"
    );
}

#[test]
fn the_real_identify_batch_fixture_is_reproduced_byte_for_byte() {
    let fixture: Value = serde_json::from_str(&crate::helpers::testdata(
        "rudderstack-hub-identify-batch.json",
    ))
    .unwrap();
    let mut expected = fixture["batch"][0].clone();
    let obj = expected.as_object_mut().unwrap();
    // The SDK artefacts we do not copy (spec §4): _metadata and the library naming analytics-node.
    obj.shift_remove("_metadata");
    obj["context"]["library"] = json!({"name": hub::LIBRARY_NAME, "version": hub::LIBRARY_VERSION});
    let fields = dims(&[
        ("users.email", &["email"]),
        ("users.id", &["user_id"]),
        ("users.city", &[]),
        ("users.age", &[]),
    ]);
    let row = r#"{"users.email":{"value":"ann@example.com"},"users.id":{"value":"u1"},"users.city":{"value":"Paris"},"users.age":{"value":31}}"#;
    let ctx = MapContext {
        timestamp: expected["timestamp"].as_str().unwrap(),
        original_timestamp: expected["originalTimestamp"].as_str().unwrap(),
        sent_at: expected["sentAt"].as_str().unwrap(),
        message_id: expected["messageId"].as_str().unwrap(),
        ..MapContext::example(Identify, Rs)
    };
    let mut out = Vec::new();
    map_row(&fields, row, &ctx, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
}
