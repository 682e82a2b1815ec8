//! A mock OAuth 2.0 provider served by the mock Looker under `/oauth/`, so OAuth hubs (the
//! write-back action of issue 6) can be tested without Google.
//!
//! - `GET /oauth/authorize?response_type=code&client_id&redirect_uri&state[&scope]`: a sign-in
//!   and consent page (user name, "Allow", "Deny") that posts to `POST /oauth/authorize`;
//!   "Allow" answers 302 to `redirect_uri?code&state`, "Deny" `redirect_uri?error=access_denied&state`
//!   (an unknown user name shows the page again, saying so). With `login_as=<user>` in the
//!   query (what the scripted browser, [`crate::browser`], adds) consent is given at once for
//!   that user, as if they had clicked "Allow"; an unknown `login_as` gets
//!   `error=access_denied`. An unknown client gets `error=unauthorized_client`; a missing
//!   `redirect_uri` a 400.
//! - `POST /oauth/token` (form): `grant_type=authorization_code`, `code`, `redirect_uri`,
//!   `client_id`, `client_secret` → `{access_token, token_type:"Bearer", expires_in, scope}`.
//!   Codes are single-use and bound to their redirect_uri, as RFC 6749 §4.1.3 requires.
//! - `GET /oauth/userinfo` (Bearer) → `{sub, email, name}`; 401 `invalid_token` once revoked or
//!   expired.
//! - `POST /oauth/introspect` (form `token`) → `{active, sub?, exp?}` (RFC 7662).
//! - `POST /oauth/revoke` (form `token`) → 200 always (RFC 7009).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

/// The client the provider knows by default (the hub's `--oauth-client-id/secret` defaults).
pub const DEFAULT_CLIENT: (&str, &str) = ("action-hub", "action-hub-secret");
/// Users known by default.
pub const DEFAULT_USERS: [&str; 3] = ["alice", "bob", "carol"];

#[derive(Debug)]
struct Code {
    user: String,
    client_id: String,
    redirect_uri: String,
}

#[derive(Debug, Clone)]
struct Token {
    user: String,
    expires: u64,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Inner {
    clients: HashMap<String, String>,
    users: Vec<String>,
    codes: HashMap<String, Code>,
    tokens: HashMap<String, Token>,
    ttl: u64,
}

/// The provider; clone to share.
#[derive(Debug, Clone)]
pub struct OAuthProvider {
    inner: Arc<Mutex<Inner>>,
}

impl Default for OAuthProvider {
    fn default() -> Self {
        Self::new()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|s| s.trim().to_owned())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

impl OAuthProvider {
    /// The default client and users, tokens valid for an hour.
    pub fn new() -> Self {
        let mut i = Inner {
            ttl: 3600,
            users: DEFAULT_USERS.iter().map(|u| (*u).to_owned()).collect(),
            ..Inner::default()
        };
        i.clients
            .insert(DEFAULT_CLIENT.0.into(), DEFAULT_CLIENT.1.into());
        Self {
            inner: Arc::new(Mutex::new(i)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user who may log in.
    pub fn add_user(&self, user: &str) {
        let mut i = self.lock();
        if !i.users.iter().any(|u| u == user) {
            i.users.push(user.to_owned());
        }
    }

    /// Adds (or replaces) a client.
    pub fn add_client(&self, id: &str, secret: &str) {
        self.lock().clients.insert(id.into(), secret.into());
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.lock().ttl = ttl.as_secs();
    }

    /// Revokes every token of `user`; returns how many.
    pub fn revoke_user(&self, user: &str) -> usize {
        let mut n = 0;
        for t in self.lock().tokens.values_mut() {
            if t.user == user && !t.revoked {
                t.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// Makes every token of `user` expired now.
    pub fn expire_user(&self, user: &str) {
        for t in self.lock().tokens.values_mut() {
            if t.user == user {
                t.expires = 0;
            }
        }
    }

    /// The user a token belongs to, if it is active.
    pub fn active_user(&self, token: &str) -> Option<String> {
        let i = self.lock();
        let t = i.tokens.get(token)?;
        (!t.revoked && t.expires > now()).then(|| t.user.clone())
    }

    /// How many tokens were issued to `user`.
    pub fn issued(&self, user: &str) -> usize {
        self.lock()
            .tokens
            .values()
            .filter(|t| t.user == user)
            .count()
    }

    /// The routes, mounted under `/oauth`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route("/oauth/authorize", get(authorize).post(authorize_form))
            .route("/oauth/token", post(token))
            .route("/oauth/userinfo", get(userinfo))
            .route("/oauth/introspect", post(introspect))
            .route("/oauth/revoke", post(revoke))
            .route("/_mock/oauth/users/{user}/revoke", post(admin_revoke_user))
            .route("/_mock/oauth/users/{user}/expire", post(admin_expire_user))
            .with_state(self.clone())
    }
}

/// `POST /_mock/oauth/users/{user}/revoke`: the user revokes access at the provider (every live
/// token of theirs stops working); answers how many were revoked.
async fn admin_revoke_user(State(p): State<OAuthProvider>, Path(user): Path<String>) -> Response {
    let n = p.revoke_user(&user);
    axum::Json(json!({"revoked": n})).into_response()
}

/// `POST /_mock/oauth/users/{user}/expire`: the user's tokens expire now.
async fn admin_expire_user(State(p): State<OAuthProvider>, Path(user): Path<String>) -> Response {
    p.expire_user(&user);
    StatusCode::NO_CONTENT.into_response()
}

async fn authorize(
    State(p): State<OAuthProvider>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    decide(&p, &q, false)
}

/// `POST /oauth/authorize` (form): the sign-in page's answer, `login_as` and `decision`
/// (`allow` or `deny`) with the authorization request's own parameters.
async fn authorize_form(State(p): State<OAuthProvider>, body: String) -> Response {
    decide(&p, &form(&body), true)
}

/// The authorization endpoint. `from_page`: the request comes from the sign-in page (a person
/// chose), not from the navigation that opens it.
fn decide(p: &OAuthProvider, q: &HashMap<String, String>, from_page: bool) -> Response {
    let Some(redirect) = q.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is missing or not an absolute URL",
        );
    };
    let state = q.get("state").cloned().unwrap_or_default();
    let back = |pairs: &[(&str, &str)]| {
        let mut u = redirect.clone();
        {
            let mut qp = u.query_pairs_mut();
            for (k, v) in pairs {
                qp.append_pair(k, v);
            }
            qp.append_pair("state", &state);
        }
        (StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response()
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return back(&[("error", "unsupported_response_type")]);
    }
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    let mut i = p.lock();
    if !i.clients.contains_key(&client_id) {
        return back(&[("error", "unauthorized_client")]);
    }
    if from_page && q.get("decision").map(String::as_str) != Some("allow") {
        // "Deny": what a real provider sends back when the user refuses (RFC 6749 4.1.2.1).
        return back(&[("error", "access_denied")]);
    }
    let user = match q.get("login_as") {
        // A browser opening the link: the person signs in and consents on the page.
        None if !from_page => return crate::http::oauth_page::sign_in(q, &i.users, None),
        Some(u) => u.trim().to_owned(),
        None => String::new(),
    };
    if !i.users.contains(&user) {
        if from_page {
            let why = format!("There is no user named \"{user}\" here.");
            return crate::http::oauth_page::sign_in(q, &i.users, Some(&why));
        }
        return back(&[("error", "access_denied")]);
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    i.codes.insert(
        code.clone(),
        Code {
            user,
            client_id,
            redirect_uri: redirect.to_string(),
        },
    );
    drop(i);
    back(&[("code", &code)])
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

async fn token(State(p): State<OAuthProvider>, body: String) -> Response {
    let f = form(&body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if get("grant_type") != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    let mut i = p.lock();
    let secret_ok = i.clients.get(get("client_id")).is_some_and(|s| {
        subtle::ConstantTimeEq::ct_eq(s.as_bytes(), get("client_secret").as_bytes()).into()
    });
    if !secret_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id or wrong client_secret",
        );
    }
    // Single use: removed even when the rest does not match.
    let Some(code) = i.codes.remove(get("code")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or already used code",
        );
    };
    let redirect_ok =
        url::Url::parse(get("redirect_uri")).is_ok_and(|u| u.to_string() == code.redirect_uri);
    if code.client_id != get("client_id") || !redirect_ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code was issued to another client or redirect_uri",
        );
    }
    let tok = format!("mlk_{}", uuid::Uuid::new_v4().simple());
    let ttl = i.ttl;
    i.tokens.insert(
        tok.clone(),
        Token {
            user: code.user,
            expires: now() + ttl,
            revoked: false,
        },
    );
    axum::Json(json!({
        "access_token": tok,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": "orders.write",
    }))
    .into_response()
}

async fn userinfo(State(p): State<OAuthProvider>, headers: HeaderMap) -> Response {
    match token_of(&headers).and_then(|t| p.active_user(&t)) {
        Some(u) => axum::Json(json!({"sub": u, "email": format!("{u}@example.com"), "name": u}))
            .into_response(),
        None => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is unknown, revoked or expired",
        ),
    }
}

async fn introspect(State(p): State<OAuthProvider>, body: String) -> Response {
    let f = form(&body);
    let t = f.get("token").map(String::as_str).unwrap_or("");
    let i = p.lock();
    match i.tokens.get(t) {
        Some(tok) if !tok.revoked && tok.expires > now() => {
            axum::Json(json!({"active": true, "sub": tok.user, "exp": tok.expires})).into_response()
        }
        _ => axum::Json(json!({"active": false})).into_response(),
    }
}

async fn revoke(State(p): State<OAuthProvider>, body: String) -> StatusCode {
    let f = form(&body);
    if let Some(t) = f.get("token")
        && let Some(tok) = p.lock().tokens.get_mut(t)
    {
        tok.revoked = true;
    }
    StatusCode::OK
}
