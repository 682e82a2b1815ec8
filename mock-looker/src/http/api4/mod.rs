//! A subset of Looker API 4.0: enough for the official SDKs to log in, manage integration
//! hubs and integrations, fetch an integration form, schedule or run-once a Look to an action,
//! run Looks and queries, and read System Activity (paths and shapes of looker-api.md).

// Handlers return `Result<_, Response>`: an axum Response is the natural error of a handler
// helper, and boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::activity::EventInput;
use crate::core::Core;

mod hubs;
mod looks;
mod plans;
mod sessions;

use sessions::Sessions;

pub(super) const DOCS: &str = "https://cloud.google.com/looker/docs/";

/// The logged-in user of a request.
#[derive(Clone)]
struct Caller(pub(super) String);

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
        .merge(hubs::routes())
        .merge(plans::routes())
        .merge(looks::routes())
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
