//! #11: the `action-hub` binary reachable under another address or name (Looker and the hub
//! in containers): `--bind` chooses where it listens, `--advertise-host` the host in every URL
//! it hands Looker (action URLs, form URLs, OAuth links).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// Kills the hub when the test ends, also on a failed assertion.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `text` without ANSI colour sequences (the log may be coloured).
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Starts the binary on port 0 with `args`; returns it, the address it listens on and the
/// base URL it logged.
fn spawn(args: &[&str], db: &std::path::Path) -> (Running, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_action-hub"))
        .args(["--port", "0", "--token", "T", "--writeback-db"])
        .arg(db)
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let running = Running(child);
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    for line in lines.by_ref() {
        let line = plain(&line.expect("a log line"));
        if line.contains("action hub listening") {
            let addr = field(&line, "addr").expect("addr logged");
            let base = field(&line, "base_url").expect("base_url logged");
            // Keep reading its log, so that it never writes to a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (running, addr, base);
        }
    }
    panic!("the hub ended without listening");
}

async fn post(url: &str, body: Value) -> Value {
    let r = serving::http_client()
        .no_proxy()
        .build()
        .unwrap()
        .post(url)
        .header("authorization", "Token token=\"T\"")
        .header("user-agent", "LookerOutgoingWebhook/25.0.0")
        .json(&body)
        .send()
        .await
        .expect("the hub answers at its bound address");
    assert_eq!(r.status(), 200);
    serde_json::from_str(r.text().await.unwrap().trim()).unwrap()
}

#[tokio::test]
async fn bind_and_advertise_host_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wb.sqlite");
    let (_hub, addr, base) = spawn(
        &["--bind", "127.0.0.2", "--advertise-host", "hub.internal"],
        &db,
    );
    assert!(addr.starts_with("127.0.0.2:"), "{addr}");
    let port = addr.rsplit(':').next().unwrap();
    assert_eq!(base, format!("http://hub.internal:{port}"));

    // Reached at the bound address, it names the advertised host in every URL it hands out.
    let list = post(&format!("http://{addr}/"), json!({})).await;
    let actions = list["integrations"].as_array().unwrap();
    assert!(actions.len() >= 3, "{list}");
    for a in actions {
        let url = a["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{base}/actions/")), "{a}");
    }
    let form = post(
        &format!("http://{addr}/actions/mark_suspicious/form"),
        json!({"data": {"state_url": "http://looker.internal/action_hub_state/x", "value": "1"}, "form_params": {}}),
    )
    .await;
    let oauth = form["fields"][0]["oauth_url"]
        .as_str()
        .expect("a login link");
    assert!(
        oauth.starts_with(&format!("{base}/actions/mark_suspicious/oauth?state=")),
        "{form}"
    );

    // Without it, the bound address; and --advertise-host with --base-url is refused.
    let (_hub, addr, base) = spawn(&["--bind", "127.0.0.2"], &db);
    assert_eq!(base, format!("http://{addr}"));
    let out = Command::new(env!("CARGO_BIN_EXE_action-hub"))
        .args([
            "--token",
            "T",
            "--advertise-host",
            "a",
            "--base-url",
            "http://b",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
