//! `GET|POST /v1/webhook`: webhook sources.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State as AxState};
use axum::http::header;
use axum::response::Response;

use super::{
    Failure, append, authorize, entry_for, finish, outcome_response, query_param, read_body,
};
use crate::response::Reject;
use crate::state::{AppState, ConnCtl};
use crate::{http_input, ingest};

/// `GET|POST /v1/webhook?writeKey=K` (or Basic auth): only for sources whose category is
/// `webhook`; others get 401 `invalid write key`. The mock stores a JSON object body as one
/// event (no transformation: the real gateway hands it to the source transformer).
pub(crate) async fn webhook(AxState(st): AxState<Arc<AppState>>, req: Request) -> Response {
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
            http_input::basic_auth_user(
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
