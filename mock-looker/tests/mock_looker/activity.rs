//! System Activity: catalog vs seed 003, recorded events, explores, sending a Look of them.

use std::time::Duration;

use mock_looker::activity_catalog::{CATALOG, event_type};
use mock_looker::{HubOptions, MockLooker, SendRequest, demo};
use serde_json::{Value, json};

use crate::helpers::{FakeHub, params};

fn seed_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/looker-system-activity-seed-003.txt");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses the "List of event types" table of the seed: an event line is `name Trigger…`
/// (possibly behind a bullet), attribute lines are `• attr: description`.
fn seed_events(text: &str) -> Vec<(String, Vec<String>)> {
    let body = &text[text.find("Event Type Trigger Attributes").unwrap()..];
    let mut events: Vec<(String, Vec<String>)> = Vec::new();
    for line in body.lines().skip(1) {
        let s = line.trim().trim_start_matches('•').trim();
        if s.is_empty() || s == "Top" {
            continue;
        }
        let (first, rest) = s.split_once(' ').unwrap_or((s, ""));
        let is_event = !first.ends_with(':')
            && first
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_#{}".contains(c))
            && rest
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase() || c == '(');
        if is_event {
            let mut attrs = Vec::new();
            // Inline attribute after the trigger sentence: "... created. scheduled_plan_destination_id: ID ..."
            if let Some(pos) = rest.find(". ") {
                let tail = &rest[pos + 2..];
                if let Some((a, _)) = tail.split_once(": ")
                    && a.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                {
                    attrs.push(a.to_owned());
                }
            }
            events.push((first.to_owned(), attrs));
        } else if let Some((attr, _)) = s.split_once(": ")
            && let Some(last) = events.last_mut()
        {
            last.1.push(attr.to_owned());
        }
    }
    events
}

#[test]
fn catalog_covers_every_event_type_and_attribute_of_the_seed() {
    let seed = seed_events(&seed_text());
    assert!(seed.len() > 100, "parsed only {} events", seed.len());
    assert!(
        seed.iter()
            .any(|(n, a)| n == "login" && a.contains(&"ip".to_owned()))
    );
    for (name, attrs) in &seed {
        let t = event_type(name).unwrap_or_else(|| panic!("catalog lacks {name}"));
        assert!(t.documented);
        for a in attrs {
            assert!(
                t.attributes.contains(&a.as_str()),
                "{name}: catalog lacks attribute {a:?}"
            );
        }
    }
    let names: std::collections::HashSet<_> = CATALOG.iter().map(|e| e.name).collect();
    assert_eq!(names.len(), CATALOG.len(), "duplicate catalog entries");
}

#[tokio::test]
async fn events_use_the_catalog_and_the_explores_answer_queries() {
    let hub = FakeHub::good().await;
    let l = MockLooker::start().await.unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let mut req = SendRequest::new(&h.id, "identify", l.look(demo::USERS).unwrap());
    req.params = params();
    assert!(l.send(req).await.unwrap().success);
    // Log in through the API (a login event) and query the explores.
    let (id, secret) = l.api_credentials();
    let c = serving::http_client().build().expect("an HTTP client");
    let bad = c
        .post(format!("{}/api/4.0/login", l.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("client_id={id}&client_secret=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
    let tok: Value = c
        .post(format!("{}/api/4.0/login", l.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("client_id={id}&client_secret={secret}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tok["access_token"].as_str().unwrap().to_owned();
    for e in l.events() {
        let t = event_type(&e.name).unwrap_or_else(|| panic!("{} not in the catalog", e.name));
        for (k, _) in &e.attributes {
            assert!(t.attributes.contains(&k.as_str()), "{}: {k}", e.name);
        }
    }
    let rows: Value = c
        .post(format!("{}/api/4.0/queries/run/json", l.url()))
        .header("Authorization", format!("token {token}"))
        .json(&json!({"model": "system__activity", "view": "event_attribute",
            "fields": ["event.name", "event_attribute.name", "event_attribute.value", "event.is_api_call"],
            "filters": {"event.name": "login,login_failure", "event_attribute.name": "type"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        rows,
        json!([
            {"event.name": "login_failure", "event_attribute.name": "type", "event_attribute.value": "api3", "event.is_api_call": "Yes"},
            {"event.name": "login", "event_attribute.name": "type", "event_attribute.value": "api3", "event.is_api_call": "Yes"}
        ])
    );
    let counts: Value = c
        .post(format!("{}/api/4.0/queries/run/json", l.url()))
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({"model": "system__activity", "view": "event", "fields": ["event.name", "event.count"],
            "filters": {"event.name": "-login_failure"}, "sorts": ["event.name"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The first query recorded run_query and export_query (after it ran).
    assert_eq!(
        counts,
        json!([{"event.name": "export_query", "event.count": 1}, {"event.name": "login", "event.count": 1}, {"event.name": "run_query", "event.count": 2}])
    );
    let bad = c
        .post(format!("{}/api/4.0/queries/run/json", l.url()))
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({"model": "system__activity", "view": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn a_system_activity_look_can_be_sent_to_an_action() {
    let hub = FakeHub::good().await;
    let l = MockLooker::start().await.unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let mut req = SendRequest::new(&h.id, "identify", l.look(demo::USERS).unwrap());
    req.params = params();
    l.send(req).await.unwrap();
    let events_look = l.look("101").unwrap();
    assert_eq!(events_look.title(), "System Activity: Events");
    assert_eq!(events_look.row_count(), 1);
    let out = l
        .send(
            SendRequest::new(&h.id, "cell_only", events_look.clone())
                .format(mock_looker::Format::Json),
        )
        .await;
    assert!(out.is_err(), "cell-only actions are not offered for a Look");
    let out = l
        .send(SendRequest::new(&h.id, "oauthy", events_look).form_value("folder", "f"))
        .await
        .unwrap();
    assert!(out.success, "{out:?}");
    let ex = hub
        .requests_to("/actions/oauthy/execute")
        .pop()
        .unwrap()
        .json();
    assert_eq!(ex["scheduled_plan"]["query"]["model"], "system__activity");
    assert_eq!(ex["scheduled_plan"]["query"]["view"], "event");
    let data: Value = serde_json::from_str(ex["attachment"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data[0]["event.name"], "run_query");
    tokio::time::sleep(Duration::from_millis(1)).await;
}
