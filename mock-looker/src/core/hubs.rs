//! Registered hubs: listing their actions, admin settings, and whether Looker offers an action.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Core, Hub, HubOptions, JournalEntry, MockError};
use crate::action::Action;
use crate::clock::now_iso;
use crate::contract::{self, Judge};
use crate::look::Look;

impl Core {
    pub(super) fn version_for(&self, hub: &Hub, over: Option<&str>) -> String {
        over.map(str::to_owned)
            .or_else(|| hub.looker_version.clone())
            .unwrap_or_else(|| self.config.looker_version.clone())
    }

    /// Registers a hub and lists its actions.
    pub async fn register_hub(&self, url: &str, options: HubOptions) -> Result<Hub, MockError> {
        let HubOptions {
            token,
            looker_version,
        } = options;
        if !contract::is_http_url(url) {
            return Err(MockError::BadUrl(url.to_owned()));
        }
        let id = {
            let mut st = self.lock();
            let id = st.next_hub.to_string();
            st.next_hub += 1;
            st.hubs.push(Hub {
                id: id.clone(),
                url: url.to_owned(),
                has_authorization_token: token.is_some(),
                token,
                looker_version,
                label: None,
                actions: Vec::new(),
                breaches: Vec::new(),
                fetch_error: None,
                settings: BTreeMap::new(),
            });
            id
        };
        self.refresh_hub(&id).await
    }

    /// Lists a hub's actions again (Looker does on create/update and periodically).
    pub async fn refresh_hub(&self, id: &str) -> Result<Hub, MockError> {
        let hub = self
            .hub(id)
            .ok_or_else(|| MockError::UnknownHub(id.to_owned()))?;
        let version = self.version_for(&hub, None);
        let webhook_id = uuid::Uuid::new_v4().simple().to_string();
        let ex = self
            .exchange(
                &hub.url,
                hub.token.as_deref(),
                &version,
                &webhook_id,
                reqwest::Body::from(""),
            )
            .await;
        let request = format!("POST {}", hub.url);
        let mut judge = Judge::new(&request);
        let mut parsed = None;
        let mut fetch_error = None;
        match (&ex.failure, ex.status) {
            (Some((rule, msg)), _) => {
                judge.breach(&format!("list.{rule}"), "$", msg.clone());
                fetch_error = Some(msg.clone());
            }
            (None, Some(status)) if contract::is_2xx(status) => {
                parsed = contract::check_list(&mut judge, &ex.body);
            }
            (None, Some(status)) => {
                // A refused list (a bad token: 403 with the hub's error text) is a failure
                // reported as such, not a breach; see `failed_answer`.
                let failed = crate::failed_answer::read(&mut judge, "list", status, &ex.body);
                fetch_error = Some(format!("the hub answered {}", failed.summary(status)));
            }
            (None, None) => {}
        }
        let actions: Vec<Action> = parsed
            .as_ref()
            .and_then(|v| v.get("integrations"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Action::from_json).collect())
            .unwrap_or_default();
        if fetch_error.is_none() && parsed.is_none() {
            fetch_error = Some("the hub's answer is not a valid action list".into());
        }
        let label = parsed
            .as_ref()
            .and_then(|v| v.get("label"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.journal.push(JournalEntry {
            id: 0,
            at: now_iso(),
            kind: "list".into(),
            method: "POST".into(),
            url: hub.url.clone(),
            request_headers: self.masked_headers(hub.token.as_deref(), &version, &webhook_id),
            request_body: String::new(),
            request_bytes: 0,
            status: ex.status,
            response_body: self.journal.clip(&ex.body),
            failure: ex.failure.as_ref().map(|f| f.1.clone()),
            breaches: judge.breaches.clone(),
            elapsed_ms: ex.elapsed.as_millis() as u64,
            oauth_links: Vec::new(),
        });
        let mut st = self.lock();
        let h = st
            .hubs
            .iter_mut()
            .find(|h| h.id == id)
            .ok_or_else(|| MockError::UnknownHub(id.to_owned()))?;
        h.label = label;
        h.actions = actions;
        h.breaches = judge.breaches;
        h.fetch_error = fetch_error;
        for a in &h.actions {
            h.settings.entry(a.name.clone()).or_default();
        }
        Ok(h.clone())
    }

    pub fn remove_hub(&self, id: &str) -> bool {
        let mut st = self.lock();
        let before = st.hubs.len();
        st.hubs.retain(|h| h.id != id);
        st.hubs.len() != before
    }

    pub fn update_hub(
        &self,
        id: &str,
        url: Option<String>,
        token: Option<Option<String>>,
    ) -> Result<(), MockError> {
        let mut st = self.lock();
        let h = st
            .hubs
            .iter_mut()
            .find(|h| h.id == id)
            .ok_or_else(|| MockError::UnknownHub(id.to_owned()))?;
        if let Some(u) = url {
            h.url = u;
        }
        if let Some(t) = token {
            h.has_authorization_token = t.is_some();
            h.token = t;
        }
        Ok(())
    }

    /// Sets an action's admin settings (enabled, params).
    pub fn configure(
        &self,
        hub: &str,
        action: &str,
        enabled: Option<bool>,
        params: BTreeMap<String, String>,
    ) -> Result<(), MockError> {
        let mut st = self.lock();
        let h = st
            .hubs
            .iter_mut()
            .find(|h| h.id == hub)
            .ok_or_else(|| MockError::UnknownHub(hub.to_owned()))?;
        if !h.actions.iter().any(|a| a.name == action) {
            return Err(MockError::UnknownAction {
                hub: hub.to_owned(),
                action: action.to_owned(),
            });
        }
        let s = h.settings.entry(action.to_owned()).or_default();
        if let Some(e) = enabled {
            s.enabled = e;
        }
        for (k, v) in params {
            if v.is_empty() {
                s.params.remove(&k);
            } else {
                s.params.insert(k, v);
            }
        }
        Ok(())
    }

    pub(super) fn action_of(&self, hub: &str, action: &str) -> Result<(Hub, Action), MockError> {
        let h = self
            .hub(hub)
            .ok_or_else(|| MockError::UnknownHub(hub.to_owned()))?;
        let a = h
            .actions
            .iter()
            .find(|a| a.name == action)
            .cloned()
            .ok_or_else(|| MockError::UnknownAction {
                hub: hub.to_owned(),
                action: action.to_owned(),
            })?;
        Ok((h, a))
    }

    pub(super) fn effective_params(
        hub: &Hub,
        action: &str,
        over: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut p = hub
            .settings
            .get(action)
            .map(|s| s.params.clone())
            .unwrap_or_default();
        p.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
        p
    }

    /// Whether Looker would offer `action` for `look` with these params; `Err` is the reason.
    pub fn offer(
        &self,
        hub: &str,
        action: &str,
        look: &Look,
        params: &BTreeMap<String, String>,
    ) -> Result<(), MockError> {
        let (h, a) = self.action_of(hub, action)?;
        let p = Self::effective_params(&h, action, params);
        a.offer(look, &p).map_err(MockError::NotOffered)
    }
}
