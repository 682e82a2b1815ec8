//! The engine shared by the library handle, the HTTP server and the API: hubs, actions,
//! forms, sends, downloads, per-user state, the journal.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::action::Action;
use crate::activity::{ActivityLog, EventInput};
use crate::clock::now_iso;
use crate::contract::{self, Breach, ExecuteAnswer, Judge};
use crate::format::{Format, LookChunks, WriteOptions, write_json_str};
pub use crate::journal::JournalEntry;
use crate::journal::{Journal, Limits as JournalLimits};
use crate::look::Look;

mod queries;

/// Looker's id of an action of a hub (`<hub>::<action>`): what per-user state is kept under.
pub(crate) fn integration_id(hub: &str, action: &str) -> String {
    format!("{hub}::{action}")
}

/// The Looker release the mock claims by default (`User-Agent: LookerOutgoingWebhook/<v>`).
pub const DEFAULT_LOOKER_VERSION: &str = "26.20.0";

/// Settings of a mock Looker.
#[derive(Debug, Clone)]
pub struct Config {
    /// Extra Looks loaded from this directory (YAML/JSON).
    pub looks_dir: Option<PathBuf>,
    /// Load the built-in demo Looks.
    pub builtin_looks: bool,
    /// Hubs registered at start: URL and optional token.
    pub hubs: Vec<(String, Option<String>)>,
    pub looker_version: String,
    /// API 4.0 credentials; generated when None.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Longest wait for one hub exchange (request sent to answer read).
    pub hub_timeout: Duration,
    /// Largest hub answer read; a bigger one is a reported failure.
    pub max_answer_bytes: usize,
    /// Lifetime of a download URL (Looker: 3600 s).
    pub download_ttl: Duration,
    /// `X-Looker-Instance`; generated when None.
    pub instance_id: Option<String>,
    /// Redirects followed before giving up (a redirect loop ends as a reported failure).
    pub max_redirects: usize,
    /// Header-read and idle timeouts and the connection limit of the mock's own server.
    pub limits: serving::Limits,
    /// Journal entries kept, oldest dropped first (see [`crate::journal`]).
    pub journal_entries: usize,
    /// Bytes kept of each body (and other text) of a journal entry; the rest is replaced by a
    /// marker saying how many bytes were dropped.
    pub journal_body_bytes: usize,
    /// Estimated bytes the whole journal may hold, oldest entries dropped first.
    pub journal_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            looks_dir: None,
            builtin_looks: true,
            hubs: Vec::new(),
            looker_version: DEFAULT_LOOKER_VERSION.into(),
            client_id: None,
            client_secret: None,
            hub_timeout: Duration::from_secs(120),
            max_answer_bytes: 1024 * 1024,
            download_ttl: Duration::from_secs(3600),
            instance_id: None,
            max_redirects: 5,
            limits: serving::Limits::default(),
            journal_entries: crate::journal::DEFAULT_JOURNAL_ENTRIES,
            journal_body_bytes: crate::journal::DEFAULT_JOURNAL_BODY_BYTES,
            journal_bytes: crate::journal::DEFAULT_JOURNAL_BYTES,
        }
    }
}

/// Errors of the library API (a hub misbehaving is not one: it is a reported outcome).
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("no hub with id {0:?}")]
    UnknownHub(String),
    #[error("hub {hub:?} lists no action {action:?}")]
    UnknownAction { hub: String, action: String },
    #[error("Looker would not offer this action: {0}")]
    NotOffered(String),
    #[error("the action form rejects the values: {0}")]
    FormRejected(String),
    #[error("invalid hub URL {0:?}")]
    BadUrl(String),
    #[error("no Look with id {0:?}")]
    UnknownLook(String),
}

/// How the data reaches the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Download {
    /// The data rides in `attachment.data`.
    Push,
    /// `scheduled_plan.download_url`: a one-time URL of the mock.
    Url,
}

/// A registered hub.
#[derive(Debug, Clone, Serialize)]
pub struct Hub {
    pub id: String,
    pub url: String,
    #[serde(skip)]
    pub token: Option<String>,
    pub has_authorization_token: bool,
    pub looker_version: Option<String>,
    pub label: Option<String>,
    pub actions: Vec<Action>,
    /// Breaches of the last list answer.
    pub breaches: Vec<Breach>,
    /// Why the last list failed (Looker's `fetch_error_message`).
    pub fetch_error: Option<String>,
    /// Per-action admin settings: enabled and params.
    pub settings: BTreeMap<String, IntegrationSettings>,
}

/// What an admin configured for one action.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntegrationSettings {
    pub enabled: bool,
    pub params: BTreeMap<String, String>,
}

/// A form as fetched from a hub.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FormOutcome {
    pub http_status: Option<u16>,
    /// The form answer as parsed (`{fields,state}`, `{error}` or a bare array).
    pub form: Option<Value>,
    /// The fields, wherever they were (`fields` or the bare array).
    pub fields: Vec<Value>,
    /// `error` of the form answer.
    pub error: Option<String>,
    /// OAuth links offered (type `oauth_link`/`oauth_link_google`), for the caller to follow.
    pub oauth_links: Vec<String>,
    /// `state.refresh_time` when given.
    pub refresh_time: Option<u64>,
    pub breaches: Vec<Breach>,
    /// Transport failure (timeout, too large, connection).
    pub failure: Option<String>,
    pub elapsed: Duration,
}

/// A request to send a Look to an action.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub hub: String,
    pub action: String,
    pub look: Look,
    /// None: the first of the action's supported formats the mock can write.
    pub format: Option<Format>,
    /// None: push when the action supports it, else a download URL.
    pub download: Option<Download>,
    /// None: "unformatted" when supported.
    pub apply_formatting: Option<bool>,
    /// None: "noapply" when supported.
    pub apply_vis: Option<bool>,
    /// Admin params; merged over the ones configured for the integration.
    pub params: BTreeMap<String, String>,
    /// Form values (sent as `form_params`).
    pub form_values: BTreeMap<String, String>,
    /// Overrides the hub's Looker version for this send.
    pub looker_version: Option<String>,
    /// The Looker user sending (per-user state); "1" by default.
    pub user_id: Option<String>,
    /// Send even where Looker would refuse (missing params, unmatched tags, invalid form).
    pub force: bool,
    /// Set when a scheduled plan sends.
    pub scheduled_plan_id: Option<String>,
    /// A cell action (`"type":"cell"`) on this clicked value, sent as `data.value`.
    pub cell_value: Option<String>,
    /// `X-Looker-Webhook-Id` of the execute; None: a fresh one, as for every new job. Set it
    /// to replay a job (a retried schedule, a re-delivered request) with the same id.
    pub webhook_id: Option<String>,
}

impl SendRequest {
    pub fn new(hub: impl Into<String>, action: impl Into<String>, look: Look) -> SendRequest {
        SendRequest {
            hub: hub.into(),
            action: action.into(),
            look,
            format: None,
            download: None,
            apply_formatting: None,
            apply_vis: None,
            params: BTreeMap::new(),
            form_values: BTreeMap::new(),
            looker_version: None,
            user_id: None,
            force: false,
            scheduled_plan_id: None,
            cell_value: None,
            webhook_id: None,
        }
    }

    pub fn param(mut self, k: &str, v: &str) -> Self {
        self.params.insert(k.into(), v.into());
        self
    }

    pub fn form_value(mut self, k: &str, v: &str) -> Self {
        self.form_values.insert(k.into(), v.into());
        self
    }

    pub fn format(mut self, f: Format) -> Self {
        self.format = Some(f);
        self
    }

    pub fn download(mut self, d: Download) -> Self {
        self.download = Some(d);
        self
    }
}

/// Durations of one send.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// From the first byte sent to the answer fully read.
    pub total: Duration,
    /// Until the answer's status line arrived.
    pub until_headers: Option<Duration>,
    /// Form fetches before the execute.
    pub form: Option<Duration>,
}

/// What happened when a Look was sent.
#[derive(Debug, Clone, Serialize)]
pub struct SendOutcome {
    pub webhook_id: String,
    pub http_status: Option<u16>,
    /// The answer as parsed (None when it was not JSON).
    pub body: Option<Value>,
    /// Looker's reading: HTTP 200 and `looker.success: true`.
    pub success: bool,
    pub message: Option<String>,
    pub refresh_query: bool,
    pub validation_errors: Map<String, Value>,
    /// Contract breaches of the form and execute answers.
    pub breaches: Vec<Breach>,
    /// Transport failure: timeout, answer too large, redirect loop, connection error.
    pub failure: Option<String>,
    pub format: Format,
    pub download: Download,
    pub apply_formatting: bool,
    pub apply_vis: bool,
    pub rows: u64,
    /// Times the hub fetched the download URL before answering.
    pub download_fetches: u32,
    pub timings: Timings,
}

pub(crate) struct DownloadEntry {
    pub look: Look,
    pub format: Format,
    pub opts: WriteOptions,
    pub ran_at: String,
    pub created: Instant,
    pub fetches: u32,
}

/// Mutable state, behind one mutex never held across an await.
#[derive(Default)]
pub(crate) struct State {
    pub hubs: Vec<Hub>,
    pub looks: Vec<Look>,
    pub downloads: HashMap<String, DownloadEntry>,
    /// state_url token -> (user id, integration id); one use.
    pub state_tokens: HashMap<String, (String, String)>,
    /// (user id, integration id) -> state_json.
    pub user_state: HashMap<(String, String), String>,
    pub next_hub: u64,
}

pub(crate) struct Core {
    pub config: Config,
    pub base_url: String,
    pub client: reqwest::Client,
    pub instance_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub state: Mutex<State>,
    /// Every exchange with a hub, bounded (its own lock: recording never waits for the state).
    pub journal: Journal,
    pub activity: ActivityLog,
    pub schedules: crate::schedule::Schedules,
    /// Saved queries (API `create_query`); a plan may name one.
    pub queries: queries::SavedQueries,
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

/// The answer to one request, read with Looker's patience and size limit.
struct Exchange {
    status: Option<u16>,
    body: Vec<u8>,
    failure: Option<(String, String)>,
    elapsed: Duration,
    until_headers: Option<Duration>,
}

impl Core {
    pub fn new(config: Config, base_url: String) -> anyhow::Result<Arc<Core>> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::limited(config.max_redirects))
            .connect_timeout(config.hub_timeout.min(Duration::from_secs(30)))
            .build()?;
        let mut looks = Vec::new();
        if config.builtin_looks {
            looks.extend(crate::builtin_looks());
        }
        if let Some(dir) = &config.looks_dir {
            looks.extend(Look::load_dir(dir)?);
        }
        // Assign ids to Looks without one, after the highest numeric id.
        let mut next = looks
            .iter()
            .filter_map(|l| l.id()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let mut seen = std::collections::HashSet::new();
        let looks = looks
            .into_iter()
            .map(|l| {
                if l.id().is_none() || !seen.insert(l.id().unwrap_or("").to_owned()) {
                    let id = next.to_string();
                    next += 1;
                    seen.insert(id.clone());
                    l.with_id(&id)
                } else {
                    l
                }
            })
            .collect();
        Ok(Arc::new(Core {
            base_url,
            client,
            instance_id: config.instance_id.clone().unwrap_or_else(|| random_hex(16)),
            client_id: config.client_id.clone().unwrap_or_else(|| random_hex(10)),
            client_secret: config
                .client_secret
                .clone()
                .unwrap_or_else(|| random_hex(12)),
            state: Mutex::new(State {
                looks,
                next_hub: 1,
                ..State::default()
            }),
            journal: Journal::new(JournalLimits {
                entries: config.journal_entries,
                body_bytes: config.journal_body_bytes,
                bytes: config.journal_bytes,
            }),
            activity: ActivityLog::default(),
            schedules: Default::default(),
            queries: Default::default(),
            config,
        }))
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every Look: static ones, then the System Activity Looks as of now.
    pub fn looks(&self) -> Vec<Look> {
        let mut all = self.lock().looks.clone();
        for (id, ..) in crate::activity::ACTIVITY_LOOKS {
            if !all.iter().any(|l| l.id() == Some(id)) {
                all.extend(self.activity_look(id));
            }
        }
        all
    }

    pub fn look(&self, id: &str) -> Option<Look> {
        let found = self
            .lock()
            .looks
            .iter()
            .find(|l| l.id() == Some(id))
            .cloned();
        found.or_else(|| self.activity_look(id))
    }

    /// A System Activity Look, materialised from the events recorded so far.
    fn activity_look(&self, id: &str) -> Option<Look> {
        let (id, title, explore, fields) =
            crate::activity::ACTIVITY_LOOKS.iter().find(|l| l.0 == id)?;
        let q = crate::activity::ActivityQuery {
            title: Some(title.to_string()),
            explore: explore.to_string(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            sorts: vec![format!("{} desc", fields[0])],
            limit: Some("5000".into()),
            ..Default::default()
        };
        match crate::activity::query_look(&q, &self.activity.events(), &self.schedules.jobs()) {
            Ok(look) => Some(look.with_id(id)),
            Err(e) => {
                tracing::error!(%e, "System Activity Look {id} failed");
                None
            }
        }
    }

    pub fn add_look(&self, look: Look) -> Look {
        let mut st = self.lock();
        let next = st
            .looks
            .iter()
            .filter_map(|l| l.id()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let look = match look.id() {
            Some(id) if !st.looks.iter().any(|l| l.id() == Some(id)) => look,
            _ => look.with_id(&next.to_string()),
        };
        st.looks.push(look.clone());
        look
    }

    pub fn hub(&self, id: &str) -> Option<Hub> {
        self.lock().hubs.iter().find(|h| h.id == id).cloned()
    }

    pub fn hubs(&self) -> Vec<Hub> {
        self.lock().hubs.clone()
    }

    fn version_for(&self, hub: &Hub, over: Option<&str>) -> String {
        over.map(str::to_owned)
            .or_else(|| hub.looker_version.clone())
            .unwrap_or_else(|| self.config.looker_version.clone())
    }

    /// Sends one request to a hub with Looker's headers, reads the answer under the timeout
    /// and size cap, and never fails: problems come back in `failure`.
    async fn exchange(
        &self,
        url: &str,
        token: Option<&str>,
        version: &str,
        webhook_id: &str,
        body: reqwest::Body,
    ) -> Exchange {
        let start = Instant::now();
        let mut req = self
            .client
            .post(url)
            .header("User-Agent", format!("LookerOutgoingWebhook/{version}"))
            .header("X-Looker-Instance", &self.instance_id)
            .header("X-Looker-Webhook-Id", webhook_id)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token token=\"{t}\""));
        }
        let max = self.config.max_answer_bytes;
        let mut status = None;
        let mut until_headers = None;
        let mut buf = Vec::new();
        let work = async {
            let mut resp = req.send().await.map_err(classify)?;
            status = Some(resp.status().as_u16());
            until_headers = Some(start.elapsed());
            while let Some(chunk) = resp.chunk().await.map_err(classify)? {
                if buf.len() + chunk.len() > max {
                    return Err((
                        "answer_size".to_owned(),
                        format!("the answer exceeds {max} bytes; Looker stops reading"),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(())
        };
        let failure = match tokio::time::timeout(self.config.hub_timeout, work).await {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f),
            Err(_) => Some((
                "timeout".to_owned(),
                format!("no complete answer within {:?}", self.config.hub_timeout),
            )),
        };
        Exchange {
            status,
            body: buf,
            failure,
            elapsed: start.elapsed(),
            until_headers,
        }
    }

    pub fn journal_entries(&self) -> Vec<JournalEntry> {
        self.journal.all()
    }

    fn masked_headers(
        &self,
        token: Option<&str>,
        version: &str,
        webhook_id: &str,
    ) -> Vec<(String, String)> {
        let mut h = vec![
            (
                "User-Agent".into(),
                format!("LookerOutgoingWebhook/{version}"),
            ),
            ("X-Looker-Instance".into(), self.instance_id.clone()),
            ("X-Looker-Webhook-Id".into(), webhook_id.to_owned()),
            ("Content-Type".into(), "application/json".into()),
        ];
        if token.is_some() {
            h.push(("Authorization".into(), "Token token=\"********\"".into()));
        }
        h
    }

    /// Registers a hub and lists its actions.
    pub async fn register_hub(
        &self,
        url: &str,
        token: Option<String>,
        looker_version: Option<String>,
    ) -> Result<Hub, MockError> {
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
            (None, Some(status)) => {
                parsed = contract::check_list(&mut judge, status, &ex.body);
                if status != 200 {
                    fetch_error = Some(format!("hub answered HTTP {status}"));
                }
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

    fn action_of(&self, hub: &str, action: &str) -> Result<(Hub, Action), MockError> {
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

    fn effective_params(
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

    /// The `data` object Looker sends: params, plus state_url/state_json.
    fn data_object(
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

    fn store_state(&self, user: &str, integration: &str, state: Option<Option<String>>) {
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
        if let Some((rule, msg)) = &ex.failure {
            judge.breach(&format!("form.{rule}"), "$", msg.clone());
            out.failure = Some(msg.clone());
        } else if let Some(status) = ex.status {
            out.form = contract::check_form(&mut judge, status, &ex.body);
        }
        if let Some(form) = &out.form {
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
    fn validate_form(
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

    /// Sends a Look to an action exactly as Looker does, and judges the answer.
    pub async fn send(&self, req: SendRequest) -> Result<SendOutcome, MockError> {
        let (h, a) = self.action_of(&req.hub, &req.action)?;
        let user = req.user_id.clone().unwrap_or_else(|| "1".into());
        let integration = integration_id(&h.id, &a.name);
        let params = Self::effective_params(&h, &a.name, &req.params);
        let not_offered = |r: String| MockError::NotOffered(r);
        if !req.force {
            match &req.cell_value {
                // Looker offers a cell action in the "…" menu of a value, not in Send.
                Some(_) if !a.supported_action_types.iter().any(|t| t == "cell") => {
                    return Err(not_offered(format!(
                        "action {:?} is not a cell action: supported_action_types is {:?}",
                        a.name, a.supported_action_types
                    )));
                }
                Some(_) => {}
                None => a.offer(&req.look, &params).map_err(not_offered)?,
            }
        }
        let format = a.pick_format(req.format).map_err(not_offered)?;
        let apply_formatting = a
            .pick_flag(
                &a.supported_formattings,
                req.apply_formatting,
                "formatted",
                "unformatted",
                "formatting",
            )
            .map_err(not_offered)?;
        let apply_vis = a
            .pick_flag(
                &a.supported_visualization_formattings,
                req.apply_vis,
                "apply",
                "noapply",
                "visualization formatting",
            )
            .map_err(not_offered)?;
        let supports = |d: &str| {
            a.supported_download_settings.is_empty()
                || a.supported_download_settings.iter().any(|s| s == d)
        };
        let download = match req.download {
            Some(Download::Push) if !supports("push") && !req.force => {
                return Err(not_offered(format!(
                    "action {:?} does not accept pushed data (supported_download_settings {:?})",
                    a.name, a.supported_download_settings
                )));
            }
            Some(Download::Url) if !supports("url") && !req.force => {
                return Err(not_offered(format!(
                    "action {:?} does not accept a download URL (supported_download_settings {:?})",
                    a.name, a.supported_download_settings
                )));
            }
            Some(d) => d,
            None if supports("push") => Download::Push,
            None => Download::Url,
        };
        let mut breaches = Vec::new();
        let mut form_values = req.form_values.clone();
        let mut form_time = None;
        // A cell action's form request carries the clicked value too (`data.value`).
        let mut form_data = req.params.clone();
        if let Some(v) = &req.cell_value {
            form_data.insert("value".into(), v.clone());
        }
        if a.form_url.is_some() {
            let start = Instant::now();
            let mut form = self
                .fetch_form(
                    &h.id,
                    &a.name,
                    &form_data,
                    &BTreeMap::new(),
                    &user,
                    req.looker_version.as_deref(),
                )
                .await?;
            breaches.append(&mut form.breaches);
            let interactive_set = form.fields.iter().any(|f| {
                f.get("interactive").and_then(Value::as_bool) == Some(true)
                    && f.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| form_values.contains_key(n))
            });
            if interactive_set {
                // The user changed an interactive field: Looker re-queries with all values.
                form = self
                    .fetch_form(
                        &h.id,
                        &a.name,
                        &form_data,
                        &form_values,
                        &user,
                        req.looker_version.as_deref(),
                    )
                    .await?;
                breaches.append(&mut form.breaches);
            }
            form_time = Some(start.elapsed());
            if let Err(reason) = Self::validate_form(&form, &mut form_values)
                && !req.force
            {
                return Err(MockError::FormRejected(reason));
            }
        }
        let (mut data, mut masked_data) = self.data_object(&a, &integration, &user, &params);
        if let Some(v) = &req.cell_value {
            data.insert("value".into(), json!(v));
            masked_data.insert("value".into(), json!(v));
        }
        let version = self.version_for(&h, req.looker_version.as_deref());
        let look = req.look.clone();
        let ran_at = look.def().ran_at.clone().unwrap_or_else(|| {
            chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string()
        });
        let opts = WriteOptions {
            apply_formatting,
            apply_vis,
        };
        let download_token = (download == Download::Url).then(|| random_hex(20));
        let download_url = download_token
            .as_ref()
            .map(|t| format!("{}/downloads/{t}", self.base_url));
        if let Some(t) = &download_token {
            self.lock().downloads.insert(
                t.clone(),
                DownloadEntry {
                    look: look.clone(),
                    format,
                    opts,
                    ran_at: ran_at.clone(),
                    created: Instant::now(),
                    fetches: 0,
                },
            );
        }
        let look_id = look.id().unwrap_or("0").to_owned();
        let mut plan = Map::new();
        plan.insert("scheduled_plan_id".into(), json!(req.scheduled_plan_id));
        plan.insert("title".into(), json!(look.title()));
        plan.insert("type".into(), json!("Look"));
        plan.insert(
            "url".into(),
            json!(format!("{}/looks/{look_id}", self.base_url)),
        );
        plan.insert("query_id".into(), json!(look_id));
        plan.insert("query".into(), query_json(&look, &self.base_url));
        plan.insert("filters_differ_from_look".into(), json!(false));
        if let Some(u) = &download_url {
            plan.insert("download_url".into(), json!(u));
        }
        let plan = Value::Object(plan);
        let mut head = Vec::with_capacity(4096);
        head.extend_from_slice(if req.cell_value.is_some() {
            b"{\"type\":\"cell\",\"scheduled_plan\":"
        } else {
            b"{\"type\":\"query\",\"scheduled_plan\":"
        });
        head.extend_from_slice(&serde_json::to_vec(&plan).expect("serialisable"));
        let tail_of = |data: &Map<String, Value>| {
            let mut t = Vec::new();
            t.extend_from_slice(b",\"data\":");
            t.extend_from_slice(&serde_json::to_vec(data).expect("serialisable"));
            t.extend_from_slice(b",\"form_params\":");
            t.extend_from_slice(&serde_json::to_vec(&form_values).expect("serialisable"));
            t.push(b'}');
            t
        };
        let tail = tail_of(&data);
        let masked_tail = tail_of(&masked_data);
        let webhook_id = req
            .webhook_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let url = a.url.clone().unwrap_or_default();
        let (body, journal_body) = match download {
            Download::Push => {
                let mut prefix = head.clone();
                prefix.extend_from_slice(b",\"attachment\":{\"mimetype\":");
                write_json_str(&mut prefix, format.mimetype());
                prefix.extend_from_slice(b",\"extension\":");
                write_json_str(&mut prefix, format.extension());
                prefix.extend_from_slice(b",\"data\":\"");
                let mut suffix = b"\"}".to_vec();
                let jb = {
                    let mut j = prefix.clone();
                    j.extend_from_slice("[data streamed]\"}".as_bytes());
                    j.extend_from_slice(&masked_tail);
                    String::from_utf8_lossy(&j).into_owned()
                };
                suffix.extend_from_slice(&tail);
                let chunks = LookChunks::new(&look, format, opts, &ran_at).embedded(prefix, suffix);
                (chunks_body(chunks), jb)
            }
            Download::Url => {
                let mut b = head.clone();
                b.extend_from_slice(b",\"attachment\":null");
                let mut jb = b.clone();
                b.extend_from_slice(&tail);
                jb.extend_from_slice(&masked_tail);
                let once = futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from(b))]);
                (
                    reqwest::Body::wrap_stream(once),
                    String::from_utf8_lossy(&jb).into_owned(),
                )
            }
        };
        let ex = self
            .exchange(&url, h.token.as_deref(), &version, &webhook_id, body)
            .await;
        let request = format!("POST {url}");
        let mut judge = Judge::new(&request);
        let mut parsed = None;
        let mut answer = ExecuteAnswer::default();
        let failure = ex.failure.as_ref().map(|f| f.1.clone());
        if let Some((rule, msg)) = &ex.failure {
            judge.breach(&format!("execute.{rule}"), "$", msg.clone());
        } else if let Some(status) = ex.status {
            let (p, ans) = contract::check_execute(&mut judge, status, &ex.body);
            parsed = p;
            answer = ans;
        }
        self.store_state(&user, &integration, answer.state.clone());
        let download_fetches = download_token
            .as_ref()
            .and_then(|t| self.lock().downloads.get(t).map(|d| d.fetches))
            .unwrap_or(0);
        breaches.extend(judge.breaches.iter().cloned());
        self.journal.push(JournalEntry {
            id: 0,
            at: now_iso(),
            kind: "execute".into(),
            method: "POST".into(),
            url: url.clone(),
            request_headers: {
                let mut hd = self.masked_headers(h.token.as_deref(), &version, &webhook_id);
                hd.push(("Transfer-Encoding".into(), "chunked".into()));
                hd
            },
            request_body: self.journal.clip(journal_body.as_bytes()),
            request_bytes: 0,
            status: ex.status,
            response_body: self.journal.clip(&ex.body),
            failure: failure.clone(),
            breaches: judge.breaches.clone(),
            elapsed_ms: ex.elapsed.as_millis() as u64,
            oauth_links: Vec::new(),
        });
        let success = answer.success && failure.is_none();
        self.activity.record(
            EventInput::new("run_query", "query")
                .attr("model", &look.def().model)
                .attr("view", &look.def().explore)
                .attr("look_id", &look_id)
                .attr("status", "completed")
                .attr("dialect", "mock"),
        );
        Ok(SendOutcome {
            webhook_id,
            http_status: ex.status,
            body: parsed,
            success,
            message: answer.message,
            refresh_query: answer.refresh_query,
            validation_errors: answer.validation_errors,
            breaches,
            failure,
            format,
            download,
            apply_formatting,
            apply_vis,
            rows: look.row_count(),
            download_fetches,
            timings: Timings {
                total: ex.elapsed,
                until_headers: ex.until_headers,
                form: form_time,
            },
        })
    }

    /// Claims a download URL: the first use within the lifetime wins, later ones are refused.
    pub(crate) fn claim_download(
        &self,
        token: &str,
    ) -> Result<(Look, Format, WriteOptions, String), &'static str> {
        let mut st = self.lock();
        let d = st.downloads.get_mut(token).ok_or("unknown download URL")?;
        if d.fetches > 0 {
            d.fetches += 1;
            return Err("this download URL was already used");
        }
        if d.created.elapsed() > self.config.download_ttl {
            return Err("this download URL has expired");
        }
        d.fetches = 1;
        Ok((d.look.clone(), d.format, d.opts, d.ran_at.clone()))
    }

    pub(crate) fn record_side(
        &self,
        kind: &str,
        method: &str,
        url: &str,
        status: u16,
        request_body: &[u8],
        failure: Option<String>,
    ) {
        self.journal.push(JournalEntry {
            id: 0,
            at: now_iso(),
            kind: kind.into(),
            method: method.into(),
            url: url.into(),
            request_headers: Vec::new(),
            request_body: self.journal.clip(request_body),
            request_bytes: request_body.len() as u64,
            status: Some(status),
            response_body: String::new(),
            failure,
            breaches: Vec::new(),
            elapsed_ms: 0,
            oauth_links: Vec::new(),
        });
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

fn classify(e: reqwest::Error) -> (String, String) {
    if e.is_redirect() {
        (
            "redirect".into(),
            format!("redirect loop or too many redirects: {e}"),
        )
    } else if e.is_timeout() {
        ("timeout".into(), format!("timed out: {e}"))
    } else if e.is_connect() {
        ("connect".into(), format!("cannot connect: {e}"))
    } else {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        ("transport".into(), msg)
    }
}

fn chunks_body(chunks: LookChunks) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures::stream::iter(
        chunks.map(Ok::<Bytes, std::io::Error>),
    ))
}

/// The Query object of `scheduled_plan.query` (and of API 4.0).
pub(crate) fn query_json(look: &Look, base_url: &str) -> Value {
    let def = look.def();
    let fields: Vec<&str> = look.columns().iter().map(|c| c.def.name.as_str()).collect();
    let pivots: Vec<&str> = def.fields.pivots.iter().map(|f| f.name.as_str()).collect();
    let id = look.id().unwrap_or("0");
    let mut vis = def.vis_config.clone();
    vis.entry("hidden_fields").or_insert_with(|| json!([]));
    let explore_url = format!(
        "/explore/{}/{}?fields={}",
        def.model,
        def.explore,
        fields.join(",")
    );
    json!({
        "id": id,
        "model": def.model,
        "view": def.explore,
        "fields": fields,
        "pivots": pivots,
        "fill_fields": [],
        "filters": def.filters,
        "filter_expression": null,
        "sorts": def.sorts,
        "limit": def.limit.clone().unwrap_or_else(|| "500".into()),
        "column_limit": "50",
        "total": false,
        "row_total": null,
        "subtotals": null,
        "vis_config": vis,
        "filter_config": null,
        "visible_ui_sections": null,
        "slug": format!("mock{id}"),
        "dynamic_fields": null,
        "client_id": format!("mockclient{id}"),
        "share_url": format!("{base_url}/x/mock{id}"),
        "expanded_share_url": format!("{base_url}{explore_url}"),
        "url": explore_url,
        "query_timezone": def.timezone.clone().unwrap_or_else(|| "UTC".into()),
        "has_table_calculations": !def.fields.table_calculations.is_empty(),
    })
}
