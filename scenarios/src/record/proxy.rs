//! The recording proxy's HTTP side: every request forwarded to the hub and its answer passed
//! back (streamed, keep-alive newlines as they come), each exchange written down, each execute
//! turned into a scenario once the hub has answered it.
//!
//! What the proxy changes on the way, and why:
//! - `Authorization`, with `--hub-token`: Looker's token is for the proxy, the hub's for the hub.
//! - The hub's own base URL in the action list, an action, and form answers is replaced by the
//!   proxy's: Looker calls the `url`/`form_url` an action names, so without it Looker would go
//!   around the proxy after the first list. Nothing else in an answer changes.
//! - `scheduled_plan.download_url`: Looker's URL works once, so the proxy fetches it itself
//!   (saving the Look) and gives the hub a one-time URL of its own serving the same bytes.
//! - `rudder_server_url`, with `--dataplane-via`: pointed at the forwarding mock data plane so
//!   the events the hub sends are recorded too.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path as AxPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use super::exchange::{Exchange, record_exchange};
use super::execute::{finish_execute, prepare_execute, rewrite_server_url};
use super::session::Session;

/// Request and response headers that belong to one connection, not to the message.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
];

/// The most of an answer kept for the exchange file and the scenario (the answer itself is
/// passed on whole).
const KEPT_ANSWER_BYTES: usize = 1 << 20;

/// What a request is, by the routes of the Action API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    List,
    Action(String),
    Execute(String),
    Form(String),
    OAuth(String),
    Other,
}

impl Route {
    fn of(method: &Method, path: &str) -> Route {
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return if method == Method::POST {
                Route::List
            } else {
                Route::Other
            };
        }
        let Some(rest) = path.strip_prefix("/actions/") else {
            return Route::Other;
        };
        let mut parts = rest.splitn(2, '/');
        let id = parts.next().unwrap_or("").to_owned();
        match parts.next() {
            None => Route::Action(id),
            Some("execute") => Route::Execute(id),
            Some("form") => Route::Form(id),
            Some(p) if p.starts_with("oauth") => Route::OAuth(id),
            Some(_) => Route::Other,
        }
    }

    /// `list`, `execute`, … for file names.
    pub fn kind(&self) -> &'static str {
        match self {
            Route::List => "list",
            Route::Action(_) => "action",
            Route::Execute(_) => "execute",
            Route::Form(_) => "form",
            Route::OAuth(_) => "oauth",
            Route::Other => "other",
        }
    }

    pub fn action(&self) -> Option<&str> {
        match self {
            Route::Action(a) | Route::Execute(a) | Route::Form(a) | Route::OAuth(a) => Some(a),
            Route::List | Route::Other => None,
        }
    }
}

/// The token of `Authorization: Token token="…"` (or the whole value of another scheme).
pub fn looker_token(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(match v.split_once("token=\"") {
        Some((_, rest)) => rest.trim_end_matches('"').to_owned(),
        None => v.split_once(' ').map_or(v, |(_, t)| t).to_owned(),
    })
}

fn text_answer(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text + "\n",
    )
        .into_response()
}

/// Every request but the proxy's own download URLs.
pub async fn proxy(State(s): State<Arc<Session>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, s.cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            return text_answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "scenarios record: the request body could not be read within {} bytes (--max-body-bytes): {e}",
                    s.cfg.max_body_bytes
                ),
            );
        }
    };
    let route = Route::of(&parts.method, parts.uri.path());
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    if let Some(t) = looker_token(&parts.headers) {
        s.lock().secrets.add(&t);
    }
    let mut forwarded = bytes.clone();
    let mut execute = None;
    match &route {
        Route::Execute(action) => {
            let (body, rec) = prepare_execute(&s, &parts.headers, &bytes, action).await;
            forwarded = body;
            execute = Some(rec);
        }
        Route::Form(action) => {
            forwarded = rewrite_server_url(&s, &bytes, action).0;
        }
        _ => {}
    }
    let mut rq = s
        .client
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", s.hub_base),
        )
        .body(forwarded);
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || name == header::CONTENT_LENGTH
            || (name == header::AUTHORIZATION && s.cfg.hub_token.is_some())
        {
            continue;
        }
        rq = rq.header(name, value);
    }
    if let Some(t) = &s.cfg.hub_token {
        rq = rq.header(header::AUTHORIZATION, format!("Token token=\"{t}\""));
    }
    let exchange = Exchange {
        route: route.clone(),
        method: parts.method.to_string(),
        path_and_query,
        headers: parts.headers.clone(),
        request: bytes,
        scenario: execute.as_ref().map(|r| r.number),
    };
    let resp = match rq.send().await {
        Ok(r) => r,
        Err(e) => {
            let text = format!(
                "scenarios record: the hub at {} could not be reached (--hub-url): {}",
                s.hub_base,
                without_url(&e)
            );
            record_exchange(&s, &exchange, None, b"", Some(&text));
            if let Some(rec) = execute {
                finish_execute(&s, rec, None, Vec::new(), Some(text.clone())).await;
            }
            return text_answer(StatusCode::BAD_GATEWAY, text);
        }
    };
    let status = resp.status();
    let mut headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    match route {
        Route::List | Route::Action(_) | Route::Form(_) => {
            buffered(s, exchange, status, headers, resp).await
        }
        _ => streamed(s, exchange, execute, status, headers, resp),
    }
}

/// An answer read whole, the hub's URLs in it made the proxy's (see the module docs).
async fn buffered(
    s: Arc<Session>,
    exchange: Exchange,
    status: StatusCode,
    mut headers: HeaderMap,
    mut resp: reqwest::Response,
) -> Response {
    let mut body = Vec::new();
    let mut failure = None;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) if body.len() + c.len() <= s.cfg.max_body_bytes => {
                body.extend_from_slice(&c)
            }
            Ok(Some(_)) => {
                failure = Some(format!(
                    "the answer exceeds {} bytes (--max-body-bytes)",
                    s.cfg.max_body_bytes
                ));
                break;
            }
            Ok(None) => break,
            Err(e) => {
                failure = Some(format!("the answer broke off: {}", without_url(&e)));
                break;
            }
        }
    }
    if let Some(f) = failure {
        record_exchange(&s, &exchange, Some(status.as_u16()), &body, Some(&f));
        return text_answer(StatusCode::BAD_GATEWAY, format!("scenarios record: {f}"));
    }
    let body = super::execute::learn_and_rewrite(&s, &exchange.route, &body);
    record_exchange(&s, &exchange, Some(status.as_u16()), &body, None);
    headers.remove(header::CONTENT_LENGTH);
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// An answer passed on chunk by chunk as the hub writes it; a copy (bounded) is kept for the
/// exchange file and, for an execute, the scenario, which is written before the answer ends
/// (so when Looker has its answer, the scenario is on disk).
fn streamed(
    s: Arc<Session>,
    exchange: Exchange,
    execute: Option<super::writer::Recorded>,
    status: StatusCode,
    headers: HeaderMap,
    mut resp: reqwest::Response,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut failure = None;
        let mut looker_left = false;
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    let room = KEPT_ANSWER_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&c[..c.len().min(room)]);
                    // Looker gone: keep reading, so the recording has the whole answer.
                    if !looker_left && tx.send(Ok(c)).await.is_err() {
                        looker_left = true;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let text = format!("the hub's answer broke off: {}", without_url(&e));
                    let _ = tx.send(Err(std::io::Error::other(text.clone()))).await;
                    failure = Some(text);
                    break;
                }
            }
        }
        record_exchange(
            &s,
            &exchange,
            Some(status.as_u16()),
            &kept,
            failure.as_deref(),
        );
        if let Some(rec) = execute {
            finish_execute(&s, rec, Some(status.as_u16()), kept, failure).await;
        }
        drop(tx);
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// `GET /_record/downloads/{token}`: the Look the proxy fetched from Looker's download URL,
/// once, as Looker answered it; then 404, as Looker's own one-time URL.
pub async fn download(State(s): State<Arc<Session>>, AxPath(token): AxPath<String>) -> Response {
    let slot = {
        let mut st = s.lock();
        match st.downloads.get_mut(&token) {
            Some(d) if !d.used => {
                d.used = true;
                Some((d.path.clone(), d.status, d.content_type.clone()))
            }
            _ => None,
        }
    };
    let Some((path, status, content_type)) = slot else {
        return text_answer(
            StatusCode::NOT_FOUND,
            "scenarios record: unknown or already used download URL".into(),
        );
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            return text_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("scenarios record: the saved Look cannot be read: {e}"),
            );
        }
    };
    let stream = futures::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(ct) = content_type.and_then(|c| c.parse().ok()) {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    out
}

/// A reqwest error's text without its URL (the query may hold a credential).
pub fn without_url(e: &reqwest::Error) -> String {
    serving::error_text(e, "the URL")
}

/// The parsed JSON of a body that may start with keep-alive newlines.
pub fn json_of(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    serde_json::from_str(text.trim_start()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_told_apart() {
        assert_eq!(Route::of(&Method::POST, "/"), Route::List);
        assert_eq!(
            Route::of(&Method::POST, "/actions/rudder_track/execute"),
            Route::Execute("rudder_track".into())
        );
        assert_eq!(
            Route::of(&Method::POST, "/actions/x/form"),
            Route::Form("x".into())
        );
        assert_eq!(
            Route::of(&Method::GET, "/actions/x/oauth_redirect"),
            Route::OAuth("x".into())
        );
        assert_eq!(Route::of(&Method::GET, "/status"), Route::Other);
    }

    #[test]
    fn the_token_is_read_from_lookers_header() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "Token token=\"abc/def\"".parse().unwrap(),
        );
        assert_eq!(looker_token(&h).as_deref(), Some("abc/def"));
    }
}
