//! Issue 16: every format Looker sends and a dashboard, sent by the mock Looker to a small
//! fake hub that lists one action taking them all (by push), with the request each send made
//! snapshotted. The data of a file is redacted to its kind and size after it is checked to be
//! that kind of file (a zip with the workbook's or the CSVs' entries, a PDF with its page
//! count, a PNG with its dimensions); text data is kept.
//!
//! The Look sent has a fixed `ran_at` (and so does the dashboard's first tile), so every file
//! is the same bytes on any date: the sizes are part of the snapshot.

use std::io::Read;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use base64::Engine as _;
use mock_looker::{Format, HubOptions, Look, MockLooker, SendOutcome, SendRequest};
use serde_json::{Value, json};

const RAN_AT: &str = "2024-05-01T12:00:00+00:00";

/// The execute bodies the fake hub received, in order.
type Received = Arc<Mutex<Vec<Value>>>;

/// Lists one action, `files`: every format, `query` and `dashboard`, push only; answers
/// success to every execute and records its body.
async fn fake_hub() -> (String, Received, tokio::task::JoinHandle<()>) {
    async fn handle(
        State((base, got)): State<(String, Received)>,
        uri: Uri,
        body: Bytes,
    ) -> axum::Json<Value> {
        if uri.path() == "/" {
            return axum::Json(json!({
                "label": "Files hub",
                "integrations": [{
                    "name": "files",
                    "label": "Every format",
                    "description": "Takes every format Looker sends, and dashboards",
                    "url": format!("{base}/actions/files/execute"),
                    "form_url": null,
                    "params": [],
                    "required_fields": [],
                    "supported_action_types": ["query", "dashboard"],
                    "supported_formats": Format::ALL.map(|f| f.as_str()),
                    "supported_formattings": ["unformatted"],
                    "supported_visualization_formattings": ["noapply"],
                    "supported_download_settings": ["push"],
                    "uses_oauth": false,
                    "delegate_oauth": false,
                    "icon_data_uri": null
                }]
            }));
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        got.lock().unwrap().push(v);
        axum::Json(
            json!({"looker": {"success": true, "refresh_query": false, "validation_errors": {}}}),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let app = Router::new()
        .fallback(handle)
        .with_state((base.clone(), got.clone()));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, got, task)
}

/// What a file is, checked: `{kind, bytes}` plus what identifies it.
fn describe_file(format: Format, data: &[u8]) -> Value {
    match format {
        Format::Xlsx | Format::CsvZip => {
            let mut z = zip::ZipArchive::new(std::io::Cursor::new(data))
                .unwrap_or_else(|e| panic!("{format} is not a zip: {e}"));
            let mut entries: Vec<String> = (0..z.len())
                .map(|i| z.by_index(i).unwrap().name().unwrap().into_owned())
                .collect();
            entries.sort();
            if format == Format::Xlsx {
                assert!(
                    entries.iter().any(|e| e == "xl/workbook.xml"),
                    "{entries:?}"
                );
                let mut sheet = String::new();
                z.by_name("xl/worksheets/sheet1.xml")
                    .unwrap()
                    .read_to_string(&mut sheet)
                    .unwrap();
                json!({"kind": "xlsx workbook", "bytes": data.len(),
                       "sheet1_rows": sheet.matches("<row ").count()})
            } else {
                json!({"kind": "zip", "bytes": data.len(), "entries": entries})
            }
        }
        Format::WysiwygPdf | Format::AssembledPdf => {
            assert!(data.starts_with(b"%PDF-") && data.trim_ascii_end().ends_with(b"%%EOF"));
            let text = String::from_utf8_lossy(data);
            let pages = regex::Regex::new(r"/Count (\d+)")
                .unwrap()
                .captures(&text)
                .unwrap()[1]
                .parse::<u32>()
                .unwrap();
            json!({"kind": "PDF", "bytes": data.len(), "pages": pages})
        }
        Format::WysiwygPng => {
            assert!(data.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
            let be = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
            json!({"kind": "PNG", "bytes": data.len(), "width": be(16), "height": be(20)})
        }
        _ => unreachable!("text formats are kept"),
    }
}

/// The request as snapshotted: the mock's URL normalised, file data described.
fn request_shape(mut body: Value, looker_url: &str) -> Value {
    let format = body["attachment"]["mimetype"]
        .as_str()
        .and_then(|m| {
            Format::ALL
                .into_iter()
                .find(|f| f.attachment_mimetype() == m)
        })
        .filter(|f| f.is_binary());
    if let (Some(format), Some(data)) = (format, body["attachment"]["data"].as_str()) {
        let mimetype = body["attachment"]["mimetype"].clone();
        // Two formats share a mimetype (PDF): the extension and content tell the kind.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("binary data is base64");
        body["attachment"]["data"] = describe_file(format, &bytes);
        body["attachment"]["mimetype"] = mimetype;
    }
    let text = body.to_string().replace(looker_url, "[looker]");
    serde_json::from_str(&text).unwrap()
}

fn outcome_shape(o: &SendOutcome) -> Value {
    json!({"success": o.success, "http_status": o.http_status, "format": o.format,
           "breaches": o.breaches, "message": o.message})
}

#[test]
fn every_format_and_a_dashboard_reach_a_hub_that_accepts_them() {
    crate::helpers::init_logs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (hub_url, got, _task) = fake_hub().await;
        let dir = tempfile_dir();
        let l = MockLooker::builder()
            .looks_dir(dir.path())
            .start()
            .await
            .unwrap();
        let hub = l
            .register_hub(&hub_url, HubOptions::default())
            .await
            .unwrap();
        assert!(hub.breaches.is_empty(), "{:?}", hub.breaches);
        let look = l.look("900").expect("the fixed Look");
        let mut sends: Vec<(String, SendRequest)> = [
            Format::Html,
            Format::Xlsx,
            Format::CsvZip,
            Format::WysiwygPdf,
            Format::AssembledPdf,
            Format::WysiwygPng,
        ]
        .into_iter()
        .map(|f| {
            (
                format!("look_{f}"),
                SendRequest::new(&hub.id, "files", look.clone()).format(f),
            )
        })
        .collect();
        let dash = l.dashboard("900").expect("the fixed dashboard");
        for f in Format::DASHBOARD {
            sends.push((
                format!("dashboard_{f}"),
                SendRequest::for_dashboard(&hub.id, "files", dash.clone()).format(f),
            ));
        }
        for (name, req) in sends {
            let out = l.send(req).await.unwrap();
            assert!(out.success && out.breaches.is_empty(), "{name}: {out:?}");
            let body = got.lock().unwrap().pop().expect("the hub got the execute");
            let shape = json!({
                "outcome": outcome_shape(&out),
                "request": request_shape(body, &l.url()),
            });
            // A folder of their own: `snapshots/` holds one file per scenario.
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_path("snapshots/formats");
            settings.bind(|| insta::assert_json_snapshot!(format!("format_{name}"), shape));
        }
        l.shutdown().await.unwrap();
    });
}

/// A Look directory with the demo Users Look at a fixed `ran_at` (id 900) and a dashboard
/// (id 900) whose first tile is it.
fn tempfile_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let users = include_str!("../../../mock-looker/looks/01_users.yaml")
        .replace("id: \"1\"", "id: \"900\"")
        .replace("title: Users", "title: Users at a fixed time");
    let users = format!("{users}\nran_at: \"{RAN_AT}\"\n");
    Look::from_yaml_str(&users, "users.yaml").expect("still a valid Look");
    std::fs::write(dir.path().join("users.yaml"), users).unwrap();
    std::fs::write(
        dir.path().join("board.yaml"),
        "id: \"900\"\ntitle: Fixed board\ndescription: Users, accounts and orders\ntiles:\n  - {look: \"900\", title: Users}\n  - {look: \"2\"}\n  - {look: \"3\", title: Orders by month}\n",
    )
    .unwrap();
    dir
}
