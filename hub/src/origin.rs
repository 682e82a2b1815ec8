//! Browsers may not drive the hub's state-changing routes.
//!
//! Looker calls the hub server to server: no `Origin` header, `Content-Type: application/json`.
//! A web page, though, can make a user's browser POST to any URL without a CORS preflight, as
//! long as the content type is one of the CORS-safelisted ones (`text/plain`,
//! `application/x-www-form-urlencoded`, `multipart/form-data`); the hub would act on such a
//! request even though the page could not read the answer. So every request other than
//! `GET`/`HEAD`/`OPTIONS` is refused when:
//! - it carries an `Origin` that is not the hub's own (`--base-url`'s origin; `null` included),
//!   or `Sec-Fetch-Site: cross-site`/`same-site`: 403;
//! - its `Content-Type` is one a browser sends without preflight: 415 (JSON is what the hub
//!   reads; a request without a `Content-Type` is still read, as before).
//!
//! `GET` routes stay open to browsers: the OAuth `/oauth` and `/oauth_redirect` routes are
//! top-level navigations, the index page and `/status` change nothing. The hub sends no CORS
//! headers at all (`Access-Control-Allow-*`), so no page can read its answers either.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The content types a browser sends cross-origin without a preflight.
const SIMPLE_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

fn refuse(status: StatusCode, error: String) -> Response {
    (
        status,
        axum::Json(json!({"success": false, "error": error})),
    )
        .into_response()
}

/// The hub's own origin (`scheme://host:port` of its base URL), the one `Origin` accepted.
#[derive(Debug, Clone)]
pub(crate) struct OwnOrigin(Arc<str>);

impl OwnOrigin {
    /// The origin of `base_url`; empty (matching no browser's `Origin`) if it does not parse.
    pub(crate) fn of(base_url: &str) -> Self {
        let own = url::Url::parse(base_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Self(own.into())
    }
}

/// The middleware (see the module docs).
pub(crate) async fn guard(State(own): State<OwnOrigin>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let h = req.headers();
    if let Some(origin) = h.get(header::ORIGIN) {
        let own = &*own.0;
        let origin = String::from_utf8_lossy(origin.as_bytes());
        if !origin.eq_ignore_ascii_case(own) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "Cross-origin request refused: Origin {origin} is not this hub ({own}). Looker calls the hub server to server."
                ),
            );
        }
    }
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && matches!(site, "cross-site" | "same-site")
    {
        return refuse(
            StatusCode::FORBIDDEN,
            format!("Cross-site request refused (Sec-Fetch-Site: {site})."),
        );
    }
    if let Some(ct) = h.get(header::CONTENT_TYPE) {
        let ct = String::from_utf8_lossy(ct.as_bytes());
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if SIMPLE_TYPES.contains(&essence.as_str()) {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {essence} is refused: the hub reads JSON (application/json)."
                ),
            );
        }
    }
    next.run(req).await
}
