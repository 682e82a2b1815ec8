//! Sending events to a RudderStack data plane: byte-bounded batches, a bounded number in flight,
//! retries with backoff, and an honest account of what was acknowledged.
//!
//! Unlike RudderStack's hub (which awaits only its last batch and was seen to lose events), every
//! batch is awaited: [`Sender::finish`] returns only once each one was acknowledged or given up on.
//! A redirect is never followed: it is a permanent failure naming its `Location`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// The SDK's batch threshold, in bytes.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 460_800;
/// The gateway's request limit (`Gateway.maxReqSizeInKB` 4000): batches never go above it.
pub const GATEWAY_MAX_REQUEST_BYTES: usize = 4_096_000;

/// Sending settings.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// Cut batches at this many bytes (capped at [`GATEWAY_MAX_REQUEST_BYTES`]).
    pub max_batch_bytes: usize,
    /// Batches in flight at once while parsing continues.
    pub max_in_flight: usize,
    /// Retries after the first attempt, on 5xx, 429 and network errors (the SDK's 3).
    pub retries: u32,
    /// First retry delay; doubles each time, plus 0–20 % jitter (the SDK's ~200/400/800 ms).
    pub retry_base: Duration,
    /// Timeout of one POST.
    pub request_timeout: Duration,
}

impl Default for SendConfig {
    fn default() -> Self {
        Self {
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_in_flight: 4,
            retries: 3,
            retry_base: Duration::from_millis(200),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// The data plane endpoint for a `rudder_server_url` as a Looker admin typed it.
///
/// Users enter both `https://dp.example.com` and `https://dp.example.com/v1/batch` (RudderStack's
/// own docs ask for the latter). Trailing slashes are removed; a URL whose path already ends in
/// `/v1/batch` is used as is; otherwise `/v1/batch` is appended (so a bare host posts to
/// `/v1/batch`, where RudderStack's hub posted to `/`).
pub fn batch_url(server_url: &str) -> Result<url::Url, String> {
    let trimmed = server_url.trim();
    let mut u = url::Url::parse(trimmed)
        .map_err(|e| format!("Rudder Data Plane URL {trimmed:?} is not a valid URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "Rudder Data Plane URL {trimmed:?} must be http or https"
        ));
    }
    let path = u.path().trim_end_matches('/').to_owned();
    if path.ends_with("/v1/batch") {
        u.set_path(&path);
    } else {
        u.set_path(&format!("{path}/v1/batch"));
    }
    Ok(u)
}

/// A batch being filled: `{"batch":[` + events; each event's `sentAt` is patched at flush time.
#[derive(Debug)]
pub struct Batcher {
    buf: Vec<u8>,
    events: usize,
    sent_at: Vec<(usize, usize)>,
    max: usize,
}

/// A finished batch body.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `{"batch":[…],"sentAt":"…"}`.
    pub body: Bytes,
    /// Number of events in it.
    pub events: usize,
}

const HEAD: &[u8] = b"{\"batch\":[";
/// `],"sentAt":"2026-01-01T00:00:00.000Z"}`
const TAIL_LEN: usize = 2 + 12 + 24 + 2;

impl Batcher {
    /// A batcher cutting at `max` bytes (capped at the gateway limit).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1024, GATEWAY_MAX_REQUEST_BYTES);
        let mut buf = Vec::with_capacity(max.min(1 << 20) + 4096);
        buf.extend_from_slice(HEAD);
        Self {
            buf,
            events: 0,
            sent_at: Vec::new(),
            max,
        }
    }

    /// Events in the current batch.
    pub fn len(&self) -> usize {
        self.events
    }

    /// Whether the current batch is empty.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Whether `event_len` more bytes fit in the current batch.
    pub fn fits(&self, event_len: usize) -> bool {
        self.buf.len() + 1 + event_len + TAIL_LEN <= self.max
    }

    /// Whether one event of `event_len` bytes can be sent at all.
    pub fn fits_alone(event_len: usize) -> bool {
        HEAD.len() + event_len + TAIL_LEN <= GATEWAY_MAX_REQUEST_BYTES
    }

    /// Appends one event (made by the mapping; `sent_at` is its range in `event`). A caller
    /// checks [`fits`](Self::fits) first and flushes when it does not.
    pub fn push(&mut self, event: &[u8], sent_at: (usize, usize)) {
        if self.events > 0 {
            self.buf.push(b',');
        }
        let base = self.buf.len();
        self.buf.extend_from_slice(event);
        self.sent_at.push((base + sent_at.0, base + sent_at.1));
        self.events += 1;
    }

    /// Closes the batch with `sentAt` = now on each event and on the wrapper, and starts a new one.
    pub fn take(&mut self) -> Option<Batch> {
        if self.events == 0 {
            return None;
        }
        let now = crate::clock::iso_now();
        for &(s, e) in &self.sent_at {
            if e - s == now.len() {
                self.buf[s..e].copy_from_slice(now.as_bytes());
            }
        }
        self.buf.extend_from_slice(b"],\"sentAt\":\"");
        self.buf.extend_from_slice(now.as_bytes());
        self.buf.extend_from_slice(b"\"}");
        let mut next = Vec::with_capacity(self.buf.capacity());
        next.extend_from_slice(HEAD);
        let body = std::mem::replace(&mut self.buf, next);
        let events = std::mem::take(&mut self.events);
        self.sent_at.clear();
        Some(Batch {
            body: Bytes::from(body),
            events,
        })
    }
}

/// Why a batch was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Events in the batch.
    pub events: usize,
    /// `"<status> <data plane text>"` or the network error.
    pub text: String,
    /// True when retries were exhausted (5xx/429/network); false for a 4xx answered at once.
    pub retried: bool,
    /// The data plane answered a redirect (3xx), never followed: `text` is the whole message.
    pub redirect: bool,
}

/// The outcome of all batches.
#[derive(Debug, Clone, Default)]
pub struct SendReport {
    /// Events acknowledged by the data plane (2xx).
    pub delivered: u64,
    /// Batches given up on.
    pub failures: Vec<Failure>,
    /// Batches POSTed (first attempts).
    pub requests: u64,
}

impl SendReport {
    /// Events not delivered.
    pub fn failed(&self) -> u64 {
        self.failures.iter().map(|f| f.events as u64).sum()
    }
}

/// Posts batches with a bounded number in flight.
pub struct Sender {
    client: reqwest::Client,
    url: url::Url,
    auth: http::HeaderValue,
    cfg: SendConfig,
    permits: Arc<Semaphore>,
    /// Set by a batch's task, before it frees its permit, when it failed permanently: a batch
    /// waiting for that permit is then dropped even if the task was not reaped yet.
    permanent_failure: Arc<AtomicBool>,
    tasks: JoinSet<Result<usize, Failure>>,
    report: SendReport,
}

impl Sender {
    /// A sender to `url` (already a `/v1/batch` endpoint) with `write_key` as Basic user.
    pub fn new(client: reqwest::Client, url: url::Url, write_key: &str, cfg: SendConfig) -> Self {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{write_key}:"));
        let mut auth = http::HeaderValue::from_str(&format!("Basic {token}"))
            .unwrap_or_else(|_| http::HeaderValue::from_static("Basic Og=="));
        auth.set_sensitive(true);
        let permits = Arc::new(Semaphore::new(cfg.max_in_flight.max(1)));
        Self {
            client,
            url,
            auth,
            cfg,
            permits,
            permanent_failure: Arc::new(AtomicBool::new(false)),
            tasks: JoinSet::new(),
            report: SendReport::default(),
        }
    }

    /// A 4xx (other than 429) was answered: further batches would fail the same way.
    pub fn fatal(&self) -> Option<&Failure> {
        self.report.failures.iter().find(|f| !f.retried)
    }

    /// Events acknowledged so far.
    pub fn delivered(&self) -> u64 {
        self.report.delivered
    }

    fn reap(&mut self) {
        while let Some(r) = self.tasks.try_join_next() {
            self.record(r);
        }
    }

    fn record(&mut self, r: Result<Result<usize, Failure>, tokio::task::JoinError>) {
        match r {
            Ok(Ok(n)) => self.report.delivered += n as u64,
            Ok(Err(f)) => self.report.failures.push(f),
            Err(e) => self.report.failures.push(Failure {
                events: 0,
                text: format!("sending task failed: {e}"),
                retried: false,
                redirect: false,
            }),
        }
    }

    /// Queues a batch; waits while `max_in_flight` batches are already in flight. A batch
    /// queued after a permanent failure (a 4xx or a redirect) was answered is dropped unsent:
    /// it would fail the same way ([`fatal`](Self::fatal) tells the caller to stop).
    pub async fn send(&mut self, batch: Batch) {
        self.reap();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        if self.permanent_failure.load(Ordering::Acquire) {
            return;
        }
        self.report.requests += 1;
        let client = self.client.clone();
        let url = self.url.clone();
        let auth = self.auth.clone();
        let cfg = self.cfg.clone();
        let permanent_failure = self.permanent_failure.clone();
        // The span keeps the request's webhook id on the retry and failure log lines.
        self.tasks.spawn(
            async move {
                let r = post_with_retries(&client, &url, &auth, &cfg, batch).await;
                if r.as_ref().is_err_and(|f| !f.retried) {
                    permanent_failure.store(true, Ordering::Release);
                }
                drop(permit);
                r
            }
            .in_current_span(),
        );
    }

    /// Waits for every batch and returns the account.
    pub async fn finish(mut self) -> SendReport {
        while let Some(r) = self.tasks.join_next().await {
            self.record(r);
        }
        self.report
    }
}

/// POSTs one batch, retrying 5xx, 429 and network errors `cfg.retries` times after
/// `retry_base · 2ⁿ` plus 0–20 % jitter. Written out rather than with `backon`: its jitter adds
/// up to a whole delay (recent versions) or up to the first delay (older ones), not the SDK-like
/// 0–20 %, so the same delays would need a hand-made adjustment anyway, and whether to retry
/// depends on the answer (a 4xx or a redirect is final) more than on a schedule. (`backoff` is
/// unmaintained, RUSTSEC-2025-0012.)
async fn post_with_retries(
    client: &reqwest::Client,
    url: &url::Url,
    auth: &http::HeaderValue,
    cfg: &SendConfig,
    batch: Batch,
) -> Result<usize, Failure> {
    let mut attempt = 0u32;
    loop {
        let res = client
            .post(url.clone())
            .header(http::header::AUTHORIZATION, auth.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, crate::identity::user_agent())
            .timeout(cfg.request_timeout)
            .body(batch.body.clone())
            .send()
            .await;
        let (text, retryable) = match res {
            Ok(resp) if resp.status().is_success() => return Ok(batch.events),
            Ok(resp) if resp.status().is_redirection() => {
                let text = redirect_text(url, &resp);
                tracing::warn!(events = batch.events, error = %text, "batch not delivered");
                return Err(Failure {
                    events: batch.events,
                    text,
                    retried: false,
                    redirect: true,
                });
            }
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                let body = body.trim();
                let body = if body.is_empty() {
                    status.canonical_reason().unwrap_or("")
                } else {
                    body
                };
                let mut body: String = body.chars().take(300).collect();
                if body.is_empty() {
                    body = "(no text)".into();
                }
                (
                    format!("{} {body}", status.as_u16()),
                    status.is_server_error() || status.as_u16() == 429,
                )
            }
            Err(e) => (format!("network error: {}", error_chain(&e)), true),
        };
        if !retryable || attempt >= cfg.retries {
            tracing::warn!(attempt, events = batch.events, error = %text, "batch not delivered");
            return Err(Failure {
                events: batch.events,
                text,
                retried: retryable,
                redirect: false,
            });
        }
        let base = cfg.retry_base.saturating_mul(1 << attempt.min(16));
        let jitter: f64 = rand::random_range(0.0..0.2);
        let delay = base.mul_f64(1.0 + jitter);
        tracing::info!(attempt, ?delay, error = %text, "retrying batch");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// The message of a redirect from the data plane. The client follows none: the real gateway
/// never redirects, a 307/308 re-POST would hand the batch to whatever host `Location` names
/// (outside `--allow-dataplane` too), and a 301/302/303 would turn into a body-less GET whose 200
/// looked like an acknowledgement. Like a 4xx it is permanent: not retried, and parsing stops.
fn redirect_text(url: &url::Url, resp: &reqwest::Response) -> String {
    let status = resp.status().as_u16();
    match resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|l| l.to_str().ok())
    {
        Some(loc) => {
            let to = url.join(loc).map_or_else(|_| loc.to_owned(), String::from);
            format!(
                "data plane answered {status} → {to}; use that URL as the Rudder Data Plane URL \
                 (the hub does not follow redirects)"
            )
        }
        None => format!("data plane answered {status} without a Location"),
    }
}

/// An error and its sources, `: `-joined.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// `1234567` → `"1,234,567"`, as the hub's messages write counts.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
