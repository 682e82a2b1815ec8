//! What a hub is configured with ([`HubConfig`]): the binary fills it from flags and the
//! environment, tests and tools from code. Defaults are the official hub's where it has one.

use std::time::Duration;

use crate::mapping::MappingMode;
use crate::parse::DEFAULT_MAX_VALUE_BYTES;
use crate::send::SendConfig;

/// The official hub's push body limit (`express.json({limit:"250mb"})`).
pub const DEFAULT_PUSH_LIMIT: usize = 250 * 1024 * 1024;
/// Default [`HubConfig::body_budget`]: two bodies at the push limit at once.
pub const DEFAULT_BODY_BUDGET: usize = 2 * DEFAULT_PUSH_LIMIT;

/// Everything a hub is configured with.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// `label` of the list (`ACTION_HUB_LABEL`).
    pub label: String,
    /// Public URL of the hub (`ACTION_HUB_BASE_URL`); default `http://<listener address>`.
    pub base_url: Option<String>,
    /// `ACTION_HUB_SECRET`: accepts `<nonce>/<hex HMAC-SHA512(secret, nonce)>` tokens.
    pub secret: Option<String>,
    /// A static token accepted as is.
    pub token: Option<String>,
    /// Only these actions (`--actions`, like `ACTION_WHITELIST`); `None`: all.
    pub actions: Option<Vec<String>>,
    /// Default mapping mode (`--mapping`); the `rudder_mapping` param overrides it per action.
    pub mapping: MappingMode,
    /// Allowed data plane hosts (`host` or `host:port`); empty: any.
    pub allow_dataplane: Vec<String>,
    /// Largest accepted request body, bytes (413 above).
    pub push_limit: usize,
    /// Interval of the `\n` keep-alive on execute and form (`ACTION_HUB_JSON_KEEPALIVE_SEC`).
    pub keepalive: Duration,
    /// Timeout of the download_url GET (`ACTION_HUB_STREAM_REQUEST_TIMEOUT`, 13 min).
    pub stream_timeout: Duration,
    /// Batching and retries.
    pub send: SendConfig,
    /// messageId = md5(webhook id, row) as a uuid, so re-sent schedules can be deduplicated.
    pub deterministic_message_ids: bool,
    /// `context.app.version` (`$APP_VERSION`, else `"dev"` like the official hub).
    pub app_version: String,
    /// Header-read and idle timeouts and the connection limit of the hub's own server.
    pub limits: serving::Limits,
    /// Largest Look row the hub buffers (`--max-row-bytes`); a larger row is skipped without
    /// being read into memory and reported as a row error, since it could never be sent.
    pub max_row_bytes: usize,
    /// Request bodies of executes and forms held in memory at once, bytes (`--body-budget`):
    /// a body that does not fit while others are held gets 503. At least `push_limit`.
    pub body_budget: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            label: "RudderStack Reference Hub".into(),
            base_url: None,
            secret: None,
            token: None,
            actions: None,
            mapping: MappingMode::RudderStack,
            allow_dataplane: Vec::new(),
            push_limit: DEFAULT_PUSH_LIMIT,
            keepalive: Duration::from_secs(30),
            stream_timeout: Duration::from_millis(780_000),
            send: SendConfig::default(),
            deterministic_message_ids: false,
            app_version: "dev".into(),
            limits: serving::Limits::default(),
            max_row_bytes: DEFAULT_MAX_VALUE_BYTES,
            body_budget: DEFAULT_BODY_BUDGET,
        }
    }
}
