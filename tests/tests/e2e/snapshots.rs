//! Every embedded scenario run end to end (fresh mock Looker, reference hub and mock data plane
//! each), its expectations checked, and what it produced snapshotted: the answers Looker got and
//! the events the data plane stored. Volatile values are redacted only after their shape is
//! asserted (a messageId is a UUID, a timestamp is ISO-8601 and not before the run started).
//!
//! Nothing here depends on the date or the time zone: whether a timestamp is "this run's" is
//! decided against the instant the run started (taken from the same clock the servers use), so
//! a fixed `ran_at` from a scenario file is kept as written whatever the date, and `.ci/run`
//! runs this test once more with the clock 400 days ahead to keep it that way.
//!
//! Write-back scenarios (`hub: {writeback: true}`) send no events; their payload is what Looker
//! was told (forms, logins, execute answers) and the rows of the hub's database, read from the
//! SQLite file by the runner. Their volatile values are the sealed OAuth states in `oauth_url`s
//! (random nonce each time), the generated `X-Looker-Webhook-Id`s and `created_at`.

use std::sync::Arc;

use insta::internals::{Content, ContentPath};
use scenarios::Report;
use scenarios::runner;
use scenarios::wiring::{Wiring, WiringConfig};
use serde_json::{Value, json};

use crate::helpers;

/// Runs with more events than this (the 100k-row Look) snapshot only their count: their
/// batches are in flight concurrently, so which events come first varies from run to run.
const SNAPSHOT_EVENTS: usize = 60;
/// Write-back runs with more rows than this (the 1,000-row batch) snapshot the count and the
/// first rows only (rows are written in the Look's order, so the head is stable).
const SNAPSHOT_ROWS: usize = 60;
const ROWS_HEAD: usize = 5;

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

/// A timestamp this run produced becomes `[now]` after checking it is ISO-8601; a fixed one
/// (from a Look's `ran_at`) stays, since it is what the scenario asserts.
///
/// "Produced by this run" means at or after `run_start`, the instant taken just before the
/// scenarios started (whole seconds, as `ran_at` and `created_at` may be). Fixed values in the
/// scenario files all lie before any date this test runs on, so the split holds at any date
/// and in any time zone, with no "close to now" window that expires.
fn timestamp(
    run_start: chrono::DateTime<chrono::Utc>,
) -> impl Fn(Content, ContentPath<'_>) -> Content + Send + Sync + 'static {
    move |value, path| {
        let s = text(&value);
        assert!(
            scenarios::matcher::is_iso8601(&s),
            "{path} is not ISO-8601: {s}"
        );
        let t = chrono::DateTime::parse_from_rfc3339(&s)
            .unwrap_or_else(|e| panic!("{path} = {s} does not parse: {e}"));
        if t >= run_start {
            Content::from("[now]")
        } else {
            value
        }
    }
}

/// A generated webhook id (32 hex, as Looker's) becomes `[webhook_id]`; one a scenario chose
/// stays. Checked against what the execute carried: the rows must name a real job.
fn webhook_id(value: Content, path: ContentPath<'_>) -> Content {
    let s = text(&value);
    assert!(
        s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "{path} is not a webhook id: {s}"
    );
    Content::from("[webhook_id]")
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
    let mut v = json!({
        "answers": r.record.answers,
        "total_events": r.record.total_events,
        "events": events,
    });
    if let Some(rows) = &r.record.writeback {
        let total = r.record.writeback_total;
        let shown = if total <= SNAPSHOT_ROWS {
            &rows[..]
        } else {
            &rows[..ROWS_HEAD.min(rows.len())]
        };
        v["writeback"] = json!({"total": total, "rows": shown});
    }
    let text = ports
        .replace_all(&v.to_string(), "127.0.0.1:[port]")
        .into_owned();
    // A sealed OAuth state has a random nonce: its shape (base64url, long enough for nonce, tag
    // and payload) is checked here, the bytes are not snapshotted.
    let sealed = regex::Regex::new(r"state=([A-Za-z0-9_-]+)").expect("valid regex");
    for c in sealed.captures_iter(&text) {
        assert!(c[1].len() >= 40, "a sealed state this short: {}", &c[1]);
    }
    let text = sealed.replace_all(&text, "state=[sealed]").into_owned();
    // How long ago a refused state expired depends on the clock (about a minute).
    let ago = regex::Regex::new(r"expired \d+ s ago").expect("valid regex");
    let text = ago.replace_all(&text, "expired [n] s ago").into_owned();
    serde_json::from_str(&text).expect("still JSON")
}

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    helpers::init_logs();
    // Truncated to the second: a timestamp written with second precision during the run's
    // first second must still count as this run's.
    let run_start = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0)
        .expect("the clock is in chrono's range");
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
            settings.add_dynamic_redaction(&format!(".events[].{field}"), timestamp(run_start));
        }
        settings.add_dynamic_redaction(".writeback.rows[].created_at", timestamp(run_start));
        // Ids a scenario chose (`send.webhook_id`, to replay a job) are part of what it
        // asserts and stay; generated ones are redacted after their shape is checked.
        let chosen: std::collections::HashSet<String> = s
            .scenario
            .steps
            .iter()
            .filter_map(|st| match st {
                scenarios::format::Step::Send(send) => send.webhook_id.clone(),
                _ => None,
            })
            .collect();
        settings.add_dynamic_redaction(".writeback.rows[].webhook_id", move |v, p| {
            match v.as_str() {
                Some(id) if chosen.contains(id) => v,
                _ => webhook_id(v, p),
            }
        });
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
