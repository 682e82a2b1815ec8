//! The one module that knows the real crates: implements [`Harness`] with the mock Looker, the
//! reference hub and the mock data plane, each started fresh on port 0 per scenario.
//!
//! Everything crate-specific lives here: converting a scenario Look into the mock Looker's
//! `LookDef`, a fault rule into the data plane's `FaultRule`, outcomes into [`SendResult`].
//!
//! A write-back scenario (`hub: {writeback: true}`) gets the hub the `action-hub` binary serves
//! by default: the RudderStack actions plus `mark_suspicious`/`mark_suspicious_batch`, with a
//! random hub secret, an OAuth client registered for it at the mock Looker's provider, and a
//! SQLite database in a temporary directory. The runner reads that database file itself with
//! `rusqlite`, so what the hub says it wrote is checked against what is there.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::format::{Download, LookSpec, Mapping, Scenario, Tamper, WriteKeySpec};
use crate::harness::{
    ActionList, Breach, Filter, FormRequest, FormResult, Harness, JournalRow, Launcher,
    LoginRequest, LoginResult, SendRequest, SendResult, Stored,
};

/// Write key of the in-process data plane when a scenario names none.
pub const DEFAULT_WRITE_KEY: &str = "wk_scenario";

/// External endpoints given on the command line.
#[derive(Debug, Clone, Default)]
pub struct WiringConfig {
    /// External hub URL.
    pub hub_url: Option<String>,
    /// External hub token.
    pub hub_token: Option<String>,
    /// External mock data plane URL.
    pub dataplane_url: Option<String>,
}

/// Starts the real systems per scenario.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// Where to find external systems.
    pub config: WiringConfig,
}

impl Wiring {
    /// A launcher with these external endpoints.
    pub fn new(config: WiringConfig) -> Wiring {
        Wiring { config }
    }
}

enum HubSide {
    Local(hub::RunningHub),
    /// The hub with the write-back actions, served on a listener bound first so that its
    /// public URL (the `oauth_url`s and the OAuth redirect URI) is known before it starts.
    Writeback {
        url: String,
        token: String,
        /// Dropping it shuts the hub down.
        _server: serving::Background,
    },
    External {
        url: String,
        token: Option<String>,
    },
}

/// What a write-back scenario needs besides the hub's URL.
struct WritebackSide {
    /// The hub secret (the OAuth state key is derived from it).
    secret: String,
    /// The hub's SQLite file.
    db: PathBuf,
    _dir: tempfile::TempDir,
}

/// Every row of the write-back table, `{column: value}` in insertion order, read with plain SQL
/// on the file (not through the hub's `Store`), so the judging does not trust the hub's code.
pub fn read_writeback_rows(db: &std::path::Path) -> anyhow::Result<Vec<Value>> {
    use rusqlite::types::ValueRef;
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening the write-back database {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT * FROM {} ORDER BY rowid",
            hub::writeback::store::TABLE
        ))
        .with_context(|| format!("reading the write-back table of {}", db.display()))?;
    let names: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let rows = stmt.query_map([], |r| {
        let mut o = Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => json!(n),
                ValueRef::Real(f) => json!(f),
                ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::String(format!("<{} bytes>", b.len())),
            };
            o.insert(name.clone(), v);
        }
        Ok(Value::Object(o))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// One character of the `state` query parameter of `url` changed (in the middle, where every
/// base64url character carries payload bits, so AES-GCM authentication must fail).
fn tamper_state(url: &str) -> anyhow::Result<String> {
    map_state(url, |s| {
        let mut b = s.as_bytes().to_vec();
        anyhow::ensure!(b.len() > 2, "the state {s:?} is too short to tamper with");
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

enum DataplaneSide {
    Local(mock_dataplane::MockDataplane),
    External {
        url: String,
        keys: Vec<String>,
        client: reqwest::Client,
    },
}

/// The systems of one scenario.
pub struct Env {
    hub: HubSide,
    dataplane: DataplaneSide,
    looker: mock_looker::MockLooker,
    /// Mock Looker hub registrations by Looker version ("" = the scenario default).
    hubs: Mutex<BTreeMap<String, String>>,
    default_version: Option<String>,
    writeback: Option<WritebackSide>,
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

fn to_filter(f: &Filter) -> mock_dataplane::EventFilter {
    mock_dataplane::EventFilter {
        write_key: f.write_key.clone(),
        r#type: f.kind.clone(),
        user_id: f.user_id.clone(),
        event: f.event.clone(),
        limit: f.limit,
        ..Default::default()
    }
}

fn query(f: &Filter) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(v) = &f.write_key {
        q.push(("write_key", v.clone()));
    }
    if let Some(v) = &f.kind {
        q.push(("type", v.clone()));
    }
    if let Some(v) = &f.user_id {
        q.push(("userId", v.clone()));
    }
    if let Some(v) = &f.event {
        q.push(("event", v.clone()));
    }
    if let Some(v) = f.limit {
        q.push(("limit", v.to_string()));
    }
    q
}

fn stored_from_json(v: &Value) -> Stored {
    Stored {
        write_key: v
            .get("write_key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        event: v.get("event").cloned().unwrap_or(Value::Null),
    }
}

/// Convert a scenario Look into the mock Looker's Look.
pub fn to_look(spec: &LookSpec) -> anyhow::Result<mock_looker::Look> {
    let fields = |list: &[crate::format::FieldSpec]| -> Vec<Value> {
        list.iter()
            .map(|f| {
                let mut o = Map::new();
                o.insert("name".into(), json!(f.name));
                o.insert("tags".into(), json!(f.tags));
                if let Some(l) = &f.label {
                    o.insert("label".into(), json!(l));
                }
                if let Some(k) = &f.kind {
                    o.insert("type".into(), json!(k));
                }
                if f.hidden {
                    o.insert("hidden".into(), json!(true));
                }
                Value::Object(o)
            })
            .collect()
    };
    let mut def = Map::new();
    def.insert(
        "title".into(),
        json!(spec.title.clone().unwrap_or_else(|| "Scenario Look".into())),
    );
    def.insert(
        "model".into(),
        json!(spec.model.clone().unwrap_or_else(|| "thelook".into())),
    );
    def.insert(
        "explore".into(),
        json!(spec.explore.clone().unwrap_or_else(|| "users".into())),
    );
    if let Some(r) = &spec.ran_at {
        def.insert("ran_at".into(), json!(r));
    }
    if spec.ran_at_after_data {
        anyhow::bail!(
            "the mock Looker always writes ran_at before the rows; send a raw body for `ran_at_after_data`"
        );
    }
    if !spec.hidden_fields.is_empty() {
        def.insert(
            "vis_config".into(),
            json!({"hidden_fields": spec.hidden_fields}),
        );
    }
    if let Some(g) = &spec.generate {
        let dims: Vec<Value> = g
            .columns
            .iter()
            .map(|c| {
                let mut o = Map::new();
                o.insert("name".into(), json!(c.name));
                o.insert("tags".into(), json!(c.tags));
                if let Some(k) = &c.kind {
                    o.insert("type".into(), json!(k));
                }
                o.insert("generator".into(), c.generator.clone());
                if c.null_ratio > 0.0 {
                    o.insert("null_ratio".into(), json!(c.null_ratio));
                }
                Value::Object(o)
            })
            .collect();
        def.insert("fields".into(), json!({"dimensions": dims}));
        def.insert("generate".into(), json!({"rows": g.rows, "seed": g.seed}));
    } else {
        let f = spec.fields.clone().unwrap_or_default();
        if !f.filters.is_empty() || !f.parameters.is_empty() {
            anyhow::bail!(
                "the mock Looker's Looks have no filters/parameters field groups; send a raw body"
            );
        }
        // Pivot keys in order of first appearance in pivoted cells.
        let mut pivot_keys: Vec<String> = Vec::new();
        for row in &spec.rows {
            for cell in row.values() {
                if let Value::Object(o) = cell
                    && !o.contains_key("value")
                {
                    for k in o.keys() {
                        if !pivot_keys.contains(k) {
                            pivot_keys.push(k.clone());
                        }
                    }
                }
            }
        }
        def.insert(
            "fields".into(),
            json!({
                "dimensions": fields(&f.dimensions),
                "measures": fields(&f.measures),
                "table_calculations": fields(&f.table_calculations),
                "pivots": fields(&f.pivots),
            }),
        );
        if !pivot_keys.is_empty() {
            def.insert(
                "pivots".into(),
                Value::Array(
                    pivot_keys
                        .iter()
                        .map(|k| json!({"key": k, "is_total": k == "$$$_row_total_$$$"}))
                        .collect(),
                ),
            );
        }
        def.insert(
            "rows".into(),
            Value::Array(spec.rows.iter().cloned().map(Value::Object).collect()),
        );
    }
    let def: mock_looker::LookDef = serde_json::from_value(Value::Object(def))
        .context("converting the Look for the mock Looker")?;
    Ok(mock_looker::Look::from_def(def)?)
}

impl Env {
    fn writeback(&self) -> anyhow::Result<&WritebackSide> {
        self.writeback
            .as_ref()
            .context("this scenario's hub has no write-back actions (`hub: {writeback: true}`)")
    }

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
                self.hub_token(),
                version.map(str::to_string),
            )
            .await?;
        hubs.insert(key, hub.id.clone());
        Ok(hub.id)
    }

    async fn external(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        self.external_q(method, path, &[]).await
    }

    async fn external_q(
        &self,
        method: reqwest::Method,
        path: &str,
        q: &[(&'static str, String)],
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        match &self.dataplane {
            DataplaneSide::External { url, client, .. } => {
                let url = reqwest::Url::parse_with_params(&format!("{url}{path}"), q)?;
                Ok(client.request(method, url))
            }
            DataplaneSide::Local(_) => anyhow::bail!("not an external data plane"),
        }
    }
}

impl Harness for Env {
    fn hub_url(&self) -> String {
        match &self.hub {
            HubSide::Local(h) => h.url(),
            HubSide::Writeback { url, .. } => url.clone(),
            HubSide::External { url, .. } => url.trim_end_matches('/').to_string(),
        }
    }
    fn hub_token(&self) -> Option<String> {
        match &self.hub {
            HubSide::Local(h) => Some(h.token()),
            HubSide::Writeback { token, .. } => Some(token.clone()),
            HubSide::External { token, .. } => token.clone(),
        }
    }
    fn dataplane_url(&self) -> String {
        match &self.dataplane {
            DataplaneSide::Local(d) => d.url(),
            DataplaneSide::External { url, .. } => url.clone(),
        }
    }
    fn write_keys(&self) -> Vec<String> {
        match &self.dataplane {
            DataplaneSide::Local(d) => d.write_keys(),
            DataplaneSide::External { keys, .. } => keys.clone(),
        }
    }

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
                Err(e) => return Ok(refused(format!("unknown format {f:?}: {e}"))),
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
            let client = reqwest::Client::new();
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
            .register_hub(&self.hub_url(), self.hub_token(), version)
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

    async fn add_fault(&self, rule: Value) -> anyhow::Result<()> {
        match &self.dataplane {
            DataplaneSide::Local(d) => {
                let rule: mock_dataplane::FaultRule = serde_json::from_value(rule.clone())
                    .with_context(|| format!("fault rule {rule}"))?;
                d.add_fault(rule)
                    .await
                    .map_err(|e| anyhow::anyhow!("fault rule refused: {e}"))?;
            }
            DataplaneSide::External { .. } => {
                let resp = self
                    .external(reqwest::Method::POST, "/_mock/faults")
                    .await?
                    .json(&rule)
                    .send()
                    .await?;
                anyhow::ensure!(
                    resp.status().is_success(),
                    "fault rule refused: {}",
                    resp.text().await?
                );
            }
        }
        Ok(())
    }

    async fn clear_faults(&self) -> anyhow::Result<()> {
        match &self.dataplane {
            DataplaneSide::Local(d) => d.clear_faults().await,
            DataplaneSide::External { .. } => {
                self.external(reqwest::Method::DELETE, "/_mock/faults")
                    .await?
                    .send()
                    .await?;
            }
        }
        Ok(())
    }

    async fn reset_events(&self) -> anyhow::Result<()> {
        match &self.dataplane {
            DataplaneSide::Local(d) => d.reset().await?,
            DataplaneSide::External { .. } => {
                self.external(reqwest::Method::DELETE, "/_mock/events")
                    .await?
                    .send()
                    .await?;
            }
        }
        Ok(())
    }

    async fn events(&self, filter: Filter) -> anyhow::Result<Vec<Stored>> {
        match &self.dataplane {
            DataplaneSide::Local(d) => Ok(d
                .events(to_filter(&filter))
                .await?
                .into_iter()
                .map(|e| Stored {
                    write_key: e.write_key,
                    event: e.event,
                })
                .collect()),
            DataplaneSide::External { .. } => {
                let v: Value = self
                    .external_q(reqwest::Method::GET, "/_mock/events", &query(&filter))
                    .await?
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok(v.get("events")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(stored_from_json).collect())
                    .unwrap_or_default())
            }
        }
    }

    async fn wait_for(
        &self,
        count: usize,
        filter: Filter,
        timeout: Duration,
    ) -> anyhow::Result<Result<Vec<Stored>, usize>> {
        match &self.dataplane {
            DataplaneSide::Local(d) => {
                Ok(match d.wait_for(count, to_filter(&filter), timeout).await {
                    Ok(evs) => Ok(evs
                        .into_iter()
                        .map(|e| Stored {
                            write_key: e.write_key,
                            event: e.event,
                        })
                        .collect()),
                    Err(mock_dataplane::WaitError::Timeout { seen }) => Err(seen),
                    Err(e) => return Err(e.into()),
                })
            }
            DataplaneSide::External { .. } => {
                let mut q = query(&filter);
                q.push(("count", count.to_string()));
                q.push(("timeout_ms", timeout.as_millis().to_string()));
                let resp = self
                    .external_q(reqwest::Method::GET, "/_mock/events/wait", &q)
                    .await?
                    .send()
                    .await?;
                let ok = resp.status().is_success();
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                if ok {
                    Ok(Ok(v
                        .get("events")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(stored_from_json).collect())
                        .unwrap_or_default()))
                } else {
                    Ok(Err(
                        v.get("seen").and_then(Value::as_u64).unwrap_or(0) as usize
                    ))
                }
            }
        }
    }

    async fn total_events(&self) -> anyhow::Result<usize> {
        match &self.dataplane {
            DataplaneSide::Local(d) => Ok(d.stats().await?.total as usize),
            DataplaneSide::External { .. } => {
                let v: Value = self
                    .external(reqwest::Method::GET, "/_mock/stats")
                    .await?
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok(v.get("total").and_then(Value::as_u64).unwrap_or(0) as usize)
            }
        }
    }

    async fn requests(&self) -> anyhow::Result<Vec<JournalRow>> {
        let rows: Vec<Value> = match &self.dataplane {
            DataplaneSide::Local(d) => d
                .requests()
                .await
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
                .collect(),
            DataplaneSide::External { .. } => {
                let v: Value = self
                    .external(reqwest::Method::GET, "/_mock/requests")
                    .await?
                    .send()
                    .await?
                    .json()
                    .await?;
                v.get("requests")
                    .or(Some(&v))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            }
        };
        Ok(rows
            .iter()
            .map(|r| JournalRow {
                path: r
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                status: r.get("status").and_then(Value::as_u64).unwrap_or(0) as u16,
            })
            .collect())
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

    async fn writeback_rows(&self) -> anyhow::Result<Vec<Value>> {
        let db = self.writeback()?.db.clone();
        tokio::task::spawn_blocking(move || read_writeback_rows(&db)).await?
    }
}

impl Env {
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
                let client = reqwest::Client::builder()
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

impl Launcher for Wiring {
    type H = Env;
    async fn start(&self, s: &Scenario) -> anyhow::Result<Env> {
        let keys: Vec<WriteKeySpec> = if s.dataplane.write_keys.is_empty() {
            vec![WriteKeySpec::Key(DEFAULT_WRITE_KEY.into())]
        } else {
            s.dataplane.write_keys.clone()
        };
        let external_dp = s
            .dataplane
            .url
            .clone()
            .or_else(|| self.config.dataplane_url.clone());
        let dataplane = match external_dp {
            Some(url) => DataplaneSide::External {
                url: url.trim_end_matches('/').to_string(),
                keys: keys.iter().map(|k| k.key().to_string()).collect(),
                client: reqwest::Client::new(),
            },
            None => {
                let mut b = mock_dataplane::MockDataplane::builder().in_memory();
                for k in &keys {
                    b = match k {
                        WriteKeySpec::Key(k) => b.write_key(k.clone()),
                        WriteKeySpec::Source { key, name, enabled } => {
                            let mut src = mock_dataplane::Source::new(
                                key.clone(),
                                name.clone().unwrap_or_else(|| key.clone()),
                            );
                            src.enabled = *enabled;
                            b.source(src)
                        }
                    };
                }
                if s.dataplane.legacy_responses {
                    b = b.legacy_responses(true);
                }
                if let Some(n) = s.dataplane.max_request_bytes {
                    b = b.max_request_bytes(n);
                }
                if let Some(ms) = s.dataplane.write_timeout_ms {
                    b = b.write_timeout(Duration::from_millis(ms));
                }
                DataplaneSide::Local(b.start().await.context("starting the mock data plane")?)
            }
        };
        // The mock Looker first: a write-back hub is configured with its OAuth provider.
        let looker = mock_looker::MockLooker::builder()
            .without_builtin_looks()
            .start()
            .await
            .context("starting the mock Looker")?;
        let mapping = match s.hub.mapping {
            Mapping::Rudderstack => hub::MappingMode::RudderStack,
            Mapping::Clean => hub::MappingMode::Clean,
        };
        let mut writeback = None;
        let hub = match (
            s.hub.url.clone().or_else(|| self.config.hub_url.clone()),
            &s.hub.url,
        ) {
            (None, _) if s.hub.writeback => {
                let (side, wb) = start_writeback_hub(&looker, mapping).await?;
                writeback = Some(wb);
                side
            }
            (Some(url), scenario_url) => HubSide::External {
                url,
                token: if scenario_url.is_some() {
                    s.hub.token.clone()
                } else {
                    self.config.hub_token.clone()
                },
            },
            (None, _) => {
                let config = hub::HubConfig {
                    mapping,
                    ..hub::HubConfig::default()
                };
                HubSide::Local(
                    hub::RunningHub::start(config)
                        .await
                        .context("starting the reference hub")?,
                )
            }
        };
        let env = Env {
            hub,
            dataplane,
            looker,
            hubs: Mutex::new(BTreeMap::new()),
            default_version: s.looker.version.clone().filter(|v| v != "none"),
            writeback,
        };
        if matches!(env.dataplane, DataplaneSide::External { .. }) {
            env.reset_events().await?;
            env.clear_faults().await?;
        }
        Ok(env)
    }
}

/// Starts the reference hub with the write-back actions, wired to `looker`'s OAuth provider
/// through a client registered for this hub alone.
async fn start_writeback_hub(
    looker: &mock_looker::MockLooker,
    mapping: hub::MappingMode,
) -> anyhow::Result<(HubSide, WritebackSide)> {
    let secret = mock_looker::generate_secret(24);
    let client_id = format!("scenario-hub-{}", mock_looker::generate_secret(4));
    let client_secret = mock_looker::generate_secret(24);
    looker
        .oauth_provider()
        .add_client(&client_id, &client_secret);
    let dir = tempfile::tempdir().context("a temporary directory for the write-back database")?;
    let db = dir.path().join("writeback.sqlite");
    let binding = serving::Binding::loopback()
        .await
        .context("binding the write-back hub")?;
    let url = binding.url().to_owned();
    let wb = hub::writeback::WritebackConfig {
        client_id,
        client_secret,
        db_path: db.clone(),
        ..hub::writeback::WritebackConfig::new(&url, &secret)
            .provider(&format!("{}/oauth", looker.url()))
    };
    let mut registry = hub::Registry::rudderstack();
    hub::writeback::register(&mut registry, wb).context("opening the write-back database")?;
    let config = hub::HubConfig {
        secret: Some(secret.clone()),
        mapping,
        ..hub::HubConfig::default()
    };
    let server = binding.spawn("write-back hub", |listener, stop| {
        hub::run_with_registry(listener, config, registry, stop)
    });
    Ok((
        HubSide::Writeback {
            url,
            token: hub::generate_token(&secret),
            _server: server,
        },
        WritebackSide {
            secret,
            db,
            _dir: dir,
        },
    ))
}
