//! The Looker side of [`Env`]: sends, forms and action lists through the mock Looker, and the
//! OAuth login its scripted browser performs (with the tampering scenarios ask for).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::Env;
use super::look::to_look;
use crate::format::{Download, Tamper};
use crate::harness::{
    ActionList, Breach, FormRequest, FormResult, Hub as _, LoginRequest, LoginResult, Looker,
    SendRequest, SendResult,
};

impl Looker for Env {
    async fn send(&self, req: SendRequest) -> anyhow::Result<SendResult> {
        let refused = |msg: String| SendResult {
            http_status: 0,
            body: Value::Null,
            success: false,
            message: Some(msg),
            breaches: vec![],
            refresh_query: false,
            validation_errors: json!({}),
            webhook_id: None,
        };
        let look = to_look(&req.look)?;
        let hub = self.hub_id(None).await?;
        let mut r = mock_looker::SendRequest::new(&hub, &req.action, look);
        r.params = req.params.clone();
        r.form_values = req.form.clone();
        r.looker_version = req.looker_version.clone().filter(|v| v != "none");
        r.force = req.force;
        r.user_id = req.user.clone();
        r.cell_value = req.cell_value.clone();
        r.webhook_id = req.webhook_id.clone();
        if let Some(f) = &req.format {
            match f.parse::<mock_looker::Format>() {
                Ok(f) => r.format = Some(f),
                Err(e) => return Ok(refused(format!("unknown format `{f}`: {e}"))),
            }
        }
        r.download = req.download.map(|d| match d {
            Download::Push => mock_looker::Download::Push,
            Download::Url => mock_looker::Download::Url,
        });
        match self.looker.send(r).await {
            Ok(o) => Ok(SendResult {
                http_status: o.http_status.unwrap_or(0),
                body: o.body.clone().unwrap_or(Value::Null),
                success: o.success,
                message: o.message.clone().or(o.failure.clone()),
                breaches: o.breaches.iter().map(breach).collect(),
                refresh_query: o.refresh_query,
                validation_errors: Value::Object(o.validation_errors.clone()),
                webhook_id: Some(o.webhook_id.clone()),
            }),
            // Looker refusing to send (not offered, bad format) is an outcome, not a harness error.
            Err(e) => Ok(refused(format!("the mock Looker refused to send: {e}"))),
        }
    }

    async fn fetch_form(&self, req: FormRequest) -> anyhow::Result<FormResult> {
        let hub = self.hub_id(req.looker_version.as_deref()).await?;
        let user = req.user.as_deref().unwrap_or("1");
        match self
            .looker
            .fetch_form_as(
                user,
                &hub,
                &req.action,
                req.params.clone(),
                req.form.clone(),
            )
            .await
        {
            Ok(f) => Ok(FormResult {
                http_status: f.http_status.unwrap_or(0),
                body: f.form.clone().unwrap_or(Value::Null),
                breaches: f.breaches.iter().map(breach).collect(),
            }),
            Err(e) => Ok(FormResult {
                http_status: 0,
                body: json!({"error": format!("the mock Looker refused: {e}")}),
                breaches: vec![],
            }),
        }
    }

    async fn list_actions(&self, version: Option<String>) -> anyhow::Result<ActionList> {
        if version.as_deref() == Some("none") {
            // No Looker User-Agent: only a raw request can do that.
            let client = serving::http_client().build().expect("an HTTP client");
            let mut rq = client.post(format!("{}/", self.hub_url()));
            if let Some(t) = self.hub_token() {
                rq = rq.header("Authorization", format!("Token token=\"{t}\""));
            }
            let text = rq.send().await?.text().await?;
            let v: Value = serde_json::from_str(text.trim_start()).context("hub list answer")?;
            let actions = v
                .get("integrations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            return Ok(ActionList {
                actions,
                breaches: vec![],
            });
        }
        let hub = self
            .looker
            .register_hub(
                &self.hub_url(),
                mock_looker::HubOptions {
                    token: self.hub_token(),
                    looker_version: version,
                },
            )
            .await?;
        let mut breaches: Vec<Breach> = hub.breaches.iter().map(breach).collect();
        if let Some(e) = &hub.fetch_error {
            breaches.push(Breach {
                request: "list".into(),
                rule: "fetch_error".into(),
                json_path: "$".into(),
                detail: e.clone(),
            });
        }
        Ok(ActionList {
            actions: hub.actions.iter().map(|a| a.raw.clone()).collect(),
            breaches,
        })
    }

    async fn login(&self, req: LoginRequest) -> anyhow::Result<LoginResult> {
        self.writeback()?;
        let hub = self.hub_id(None).await?;
        let mut params = BTreeMap::new();
        if let Some(v) = &req.cell_value {
            params.insert("value".to_string(), v.clone());
        }
        let before = self.looker.user_state(&req.user, &hub, &req.action);
        let form = self
            .looker
            .fetch_form_as(&req.user, &hub, &req.action, params, BTreeMap::new())
            .await
            .with_context(|| format!("fetching the form of {} as {}", req.action, req.user))?;
        let breaches = form.breaches.iter().map(breach).collect();
        let Some(oauth_url) = form.oauth_links.first().cloned() else {
            return Ok(LoginResult {
                oauth_url: None,
                status: 0,
                body: form
                    .form
                    .map(|f| f.to_string())
                    .or(form.failure)
                    .unwrap_or_default(),
                hops: 0,
                state_stored: false,
                breaches,
            });
        };
        let (out, extra) = self
            .follow(&oauth_url, &req.user, &req.action, req.tamper)
            .await?;
        let after = self.looker.user_state(&req.user, &hub, &req.action);
        Ok(LoginResult {
            oauth_url: Some(oauth_url),
            status: out.status,
            body: out.body,
            hops: out.visited.len() + extra,
            state_stored: after.is_some() && after != before,
            breaches,
        })
    }

    async fn revoke(&self, user: String) -> anyhow::Result<usize> {
        self.writeback()?;
        Ok(self.looker.oauth_provider().revoke_user(&user))
    }

    async fn set_user_state(
        &self,
        user: String,
        action: String,
        state: Option<String>,
    ) -> anyhow::Result<()> {
        self.writeback()?;
        let hub = self.hub_id(None).await?;
        self.looker.set_user_state(&user, &hub, &action, state);
        Ok(())
    }
}

impl Env {
    async fn hub_id(&self, version: Option<&str>) -> anyhow::Result<String> {
        let version = version.or(self.default_version.as_deref());
        let key = version.unwrap_or("").to_string();
        let mut hubs = self.hubs.lock().await;
        if let Some(id) = hubs.get(&key) {
            return Ok(id.clone());
        }
        let hub = self
            .looker
            .register_hub(
                &self.hub_url(),
                mock_looker::HubOptions {
                    token: self.hub_token(),
                    looker_version: version.map(str::to_string),
                },
            )
            .await?;
        if let Some(cause) = harness_cause(&hub) {
            // Our side or the setup failed, not the hub's contract: end the scenario now with
            // the real cause instead of running its steps against a hub that listed nothing.
            anyhow::bail!("{cause}");
        }
        hubs.insert(key, hub.id.clone());
        Ok(hub.id)
    }

    /// Follows `oauth_url` as `user` with the scripted browser, altering the state on the way
    /// when asked. Returns the browser's outcome and how many hops were made before it.
    async fn follow(
        &self,
        oauth_url: &str,
        user: &str,
        action: &str,
        tamper: Option<Tamper>,
    ) -> anyhow::Result<(mock_looker::browser::LoginOutcome, usize)> {
        let start = match tamper {
            None => oauth_url.to_string(),
            Some(Tamper::OauthUrl) => tamper_state(oauth_url)?,
            Some(Tamper::Expired) => {
                let wb = self.writeback()?;
                let sealer = hub::writeback::StateSealer::new(&wb.secret, Duration::from_secs(600));
                map_state(oauth_url, |s| {
                    let st = sealer
                        .open(s, action)
                        .map_err(|e| anyhow::anyhow!("the form's state does not open: {e}"))?;
                    // Expired a minute ago: what a user who left the login page open sees.
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_secs();
                    Ok(sealer.seal_at(&st.state_url, action, now.saturating_sub(60)))
                })?
            }
            Some(Tamper::Redirect) => {
                // The first hop by hand: the hub's /oauth sends the browser to the provider with
                // the state, which the provider will hand back to /oauth_redirect. Alter it there.
                let client = serving::http_client()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?;
                let resp = client.get(oauth_url).send().await?;
                let status = resp.status();
                let Some(loc) = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                else {
                    let body = resp.text().await.unwrap_or_default();
                    return Ok((
                        mock_looker::browser::LoginOutcome {
                            status: status.as_u16(),
                            body,
                            visited: vec![oauth_url.to_string()],
                        },
                        0,
                    ));
                };
                let out = self
                    .looker
                    .browser_login(&tamper_state(&loc)?, user)
                    .await?;
                return Ok((out, 1));
            }
        };
        Ok((self.looker.browser_login(&start, user).await?, 0))
    }
}

/// One character of the `state` query parameter of `url` changed (in the middle, where every
/// base64url character carries payload bits, so AES-GCM authentication must fail).
fn tamper_state(url: &str) -> anyhow::Result<String> {
    map_state(url, |s| {
        let mut b = s.as_bytes().to_vec();
        anyhow::ensure!(b.len() > 2, "the state `{s}` is too short to tamper with");
        let i = b.len() / 2;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        Ok(String::from_utf8(b)?)
    })
}

/// `url` with its `state` query parameter replaced by `f(state)`.
fn map_state(url: &str, f: impl FnOnce(&str) -> anyhow::Result<String>) -> anyhow::Result<String> {
    let mut u = url::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    let state = pairs
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.clone())
        .with_context(|| format!("no state parameter in {url}"))?;
    let new = f(&state)?;
    u.query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(k, v)| {
            if k == "state" {
                (k.as_str(), new.as_str())
            } else {
                (k.as_str(), v.as_str())
            }
        }));
    Ok(u.into())
}

fn breach(b: &mock_looker::Breach) -> Breach {
    let v = serde_json::to_value(b).unwrap_or(Value::Null);
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Breach {
        request: s("request"),
        rule: s("rule"),
        json_path: s("json_path"),
        detail: s("detail"),
    }
}

/// Why a hub's action list failed, when that is a setup mistake rather than a hub bug: the hub
/// refused our token (401/403), or nothing answered at its URL.
fn harness_cause(hub: &mock_looker::Hub) -> Option<String> {
    let error = hub.fetch_error.as_deref()?;
    if error.contains("HTTP 401") || error.contains("HTTP 403") {
        Some(format!(
            "the hub at {} refused the action list ({error}): check --hub-token",
            hub.url
        ))
    } else if error.contains("connect") {
        Some(format!(
            "the hub at {} cannot be reached ({error}): check --hub-url and that the hub is running",
            hub.url
        ))
    } else {
        None
    }
}
