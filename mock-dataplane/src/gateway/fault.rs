//! Fault injection on a request: a delay, a chosen status and body (optionally dribbled), or a
//! connection fault that takes the socket away from hyper.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::BodyExt;

use crate::faults::{ConnectionFault, Decision};
use crate::journal::JournalEntry;
use crate::response::ok_text;
use crate::state::{AppState, ConnCtl};

/// Applies a firing fault rule. `Ok(None)` means "only a delay: go on processing".
pub(super) async fn apply_fault(
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
        let _ = http_body_util::Limited::new(body, st.read_cap())
            .collect()
            .await
            .map(|c| entry.body_bytes = c.to_bytes().len());
    }
    if let Some(fault) = action.fault {
        // The connection task drops this request: answer nothing, ever.
        entry.response = String::new();
        entry.duration_ms = 0.0;
        st.journal.push(entry.clone());
        ctl.take_over(fault);
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
