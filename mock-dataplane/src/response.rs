//! The gateway's exact answers (rudder-server `gateway/response/response.go`), in the current
//! lower-case form and the pre-1.46 capitalised form, written the way Go's `http.Error` writes them.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// Why the gateway refused a request, in its check order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// No or malformed Basic auth, or an empty username.
    NoWriteKeyInHeader,
    /// Beacon/webhook without a `writeKey` query parameter.
    NoWriteKeyInQuery,
    /// Unknown write key.
    InvalidWriteKey,
    /// Known but disabled source.
    SourceDisabled,
    /// Body could not be read (including a corrupt gzip stream).
    ReadBody,
    /// Body is not valid JSON (including an empty body).
    InvalidJson,
    /// An item of the batch is not an object (or `type` cannot be set).
    NotRudderEvent,
    /// An event has neither `userId` nor `anonymousId`.
    NoIds,
    /// The event-count rate limit is exhausted.
    RateLimited,
    /// The body is larger than the maximum request size.
    TooLarge,
    /// Zero events.
    EmptyBatch,
    /// The store did not commit within the write timeout.
    GatewayTimeout,
    /// Too many requests in flight.
    Unavailable,
}

impl Reject {
    pub fn status(self) -> StatusCode {
        match self {
            Reject::NoWriteKeyInHeader | Reject::NoWriteKeyInQuery | Reject::InvalidWriteKey => {
                StatusCode::UNAUTHORIZED
            }
            Reject::SourceDisabled => StatusCode::NOT_FOUND,
            Reject::ReadBody => StatusCode::INTERNAL_SERVER_ERROR,
            Reject::InvalidJson | Reject::NotRudderEvent | Reject::NoIds | Reject::EmptyBatch => {
                StatusCode::BAD_REQUEST
            }
            Reject::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reject::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reject::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            Reject::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The message (without the trailing newline Go's `http.Error` adds).
    pub fn text(self, legacy: bool) -> &'static str {
        match (self, legacy) {
            (Reject::NoWriteKeyInHeader, false) => "failed to read writekey from header",
            (Reject::NoWriteKeyInHeader, true) => "Failed to read writeKey from header",
            (Reject::NoWriteKeyInQuery, false) => "failed to read writekey from query params",
            (Reject::NoWriteKeyInQuery, true) => "Failed to read writeKey from Query Params",
            (Reject::InvalidWriteKey, false) => "invalid write key",
            (Reject::InvalidWriteKey, true) => "Invalid Write Key",
            (Reject::SourceDisabled, false) => "source is disabled",
            (Reject::SourceDisabled, true) => "Source is disabled",
            (Reject::ReadBody, false) => "failed to read body from request",
            (Reject::ReadBody, true) => "Failed to read body from request",
            (Reject::InvalidJson, false) => "invalid json",
            (Reject::InvalidJson, true) => "Invalid JSON",
            (Reject::NotRudderEvent, false) => "event is not a valid rudder event",
            (Reject::NotRudderEvent, true) => "Event is not a valid rudder event",
            (Reject::NoIds, false) => "request neither has anonymousId nor userId",
            (Reject::NoIds, true) => "Request neither has anonymousId nor userId",
            (Reject::RateLimited, false) => "max requests limit reached",
            (Reject::RateLimited, true) => "Max Requests Limit reached",
            (Reject::TooLarge, false) => "request size exceeds max limit",
            (Reject::TooLarge, true) => "Request size exceeds max limit",
            (Reject::EmptyBatch, false) => "empty batch payload",
            (Reject::EmptyBatch, true) => "Empty batch payload",
            (Reject::GatewayTimeout, false) => "gateway timeout",
            (Reject::GatewayTimeout, true) => "Gateway timeout",
            (Reject::Unavailable, _) => "Service Unavailable",
        }
    }
}

/// The success body: `ok` (or `OK` before v1.46).
pub fn ok_text(legacy: bool) -> &'static str {
    if legacy { "OK" } else { "ok" }
}

/// A Go `http.Error` response: plain text, nosniff, message plus newline.
pub fn go_error(status: StatusCode, message: &str) -> Response {
    let mut body = String::with_capacity(message.len() + 1);
    body.push_str(message);
    body.push('\n');
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A plain-text 200 as Go writes it (content type sniffed as text).
pub fn go_text(status: StatusCode, text: &'static str) -> Response {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Go's `http.NotFound`.
pub fn not_found() -> Response {
    go_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// A JSON response for the inspection API.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
