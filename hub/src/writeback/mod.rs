//! Write-back actions (seed 002): a business user marks an order as suspicious from Looker,
//! logged in with their own OAuth identity, and the decision is written to a database.
//!
//! - `mark_suspicious`: a **cell** action on fields tagged `mark-suspicious`; the form's `id`
//!   defaults to the clicked value (`data.value`).
//! - `mark_suspicious_batch`: a **query** action that flags every row of a Look (the seed's
//!   `action_execute_batch`), streamed like the RudderStack actions.
//!
//! OAuth is the v1 flow of the official hub (spec §4): without a valid token the form is a
//! single `oauth_link` whose URL carries Looker's `state_url` sealed by [`state`]; `/oauth`
//! sends the browser to the provider; `/oauth_redirect` exchanges the code and POSTs the token
//! JSON to `state_url`; Looker then sends it back as `data.state_json`. Every form asks the
//! provider whether the token is still good (userinfo), so a revoked or expired token, or the
//! literal `"reset"`, gives the login link again instead of a crash or a login loop (spec §9).

pub mod state;
pub mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::actions::{
    Action, ActionResponse, BoxFuture, Definition, ExecuteRequest, FormRequest, OAuth, Registry,
};
use crate::context::Context;
use crate::look_stream::{LookError, LookStream};
use crate::mapping::Fields;
use crate::parse::{Format, Item};
use crate::version::Version;

pub use state::{StateError, StateSealer};
pub use store::{Decision, Store, StoreError};

/// Name of the cell action.
pub const CELL_ACTION: &str = "mark_suspicious";
/// Name of the query (batch) action.
pub const BATCH_ACTION: &str = "mark_suspicious_batch";
/// The tag that offers the actions.
pub const TAG: &str = "mark-suspicious";
/// The classification options `(name, label)`, as in the seed.
pub const CLASSIFICATIONS: [(&str, &str); 3] = [
    ("Approved", "Approved"),
    ("Suspicious", "Suspicious"),
    ("Further Investigation", "Further Investigation Needed"),
];

/// Where the mock Looker (default port 8082) serves its OAuth provider.
pub const DEFAULT_PROVIDER: &str = "http://127.0.0.1:8082/oauth";

/// How the write-back actions are configured.
#[derive(Clone)]
pub struct WritebackConfig {
    /// Public URL of the hub (for `oauth_url`), no trailing slash.
    pub base_url: String,
    /// Secret the OAuth state key is derived from (the hub secret). Never logged.
    pub state_secret: String,
    /// How long a sealed state is accepted.
    pub state_ttl: Duration,
    /// The provider's authorize endpoint (the browser goes there).
    pub authorize_url: String,
    /// The provider's token endpoint (code → token).
    pub token_url: String,
    /// The provider's userinfo endpoint (token → user; 401 when revoked or expired).
    pub userinfo_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret. Never logged.
    pub client_secret: String,
    /// Scope asked for.
    pub scope: String,
    /// The SQLite database file.
    pub db_path: PathBuf,
}

impl std::fmt::Debug for WritebackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WritebackConfig")
            .field("base_url", &self.base_url)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("userinfo_url", &self.userinfo_url)
            .field("client_id", &self.client_id)
            .field("db_path", &self.db_path)
            .finish_non_exhaustive()
    }
}

impl WritebackConfig {
    /// Defaults pointing at the mock Looker's provider, database at [`default_db_path`].
    pub fn new(base_url: &str, state_secret: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            state_secret: state_secret.to_owned(),
            state_ttl: Duration::from_secs(600),
            authorize_url: format!("{DEFAULT_PROVIDER}/authorize"),
            token_url: format!("{DEFAULT_PROVIDER}/token"),
            userinfo_url: format!("{DEFAULT_PROVIDER}/userinfo"),
            client_id: "action-hub".into(),
            client_secret: "action-hub-secret".into(),
            scope: "orders.write".into(),
            db_path: default_db_path(),
        }
    }

    /// Points the three provider URLs at `<base>/authorize`, `/token`, `/userinfo`.
    pub fn provider(mut self, base: &str) -> Self {
        let b = base.trim_end_matches('/');
        self.authorize_url = format!("{b}/authorize");
        self.token_url = format!("{b}/token");
        self.userinfo_url = format!("{b}/userinfo");
        self
    }
}

/// Where the write-back database goes unless told otherwise: the user's data directory
/// (`$XDG_DATA_HOME/action-hub/writeback.sqlite`, else `~/.local/share/action-hub/…`), or the
/// system temp directory when there is no home. Never a path relative to the working
/// directory: a hub started from a source checkout must not leave a database in the tree.
pub fn default_db_path() -> PathBuf {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local/share"))
        })
        .unwrap_or_else(std::env::temp_dir);
    data_home.join("action-hub").join("writeback.sqlite")
}

struct Inner {
    config: WritebackConfig,
    sealer: StateSealer,
    client: reqwest::Client,
    store: Store,
}

/// The two write-back actions sharing one database and OAuth client.
pub fn actions(config: WritebackConfig) -> Result<Vec<Arc<dyn Action>>, StoreError> {
    let store = Store::open(&config.db_path)?;
    let inner = Arc::new(Inner {
        sealer: StateSealer::new(&config.state_secret, config.state_ttl),
        client: reqwest::Client::builder()
            .user_agent(crate::identity::user_agent())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default(),
        config,
        store,
    });
    let def = |name, label, description, types, streaming| Definition {
        name,
        label,
        description,
        params: Vec::new(),
        required_fields: json!([{"any_tag": [TAG]}]),
        supported_action_types: types,
        min_looker_version: Version::new(5, 5, 0),
        uses_streaming: streaming,
        formattings: vec!["unformatted"],
        visualization_formattings: vec!["noapply"],
        icon_data_uri: None,
    };
    Ok(vec![
        Arc::new(MarkSuspicious {
            def: def(
                CELL_ACTION,
                "Mark as Suspicious",
                "Classify an order (Approved, Suspicious, Further Investigation Needed) as yourself; the decision is written back.",
                vec!["cell"],
                false,
            ),
            batch: false,
            inner: inner.clone(),
        }),
        Arc::new(MarkSuspicious {
            def: def(
                BATCH_ACTION,
                "Mark all as Suspicious",
                "Classify every order of a Look at once as yourself; the decisions are written back.",
                vec!["query"],
                true,
            ),
            batch: true,
            inner,
        }),
    ])
}

/// Adds the write-back actions to a registry.
pub fn register(registry: &mut Registry, config: WritebackConfig) -> Result<(), StoreError> {
    for a in actions(config)? {
        registry.add(a);
    }
    Ok(())
}

struct MarkSuspicious {
    def: Definition,
    batch: bool,
    inner: Arc<Inner>,
}

/// The token JSON the hub stores in Looker's user state.
#[derive(Debug, Deserialize)]
struct TokenState {
    access_token: String,
    #[serde(default)]
    expires_at: Option<u64>,
}

/// What the provider says about a token.
enum TokenCheck {
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
    async fn check(&self, state_json: Option<&str>) -> Result<TokenCheck, String> {
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

    fn login_form(&self, action: &str, state_url: Option<&str>, why: &str) -> Value {
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

fn classification_field() -> Value {
    json!({
        "name": "classification",
        "label": "Classification",
        "type": "select",
        "options": CLASSIFICATIONS.iter().map(|(n, l)| json!({"name": n, "label": l})).collect::<Vec<_>>(),
        "default": "Suspicious",
        "description": "Select Order Classification",
        "required": true,
    })
}

fn comment_field() -> Value {
    json!({
        "name": "comment",
        "label": "Comment",
        "type": "textarea",
        "description": "Provide a comment to support your decision",
    })
}

/// Checks `classification` (and `comment`) of the form values.
fn validate(form: &HashMap<String, String>, errors: &mut Map<String, Value>) -> Option<String> {
    match form.get("classification").map(|s| s.trim()) {
        None | Some("") => {
            errors.insert(
                "classification".into(),
                "Classification is required.".into(),
            );
            None
        }
        Some(c) if CLASSIFICATIONS.iter().any(|(n, _)| *n == c) => Some(c.to_owned()),
        Some(c) => {
            errors.insert(
                "classification".into(),
                format!(
                    "{c:?} is not a classification; choose one of {}.",
                    CLASSIFICATIONS
                        .iter()
                        .map(|(n, _)| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                .into(),
            );
            None
        }
    }
}

fn invalid(errors: Map<String, Value>) -> ActionResponse {
    ActionResponse {
        success: false,
        message: Some("Some form values are missing or invalid.".into()),
        refresh_query: false,
        validation_errors: errors,
    }
}

impl Action for MarkSuspicious {
    fn definition(&self) -> &Definition {
        &self.def
    }

    fn supported_formats(&self, _version: Option<&Version>) -> Vec<&'static str> {
        if self.batch {
            vec!["json_detail"]
        } else {
            // A cell action reads only `data.value`; the format is Looker's usual default.
            vec!["json_detail"]
        }
    }

    fn has_form(&self) -> bool {
        true
    }

    fn form<'a>(&'a self, req: &'a FormRequest) -> BoxFuture<'a, Value> {
        Box::pin(async move {
            let state_url = req.params.get("state_url").map(String::as_str);
            match self
                .inner
                .check(req.params.get("state_json").map(String::as_str))
                .await
            {
                Err(e) => json!({ "error": e }),
                Ok(TokenCheck::Login(why)) => self.inner.login_form(self.def.name, state_url, &why),
                Ok(TokenCheck::User(user)) => {
                    let mut fields = Vec::new();
                    if !self.batch {
                        fields.push(json!({
                            "name": "id",
                            "label": "Order ID",
                            "type": "string",
                            "interactive": false,
                            "description": "Order ID",
                            "default": req.params.get("value").cloned().unwrap_or_default(),
                            "required": true,
                        }));
                    }
                    fields.push(classification_field());
                    fields.push(comment_field());
                    fields.push(json!({
                        "name": "logged_in_as",
                        "label": "Logged in as",
                        "type": "message",
                        "value": format!("Logged in as {user}."),
                    }));
                    json!({ "fields": fields })
                }
            }
        })
    }

    fn execute(
        &self,
        req: ExecuteRequest,
        ctx: Arc<Context>,
    ) -> BoxFuture<'static, ActionResponse> {
        let inner = self.inner.clone();
        let action = self.def.name;
        let batch = self.batch;
        Box::pin(async move {
            let user = match inner
                .check(req.params.get("state_json").map(String::as_str))
                .await
            {
                Err(e) => return ActionResponse::failed(e),
                Ok(TokenCheck::Login(why)) => {
                    return ActionResponse::failed(format!(
                        "Not logged in: {why} Open the action's form to log in; nothing was written."
                    ));
                }
                Ok(TokenCheck::User(u)) => u,
            };
            let mut errors = Map::new();
            let classification = validate(&req.form_params, &mut errors);
            let comment = req
                .form_params
                .get("comment")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            if batch {
                let Some(classification) = classification else {
                    return invalid(errors);
                };
                return run_batch(&inner, &req, &ctx, action, classification, comment, user).await;
            }
            let id = req
                .form_params
                .get("id")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            if id.is_none() {
                errors.insert("id".into(), "Order ID is required.".into());
            }
            let (Some(id), Some(classification)) = (id, classification) else {
                return invalid(errors);
            };
            let d = Decision {
                order_id: id.clone(),
                classification: classification.clone(),
                comment,
                user: user.clone(),
                webhook_id: req.webhook_id.clone(),
                action: action.into(),
            };
            let store = inner.store.clone();
            match tokio::task::spawn_blocking(move || store.insert(&[d])).await {
                Ok(Ok(1)) => ActionResponse {
                    refresh_query: true,
                    ..ActionResponse::ok(format!(
                        "Order {id} marked as {classification} by {user}."
                    ))
                },
                Ok(Ok(_)) => ActionResponse {
                    refresh_query: true,
                    ..ActionResponse::ok(format!(
                        "Order {id} was already recorded for webhook {}; nothing written twice.",
                        req.webhook_id.as_deref().unwrap_or("-")
                    ))
                },
                Ok(Err(e)) => ActionResponse::failed(e.to_string()),
                Err(e) => ActionResponse::failed(format!("the database write failed: {e}")),
            }
        })
    }

    fn oauth(&self) -> Option<&dyn OAuth> {
        Some(self)
    }
}

/// Rows are written in transactions of this many.
const BATCH_ROWS: usize = 1000;

/// The order id of one json_detail row: the tagged field's cell `value` (or a bare value).
fn order_id_of(row: &str, field: &str) -> Result<Option<String>, String> {
    let m: HashMap<&str, &RawValue> =
        serde_json::from_str(row).map_err(|e| format!("the row is not a JSON object: {e}"))?;
    let Some(cell) = m.get(field) else {
        return Ok(None);
    };
    #[derive(Deserialize)]
    struct Cell<'a> {
        #[serde(borrow)]
        value: Option<&'a RawValue>,
    }
    let raw = if cell.get().starts_with('{') {
        match serde_json::from_str::<Cell<'_>>(cell.get()) {
            Ok(Cell { value: Some(v) }) => v,
            _ => return Ok(None),
        }
    } else {
        cell
    };
    let v = raw.get();
    if v == "null" {
        return Ok(None);
    }
    if v.starts_with('"') {
        let s: String = serde_json::from_str(v).map_err(|e| e.to_string())?;
        return Ok(Some(s).filter(|s| !s.is_empty()));
    }
    Ok(Some(v.to_owned()))
}

async fn flush(inner: &Inner, pending: &mut Vec<Decision>) -> Result<usize, String> {
    if pending.is_empty() {
        return Ok(0);
    }
    let batch = std::mem::take(pending);
    let store = inner.store.clone();
    match tokio::task::spawn_blocking(move || store.insert(&batch)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the database write failed: {e}")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_batch(
    inner: &Inner,
    req: &ExecuteRequest,
    ctx: &Context,
    action: &str,
    classification: String,
    comment: String,
    user: String,
) -> ActionResponse {
    let mut look = match LookStream::open(req, ctx, Format::JsonDetail).await {
        Ok(l) => l,
        Err(e) => return ActionResponse::failed(e),
    };
    let mut field: Option<String> = None;
    let mut pending: Vec<Decision> = Vec::with_capacity(BATCH_ROWS);
    let (mut rows, mut written, mut skipped) = (0u64, 0usize, 0u64);
    let fail = |msg: String, written: usize| {
        ActionResponse::failed(format!("{msg} ({written} decisions were written before)"))
    };
    loop {
        match look.read().await {
            Ok(true) => {}
            Ok(false) => break,
            // Nothing can have been written: the answer says only that.
            Err(e @ LookError::Empty(_)) => return ActionResponse::failed(e.to_string()),
            Err(e) => return fail(e.to_string(), written),
        }
        let json_rows = look.format() == Format::Json;
        loop {
            let item = match look.next_item() {
                Ok(Some(i)) => i,
                Ok(None) => break,
                Err(e) => return fail(e.message, written),
            };
            match item {
                Item::Fields(f) => field = tagged(&f),
                Item::RanAt(_) => {}
                Item::RowTooLarge { bytes } => {
                    rows += 1;
                    return fail(
                        format!(
                            "row {rows}: the row is {bytes} bytes, above the hub's {}-byte row limit",
                            ctx.config.max_row_bytes
                        ),
                        written,
                    );
                }
                Item::Row(row) => {
                    rows += 1;
                    if field.is_none() && json_rows {
                        field = crate::parse::infer_json_fields(row)
                            .ok()
                            .and_then(|f| tagged(&f));
                    }
                    let Some(f) = field.as_deref() else {
                        return ActionResponse::failed(format!(
                            "Query requires a field tagged {TAG}; none was found before row {rows}."
                        ));
                    };
                    match order_id_of(row, f) {
                        Ok(Some(id)) => pending.push(Decision {
                            order_id: id,
                            classification: classification.clone(),
                            comment: comment.clone(),
                            user: user.clone(),
                            webhook_id: req.webhook_id.clone(),
                            action: action.into(),
                        }),
                        Ok(None) => skipped += 1,
                        Err(e) => return fail(format!("row {rows}: {e}"), written),
                    }
                }
            }
        }
        if pending.len() >= BATCH_ROWS {
            match flush(inner, &mut pending).await {
                Ok(n) => written += n,
                Err(e) => return fail(e, written),
            }
        }
    }
    match flush(inner, &mut pending).await {
        Ok(n) => written += n,
        Err(e) => return fail(e, written),
    }
    let dup = rows - skipped - written as u64;
    let mut msg = format!("{written} of {rows} orders marked as {classification} by {user}.");
    if skipped > 0 {
        msg.push_str(&format!(" {skipped} rows had no order id."));
    }
    if dup > 0 {
        msg.push_str(&format!(
            " {dup} were already recorded for this webhook; nothing written twice."
        ));
    }
    ActionResponse {
        refresh_query: true,
        ..ActionResponse::ok(msg)
    }
}

/// The first field tagged `mark-suspicious` (json rows: none carry tags, so a field named
/// like the tag's convention is not guessed; json needs json_detail).
fn tagged(f: &Fields) -> Option<String> {
    f.all()
        .find(|x| x.tags.iter().any(|t| t == TAG))
        .map(|x| x.name.clone())
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
