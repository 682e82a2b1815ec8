//! `GET /pixel/v1/{track,page}`: the tracking-pixel routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::{
    Failure, RouteSpec, authorize, entry_for, finish, now_rfc3339, query_param, store_body,
};
use crate::http_input;
use crate::ingest::Kind;
use crate::response::Reject;
use crate::state::{AppState, ConnCtl};

/// The 1x1 GIF the pixel routes always answer.
const PIXEL_GIF_B64: &str = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";

/// `GET /pixel/v1/{track,page}`: builds the event from query parameters (dotted names become
/// nested keys), injects the web defaults, processes it like the single-event route, and
/// answers the GIF whatever happened.
pub(crate) async fn pixel(
    AxState(st): AxState<Arc<AppState>>,
    req: Request,
    call_type: &'static str,
) -> Response {
    use base64::Engine as _;
    let started = Instant::now();
    let (parts, _body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<Arc<ConnCtl>>()
        .map(|c| c.peer)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let presented = query_param(&parts.uri, "writeKey");
    let mut entry = entry_for(&st, &parts, peer, presented.as_deref());
    let mut event = serde_json::Map::new();
    let mut key = None;
    if let Some(q) = parts.uri.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            if k == "writeKey" {
                key = Some(v.into_owned());
                continue;
            }
            set_path(&mut event, &k, serde_json::Value::String(v.into_owned()));
        }
    }
    let now = now_rfc3339();
    event.insert("type".into(), call_type.into());
    event.insert("channel".into(), "web".into());
    event.insert("integrations".into(), serde_json::json!({"All": true}));
    event.insert("originalTimestamp".into(), now.clone().into());
    event.insert("sentAt".into(), now.into());
    if call_type == "page"
        && event
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .is_empty()
    {
        event.insert("name".into(), "Unknown Page".into());
    }
    let body = serde_json::to_vec(&event).unwrap_or_default();
    entry.body_bytes = 0;
    let outcome: Result<(), Failure> = async {
        let key = key.filter(|k| !k.is_empty()).ok_or_else(|| {
            entry.detail = Some("no writeKey query parameter".into());
            Failure::Reject(Reject::NoWriteKeyInQuery)
        })?;
        let source = authorize(&st, &key, &mut entry)?;
        let ip = http_input::request_ip(
            parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok()),
            &peer.ip().to_string(),
        );
        let spec = RouteSpec {
            kind: Kind::Single(call_type),
            size_exempt: false,
            query_key: true,
            split_by_user: false,
        };
        store_body(&st, &body, spec, &key, &source, &ip, &mut entry, None).await
    }
    .await;
    if let Err(Failure::Reject(r)) = &outcome {
        // Recorded for inspection; the client still gets the GIF.
        entry.detail = Some(format!(
            "{} ({})",
            r.text(false),
            entry.detail.clone().unwrap_or_default()
        ));
    }
    let gif = base64::engine::general_purpose::STANDARD
        .decode(PIXEL_GIF_B64)
        .unwrap_or_default();
    let mut resp = Response::new(Body::from(gif));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    finish(&st, entry, started, resp, "<gif>")
}

/// Sets `value` at a dotted path like sjson (`context.page.url`).
fn set_path(
    map: &mut serde_json::Map<String, serde_json::Value>,
    path: &str,
    value: serde_json::Value,
) {
    let mut parts = path.split('.').peekable();
    let mut cur = map;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_owned(), value);
            return;
        }
        let next = cur
            .entry(p.to_owned())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !next.is_object() {
            *next = serde_json::Value::Object(Default::default());
        }
        let serde_json::Value::Object(m) = next else {
            return;
        };
        cur = m;
    }
}
