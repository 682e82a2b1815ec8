//! End-to-end throughput and memory of the hub (not a test: prints figures).
//!
//! For each size (default 10k, 100k, 1M rows; override with `HUB_BENCH_ROWS=10000,100000`):
//! a generated `json_detail_lite_stream` Look of 6 columns (email and user_id tagged, 4 plain)
//! is served by an in-process "Looker" as a `download_url`, streamed row by row; a fresh
//! `action-hub` child process runs `rudder_track` on it and sends to an in-process counting data
//! plane. Reported: rows/s from the execute request to the hub's answer (every event acknowledged)
//! and the child's peak RSS (`VmHWM` in /proc/<pid>/status).
//!
//! Run: `cargo bench -p hub --bench throughput`

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use serde_json::json;

const HEAD: &str = r#"{"ran_at":"2026-11-23T09:00:00+00:00","fields":{"dimensions":[{"name":"users.email","tags":["email"]},{"name":"users.id","tags":["user_id"]},{"name":"users.city","tags":[]},{"name":"users.plan","tags":[]}],"measures":[{"name":"users.age","tags":[]},{"name":"orders.count","tags":[]}],"table_calculations":[],"pivots":[]},"data":["#;

fn row(i: u64, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(
        out,
        r#"{{"users.email":{{"value":"user{i}@example.com"}},"users.id":{{"value":"u{i}"}},"users.city":{{"value":"City {c}"}},"users.plan":{{"value":"{p}"}},"users.age":{{"value":{a}}},"orders.count":{{"value":{o}}}}}"#,
        c = i % 97,
        p = if i.is_multiple_of(3) { "pro" } else { "free" },
        a = 18 + i % 60,
        o = i % 13
    );
}

/// The Look, generated while it is sent (never held whole).
fn look_stream(rows: u64) -> Body {
    let stream = futures::stream::unfold(0u64, move |next| async move {
        if next > rows {
            return None;
        }
        let mut s = String::with_capacity(256 * 1024);
        if next == 0 {
            s.push_str(HEAD);
        }
        let end = (next + 1000).min(rows);
        for i in next..end {
            if i > 0 {
                s.push(',');
            }
            row(i, &mut s);
        }
        if end == rows {
            s.push_str("]}");
        }
        Some((
            Ok::<_, std::io::Error>(Bytes::from(s)),
            if end == rows { rows + 1 } else { end },
        ))
    });
    Body::from_stream(stream)
}

#[derive(Default)]
struct Counts {
    events: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
}

async fn sink(State(c): State<Arc<Counts>>, body: Bytes) -> &'static str {
    let n = memchr::memmem::find_iter(&body, b"\"messageId\"").count() as u64;
    c.events.fetch_add(n, Ordering::Relaxed);
    c.requests.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    "OK"
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn one(rows: u64) -> anyhow::Result<()> {
    // "Looker": serves the download URL.
    let looker = axum::Router::new().route(
        "/downloads/look",
        axum::routing::get(move || async move {
            ([("content-type", "application/json")], look_stream(rows))
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let download_url = format!("http://{}/downloads/look", l.local_addr()?);
    tokio::spawn(async move { axum::serve(l, looker).await });

    // Data plane: mock_dataplane in memory (default), or a bare counting sink
    // (`HUB_BENCH_SINK=count`) to see the hub without the mock's own cost.
    let counts = Arc::new(Counts::default());
    let use_mock = std::env::var("HUB_BENCH_SINK").as_deref() != Ok("count");
    let mut mock = None;
    let (dp_url, write_key) = if use_mock {
        let m = mock_dataplane::MockDataplane::builder()
            .in_memory()
            .start()
            .await?;
        let r = (m.url(), m.write_key());
        mock = Some(m);
        r
    } else {
        let dp = axum::Router::new()
            .route("/v1/batch", axum::routing::post(sink))
            .layer(axum::extract::DefaultBodyLimit::max(8 << 20))
            .with_state(counts.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", l.local_addr()?);
        tokio::spawn(async move { axum::serve(l, dp).await });
        (url, "wk_bench".to_owned())
    };

    // The hub, as its own process.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let secret = "bench-secret";
    let mut child = Command::new(env!("CARGO_BIN_EXE_action-hub"))
        .args(["--port", &port.to_string(), "--secret", secret])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id();
    let hub_url = format!("http://127.0.0.1:{port}");
    let client = serving::http_client().build().expect("an HTTP client");
    for _ in 0..200 {
        if client.get(format!("{hub_url}/status")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let idle_kb = vm_hwm_kb(pid).unwrap_or(0);
    let body = json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 1, "type": "Look", "download_url": download_url, "query": {"vis_config": {}}},
        "attachment": null,
        "data": {"rudder_write_key": write_key, "rudder_server_url": dp_url},
        "form_params": {"event": "bench"},
    });
    let start = Instant::now();
    let resp = client
        .post(format!("{hub_url}/actions/rudder_track/execute"))
        .header(
            "authorization",
            format!("Token token=\"{}\"", hub::generate_token(secret)),
        )
        .header("user-agent", "LookerOutgoingWebhook/7.20.0")
        .header("x-looker-webhook-id", "bench")
        .json(&body)
        .send()
        .await?
        .text()
        .await?;
    let elapsed = start.elapsed();
    let peak_kb = vm_hwm_kb(pid).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let events = match &mock {
        Some(m) => {
            let s = m.stats().await?;
            let journal = m.requests().await;
            counts
                .requests
                .store(journal.len() as u64, Ordering::Relaxed);
            counts.bytes.store(
                journal.iter().map(|e| e.body_bytes as u64).sum(),
                Ordering::Relaxed,
            );
            s.total
        }
        None => counts.events.load(Ordering::Relaxed),
    };
    let v: serde_json::Value = serde_json::from_str(resp.trim_start())?;
    anyhow::ensure!(v["looker"]["success"] == true, "execute failed: {v}");
    anyhow::ensure!(
        events == rows,
        "data plane counted {events} events for {rows} rows"
    );
    println!(
        "{rows:>9} rows  {:>8.2} s  {:>9.0} rows/s  peak RSS {:>6.1} MB (idle {:.1} MB)  {} requests, {:.1} MB sent",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        peak_kb as f64 / 1024.0,
        idle_kb as f64 / 1024.0,
        counts.requests.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed) as f64 / 1e6,
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let sizes: Vec<u64> = std::env::var("HUB_BENCH_ROWS")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "rudder_track, json_detail_lite_stream via download_url, 6 columns, hub as a child process"
    );
    for n in sizes {
        rt.block_on(one(n))?;
    }
    Ok(())
}
