//! Benchmark: stream a generated json_detail_lite_stream Look to a loopback sink.
//!
//! `cargo bench -p mock-looker --bench stream [-- ROWS]` (default 1,000,000 rows). The sink is a
//! hub whose execute handler fetches the one-time download URL and counts rows as bytes
//! arrive, keeping nothing; a second run pushes the data inside the execute body. Peak RSS
//! (VmHWM) is printed after a small and after the big run: flat memory means they match.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use futures::StreamExt;
use mock_looker::{Download, Format, HubOptions, Look, MockLooker, SendRequest, demo};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Sink {
    base: String,
    rows: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

/// Counts `{"users.id":` (the start of each row) across chunk boundaries.
async fn drain(
    sink: &Sink,
    mut body: impl futures::Stream<Item = Result<bytes::Bytes, impl std::fmt::Debug>> + Unpin,
) {
    let needle: &[u8] = b"{\\\"users.id\\\":";
    let plain: &[u8] = b"{\"users.id\":";
    let finder_esc = memchr::memmem::Finder::new(needle);
    let finder = memchr::memmem::Finder::new(plain);
    let mut tail: Vec<u8> = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        sink.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        // Only matches that end in the new chunk: one wholly inside the kept tail was counted
        // with the chunk before (the plain needle is shorter than the tail that is kept).
        let old = tail.len();
        tail.extend_from_slice(&chunk);
        let n = finder
            .find_iter(&tail)
            .filter(|&i| i + plain.len() > old)
            .count()
            + finder_esc
                .find_iter(&tail)
                .filter(|&i| i + needle.len() > old)
                .count();
        sink.rows.fetch_add(n as u64, Ordering::Relaxed);
        let keep = tail.len().min(needle.len() - 1);
        tail.drain(..tail.len() - keep);
    }
}

async fn hub(State(sink): State<Sink>, req: Request) -> Json<Value> {
    let path = req.uri().path().to_owned();
    if path == "/" {
        let action = |name: &str, download: &str| {
            json!({"name": name, "label": name, "url": format!("{}/actions/{name}/execute", sink.base),
                "supported_action_types": ["query"], "supported_formats": ["json_detail_lite_stream"],
                "supported_formattings": ["unformatted"], "supported_visualization_formattings": ["noapply"],
                "supported_download_settings": [download], "params": [], "required_fields": [], "form_url": null})
        };
        return Json(
            json!({"label": "sink", "integrations": [action("url_sink", "url"), action("push_sink", "push")]}),
        );
    }
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024).await;
    if path.contains("url_sink") {
        let v: Value = serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
        let url = v["scheduled_plan"]["download_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let resp = serving::http_client()
            .no_proxy()
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap();
        drain(&sink, resp.bytes_stream()).await;
    }
    Json(json!({"looker": {"success": true, "validation_errors": {}}}))
}

async fn push_hub(State(sink): State<Sink>, req: Request) -> Json<Value> {
    drain(&sink, Body::into_data_stream(req.into_body())).await;
    Json(json!({"looker": {"success": true, "validation_errors": {}}}))
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sink = Sink {
        base: base.clone(),
        ..Sink::default()
    };
    let app = Router::new()
        .route("/actions/push_sink/execute", axum::routing::post(push_hub))
        .fallback(hub)
        .with_state(sink.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let looker = MockLooker::builder()
        .hub_timeout(std::time::Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let hub = looker
        .register_hub(&base, HubOptions::default())
        .await
        .unwrap();
    assert!(hub.breaches.is_empty(), "{:?}", hub.breaches);
    let template = looker.look(demo::GENERATED_USERS).unwrap().def().clone();
    for (action, download) in [("url_sink", Download::Url), ("push_sink", Download::Push)] {
        for n in [10_000, rows] {
            sink.rows.store(0, Ordering::Relaxed);
            sink.bytes.store(0, Ordering::Relaxed);
            let look = Look::generated(template.clone(), n, 42).unwrap();
            let start = Instant::now();
            let out = looker
                .send(
                    SendRequest::new(&hub.id, action, look)
                        .format(Format::JsonDetailLiteStream)
                        .download(download),
                )
                .await
                .unwrap();
            let secs = start.elapsed().as_secs_f64();
            assert!(out.success, "{out:?}");
            let got = sink.rows.load(Ordering::Relaxed);
            assert_eq!(got, n, "the sink counted {got} rows");
            println!(
                "{action:9} {n:>9} rows  {:>7.1} MB  {secs:>6.2} s  {:>9.0} rows/s  {:>6.1} MB/s  peak RSS {:>6} KiB",
                sink.bytes.load(Ordering::Relaxed) as f64 / 1e6,
                n as f64 / secs,
                sink.bytes.load(Ordering::Relaxed) as f64 / 1e6 / secs,
                peak_rss_kib()
            );
        }
    }
}
