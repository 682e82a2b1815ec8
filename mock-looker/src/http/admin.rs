//! The `/_mock/` admin API, and the download and state URLs a hub calls back.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::core::{Core, Download, HubOptions, MockError, SendRequest, StateRejected};
use crate::format::Format;
use crate::format::file::chunks;

pub(crate) fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/downloads/{token}", get(download))
        .route("/action_hub_state/{token}", post(state))
        .route("/_mock/journal", get(journal).delete(clear_journal))
        .route("/_mock/hubs", get(hubs).post(add_hub))
        .route("/_mock/hubs/{id}/refresh", post(refresh_hub))
        .route("/_mock/looks", get(looks))
        .route("/_mock/dashboards", get(dashboards))
        .route("/_mock/send", post(send))
        .route("/_mock/form", post(form))
        .route("/_mock/login", post(login))
        .route("/_mock/state", axum::routing::put(put_state))
        .route("/_mock/events", get(events))
        .with_state(core)
}

fn err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"message": message.into(), "documentation_url": "https://cloud.google.com/looker/docs/"}))).into_response()
}

fn mock_err(e: MockError) -> Response {
    let status = match e {
        MockError::UnknownHub(_)
        | MockError::UnknownAction { .. }
        | MockError::UnknownLook(_)
        | MockError::UnknownDashboard(_) => StatusCode::NOT_FOUND,
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
        Ok((content, format, opts, ran_at)) => {
            match chunks(&content, format, opts, &ran_at, None) {
                Ok(chunks) => {
                    core.record_side("download", "GET", &url, 200, b"", None);
                    let stream = futures::stream::iter(chunks.map(Ok::<Bytes, std::io::Error>));
                    (
                        [(header::CONTENT_TYPE, format.mimetype())],
                        Body::from_stream(stream),
                    )
                        .into_response()
                }
                Err(why) => {
                    core.record_side("download", "GET", &url, 500, b"", Some(why.clone()));
                    err(StatusCode::INTERNAL_SERVER_ERROR, why)
                }
            }
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
        Err(rejected) => {
            let (status, why) = (
                match rejected {
                    StateRejected::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                    StateRejected::NotUtf8 => StatusCode::BAD_REQUEST,
                    StateRejected::UnknownToken => StatusCode::NOT_FOUND,
                },
                rejected.to_string(),
            );
            core.record_side(
                "state",
                "POST",
                &url,
                status.as_u16(),
                b"[state masked]",
                Some(why.clone()),
            );
            err(status, why)
        }
    }
}

/// `GET /_mock/journal[?since=<id>][&limit=<n>]`: entries with an id above `since` (default 0),
/// oldest first, at most `limit` (default 1000) and about 8 MiB; a JSON array, as before paging.
/// Page on with `since=<last id>` until an empty array (a `Link: rel="next"` header says when
/// more remain). `X-Mock-Journal-Dropped` counts entries dropped to stay within the limits.
async fn journal(
    State(core): State<Arc<Core>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut since = 0u64;
    let mut limit = crate::journal::DEFAULT_PAGE_ENTRIES;
    for (k, v) in &q {
        match k.as_str() {
            "since" => match v.parse() {
                Ok(n) => since = n,
                Err(_) => {
                    return err(
                        StatusCode::BAD_REQUEST,
                        format!("since must be an entry id (an integer), got {v:?}"),
                    );
                }
            },
            "limit" => match v.parse() {
                Ok(n) if n > 0 => limit = n,
                _ => {
                    return err(
                        StatusCode::BAD_REQUEST,
                        format!("limit must be a positive integer, got {v:?}"),
                    );
                }
            },
            other => {
                return err(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown query parameter {other:?}; the journal pages with since and limit"
                    ),
                );
            }
        }
    }
    let page = core.journal.page(since, limit);
    let mut body = Vec::with_capacity(64 * 1024);
    body.push(b'[');
    for (i, e) in page.entries.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        if let Err(e) = serde_json::to_writer(&mut body, &**e) {
            return err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    }
    body.push(b']');
    let mut resp = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    let h = resp.headers_mut();
    h.insert("x-mock-journal-dropped", core.journal.dropped().into());
    if page.more
        && let Some(last) = page.entries.last()
        && let Ok(v) = format!(
            "</_mock/journal?since={}&limit={limit}>; rel=\"next\"",
            last.id
        )
        .parse()
    {
        h.insert(header::LINK, v);
    }
    resp
}

/// `DELETE /_mock/journal`: forgets every entry (ids keep increasing).
async fn clear_journal(State(core): State<Arc<Core>>) -> StatusCode {
    core.journal.clear();
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
    match core
        .register_hub(
            &b.url,
            HubOptions {
                token: b.token,
                looker_version: b.looker_version,
            },
        )
        .await
    {
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

async fn dashboards(State(core): State<Arc<Core>>) -> Response {
    let list: Vec<_> = core
        .dashboards()
        .iter()
        .map(|d| {
            let tiles: Vec<_> = d
                .tiles()
                .iter()
                .map(|t| json!({"title": t.title, "look_id": t.look.id()}))
                .collect();
            json!({"id": d.id, "title": d.title, "tiles": tiles})
        })
        .collect();
    Json(list).into_response()
}

#[derive(Deserialize)]
struct SendBody {
    hub: String,
    action: String,
    /// The Look to send; or `dashboard_id`.
    look_id: Option<String>,
    /// The dashboard to send (`type: dashboard`), instead of a Look.
    dashboard_id: Option<String>,
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
    /// The Looker user sending (per-user `state_json` of OAuth actions).
    user: Option<String>,
    /// A cell action's clicked value (`data.value`).
    cell_value: Option<String>,
    /// Replay a job: send with this `X-Looker-Webhook-Id` instead of a fresh one.
    webhook_id: Option<String>,
}

async fn send(State(core): State<Arc<Core>>, Json(b): Json<SendBody>) -> Response {
    let mut req = match (b.look_id, b.dashboard_id) {
        (Some(id), None) => match core.look(&id) {
            Some(look) => SendRequest::new(b.hub, b.action, look),
            None => return mock_err(MockError::UnknownLook(id)),
        },
        (None, Some(id)) => match core.dashboard(&id) {
            Some(d) => SendRequest::for_dashboard(b.hub, b.action, d),
            None => return mock_err(MockError::UnknownDashboard(id)),
        },
        _ => {
            return err(
                StatusCode::UNPROCESSABLE_ENTITY,
                "give exactly one of look_id and dashboard_id",
            );
        }
    };
    req.format = b.format;
    req.download = b.download;
    req.apply_formatting = b.apply_formatting;
    req.apply_vis = b.apply_vis;
    req.params = b.params;
    req.form_values = b.form_values;
    req.looker_version = b.looker_version;
    req.force = b.force;
    req.user_id = b.user;
    req.cell_value = b.cell_value;
    req.webhook_id = b.webhook_id;
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
    /// The Looker user asking (default "1").
    user: Option<String>,
}

async fn form(State(core): State<Arc<Core>>, Json(b): Json<FormBody>) -> Response {
    let user = b.user.as_deref().unwrap_or("1");
    match core
        .fetch_form(&b.hub, &b.action, &b.params, &b.form_values, user, None)
        .await
    {
        Ok(o) => Json(o).into_response(),
        Err(e) => mock_err(e),
    }
}

#[derive(Deserialize)]
struct LoginBody {
    hub: String,
    action: String,
    /// The Looker user, also the provider user the browser consents as (`alice`, `bob`, `carol`).
    user: String,
    /// A cell action's clicked value, for the form that offers the login link.
    value: Option<String>,
}

/// `POST /_mock/login`: what a user does in Looker's UI: open the action's form, click its
/// OAuth link, and let the browser follow the redirects (hub `/oauth` → this mock's provider,
/// consent auto-approved → hub `/oauth_redirect`, which stores the token via `state_url`).
async fn login(State(core): State<Arc<Core>>, Json(b): Json<LoginBody>) -> Response {
    let mut params = BTreeMap::new();
    if let Some(v) = b.value {
        params.insert("value".to_owned(), v);
    }
    let integration = crate::core::integration_id(&b.hub, &b.action);
    let before = core.user_state(&b.user, &integration);
    let form = match core
        .fetch_form(&b.hub, &b.action, &params, &BTreeMap::new(), &b.user, None)
        .await
    {
        Ok(f) => f,
        Err(e) => return mock_err(e),
    };
    let Some(oauth_url) = form.oauth_links.first().cloned() else {
        return err(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the form of {} for {} offers no OAuth link (already logged in, or not an OAuth action); fields: {}",
                b.action,
                b.user,
                serde_json::to_string(&form.fields).unwrap_or_default()
            ),
        );
    };
    match core.browser_login(&oauth_url, &b.user).await {
        Ok(o) => {
            let after = core.user_state(&b.user, &integration);
            Json(json!({
                "status": o.status,
                "ok": (200..300).contains(&o.status),
                "body": o.body,
                "hops": o.visited.len(),
                "state_stored": after.is_some() && after != before,
                "breaches": form.breaches,
            }))
            .into_response()
        }
        Err(e) => err(
            StatusCode::BAD_GATEWAY,
            format!("the login did not finish: {e}"),
        ),
    }
}

#[derive(Deserialize)]
struct StateBody {
    hub: String,
    action: String,
    user: String,
    /// The new `state_json` (e.g. `"reset"`), or `null` to forget it.
    state: Option<String>,
}

/// `PUT /_mock/state`: replace what Looker keeps for a user and an action, as if the hub had
/// written it (e.g. the literal `"reset"`, or a stale token).
async fn put_state(State(core): State<Arc<Core>>, Json(b): Json<StateBody>) -> Response {
    core.set_user_state(
        &b.user,
        &crate::core::integration_id(&b.hub, &b.action),
        b.state,
    );
    StatusCode::NO_CONTENT.into_response()
}

async fn events(State(core): State<Arc<Core>>) -> Response {
    Json(core.activity.events()).into_response()
}
