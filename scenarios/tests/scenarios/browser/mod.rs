//! Browser tests (issue 12): `scenarios up` as a person starts it, and headless Chromium
//! driven through chromedriver doing what a person does on the pages: send Look 1 to Rudder
//! Identify on the mock Looker's console, watch events arrive on the data plane's page, add a
//! 503 fault from its panel and see the hub's retry get through, and log in through the mock
//! OAuth provider's page to mark order 1003 as suspicious. Each saves screenshots under
//! `target/browser-screenshots/`.
//!
//! Without Chromium and chromedriver the tests are ignored (cfg `browser_missing`, set by
//! `scripts/browser-cfg.rs`); under `CI` they run and fail if the browser is missing.

mod interactive;
mod webdriver;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use webdriver::{Driver, Process, Session};

/// The browser tests run one at a time: each starts a demo and a Chromium.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `scenarios up` on free ports, with its URLs read from what it prints.
struct Demo {
    looker: String,
    dataplane: String,
    hub: String,
    _process: Process,
}

impl Demo {
    fn start() -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scenarios"))
            .args([
                "up",
                "--hub-port",
                "0",
                "--dataplane-port",
                "0",
                "--looker-port",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start `scenarios up`");
        let out = child.stdout.take().expect("piped stdout");
        let process = Process(child);
        let mut lines = BufReader::new(out).lines();
        let mut seen = Vec::new();
        let mut first = None;
        let (mut hub, mut dataplane) = (None, None);
        for line in lines.by_ref() {
            let line = line.expect("read the demo's output");
            let url = || {
                line.split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .map(|u| u.trim_end_matches('/').to_owned())
            };
            if first.is_none() {
                first = Some(line.clone());
            }
            if line.trim_start().starts_with("reference hub") {
                hub = url();
            }
            if line.trim_start().starts_with("mock data plane") {
                dataplane = url();
            }
            let done = line.contains("Press Ctrl-C to stop");
            seen.push(line);
            if done {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let all = seen.join("\n");
        // The console's URL is the first thing printed.
        let first = first.unwrap_or_else(|| panic!("`scenarios up` printed nothing"));
        let looker = first
            .strip_prefix("Console: ")
            .and_then(|r| r.split_whitespace().next())
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| panic!("the first line is not the console URL:\n{all}"));
        Demo {
            looker,
            dataplane: dataplane.unwrap_or_else(|| panic!("no data plane URL in:\n{all}")),
            hub: hub.unwrap_or_else(|| panic!("no hub URL in:\n{all}")),
            _process: process,
        }
    }

    /// `POST /_mock/send` on the mock Looker (what the console's Send button calls).
    async fn send(&self, body: Value) -> Value {
        let r = serving::http_client()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
            .post(format!("{}/_mock/send", self.looker))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.expect("a SendOutcome")
    }

    /// The data plane's request journal.
    async fn requests(&self) -> Vec<Value> {
        let v: Value = serving::http_client()
            .no_proxy()
            .build()
            .expect("client")
            .get(format!("{}/_mock/requests", self.dataplane))
            .send()
            .await
            .expect("requests")
            .json()
            .await
            .expect("JSON");
        v["requests"].as_array().cloned().unwrap_or_default()
    }
}

/// A demo, chromedriver and one headless Chromium, stopped in reverse order.
struct Browser {
    session: Option<Session>,
    demo: Demo,
    _driver: Driver,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    async fn start() -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        let demo = tokio::task::spawn_blocking(Demo::start)
            .await
            .expect("the demo started");
        let driver = Driver::start();
        let profile = tempfile::tempdir().expect("a profile directory");
        let session = driver.session(profile.path()).await;
        Browser {
            session: Some(session),
            demo,
            _driver: driver,
            _profile: profile,
            _turn: turn,
        }
    }

    fn s(&self) -> &Session {
        self.session.as_ref().expect("open")
    }

    async fn close(mut self) {
        if let Some(s) = self.session.take() {
            s.close().await;
        }
    }

    /// The Send page with a Look, an action (`<hub id>|<name>`), a user and a clicked value.
    async fn pick(&self, look: &str, action: &str, user: &str, cell: &str) {
        let s = self.s();
        s.goto(&format!("{}/console/send", self.demo.looker)).await;
        s.click(&format!("#look option[value=\"{look}\"]")).await;
        s.click(&format!("#action option[value=\"{action}\"]"))
            .await;
        s.click(&format!("#user option[value=\"{user}\"]")).await;
        s.type_into("#cell-value", cell).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    browser_missing,
    ignore = "chromium or chromedriver is not installed (apt-get install chromium chromium-driver); under CI=true this test runs and fails"
)]
async fn browser_console_sends_look_1_to_rudder_identify_and_shows_success() {
    let b = Browser::start().await;
    let s = b.s();
    s.goto(&format!("{}/", b.demo.looker)).await;
    let home = s.page_text().await;
    for want in [
        "Mock Looker console",
        "Users",
        "Accounts",
        "Rudder Identify",
        "user_id",
    ] {
        assert!(home.contains(want), "{want:?} not on the console:\n{home}");
    }
    s.screenshot("looker-console").await;

    b.pick("1", "1|rudder_event", "1", "").await;
    s.click("#send").await;
    s.wait_text("#result-status", "Success").await;
    let result = s.text(&s.must("#result").await).await;
    assert!(result.contains("Message"), "{result}");
    assert!(result.contains("200"), "{result}");
    s.screenshot("looker-send-identify").await;

    // The journal: the execute just sent, its JSON pretty-printed (not an escaped string).
    s.goto(&format!("{}/console/journal", b.demo.looker)).await;
    s.click("details.card > summary").await;
    let first = s.text(&s.must("details.card").await).await;
    assert!(first.contains("execute"), "{first}");
    let all = s.property(&s.must("main").await, "textContent").await;
    assert!(
        all.contains("\"type\": \"query\""),
        "no pretty execute body:\n{all}"
    );
    assert!(
        all.contains("characters in all]"),
        "the icon was not shortened"
    );
    s.screenshot("looker-journal").await;

    s.goto(&format!("{}/console/activity", b.demo.looker)).await;
    let activity = s.page_text().await;
    assert!(activity.contains("Scheduled plans"), "{activity}");
    // The demo's API 4.0 login and update_integration calls, and the Looks it ran.
    for want in ["update_integration", "run_query"] {
        assert!(activity.contains(want), "{want:?} not in:\n{activity}");
    }
    s.screenshot("looker-activity").await;

    // Registering a hub from the console: one that cannot be reached is registered with the
    // reason its action list failed, shown after the page reloads.
    s.goto(&format!("{}/", b.demo.looker)).await;
    s.type_into("#hub-url", "http://127.0.0.1:9").await;
    s.type_into("#hub-token", "not-a-real-token").await;
    s.click("#register button[type=submit]").await;
    s.wait_text("#register-result", "listing its actions failed")
        .await;
    s.wait_text("#hub-2 h3", "http://127.0.0.1:9").await;
    let page = s.page_text().await;
    assert!(page.contains("Listing its actions failed"), "{page}");
    assert!(!page.contains("not-a-real-token"), "the token is shown");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    browser_missing,
    ignore = "chromium or chromedriver is not installed (apt-get install chromium chromium-driver); under CI=true this test runs and fails"
)]
async fn browser_dataplane_page_shows_events_as_they_arrive() {
    let b = Browser::start().await;
    let s = b.s();
    s.goto(&format!("{}/", b.demo.dataplane)).await;
    s.wait_text("#stream-state", "live").await;
    // The demo's identify events, with their user ids.
    s.wait_text("#events", "identify").await;
    let events = s.text(&s.must("#events").await).await;
    assert!(events.contains("userId \""), "{events}");
    // A mark that a reload would lose.
    s.execute("window.__notReloaded = true; return null;").await;
    let out = b
        .demo
        .send(json!({"hub": "1", "action": "rudder_track", "look_id": "1",
            "form_values": {"event": "Browser Live Check"}}))
        .await;
    assert_eq!(out["success"], true, "{out}");
    s.wait_text("#events", "Browser Live Check").await;
    assert_eq!(
        s.execute("return window.__notReloaded === true;").await,
        true,
        "the page reloaded"
    );
    // The counts follow: the demo's 11 events and these 4.
    s.wait_text("#stats", "15 events stored").await;
    // The newest event, expanded to its JSON.
    s.click("#events details.event > summary").await;
    let json = s.text(&s.must("#events details.event pre").await).await;
    assert!(json.contains("\"event\": \"Browser Live Check\""), "{json}");
    s.screenshot("dataplane-live-events").await;
    // Filter by type: only track events stay.
    s.click("#f-type option[value=\"track\"]").await;
    let count = |t: &str| {
        format!(
            "return [...document.querySelectorAll('#events .event')].filter(e => (e.dataset.type === 'track') === {t}).length;"
        )
    };
    let mut other = Value::Null;
    for _ in 0..50 {
        other = s.execute(&count("false")).await;
        if other == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(other, 0, "the type filter left other events");
    assert!(
        s.execute(&count("true")).await.as_u64() > Some(0),
        "the type filter hid the track events"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    browser_missing,
    ignore = "chromium or chromedriver is not installed (apt-get install chromium chromium-driver); under CI=true this test runs and fails"
)]
async fn browser_fault_panel_503_twice_then_the_hub_retries_through() {
    let b = Browser::start().await;
    let s = b.s();
    s.goto(&format!("{}/", b.demo.dataplane)).await;
    s.wait_text("#stream-state", "live").await;
    s.click("button[data-fault*='503']").await;
    s.wait_text("#fault-result", "added").await;
    s.wait_text("#faults", "503").await;
    let before = b.demo.requests().await.len();
    let out = b
        .demo
        .send(json!({"hub": "1", "action": "rudder_track", "look_id": "1",
            "form_values": {"event": "After 503"}}))
        .await;
    assert_eq!(out["success"], true, "the hub did not retry through: {out}");
    s.wait_text("#events", "After 503").await;
    let statuses: Vec<u64> = b.demo.requests().await[before..]
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert_eq!(statuses, [503, 503, 200], "the requests after the fault");
    s.wait_text("#requests", "503").await;
    s.screenshot("dataplane-fault-retry").await;
    s.click("#clear-faults").await;
    s.wait_text("#fault-result", "removed").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    browser_missing,
    ignore = "chromium or chromedriver is not installed (apt-get install chromium chromium-driver); under CI=true this test runs and fails"
)]
async fn browser_oauth_allow_then_mark_order_1003_as_suspicious() {
    let b = Browser::start().await;
    let s = b.s();
    b.pick("5", "1|mark_suspicious", "bob", "1003").await;
    s.click("#load-form").await;
    let link = s.must("#oauth-link").await;
    let href = s.property(&link, "href").await;
    // The link opens a new tab for a person; here the same tab follows it.
    s.goto(&href).await;
    s.must("#login_as").await;
    let page = s.page_text().await;
    assert!(page.contains("Sign in"), "{page}");
    assert!(page.contains("Allow") && page.contains("Deny"), "{page}");
    s.screenshot("oauth-sign-in").await;
    s.type_into("#login_as", "bob").await;
    s.click("#allow").await;
    s.wait_text("body", "Login successful").await;

    b.pick("5", "1|mark_suspicious", "bob", "1003").await;
    s.click("#load-form").await;
    s.wait_text("[data-message]", "bob").await;
    s.click("#field-classification option[value=\"Suspicious\"]")
        .await;
    s.type_into("#field-comment", "Seen from the browser test")
        .await;
    s.click("#send").await;
    s.wait_text("#result-status", "Success").await;
    s.wait_text(
        "#result",
        "Order 1003 marked as Suspicious by bob@example.com",
    )
    .await;
    s.screenshot("looker-writeback-1003").await;

    s.goto(&format!("{}/", b.demo.hub)).await;
    let hub = s.page_text().await;
    for want in ["Rudder Identify", "Add it to Looker", "mark_suspicious"] {
        assert!(hub.contains(want), "{want:?} not on the hub's page:\n{hub}");
    }
    s.screenshot("hub-index").await;
    b.close().await;
}
