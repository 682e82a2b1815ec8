//! Every embedded scenario run end to end (fresh mock Looker, reference hub and mock data plane
//! each), its expectations checked, and what it produced snapshotted: the answers Looker got and
//! the events the data plane stored. Volatile values are redacted only after their shape is
//! asserted (a messageId is a UUID, a timestamp is ISO-8601 and close to now).

use std::sync::Arc;

use insta::internals::{Content, ContentPath};
use scenarios::runner::{self, Report};
use scenarios::wiring::{Wiring, WiringConfig};
use serde_json::{Value, json};

use crate::helpers;

/// Runs with more events than this (the 100k-row Look) snapshot only their count: their
/// batches are in flight concurrently, so which events come first varies from run to run.
const SNAPSHOT_EVENTS: usize = 60;

fn text(v: &Content) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{v:?}"))
}

/// `[uuid]` after checking it is one.
fn uuid(value: Content, path: ContentPath<'_>) -> Content {
    let s = text(&value);
    assert!(scenarios::matcher::is_uuid(&s), "{path} is not a UUID: {s}");
    Content::from("[uuid]")
}

/// A generated anonymousId is redacted as `[uuid]`; one taken from a column stays.
fn maybe_uuid(value: Content, _path: ContentPath<'_>) -> Content {
    match value.as_str() {
        Some(s) if scenarios::matcher::is_uuid(s) => Content::from("[uuid]"),
        _ => value,
    }
}

/// A timestamp of this run becomes `[now]` after checking it is ISO-8601 and recent; a fixed
/// one (from a Look's `ran_at`) stays, since it is what the scenario asserts.
fn timestamp(value: Content, path: ContentPath<'_>) -> Content {
    let s = text(&value);
    assert!(
        scenarios::matcher::is_iso8601(&s),
        "{path} is not ISO-8601: {s}"
    );
    let t = chrono::DateTime::parse_from_rfc3339(&s)
        .unwrap_or_else(|e| panic!("{path} = {s} does not parse: {e}"));
    let age = chrono::Utc::now()
        .signed_duration_since(t)
        .num_seconds()
        .abs();
    if age < 3 * 86_400 {
        Content::from("[now]")
    } else {
        value
    }
}

/// The run's record as a snapshot value: ports normalised, events bounded.
fn snapshot_value(r: &Report) -> Value {
    let ports = regex::Regex::new(r"127\.0\.0\.1:\d+").expect("valid regex");
    // Events in a stable order (batches may overtake each other): by type, then by content.
    let mut events: Vec<&Value> = if r.record.total_events <= SNAPSHOT_EVENTS {
        r.record.events.iter().collect()
    } else {
        Vec::new()
    };
    let key = |e: &Value| {
        let mut e = e.clone();
        if let Some(o) = e.as_object_mut() {
            for volatile in [
                "messageId",
                "rudderId",
                "anonymousId",
                "timestamp",
                "originalTimestamp",
                "sentAt",
                "receivedAt",
            ] {
                o.remove(volatile);
            }
        }
        e.to_string()
    };
    events.sort_by_cached_key(|e| key(e));
    let v = json!({
        "answers": r.record.answers,
        "total_events": r.record.total_events,
        "events": events,
    });
    let text = ports
        .replace_all(&v.to_string(), "127.0.0.1:[port]")
        .into_owned();
    serde_json::from_str(&text).expect("still JSON")
}

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    helpers::init_logs();
    let scenarios = scenarios::load::load_embedded().expect("embedded scenarios load");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reports = rt.block_on(runner::run_all(
        Arc::new(Wiring::new(WiringConfig::default())),
        scenarios.clone(),
        2,
        false,
        |_| {},
    ));
    let failed: Vec<&Report> = reports.iter().filter(|r| !r.ok()).collect();
    assert!(
        failed.is_empty(),
        "{} scenario(s) failed:\n{}",
        failed.len(),
        scenarios::report::details(&reports)
    );
    for (s, r) in scenarios.iter().zip(&reports) {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_suffix(s.name.replace('/', "__"));
        settings.set_description(s.scenario.description.clone());
        settings.set_omit_expression(true);
        settings.set_prepend_module_to_snapshot(false);
        settings.add_dynamic_redaction(".events[].messageId", uuid);
        settings.add_dynamic_redaction(".events[].rudderId", uuid);
        settings.add_dynamic_redaction(".events[].anonymousId", maybe_uuid);
        for field in ["timestamp", "originalTimestamp", "sentAt", "receivedAt"] {
            settings.add_dynamic_redaction(&format!(".events[].{field}"), timestamp);
        }
        settings.bind(|| insta::assert_json_snapshot!("scenario", snapshot_value(r)));
    }
    // An unreferenced snapshot (a renamed or deleted scenario) fails too, as
    // `cargo insta test --unreferenced=reject` would.
    let names: std::collections::HashSet<String> = scenarios
        .iter()
        .map(|s| format!("scenario@{}.snap", s.name.replace('/', "__")))
        .collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/snapshots");
    let stale: Vec<String> = std::fs::read_dir(&dir)
        .expect("snapshot dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".snap") && !names.contains(f))
        .collect();
    assert!(
        stale.is_empty(),
        "snapshots of no scenario (delete them): {stale:?}"
    );
}
