//! Shared test helpers.
#![allow(dead_code)]

use std::sync::LazyLock;

/// Logs only when `TEST_LOG` is set.
pub static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
});

pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The text of a file in `testdata/` (data captured from the real systems, kept in the repo).
pub fn testdata(name: &str) -> String {
    let path = workspace_root().join("testdata").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// One request the recording sink received.
#[derive(Debug, Clone)]
pub struct SinkRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub status: u16,
    pub body: Value,
}

#[derive(Default)]
struct SinkState {
    requests: Vec<SinkRequest>,
    faults: VecDeque<(u16, String)>,
    write_key: String,
}

/// A tiny recording data plane: accepts `Basic base64(<write key>:)`, answers 200 `OK`,
/// or the queued faults first. Hand-written on purpose, apart from mock_dataplane, so the hub is
/// not only judged by our own mock; `retries` and `redirects` use wiremock the same way.
#[derive(Clone)]
pub struct Sink {
    pub url: String,
    state: Arc<Mutex<SinkState>>,
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

async fn sink_handler(
    State(st): State<Arc<Mutex<SinkState>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use base64::Engine;
    let mut st = st.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", st.write_key))
    );
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, text) = match st.faults.pop_front() {
        Some(f) => f,
        None if auth.as_deref() != Some(expected.as_str()) => (401, "invalid write key\n".into()),
        None => (200, "OK".into()),
    };
    st.requests.push(SinkRequest {
        path: uri.path().to_owned(),
        authorization: auth,
        status,
        body,
    });
    (StatusCode::from_u16(status).unwrap(), text).into_response()
}

impl Sink {
    pub async fn start() -> Sink {
        let state = Arc::new(Mutex::new(SinkState {
            write_key: "wk_test".into(),
            ..SinkState::default()
        }));
        let app = axum::Router::new()
            .fallback(sink_handler)
            .with_state(state.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(l, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Sink {
            url,
            state,
            _stop: Arc::new(tx),
        }
    }
    pub fn write_key(&self) -> String {
        self.state.lock().unwrap().write_key.clone()
    }
    /// The next `times` requests get `status` with `body`.
    pub fn fail_next(&self, times: usize, status: u16, body: &str) {
        let mut st = self.state.lock().unwrap();
        for _ in 0..times {
            st.faults.push_back((status, body.to_owned()));
        }
    }
    pub fn requests(&self) -> Vec<SinkRequest> {
        self.state.lock().unwrap().requests.clone()
    }
    /// Events of the requests that were answered 200 (in arrival order).
    pub fn events(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .flat_map(|r| r.body["batch"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// A hub under test plus an HTTP client.
pub struct TestHub {
    pub hub: hub::Hub,
    pub client: reqwest::Client,
}

pub fn quick_config() -> hub::HubConfig {
    let mut c = hub::HubConfig::default();
    c.send.retry_base = Duration::from_millis(2);
    c
}

impl TestHub {
    pub async fn start() -> TestHub {
        Self::with(quick_config()).await
    }
    pub async fn with(config: hub::HubConfig) -> TestHub {
        LazyLock::force(&TRACING);
        TestHub {
            hub: hub::Hub::builder().config(config).start().await.unwrap(),
            client: serving::http_client().build().expect("an HTTP client"),
        }
    }
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.post_as(path, Some("LookerOutgoingWebhook/7.20.0"))
    }
    /// A POST with the given User-Agent (None: no User-Agent at all).
    pub fn post_as(&self, path: &str, ua: Option<&str>) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .post(format!("{}{path}", self.hub.url()))
            .header(
                "authorization",
                format!("Token token=\"{}\"", self.hub.token()),
            );
        if let Some(ua) = ua {
            r = r.header("user-agent", ua);
        }
        r.header("x-looker-webhook-id", "test-webhook")
            .header("x-looker-instance", "test-instance")
    }
    /// POSTs an execute and returns (status, parsed JSON without the keep-alive newlines).
    pub async fn execute(&self, action: &str, body: &Value) -> (u16, Value) {
        let r = self
            .post(&format!("/actions/{action}/execute"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(text.trim_start()).unwrap_or(Value::String(text)),
        )
    }
}

/// A json_detail document.
pub fn look(dims: &[(&str, &[&str])], rows: &[Value]) -> String {
    let dims: Vec<Value> = dims
        .iter()
        .map(|(n, t)| json!({"name": n, "tags": t}))
        .collect();
    json!({"fields": {"dimensions": dims, "measures": [], "table_calculations": [], "pivots": []}, "data": rows})
        .to_string()
}

/// A data plane an execute can point at.
pub trait Target {
    fn url(&self) -> String;
    fn key(&self) -> String;
}

impl Target for Sink {
    fn url(&self) -> String {
        self.url.clone()
    }
    fn key(&self) -> String {
        self.write_key()
    }
}

/// `mock_dataplane` in memory, for the spec §7 cases.
pub struct Dp(pub mock_dataplane::MockDataplane);

impl Target for Dp {
    fn url(&self) -> String {
        self.0.url()
    }
    fn key(&self) -> String {
        self.0.write_key()
    }
}

impl Dp {
    pub async fn start() -> Dp {
        Dp(mock_dataplane::MockDataplane::start().await.unwrap())
    }
    /// The stored events (in arrival order) without the gateway's enrichment.
    pub async fn events(&self) -> Vec<Value> {
        self.0
            .events(mock_dataplane::EventFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let mut v = e.event;
                let o = v.as_object_mut().unwrap();
                for k in ["rudderId", "receivedAt", "request_ip"] {
                    assert!(o.shift_remove(k).is_some(), "gateway adds {k}");
                }
                v
            })
            .collect()
    }
    /// Requests the data plane received.
    pub async fn requests(&self) -> Vec<mock_dataplane::JournalEntry> {
        self.0.requests().await
    }
}

/// An execute body pushing `look` as the attachment, to `sink`.
pub fn exec_body(look: &str, sink: &impl Target) -> Value {
    json!({
        "type": "query",
        "scheduled_plan": {"scheduled_plan_id": 1, "title": "t", "type": "Look", "query": {"vis_config": {}}},
        "attachment": {"mimetype": "application/json", "extension": "json", "data": look},
        "data": {"rudder_write_key": sink.key(), "rudder_server_url": sink.url()},
        "form_params": {},
    })
}

/// An event without what varies between runs; a generated (uuid) anonymousId becomes
/// "stubanon" like in the official tests. Checks the invariant parts on the way.
pub fn normalize(e: &Value) -> Value {
    let mut e = e.clone();
    let o = e.as_object_mut().unwrap();
    for k in ["messageId", "originalTimestamp", "sentAt", "timestamp"] {
        let v = o
            .shift_remove(k)
            .unwrap_or_else(|| panic!("event without {k}"));
        assert!(v.is_string(), "{k} is {v}");
    }
    let ctx = o.shift_remove("context").expect("context");
    assert_eq!(
        ctx["app"],
        json!({"name": "looker/actions", "version": "dev"})
    );
    assert_eq!(ctx["library"]["name"], hub::LIBRARY_NAME);
    if o["type"] == "identify" {
        assert_eq!(ctx["traits"], o["traits"], "context.traits copies traits");
    }
    if let Some(Value::String(a)) = o.get("anonymousId")
        && uuid::Uuid::parse_str(a).is_ok()
    {
        o.insert("anonymousId".into(), json!("stubanon"));
    }
    e
}
