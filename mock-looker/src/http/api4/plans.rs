//! `scheduled_plans`: create, list, update, delete and run once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Caller, api_error, no_content, not_found, validation_error};
use crate::activity::EventInput;
use crate::core::Core;
use crate::schedule::{Plan, PlanInvalid, WritePlan};
use crate::scheduler::run_plan;

/// The routes of this part of the API (authenticated by the caller's router).
pub(super) fn routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/api/4.0/scheduled_plans", get(all_plans).post(create_plan))
        .route("/api/4.0/scheduled_plans/run_once", post(run_once))
        .route(
            "/api/4.0/scheduled_plans/look/{look_id}",
            get(plans_for_look),
        )
        .route(
            "/api/4.0/scheduled_plans/{id}",
            get(get_plan).patch(update_plan).delete(delete_plan),
        )
        .route(
            "/api/4.0/scheduled_plans/{id}/run_once",
            post(run_once_by_id),
        )
}

fn plan_json(core: &Core, p: &Plan) -> Value {
    let mut v = serde_json::to_value(&p.write).unwrap_or_default();
    let o = v.as_object_mut().expect("a plan is an object");
    o.remove("interval_seconds");
    let user = p.write.user_id.clone().unwrap_or_else(|| "1".into());
    for (k, d) in [
        ("run_as_recipient", json!(false)),
        ("dashboard_id", Value::Null),
        ("lookml_dashboard_id", Value::Null),
        ("filters_string", Value::Null),
        ("datagroup", Value::Null),
        ("include_links", json!(false)),
        ("embed", json!(false)),
        ("long_tables", json!(false)),
    ] {
        o.entry(k).or_insert(d);
    }
    o.insert("user_id".into(), json!(user));
    o.insert("run_once".into(), json!(p.write.run_once.unwrap_or(false)));
    o.insert("id".into(), json!(p.id));
    o.insert("created_at".into(), json!(p.created_at));
    o.insert("updated_at".into(), json!(p.updated_at));
    let title = p
        .write
        .look_id
        .as_deref()
        .and_then(|id| core.look(id))
        .map(|l| l.title().to_owned());
    o.insert("title".into(), json!(title));
    o.insert(
        "user".into(),
        json!({"id": user, "first_name": "Mock", "last_name": "Admin", "display_name": "Mock Admin", "avatar_url": null, "url": format!("{}/api/4.0/users/{user}", core.base_url)}),
    );
    o.insert(
        "next_run_at".into(),
        json!(
            p.next_run
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string())
        ),
    );
    o.insert("last_run_at".into(), json!(p.last_run_at));
    o.insert(
        "can".into(),
        json!({"show": true, "update": true, "destroy": true}),
    );
    v
}

fn parse_plan(body: &[u8]) -> Result<WritePlan, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(WritePlan::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| api_error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn invalid(e: PlanInvalid) -> Response {
    validation_error(e.0)
}

fn record_plan_created(core: &Core, p: &Plan, user: &str) {
    core.activity.record(
        EventInput::new("create_scheduled_plan", "scheduled_task")
            .user(Some(user.to_owned()))
            .api(true)
            .attr("scheduled_plan_id", &p.id)
            .attr("look_id", p.write.look_id.clone().unwrap_or_default())
            .attr("run_once", p.write.run_once.unwrap_or(false)),
    );
    for d in p.write.scheduled_plan_destination.iter().flatten() {
        core.activity.record(
            EventInput::new("create_scheduled_plan_destination", "scheduled_task")
                .user(Some(user.to_owned()))
                .api(true)
                .attr(
                    "scheduled_plan_destination_id",
                    d.id.clone().unwrap_or_default(),
                ),
        );
    }
}

async fn create_plan(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    body: Bytes,
) -> Response {
    let mut w = match parse_plan(&body) {
        Ok(w) => w,
        Err(r) => return r,
    };
    w.user_id.get_or_insert(user.clone());
    match core.schedules.create(w, true) {
        Ok(p) => {
            record_plan_created(&core, &p, &user);
            Json(plan_json(&core, &p)).into_response()
        }
        Err(e) => invalid(e),
    }
}

/// Creates a run-once copy and starts it at once (the answer does not wait for the run).
async fn start_run_once(core: Arc<Core>, mut w: WritePlan, user: String) -> Response {
    w.run_once = Some(true);
    w.crontab = None;
    w.interval_seconds = None;
    w.user_id.get_or_insert(user.clone());
    w.name.get_or_insert_with(|| "Run once".into());
    match core.schedules.create(w, false) {
        Ok(p) => {
            record_plan_created(&core, &p, &user);
            let body = plan_json(&core, &p);
            tokio::spawn(run_plan(core.clone(), p));
            Json(body).into_response()
        }
        Err(e) => invalid(e),
    }
}

async fn run_once(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    body: Bytes,
) -> Response {
    match parse_plan(&body) {
        Ok(w) => start_run_once(core, w, user).await,
        Err(r) => r,
    }
}

async fn run_once_by_id(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(p) = core.schedules.get(&id) else {
        return not_found();
    };
    let patch = match parse_plan(&body) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let mut w = p.write.clone();
    if patch.scheduled_plan_destination.is_some() {
        w.scheduled_plan_destination = patch.scheduled_plan_destination.clone();
    }
    if patch.name.is_some() {
        w.name = patch.name.clone();
    }
    if patch.look_id.is_some() {
        w.look_id = patch.look_id.clone();
    }
    start_run_once(core, w, user).await
}

#[derive(Deserialize)]
struct PlanFilter {
    user_id: Option<String>,
    all_users: Option<bool>,
}

async fn all_plans(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Query(f): Query<PlanFilter>,
) -> Response {
    let who = f.user_id.unwrap_or(user);
    let list: Vec<Value> = core
        .schedules
        .all()
        .iter()
        .filter(|p| f.all_users == Some(true) || p.write.user_id.as_deref().unwrap_or("1") == who)
        .map(|p| plan_json(&core, p))
        .collect();
    Json(list).into_response()
}

async fn plans_for_look(State(core): State<Arc<Core>>, Path(look_id): Path<String>) -> Response {
    let list: Vec<Value> = core
        .schedules
        .all()
        .iter()
        .filter(|p| p.write.look_id.as_deref() == Some(look_id.as_str()))
        .map(|p| plan_json(&core, p))
        .collect();
    Json(list).into_response()
}

async fn get_plan(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    core.schedules
        .get(&id)
        .map_or_else(not_found, |p| Json(plan_json(&core, &p)).into_response())
}

async fn update_plan(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let patch = match parse_plan(&body) {
        Ok(w) => w,
        Err(r) => return r,
    };
    if let Ok(raw) = serde_json::from_slice::<Map<String, Value>>(&body)
        && matches!(raw.get("scheduled_plan_destination"), Some(Value::Null))
    {
        return validation_error(vec![(
            "scheduled_plan_destination".into(),
            "cannot be null".into(),
        )]);
    }
    match core.schedules.update(&id, patch) {
        Ok(Some(p)) => Json(plan_json(&core, &p)).into_response(),
        Ok(None) => not_found(),
        Err(e) => invalid(e),
    }
}

async fn delete_plan(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    if core.schedules.delete(&id) {
        no_content()
    } else {
        not_found()
    }
}
