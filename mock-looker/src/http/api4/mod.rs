//! A subset of Looker API 4.0: enough for the official SDKs to log in, manage integration
//! hubs and integrations, fetch an integration form, schedule or run-once a Look to an action,
//! run Looks and queries, and read System Activity (paths and shapes of looker-api.md).

// Handlers return `Result<_, Response>`: an axum Response is the natural error of a handler
// helper, and boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::activity::EventInput;
use crate::core::{Core, Hub, MockError};
use crate::format::{Format, WriteOptions, render};
use crate::look::Look;
use crate::schedule::{Plan, PlanInvalid, WritePlan};
use crate::scheduler::run_plan;

mod sessions;

use sessions::Sessions;

const DOCS: &str = "https://cloud.google.com/looker/docs/";

/// The logged-in user of a request.
#[derive(Clone)]
struct Caller(String);

fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"message": message.into(), "documentation_url": DOCS})),
    )
        .into_response()
}

fn validation_error(errors: Vec<(String, String)>) -> Response {
    let errs: Vec<Value> = errors
        .into_iter()
        .map(|(f, m)| json!({"field": f, "code": "invalid", "message": m, "documentation_url": DOCS}))
        .collect();
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"message": "Validation Failed", "errors": errs, "documentation_url": DOCS})),
    )
        .into_response()
}

fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not found")
}

fn no_content() -> Response {
    // No Content-Type: the TS SDK would try to parse an empty JSON body.
    StatusCode::NO_CONTENT.into_response()
}

/// The API 4.0 routes; the router owns the sessions its `login` opens.
pub(crate) fn router() -> Router<Arc<Core>> {
    let sessions = Arc::new(Sessions::default());
    let authed = Router::new()
        .route("/api/4.0/logout", axum::routing::delete(logout))
        .route("/api/logout", axum::routing::delete(logout))
        .route("/api/4.0/login/{user_id}", post(login_user))
        .route("/api/4.0/user", get(me))
        .route("/api/4.0/integration_hubs", get(all_hubs).post(create_hub))
        .route(
            "/api/4.0/integration_hubs/{id}",
            get(get_hub).patch(update_hub).delete(delete_hub),
        )
        .route("/api/4.0/integration_hubs/{id}/health", get(hub_health))
        .route(
            "/api/4.0/integration_hubs/{id}/accept_legal_agreement",
            post(accept_legal),
        )
        .route("/api/4.0/integrations", get(all_integrations))
        .route(
            "/api/4.0/integrations/{id}",
            get(get_integration).patch(update_integration),
        )
        .route("/api/4.0/integrations/{id}/form", post(integration_form))
        .route("/api/4.0/integrations/{id}/test", post(test_integration))
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
        .route("/api/4.0/looks", get(all_looks))
        .route("/api/4.0/looks/{id}", get(get_look))
        .route("/api/4.0/looks/{id}/run/{format}", get(run_look))
        .route("/api/4.0/queries", post(create_query))
        .route("/api/4.0/queries/{id}", get(get_query))
        .route("/api/4.0/queries/{id}/run/{format}", get(run_query))
        .route("/api/4.0/queries/run/{format}", post(run_inline_query))
        .route_layer(middleware::from_fn_with_state(
            sessions.clone(),
            authenticate,
        ));
    Router::new()
        .route("/api/4.0/login", post(login))
        .merge(authed)
        .layer(Extension(sessions))
}

/// Accepts `Authorization: token X` or `Bearer X` (any case) or `?access_token=X`.
async fn authenticate(
    State(sessions): State<Arc<Sessions>>,
    mut req: Request,
    next: Next,
) -> Response {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")
        })
        .map(|(_, t)| t.trim().to_owned());
    let from_query = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    });
    let Some(token) = from_header.or(from_query) else {
        return api_error(StatusCode::UNAUTHORIZED, "Requires authentication.");
    };
    let user = sessions.user(&token);
    match user {
        Some(u) => {
            req.extensions_mut().insert(Caller(u));
            next.run(req).await
        }
        None => api_error(StatusCode::UNAUTHORIZED, "Requires authentication."),
    }
}

/// `POST /api/4.0/login`: form body (or, deprecated, query) `client_id` and `client_secret`.
async fn login(
    State(core): State<Arc<Core>>,
    Extension(sessions): Extension<Arc<Sessions>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut id = None;
    let mut secret = None;
    for src in [query.unwrap_or_default().into_bytes(), body.to_vec()] {
        for (k, v) in url::form_urlencoded::parse(&src) {
            match k.as_ref() {
                "client_id" => id = Some(v.into_owned()),
                "client_secret" => secret = Some(v.into_owned()),
                _ => {}
            }
        }
    }
    let ok = match (&id, &secret) {
        (Some(i), Some(s)) => {
            let a: bool = i.as_bytes().ct_eq(core.client_id.as_bytes()).into();
            let b: bool = s.as_bytes().ct_eq(core.client_secret.as_bytes()).into();
            a & b
        }
        _ => false,
    };
    if !ok {
        core.activity.record(
            EventInput::new("login_failure", "user")
                .user(None)
                .api(true)
                .attr("type", "api3")
                .attr("ip", "127.0.0.1")
                .attr("user_id_offered", id.as_deref().unwrap_or(""))
                .attr("msg", "invalid client_id or client_secret"),
        );
        return api_error(StatusCode::NOT_FOUND, "Not found");
    }
    let (_, body) = sessions.open("1");
    core.activity.record(
        EventInput::new("login", "user")
            .api(true)
            .attr("type", "api3")
            .attr("ldap", false)
            .attr("ip", "127.0.0.1")
            .attr("user_id", "1"),
    );
    Json(body).into_response()
}

async fn login_user(
    State(core): State<Arc<Core>>,
    Extension(sessions): Extension<Arc<Sessions>>,
    Path(user_id): Path<String>,
) -> Response {
    let (token, body) = sessions.open(&user_id);
    core.activity.record(
        EventInput::new("login_user", "user")
            .api(true)
            .attr("target_user_id", &user_id)
            .attr("token_id", &token[..8]),
    );
    Json(body).into_response()
}

async fn logout(
    State(core): State<Arc<Core>>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_owned()))
        .or_else(|| {
            q.and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.into_owned())
            })
        });
    if let Some(t) = token {
        let user = sessions.close(&t);
        core.activity.record(
            EventInput::new("logout", "user")
                .user(user.clone())
                .api(true)
                .attr("user_id", user.unwrap_or_default()),
        );
    }
    no_content()
}

async fn me(axum::Extension(Caller(user)): axum::Extension<Caller>) -> Response {
    Json(json!({"id": user, "first_name": "Mock", "last_name": if user == "1" { "Admin" } else { "User" },
        "display_name": format!("Mock {}", if user == "1" { "Admin" } else { "User" }), "email": format!("user{user}@mock-looker.local"),
        "is_disabled": false, "role_ids": ["2"], "can": {}}))
    .into_response()
}

// ---- integration hubs ----

fn hub_json(h: &Hub) -> Value {
    json!({
        "can": {"show": true, "update": true, "destroy": true},
        "id": h.id,
        "url": h.url,
        "label": h.label.clone().unwrap_or_default(),
        "official": false,
        "fetch_error_message": h.fetch_error,
        "authorization_token": null,
        "has_authorization_token": h.has_authorization_token,
        "legal_agreement_signed": false,
        "legal_agreement_required": false,
        "legal_agreement_text": null
    })
}

fn integration_json(h: &Hub, a: &crate::action::Action) -> Value {
    let settings = h.settings.get(&a.name).cloned().unwrap_or_default();
    let params: Vec<Value> = a
        .params
        .iter()
        .map(|p| {
            let v = settings.params.get(&p.name);
            json!({
                "name": p.name,
                "label": p.label,
                "description": p.description,
                "required": p.required,
                "has_value": v.is_some(),
                "value": if p.sensitive { None } else { v.cloned() },
                "user_attribute_name": p.user_attribute_name,
                "sensitive": p.sensitive,
                "per_user": p.per_user,
                "delegate_oauth_url": null
            })
        })
        .collect();
    let required_fields: Vec<Value> = a
        .required_fields
        .iter()
        .map(|r| json!({"tag": r.tag, "any_tag": r.any_tag, "all_tags": r.all_tags}))
        .collect();
    json!({
        "can": {"show": true, "update": true},
        "id": crate::core::integration_id(&h.id, &a.name),
        "integration_hub_id": h.id,
        "label": a.label,
        "description": a.description,
        "enabled": settings.enabled,
        "params": params,
        "supported_formats": a.supported_formats,
        "supported_action_types": a.supported_action_types,
        "supported_formattings": a.supported_formattings,
        "supported_visualization_formattings": a.supported_visualization_formattings,
        "supported_download_settings": a.supported_download_settings,
        "icon_url": null,
        "uses_oauth": a.uses_oauth,
        "required_fields": required_fields,
        "privacy_link": null,
        "delegate_oauth": a.delegate_oauth,
        "installed_delegate_oauth_targets": []
    })
}

async fn all_hubs(State(core): State<Arc<Core>>) -> Response {
    Json(core.hubs().iter().map(hub_json).collect::<Vec<_>>()).into_response()
}

#[derive(Deserialize)]
struct WriteHub {
    url: Option<String>,
    authorization_token: Option<String>,
}

async fn create_hub(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    body: Bytes,
) -> Response {
    let w: WriteHub = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    let Some(url) = w.url.filter(|u| !u.is_empty()) else {
        return validation_error(vec![("url".into(), "is required".into())]);
    };
    if core
        .hubs()
        .iter()
        .any(|h| h.url == url.trim_end_matches('/'))
    {
        return api_error(
            StatusCode::CONFLICT,
            format!("An integration hub with url {url} already exists"),
        );
    }
    match core
        .register_hub(url.trim_end_matches('/'), w.authorization_token, None)
        .await
    {
        Ok(h) => {
            core.activity.record(
                EventInput::new("create_integration_hub", "integration")
                    .user(Some(user))
                    .api(true)
                    .attr("integration_hub_id", &h.id)
                    .attr("url", &h.url),
            );
            Json(hub_json(&h)).into_response()
        }
        Err(MockError::BadUrl(u)) => {
            validation_error(vec![("url".into(), format!("{u:?} is not an http(s) URL"))])
        }
        Err(e) => api_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

async fn get_hub(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    core.hub(&id)
        .map_or_else(not_found, |h| Json(hub_json(&h)).into_response())
}

async fn update_hub(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let v: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    let url = v
        .get("url")
        .and_then(Value::as_str)
        .map(|u| u.trim_end_matches('/').to_owned());
    let token = match v.get("authorization_token") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(t) => Some(t.as_str().map(str::to_owned)),
    };
    if let Err(e) = core.update_hub(&id, url, token) {
        return api_error(StatusCode::NOT_FOUND, e.to_string());
    }
    match core.refresh_hub(&id).await {
        Ok(h) => {
            core.activity.record(
                EventInput::new("update_integration_hub", "integration")
                    .user(Some(user))
                    .api(true)
                    .attr("integration_hub_id", &h.id)
                    .attr("url", &h.url),
            );
            Json(hub_json(&h)).into_response()
        }
        Err(e) => api_error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn delete_hub(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if core.remove_hub(&id) {
        core.activity.record(
            EventInput::new("delete_integration_hub", "integration")
                .user(Some(user))
                .api(true)
                .attr("integration_hub_id", &id),
        );
        no_content()
    } else {
        not_found()
    }
}

async fn hub_health(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.refresh_hub(&id).await {
        Ok(h) => {
            Json(json!({"success": h.fetch_error.is_none(), "message": h.fetch_error, "can": {}}))
                .into_response()
        }
        Err(_) => not_found(),
    }
}

async fn accept_legal(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.hub(&id) {
        // The mock's hubs never require an agreement, so accepting is refused like Looker.
        Some(_) => api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "This integration hub does not require a legal agreement",
        ),
        None => not_found(),
    }
}

fn split_integration(id: &str) -> Option<(&str, &str)> {
    id.split_once("::")
}

#[derive(Deserialize)]
struct HubFilter {
    integration_hub_id: Option<String>,
}

async fn all_integrations(State(core): State<Arc<Core>>, Query(f): Query<HubFilter>) -> Response {
    let list: Vec<Value> = core
        .hubs()
        .iter()
        .filter(|h| f.integration_hub_id.as_deref().is_none_or(|id| id == h.id))
        .flat_map(|h| h.actions.iter().map(move |a| integration_json(h, a)))
        .collect();
    Json(list).into_response()
}

fn find_integration(core: &Core, id: &str) -> Option<(Hub, crate::action::Action)> {
    let (hub, action) = split_integration(id)?;
    let h = core.hub(hub)?;
    let a = h.actions.iter().find(|a| a.name == action)?.clone();
    Some((h, a))
}

async fn get_integration(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    find_integration(&core, &id).map_or_else(not_found, |(h, a)| {
        Json(integration_json(&h, &a)).into_response()
    })
}

async fn update_integration(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some((h, a)) = find_integration(&core, &id) else {
        return not_found();
    };
    let v: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    let enabled = v.get("enabled").and_then(Value::as_bool);
    let mut params = BTreeMap::new();
    let mut errors = Vec::new();
    if let Some(list) = v.get("params").and_then(Value::as_array) {
        for (i, p) in list.iter().enumerate() {
            let Some(name) = p.get("name").and_then(Value::as_str) else {
                errors.push((format!("params[{i}].name"), "is required".into()));
                continue;
            };
            if !a.params.iter().any(|d| d.name == name) {
                errors.push((
                    format!("params[{i}].name"),
                    format!("the integration has no param {name:?}"),
                ));
                continue;
            }
            // A null value is ignored; "" clears.
            if let Some(val) = p.get("value").and_then(Value::as_str) {
                params.insert(name.to_owned(), val.to_owned());
            }
        }
    }
    if !errors.is_empty() {
        return validation_error(errors);
    }
    if let Err(e) = core.configure(&h.id, &a.name, enabled, params) {
        return api_error(StatusCode::NOT_FOUND, e.to_string());
    }
    let settings = core
        .hub(&h.id)
        .and_then(|h| h.settings.get(&a.name).cloned())
        .unwrap_or_default();
    core.activity.record(
        EventInput::new("update_integration", "integration")
            .user(Some(user))
            .api(true)
            .attr("integration_id", &id)
            .attr("enabled", settings.enabled),
    );
    let h = core.hub(&h.id).unwrap_or(h);
    Json(integration_json(&h, &a)).into_response()
}

async fn integration_form(
    State(core): State<Arc<Core>>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some((h, a)) = find_integration(&core, &id) else {
        return not_found();
    };
    let values: BTreeMap<String, String> = if body.iter().all(u8::is_ascii_whitespace) {
        BTreeMap::new()
    } else {
        match serde_json::from_slice::<Map<String, Value>>(&body) {
            Ok(m) => m
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect(),
            Err(e) => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    format!("the body must be a map of form values: {e}"),
                );
            }
        }
    };
    let form = match core
        .fetch_form(&h.id, &a.name, &BTreeMap::new(), &values, &user, None)
        .await
    {
        Ok(f) => f,
        Err(e) => return api_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    if let Some(e) = form.error.clone().or(form.failure.clone()) {
        return validation_error(vec![("form".into(), e)]);
    }
    let state = core
        .user_state(&user, &id)
        .map(|d| json!({"data": d, "refresh_time": form.refresh_time}));
    Json(json!({"state": state, "fields": form.fields})).into_response()
}

async fn test_integration(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    let Some((h, a)) = find_integration(&core, &id) else {
        return not_found();
    };
    let result = match core.refresh_hub(&h.id).await {
        Ok(fresh) if fresh.fetch_error.is_some() => {
            json!({"success": false, "message": fresh.fetch_error, "delegate_oauth_result": null})
        }
        Ok(fresh) if fresh.actions.iter().any(|x| x.name == a.name) => {
            json!({"success": true, "message": null, "delegate_oauth_result": null})
        }
        Ok(_) => {
            json!({"success": false, "message": format!("the hub no longer lists {:?}", a.name), "delegate_oauth_result": null})
        }
        Err(e) => {
            json!({"success": false, "message": e.to_string(), "delegate_oauth_result": null})
        }
    };
    Json(result).into_response()
}

// ---- scheduled plans ----

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

// ---- Looks and queries ----

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
    f.parse::<Format>()
        .map_err(|_| api_error(StatusCode::BAD_REQUEST, format!("result_format {f:?} is not supported by the mock (json, json_label, json_detail, csv, txt, inline_json)")))
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
