//! `GET /_mock/stream`: server-sent events, one per stored event (backlog, then live).
//!
//! A subscriber costs a bounded amount of memory however far behind it is and whether or not
//! it reads. A producer task reads the store a page at a time ([`PAGE`] events from the last
//! cursor it sent) into a channel of [`BUFFER`] frames, and the response body takes frames
//! from that channel as fast as the client reads them. Live events are not pushed to
//! subscribers: a commit only wakes the producer, which reads the new events from the store
//! like the backlog. (The first version read the whole backlog into memory for every
//! subscriber: about 155 MB each at 200k stored events, held for as long as the client did
//! not read, and the one query held the store's reader for seconds.)
//!
//! A subscriber whose buffer stays full for the stall timeout (it read nothing while events
//! waited) is dropped: the frames still buffered are discarded, the client is sent
//! `event: end` with the reason and the id to resume from, and the connection is closed. If
//! the client does not even read that, the connection is reset a little later.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, oneshot};

use crate::state::{AppState, ConnCtl};
use crate::store::{EventFilter, Record};

/// Events read from the store at a time.
const PAGE: usize = 256;
/// Frames buffered per subscriber between the store and the socket.
const BUFFER: usize = 256;
/// After dropping a stalled subscriber, how long its client has to read the `end` event
/// before the connection is reset.
const END_GRACE_MIN: Duration = Duration::from_secs(5);

/// One SSE frame and the cursor of the event in it.
type Frame = (u64, SseEvent);

/// Why the producer stopped a subscription (sent to the body, which tells the client).
struct End {
    reason: &'static str,
    detail: String,
}

/// Streams the events matching `filter` after `filter.since`; `filter.limit`, when set, ends
/// the stream after that many events.
pub(crate) fn respond(
    st: Arc<AppState>,
    filter: EventFilter,
    ctl: Option<Arc<ConnCtl>>,
) -> Response {
    let (tx, rx) = mpsc::channel::<Frame>(BUFFER);
    let (end_tx, end_rx) = oneshot::channel::<End>();
    let stall = st.config.stream_stall_timeout;
    let since = filter.since.unwrap_or(0);
    tokio::spawn(produce(st, filter, tx, end_tx, ctl, stall));
    let body = futures::stream::unfold(
        Body {
            rx,
            end: Some(end_rx),
            last_sent: since,
            done: false,
        },
        Body::next,
    );
    let mut resp = Sse::new(body)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Once the stream ends (limit, or a dropped subscriber) the connection goes too.
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The response body's side of a subscription.
struct Body {
    rx: mpsc::Receiver<Frame>,
    /// `None` once the producer ended without a message for the client.
    end: Option<oneshot::Receiver<End>>,
    /// Cursor of the last event handed to the client (where it should resume).
    last_sent: u64,
    done: bool,
}

impl Body {
    async fn next(mut self) -> Option<(Result<SseEvent, std::convert::Infallible>, Body)> {
        if self.done {
            return None;
        }
        loop {
            let Some(end) = self.end.as_mut() else {
                let (cursor, frame) = self.rx.recv().await?;
                self.last_sent = cursor;
                return Some((Ok(frame), self));
            };
            // An end notice wins over buffered frames: a stalled client gets it next.
            tokio::select! {
                biased;
                ended = end => {
                    self.end = None;
                    if let Ok(end) = ended {
                        self.done = true;
                        let frame = self.end_frame(end);
                        return Some((Ok(frame), self));
                    }
                }
                frame = self.rx.recv() => {
                    let (cursor, frame) = frame?;
                    self.last_sent = cursor;
                    return Some((Ok(frame), self));
                }
            }
        }
    }

    fn end_frame(&self, end: End) -> SseEvent {
        end_event(end.reason, &end.detail, self.last_sent)
    }
}

/// `event: end`, the last frame of a stream that the server ends: why, and where to resume.
fn end_event(reason: &str, detail: &str, last_id: u64) -> SseEvent {
    let data = serde_json::json!({
        "reason": reason,
        "detail": detail,
        "last_id": last_id,
        "resume": format!("/_mock/stream?since={last_id}"),
    });
    SseEvent::default().event("end").data(data.to_string())
}

fn frame(r: &Record) -> Frame {
    let mut data = String::with_capacity(r.json().len() + 120);
    r.write_json(&mut data);
    (
        r.cursor,
        SseEvent::default()
            .event("event")
            .id(r.cursor.to_string())
            .data(data),
    )
}

/// Reads the store page by page into the subscriber's channel until the client leaves, the
/// limit is reached, or the client stalls.
async fn produce(
    st: Arc<AppState>,
    filter: EventFilter,
    tx: mpsc::Sender<Frame>,
    end: oneshot::Sender<End>,
    ctl: Option<Arc<ConnCtl>>,
    stall: Duration,
) {
    let mut head = st.feed.last.subscribe();
    let mut last = filter.since.unwrap_or(0);
    let mut left = filter.limit.unwrap_or(usize::MAX);
    loop {
        // Everything up to `seen` was committed before the query below starts.
        let seen = *head.borrow_and_update();
        let page_filter = EventFilter {
            since: Some(last),
            limit: Some(PAGE.min(left)),
            ..filter.clone()
        };
        let page = match st.store.query(&page_filter).await {
            Ok(page) => page,
            Err(e) => {
                let _ = end.send(End {
                    reason: "store error",
                    detail: format!("reading events failed: {e}"),
                });
                return;
            }
        };
        for r in &page {
            match tx.send_timeout(frame(r), stall).await {
                Ok(()) => last = r.cursor,
                Err(mpsc::error::SendTimeoutError::Closed(_)) => return,
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                    drop_stalled(end, ctl, stall, r.cursor);
                    return;
                }
            }
        }
        left -= page.len();
        if left == 0 {
            // After the buffered events, not instead of them: this one goes through the channel.
            let detail = format!(
                "the {} events asked for (limit) were sent",
                filter.limit.unwrap_or(0)
            );
            let _ = tx
                .send_timeout((last, end_event("limit", &detail, last)), stall)
                .await;
            return;
        }
        if page.len() == page_filter.limit.unwrap_or(PAGE) {
            continue;
        }
        // Caught up: nothing after `last` matches up to `seen`, so skip those cursors next
        // time (a selective filter would otherwise rescan them at every commit).
        last = last.max(seen);
        tokio::select! {
            changed = head.changed() => if changed.is_err() { return },
            _ = tx.closed() => return,
        }
    }
}

fn drop_stalled(end: oneshot::Sender<End>, ctl: Option<Arc<ConnCtl>>, stall: Duration, at: u64) {
    let detail = format!(
        "slow subscriber: read nothing for {:.1} s while {BUFFER} events waited (next was cursor {at}); the buffered events were dropped, reconnect with since=last_id",
        stall.as_secs_f64()
    );
    tracing::info!(%detail, "SSE subscriber dropped");
    let _ = end.send(End {
        reason: "slow subscriber",
        detail,
    });
    // A client that does not read the end event either still holds a connection (and
    // hyper's buffer): reset it once it had a fair chance.
    if let Some(ctl) = ctl {
        let grace = stall.max(END_GRACE_MIN);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            ctl.reset();
        });
    }
}
