//! The mock's own HTTP surface: download URLs, state URLs, the `/_mock/` admin API and the
//! Looker API 4.0 subset.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::core::{Core, Download, MockError, SendRequest};
use crate::format::{Format, LookChunks};

pub(crate) fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/downloads/{token}", get(download))
        .route("/action_hub_state/{token}", post(state))
        .route("/_mock/journal", get(journal).delete(clear_journal))
        .route("/_mock/hubs", get(hubs).post(add_hub))
        .route("/_mock/hubs/{id}/refresh", post(refresh_hub))
        .route("/_mock/looks", get(looks))
        .route("/_mock/send", post(send))
        .route("/_mock/form", post(form))
        .route("/_mock/events", get(events))
        .merge(crate::api::router(core.clone()))
        .with_state(core)
}

fn err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"message": message.into(), "documentation_url": "https://cloud.google.com/looker/docs/"}))).into_response()
}

fn mock_err(e: MockError) -> Response {
    let status = match e {
        MockError::UnknownHub(_) | MockError::UnknownAction { .. } | MockError::UnknownLook(_) => {
            StatusCode::NOT_FOUND
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    err(status, e.to_string())
}

/// `GET /downloads/<token>`: the one-time download URL a streaming action fetches.
async fn download(State(core): State<Arc<Core>>, Path(token): Path<String>) -> Response {
    let url = format!(
        "{}/downloads/{}…",
        core.base_url,
        &token[..token.len().min(6)]
    );
    match core.claim_download(&token) {
        Ok((look, format, opts, ran_at)) => {
            core.record_side("download", "GET", &url, 200, b"", None);
            let chunks = LookChunks::new(&look, format, opts, &ran_at);
            let stream = futures::stream::iter(chunks.map(Ok::<Bytes, std::io::Error>));
            (
                [(header::CONTENT_TYPE, format.mimetype())],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Err(why) => {
            core.record_side("download", "GET", &url, 404, b"", Some(why.into()));
            err(StatusCode::NOT_FOUND, why)
        }
    }
}

/// `POST /action_hub_state/<token>`: a hub stores per-user state (OAuth tokens).
async fn state(State(core): State<Arc<Core>>, Path(token): Path<String>, body: Bytes) -> Response {
    let url = format!("{}/action_hub_state/********", core.base_url);
    match core.post_state(&token, &body) {
        Ok(()) => {
            core.record_side("state", "POST", &url, 200, b"[state masked]", None);
            StatusCode::OK.into_response()
        }
        Err((status, why)) => {
            core.record_side(
                "state",
                "POST",
                &url,
                status,
                b"[state masked]",
                Some(why.clone()),
            );
            err(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                why,
            )
        }
    }
}

async fn journal(State(core): State<Arc<Core>>) -> Response {
    Json(core.journal_entries()).into_response()
}

async fn clear_journal(State(core): State<Arc<Core>>) -> StatusCode {
    core.lock().journal.clear();
    StatusCode::NO_CONTENT
}

async fn hubs(State(core): State<Arc<Core>>) -> Response {
    Json(core.hubs()).into_response()
}

#[derive(Deserialize)]
struct AddHub {
    url: String,
    token: Option<String>,
    looker_version: Option<String>,
}

async fn add_hub(State(core): State<Arc<Core>>, Json(b): Json<AddHub>) -> Response {
    match core.register_hub(&b.url, b.token, b.looker_version).await {
        Ok(h) => Json(h).into_response(),
        Err(e) => mock_err(e),
    }
}

async fn refresh_hub(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.refresh_hub(&id).await {
        Ok(h) => Json(h).into_response(),
        Err(e) => mock_err(e),
    }
}

async fn looks(State(core): State<Arc<Core>>) -> Response {
    let list: Vec<_> = core
        .looks()
        .iter()
        .map(|l| json!({"id": l.id(), "title": l.title(), "model": l.def().model, "explore": l.def().explore, "rows": l.row_count()}))
        .collect();
    Json(list).into_response()
}

#[derive(Deserialize)]
struct SendBody {
    hub: String,
    action: String,
    look_id: String,
    format: Option<Format>,
    download: Option<Download>,
    apply_formatting: Option<bool>,
    apply_vis: Option<bool>,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    form_values: BTreeMap<String, String>,
    looker_version: Option<String>,
    #[serde(default)]
    force: bool,
}

async fn send(State(core): State<Arc<Core>>, Json(b): Json<SendBody>) -> Response {
    let Some(look) = core.look(&b.look_id) else {
        return mock_err(MockError::UnknownLook(b.look_id));
    };
    let mut req = SendRequest::new(b.hub, b.action, look);
    req.format = b.format;
    req.download = b.download;
    req.apply_formatting = b.apply_formatting;
    req.apply_vis = b.apply_vis;
    req.params = b.params;
    req.form_values = b.form_values;
    req.looker_version = b.looker_version;
    req.force = b.force;
    match core.send(req).await {
        Ok(o) => Json(o).into_response(),
        Err(e) => mock_err(e),
    }
}

#[derive(Deserialize)]
struct FormBody {
    hub: String,
    action: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    form_values: BTreeMap<String, String>,
}

async fn form(State(core): State<Arc<Core>>, Json(b): Json<FormBody>) -> Response {
    match core
        .fetch_form(&b.hub, &b.action, &b.params, &b.form_values, "1", None)
        .await
    {
        Ok(o) => Json(o).into_response(),
        Err(e) => mock_err(e),
    }
}

async fn events(State(core): State<Arc<Core>>) -> Response {
    Json(core.activity.events()).into_response()
}
