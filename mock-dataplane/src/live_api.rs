//! `GET|POST /_mock/sources`: which write keys the mock accepts, and adding or changing one
//! while it runs (what a workspace admin does in the control plane); `GET|POST
//! /_mock/settings`: the texts, the 413 threshold and the write timeout (see [`crate::live`]).
//!
//! Write keys are secrets: the list shows `****` in their place (as the journal does), and a
//! key is never logged. A `POST` that names an existing key changes that source (name,
//! enabled, category; the id only when given), so a tool can set a source up the same way
//! before every test without first asking what exists.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::config::{Source, SourceEntry, generate_id};
use crate::live::{RuntimeSettings, Upserted};
use crate::redact::MASK;
use crate::response::json_response;
use crate::state::AppState;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_mock/sources", get(list).post(upsert))
        .route("/_mock/settings", get(settings).post(set_settings))
}

async fn settings(State(st): State<Arc<AppState>>) -> Response {
    let body = serde_json::to_string(&st.settings.current()).unwrap_or_default();
    json_response(StatusCode::OK, body)
}

/// Changes the settings given; answers all of them, as `GET` does.
async fn set_settings(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let wanted: RuntimeSettings = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "settings are {{\"legacy_responses\"?: bool, \"max_request_bytes\"?: bytes, \"write_timeout_ms\"?: ms}}: {e}"
                ),
            );
        }
    };
    if let Err(e) = st.settings.apply(&wanted) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    settings(State(st)).await
}

/// The body of `POST /_mock/sources`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSource {
    write_key: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    /// Empty (event stream) or `webhook`.
    #[serde(default)]
    category: String,
}

fn yes() -> bool {
    true
}

fn error(status: StatusCode, detail: String) -> Response {
    json_response(status, serde_json::json!({ "error": detail }).to_string())
}

async fn list(State(st): State<Arc<AppState>>) -> Response {
    let sources: Vec<_> = st
        .sources
        .all()
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "id": e.source.id,
                "name": e.source.name,
                "enabled": e.source.enabled,
                "category": e.category,
                "write_key": MASK,
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        serde_json::json!({ "sources": sources }).to_string(),
    )
}

async fn upsert(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    // The error names the field, never echoes the body (it holds a write key).
    let spec: NewSource = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            let text = e.to_string();
            // serde's type errors quote the value they met, which may be the key itself.
            let why = if text.contains("invalid type") || text.contains("invalid value") {
                format!(
                    "a value has the wrong type at line {} column {}",
                    e.line(),
                    e.column()
                )
            } else {
                text
            };
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "a source is {{\"write_key\", \"id\"?, \"name\"?, \"enabled\"?, \"category\"?}}: {why}"
                ),
            );
        }
    };
    if !matches!(spec.category.as_str(), "" | "webhook") {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "category must be \"\" (event stream) or \"webhook\", got {:?}",
                spec.category
            ),
        );
    }
    let keep_id = spec.id.is_none();
    let entry = SourceEntry {
        source: Source {
            id: spec.id.unwrap_or_else(generate_id),
            name: spec.name.unwrap_or_else(|| "mock source".into()),
            enabled: spec.enabled,
            write_key: spec.write_key,
        },
        category: spec.category,
    };
    let key = entry.source.write_key.clone();
    match st.sources.upsert(entry, keep_id) {
        Ok(done) => {
            st.redactor.add(&key);
            let id = st
                .sources
                .find(&key)
                .map(|e| e.source.id)
                .unwrap_or_default();
            let (status, created) = match done {
                Upserted::Created => (StatusCode::CREATED, true),
                Upserted::Updated => (StatusCode::OK, false),
            };
            json_response(
                status,
                serde_json::json!({ "id": id, "created": created }).to_string(),
            )
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}
