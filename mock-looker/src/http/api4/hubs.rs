//! `integration_hubs` and `integrations`: registering hubs, admin settings, forms and tests.

use std::collections::BTreeMap;
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
use crate::core::{Core, Hub, HubOptions, MockError};

/// The routes of this part of the API (authenticated by the caller's router).
pub(super) fn routes() -> Router<Arc<Core>> {
    Router::new()
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
}

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
        .register_hub(
            url.trim_end_matches('/'),
            HubOptions {
                token: w.authorization_token,
                looker_version: None,
            },
        )
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
