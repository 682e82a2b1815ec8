//! The inspection and control API under `/_mock/` (a prefix the real gateway never serves).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use crate::faults::FaultRule;
use crate::response::json_response;
use crate::state::{AppState, ConnCtl};
use crate::store::{EventFilter, Record};

/// Default page size of `GET /_mock/events`.
const DEFAULT_LIMIT: usize = 1000;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_mock/events", get(events).delete(reset))
        .route("/_mock/events/wait", get(wait))
        .route("/_mock/requests", get(requests).delete(clear_requests))
        .route("/_mock/stats", get(stats))
        .route("/_mock/export", get(export))
        .route("/_mock/stream", get(stream))
        .route(
            "/_mock/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
}

fn bad_request(detail: String) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "error": detail }).to_string(),
    )
}

fn internal(detail: String) -> Response {
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        serde_json::json!({ "error": detail }).to_string(),
    )
}

/// Builds a filter from query parameters, naming any parameter that is not understood.
pub(crate) fn filter_from_query(
    q: &HashMap<String, String>,
    extra_allowed: &[&str],
) -> Result<EventFilter, String> {
    let mut f = EventFilter::default();
    for (k, v) in q {
        match k.as_str() {
            "write_key" | "writeKey" => f.write_key = Some(v.clone()),
            "type" => f.r#type = Some(v.clone()),
            "userId" | "user_id" => f.user_id = Some(v.clone()),
            "anonymousId" | "anonymous_id" => f.anonymous_id = Some(v.clone()),
            "event" => f.event = Some(v.clone()),
            "messageId" | "message_id" => f.message_id = Some(v.clone()),
            "since" => {
                f.since = Some(
                    v.parse()
                        .map_err(|_| format!("since must be a cursor (integer), got {v:?}"))?,
                )
            }
            "limit" => {
                f.limit = Some(
                    v.parse()
                        .map_err(|_| format!("limit must be a positive integer, got {v:?}"))?,
                )
            }
            other if extra_allowed.contains(&other) => {}
            other => {
                return Err(format!(
                    "unknown query parameter {other:?}; filters are write_key, type, userId, anonymousId, event, messageId, since, limit"
                ));
            }
        }
    }
    Ok(f)
}

fn events_json(records: &[Arc<Record>], next: u64) -> String {
    let mut out =
        String::with_capacity(records.iter().map(|r| r.json().len() + 120).sum::<usize>() + 32);
    out.push_str(r#"{"events":["#);
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        r.write_json(&mut out);
    }
    out.push_str(r#"],"next":"#);
    out.push_str(&next.to_string());
    out.push('}');
    out
}

async fn events(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut f = match filter_from_query(&q, &[]) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    f.limit = Some(f.limit.unwrap_or(DEFAULT_LIMIT));
    match st.store.query(&f).await {
        Ok(records) => {
            let next = records
                .last()
                .map(|r| r.cursor)
                .unwrap_or(f.since.unwrap_or(0));
            json_response(StatusCode::OK, events_json(&records, next))
        }
        Err(e) => internal(e.to_string()),
    }
}

/// Waits until `count` events match, or the timeout passes.
pub(crate) async fn wait_matching(
    st: &AppState,
    count: usize,
    filter: &EventFilter,
    timeout: Duration,
) -> Result<Result<Vec<Arc<Record>>, usize>, crate::store::StoreError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut rx = st.feed.last.subscribe();
    let mut count_filter = filter.clone();
    count_filter.limit = None;
    loop {
        rx.borrow_and_update();
        let seen = st.store.count(&count_filter).await?;
        if seen >= count {
            return Ok(Ok(st.store.query(filter).await?));
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Ok(Err(seen)),
        }
    }
}

async fn wait(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let f = match filter_from_query(&q, &["count", "timeout_ms"]) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let count: usize = match q.get("count").map(|c| c.parse()) {
        None => 1,
        Some(Ok(c)) => c,
        Some(Err(_)) => {
            return bad_request(format!("count must be an integer, got {:?}", q["count"]));
        }
    };
    let timeout_ms: u64 = match q.get("timeout_ms").map(|c| c.parse()) {
        None => 5000,
        Some(Ok(c)) => c,
        Some(Err(_)) => {
            return bad_request(format!(
                "timeout_ms must be an integer, got {:?}",
                q["timeout_ms"]
            ));
        }
    };
    match wait_matching(&st, count, &f, Duration::from_millis(timeout_ms)).await {
        Ok(Ok(records)) => {
            let next = records.last().map(|r| r.cursor).unwrap_or(f.since.unwrap_or(0));
            json_response(StatusCode::OK, events_json(&records, next))
        }
        Ok(Err(seen)) => json_response(
            StatusCode::REQUEST_TIMEOUT,
            serde_json::json!({
                "error": format!("timed out after {timeout_ms} ms waiting for {count} events, saw {seen}"),
                "count": count,
                "seen": seen,
            })
            .to_string(),
        ),
        Err(e) => internal(e.to_string()),
    }
}

async fn reset(State(st): State<Arc<AppState>>) -> Response {
    match st.store.reset().await {
        Ok(()) => json_response(StatusCode::OK, r#"{"reset":true}"#.into()),
        Err(e) => internal(e.to_string()),
    }
}

/// `GET /_mock/requests[?last=N]`: the journal, oldest first; `last` keeps only the newest N
/// (what the browser page polls).
async fn requests(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut all = st.journal.all();
    if let Some(last) = q.get("last") {
        let Ok(n) = last.parse::<usize>() else {
            return bad_request(format!("last must be a number of requests, got {last:?}"));
        };
        all.drain(..all.len().saturating_sub(n));
    }
    json_response(
        StatusCode::OK,
        serde_json::json!({ "requests": all }).to_string(),
    )
}

async fn clear_requests(State(st): State<Arc<AppState>>) -> Response {
    st.journal.clear();
    json_response(StatusCode::OK, r#"{"cleared":true}"#.into())
}

async fn stats(State(st): State<Arc<AppState>>) -> Response {
    match st.store.stats().await {
        Ok(s) => {
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v["requests"] = st.journal.all().len().into();
            json_response(StatusCode::OK, v.to_string())
        }
        Err(e) => internal(e.to_string()),
    }
}

/// NDJSON of every stored event (same objects as `/_mock/events`), streamed page by page.
async fn export(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let f = match filter_from_query(&q, &[]) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let total_limit = f.limit;
    let stream = futures::stream::unfold(
        (st, f, 0usize, false),
        move |(st, mut f, sent, done)| async move {
            if done || total_limit.is_some_and(|l| sent >= l) {
                return None;
            }
            let page = total_limit.map_or(1000, |l| (l - sent).min(1000));
            f.limit = Some(page);
            match st.store.query(&f).await {
                Ok(records) if records.is_empty() => None,
                Ok(records) => {
                    let mut out = String::new();
                    for r in &records {
                        r.write_json(&mut out);
                        out.push('\n');
                    }
                    f.since = records.last().map(|r| r.cursor);
                    let n = records.len();
                    Some((Ok::<_, std::io::Error>(out), (st, f, sent + n, n < page)))
                }
                Err(e) => Some((
                    Err(std::io::Error::other(e.to_string())),
                    (st, f, sent, true),
                )),
            }
        },
    );
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}

/// Server-sent events: one `event` per stored event (backlog after `since`, then live); see
/// [`crate::stream`]. An EventSource that reconnects sends `Last-Event-ID`, which stands for
/// `since` when the query has none.
async fn stream(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let q = match Query::<HashMap<String, String>>::try_from_uri(req.uri()) {
        Ok(Query(q)) => q,
        Err(e) => return bad_request(format!("query: {e}")),
    };
    let mut f = match filter_from_query(&q, &[]) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    if f.since.is_none()
        && let Some(id) = req.headers().get("last-event-id")
    {
        match id.to_str().ok().and_then(|v| v.trim().parse().ok()) {
            Some(cursor) => f.since = Some(cursor),
            None => return bad_request(format!("Last-Event-ID must be a cursor, got {id:?}")),
        }
    }
    let ctl = req.extensions().get::<Arc<ConnCtl>>().cloned();
    crate::stream::respond(st, f, ctl)
}

async fn list_faults(State(st): State<Arc<AppState>>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::json!({ "faults": st.faults.list() }).to_string(),
    )
}

async fn add_fault(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let rule: FaultRule = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("fault rule JSON: {e}")),
    };
    match st.faults.add(rule) {
        Ok(id) => json_response(
            StatusCode::CREATED,
            serde_json::json!({ "id": id }).to_string(),
        ),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn clear_faults(State(st): State<Arc<AppState>>) -> Response {
    st.faults.clear();
    json_response(StatusCode::OK, r#"{"cleared":true}"#.into())
}
