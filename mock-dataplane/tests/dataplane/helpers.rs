//! Shared test plumbing: start a mock, send raw requests.

use std::io::Write;
use std::sync::LazyLock;

use base64::Engine as _;
use mock_dataplane::MockDataplane;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("mock_dataplane=debug")
            .with_test_writer()
            .try_init();
    }
});

pub fn init() {
    LazyLock::force(&TRACING);
}

pub async fn start() -> MockDataplane {
    init();
    MockDataplane::start().await.expect("mock starts")
}

pub fn client() -> reqwest::Client {
    serving::http_client().no_proxy().build().expect("client")
}

/// `Basic base64(key + ":")`, the way SDKs send it.
pub fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// The answer to a request: status, body text, headers.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

pub async fn post(
    dp: &MockDataplane,
    path: &str,
    auth: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Answer {
    let mut req = client().post(format!("{}{}", dp.url(), path)).body(body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    send(req).await
}

pub async fn post_gzip(dp: &MockDataplane, path: &str, key: &str, body: &[u8]) -> Answer {
    let req = client()
        .post(format!("{}{}", dp.url(), path))
        .header("authorization", basic(key))
        .header("content-encoding", "gzip")
        .body(gzip(body));
    send(req).await
}

pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.expect("body");
    Answer {
        status,
        body,
        headers,
    }
}

pub async fn get(dp: &MockDataplane, path_and_query: &str) -> Answer {
    send(client().get(format!("{}{}", dp.url(), path_and_query))).await
}
