//! Who may call the mock from a browser.
//!
//! The gateway's routes answer cross-origin requests exactly as rudder-server does: it wraps
//! its router in rs/cors v1.11.1 with `AllowOriginFunc` returning true, credentials allowed,
//! every header allowed and a 900 s preflight cache, and leaves the methods at the library
//! default, GET, POST and HEAD (gw `handle_lifecycle.go` `StartWebHandler`). Browser SDKs
//! depend on it, so it stays.
//!
//! The control API under `/_mock/` is not part of the gateway and holds what a test captured:
//! no CORS at all unless origins are allowed with `--cors-origin`, and every request that
//! changes state must come from the server's own origin (or no browser at all) and carry
//! JSON. Without those rules any page open in a developer's browser could read the captured
//! events, wipe them or inject faults: a `text/plain` POST needs no preflight.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::normalize_origin;
use crate::response::json_response;
use crate::state::AppState;

/// The prefix of the control API.
const ADMIN_PREFIX: &str = "/_mock";

/// rs/cors' preflight `Vary` value.
const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// Routes every request to the policy of its path.
pub(crate) async fn layer(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let admin = path == ADMIN_PREFIX
        || path
            .strip_prefix(ADMIN_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'));
    if admin {
        admin_policy(&st, req, next).await
    } else {
        gateway_policy(req, next).await
    }
}

fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|m| !m.is_empty())
}

/// rs/cors `isMethodAllowed` with the default methods (OPTIONS always passes).
fn gateway_method_allowed(method: &[u8]) -> bool {
    matches!(method, b"GET" | b"POST" | b"HEAD" | b"OPTIONS")
}

/// rs/cors `Handler` as the gateway configures it.
async fn gateway_policy(req: Request, next: Next) -> Response {
    let origins: Vec<HeaderValue> = req
        .headers()
        .get_all(header::ORIGIN)
        .iter()
        .cloned()
        .collect();
    let origin_set = origins.first().is_some_and(|o| !o.is_empty());
    if is_preflight(&req) {
        // Preflights stop here with 204 whatever the outcome; only an accepted one gets the
        // Access-Control headers.
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
        let asked = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .cloned()
            .unwrap_or(HeaderValue::from_static(""));
        if !origin_set || !gateway_method_allowed(asked.as_bytes()) {
            return resp;
        }
        for o in origins {
            h.append(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, asked);
        if let Some(hdrs) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            && !hdrs.is_empty()
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, hdrs.clone());
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("900"),
        );
        return resp;
    }
    let method_allowed = gateway_method_allowed(req.method().as_str().as_bytes());
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // rs/cors sets `Vary: Origin` on every actual request, with or without an Origin.
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if origin_set && method_allowed {
        for o in origins {
            h.append(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    resp
}

/// The control API's rules; see the module documentation.
async fn admin_policy(st: &AppState, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let listed = origin
        .as_ref()
        .and_then(|o| o.to_str().ok())
        .and_then(normalize_origin)
        .filter(|o| st.config.cors_origins.iter().any(|allowed| allowed == o));
    if is_preflight(&req) {
        let Some(allowed) = listed else {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "cross-origin requests to {ADMIN_PREFIX}/ are refused (origin {}); start the mock with --cors-origin <origin> to allow one",
                    shown(origin.as_ref())
                ),
            );
        };
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
        set_allowed_origin(h, &allowed);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("900"),
        );
        return resp;
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        if let Some(o) = &origin
            && listed.is_none()
            && !same_origin(o, req.headers())
        {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "{} {} from origin {} refused: the control API changes state only for requests from its own origin or without an Origin (start the mock with --cors-origin <origin> to allow one)",
                    req.method(),
                    req.uri().path(),
                    shown(Some(o))
                ),
            );
        }
        if let Err(detail) = json_body(&req) {
            return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail);
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(allowed) = listed {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        set_allowed_origin(h, &allowed);
    }
    resp
}

fn set_allowed_origin(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
}

fn shown(origin: Option<&HeaderValue>) -> String {
    origin
        .map(|o| format!("{:?}", String::from_utf8_lossy(o.as_bytes())))
        .unwrap_or_else(|| "(none)".into())
}

fn refuse(status: StatusCode, detail: String) -> Response {
    tracing::info!(status = status.as_u16(), %detail, "control API request refused");
    let mut resp = json_response(status, serde_json::json!({ "error": detail }).to_string());
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A state-changing request must carry JSON: POST, PUT and PATCH always, DELETE when it has a
/// body. (Browsers send `text/plain`, form and multipart bodies cross-origin without asking.)
fn json_body(req: &Request) -> Result<(), String> {
    let h = req.headers();
    let has_body = h
        .get(header::CONTENT_LENGTH)
        .is_some_and(|l| l.as_bytes() != b"0")
        || h.contains_key(header::TRANSFER_ENCODING);
    if *req.method() == Method::DELETE && !has_body {
        return Ok(());
    }
    let ct = h.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    if ct.is_some_and(is_json_media_type) {
        return Ok(());
    }
    Err(format!(
        "{} {} needs Content-Type: application/json, got {}",
        req.method(),
        req.uri().path(),
        ct.map(|c| format!("{:?}", String::from_utf8_lossy(c)))
            .unwrap_or_else(|| "none".into())
    ))
}

/// `application/json` or `application/<something>+json`, parameters allowed.
fn is_json_media_type(value: &[u8]) -> bool {
    let Ok(v) = std::str::from_utf8(value) else {
        return false;
    };
    let essence = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// The server's own origin: the Origin's host and port equal the request's `Host` header (the
/// port defaulting to the Origin scheme's).
fn same_origin(origin: &HeaderValue, headers: &HeaderMap) -> bool {
    let Some(origin) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()) else {
        return false;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    // Read the Host the way the Origin is read, so case, IPv6 brackets and default ports
    // compare equal.
    let Ok(own) = url::Url::parse(&format!("{}://{host}", origin.scheme())) else {
        return false;
    };
    own.path() == "/"
        && own.username().is_empty()
        && own.host_str() == origin.host_str()
        && own.port_or_known_default() == origin.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        m
    }

    #[test]
    fn own_origin_is_host_and_port_of_the_host_header() {
        let o = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(same_origin(
            &o("http://127.0.0.1:8081"),
            &host("127.0.0.1:8081")
        ));
        assert!(same_origin(
            &o("http://LOCALHOST:8081"),
            &host("localhost:8081")
        ));
        assert!(same_origin(&o("http://[::1]:9"), &host("[::1]:9")));
        assert!(same_origin(&o("http://mock"), &host("mock:80")));
        assert!(same_origin(&o("https://mock"), &host("mock")));
        assert!(!same_origin(
            &o("http://127.0.0.1:8082"),
            &host("127.0.0.1:8081")
        ));
        assert!(!same_origin(
            &o("http://evil.example"),
            &host("127.0.0.1:8081")
        ));
        assert!(!same_origin(&o("null"), &host("127.0.0.1:8081")));
        assert!(!same_origin(
            &o("http://a@127.0.0.1:1"),
            &host("b@127.0.0.1:1")
        ));
        assert!(!same_origin(&o("http://127.0.0.1:8081"), &HeaderMap::new()));
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type(b"application/json"));
        assert!(is_json_media_type(b"Application/JSON; charset=utf-8"));
        assert!(is_json_media_type(b"application/merge-patch+json"));
        assert!(!is_json_media_type(b"text/plain"));
        assert!(!is_json_media_type(b"application/x-www-form-urlencoded"));
        assert!(!is_json_media_type(b"text/json+plain"));
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            normalize_origin("HTTP://Example.com:80/").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(normalize_origin("null"), None);
        assert_eq!(normalize_origin("file:///x"), None);
    }
}
