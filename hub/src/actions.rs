//! Actions behind a small trait and a registry, so more can join (the write-back action of
//! issue 6 needs a form and OAuth: both are optional hooks here).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::context::Context;
use crate::version::Version;

/// A boxed future, as the trait's async hooks return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An action param (what the Looker admin fills in).
#[derive(Debug, Clone, Serialize)]
pub struct Param {
    /// Help text.
    pub description: &'static str,
    /// Shown name; also used in `Required setting "<label>" …`.
    pub label: &'static str,
    /// Key in the execute body's `data`.
    pub name: &'static str,
    /// Whether execute and form refuse to run without it.
    pub required: bool,
    /// Whether Looker hides the value.
    pub sensitive: bool,
}

/// The static part of an action's list entry.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Id in URLs.
    pub name: &'static str,
    /// Shown name.
    pub label: &'static str,
    /// Shown description.
    pub description: &'static str,
    /// Params.
    pub params: Vec<Param>,
    /// `required_fields` as Looker reads it.
    pub required_fields: Value,
    /// `query`, `cell`, `dashboard`.
    pub supported_action_types: Vec<&'static str>,
    /// Oldest Looker that lists (and may execute) the action.
    pub min_looker_version: Version,
    /// Streaming actions get a `download_url` (`supported_download_settings: ["url"]`).
    pub uses_streaming: bool,
    /// `supported_formattings`.
    pub formattings: Vec<&'static str>,
    /// `supported_visualization_formattings`.
    pub visualization_formattings: Vec<&'static str>,
    /// Inline `data:` URI of the icon.
    pub icon_data_uri: Option<String>,
}

/// An execute request as the hub hands it to an action.
#[derive(Debug, Clone)]
pub struct ExecuteRequest {
    /// The whole request body (pushed attachments are read from it in place).
    pub body: Bytes,
    /// `type`.
    pub kind: String,
    /// `data`: admin params, as strings.
    pub params: HashMap<String, String>,
    /// `form_params`, as strings.
    pub form_params: HashMap<String, String>,
    /// `scheduled_plan.query.vis_config.hidden_fields`.
    pub hidden_fields: Vec<String>,
    /// `scheduled_plan.download_url`.
    pub download_url: Option<String>,
    /// The pushed attachment, if any.
    pub attachment: Option<Attachment>,
    /// From the User-Agent.
    pub looker_version: Option<Version>,
    /// `X-Looker-Webhook-Id`.
    pub webhook_id: Option<String>,
}

/// Where the pushed attachment's data is in the body.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// `attachment.mimetype`.
    pub mimetype: String,
    /// Byte range of `attachment.data`'s JSON text in the body (a string, or inline JSON).
    pub data: (usize, usize),
}

/// A form request.
#[derive(Debug, Clone)]
pub struct FormRequest {
    /// `data`.
    pub params: HashMap<String, String>,
    /// `form_params`.
    pub form_params: HashMap<String, String>,
    /// From the User-Agent.
    pub looker_version: Option<Version>,
}

/// `ActionResponse.asJson()` of the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResponse {
    /// `looker.success`.
    pub success: bool,
    /// `looker.message` (absent when `None`).
    pub message: Option<String>,
    /// `looker.refresh_query`.
    pub refresh_query: bool,
    /// `looker.validation_errors`: an object `{field: message}`.
    pub validation_errors: Map<String, Value>,
}

impl ActionResponse {
    /// A success with a message.
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: Some(message.into()),
            refresh_query: false,
            validation_errors: Map::new(),
        }
    }
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            success: false,
            ..Self::ok(message)
        }
    }
    /// `{"looker":{message?, refresh_query, success, validation_errors}}`.
    pub fn to_json(&self) -> Value {
        let mut l = Map::new();
        if let Some(m) = &self.message {
            l.insert("message".into(), Value::String(m.clone()));
        }
        l.insert("refresh_query".into(), Value::Bool(self.refresh_query));
        l.insert("success".into(), Value::Bool(self.success));
        l.insert(
            "validation_errors".into(),
            Value::Object(self.validation_errors.clone()),
        );
        let mut o = Map::new();
        o.insert("looker".into(), Value::Object(l));
        Value::Object(o)
    }
}

/// OAuth hooks for actions that need a user login (issue 6). Unused by the RudderStack actions.
pub trait OAuth: Send + Sync {
    /// Version 2 actions get `/oauth_token` and a `token_url`.
    fn v2(&self) -> bool {
        false
    }
    /// The provider URL the browser is sent to from `/oauth`.
    fn oauth_url<'a>(
        &'a self,
        redirect_uri: &'a str,
        state: &'a str,
    ) -> BoxFuture<'a, Result<String, String>>;
    /// `/oauth_check` and `data.test` forms.
    fn oauth_check<'a>(&'a self, req: &'a FormRequest) -> BoxFuture<'a, bool>;
    /// `/oauth_redirect`: `Ok(None)` gives the close-window page, `Ok(Some(url))` a redirect.
    fn oauth_redirect<'a>(
        &'a self,
        query: &'a HashMap<String, String>,
        redirect_uri: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, String>>;
    /// `/oauth_token` (v2): body in, token payload out.
    fn oauth_token<'a>(&'a self, body: &'a Value) -> BoxFuture<'a, Result<Value, String>> {
        let _ = body;
        Box::pin(async { Err("oauth_token is not supported by this action.".to_owned()) })
    }
}

/// One action.
pub trait Action: Send + Sync + 'static {
    /// Name, label, params, …
    fn definition(&self) -> &Definition;
    /// `supported_formats` for a Looker version (None: no/unknown User-Agent).
    fn supported_formats(&self, version: Option<&Version>) -> Vec<&'static str>;
    /// Whether `/form` answers with a form.
    fn has_form(&self) -> bool {
        false
    }
    /// The form (`{"fields":[…]}`), only called when [`has_form`](Self::has_form).
    fn form<'a>(&'a self, req: &'a FormRequest) -> BoxFuture<'a, Value> {
        let _ = req;
        Box::pin(async { serde_json::json!({"fields": []}) })
    }
    /// Runs the action, with the hub's configuration and clients in `ctx`.
    fn execute(&self, req: ExecuteRequest, ctx: Arc<Context>)
    -> BoxFuture<'static, ActionResponse>;
    /// OAuth hooks, if the action uses OAuth.
    fn oauth(&self) -> Option<&dyn OAuth> {
        None
    }
}

/// The actions a hub serves, in list order. The RudderStack actions' registry,
/// `Registry::rudderstack()`, is made beside them in the `rudder` module, and the write-back
/// actions join with `writeback::register`: this module knows no action.
#[derive(Clone, Default)]
pub struct Registry {
    actions: Vec<Arc<dyn Action>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.actions.iter().map(|a| a.definition().name))
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an action.
    pub fn add(&mut self, action: Arc<dyn Action>) {
        self.actions.push(action);
    }
    /// Keeps only the named actions (`--actions`); unknown names are an error.
    pub fn restrict(&mut self, names: &[String]) -> Result<(), String> {
        for n in names {
            if !self.actions.iter().any(|a| a.definition().name == n) {
                return Err(format!(
                    "unknown action {n:?}; known: {}",
                    self.actions
                        .iter()
                        .map(|a| a.definition().name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        self.actions
            .retain(|a| names.iter().any(|n| n == a.definition().name));
        Ok(())
    }
    /// All actions.
    pub fn all(&self) -> &[Arc<dyn Action>] {
        &self.actions
    }
    /// An action by name, if listed for this Looker version.
    pub fn find(&self, name: &str, version: Option<&Version>) -> Option<&Arc<dyn Action>> {
        self.actions.iter().find(|a| {
            a.definition().name == name
                && version.is_none_or(|v| *v >= a.definition().min_looker_version)
        })
    }
    /// The actions listed for this Looker version.
    pub fn listed(&self, version: Option<&Version>) -> Vec<&Arc<dyn Action>> {
        self.actions
            .iter()
            .filter(|a| version.is_none_or(|v| *v >= a.definition().min_looker_version))
            .collect()
    }
}

/// The list entry of an action, keys in the official order.
pub fn action_json(a: &dyn Action, base_url: &str, version: Option<&Version>) -> Value {
    let d = a.definition();
    let enc = url::form_urlencoded::byte_serialize(d.name.as_bytes()).collect::<String>();
    let base = base_url.trim_end_matches('/');
    let mut o = Map::new();
    o.insert("description".into(), d.description.into());
    o.insert(
        "form_url".into(),
        if a.has_form() {
            Value::String(format!("{base}/actions/{enc}/form"))
        } else {
            Value::Null
        },
    );
    o.insert("label".into(), d.label.into());
    o.insert("name".into(), d.name.into());
    o.insert(
        "params".into(),
        serde_json::to_value(&d.params).unwrap_or_default(),
    );
    o.insert("required_fields".into(), d.required_fields.clone());
    o.insert(
        "supported_action_types".into(),
        serde_json::to_value(&d.supported_action_types).unwrap_or_default(),
    );
    let oauth = a.oauth();
    o.insert("uses_oauth".into(), Value::Bool(oauth.is_some()));
    o.insert("delegate_oauth".into(), Value::Bool(false));
    o.insert(
        "supported_formats".into(),
        serde_json::to_value(a.supported_formats(version)).unwrap_or_default(),
    );
    o.insert(
        "supported_formattings".into(),
        serde_json::to_value(&d.formattings).unwrap_or_default(),
    );
    o.insert(
        "supported_visualization_formattings".into(),
        serde_json::to_value(&d.visualization_formattings).unwrap_or_default(),
    );
    o.insert(
        "supported_download_settings".into(),
        serde_json::json!([if d.uses_streaming { "url" } else { "push" }]),
    );
    o.insert(
        "icon_data_uri".into(),
        d.icon_data_uri.clone().map_or(Value::Null, Value::String),
    );
    o.insert(
        "url".into(),
        Value::String(format!("{base}/actions/{enc}/execute")),
    );
    if oauth.is_some_and(|o| o.v2()) {
        o.insert(
            "token_url".into(),
            Value::String(format!("{base}/actions/{enc}/oauth_token")),
        );
    }
    Value::Object(o)
}
