//! The HTTP server: connection handling (hyper, one task per connection, so connection-level
//! faults can take over the socket), the gateway's public routes and the `/_mock/` API.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use subtle::ConstantTimeEq;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use crate::config::{Config, SourceEntry, Storage};
use crate::faults::{ConnectionFault, Decision, Faults};
use crate::ingest::{self, BodyError, EnrichCtx, Kind};
use crate::journal::{Journal, JournalEntry};
use crate::response::{Reject, go_error, go_text, not_found, ok_text};
use crate::store::{Append, Feed, Store};

/// Shared state of one server.
pub(crate) struct AppState {
    pub config: Config,
    pub store: Store,
    pub feed: Arc<Feed>,
    pub faults: Faults,
    pub journal: Journal,
    /// Masks write keys in what the journal shows and the logs print.
    pub redactor: crate::redact::Redactor,
    in_flight: AtomicUsize,
    /// Bodies beyond this are refused while reading (413) so a gzip bomb or a huge upload cannot
    /// exhaust memory; below it the gateway's real check order applies.
    read_cap: usize,
}

impl AppState {
    pub fn new(config: Config) -> anyhow::Result<Arc<AppState>> {
        let (store, feed) = match &config.storage {
            Storage::InMemory => Store::memory(),
            Storage::Sqlite(dir) => Store::sqlite(dir, config.fsync)?,
        };
        let faults = Faults::default();
        for rule in &config.faults {
            faults.add(rule.clone())?;
        }
        let read_cap = config.max_request_bytes.saturating_mul(4).max(16 << 20);
        let redactor = crate::redact::Redactor::new(
            config.sources.iter().map(|s| s.source.write_key.as_str()),
        );
        Ok(Arc::new(AppState {
            config,
            store,
            feed,
            faults,
            journal: Journal::default(),
            redactor,
            in_flight: AtomicUsize::new(0),
            read_cap,
        }))
    }

    fn legacy(&self) -> bool {
        self.config.legacy_responses
    }

    /// Constant-time lookup of a write key over all sources.
    fn source(&self, key: &str) -> Option<&SourceEntry> {
        let mut found = None;
        for entry in &self.config.sources {
            if bool::from(entry.source.write_key.as_bytes().ct_eq(key.as_bytes())) {
                found = Some(entry);
            }
        }
        found
    }
}

/// Per-connection control: a handler sets a connection fault and wakes the connection task,
/// which drops hyper's connection and acts on the raw socket.
pub(crate) struct ConnCtl {
    pub peer: SocketAddr,
    fault: Mutex<Option<ConnectionFault>>,
    notify: Notify,
}

impl ConnCtl {
    /// Resets the connection (RST) now, whatever hyper is doing with it; used to drop a
    /// client that stopped reading. Does nothing once the connection has ended.
    pub(crate) fn reset(&self) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(ConnectionFault::ConnectionResetByPeer);
        self.notify.notify_one();
    }
}

/// Serves until `shutdown` resolves, then stops accepting and lets open connections finish
/// (at most 5 s).
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let limits = state.config.limits;
    let router = router(state);
    let gate = serving::ConnectionGate::new(limits.max_connections, "mock-dataplane");
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // At the connection limit, wait here: further clients queue in the listen backlog.
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = gate.admit() => p,
        };
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let router = router.clone();
                    let stop = stop_rx.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        if let Err(e) = serve_connection(stream, peer, router, limits, stop).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    let _ = tokio::time::timeout(Duration::from_secs(5), stop_tx.closed()).await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: serving::Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    // A second descriptor of the same socket: after a fault drops hyper's side, the socket stays
    // open through this one and the fault writes (or resets) it directly.
    let std_stream = stream.into_std()?;
    let spare = std_stream.try_clone()?;
    let stream = TcpStream::from_std(std_stream)?;
    let ctl = Arc::new(ConnCtl {
        peer,
        fault: Mutex::new(None),
        notify: Notify::new(),
    });
    let svc_ctl = ctl.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(svc_ctl.clone());
            router.clone().oneshot(req.map(Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Every byte read or written counts as activity; none for the idle timeout closes it.
    let idle = serving::IdleWatch::new(limits.idle_timeout);
    // Boxed (not stack-pinned) so that dropping it below really closes hyper's descriptor.
    let mut conn = Box::pin(builder.serve_connection(TokioIo::new(idle.wrap(stream)), service));
    let mut stopping = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                drop(spare);
                return res.map_err(std::io::Error::other);
            }
            _ = ctl.notify.notified() => break,
            _ = idle.expired() => {
                tracing::debug!(%peer, "connection closed: idle timeout");
                drop(spare);
                return Ok(());
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    // A connection fault: hyper's half is dropped without writing anything.
    drop(conn);
    let fault = ctl.fault.lock().unwrap_or_else(|e| e.into_inner()).take();
    let mut raw = TcpStream::from_std(spare)?;
    match fault {
        Some(ConnectionFault::ConnectionResetByPeer) | None => {
            raw.set_zero_linger()?;
            drop(raw);
        }
        Some(ConnectionFault::EmptyResponse) => {
            raw.shutdown().await?;
        }
        Some(ConnectionFault::RandomDataThenClose) => {
            use rand::RngExt;
            let mut garbage = vec![0u8; 256];
            rand::rng().fill(&mut garbage[..]);
            raw.write_all(&garbage).await?;
            raw.shutdown().await?;
        }
        Some(ConnectionFault::MalformedResponseChunk) => {
            raw.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz-not-a-chunk-size\r\n",
            )
            .await?;
            raw.shutdown().await?;
        }
    }
    Ok(())
}

/// How a gateway route reads its write key and body.
#[derive(Clone, Copy)]
struct RouteSpec {
    kind: Kind,
    /// `/v1/audiencelist` skips the request-size check.
    size_exempt: bool,
    /// Beacon: the key comes from the `writeKey` query parameter.
    query_key: bool,
    /// Import: the batch is split by user and each group processed like a batch.
    split_by_user: bool,
}

const SINGLE_ROUTES: [&str; 8] = [
    "identify",
    "track",
    "page",
    "screen",
    "group",
    "alias",
    "merge",
    "audiencelist",
];

fn router(state: Arc<AppState>) -> Router {
    let mut r = Router::new();
    for name in SINGLE_ROUTES {
        let spec = RouteSpec {
            kind: Kind::Single(name),
            size_exempt: name == "audiencelist",
            query_key: false,
            split_by_user: false,
        };
        r = r.route(
            &format!("/v1/{name}"),
            post(move |s, req| gateway(s, req, spec)),
        );
    }
    let batch = RouteSpec {
        kind: Kind::Batch,
        size_exempt: false,
        query_key: false,
        split_by_user: false,
    };
    let beacon = RouteSpec {
        query_key: true,
        ..batch
    };
    let import = RouteSpec {
        split_by_user: true,
        ..batch
    };
    r = r
        .route("/v1/batch", post(move |s, req| gateway(s, req, batch)))
        .route("/v1/import", post(move |s, req| gateway(s, req, import)))
        .route(
            "/beacon/v1/batch",
            post(move |s, req| gateway(s, req, beacon)),
        )
        .route("/pixel/v1/track", get(|s, req| pixel(s, req, "track")))
        .route("/pixel/v1/page", get(|s, req| pixel(s, req, "page")))
        .route("/v1/webhook", get(webhook).post(webhook))
        .route("/health", get(health))
        .route("/", get(health))
        .route("/version", get(version))
        .route("/robots.txt", get(robots));
    r.merge(crate::inspect::routes())
        .fallback(|| async { not_found() })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cors::layer,
        ))
        .with_state(state)
}

/// Decrements the in-flight counter when a request finishes.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn query_param(uri: &axum::http::Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Starts a journal entry for a request; `presented` is the write key it carries, masked
/// wherever it shows up (as are all configured keys).
fn entry_for(
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

fn finish(
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
async fn read_body(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    entry: &mut JournalEntry,
) -> Result<Bytes, Reject> {
    let limited = http_body_util::Limited::new(body, st.read_cap);
    let raw = match limited.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                entry.detail = Some(format!(
                    "body larger than the {} bytes the mock reads",
                    st.read_cap
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
    match ingest::gunzip_capped(&raw, st.read_cap) {
        Ok(plain) => {
            entry.decompressed_bytes = Some(plain.len());
            Ok(Bytes::from(plain))
        }
        Err(BodyError::TooLarge) => {
            entry.detail = Some(format!(
                "gzip body inflates beyond the {} bytes the mock reads",
                st.read_cap
            ));
            Err(Reject::TooLarge)
        }
        Err(BodyError::Corrupt(detail)) => {
            entry.detail = Some(detail);
            Err(Reject::ReadBody)
        }
    }
}

/// Applies a firing fault rule. `Ok(None)` means "only a delay: go on processing".
async fn apply_fault(
    st: &AppState,
    ctl: &ConnCtl,
    decision: Decision,
    body: Body,
    entry: &mut JournalEntry,
) -> Option<(Response, String)> {
    let action = decision.action;
    let label = if let Some(f) = action.fault {
        format!("{}: {f:?}", decision.rule_id)
    } else if let Some(s) = action.status {
        format!("{}: status {s}", decision.rule_id)
    } else {
        format!("{}: delay", decision.rule_id)
    };
    entry.fault = Some(match decision.delay {
        Some(d) => format!("{label} after {} ms", d.as_millis()),
        None => label,
    });
    if let Some(d) = decision.delay {
        tokio::time::sleep(d).await;
    }
    if action.status.is_none() && action.fault.is_none() && action.dribble.is_none() {
        return None;
    }
    if action.fault != Some(ConnectionFault::ConnectionResetByPeer) {
        // Consume the body so closing the socket is seen as the fault, not as a reset caused
        // by unread data.
        let _ = http_body_util::Limited::new(body, st.read_cap)
            .collect()
            .await
            .map(|c| entry.body_bytes = c.to_bytes().len());
    }
    if let Some(fault) = action.fault {
        *ctl.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
        // The connection task drops this request: answer nothing, ever.
        entry.response = String::new();
        entry.duration_ms = 0.0;
        st.journal.push(entry.clone());
        ctl.notify.notify_one();
        std::future::pending::<()>().await;
        return None;
    }
    let status = StatusCode::from_u16(action.status.unwrap_or(200)).unwrap_or(StatusCode::OK);
    let text = match &action.body {
        Some(b) => b.clone(),
        None if status == StatusCode::OK => ok_text(st.legacy()).to_owned(),
        None => format!("{}\n", status.canonical_reason().unwrap_or("")),
    };
    let mut resp = match &action.dribble {
        Some(d) => {
            let bytes = Bytes::from(text.clone());
            let chunks = (d.chunks as usize).max(1);
            let size = bytes.len().div_ceil(chunks).max(1);
            let pause = Duration::from_millis(d.duration_ms) / chunks as u32;
            let pieces: Vec<Bytes> = bytes.chunks(size).map(Bytes::copy_from_slice).collect();
            let len = bytes.len();
            let stream = futures::stream::iter(pieces).then(move |piece| async move {
                tokio::time::sleep(pause).await;
                Ok::<_, std::io::Error>(piece)
            });
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            r
        }
        None => Response::new(Body::from(text.clone())),
    };
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
    for (k, v) in &action.headers {
        if let (Ok(k), Ok(v)) = (k.parse::<header::HeaderName>(), HeaderValue::from_str(v)) {
            h.insert(k, v);
        }
    }
    Some((resp, text))
}

use futures::StreamExt as _;

async fn gateway(AxState(st): AxState<Arc<AppState>>, req: Request, spec: RouteSpec) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let Some(ctl) = parts.extensions.get::<Arc<ConnCtl>>().cloned() else {
        return go_error(StatusCode::INTERNAL_SERVER_ERROR, "no connection context");
    };
    let path = parts.uri.path().to_owned();
    let header_key = ingest::basic_auth_user(
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
            let _ = apply_fault(&st, &ctl, decision, Body::empty(), &mut entry).await;
        } else if let Some((resp, shown)) = apply_fault(&st, &ctl, decision, body, &mut entry).await
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
    if took <= st.config.write_timeout {
        return finish(st, entry, started, resp, shown);
    }
    let timeout = format!(
        "write timeout: the answer ({} {:?}) was ready after {:.1} s, past the {:.1} s write timeout, so the connection was closed without it",
        resp.status().as_u16(),
        shown.trim_end(),
        took.as_secs_f64(),
        st.config.write_timeout.as_secs_f64()
    );
    entry.fault = Some(match entry.fault.take() {
        Some(f) => format!("{f}; {timeout}"),
        None => timeout,
    });
    entry.duration_ms = took.as_secs_f64() * 1000.0;
    st.journal.push(entry);
    *ctl.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(ConnectionFault::EmptyResponse);
    ctl.notify.notify_one();
    // The connection task drops this request: never answer.
    std::future::pending::<Response>().await
}

/// The answer to a processed request, and its text for the journal.
fn outcome_response(st: &AppState, outcome: Result<(), Failure>) -> (Response, String) {
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
    }
}

enum Failure {
    Reject(Reject),
    /// 500 with this text, as the gateway answers any message it has no status for: a
    /// storage error's raw text, or the joined texts of several refused import groups.
    Internal(String),
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
    let ip = ingest::request_ip(
        parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        &ctl.peer.ip().to_string(),
    );
    store_body(st, &bytes, spec, &key, &source, &ip, entry).await
}

fn authorize(st: &AppState, key: &str, entry: &mut JournalEntry) -> Result<SourceEntry, Reject> {
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
    Ok(source.clone())
}

async fn store_body(
    st: &AppState,
    bytes: &[u8],
    spec: RouteSpec,
    key: &str,
    source: &SourceEntry,
    ip: &str,
    entry: &mut JournalEntry,
) -> Result<(), Failure> {
    let received_at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let ctx = EnrichCtx {
        received_at: &received_at,
        request_ip: ip,
    };
    if spec.split_by_user {
        return store_import(st, bytes, key, source, &ctx, entry).await;
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
    if !size_exempt && prepared.measured_len > st.config.max_request_bytes {
        return Err((
            Reject::TooLarge,
            format!(
                "body is {} bytes, limit {}",
                prepared.measured_len, st.config.max_request_bytes
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
async fn append(
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
    let limit = st.config.write_timeout;
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

/// The 1x1 GIF the pixel routes always answer.
const PIXEL_GIF_B64: &str = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";

/// `GET /pixel/v1/{track,page}`: builds the event from query parameters (dotted names become
/// nested keys), injects the web defaults, processes it like the single-event route, and
/// answers the GIF whatever happened.
async fn pixel(
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
        let ip = ingest::request_ip(
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
        store_body(&st, &body, spec, &key, &source, &ip, &mut entry).await
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

/// `GET|POST /v1/webhook?writeKey=K` (or Basic auth): only for sources whose category is
/// `webhook`; others get 401 `invalid write key`. The mock stores a JSON object body as one
/// event (no transformation: the real gateway hands it to the source transformer).
async fn webhook(AxState(st): AxState<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<Arc<ConnCtl>>()
        .map(|c| c.peer)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let key = query_param(&parts.uri, "writeKey")
        .filter(|k| !k.is_empty())
        .or_else(|| {
            ingest::basic_auth_user(
                parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes()),
            )
        });
    let mut entry = entry_for(&st, &parts, peer, key.as_deref());
    let outcome: Result<(), Failure> = async {
        let key = key.ok_or_else(|| {
            entry.detail = Some("no writeKey query parameter nor Basic auth".into());
            Failure::Reject(Reject::NoWriteKeyInQuery)
        })?;
        let source = authorize(&st, &key, &mut entry)?;
        if source.category != "webhook" {
            entry.detail = Some(format!(
                "source {} is not a webhook source (category {:?})",
                source.source.id, source.category
            ));
            return Err(Reject::InvalidWriteKey.into());
        }
        let bytes = read_body(&st, &parts.headers, body, &mut entry).await?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            entry.detail = Some("webhook body is not UTF-8".into());
            Reject::InvalidJson
        })?;
        let text = crate::gjson::normalize_surrogates(text);
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            entry.detail = Some(format!("webhook body: {e}"));
            Reject::InvalidJson
        })?;
        let message_id = uuid::Uuid::new_v4().to_string();
        let event = ingest::NewEvent::new(&value.to_string(), ["webhook", "", "", "", &message_id]);
        append(&st, &source, &key, vec![event], &mut entry).await?;
        entry.event_count = 1;
        Ok(())
    }
    .await;
    let (resp, shown) = outcome_response(&st, outcome);
    finish(&st, entry, started, resp, &shown)
}

/// `GET /health`: the liveness JSON of `app.LivenessHandler`.
async fn health(AxState(st): AxState<Arc<AppState>>) -> Response {
    // A trivial read: counting rows "after u64::MAX - 1" wrapped to a negative cursor in SQL
    // and scanned the whole table.
    let db_ok = st.store.ping().await.is_ok();
    if !db_ok {
        return go_error(StatusCode::SERVICE_UNAVAILABLE, "Cannot connect to db");
    }
    let now = now_rfc3339();
    let body = format!(
        r#"{{"appType": "EMBEDDED", "server":"UP", "db":"UP","acceptingEvents":"TRUE","routingEvents":"TRUE","mode":"NORMAL","backendConfigMode":"API","lastSync":"{now}","lastRegulationSync":"{now}"}}"#
    );
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// `GET /version`: rudder-server's `versionInfo` keys; values identify the mock.
async fn version() -> Response {
    let body = serde_json::json!({
        "Version": concat!("mock-dataplane-", env!("CARGO_PKG_VERSION")),
        "Commit": "mock",
        "BuildDate": "",
        "BuiltBy": "mock-dataplane",
        "Features": [],
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

async fn robots() -> Response {
    go_text(StatusCode::OK, "User-agent: * \nDisallow: /\n")
}
