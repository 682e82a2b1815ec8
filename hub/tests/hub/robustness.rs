//! Hostile Looks (hardening issue, findings 1, 2 and 4): deep nesting, lone surrogates and
//! oversized rows are row errors; the hub stays up, emits valid JSON and sends the other rows.

use serde_json::{Value, json};

use crate::helpers::{Dp, TestHub, exec_body, quick_config};

/// A json_detail document whose rows are given as JSON text (serde_json cannot write a lone
/// surrogate escape or 9,000 levels of nesting).
fn look_text(dims: &[(&str, &[&str])], rows: &[String]) -> String {
    let dims: Vec<Value> = dims
        .iter()
        .map(|(n, t)| json!({"name": n, "tags": t}))
        .collect();
    format!(
        r#"{{"fields":{{"dimensions":{},"measures":[]}},"data":[{}]}}"#,
        Value::from(dims),
        rows.join(",")
    )
}

const DIMS: &[(&str, &[&str])] = &[
    ("users.id", &["user_id"]),
    ("users.anon", &["rudder_anonymous_id"]),
    ("users.x", &[]),
];

fn good_row(i: usize) -> String {
    format!(
        r#"{{"users.id":{{"value":"u{i}"}},"users.anon":{{"value":"a{i}"}},"users.x":{{"value":{i}}}}}"#
    )
}

/// 100 rows, row 51 replaced by `bad`.
fn rows_with(bad: String) -> Vec<String> {
    (1..=100)
        .map(|i| if i == 51 { bad.clone() } else { good_row(i) })
        .collect()
}

/// Stored events as JSON text (an event the mock cannot make a `Value` of comes back as text).
async fn stored_texts(dp: &Dp) -> Vec<String> {
    dp.0.events(mock_dataplane::EventFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| match e.event {
            Value::String(s) => s,
            v => v.to_string(),
        })
        .collect()
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// Finding 1: a 9,000-deep value crashed the whole process with a stack overflow (after the 200
/// headers). Now that row is a row error naming it, and every other row is delivered, for each
/// way the value reaches the stringify emulation.
#[tokio::test]
async fn a_value_nested_9000_deep_is_a_row_error_and_the_other_rows_are_sent() {
    let deep = nested(9_000);
    let cases = [
        (
            "value",
            format!(
                r#"{{"users.id":{{"value":"u51"}},"users.anon":{{"value":"a51"}},"users.x":{{"value":{deep}}}}}"#
            ),
        ),
        (
            "pivot",
            format!(
                r#"{{"users.id":{{"value":"u51"}},"users.anon":{{"value":"a51"}},"users.x":{{"2019":{{"value":{deep}}}}}}}"#
            ),
        ),
        (
            "keys before value",
            format!(
                r#"{{"users.id":{{"value":"u51"}},"users.anon":{{"value":"a51"}},"users.x":{{"links":{deep},"value":null}}}}"#
            ),
        ),
    ];
    let hub = TestHub::start().await;
    for (what, bad) in cases {
        let dp = Dp::start().await;
        let body = exec_body(&look_text(DIMS, &rows_with(bad)), &dp);
        let (status, resp) = hub.execute("rudder_event", &body).await;
        assert_eq!(status, 200, "{what}: {resp}");
        assert_eq!(resp["looker"]["success"], false, "{what}: {resp}");
        assert_eq!(
            resp["looker"]["message"],
            format!(
                "row 51: value nested deeper than {}",
                hub::mapping::MAX_DEPTH
            ),
            "{what}"
        );
        assert_eq!(stored_texts(&dp).await.len(), 99, "{what}");
    }
    // The hub is still up.
    let status = hub
        .client
        .get(format!("{}/status", hub.hub.url()))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

/// Values up to the limit are still sent as they are, in every input format (plain `json`
/// included), and in clean mode a deep value is copied verbatim.
#[tokio::test]
async fn values_at_the_depth_limit_are_sent_and_clean_mode_copies_any_depth() {
    let hub = TestHub::start().await;
    let ok = nested(100);
    let dp = Dp::start().await;
    let row = format!(
        r#"{{"users.id":{{"value":"u1"}},"users.anon":{{"value":"a1"}},"users.x":{{"value":{ok}}}}}"#
    );
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&look_text(DIMS, &[row]), &dp))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let texts = stored_texts(&dp).await;
    assert!(texts[0].contains(&format!(r#""users.x":{ok}"#)));

    // Plain json rows: a too-deep flat value is the same row error.
    let dp = Dp::start().await;
    let flat = format!(
        r#"[{{"user_id":"u1","x":1}},{{"user_id":"u2","x":{}}}]"#,
        nested(600)
    );
    let (_, resp) = hub.execute("rudder_event", &exec_body(&flat, &dp)).await;
    assert_eq!(
        resp["looker"]["message"],
        "row 2: value nested deeper than 512"
    );
    assert_eq!(stored_texts(&dp).await.len(), 1);

    let dp = Dp::start().await;
    let mut body = exec_body(&flat, &dp);
    body["data"]["rudder_mapping"] = json!("clean");
    let (_, resp) = hub.execute("rudder_event", &body).await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(stored_texts(&dp).await.len(), 2);
}

/// Finding 2: a lone surrogate in an id made invalid JSON (`"userId":,`) and the data plane
/// refused the whole batch; in a trait it stopped the run. Now it is written as
/// `JSON.stringify` writes it (`"\ud800"`, see `mapping::js`'s unit tests), and all 100 rows
/// are stored. The data plane stores such an escape as gjson decodes it, as U+FFFD, so that
/// is what the stored events carry.
#[tokio::test]
async fn lone_surrogates_are_sent_as_escapes_and_no_row_is_lost() {
    let hub = TestHub::start().await;
    let cases = [
        (
            "userId",
            r#"{"users.id":{"value":"\ud800"},"users.anon":{"value":"a51"},"users.x":{"value":51}}"#,
            "\"userId\":\"\u{FFFD}\"",
        ),
        (
            "anonymousId",
            r#"{"users.id":{"value":"u51"},"users.anon":{"value":"\udc00"},"users.x":{"value":51}}"#,
            "\"anonymousId\":\"\u{FFFD}\"",
        ),
        (
            "trait",
            r#"{"users.id":{"value":"u51"},"users.anon":{"value":"a51"},"users.x":{"value":"a\uD800b"}}"#,
            "\"users.x\":\"a\u{FFFD}b\"",
        ),
        (
            "pivot key",
            r#"{"users.id":{"value":"u51"},"users.anon":{"value":"a51"},"users.x":{"\ud800":{"value":1}}}"#,
            "\"users.x\":[{\"\u{FFFD}\":1}]",
        ),
    ];
    for (what, bad, expect) in cases {
        for action in ["rudder_event", "rudder_group"] {
            let dp = Dp::start().await;
            let mut body = exec_body(&look_text(DIMS, &rows_with(bad.to_owned())), &dp);
            body["form_params"]["event"] = json!("e");
            let (_, resp) = hub.execute(action, &body).await;
            let texts = stored_texts(&dp).await;
            if action == "rudder_group" {
                // No group column: every row is the SDK's rejection, none is an abort.
                assert_eq!(texts.len(), 0);
                let msg = resp["looker"]["message"].as_str().unwrap();
                assert!(msg.starts_with("You must pass a \"groupId\"."), "{msg}");
                continue;
            }
            assert_eq!(resp["looker"]["success"], true, "{what}: {resp}");
            assert_eq!(texts.len(), 100, "{what}");
            let e51 = texts.iter().find(|t| t.contains(expect));
            let e51 = e51.unwrap_or_else(|| panic!("{what}: no event has {expect}"));
            serde_json::from_str::<serde::de::IgnoredAny>(e51).unwrap();
        }
    }
}

/// Finding 4: a row above `max_row_bytes` is skipped without being buffered and named; the
/// rows around it are sent.
#[tokio::test]
async fn a_row_above_the_row_limit_is_a_row_error_and_the_run_goes_on() {
    let mut config = quick_config();
    config.max_row_bytes = 10_000;
    let hub = TestHub::with(config).await;
    let big = format!(
        r#"{{"users.id":{{"value":"u2"}},"users.anon":{{"value":"a2"}},"users.x":{{"value":"{}"}}}}"#,
        "x".repeat(50_000)
    );
    let rows = vec![good_row(1), big.clone(), good_row(3)];
    let dp = Dp::start().await;
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&look_text(DIMS, &rows), &dp))
        .await;
    assert_eq!(
        resp["looker"]["message"],
        format!(
            "row 2: the row is {} bytes, above the hub's 10,000-byte row limit",
            hub::send::thousands(big.len() as u64)
        )
    );
    assert_eq!(stored_texts(&dp).await.len(), 2);
}
