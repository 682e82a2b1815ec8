//! `action-hub`: the reference Looker Action Hub with the RudderStack actions.

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hub::{HubConfig, MappingMode, SendConfig};

/// A Looker Action Hub whose RudderStack Identify / Track / Group actions stream each Look into
/// events sent to a RudderStack data plane (`/v1/batch`). Environment variables are those of the
/// official hub where one exists (`PORT`, `ACTION_HUB_BASE_URL`, `ACTION_HUB_LABEL`,
/// `ACTION_HUB_SECRET`, `ACTION_HUB_JSON_KEEPALIVE_SEC`, `ACTION_HUB_STREAM_REQUEST_TIMEOUT`).
#[derive(Debug, Parser)]
#[command(name = "action-hub", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print a valid authorization token for the secret: `<64-hex nonce>/<hex HMAC-SHA512>`.
    /// Paste it into Looker's "Authorization Token" of the Action Hub.
    Token {
        /// The hub's secret.
        #[arg(long, env = "ACTION_HUB_SECRET", hide_env_values = true)]
        secret: String,
    },
}

#[derive(Debug, clap::Args)]
struct Serve {
    /// Address to bind. Loopback by default (the official hub binds every interface).
    #[arg(
        long,
        visible_alias = "bind",
        env = "ACTION_HUB_HOST",
        default_value = "127.0.0.1"
    )]
    host: String,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Public URL of the hub, used in the action URLs Looker calls. Default http://HOST:PORT.
    #[arg(long, env = "ACTION_HUB_BASE_URL")]
    base_url: Option<String>,
    /// The host name Looker reaches the hub under (e.g. the name of its container): the base
    /// URL becomes `http://NAME:PORT` with the bound port, in the action URLs Looker calls and
    /// the OAuth links and redirect URI of the write-back actions.
    #[arg(long, value_name = "NAME", conflicts_with = "base_url")]
    advertise_host: Option<String>,
    /// Label of the hub in Looker's list.
    #[arg(
        long,
        env = "ACTION_HUB_LABEL",
        default_value = "RudderStack Reference Hub"
    )]
    label: String,
    /// Secret for HMAC tokens (`action-hub token` makes one). Never logged.
    #[arg(long, env = "ACTION_HUB_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// A static token accepted as is, besides HMAC tokens. Never logged.
    #[arg(long, env = "ACTION_HUB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Serve only these actions (comma-separated: rudder_event,rudder_track,rudder_group).
    #[arg(long, env = "ACTION_HUB_ACTIONS", value_delimiter = ',')]
    actions: Option<Vec<String>>,
    /// Row→event mapping: `rudderstack` (exactly what RudderStack's hub sends, quirks included)
    /// or `clean` (values kept as they are). The action param `rudder_mapping` overrides it.
    #[arg(long, env = "ACTION_HUB_MAPPING", default_value = "rudderstack")]
    mapping: MappingMode,
    /// Only send to these data plane hosts (`host` or `host:port`, comma-separated), since a
    /// Looker admin types the URL. Default: any.
    #[arg(long, env = "ACTION_HUB_ALLOW_DATAPLANE", value_delimiter = ',')]
    allow_dataplane: Vec<String>,
    /// Largest request body in bytes (413 above); the official hub's 250 MB by default.
    #[arg(long, env = "ACTION_HUB_PUSH_LIMIT", default_value_t = hub::DEFAULT_PUSH_LIMIT)]
    push_limit: usize,
    /// Largest Look row the hub reads into memory, in bytes. A larger row is skipped (never
    /// buffered) and reported as a row error; the default is twice the gateway's request limit.
    #[arg(long, env = "ACTION_HUB_MAX_ROW_BYTES", default_value_t = hub::parse::DEFAULT_MAX_VALUE_BYTES)]
    max_row_bytes: usize,
    /// Bytes of execute and form request bodies held in memory at once, across all requests.
    /// A body that does not fit gets 503 (with Retry-After). At least --push-limit.
    #[arg(long, env = "ACTION_HUB_BODY_BUDGET", default_value_t = hub::DEFAULT_BODY_BUDGET)]
    body_budget: usize,
    /// Seconds between the `\n` keep-alives written before the JSON of long executes and forms.
    #[arg(long, env = "ACTION_HUB_JSON_KEEPALIVE_SEC", default_value_t = 30.0)]
    keepalive_secs: f64,
    /// Timeout of the download_url GET, milliseconds.
    #[arg(
        long,
        env = "ACTION_HUB_STREAM_REQUEST_TIMEOUT",
        default_value_t = 780_000
    )]
    stream_timeout_ms: u64,
    /// Cut batches at this many bytes (the SDK's 460,800; never above the gateway's 4,096,000).
    #[arg(long, env = "ACTION_HUB_BATCH_BYTES", default_value_t = hub::send::DEFAULT_MAX_BATCH_BYTES)]
    batch_bytes: usize,
    /// Batches in flight at once per execute while parsing continues.
    #[arg(long, env = "ACTION_HUB_MAX_IN_FLIGHT", default_value_t = 4)]
    max_in_flight: usize,
    /// Retries on 5xx, 429 and network errors (exponential backoff with jitter).
    #[arg(long, env = "ACTION_HUB_RETRIES", default_value_t = 3)]
    retries: u32,
    /// First retry delay in milliseconds (doubles each retry).
    #[arg(long, env = "ACTION_HUB_RETRY_BASE_MS", default_value_t = 200)]
    retry_base_ms: u64,
    /// messageId = md5(X-Looker-Webhook-Id, row number) as a uuid, so a re-sent schedule can be
    /// deduplicated downstream.
    #[arg(long, env = "ACTION_HUB_DETERMINISTIC_MESSAGE_IDS")]
    deterministic_message_ids: bool,
    /// `context.app.version` of every event.
    #[arg(long, env = "APP_VERSION", default_value = "dev")]
    app_version: String,
    /// Write-back actions (mark_suspicious): the OAuth provider's authorize endpoint, where the
    /// user's browser is sent. Default: the mock Looker's provider.
    #[arg(
        long,
        env = "WRITEBACK_OAUTH_AUTHORIZE_URL",
        default_value = "http://127.0.0.1:8082/oauth/authorize"
    )]
    oauth_authorize_url: String,
    /// The provider's token endpoint (authorization code -> access token).
    #[arg(
        long,
        env = "WRITEBACK_OAUTH_TOKEN_URL",
        default_value = "http://127.0.0.1:8082/oauth/token"
    )]
    oauth_token_url: String,
    /// The provider's userinfo endpoint: who a token belongs to; 401 once revoked or expired.
    #[arg(
        long,
        env = "WRITEBACK_OAUTH_USERINFO_URL",
        default_value = "http://127.0.0.1:8082/oauth/userinfo"
    )]
    oauth_userinfo_url: String,
    /// OAuth client id of the hub at the provider.
    #[arg(long, env = "WRITEBACK_OAUTH_CLIENT_ID", default_value = "action-hub")]
    oauth_client_id: String,
    /// OAuth client secret of the hub at the provider. Never logged.
    #[arg(
        long,
        env = "WRITEBACK_OAUTH_CLIENT_SECRET",
        default_value = "action-hub-secret",
        hide_env_values = true
    )]
    oauth_client_secret: String,
    /// Seconds an OAuth login link (its sealed state) stays valid.
    #[arg(long, env = "WRITEBACK_STATE_TTL_SECS", default_value_t = 600)]
    oauth_state_ttl_secs: u64,
    /// SQLite file the write-back decisions are inserted into (created with its directory).
    /// [default: $XDG_DATA_HOME/action-hub/writeback.sqlite, else
    /// ~/.local/share/action-hub/writeback.sqlite, else in the temp dir]
    #[arg(long, env = "WRITEBACK_DB")]
    writeback_db: Option<std::path::PathBuf>,
    /// Serve only the RudderStack actions (no write-back actions, no database).
    #[arg(long, env = "WRITEBACK_DISABLED")]
    no_writeback: bool,
    #[command(flatten)]
    limits: serving::LimitArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::Token { secret }) = cli.cmd {
        println!("{}", hub::generate_token(&secret));
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let s = cli.serve;
    let listener = tokio::net::TcpListener::bind((s.host.as_str(), s.port))
        .await
        .with_context(|| format!("binding {}:{}", s.host, s.port))?;
    let base_url = match &s.advertise_host {
        Some(host) => Some(serving::advertised_url(host, listener.local_addr()?.port())),
        None => s.base_url,
    };
    let config = HubConfig {
        label: s.label,
        base_url,
        secret: s.secret,
        token: s.token,
        actions: s.actions,
        mapping: s.mapping,
        allow_dataplane: s.allow_dataplane,
        push_limit: s.push_limit,
        keepalive: Duration::from_secs_f64(s.keepalive_secs.max(0.01)),
        stream_timeout: Duration::from_millis(s.stream_timeout_ms),
        send: SendConfig {
            max_batch_bytes: s.batch_bytes,
            max_in_flight: s.max_in_flight,
            retries: s.retries,
            retry_base: Duration::from_millis(s.retry_base_ms),
            ..SendConfig::default()
        },
        deterministic_message_ids: s.deterministic_message_ids,
        app_version: s.app_version,
        limits: s.limits.limits(1),
        max_row_bytes: s.max_row_bytes,
        body_budget: s.body_budget,
    };
    let mut registry = hub::Registry::rudderstack();
    if !s.no_writeback {
        let base = config.base_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}",
                listener
                    .local_addr()
                    .map_or_else(|_| format!("{}:{}", s.host, s.port), |a| a.to_string())
            )
        });
        let secret = config
            .secret
            .clone()
            .or_else(|| config.token.clone())
            .unwrap_or_default();
        let wb = hub::writeback::WritebackConfig {
            state_ttl: Duration::from_secs(s.oauth_state_ttl_secs),
            authorize_url: s.oauth_authorize_url,
            token_url: s.oauth_token_url,
            userinfo_url: s.oauth_userinfo_url,
            client_id: s.oauth_client_id,
            client_secret: s.oauth_client_secret,
            ..hub::writeback::WritebackConfig::new(&base, &secret)
        };
        let wb = hub::writeback::WritebackConfig {
            db_path: s.writeback_db.unwrap_or(wb.db_path),
            ..wb
        };
        tracing::info!(path = %wb.db_path.display(), "write-back database");
        hub::writeback::register(&mut registry, wb).context("opening the write-back database")?;
    }
    let shutdown = async {
        serving::shutdown_signal().await;
        tracing::info!("shutting down");
    };
    hub::Hub::builder()
        .config(config)
        .registry(registry)
        .run(listener, shutdown)
        .await?;
    Ok(())
}
