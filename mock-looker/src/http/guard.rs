//! Cross-origin guard of the admin API (`/_mock/…`) and the API 4.0 routes (`/api/…`).
//!
//! The mock listens on loopback, but any web page a developer opens can make their browser send
//! requests there. Reads are safe without CORS (the mock sends no `Access-Control-Allow-*`
//! header, so a page cannot read an answer), but a page can still *send*: a form post or a
//! `no-cors` fetch could register a hub, send a Look with secrets to an attacker's URL, or
//! replace a user's OAuth state. So state-changing requests (anything but GET, HEAD, OPTIONS)
//! are refused when:
//!
//! - their `Origin` is not this server (its host and port differ from the `Host` header; an
//!   opaque `Origin: null` is refused too): 403. Clients that are not browsers (SDKs, curl,
//!   hubs, the scenarios runner) send no `Origin` and are not affected;
//! - their body is not JSON: a `Content-Type` other than `application/json` (or `…+json`), or
//!   a body with no `Content-Type`: 415. The forms a page can send without CORS
//!   (`text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`) are all refused.
//!   `POST /api/4.0/login` is the exception: Looker's SDKs send it form-urlencoded
//!   (`client_id=…&client_secret=…`, `shared/spec/looker-api.md` section 1), so there the form
//!   type is accepted too (a cross-site form post is still stopped by its `Origin`).
//!
//! Outside the guard, by design:
//!
//! - `/downloads/<token>` (a hub's GET) and `/action_hub_state/<token>` (a hub's POST of any
//!   body): hubs are servers, not browsers, and the one-use random token is the credential.
//! - The OAuth provider under `/oauth/`: `authorize` is a browser navigation and `token`,
//!   `introspect`, `revoke` take form bodies (RFC 6749, 7662, 7009). None of them acts on
//!   ambient credentials (there are no cookies; the user is named by `login_as`, a client by its
//!   secret, a token by itself), so a cross-site request can do nothing its sender could not do
//!   directly: there is nothing to forge.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The one route whose body is a form rather than JSON.
const LOGIN: &str = "/api/4.0/login";

/// Applies the rules of the module documentation.
pub(crate) async fn guard(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let guarded = path.starts_with("/_mock/") || path.starts_with("/api/");
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !guarded || reads {
        return next.run(req).await;
    }
    let authority = req.uri().authority().map(|a| a.as_str().to_owned());
    if let Err(why) = same_origin(req.headers(), authority.as_deref()) {
        return refuse(StatusCode::FORBIDDEN, why);
    }
    if let Err(why) = body_type(req.headers(), path == LOGIN) {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, why);
    }
    next.run(req).await
}

fn refuse(status: StatusCode, message: String) -> Response {
    (
        status,
        axum::Json(json!({"message": message, "documentation_url": "https://cloud.google.com/looker/docs/"})),
    )
        .into_response()
}

/// `host:port` with the scheme's default port filled in, lower-cased.
fn host_port(host: &str, default_port: u16) -> String {
    let host = host.to_ascii_lowercase();
    // `[::1]:8082`, `[::1]`, `127.0.0.1:8082`, `localhost`.
    let has_port = match host.rfind(']') {
        Some(end) => host[end..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host
    } else {
        format!("{host}:{default_port}")
    }
}

/// Ok when there is no `Origin` (not a browser) or it names this server.
fn same_origin(headers: &HeaderMap, authority: Option<&str>) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority)
        .unwrap_or("");
    let origin_host = url::Url::parse(origin).ok().and_then(|u| {
        let port = u.port_or_known_default()?;
        let host = u.host_str()?.to_owned();
        // Url drops a scheme's default port; put it back to compare with Host.
        Some(host_port(&format!("{host}:{port}"), port))
    });
    match origin_host {
        Some(o) if !host.is_empty() && o == host_port(host, 80) => Ok(()),
        _ => Err(format!(
            "cross-origin request refused: Origin {origin:?} is not this server (Host {host:?}); the admin API and API 4.0 accept state changes only from their own origin or from clients that send no Origin"
        )),
    }
}

/// Ok when the body is JSON (or, for login, a form), or there is no body at all.
fn body_type(headers: &HeaderMap, login: bool) -> Result<(), String> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        let chunked = headers.contains_key(header::TRANSFER_ENCODING);
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        return if chunked || length > 0 {
            Err(format!(
                "a request body needs Content-Type: {}",
                if login {
                    "application/x-www-form-urlencoded"
                } else {
                    "application/json"
                }
            ))
        } else {
            Ok(())
        };
    };
    let ct = ct.to_str().unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    // Login also tolerates a JSON type: a client passing the credentials in the (deprecated)
    // query may keep its usual `Content-Type: application/json`.
    let ok = json || (login && mime == "application/x-www-form-urlencoded");
    if ok {
        Ok(())
    } else if login {
        Err(format!(
            "Content-Type {ct:?} refused: login takes a form body (application/x-www-form-urlencoded: client_id=…&client_secret=…)"
        ))
    } else {
        Err(format!(
            "Content-Type {ct:?} refused: this endpoint takes JSON (application/json)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins_compare_by_host_and_port_with_default_ports() {
        let ok = |o: &str, h: &str| same_origin(&headers(&[("origin", o), ("host", h)]), None);
        assert!(ok("http://127.0.0.1:8082", "127.0.0.1:8082").is_ok());
        assert!(ok("http://LOCALHOST", "localhost:80").is_ok());
        assert!(ok("http://[::1]:9", "[::1]:9").is_ok());
        assert!(ok("http://127.0.0.1:8083", "127.0.0.1:8082").is_err());
        assert!(ok("http://evil.example", "127.0.0.1:8082").is_err());
        assert!(ok("null", "127.0.0.1:8082").is_err());
        assert!(ok("http://127.0.0.1:8082", "").is_err());
        assert!(same_origin(&headers(&[("host", "x")]), None).is_ok());
    }

    #[test]
    fn bodies_must_be_json_except_the_login_form() {
        let t = |ct: &str, login| body_type(&headers(&[("content-type", ct)]), login);
        assert!(t("application/json; charset=utf-8", false).is_ok());
        assert!(t("application/merge-patch+json", false).is_ok());
        assert!(t("text/plain", false).is_err());
        assert!(t("application/x-www-form-urlencoded", false).is_err());
        assert!(t("multipart/form-data; boundary=x", false).is_err());
        assert!(t("application/x-www-form-urlencoded", true).is_ok());
        assert!(t("application/json", true).is_ok());
        assert!(t("text/plain", true).is_err());
        assert!(t("multipart/form-data; boundary=x", true).is_err());
        assert!(body_type(&headers(&[("content-length", "0")]), false).is_ok());
        assert!(body_type(&headers(&[("content-length", "2")]), false).is_err());
        assert!(body_type(&headers(&[("transfer-encoding", "chunked")]), false).is_err());
    }
}
