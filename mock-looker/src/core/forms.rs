//! Action forms and the per-user state Looker keeps for a hub (`state_url`, `state_json`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Core, FormOutcome, JournalEntry, MockError, integration_id, random_hex};
use crate::action::Action;
use crate::clock::now_iso;
use crate::contract::{self, Judge};

impl Core {
    /// The `data` object Looker sends: params, plus state_url/state_json.
    pub(super) fn data_object(
        &self,
        action: &Action,
        integration: &str,
        user: &str,
        params: &BTreeMap<String, String>,
    ) -> (Map<String, Value>, Map<String, Value>) {
        let mut data = Map::new();
        let mut masked = Map::new();
        for (k, v) in params {
            data.insert(k.clone(), json!(v));
            let sensitive = action
                .params
                .iter()
                .find(|p| &p.name == k)
                .is_none_or(|p| p.sensitive);
            masked.insert(
                k.clone(),
                json!(if sensitive { "********" } else { v.as_str() }),
            );
        }
        let mut st = self.lock();
        if action.uses_oauth {
            let token = random_hex(20);
            st.state_tokens
                .insert(token.clone(), (user.to_owned(), integration.to_owned()));
            let url = format!("{}/action_hub_state/{token}", self.base_url);
            data.insert("state_url".into(), json!(url));
            masked.insert(
                "state_url".into(),
                json!(format!("{}/action_hub_state/********", self.base_url)),
            );
        }
        if let Some(s) = st
            .user_state
            .get(&(user.to_owned(), integration.to_owned()))
        {
            data.insert("state_json".into(), json!(s));
            masked.insert("state_json".into(), json!("********"));
        }
        (data, masked)
    }

    pub(super) fn store_state(&self, user: &str, integration: &str, state: Option<Option<String>>) {
        if let Some(s) = state {
            let mut st = self.lock();
            let key = (user.to_owned(), integration.to_owned());
            match s {
                Some(data) => {
                    st.user_state.insert(key, data);
                }
                None => {
                    st.user_state.remove(&key);
                }
            }
        }
    }

    /// Replaces (`Some`) or forgets (`None`) what Looker keeps for `user` and `integration`.
    pub fn set_user_state(&self, user: &str, integration: &str, state: Option<String>) {
        self.store_state(user, integration, Some(state));
    }

    /// The scripted browser logging in as `user` from a form's `oauth_url`, through this
    /// mock's OAuth provider.
    pub async fn browser_login(
        &self,
        oauth_url: &str,
        user: &str,
    ) -> Result<crate::browser::LoginOutcome, crate::browser::BrowserError> {
        crate::browser::login(
            oauth_url,
            user,
            &format!("{}/oauth/authorize", self.base_url),
        )
        .await
    }

    pub fn user_state(&self, user: &str, integration: &str) -> Option<String> {
        self.lock()
            .user_state
            .get(&(user.to_owned(), integration.to_owned()))
            .cloned()
    }

    /// Fetches an action's form with the current values, like Looker does on open and on an
    /// interactive field change.
    pub async fn fetch_form(
        &self,
        hub: &str,
        action: &str,
        params: &BTreeMap<String, String>,
        form_values: &BTreeMap<String, String>,
        user: &str,
        version_override: Option<&str>,
    ) -> Result<FormOutcome, MockError> {
        let (h, a) = self.action_of(hub, action)?;
        let url = a
            .form_url
            .clone()
            .ok_or_else(|| MockError::NotOffered(format!("action {action:?} has no form_url")))?;
        let integration = integration_id(&h.id, &a.name);
        let p = Self::effective_params(&h, action, params);
        let (data, masked) = self.data_object(&a, &integration, user, &p);
        let body = json!({"data": data, "form_params": form_values});
        let masked_body = json!({"data": masked, "form_params": form_values});
        let body = serde_json::to_vec(&body).expect("serialisable");
        let version = self.version_for(&h, version_override);
        let webhook_id = uuid::Uuid::new_v4().simple().to_string();
        let ex = self
            .exchange(
                &url,
                h.token.as_deref(),
                &version,
                &webhook_id,
                reqwest::Body::from(body.clone()),
            )
            .await;
        let request = format!("POST {url}");
        let mut judge = Judge::new(&request);
        let mut out = FormOutcome {
            http_status: ex.status,
            elapsed: ex.elapsed,
            ..FormOutcome::default()
        };
        let mut failed_call = false;
        if let Some((rule, msg)) = &ex.failure {
            judge.breach(&format!("form.{rule}"), "$", msg.clone());
            out.failure = Some(msg.clone());
        } else if let Some(status) = ex.status {
            if contract::is_2xx(status) {
                out.form = contract::check_form(&mut judge, &ex.body);
            } else {
                // A failed form call (404 "No form defined for action.", a 500) carries the
                // hub's text as the form's error; see `failed_answer`.
                let failed = crate::failed_answer::read(&mut judge, "form", status, &ex.body);
                out.error = Some(
                    failed
                        .message
                        .clone()
                        .unwrap_or_else(|| failed.summary(status)),
                );
                failed_call = true;
                out.form = failed.parsed;
            }
        }
        if let Some(form) = out.form.as_ref().filter(|_| !failed_call) {
            match form {
                Value::Array(a) => out.fields = a.clone(),
                Value::Object(o) => {
                    out.fields = o
                        .get("fields")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    out.error = o.get("error").and_then(Value::as_str).map(str::to_owned);
                    if let Some(state) = o.get("state").and_then(Value::as_object) {
                        out.refresh_time = state
                            .get("refresh_time")
                            .or_else(|| state.get("refreshTime"))
                            .and_then(Value::as_u64);
                        self.store_state(
                            user,
                            &integration,
                            Some(state.get("data").and_then(Value::as_str).map(str::to_owned)),
                        );
                    }
                }
                _ => {}
            }
        }
        out.oauth_links = out
            .fields
            .iter()
            .filter(|f| {
                f.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.starts_with("oauth_link"))
            })
            .filter_map(|f| {
                f.get("oauth_url")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        out.breaches = judge.breaches;
        self.journal.push(JournalEntry {
            id: 0,
            at: now_iso(),
            kind: "form".into(),
            method: "POST".into(),
            url: url.clone(),
            request_headers: self.masked_headers(h.token.as_deref(), &version, &webhook_id),
            request_body: self.journal.clip(masked_body.to_string().as_bytes()),
            request_bytes: body.len() as u64,
            status: ex.status,
            response_body: self.journal.clip(&ex.body),
            failure: out.failure.clone(),
            breaches: out.breaches.clone(),
            elapsed_ms: ex.elapsed.as_millis() as u64,
            oauth_links: out.oauth_links.clone(),
        });
        Ok(out)
    }

    /// Checks form values the way Looker's form UI does before it lets a user send.
    pub(super) fn validate_form(
        form: &FormOutcome,
        values: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        if let Some(e) = &form.error {
            return Err(format!("the form reports an error: {e}"));
        }
        if let Some(f) = &form.failure {
            return Err(format!("the form could not be fetched: {f}"));
        }
        for f in &form.fields {
            let Some(name) = f.get("name").and_then(Value::as_str) else {
                continue;
            };
            let label = f.get("label").and_then(Value::as_str).unwrap_or(name);
            if !values.contains_key(name)
                && let Some(d) = f.get("default").and_then(Value::as_str)
            {
                values.insert(name.to_owned(), d.to_owned());
            }
            let value = values.get(name).filter(|v| !v.is_empty());
            if f.get("required").and_then(Value::as_bool) == Some(true) && value.is_none() {
                return Err(format!(
                    "required form field {label:?} ({name}) has no value"
                ));
            }
            if let (Some(v), Some("select")) = (value, f.get("type").and_then(Value::as_str)) {
                let ok = f.get("options").and_then(Value::as_array).is_some_and(|o| {
                    o.iter()
                        .any(|o| o.get("name").and_then(Value::as_str) == Some(v))
                });
                if !ok {
                    return Err(format!(
                        "form field {label:?} ({name}): {v:?} is not one of its options"
                    ));
                }
            }
        }
        Ok(())
    }

    /// A hub POSTs state to a state_url: one use, at most 32 KB.
    pub(crate) fn post_state(&self, token: &str, body: &[u8]) -> Result<(), StateRejected> {
        if body.len() > contract::STATE_LIMIT {
            return Err(StateRejected::TooLarge(body.len()));
        }
        let text = std::str::from_utf8(body).map_err(|_| StateRejected::NotUtf8)?;
        let mut st = self.lock();
        let (user, integration) = st
            .state_tokens
            .remove(token)
            .ok_or(StateRejected::UnknownToken)?;
        st.user_state.insert((user, integration), text.to_owned());
        Ok(())
    }
}

/// Why a hub's state POST is refused (the HTTP layer picks the status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StateRejected {
    #[error("state is {0} bytes; the limit is 32 KB")]
    TooLarge(usize),
    #[error("state must be UTF-8 text")]
    NotUtf8,
    #[error("unknown or already used state URL")]
    UnknownToken,
}
