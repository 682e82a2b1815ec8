//! The official test suites' cases (spec §7) end to end: Looker request → hub →
//! `mock_dataplane` (in memory), each asserting the exact events the data plane stored.

use serde_json::{Value, json};

use crate::helpers::{Dp, TestHub, exec_body, look, normalize};

async fn events_for(
    action: &str,
    dims: &[(&str, &[&str])],
    rows: &[Value],
    tweak: impl FnOnce(&mut Value),
) -> (Value, Vec<Value>) {
    let sink = Dp::start().await;
    let hub = TestHub::start().await;
    let mut body = exec_body(&look(dims, rows), &sink);
    tweak(&mut body);
    let (status, resp) = hub.execute(action, &body).await;
    assert_eq!(status, 200, "{resp}");
    (resp, sink.events().await.iter().map(normalize).collect())
}

async fn identify(dims: &[(&str, &[&str])], row: Value) -> Vec<Value> {
    let (resp, ev) = events_for("rudder_event", dims, &[row], |_| {}).await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    ev
}

#[tokio::test]
async fn identify_works_with_user_id() {
    let ev = identify(
        &[("coolfield", &["user_id"])],
        json!({"coolfield": {"value": "funvalue"}}),
    )
    .await;
    assert_eq!(
        ev,
        [json!({"userId": "funvalue", "anonymousId": null, "traits": {}, "type": "identify"})]
    );
}

#[tokio::test]
async fn identify_works_with_email() {
    let ev = identify(
        &[("coolfield", &["email"])],
        json!({"coolfield": {"value": "funvalue"}}),
    )
    .await;
    assert_eq!(
        ev,
        [
            json!({"userId": null, "anonymousId": "stubanon", "traits": {"email": "funvalue"}, "type": "identify"})
        ]
    );
}

#[tokio::test]
async fn identify_works_with_pivoted_values() {
    let sink = Dp::start().await;
    let hub = TestHub::start().await;
    let doc = json!({
        "fields": {"dimensions": [{"name": "coolfield", "tags": ["user_id"]}],
                   "measures": [{"name": "users.count", "tags": []}]},
        "data": [{"coolfield": {"value": "funvalue"}, "users.count": {"f": {"value": 1}, "z": {"value": 3}}}]
    });
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&doc.to_string(), &sink))
        .await;
    assert_eq!(resp["looker"]["success"], true);
    let ev: Vec<Value> = sink.events().await.iter().map(normalize).collect();
    assert_eq!(
        ev,
        [
            json!({"userId": "funvalue", "anonymousId": null, "traits": {"users.count": [{"f": 1}, {"z": 3}]}, "type": "identify"})
        ]
    );
}

#[tokio::test]
async fn identify_works_with_email_and_user_id() {
    let ev = identify(
        &[("coolemail", &["email"]), ("coolid", &["user_id"])],
        json!({"coolemail": {"value": "email@email.email"}, "coolid": {"value": "id"}}),
    )
    .await;
    assert_eq!(
        ev,
        [
            json!({"userId": "id", "anonymousId": null, "traits": {"email": "email@email.email"}, "type": "identify"})
        ]
    );
}

#[tokio::test]
async fn identify_works_with_email_user_id_and_anonymous_id_and_a_trait() {
    let dims: &[(&str, &[&str])] = &[
        ("coolemail", &["email"]),
        ("coolid", &["user_id"]),
        ("coolanonymousid", &["rudder_anonymous_id"]),
        ("cooltrait", &[]),
    ];
    let ev = identify(
        dims,
        json!({"coolemail": {"value": "email@email.email"}, "coolid": {"value": "id"},
               "coolanonymousid": {"value": "anon_id"}, "cooltrait": {"value": "funtrait"}}),
    )
    .await;
    assert_eq!(
        ev,
        [json!({"userId": "id", "anonymousId": "anon_id",
                "traits": {"email": "email@email.email", "cooltrait": "funtrait"}, "type": "identify"})]
    );
}

#[tokio::test]
async fn identify_works_with_user_id_and_anonymous_id() {
    let ev = identify(
        &[
            ("coolid", &["user_id"]),
            ("coolanonymousid", &["rudder_anonymous_id"]),
        ],
        json!({"coolid": {"value": "id"}, "coolanonymousid": {"value": "anon_id"}}),
    )
    .await;
    assert_eq!(
        ev,
        [json!({"userId": "id", "anonymousId": "anon_id", "traits": {}, "type": "identify"})]
    );
}

#[tokio::test]
async fn identify_works_with_anonymous_id_only_user_id_stays_null() {
    let ev = identify(
        &[("coolanonymousid", &["rudder_anonymous_id"])],
        json!({"coolanonymousid": {"value": "anon_id"}}),
    )
    .await;
    assert_eq!(
        ev,
        [json!({"userId": null, "anonymousId": "anon_id", "traits": {}, "type": "identify"})]
    );
}

#[tokio::test]
async fn identify_skips_hidden_fields() {
    let (resp, ev) = events_for(
        "rudder_event",
        &[("coolfield", &["email"]), ("hiddenfield", &[]), ("nonhiddenfield", &[])],
        &[json!({"coolfield": {"value": "funvalue"}, "hiddenfield": {"value": "hiddenvalue"}, "nonhiddenfield": {"value": "nonhiddenvalue"}})],
        |b| b["scheduled_plan"]["query"]["vis_config"]["hidden_fields"] = json!(["hiddenfield"]),
    )
    .await;
    assert_eq!(resp["looker"]["success"], true);
    assert_eq!(
        ev,
        [
            json!({"userId": null, "anonymousId": "stubanon", "traits": {"email": "funvalue", "nonhiddenfield": "nonhiddenvalue"}, "type": "identify"})
        ]
    );
}

#[tokio::test]
async fn identify_with_null_user_id_generates_an_anonymous_id() {
    let ev = identify(
        &[("coolfield", &["user_id"])],
        json!({"coolfield": {"value": null}}),
    )
    .await;
    assert_eq!(
        ev,
        [json!({"userId": null, "anonymousId": "stubanon", "traits": {}, "type": "identify"})]
    );
}

#[tokio::test]
async fn identify_uses_ran_at_as_timestamp() {
    let sink = Dp::start().await;
    let hub = TestHub::start().await;
    let doc = json!({"ran_at": "2017-07-28T02:25:19+00:00",
        "fields": {"dimensions": [{"name": "coolfield", "tags": ["user_id"]}]},
        "data": [{"coolfield": {"value": "funvalue"}}]});
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&doc.to_string(), &sink))
        .await;
    assert_eq!(resp["looker"]["success"], true);
    assert_eq!(
        sink.events().await[0]["timestamp"],
        "2017-07-28T02:25:19.000Z"
    );
}

#[tokio::test]
async fn identify_without_attachment_is_the_streaming_error() {
    let sink = Dp::start().await;
    let hub = TestHub::start().await;
    let mut body = exec_body("{}", &sink);
    body.as_object_mut().unwrap().remove("attachment");
    let (status, resp) = hub.execute("rudder_event", &body).await;
    assert_eq!(status, 404);
    assert_eq!(
        resp,
        json!({"success": false, "error": "A streaming action was sent incompatible data. The action must have a download url or an attachment."})
    );
    assert!(sink.requests().await.is_empty());
}

#[tokio::test]
async fn identify_without_fields_or_without_tags_fails_with_the_tag_message() {
    for doc in [
        json!({"data": [{"coolfield": {"value": "funvalue"}}]}).to_string(),
        look(
            &[("coolfield", &[])],
            &[json!({"coolfield": {"value": "funvalue"}})],
        ),
    ] {
        let sink = Dp::start().await;
        let hub = TestHub::start().await;
        let (status, resp) = hub.execute("rudder_event", &exec_body(&doc, &sink)).await;
        assert_eq!(status, 200);
        assert_eq!(resp["looker"]["success"], false, "{resp}");
        let msg = resp["looker"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with(
                "Query requires a field tagged email or user_id or rudder_anonymous_id."
            ),
            "{msg}"
        );
        assert_eq!(resp["looker"]["validation_errors"], json!({}));
        assert!(sink.requests().await.is_empty());
    }
}

#[tokio::test]
async fn identify_without_write_key_is_the_required_setting_error() {
    let sink = Dp::start().await;
    let hub = TestHub::start().await;
    let mut body = exec_body(
        &look(&[("c", &["user_id"])], &[json!({"c": {"value": "x"}})]),
        &sink,
    );
    body["data"]
        .as_object_mut()
        .unwrap()
        .remove("rudder_write_key");
    let (status, resp) = hub.execute("rudder_event", &body).await;
    assert_eq!(status, 404);
    assert_eq!(
        resp,
        json!({"success": false, "error": "Required setting \"Rudder Write Key\" not specified in action settings."})
    );
    body["data"]["rudder_write_key"] = json!("k");
    body["data"]["rudder_server_url"] = json!("");
    let (_, resp) = hub.execute("rudder_event", &body).await;
    assert_eq!(
        resp["error"],
        "Required setting \"Rudder Data Plane URL\" not specified in action settings."
    );
}

#[tokio::test]
async fn identify_has_no_form_track_has_the_event_form() {
    let hub = TestHub::start().await;
    let params =
        json!({"data": {"rudder_write_key": "k", "rudder_server_url": "http://127.0.0.1:1"}});
    let r = hub
        .post("/actions/rudder_event/form")
        .json(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"success": false, "error": "No form defined for action."})
    );
    let r = hub
        .post("/actions/rudder_group/form")
        .json(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = hub
        .post("/actions/rudder_track/form")
        .json(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text.trim_start()).unwrap(),
        json!({"fields": [{"name": "event", "label": "Event", "description": "The name of the event you\u{2019}re tracking.", "type": "string", "required": true}]})
    );
    let r = hub
        .post("/actions/rudder_track/form")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Required setting \"Rudder Write Key\" not specified in action settings."})
    );
}

#[tokio::test]
async fn action_definition_formats_depend_on_the_looker_version() {
    let hub = TestHub::start().await;
    for (ua, fmt) in [
        ("6.0.0", "json_detail"),
        ("6.2.0", "json_detail_lite_stream"),
    ] {
        let r = hub
            .post_as(
                "/actions/rudder_event",
                Some(&format!("LookerOutgoingWebhook/{ua}")),
            )
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["supported_formats"], json!([fmt]), "{ua}");
    }
}

async fn group(dims: &[(&str, &[&str])], row: Value) -> Vec<Value> {
    let (resp, ev) = events_for("rudder_group", dims, &[row], |_| {}).await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    ev
}

#[tokio::test]
async fn group_works_with_group_id_only_and_generates_an_anonymous_id() {
    let ev = group(
        &[("coolfield", &["rudder_group_id"])],
        json!({"coolfield": {"value": "funvalue"}}),
    )
    .await;
    assert_eq!(
        ev,
        [
            json!({"userId": null, "anonymousId": "stubanon", "groupId": "funvalue", "traits": {}, "type": "group"})
        ]
    );
}

#[tokio::test]
async fn group_works_with_group_and_user_id() {
    let ev = group(
        &[
            ("coolgroupid", &["rudder_group_id"]),
            ("coolid", &["user_id"]),
        ],
        json!({"coolgroupid": {"value": "group_id"}, "coolid": {"value": "id"}}),
    )
    .await;
    assert_eq!(
        ev,
        [
            json!({"userId": "id", "anonymousId": null, "groupId": "group_id", "traits": {}, "type": "group"})
        ]
    );
}

#[tokio::test]
async fn group_works_with_everything() {
    let ev = group(
        &[
            ("coolgroupid", &["rudder_group_id"]),
            ("coolemail", &["email"]),
            ("coolid", &["user_id"]),
            ("coolanonymousid", &["rudder_anonymous_id"]),
            ("cooltrait", &[]),
        ],
        json!({"coolgroupid": {"value": "group_id"}, "coolemail": {"value": "email@email.email"},
               "coolid": {"value": "id"}, "coolanonymousid": {"value": "anon_id"}, "cooltrait": {"value": "funtrait"}}),
    )
    .await;
    assert_eq!(
        ev,
        [
            json!({"userId": "id", "anonymousId": "anon_id", "groupId": "group_id",
                "traits": {"email": "email@email.email", "cooltrait": "funtrait"}, "type": "group"})
        ]
    );
}

#[tokio::test]
async fn group_works_with_user_id_and_anonymous_id() {
    let ev = group(
        &[("coolgroupid", &["rudder_group_id"]), ("coolid", &["user_id"]), ("coolanonymousid", &["rudder_anonymous_id"])],
        json!({"coolgroupid": {"value": "group_id"}, "coolid": {"value": "id"}, "coolanonymousid": {"value": "anon_id"}}),
    )
    .await;
    assert_eq!(
        ev,
        [
            json!({"userId": "id", "anonymousId": "anon_id", "groupId": "group_id", "traits": {}, "type": "group"})
        ]
    );
}

#[tokio::test]
async fn group_with_null_user_id_generates_an_anonymous_id() {
    let ev = group(
        &[
            ("coolgroupid", &["rudder_group_id"]),
            ("coolid", &["user_id"]),
        ],
        json!({"coolgroupid": {"value": "group_id"}, "coolid": {"value": null}}),
    )
    .await;
    assert_eq!(
        ev,
        [
            json!({"userId": null, "anonymousId": "stubanon", "groupId": "group_id", "traits": {}, "type": "group"})
        ]
    );
}

#[tokio::test]
async fn track_calls_track_with_the_form_event() {
    let (resp, ev) = events_for(
        "rudder_track",
        &[("coolfield", &["user_id"])],
        &[json!({"coolfield": {"value": "funvalue"}})],
        |b| b["form_params"] = json!({"event": "funevent"}),
    )
    .await;
    assert_eq!(resp["looker"]["success"], true);
    assert_eq!(
        ev,
        [
            json!({"userId": "funvalue", "anonymousId": null, "properties": {}, "event": "funevent", "type": "track"})
        ]
    );
    // Track events carry no context.traits.
}

#[tokio::test]
async fn track_without_event_rejects_every_row_like_the_sdk() {
    let (resp, ev) = events_for(
        "rudder_track",
        &[("coolfield", &["user_id"])],
        &[
            json!({"coolfield": {"value": "a"}}),
            json!({"coolfield": {"value": "b"}}),
        ],
        |_| {},
    )
    .await;
    assert_eq!(resp["looker"]["success"], false);
    assert_eq!(
        resp["looker"]["message"],
        "You must pass an \"event\"., You must pass an \"event\"."
    );
    assert!(ev.is_empty());
}

#[tokio::test]
async fn group_without_group_field_rejects_each_row_and_sends_nothing() {
    let (resp, ev) = events_for(
        "rudder_group",
        &[("coolfield", &["user_id"])],
        &[
            json!({"coolfield": {"value": "a"}}),
            json!({"coolfield": {"value": "b"}}),
        ],
        |_| {},
    )
    .await;
    assert_eq!(
        resp["looker"]["message"],
        "You must pass a \"groupId\"., You must pass a \"groupId\"."
    );
    assert!(ev.is_empty());
}

#[tokio::test]
async fn missing_cell_stops_the_run_naming_field_and_row_and_counts_delivered_rows() {
    let (resp, ev) = events_for(
        "rudder_event",
        &[("u.id", &["user_id"]), ("users.city", &[])],
        &[
            json!({"u.id": {"value": "a"}, "users.city": {"value": "Paris"}}),
            json!({"u.id": {"value": "b"}}),
        ],
        |_| {},
    )
    .await;
    assert_eq!(resp["looker"]["success"], false);
    assert_eq!(
        resp["looker"]["message"],
        "Field id users.city does not exist for JsonDetail.Row (row 2); 1 identify events from earlier rows were delivered"
    );
    assert_eq!(ev.len(), 1, "row 1 is delivered, and said so");
}

#[tokio::test]
async fn clean_mode_via_the_action_param() {
    let (resp, ev) = events_for(
        "rudder_event",
        &[("u.id", &["user_id"]), ("u.n", &[])],
        &[json!({"u.id": {"value": 5}, "u.n": {"value": 0}})],
        |b| b["data"]["rudder_mapping"] = json!("clean"),
    )
    .await;
    assert_eq!(resp["looker"]["success"], true);
    assert_eq!(
        ev,
        [json!({"userId": "5", "anonymousId": null, "traits": {"u.n": 0}, "type": "identify"})]
    );
}

#[tokio::test]
async fn no_rows_is_a_success_without_any_request() {
    let sink = Dp::start().await;
    let hub = TestHub::start().await;
    let (_, resp) = hub
        .execute(
            "rudder_event",
            &exec_body(&look(&[("c", &["user_id"])], &[]), &sink),
        )
        .await;
    assert_eq!(resp["looker"]["success"], true);
    assert_eq!(
        resp["looker"]["message"],
        "The Look has no rows: nothing was sent."
    );
    assert!(sink.requests().await.is_empty());
}
