//! `looks` and `queries`: listing, saving and running them in any result format.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Caller, api_error, not_found, validation_error};
use crate::activity::EventInput;
use crate::core::Core;
use crate::format::{Format, WriteOptions, render};
use crate::look::Look;

/// The routes of this part of the API (authenticated by the caller's router).
pub(super) fn routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/api/4.0/looks", get(all_looks))
        .route("/api/4.0/looks/{id}", get(get_look))
        .route("/api/4.0/looks/{id}/run/{format}", get(run_look))
        .route("/api/4.0/queries", post(create_query))
        .route("/api/4.0/queries/{id}", get(get_query))
        .route("/api/4.0/queries/{id}/run/{format}", get(run_query))
        .route("/api/4.0/queries/run/{format}", post(run_inline_query))
}

fn look_json(core: &Core, l: &Look, with_query: bool) -> Value {
    let id = l.id().unwrap_or("0");
    let mut v = json!({
        "id": id,
        "title": l.title(),
        "description": l.def().description,
        "user_id": "1",
        "query_id": id,
        "folder_id": "1",
        "folder": {"id": "1", "name": "Shared", "parent_id": null},
        "model": {"id": l.def().model, "label": crate::look::default_label(&l.def().model)},
        "public": false,
        "deleted": false,
        "created_at": "2024-01-01T00:00:00.000+00:00",
        "updated_at": "2024-01-01T00:00:00.000+00:00",
        "can": {"show": true, "run": true},
    });
    if with_query {
        v["query"] = crate::core::query_json(l, &core.base_url);
        v["url"] = json!(format!("/looks/{id}"));
    }
    v
}

async fn all_looks(State(core): State<Arc<Core>>) -> Response {
    Json(
        core.looks()
            .iter()
            .map(|l| look_json(&core, l, false))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

async fn get_look(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    core.look(&id).map_or_else(not_found, |l| {
        Json(look_json(&core, &l, true)).into_response()
    })
}

#[derive(Deserialize, Default)]
struct RunOptions {
    apply_formatting: Option<bool>,
    apply_vis: Option<bool>,
    limit: Option<i64>,
}

/// The result formats of `run_*` the mock writes (json_detail and friends included).
fn run_format(f: &str) -> Result<Format, Response> {
    f.parse::<Format>().map_err(|_| {
        api_error(
            StatusCode::BAD_REQUEST,
            format!(
                "result_format {f:?} is not supported by the mock (one of Looker's 13 formats: {})",
                Format::ALL.map(Format::as_str).join(", ")
            ),
        )
    })
}

fn run_result(core: &Core, look: &Look, format: Format, opts: &RunOptions, user: &str) -> Response {
    let ran_at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    let look = match opts.limit {
        Some(n) if n >= 0 && (n as u64) < look.row_count() => look.limited(n as u64),
        _ => look.clone(),
    };
    let w = WriteOptions {
        apply_formatting: opts.apply_formatting.unwrap_or(false),
        apply_vis: opts.apply_vis.unwrap_or(false),
    };
    let body = render(&look, format, w, &ran_at);
    core.activity.record(
        EventInput::new("run_query", "query")
            .user(Some(user.to_owned()))
            .api(true)
            .attr("model", &look.def().model)
            .attr("view", &look.def().explore)
            .attr("status", "completed")
            .attr("look_id", look.id().unwrap_or(""))
            .attr("dialect", "mock"),
    );
    core.activity.record(
        EventInput::new("export_query", "query")
            .user(Some(user.to_owned()))
            .api(true)
            .attr("export_format", format),
    );
    ([(header::CONTENT_TYPE, format.mimetype())], body).into_response()
}

async fn run_look(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path((id, format)): Path<(String, String)>,
    Query(opts): Query<RunOptions>,
) -> Response {
    let format = match run_format(&format) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(look) = core.look(&id) else {
        return not_found();
    };
    run_result(&core, &look, format, &opts, &user)
}

async fn create_query(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Json(v): Json<Value>,
) -> Response {
    if let Err(e) = core.query_to_look(&v) {
        return validation_error(e);
    }
    let q = v.as_object().cloned().unwrap_or_default();
    let (q, id) = match core.queries.save(q) {
        Ok(saved) => saved,
        // An identical existing query is returned instead of a new one.
        Err(existing) => return Json(existing).into_response(),
    };
    core.activity.record(
        EventInput::new("create_query", "query")
            .user(Some(user))
            .api(true)
            .attr("query_id", &id),
    );
    Json(q).into_response()
}

async fn get_query(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    if let Some(q) = core.queries.get(&id) {
        return Json(q).into_response();
    }
    // Each Look's query has the Look's id.
    core.look(&id).map_or_else(not_found, |l| {
        Json(crate::core::query_json(&l, &core.base_url)).into_response()
    })
}

async fn run_query(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path((id, format)): Path<(String, String)>,
    Query(opts): Query<RunOptions>,
) -> Response {
    let format = match run_format(&format) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let look = match core.resolve_look_or_query(&id, false) {
        Some(l) => l,
        None => return not_found(),
    };
    run_result(&core, &look, format, &opts, &user)
}

async fn run_inline_query(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path(format): Path<String>,
    Query(opts): Query<RunOptions>,
    Json(v): Json<Value>,
) -> Response {
    let format = match run_format(&format) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match core.query_to_look(&v) {
        Ok(look) => run_result(&core, &look, format, &opts, &user),
        Err(e) => validation_error(e),
    }
}
