//! The OAuth flow of the write-back actions (v1 of the official hub, spec §4): the login form,
//! the provider's authorize URL, the code exchange whose token goes to Looker's `state_url`,
//! and the userinfo check of every form and execute, which sends a user with a revoked, expired
//! or `"reset"` token to log in again (spec §9).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::actions::{BoxFuture, FormRequest, OAuth};

use super::{Inner, MarkSuspicious};

/// The token JSON the hub stores in Looker's user state.
#[derive(Debug, Deserialize)]
struct TokenState {
    access_token: String,
    #[serde(default)]
    expires_at: Option<u64>,
}

/// What the provider says about a token.
pub(super) enum TokenCheck {
    /// Valid: the user it belongs to.
    User(String),
    /// No token, `"reset"`, unreadable, expired or revoked: log in (again). The reason is shown.
    Login(String),
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Inner {
    /// Reads `state_json` and asks the provider about the token. Err: the provider could not be
    /// asked (not the user's fault; no login link, or the user would loop).
    pub(super) async fn check(&self, state_json: Option<&str>) -> Result<TokenCheck, String> {
        let s = match state_json.map(str::trim) {
            None | Some("") => return Ok(TokenCheck::Login("Log in to classify orders.".into())),
            Some("reset") => {
                return Ok(TokenCheck::Login(
                    "Your login was reset; log in again.".into(),
                ));
            }
            Some(s) => s,
        };
        let Ok(tok) = serde_json::from_str::<TokenState>(s) else {
            return Ok(TokenCheck::Login(
                "The stored login could not be read; log in again.".into(),
            ));
        };
        if tok.expires_at.is_some_and(|e| e <= now_secs()) {
            return Ok(TokenCheck::Login(
                "Your login expired; log in again.".into(),
            ));
        }
        let resp = self
            .client
            .get(&self.config.userinfo_url)
            .bearer_auth(&tok.access_token)
            .send()
            .await
            .map_err(|e| {
                format!("the OAuth provider's userinfo endpoint could not be reached: {e}")
            })?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Ok(TokenCheck::Login(
                "Your login was revoked or has expired; log in again.".into(),
            ));
        }
        if !status.is_success() {
            return Err(format!(
                "the OAuth provider's userinfo endpoint answered HTTP {}",
                status.as_u16()
            ));
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|e| format!("the OAuth provider's userinfo answer is not JSON: {e}"))?;
        let user = v
            .get("email")
            .or_else(|| v.get("sub"))
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or("the OAuth provider's userinfo answer has neither email nor sub")?;
        Ok(TokenCheck::User(user.to_owned()))
    }

    pub(super) fn login_form(&self, action: &str, state_url: Option<&str>, why: &str) -> Value {
        let Some(state_url) = state_url.filter(|u| !u.is_empty()) else {
            return json!({"error": "Looker sent no data.state_url, so this OAuth action cannot log you in (is uses_oauth honoured?)."});
        };
        let sealed = self.sealer.seal(state_url, action);
        json!({"fields": [{
            "name": "login",
            "label": "Log in",
            "description": why,
            "type": "oauth_link",
            "oauth_url": format!("{}/actions/{action}/oauth?state={sealed}", self.config.base_url),
        }]})
    }
}

impl OAuth for MarkSuspicious {
    fn oauth_url<'a>(
        &'a self,
        redirect_uri: &'a str,
        state: &'a str,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            self.inner
                .sealer
                .open(state, self.def.name)
                .map_err(|e| e.to_string())?;
            let c = &self.inner.config;
            let mut u = url::Url::parse(&c.authorize_url).map_err(|e| {
                format!(
                    "the OAuth authorize URL {:?} is invalid: {e}",
                    c.authorize_url
                )
            })?;
            u.query_pairs_mut()
                .append_pair("response_type", "code")
                .append_pair("client_id", &c.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &c.scope)
                .append_pair("state", state);
            Ok(u.into())
        })
    }

    fn oauth_check<'a>(&'a self, req: &'a FormRequest) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            matches!(
                self.inner
                    .check(req.params.get("state_json").map(String::as_str))
                    .await,
                Ok(TokenCheck::User(_))
            )
        })
    }

    fn oauth_redirect<'a>(
        &'a self,
        query: &'a HashMap<String, String>,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(async move {
            let st = self
                .inner
                .sealer
                .open(query.get("state").map_or("", String::as_str), self.def.name)
                .map_err(|e| e.to_string())?;
            if let Some(err) = query.get("error") {
                return Err(format!("the OAuth provider refused the login: {err}"));
            }
            let code = query
                .get("code")
                .filter(|c| !c.is_empty())
                .ok_or("the OAuth provider sent no code")?;
            let c = &self.inner.config;
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("client_id", &c.client_id)
                .append_pair("client_secret", &c.client_secret)
                .finish();
            let resp = self
                .inner
                .client
                .post(&c.token_url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form)
                .send()
                .await
                .map_err(|e| format!("the OAuth token endpoint could not be reached: {e}"))?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                return Err(format!(
                    "the OAuth token endpoint refused the code (HTTP {}): {}",
                    status.as_u16(),
                    body.get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("no error given")
                ));
            }
            let access = body
                .get("access_token")
                .and_then(Value::as_str)
                .ok_or("the OAuth token endpoint's answer has no access_token")?;
            let mut state = Map::new();
            state.insert("access_token".into(), access.into());
            state.insert(
                "token_type".into(),
                body.get("token_type").cloned().unwrap_or("Bearer".into()),
            );
            if let Some(e) = body.get("expires_in").and_then(Value::as_u64) {
                state.insert("expires_at".into(), (now_secs() + e).into());
            }
            if let Some(r) = body.get("refresh_token") {
                state.insert("refresh_token".into(), r.clone());
            }
            let resp = self
                .inner
                .client
                .post(&st.state_url)
                .json(&Value::Object(state))
                .send()
                .await
                .map_err(|e| format!("Looker's state_url could not be reached: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!(
                    "Looker's state_url refused the login (HTTP {})",
                    resp.status().as_u16()
                ));
            }
            Ok(None)
        })
    }
}
