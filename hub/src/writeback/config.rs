//! How the write-back actions are configured: the OAuth provider, its client, the sealed
//! state's key and lifetime, and the database file.

use std::path::PathBuf;
use std::time::Duration;

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
