//! Integration tests of the `scenarios` binary against the real crates (the demo's test is in
//! `src/bin/scenarios/demo.rs`, next to the code it drives).

mod browser;
mod conform;
mod fake_hubs;
mod fuzz_load;
mod helpers;
mod reach;
mod record;

use helpers::{arg, identify_scenario, run, scenario_dir, text};

#[test]
fn run_exits_0_when_every_scenario_passes_and_writes_junit() {
    let dir = scenario_dir(&[("ok/one.yaml", &identify_scenario("{users.city: Paris}"))]);
    let junit = arg(dir.path(), "out/report.xml");
    let o = run(
        &["run", &arg(dir.path(), "ok"), "--junit", &junit],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("PASS   one"), "{out}");
    assert!(out.contains("1 scenarios: 1 passed"), "{out}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(
        xml.contains("tests=\"1\"") && xml.contains("failures=\"0\""),
        "{xml}"
    );
}

#[test]
fn a_failed_expectation_exits_1_with_a_readable_diff() {
    let dir = scenario_dir(&[("bad.yaml", &identify_scenario("{users.city: Lyon}"))]);
    let o = run(&["run", &arg(dir.path(), "bad.yaml")], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("── FAIL bad"), "{out}");
    assert!(
        out.contains("traits.users.city: expected \"Lyon\", received \"Paris\""),
        "{out}"
    );
    assert!(out.contains("-    \"users.city\": \"Lyon\""), "{out}");
    assert!(out.contains("+    \"users.city\": \"Paris\""), "{out}");
}

#[test]
fn a_broken_scenario_file_exits_2_naming_file_and_line() {
    let dir = scenario_dir(&[(
        "broken.yaml",
        "steps:\n  - send: {action: rudder_event}\nexpcet: {}\n",
    )]);
    let o = run(&["run", &arg(dir.path(), "broken.yaml")], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("broken.yaml:3:"), "{out}");
    assert!(out.contains("unknown field `expcet`"), "{out}");
}

#[test]
fn filter_and_list_select_embedded_scenarios() {
    let dir = scenario_dir(&[]);
    let o = run(&["list", "--filter", "official"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("identify/01_user_id"), "{out}");
    assert!(out.contains("group/05_group_null_user_id"), "{out}");
    assert!(!out.contains("faults/"), "{out}");
    let o = run(&["run", "--filter", "identify/0"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("9 scenarios: 9 passed"), "{}", text(&o));
}

#[test]
fn writeback_scenarios_run_in_process_and_are_skipped_against_an_external_hub() {
    let dir = scenario_dir(&[]);
    let o = run(&["run", "--filter", "writeback/"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("8 scenarios: 8 passed"), "{}", text(&o));
    // Nothing listens on port 9: a skipped scenario never contacts the hub.
    let o = run(
        &[
            "run",
            "--filter",
            "writeback/",
            "--hub-url",
            "http://127.0.0.1:9",
            "--hub-token",
            "T",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("8 skipped"), "{out}");
    assert!(out.contains("SKIP   writeback/07_batch_1000_rows"), "{out}");
}

#[test]
fn a_wrong_writeback_row_fails_with_what_the_database_holds() {
    // The hub answers success; the row the runner reads from the SQLite file has another
    // comment than the scenario claims, so the scenario must fail on the database alone.
    let yaml = "hub: {writeback: true}\nlooks:\n  o:\n    fields:\n      dimensions: [{name: orders.id, tags: [mark-suspicious]}]\n    rows: [{orders.id: 42}]\nsteps:\n  - login: {user: alice, action: mark_suspicious, cell_value: '42', expect: {ok: true, state_stored: true}}\n  - send: {action: mark_suspicious, user: alice, cell_value: '42', form: {comment: real}, expect: {success: true, refresh_query: true}}\nexpect:\n  writeback:\n    count: 1\n    items: [{order_id: '42', comment: claimed, user: alice@example.com}]\n";
    let dir = scenario_dir(&[("wb.yaml", yaml)]);
    let o = run(&["run", &arg(dir.path(), "wb.yaml")], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("comment: expected \"claimed\", received \"real\""),
        "{out}"
    );
    assert!(out.contains("+  \"comment\": \"real\""), "{out}");
}

/// `--dataplane-url`: the runner drives a data plane it did not start, only through its HTTP
/// API (`/v1/batch` from the hub, `/_mock/*` for resets, waits and checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_pass_against_an_external_mock_dataplane() {
    // Started without the scenarios' key: the runner creates it through `/_mock/sources`.
    let dp = mock_dataplane::MockDataplane::builder()
        .in_memory()
        .start()
        .await
        .expect("mock data plane");
    let dir = scenario_dir(&[]);
    let url = dp.url();
    let cwd = dir.path().to_owned();
    let o = tokio::task::spawn_blocking(move || {
        run(
            &["run", "--filter", "identify/0", "--dataplane-url", &url],
            &cwd,
        )
    })
    .await
    .expect("runner thread");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("9 scenarios: 9 passed"), "{}", text(&o));
    // The hub's batches reached this data plane, not one started by the runner. The journal
    // is emptied before each scenario: what is left is the last scenario's.
    let journal = dp.requests().await;
    let batches = journal.iter().filter(|e| e.path == "/v1/batch").count();
    assert!(batches >= 1, "{batches} batches in {journal:?}");
    assert!(journal.iter().all(|e| e.status == 200), "{journal:?}");
    assert!(dp.stats().await.unwrap().total >= 1);
}

/// #11: a wrong token or an unreachable hub is our setup's mistake, not the hub's: each
/// scenario ends at once as a harness error naming the cause and the flag to check (exit 2),
/// instead of waiting for events and blaming the hub.
#[test]
fn a_wrong_hub_token_or_an_unreachable_hub_is_a_harness_error_naming_the_flag() {
    let dir = scenario_dir(&[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hub = rt
        .block_on(hub::Hub::builder().start())
        .expect("reference hub");
    let started = std::time::Instant::now();
    let o = run(
        &[
            "run",
            "--filter",
            "identify/01",
            "--hub-url",
            &hub.url(),
            "--hub-token",
            "wrong",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("1 harness errors"), "{out}");
    assert!(out.contains("refused the action list"), "{out}");
    assert!(out.contains("check --hub-token"), "{out}");
    // Nothing listens on port 9.
    let o = run(
        &[
            "run",
            "--filter",
            "identify/01",
            "--hub-url",
            "http://127.0.0.1:9",
            "--hub-token",
            "T",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot be reached"), "{}", text(&o));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "a harness mistake must not wait for events"
    );
    drop(hub);
}
