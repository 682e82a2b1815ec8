//! The Looker Action API routes, with the official hub's statuses and error texts.

// Handlers answer early with a ready `Response`; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::actions::{
    Action, ActionResponse, Attachment, ExecuteRequest, FormRequest, Registry, action_json,
};
use crate::body::{BodyBudget, Reservation, express_html, member, read_body, string_list, strings};
use crate::config::HubConfig;
use crate::context::Context;
use crate::origin::OwnOrigin;
use crate::version::Version;

/// What every request of a hub shares.
pub(crate) struct ServerState {
    /// What the actions get: the configuration and the HTTP clients.
    pub(crate) context: Arc<Context>,
    /// The served actions.
    pub(crate) registry: Registry,
    /// Base URL used in action URLs, no trailing slash.
    pub(crate) base_url: String,
    /// Bytes of execute and form bodies held at once ([`crate::body`]).
    pub(crate) bodies: BodyBudget,
}

impl ServerState {
    fn config(&self) -> &HubConfig {
        &self.context.config
    }
}

type AppState = Arc<ServerState>;

/// The router of a hub.
pub(crate) fn router(shared: AppState) -> Router {
    Router::new()
        .route("/", get(index).post(list))
        .route("/status", get(status))
        .route("/actions/{id}", post(one_action))
        .route("/actions/{id}/execute", post(execute))
        .route("/actions/{id}/form", post(form))
        .route("/actions/{id}/oauth", get(oauth))
        .route("/actions/{id}/oauth_check", get(oauth_check))
        .route("/actions/{id}/oauth_redirect", get(oauth_redirect))
        .route("/actions/{id}/oauth_token", post(oauth_token))
        .layer(axum::middleware::from_fn_with_state(
            OwnOrigin::of(&shared.base_url),
            crate::origin::guard,
        ))
        .layer(axum::middleware::from_fn(request_span))
        .with_state(shared)
}

/// Every log line of a request carries its `X-Looker-Webhook-Id`.
async fn request_span(req: Request, next: axum::middleware::Next) -> Response {
    let webhook = req
        .headers()
        .get("x-looker-webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!(
        "request",
        webhook_id = %webhook,
        method = %req.method(),
        path = %req.uri().path()
    );
    async move {
        let resp = next.run(req).await;
        tracing::info!(status = resp.status().as_u16(), "answered");
        resp
    }
    .instrument(span)
    .await
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (
        status,
        axum::Json(json!({"success": false, "error": error})),
    )
        .into_response()
}

fn forbidden() -> Response {
    json_error(StatusCode::FORBIDDEN, "Invalid 'Authorization' header.")
}

fn not_found_action() -> Response {
    json_error(StatusCode::NOT_FOUND, "No action found.")
}

fn authorized(headers: &HeaderMap, s: &ServerState) -> bool {
    let Some(h) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(key) = crate::auth::key_from_header(h) else {
        return false;
    };
    crate::auth::key_is_valid(
        key,
        s.config().secret.as_deref(),
        s.config().token.as_deref(),
    )
}

fn looker_version(headers: &HeaderMap) -> Option<Version> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(Version::from_user_agent)
}

async fn index(State(s): State<AppState>) -> Html<String> {
    Html(crate::page::index(
        &s.config().label,
        &s.base_url,
        &s.registry,
    ))
}

async fn status(State(s): State<AppState>) -> Response {
    axum::Json(json!({
        "app": "action-hub",
        "version": crate::LIBRARY_VERSION,
        "label": s.config().label,
        "actions": s.registry.all().iter().map(|a| a.definition().name).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(&headers, &s) {
        return forbidden();
    }
    let v = looker_version(&headers);
    let integrations: Vec<Value> = s
        .registry
        .listed(v.as_ref())
        .into_iter()
        .map(|a| action_json(a.as_ref(), &s.base_url, v.as_ref()))
        .collect();
    axum::Json(json!({"integrations": integrations, "label": s.config().label})).into_response()
}

async fn one_action(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &s) {
        return forbidden();
    }
    let v = looker_version(&headers);
    match s.registry.find(&id, v.as_ref()) {
        Some(a) => axum::Json(action_json(a.as_ref(), &s.base_url, v.as_ref())).into_response(),
        None => not_found_action(),
    }
}

#[derive(Deserialize)]
struct ExecBody<'a> {
    /// `Some("null")` when `type` is null: a missing and a null type get different errors.
    #[serde(rename = "type", default, borrow, deserialize_with = "raw_some")]
    kind: Option<&'a RawValue>,
    #[serde(default, borrow)]
    scheduled_plan: Option<&'a RawValue>,
    #[serde(default, borrow)]
    attachment: Option<AttachmentBody<'a>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    form_params: Option<&'a RawValue>,
}

fn raw_some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct AttachmentBody<'a> {
    #[serde(default)]
    mimetype: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

fn parse_json_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        express_html(
            StatusCode::BAD_REQUEST,
            &format!("SyntaxError: the request body is not valid JSON: {e}"),
        )
    })
}

/// What `execute` and `form` both do first, in the official hub's order: check the token, read
/// the Looker version (it gates which actions exist), find the action, then read the body
/// within the push limit. Any failure is already the answer to send.
async fn prelude(
    s: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Arc<dyn Action>, Option<Version>, Bytes, Reservation), Response> {
    if !authorized(headers, s) {
        return Err(forbidden());
    }
    let version = looker_version(headers);
    let Some(action) = s.registry.find(id, version.as_ref()).cloned() else {
        return Err(not_found_action());
    };
    let (bytes, held) = read_body(body, headers, s.config().push_limit, Some(&s.bodies)).await?;
    Ok((action, version, bytes, held))
}

async fn execute(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (action, version, bytes, held) = match prelude(&s, &id, &headers, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let req = {
        let parsed: ExecBody<'_> = if bytes.iter().all(u8::is_ascii_whitespace) {
            ExecBody {
                kind: None,
                scheduled_plan: None,
                attachment: None,
                data: None,
                form_params: None,
            }
        } else {
            match parse_json_body(&bytes) {
                Ok(p) => p,
                Err(r) => return r,
            }
        };
        let def = action.definition();
        let types = def
            .supported_action_types
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let kind = match parsed.kind.map(RawValue::get) {
            None => {
                return json_error(
                    StatusCode::NOT_FOUND,
                    &format!("No request type specified. The request must be of type: {types}."),
                );
            }
            Some("null") => {
                return json_error(StatusCode::NOT_FOUND, "Action did not specify a \"type\".");
            }
            Some(k) => {
                // A string's text; anything else as its JSON (re-written compactly when small).
                let k = crate::body::string(parsed.kind).unwrap_or_else(|| {
                    match (k.len() <= 4096).then(|| serde_json::from_str::<Value>(k)) {
                        Some(Ok(v)) => v.to_string(),
                        _ => k.to_owned(),
                    }
                });
                if !def.supported_action_types.contains(&k.as_str()) {
                    return json_error(
                        StatusCode::NOT_FOUND,
                        &format!(
                            "This action does not support requests of type \"{k}\". The request must be of type: {types}."
                        ),
                    );
                }
                k
            }
        };
        let plan = parsed.scheduled_plan;
        let download_url = crate::body::string(plan.and_then(|p| member(p, "download_url")))
            .filter(|u| !u.is_empty());
        let hidden_fields = string_list(
            plan.and_then(|p| member(p, "query"))
                .and_then(|q| member(q, "vis_config"))
                .and_then(|v| member(v, "hidden_fields")),
        );
        let attachment = parsed.attachment.as_ref().and_then(|a| {
            let d = a.data.filter(|d| d.get() != "null")?;
            let start = d.get().as_ptr() as usize - bytes.as_ptr() as usize;
            Some(Attachment {
                mimetype: a.mimetype.clone().unwrap_or_default(),
                data: (start, start + d.get().len()),
            })
        });
        if def.uses_streaming && attachment.is_none() && download_url.is_none() {
            return json_error(
                StatusCode::NOT_FOUND,
                "A streaming action was sent incompatible data. The action must have a download url or an attachment.",
            );
        }
        let params = strings(parsed.data);
        if let Some(p) = def
            .params
            .iter()
            .find(|p| p.required && params.get(p.name).is_none_or(|v| v.is_empty()))
        {
            return json_error(
                StatusCode::NOT_FOUND,
                &format!(
                    "Required setting \"{}\" not specified in action settings.",
                    p.label
                ),
            );
        }
        ExecuteRequest {
            kind,
            params,
            form_params: strings(parsed.form_params),
            hidden_fields,
            download_url,
            attachment,
            looker_version: version,
            webhook_id: headers
                .get("x-looker-webhook-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: bytes.clone(),
        }
    };
    tracing::info!(action = %id, "executing");
    let fut = action.execute(req, s.context.clone());
    keepalive_json(
        async move {
            let r: ActionResponse = fut.await;
            // The body (inside the request) is gone: its share of the budget returns.
            drop(held);
            tracing::info!(success = r.success, message = ?r.message, "executed");
            r.to_json()
        },
        s.config().keepalive,
    )
}

/// 200 at once, a `\n` every `interval` while `fut` runs, then its JSON (the official hub's
/// jsonKeepAlive, so proxies and NATs keep long executes alive).
fn keepalive_json(
    fut: impl std::future::Future<Output = Value> + Send + 'static,
    interval: Duration,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(
        async move {
            let mut fut = std::pin::pin!(fut);
            let interval = interval.max(Duration::from_millis(10));
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                tokio::select! {
                    v = &mut fut => {
                        let _ = tx.send(Bytes::from(v.to_string())).await;
                        break;
                    }
                    _ = tick.tick() => {
                        // A vanished client does not stop the action: its events still go out.
                        let _ = tx.send(Bytes::from_static(b"\n")).await;
                    }
                }
            }
        }
        .in_current_span(),
    );
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn form(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (action, version, bytes, held) = match prelude(&s, &id, &headers, body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    #[derive(Deserialize, Default)]
    struct FormBody<'a> {
        #[serde(default, borrow)]
        data: Option<&'a RawValue>,
        #[serde(default, borrow)]
        form_params: Option<&'a RawValue>,
    }
    let v: FormBody<'_> = if bytes.iter().all(u8::is_ascii_whitespace) {
        FormBody::default()
    } else {
        match parse_json_body::<&RawValue>(&bytes) {
            // A body that is JSON but not an object has no params (as with a Value before).
            Ok(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
            Err(r) => return r,
        }
    };
    let req = FormRequest {
        params: strings(v.data),
        form_params: strings(v.form_params),
        looker_version: version,
    };
    if !action.has_form() {
        return json_error(StatusCode::NOT_FOUND, "No form defined for action.");
    }
    let def = action.definition();
    if let Some(p) = def
        .params
        .iter()
        .find(|p| p.required && req.params.get(p.name).is_none_or(|v| v.is_empty()))
    {
        return axum::Json(json!({
            "error": format!("Required setting \"{}\" not specified in action settings.", p.label)
        }))
        .into_response();
    }
    drop(bytes);
    keepalive_json(
        async move {
            let v = action.form(&req).await;
            drop(held);
            v
        },
        s.config().keepalive,
    )
}

fn no_oauth() -> Response {
    json_error(StatusCode::NOT_FOUND, "Action does not support OAuth.")
}

/// The action behind an OAuth route, if it has OAuth hooks. OAuth routes are not gated by the
/// Looker version: the browser that opens them sends no Looker User-Agent.
fn oauth_action(s: &AppState, id: &str) -> Result<Arc<dyn Action>, Response> {
    let Some(a) = s.registry.find(id, None).cloned() else {
        return Err(not_found_action());
    };
    if a.oauth().is_none() {
        return Err(no_oauth());
    }
    Ok(a)
}

/// Where the provider sends the browser back. `/oauth` announces it and `/oauth_redirect` repeats
/// it in the code exchange; providers refuse the exchange unless both are the same string.
fn oauth_redirect_uri(s: &AppState, id: &str) -> String {
    format!("{}/actions/{id}/oauth_redirect", s.base_url)
}

async fn oauth(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let a = match oauth_action(&s, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let o = a.oauth().expect("oauth_action checked the hooks");
    let redirect = oauth_redirect_uri(&s, &id);
    match o
        .oauth_url(&redirect, q.get("state").map_or("", String::as_str))
        .await
    {
        Ok(url) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

async fn oauth_check(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &s) {
        return forbidden();
    }
    let a = match oauth_action(&s, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let o = a.oauth().expect("oauth_action checked the hooks");
    let req = FormRequest {
        params: HashMap::new(),
        form_params: HashMap::new(),
        looker_version: looker_version(&headers),
    };
    axum::Json(Value::Bool(o.oauth_check(&req).await)).into_response()
}

async fn oauth_redirect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let a = match oauth_action(&s, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let o = a.oauth().expect("oauth_action checked the hooks");
    let redirect = oauth_redirect_uri(&s, &id);
    match o.oauth_redirect(&q, &redirect).await {
        Ok(None) => Html("<html><body><script>window.close()</script>Login successful. You can close this window.</body></html>").into_response(),
        Ok(Some(url)) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

async fn oauth_token(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !authorized(&headers, &s) {
        return forbidden();
    }
    let Some(a) = s.registry.find(&id, None).cloned() else {
        return not_found_action();
    };
    let Some(o) = a.oauth().filter(|o| o.v2()) else {
        return no_oauth();
    };
    let bytes = match read_body(body, &headers, 1 << 20, None).await {
        Ok((b, _)) => b,
        Err(r) => return r,
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Object(Map::new()));
    match o.oauth_token(&v).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}
