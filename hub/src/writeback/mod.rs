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
//!
//! Where things are: the actions, their forms and executes here; the OAuth flow in `oauth`;
//! the batch action's read of a Look in `batch`; settings in `config`; the sealed OAuth state
//! in [`state`]; the database in [`store`].

mod batch;
mod config;
mod oauth;
pub mod state;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::actions::{
    Action, ActionResponse, BoxFuture, Definition, ExecuteRequest, FormRequest, OAuth, Registry,
};
use crate::context::Context;
use crate::version::Version;

pub use config::{DEFAULT_PROVIDER, WritebackConfig, default_db_path};
pub use state::{StateError, StateSealer};
pub use store::{Decision, Store, StoreError};

use oauth::TokenCheck;

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

/// What both actions share: one OAuth client and state sealer, one database.
struct Inner {
    /// The provider's URLs, the client's credentials, the hub's base URL for login links.
    config: WritebackConfig,
    /// Seals Looker's `state_url` into the login link and opens it when the browser returns.
    sealer: StateSealer,
    /// Requests to the provider and to Looker's `state_url` (30 s timeout each).
    client: reqwest::Client,
    /// Where the decisions are written.
    store: Store,
}

/// The two write-back actions sharing one database and OAuth client.
pub fn actions(config: WritebackConfig) -> Result<Vec<Arc<dyn Action>>, StoreError> {
    let store = Store::open(&config.db_path)?;
    let inner = Arc::new(Inner {
        sealer: StateSealer::new(&config.state_secret, config.state_ttl),
        client: serving::http_client()
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
                return batch::run(&inner, &req, &ctx, action, classification, comment, user).await;
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
