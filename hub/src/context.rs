//! What the hub lends an action while it runs ([`Context`]): the configuration and the two HTTP
//! clients. It holds nothing about the server (routes, the action registry, the body budget),
//! so that actions depend on it and the server on actions, never the other way round.

use crate::config::HubConfig;

/// The configuration and HTTP clients every execute shares; built once when the hub starts.
pub struct Context {
    /// The configuration.
    pub config: HubConfig,
    /// HTTP client for download URLs: it follows redirects on the download_url's own host only
    /// (the `look_stream::input` module says why).
    pub download: reqwest::Client,
    /// HTTP client for the data plane: it never follows a redirect, which is reported as a
    /// failure naming the `Location` (see [`crate::send`]).
    pub dataplane: reqwest::Client,
}

impl std::fmt::Debug for Context {
    /// The label only: the configuration holds the hub's secret and token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("label", &self.config.label)
            .finish_non_exhaustive()
    }
}
