//! The gateway's ingestion routes (`/v1/*`, `/beacon/v1/batch`): write key, body, checks and
//! storage in rudder-server's order, each request recorded in the journal. The pixel and
//! webhook routes, and fault injection, live in the submodules.

mod fault;
mod pixel;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;

use crate::config::SourceEntry;
use crate::faults::ConnectionFault;
use crate::http_input::{self, BodyError};
use crate::ingest::{self, EnrichCtx, Kind};
use crate::journal::JournalEntry;
use crate::response::{Reject, go_error, go_text, ok_text};
use crate::state::{AppState, ConnCtl};
use crate::store::Append;

pub(crate) use pixel::pixel;
pub(crate) use webhook::webhook;

/// How a gateway route reads its write key and body.
#[derive(Clone, Copy)]
pub(crate) struct RouteSpec {
    pub kind: Kind,
    /// `/v1/audiencelist` skips the request-size check.
    pub size_exempt: bool,
    /// Beacon: the key comes from the `writeKey` query parameter.
    pub query_key: bool,
    /// Import: the batch is split by user and each group processed like a batch.
    pub split_by_user: bool,
}

/// Decrements the in-flight counter when a request finishes.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) fn query_param(uri: &axum::http::Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Starts a journal entry for a request; `presented` is the write key it carries, masked
/// wherever it shows up (as are all configured keys).
pub(super) fn entry_for(
    st: &AppState,
    parts: &axum::http::request::Parts,
    peer: SocketAddr,
    presented: Option<&str>,
) -> JournalEntry {
    JournalEntry {
        request_id: uuid::Uuid::new_v4().to_string(),
        time: now_rfc3339(),
        method: parts.method.to_string(),
        path: st.redactor.path(&parts.uri, presented),
        headers: st.redactor.headers(&parts.headers, presented),
        remote_addr: peer.to_string(),
        body_bytes: 0,
        decompressed_bytes: None,
        gzip: false,
        status: 0,
        response: String::new(),
        body_sent_at: None,
        body_timestamp: None,
        event_count: 0,
        source_id: None,
        fault: None,
        detail: None,
        duration_ms: 0.0,
    }
}

pub(super) fn finish(
    st: &AppState,
    mut entry: JournalEntry,
    started: Instant,
    resp: Response,
    shown_body: &str,
) -> Response {
    entry.status = resp.status().as_u16();
    entry.response = shown_body.to_owned();
    entry.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if entry.status >= 400 {
        tracing::info!(request_id = %entry.request_id, path = %entry.path, status = entry.status,
            detail = entry.detail.as_deref().unwrap_or(""), "request refused");
    }
    st.journal.push(entry);
    resp
}

fn reject_response(st: &AppState, reason: Reject) -> (Response, String) {
    let text = reason.text(st.legacy());
    (go_error(reason.status(), text), format!("{text}\n"))
}

/// Reads the whole body, capped; returns the raw size and the (decompressed) bytes.
pub(super) async fn read_body(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    entry: &mut JournalEntry,
) -> Result<Bytes, Reject> {
    let limited = http_body_util::Limited::new(body, st.read_cap());
    let raw = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                entry.detail = Some(format!(
                    "body larger than the {} bytes the mock reads",
                    st.read_cap()
                ));
                return Err(Reject::TooLarge);
            }
            entry.detail = Some(format!("reading body: {e}"));
            return Err(Reject::ReadBody);
        }
    };
    entry.body_bytes = raw.len();
    // Go's middleware decodes only when the header is exactly `gzip`.
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"gzip");
    entry.gzip = gzip;
    if !gzip {
        return Ok(raw);
    }
    match http_input::gunzip_capped(&raw, st.read_cap()) {
        Ok(plain) => {
            entry.decompressed_bytes = Some(plain.len());
            Ok(Bytes::from(plain))
        }
        Err(BodyError::TooLarge) => {
            entry.detail = Some(format!(
                "gzip body inflates beyond the {} bytes the mock reads",
                st.read_cap()
            ));
            Err(Reject::TooLarge)
        }
        Err(BodyError::Corrupt(detail)) => {
            entry.detail = Some(detail);
            Err(Reject::ReadBody)
        }
    }
}

pub(crate) async fn gateway(
    AxState(st): AxState<Arc<AppState>>,
    req: Request,
    spec: RouteSpec,
) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let Some(ctl) = parts.extensions.get::<Arc<ConnCtl>>().cloned() else {
        return go_error(StatusCode::INTERNAL_SERVER_ERROR, "no connection context");
    };
    let path = parts.uri.path().to_owned();
    let header_key = http_input::basic_auth_user(
        parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
    );
    let query_key = if spec.query_key {
        query_param(&parts.uri, "writeKey").filter(|k| !k.is_empty())
    } else {
        None
    };
    let key_hint = if spec.query_key {
        query_key.clone()
    } else {
        header_key.clone()
    };
    let presented = key_hint.as_deref().or(header_key.as_deref());
    let mut entry = entry_for(&st, &parts, ctl.peer, presented);

    if !st.faults.is_empty()
        && let Some(decision) = st.faults.decide(&path, key_hint.as_deref())
    {
        // The body is handed to the fault; a delay-only rule needs it back, so split first.
        if decision.action.status.is_none()
            && decision.action.fault.is_none()
            && decision.action.dribble.is_none()
        {
            let _ = fault::apply_fault(&st, &ctl, decision, Body::empty(), &mut entry).await;
        } else if let Some((resp, shown)) =
            fault::apply_fault(&st, &ctl, decision, body, &mut entry).await
        {
            return answer(&st, &ctl, entry, started, resp, &shown).await;
        } else {
            return finish(&st, entry, started, Response::new(Body::empty()), "");
        }
    }

    // Concurrency cap (middleware, before auth).
    let in_flight = st.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = InFlight(&st.in_flight);
    if in_flight > st.config.max_concurrent_requests {
        entry.detail = Some(format!(
            "{in_flight} requests in flight, cap {}",
            st.config.max_concurrent_requests
        ));
        let (resp, shown) = reject_response(&st, Reject::Unavailable);
        return answer(&st, &ctl, entry, started, resp, &shown).await;
    }

    let outcome = process(&st, &parts, body, spec, key_hint, &mut entry, &ctl).await;
    let (resp, shown) = outcome_response(&st, outcome);
    answer(&st, &ctl, entry, started, resp, &shown).await
}

/// Go's `http.Server.WriteTimeout`: an answer ready after the deadline is never written, the
/// client sees the connection close without a response. What was stored stays stored, so a
/// client that retries stores it twice, as with the real gateway.
async fn answer(
    st: &AppState,
    ctl: &ConnCtl,
    mut entry: JournalEntry,
    started: Instant,
    resp: Response,
    shown: &str,
) -> Response {
    let took = started.elapsed();
    if took <= st.write_timeout() {
        return finish(st, entry, started, resp, shown);
    }
    let timeout = format!(
        "write timeout: the answer ({} {:?}) was ready after {:.1} s, past the {:.1} s write timeout, so the connection was closed without it",
        resp.status().as_u16(),
        shown.trim_end(),
        took.as_secs_f64(),
        st.write_timeout().as_secs_f64()
    );
    entry.fault = Some(match entry.fault.take() {
        Some(f) => format!("{f}; {timeout}"),
        None => timeout,
    });
    entry.duration_ms = took.as_secs_f64() * 1000.0;
    st.journal.push(entry);
    ctl.take_over(ConnectionFault::EmptyResponse);
    // The connection task drops this request: never answer.
    std::future::pending::<Response>().await
}

/// The answer to a processed request, and its text for the journal.
pub(super) fn outcome_response(st: &AppState, outcome: Result<(), Failure>) -> (Response, String) {
    match outcome {
        Ok(()) => (
            go_text(StatusCode::OK, ok_text(st.legacy())),
            ok_text(st.legacy()).to_owned(),
        ),
        Err(Failure::Reject(reason)) => reject_response(st, reason),
        Err(Failure::Internal(text)) => (
            go_error(StatusCode::INTERNAL_SERVER_ERROR, &text),
            format!("{text}\n"),
        ),
        Err(Failure::Upstream(r)) => {
            let shown = String::from_utf8_lossy(&r.body).into_owned();
            let mut resp = Response::new(Body::from(r.body));
            *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
            if let Some(ct) = r.content_type.and_then(|c| c.parse().ok()) {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            (resp, shown)
        }
    }
}

pub(super) enum Failure {
    Reject(Reject),
    /// 500 with this text, as the gateway answers any message it has no status for: a
    /// storage error's raw text, or the joined texts of several refused import groups.
    Internal(String),
    /// With `--forward`: the upstream's answer when it was not an acknowledgement.
    Upstream(crate::forward::Refusal),
}

impl From<Reject> for Failure {
    fn from(r: Reject) -> Self {
        Failure::Reject(r)
    }
}

/// Auth, body, validation, rate limit, size, emptiness, store: the gateway's order.
async fn process(
    st: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    spec: RouteSpec,
    key: Option<String>,
    entry: &mut JournalEntry,
    ctl: &ConnCtl,
) -> Result<(), Failure> {
    let Some(key) = key else {
        entry.detail = Some(if spec.query_key {
            "no writeKey query parameter".into()
        } else {
            "no Basic auth with a non-empty username (write key) and a colon".into()
        });
        return Err(if spec.query_key {
            Reject::NoWriteKeyInQuery
        } else {
            Reject::NoWriteKeyInHeader
        }
        .into());
    };
    let source = authorize(st, &key, entry)?;
    let bytes = read_body(st, &parts.headers, body, entry).await?;
    let ip = http_input::request_ip(
        parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        &ctl.peer.ip().to_string(),
    );
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let upstream = crate::forward::Upstream {
        path_and_query,
        headers: &parts.headers,
        body: &bytes,
    };
    let upstream = st.forward.as_ref().map(|f| (f, upstream));
    store_body(
        st,
        &bytes,
        spec,
        &key,
        &source,
        &ip,
        entry,
        upstream.as_ref(),
    )
    .await
}

/// With `--forward`: the request goes upstream before anything is stored; only an upstream
/// acknowledgement lets the caller commit (see [`crate::forward`]).
type Relay<'a> = (&'a crate::forward::Forwarder, crate::forward::Upstream<'a>);

async fn relay(
    st: &AppState,
    upstream: Option<&Relay<'_>>,
    entry: &mut JournalEntry,
) -> Result<(), Failure> {
    let Some((forwarder, up)) = upstream else {
        return Ok(());
    };
    match forwarder.relay(up, st.config.write_timeout).await {
        Ok(status) => {
            entry.detail = Some(format!("upstream acknowledged ({status})"));
            Ok(())
        }
        Err(refusal) => {
            entry.detail = Some(refusal.detail.clone());
            Err(Failure::Upstream(refusal))
        }
    }
}

pub(super) fn authorize(
    st: &AppState,
    key: &str,
    entry: &mut JournalEntry,
) -> Result<SourceEntry, Reject> {
    let Some(source) = st.source(key) else {
        entry.detail = Some(format!(
            "the write key sent ({} characters, not shown) is not configured",
            key.chars().count()
        ));
        return Err(Reject::InvalidWriteKey);
    };
    entry.source_id = Some(source.source.id.clone());
    if !source.source.enabled {
        entry.detail = Some(format!("source {} is disabled", source.source.id));
        return Err(Reject::SourceDisabled);
    }
    Ok(source)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn store_body(
    st: &AppState,
    bytes: &[u8],
    spec: RouteSpec,
    key: &str,
    source: &SourceEntry,
    ip: &str,
    entry: &mut JournalEntry,
    upstream: Option<&Relay<'_>>,
) -> Result<(), Failure> {
    let received_at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let ctx = EnrichCtx {
        received_at: &received_at,
        request_ip: ip,
    };
    if spec.split_by_user {
        return store_import(st, bytes, key, source, &ctx, entry, upstream).await;
    }
    let mut prepared = ingest::prepare(bytes, spec.kind, &ctx).map_err(|r| {
        entry.detail = Some(r.detail);
        r.reason
    })?;
    entry.body_sent_at = prepared.body_sent_at.take();
    entry.body_timestamp = prepared.body_timestamp.take();
    admit(st, &prepared, spec.size_exempt, key, entry).map_err(|(reason, detail)| {
        entry.detail = Some(detail);
        reason
    })?;
    let n = prepared.events.len();
    relay(st, upstream, entry).await?;
    append(st, source, key, prepared.events, entry).await?;
    entry.event_count = n;
    Ok(())
}

/// The checks after validation, in the gateway's order: rate limit, size, emptiness.
fn admit(
    st: &AppState,
    prepared: &ingest::Prepared,
    size_exempt: bool,
    key: &str,
    entry: &JournalEntry,
) -> Result<(), (Reject, String)> {
    let n = prepared.events.len();
    if st
        .faults
        .rate_limited(&entry_path(entry), Some(key), n as u64)
    {
        return Err((
            Reject::RateLimited,
            format!("rate limit: {n} events refused"),
        ));
    }
    if !size_exempt && prepared.measured_len > st.max_request_bytes() {
        return Err((
            Reject::TooLarge,
            format!(
                "body is {} bytes, limit {}",
                prepared.measured_len,
                st.max_request_bytes()
            ),
        ));
    }
    if n == 0 {
        return Err((Reject::EmptyBatch, "no events in the batch".into()));
    }
    if let Some(i) = prepared.unencodable {
        return Err((
            Reject::InvalidJson,
            format!(
                "batch[{i}] holds a number beyond float64 (like 1e400): gjson reads it as an infinity, which the gateway cannot encode into the job"
            ),
        ));
    }
    Ok(())
}

/// Commits events; answers only once they are durable.
pub(super) async fn append(
    st: &AppState,
    source: &SourceEntry,
    key: &str,
    events: Vec<ingest::NewEvent>,
    entry: &mut JournalEntry,
) -> Result<(), Failure> {
    let append = Append {
        request_id: Arc::from(entry.request_id.as_str()),
        source_id: Arc::from(source.source.id.as_str()),
        write_key: Arc::from(key),
        events,
    };
    // The gateway's DB-store timeout is its HTTP write timeout: a slower commit answers 504
    // (which then usually misses the write deadline too, see `answer`).
    let limit = st.write_timeout();
    match tokio::time::timeout(limit, st.store.append(&st.feed, append)).await {
        Err(_) => {
            entry.detail = Some(format!(
                "store commit took longer than {:.1} s",
                limit.as_secs_f64()
            ));
            Err(Reject::GatewayTimeout.into())
        }
        Ok(Err(e)) => {
            entry.detail = Some(e.to_string());
            Err(Failure::Internal(e.to_string()))
        }
        Ok(Ok(_)) => Ok(()),
    }
}

/// `/v1/import` (see [`crate::import`]): each user's group is checked like a batch on its own;
/// the groups that pass are stored even when others fail.
async fn store_import(
    st: &AppState,
    bytes: &[u8],
    key: &str,
    source: &SourceEntry,
    ctx: &EnrichCtx<'_>,
    entry: &mut JournalEntry,
    upstream: Option<&Relay<'_>>,
) -> Result<(), Failure> {
    let groups = crate::import::split_by_user(bytes).map_err(|r| {
        entry.detail = Some(r.detail);
        r.reason
    })?;
    let mut accepted = Vec::new();
    let mut failed: Vec<(Reject, String)> = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let checked = ingest::prepare(group.as_bytes(), Kind::Batch, ctx)
            .map_err(|r| (r.reason, r.detail))
            .and_then(|p| admit(st, &p, false, key, entry).map(|()| p));
        match checked {
            Ok(p) => accepted.extend(p.events),
            Err((reason, detail)) => failed.push((reason, format!("user group {i}: {detail}"))),
        }
    }
    let n = accepted.len();
    if n > 0 {
        relay(st, upstream, entry).await?;
        append(st, source, key, accepted, entry).await?;
    }
    entry.event_count = n;
    if failed.is_empty() {
        return Ok(());
    }
    let details: Vec<&str> = failed.iter().map(|(_, d)| d.as_str()).collect();
    entry.detail = Some(format!(
        "{} of {} user groups refused, {n} events stored: {}",
        failed.len(),
        groups.len(),
        details.join("; ")
    ));
    if let [(reason, _)] = failed.as_slice() {
        return Err((*reason).into());
    }
    let joined: String = failed.iter().map(|(r, _)| r.text(st.legacy())).collect();
    Err(Failure::Internal(joined))
}

fn entry_path(entry: &JournalEntry) -> String {
    entry.path.split('?').next().unwrap_or("").to_owned()
}
