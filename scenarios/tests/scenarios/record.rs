//! `scenarios record` (issue 15): the mock Looker sends Look 1 through the recording proxy to
//! the reference hub, whose events go through a forwarding mock data plane; the hub's answers
//! reach Looker unchanged, the written scenarios replay green, and no secret is in a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mock_dataplane::MockDataplane;
use mock_looker::{Download, HubOptions, MockLooker, SendRequest};
use scenarios::record::RecordConfig;
use scenarios::wiring::{Wiring, WiringConfig};
use serde_json::Value;

const WRITE_KEY: &str = "wk_customer_secret_0042";
const LOOKER_TOKEN: &str = "looker-side-token-7f3a";
const LOOK1_EMAILS: [&str; 3] = ["ada@example.com", "grace@example.com", "linus@example.com"];

/// The HTTP status and body of a hub's answer, as the mock Looker read them.
type Answer = (Option<u16>, Option<Value>);

struct Recording {
    dir: tempfile::TempDir,
    hub_token: String,
    /// The hub that was recorded, still running (a replay can target it with --hub-url).
    hub: hub::Hub,
    /// (through the proxy, straight to the hub) answer status and body, per send.
    answers: Vec<(Answer, Answer)>,
    url_fetches: u32,
}

/// Records a push (rudder_event), a download URL with a form (rudder_track) of Look 1.
async fn record(redact_pii: bool) -> Recording {
    let upstream = MockDataplane::builder()
        .write_key(WRITE_KEY)
        .start()
        .await
        .unwrap();
    let front = MockDataplane::builder()
        .write_key(WRITE_KEY)
        .forward(upstream.url())
        .start()
        .await
        .unwrap();
    let hub = hub::Hub::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RecordConfig::new(hub.url(), dir.path());
    cfg.hub_token = Some(hub.token());
    cfg.redact_pii = redact_pii;
    cfg.dataplane_via = Some(front.url());
    let proxy = serving::Binding::loopback()
        .await
        .unwrap()
        .spawn("scenarios record", move |l, stop| {
            scenarios::record::run(l, cfg, stop)
        });
    let looker = MockLooker::start().await.unwrap();
    let via_proxy = looker
        .register_hub(proxy.url(), HubOptions::default().token(LOOKER_TOKEN))
        .await
        .unwrap();
    let direct = looker
        .register_hub(&hub.url(), HubOptions::default().token(hub.token()))
        .await
        .unwrap();
    assert!(
        via_proxy.fetch_error.is_none(),
        "{:?}",
        via_proxy.fetch_error
    );
    // The list through the proxy is the hub's, but for the URLs Looker is to call.
    let list =
        |h: &mock_looker::Hub| -> Vec<Value> { h.actions.iter().map(|a| a.raw.clone()).collect() };
    let proxied_list = serde_json::to_string(&list(&via_proxy))
        .unwrap()
        .replace(proxy.url(), &hub.url());
    assert_eq!(proxied_list, serde_json::to_string(&list(&direct)).unwrap());
    assert!(
        via_proxy
            .actions
            .iter()
            .all(|a| a.raw["url"].as_str().unwrap().starts_with(proxy.url()))
    );

    let look = looker.look(mock_looker::demo::USERS).unwrap();
    let server_url = format!("{}/v1/batch", upstream.url());
    let sends = [
        ("rudder_event", Download::Push, None),
        ("rudder_track", Download::Url, Some("Signed Up")),
    ];
    let mut answers = Vec::new();
    let mut url_fetches = 0;
    for (action, download, event) in sends {
        let mut outcomes = Vec::new();
        for h in [&via_proxy, &direct] {
            let mut rq = SendRequest::new(&h.id, action, look.clone())
                .param("rudder_write_key", WRITE_KEY)
                .param("rudder_server_url", &server_url)
                .download(download);
            if let Some(e) = event {
                rq = rq.form_value("event", e);
            }
            // The RudderStack actions declare `url` only; old Lookers pushed anyway.
            rq.force = download == Download::Push;
            let o = looker.send(rq).await.unwrap();
            assert!(o.success, "{action} {:?}: {:?}", h.url, o.failure);
            assert!(o.breaches.is_empty(), "{:?}", o.breaches);
            if download == Download::Url && h.id == via_proxy.id {
                url_fetches = o.download_fetches;
            }
            outcomes.push((o.http_status, o.body));
        }
        let direct_answer = outcomes.pop().unwrap();
        answers.push((outcomes.pop().unwrap(), direct_answer));
    }
    proxy.shutdown().await.unwrap();
    Recording {
        dir,
        hub_token: hub.token(),
        hub,
        answers,
        url_fetches,
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn all_text(dir: &Path) -> String {
    files(dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replays every scenario under `dir` against fresh in-process servers (or the hub of
/// `config`); their total events.
async fn replay(dir: &Path) -> Vec<usize> {
    replay_with(dir, WiringConfig::default()).await
}

async fn replay_with(dir: &Path, config: WiringConfig) -> Vec<usize> {
    let loaded = scenarios::load::load_paths(&[dir.to_path_buf()]).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert_eq!(loaded.len(), 2, "one scenario per execute");
    let external = config.hub_url.is_some();
    let launcher = Arc::new(Wiring::new(config));
    let reports = scenarios::runner::run_all(launcher, loaded, 2, external, |_| {}).await;
    assert!(
        reports
            .iter()
            .all(|r| !matches!(r.status, scenarios::Status::Skipped { .. })),
        "a recorded scenario runs against any hub"
    );
    assert!(
        reports.iter().all(|r| r.ok()),
        "{}",
        scenarios::report::details(&reports)
    );
    reports.iter().map(|r| r.events).collect()
}

fn total_events(dir: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    for p in files(dir) {
        if p.extension().is_some_and(|e| e == "yaml") {
            let v: Value = serde_norway::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            out.push(v["expect"]["total_events"].as_u64().unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_passes_answers_through_and_replays_green_without_secrets() {
    let rec = record(false).await;
    for (proxied, direct) in &rec.answers {
        assert_eq!(proxied, direct, "the hub's answer reached Looker unchanged");
    }
    assert_eq!(rec.url_fetches, 1, "Looker's one-time URL was fetched once");
    let dir = rec.dir.path();
    let names: Vec<String> = files(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("exchanges"))
        .collect();
    assert_eq!(
        names,
        [
            "001_rudder_event.yaml",
            "002_rudder_track.yaml",
            "looks/001_rudder_event.json",
            "looks/002_rudder_track.json"
        ]
    );
    let track = std::fs::read_to_string(dir.join("002_rudder_track.yaml")).unwrap();
    for want in [
        "download: url",
        "event: Signed Up",
        "fetch_form:",
        "${dataplane.write_key}",
    ] {
        assert!(track.contains(want), "{want} missing in\n{track}");
    }
    let text = all_text(dir);
    for secret in [WRITE_KEY, LOOKER_TOKEN, rec.hub_token.as_str()] {
        assert!(!text.contains(secret), "a secret reached a file");
    }
    assert!(
        text.contains("ada@example.com"),
        "without --redact-pii the Look is as sent"
    );
    let totals = total_events(dir);
    assert!(totals.iter().all(|n| *n > 0), "{totals:?}");
    let replayed = replay(dir).await;
    assert_eq!(
        replayed.iter().map(|n| *n as u64).collect::<Vec<_>>(),
        totals
    );
    // Against the recorded hub itself, as an external hub (`--hub-url`).
    let external = replay_with(
        dir,
        WiringConfig {
            hub_url: Some(rec.hub.url()),
            hub_token: Some(rec.hub_token.clone()),
            ..WiringConfig::default()
        },
    )
    .await;
    assert_eq!(external, replayed);
    // And through the command line, as the README says.
    let o = crate::helpers::run(&["run", "-j", "1", &dir.display().to_string()], dir);
    let out = crate::helpers::text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("2 scenarios: 2 passed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redacted_recordings_hold_no_email_and_replay_to_the_same_events() {
    let plain = record(false).await;
    let redacted = record(true).await;
    let text = all_text(redacted.dir.path());
    for email in LOOK1_EMAILS {
        assert!(!text.contains(email), "{email} in a redacted recording");
    }
    assert!(
        !text.contains("\"Grace\""),
        "a first name in a redacted recording"
    );
    assert!(text.contains("person1@example.com"));
    assert_eq!(
        total_events(redacted.dir.path()),
        total_events(plain.dir.path())
    );
    let replayed = replay(redacted.dir.path()).await;
    assert_eq!(
        replayed.iter().map(|n| *n as u64).collect::<Vec<_>>(),
        total_events(plain.dir.path())
    );
}

/// The `Authorization` header a fake hub received.
type Seen = Arc<std::sync::Mutex<Option<String>>>;

/// A hub that answers an execute with a keep-alive newline at once and the JSON only when
/// told, and remembers the `Authorization` it got.
async fn slow_hub() -> (serving::Background, tokio::sync::mpsc::Sender<()>, Seen) {
    use axum::body::Body;
    use axum::http::HeaderMap;
    let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    let app = axum::Router::new().route(
        "/actions/{id}/execute",
        axum::routing::post(move |headers: HeaderMap| {
            let rx = rx.clone();
            *seen2.lock().unwrap() = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned());
            async move {
                let chunks = futures::stream::unfold(0, move |i| {
                    let rx = rx.clone();
                    async move {
                        match i {
                            0 => Some((Ok::<_, std::io::Error>("\n".to_owned()), 1)),
                            1 => {
                                rx.lock().await.recv().await;
                                Some((
                                    Ok(r#"{"looker":{"success":true,"message":"late"}}"#
                                        .to_owned()),
                                    2,
                                ))
                            }
                            _ => None,
                        }
                    }
                });
                Body::from_stream(chunks)
            }
        }),
    );
    let bg = serving::Binding::loopback()
        .await
        .unwrap()
        .spawn("slow hub", move |l, stop| {
            serving::serve(l, app, serving::Limits::default(), "slow hub", stop)
        });
    (bg, tx, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_stream_through_with_their_keepalive_newlines_and_lookers_token() {
    let (hub, release, seen) = slow_hub().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = RecordConfig::new(hub.url(), dir.path());
    let proxy = serving::Binding::loopback()
        .await
        .unwrap()
        .spawn("scenarios record", move |l, stop| {
            scenarios::record::run(l, cfg, stop)
        });
    let body = serde_json::json!({"type": "query", "data": {},
        "attachment": {"mimetype": "text/csv", "extension": "csv", "data": "a,b\n1,2"}});
    let mut resp = serving::http_client()
        .build()
        .expect("an HTTP client")
        .post(format!("{}/actions/csv_sink/execute", proxy.url()))
        .header("Authorization", format!("Token token=\"{LOOKER_TOKEN}\""))
        .header("User-Agent", "LookerOutgoingWebhook/7.20.0")
        .json(&body)
        .send()
        .await
        .unwrap();
    // The newline arrives while the hub is still working.
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk())
        .await
        .expect("the keep-alive newline is passed on before the answer is complete")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"\n");
    release.send(()).await.unwrap();
    let rest = resp.text().await.unwrap();
    assert_eq!(rest, r#"{"looker":{"success":true,"message":"late"}}"#);
    // Without --hub-token, Looker's token goes on to the hub.
    assert_eq!(
        seen.lock().unwrap().as_deref(),
        Some(format!("Token token=\"{LOOKER_TOKEN}\"").as_str())
    );
    proxy.shutdown().await.unwrap();
    // A csv Look is no Look file: the scenario replays the body with a raw step.
    let scenario = std::fs::read_to_string(dir.path().join("001_csv_sink.yaml")).unwrap();
    assert!(
        scenario.contains("raw:") && scenario.contains("a,b"),
        "{scenario}"
    );
    assert!(!all_text(dir.path()).contains(LOOKER_TOKEN));
    scenarios::load::load_paths(&[dir.path().to_path_buf()]).expect("the scenario loads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_command_proxies_until_sigterm() {
    use std::io::{BufRead, BufReader};
    let hub = hub::Hub::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args([
            "record",
            "--hub-url",
            &hub.url(),
            "--listen",
            "127.0.0.1:0",
            "--out",
        ])
        .arg(dir.path())
        .env("SCENARIOS_RECORD_HUB_TOKEN", hub.token())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    // Looker's token is the proxy's business: the hub gets its own from the environment.
    let list = serving::http_client()
        .build()
        .expect("an HTTP client")
        .post(format!("{url}/"))
        .header("Authorization", "Token token=\"whatever-looker-has\"")
        .header("User-Agent", "LookerOutgoingWebhook/7.20.0")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.unwrap();
    assert!(
        list["integrations"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with(&url)
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("replay with")), "{rest:?}");
    let text = all_text(dir.path());
    assert!(
        text.contains("rudder_event"),
        "the list exchange was written"
    );
    assert!(!text.contains(&hub.token()) && !text.contains("whatever-looker-has"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_url_is_fetched_once_and_served_to_the_hub_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // "Looker": one download URL serving a json_detail_lite_stream Look, counting fetches.
    let doc = r#"{"ran_at":"2024-05-01T12:00:00+00:00","fields":{"dimensions":[{"name":"users.id","tags":["user_id"]}],"measures":[],"table_calculations":[],"pivots":[]},"data":[{"users.id":{"value":"u1"}}]}"#;
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let looker_app = axum::Router::new().route(
        "/downloads/{token}",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { ([("content-type", "application/json")], doc) }
        }),
    );
    let looker = serving::Binding::loopback()
        .await
        .unwrap()
        .spawn("looker", move |l, stop| {
            serving::serve(l, looker_app, serving::Limits::default(), "looker", stop)
        });
    // A hub that fetches the URL it is given twice and says what it got.
    let hub_app = axum::Router::new().route(
        "/actions/{id}/execute",
        axum::routing::post(|axum::Json(body): axum::Json<Value>| async move {
            let url = body["scheduled_plan"]["download_url"]
                .as_str()
                .unwrap()
                .to_owned();
            let c = serving::http_client().build().expect("an HTTP client");
            let first = c.get(&url).send().await.unwrap();
            let s1 = first.status().as_u16();
            let text = first.text().await.unwrap();
            let s2 = c.get(&url).send().await.unwrap().status().as_u16();
            let msg = format!("{s1} {s2} {}", text.len());
            axum::Json(serde_json::json!({"looker": {"success": true, "message": msg}}))
        }),
    );
    let hub = serving::Binding::loopback()
        .await
        .unwrap()
        .spawn("hub", move |l, stop| {
            serving::serve(l, hub_app, serving::Limits::default(), "hub", stop)
        });
    let dir = tempfile::tempdir().unwrap();
    let cfg = RecordConfig::new(hub.url(), dir.path());
    let proxy = serving::Binding::loopback()
        .await
        .unwrap()
        .spawn("scenarios record", move |l, stop| {
            scenarios::record::run(l, cfg, stop)
        });
    let looker_url = format!("{}/downloads/0123456789abcdef", looker.url());
    let answer: Value = serving::http_client()
        .build()
        .expect("an HTTP client")
        .post(format!("{}/actions/any/execute", proxy.url()))
        .header("User-Agent", "LookerOutgoingWebhook/7.20.0")
        .json(&serde_json::json!({"type": "query", "data": {},
            "scheduled_plan": {"title": "T", "download_url": looker_url}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The hub's first fetch got the Look, the second a 404, as from Looker's one-time URL.
    assert_eq!(
        answer["looker"]["message"],
        format!("200 404 {}", doc.len())
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "Looker's URL fetched once"
    );
    proxy.shutdown().await.unwrap();
    let look = std::fs::read_to_string(dir.path().join("looks/001_any.json")).unwrap();
    assert!(look.contains("\"u1\""), "{look}");
    let scenario = std::fs::read_to_string(dir.path().join("001_any.yaml")).unwrap();
    assert!(scenario.contains("download: url"), "{scenario}");
    assert!(
        !all_text(dir.path()).contains("0123456789abcdef"),
        "the one-time URL is masked"
    );
}
