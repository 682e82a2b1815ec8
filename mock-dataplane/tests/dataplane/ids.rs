//! Ids read the way the gateway reads them: gjson's string decoding, `stringify.Any`,
//! `sanitize.Unicode` and `strings.TrimSpace` (hardening finding C; see the README's
//! "How ids are read").

use md5::Digest;
use mock_dataplane::{EventFilter, MockDataplane};
use serde_json::Value;

use crate::helpers::*;

/// rudder-go-kit `GetMD5UUID` of `text`, computed independently of the mock.
fn md5_uuid(text: &str) -> String {
    let mut b: [u8; 16] = md5::Md5::digest(text.as_bytes()).into();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

async fn batch(dp: &MockDataplane, events: &str) -> Answer {
    let body = format!(r#"{{"batch":[{events}]}}"#);
    post(dp, "/v1/batch", Some(&basic(&dp.write_key())), body).await
}

async fn last_event(dp: &MockDataplane) -> Value {
    dp.events(EventFilter::default())
        .await
        .unwrap()
        .pop()
        .expect("an event was stored")
        .event
}

/// gjson decodes a lone surrogate escape to U+FFFD, which `sanitize.Unicode` keeps: the id is
/// not empty, so the gateway accepts the event. The mock refused it with 400.
#[tokio::test]
async fn lone_surrogate_user_id_is_accepted_as_u_fffd() {
    let dp = start().await;
    let a = batch(&dp, r#"{"userId":"\ud800","event":"x"}"#).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    let e = last_event(&dp).await;
    // Stored as valid JSON holding what Go would store: U+FFFD.
    assert_eq!(e["userId"], "\u{FFFD}");
    assert_eq!(e["rudderId"], md5_uuid("\u{FFFD}:"));
    let stored = dp.events(EventFilter {
        user_id: Some("\u{FFFD}".into()),
        ..Default::default()
    });
    assert_eq!(stored.await.unwrap().len(), 1);

    // gjson consumes the escape after a surrogate ("we expect it to be correct"): the `A`
    // after the lone high surrogate disappears.
    let a = batch(&dp, r#"{"anonymousId":"\uD800\u0041B"}"#).await;
    assert_eq!(a.status, 200);
    let e = last_event(&dp).await;
    assert_eq!(e["anonymousId"], "\u{FFFD}B");
    assert_eq!(e["rudderId"], md5_uuid(":\u{FFFD}B"));
    // A valid pair stays what it is.
    let a = batch(&dp, r#"{"userId":"\ud83d\ude00"}"#).await;
    assert_eq!(a.status, 200);
    assert_eq!(last_event(&dp).await["userId"], "😀");
    // Lone surrogates in keys and elsewhere in the body are read the same way.
    let a = batch(&dp, r#"{"userId":"u","tr\udc00aits":{"\ud800":"\udfff"}}"#).await;
    assert_eq!(a.status, 200);
    let e = last_event(&dp).await;
    assert_eq!(e["tr\u{FFFD}aits"]["\u{FFFD}"], "\u{FFFD}");
    // And on the single-event routes and /v1/import.
    let key = basic(&dp.write_key());
    let a = post(&dp, "/v1/identify", Some(&key), r#"{"userId":"\udbff"}"#).await;
    assert_eq!(a.status, 200);
    let a = post(
        &dp,
        "/v1/import",
        Some(&key),
        r#"{"batch":[{"userId":"\udbff"}]}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(last_event(&dp).await["userId"], "\u{FFFD}");
}

/// `sanitize.Unicode` removes invisible and non-printable runes before the emptiness check,
/// and the rudderId is built from the cleaned ids.
#[tokio::test]
async fn invisible_ids_are_no_ids_and_cleaned_ids_make_the_rudder_id() {
    let dp = start().await;
    for id in [
        r#""\u200b""#,
        r#""\u0000\t""#,
        r#""\ufeff \u00a0""#,
        r#""\u2028""#,
    ] {
        let a = batch(&dp, &format!(r#"{{"userId":{id}}}"#)).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (400, "request neither has anonymousId nor userId\n"),
            "{id}"
        );
    }
    let a = batch(&dp, r#"{"userId":" u\u200b1 ","anonymousId":"a\u0007"}"#).await;
    assert_eq!(a.status, 200);
    let e = last_event(&dp).await;
    assert_eq!(e["rudderId"], md5_uuid("u1:a"));
    // The stored event keeps the client's values; only the filters use the cleaned ids.
    assert_eq!(e["userId"], " u\u{200b}1 ");
    let by_clean = dp.events(EventFilter {
        user_id: Some("u1".into()),
        ..Default::default()
    });
    assert_eq!(by_clean.await.unwrap().len(), 1);
}

/// Numbers are Go float64s printed by `encoding/json` (`stringify.Any`).
#[tokio::test]
async fn numeric_ids_are_printed_like_go() {
    let dp = start().await;
    for (raw, text) in [
        ("5", "5"),
        ("1.50", "1.5"),
        ("1e3", "1000"),
        ("123456789012345678901234", "1.2345678901234569e+23"),
    ] {
        let a = batch(&dp, &format!(r#"{{"userId":{raw}}}"#)).await;
        assert_eq!(a.status, 200, "{raw}");
        assert_eq!(
            last_event(&dp).await["rudderId"],
            md5_uuid(&format!("{text}:")),
            "{raw}"
        );
    }
    // Beyond float64, gjson reads +Inf: the id check passes, but the gateway cannot encode
    // the event into its job and answers invalid json. Anywhere in the event, not only ids.
    for event in [
        r#"{"userId":1e400}"#,
        r#"{"userId":"u","p":{"n":[-1e999]}}"#,
    ] {
        let a = batch(&dp, event).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (400, "invalid json\n"),
            "{event}"
        );
    }
    let detail = dp.requests().await.pop().unwrap().detail.unwrap();
    assert!(
        detail.contains("batch[0]") && detail.contains("float64"),
        "{detail}"
    );
}

/// `fillMessageID`: only a string counts, it is cleaned and written back; anything else (or
/// an empty result) becomes a new UUID v4.
#[tokio::test]
async fn message_ids_are_cleaned_or_replaced_like_the_gateway() {
    let dp = start().await;
    let a = batch(&dp, r#"{"userId":"u","messageId":"  m-1\u200b "}"#).await;
    assert_eq!(a.status, 200);
    assert_eq!(last_event(&dp).await["messageId"], "m-1");
    for raw in ["42", "null", r#""\u200b""#, r#"{"id":"m"}"#] {
        let a = batch(&dp, &format!(r#"{{"userId":"u","messageId":{raw}}}"#)).await;
        assert_eq!(a.status, 200, "{raw}");
        let id = last_event(&dp).await["messageId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            uuid::Uuid::parse_str(&id).unwrap().get_version_num(),
            4,
            "{raw} -> {id}"
        );
    }
}

/// gw `isNonIdentifiable`: `extract` and `record` (rETL) events need no id, on any route that
/// keeps the client's type.
#[tokio::test]
async fn extract_and_record_events_need_no_id() {
    let dp = start().await;
    for t in ["extract", "record"] {
        let a = batch(&dp, &format!(r#"{{"type":"{t}","event":"x"}}"#)).await;
        assert_eq!((a.status, a.body.as_str()), (200, "ok"), "{t}");
        assert_eq!(last_event(&dp).await["rudderId"], md5_uuid(":"));
    }
    let a = batch(&dp, r#"{"type":"track","event":"x"}"#).await;
    assert_eq!(a.status, 400);
    // A single-event route forces its own type, so the exemption never applies there.
    let a = post(
        &dp,
        "/v1/track",
        Some(&basic(&dp.write_key())),
        r#"{"type":"record"}"#,
    )
    .await;
    assert_eq!(a.status, 400);
}

/// Of a repeated key the first counts, and the stored event holds it once, as the Go map the
/// gateway encodes does (found by the fuzz test: a reader keeping the last duplicate saw the
/// client's empty `rudderId`).
#[tokio::test]
async fn repeated_keys_are_stored_once_with_the_gateways_value() {
    let dp = start().await;
    let a = batch(
        &dp,
        r#"{"rudderId":"","userId":"a","messageId":" m ","rudderId":"","messageId":[],"userId":"b"}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    let raw = get(&dp, "/_mock/export").await.body;
    assert_eq!(raw.matches("\"rudderId\"").count(), 1, "{raw}");
    assert_eq!(raw.matches("\"userId\"").count(), 1, "{raw}");
    let e = last_event(&dp).await;
    assert_eq!(e["rudderId"], md5_uuid("a:"));
    assert_eq!(e["messageId"], "m");
    assert_eq!(e["userId"], "a");
}
