//! Issue 16: a hub built on the official framework answers its own errors outside 2xx on
//! purpose (`route()` in looker-open-source/actions `src/server/server.ts`): 403 for a bad
//! token, 404 with the text an action threw, 500 "Internal server error.". Looker reads those
//! as failed calls with the hub's text, so the mock must too: no breach, `success: false`,
//! the text as the message. Only answers Looker cannot read stay breaches.

use std::collections::BTreeMap;

use mock_looker::{HubOptions, MockLooker, SendRequest, demo};
use serde_json::json;

use crate::helpers::{FakeHub, Reply, good_hub, params};

async fn looker() -> MockLooker {
    MockLooker::builder()
        .hub_timeout(std::time::Duration::from_secs(5))
        .start()
        .await
        .unwrap()
}

/// A hub whose execute of `identify` answers like the official `route()` does when the action
/// throws: 404 with a thrown string, 500 for anything else.
async fn official_hub_failing_with(status: u16, error: &'static str) -> FakeHub {
    FakeHub::start(std::sync::Arc::new(move |r, base| {
        Box::pin(async move {
            if r.path == "/actions/identify/execute" {
                Reply::Json(status, json!({"success": false, "error": error}))
            } else {
                good_hub(r, base).await
            }
        })
    }))
    .await
}

#[tokio::test]
async fn official_route_errors_are_failures_with_the_hubs_text_not_breaches() {
    for (status, error) in [
        (500, "Internal server error."),
        (404, "Incorrect domain for url."),
    ] {
        let hub = official_hub_failing_with(status, error).await;
        let l = looker().await;
        let h = l
            .register_hub(&hub.url, HubOptions::default())
            .await
            .unwrap();
        l.configure_action(&h.id, "identify", true, params())
            .unwrap();
        assert!(h.breaches.is_empty(), "{:?}", h.breaches);
        let users = l.look(demo::USERS).unwrap();
        let out = l
            .send(SendRequest::new(&h.id, "identify", users))
            .await
            .unwrap();
        assert_eq!(out.breaches, vec![], "HTTP {status}");
        assert!(!out.success);
        assert_eq!(out.http_status, Some(status));
        assert_eq!(out.message.as_deref(), Some(error));
        assert_eq!(out.failure, None, "an answer, not a transport failure");
        // The journal keeps the same judgement.
        let entry = l
            .journal()
            .into_iter()
            .rev()
            .find(|e| e.kind == "execute")
            .unwrap();
        assert!(entry.breaches.is_empty(), "{:?}", entry.breaches);
    }
}

#[tokio::test]
async fn a_refused_list_is_an_auth_failure_reported_as_such() {
    let hub = FakeHub::start(std::sync::Arc::new(|_r, _base| {
        Box::pin(async {
            Reply::Json(
                403,
                json!({"success": false, "error": "Invalid 'Authorization' header."}),
            )
        })
    }))
    .await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default().token("wrong"))
        .await
        .unwrap();
    assert_eq!(h.breaches, vec![]);
    assert_eq!(
        h.fetch_error.as_deref(),
        Some("the hub answered HTTP 403: Invalid 'Authorization' header.")
    );
    assert!(h.actions.is_empty());
}

#[tokio::test]
async fn a_failed_form_call_carries_the_hubs_text() {
    let hub = FakeHub::answering("/actions/track/form", || {
        Reply::Json(
            404,
            json!({"success": false, "error": "No form defined for action."}),
        )
    })
    .await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let form = l
        .fetch_form(&h.id, "track", params(), BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(form.breaches, vec![]);
    assert_eq!(form.error.as_deref(), Some("No form defined for action."));
    assert!(form.fields.is_empty());
}

#[tokio::test]
async fn unreadable_or_contradictory_failure_answers_stay_breaches() {
    // (status, body, expected rules)
    let cases: [(u16, &'static [u8], &[&str]); 6] = [
        (
            500,
            b"<html>Internal Server Error</html>",
            &["execute.json"],
        ),
        (500, b"{\"looker\":{\"success\":true}}", &["execute.status"]),
        (
            400,
            b"{\"looker\":{\"success\":false,\"validation_errors\":[\"bad\"]}}",
            &["execute.validation_errors"],
        ),
        // What stands in front of a hub writes these pages, not the hub.
        (502, b"<html>Bad Gateway</html>", &[]),
        (413, b"<html>PayloadTooLargeError</html>", &[]),
        // No body at all: a failure with nothing to read, not garbage.
        (500, b"", &[]),
    ];
    for (status, body, rules) in cases {
        let hub = FakeHub::answering("/actions/identify/execute", move || {
            Reply::Raw(status, body.to_vec())
        })
        .await;
        let l = looker().await;
        let h = l
            .register_hub(&hub.url, HubOptions::default())
            .await
            .unwrap();
        l.configure_action(&h.id, "identify", true, params())
            .unwrap();
        let out = l
            .send(SendRequest::new(
                &h.id,
                "identify",
                l.look(demo::USERS).unwrap(),
            ))
            .await
            .unwrap();
        assert!(!out.success, "HTTP {status}");
        let got: Vec<&str> = out.breaches.iter().map(|b| b.rule.as_str()).collect();
        assert_eq!(
            got,
            rules,
            "HTTP {status} {:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[tokio::test]
async fn a_looker_object_in_a_failure_gives_its_message_and_errors() {
    let hub = FakeHub::answering("/actions/identify/execute", || {
        Reply::Json(
            422,
            json!({"looker": {"success": false, "message": "Bad key",
                   "validation_errors": {"write_key": "is wrong"}}}),
        )
    })
    .await;
    let l = looker().await;
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    l.configure_action(&h.id, "identify", true, params())
        .unwrap();
    let out = l
        .send(SendRequest::new(
            &h.id,
            "identify",
            l.look(demo::USERS).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(out.breaches, vec![]);
    assert!(!out.success);
    assert_eq!(out.message.as_deref(), Some("Bad key"));
    assert_eq!(out.validation_errors["write_key"], "is wrong");
}
