//! Test helpers: small axum fake hubs that record what Looker sent and answer as told.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request a fake hub received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// What a fake hub answers.
pub enum Reply {
    Json(u16, Value),
    Raw(u16, Vec<u8>),
    /// Never answers.
    Hang,
    /// 302 to the given path on the same hub.
    Redirect(String),
    /// `n` bytes of spaces then `{}`.
    Big(usize),
}

pub type Handler =
    Arc<dyn Fn(Recorded, String) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

pub struct FakeHub {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    handler: Handler,
    base: String,
}

impl FakeHub {
    /// A hub answering every request with `handler(request, base_url)`.
    pub async fn start(handler: Handler) -> FakeHub {
        init_logs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            requests: requests.clone(),
            handler,
            base: url.clone(),
        };
        let app = Router::new().fallback(handle).with_state(shared);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeHub {
            url,
            requests,
            _task: task,
        }
    }

    /// The reference behaviour of a well-behaved hub, with `execute` overridable.
    pub async fn good() -> FakeHub {
        FakeHub::start(Arc::new(|r, base| Box::pin(good_hub(r, base)))).await
    }

    /// A hub whose list is `list` and whose other answers are the good hub's.
    pub async fn with_list(list: Value) -> FakeHub {
        let list = Arc::new(list);
        FakeHub::start(Arc::new(move |r, base| {
            let list = list.clone();
            Box::pin(async move {
                if r.path == "/" {
                    Reply::Json(200, (*list).clone())
                } else {
                    good_hub(r, base).await
                }
            })
        }))
        .await
    }

    /// A hub that lists the reference actions and answers `path` with `reply()`.
    pub async fn answering(
        path: &'static str,
        reply: impl Fn() -> Reply + Send + Sync + 'static,
    ) -> FakeHub {
        let reply = Arc::new(reply);
        FakeHub::start(Arc::new(move |r, base| {
            let reply = reply.clone();
            Box::pin(async move {
                if r.path == path {
                    reply()
                } else {
                    good_hub(r, base).await
                }
            })
        }))
        .await
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn handle(State(s): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts.headers.clone(),
        body,
    };
    s.requests.lock().unwrap().push(rec.clone());
    match (s.handler)(rec, s.base.clone()).await {
        Reply::Json(status, v) => {
            (StatusCode::from_u16(status).unwrap(), axum::Json(v)).into_response()
        }
        Reply::Raw(status, b) => (StatusCode::from_u16(status).unwrap(), b).into_response(),
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Reply::Big(n) => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let count = n / chunk.len();
            let stream = futures::stream::iter(
                (0..count).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            Response::new(Body::from_stream(stream))
        }
    }
}

/// The reference actions a good hub lists (shapes of the Action API).
pub fn reference_list(base: &str) -> Value {
    let any = json!([{"any_tag": ["email", "user_id", "rudder_anonymous_id"]}]);
    let params = json!([
        {"name": "write_key", "label": "Write Key", "required": true, "sensitive": true},
        {"name": "server_url", "label": "Data Plane URL", "required": true, "sensitive": false}
    ]);
    let action = |name: &str, form: bool, rf: Value, download: &str, formats: Value| {
        json!({
            "description": format!("The {name} action"),
            "form_url": if form { json!(format!("{base}/actions/{name}/form")) } else { Value::Null },
            "label": format!("Test {name}"),
            "name": name,
            "params": params,
            "required_fields": rf,
            "supported_action_types": ["query"],
            "uses_oauth": false,
            "delegate_oauth": false,
            "supported_formats": formats,
            "supported_formattings": ["unformatted"],
            "supported_visualization_formattings": ["noapply"],
            "supported_download_settings": [download],
            "icon_data_uri": null,
            "url": format!("{base}/actions/{name}/execute"),
            "token_url": ""
        })
    };
    let mut oauth = action("oauthy", true, json!([]), "push", json!(["json", "csv"]));
    oauth["uses_oauth"] = json!(true);
    oauth["params"] = json!([]);
    let mut cell = action("cell_only", false, json!([]), "push", json!(["json"]));
    cell["supported_action_types"] = json!(["cell"]);
    let mut all = action(
        "all_tags",
        false,
        json!([{"all_tags": ["email", "pii"]}]),
        "push",
        json!(["json"]),
    );
    all["params"] = json!([]);
    json!({
        "integrations": [
            action("identify", false, any.clone(), "url", json!(["json_detail_lite_stream"])),
            action("track", true, any.clone(), "push", json!(["json_detail", "csv", "json"])),
            action("group", false, json!([{"tag": "rudder_group_id", "any_tag": ["email", "user_id", "rudder_anonymous_id"]}]), "url", json!(["json_detail"])),
            oauth,
            cell,
            all
        ],
        "label": "Fake Hub"
    })
}

fn ok(message: String) -> Reply {
    Reply::Json(
        200,
        json!({"looker": {"message": message, "refresh_query": false, "success": true, "validation_errors": {}}}),
    )
}

/// Counts the rows of a result in any format.
pub fn count_rows(format: &str, data: &[u8]) -> usize {
    match format {
        "csv" | "txt" => String::from_utf8_lossy(data)
            .lines()
            .count()
            .saturating_sub(1),
        "json" | "json_label" | "inline_json" => serde_json::from_slice::<Value>(data)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        _ => serde_json::from_slice::<Value>(data).unwrap()["data"]
            .as_array()
            .unwrap()
            .len(),
    }
}

/// A good hub: lists the reference actions; executes by reading the data (download URL or
/// attachment) and answering `rows=N format=F`; serves forms for track and oauthy.
pub async fn good_hub(r: Recorded, base: String) -> Reply {
    let path = r.path.as_str();
    if path == "/" {
        return Reply::Json(200, reference_list(&base));
    }
    if path == "/actions/track/form" {
        let body = r.json();
        let mut fields = vec![
            json!({"name": "event", "label": "Event", "type": "string", "required": true}),
            json!({"name": "kind", "label": "Kind", "type": "select", "interactive": true,
                   "options": [{"name": "a", "label": "A"}, {"name": "b", "label": "B"}]}),
        ];
        if body["form_params"]["kind"] == "b" {
            fields.push(json!({"name": "extra", "label": "Extra for b", "type": "string", "required": true}));
        }
        return Reply::Json(200, json!({"fields": fields}));
    }
    if path == "/actions/oauthy/form" {
        let body = r.json();
        if body["data"]["state_json"].is_string() {
            return Reply::Json(
                200,
                json!({"fields": [{"name": "folder", "label": "Folder", "type": "string", "default": "root"}]}),
            );
        }
        let state_url = body["data"]["state_url"].as_str().unwrap_or("").to_owned();
        return Reply::Json(
            200,
            json!({"fields": [{"name": "login", "type": "oauth_link", "label": "Log in",
            "oauth_url": format!("{base}/actions/oauthy/oauth?state={}", urlencode(&state_url))}]}),
        );
    }
    if let Some(name) = path
        .strip_prefix("/actions/")
        .and_then(|p| p.strip_suffix("/execute"))
    {
        let body = r.json();
        let (format, data) = if let Some(u) = body["scheduled_plan"]["download_url"].as_str() {
            let resp = serving::http_client()
                .no_proxy()
                .build()
                .unwrap()
                .get(u)
                .send()
                .await
                .unwrap();
            if resp.status() != 200 {
                return ok(format!("download failed with {}", resp.status()));
            }
            let fmt = if resp.headers()["content-type"] == "text/csv" {
                "csv"
            } else {
                "json_detail"
            };
            (fmt.to_owned(), resp.bytes().await.unwrap().to_vec())
        } else {
            let att = &body["attachment"];
            let data = att["data"].as_str().unwrap_or("").as_bytes().to_vec();
            let fmt = match att["mimetype"].as_str() {
                Some("text/csv") => "csv",
                Some("text/plain") => "txt",
                _ if data.starts_with(b"[") => "json",
                _ => "json_detail",
            };
            (fmt.to_owned(), data)
        };
        return ok(format!(
            "{name} rows={} format={format}",
            count_rows(&format, &data)
        ));
    }
    Reply::Json(404, json!({"success": false, "error": "No action found."}))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("mock_looker=debug")
            .try_init();
    }
}

pub fn params() -> std::collections::BTreeMap<String, String> {
    [
        ("write_key".to_owned(), "wk_secret_123".to_owned()),
        ("server_url".to_owned(), "http://dp.local".to_owned()),
    ]
    .into()
}
