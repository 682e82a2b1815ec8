//! Outgoing HTTP: every `reqwest` client of the workspace starts from [`http_client`].
//!
//! reqwest's default TLS provider, aws-lc-rs, compiles a large C library and was the longest
//! single step of a cold build here. The workspace asks reqwest for rustls without a provider
//! and installs ring, once per process, before the first client is built. A client built any
//! other way would panic on its first use ("No rustls crypto provider is configured"), so
//! `clippy.toml` forbids `reqwest::Client::new` and `reqwest::Client::builder` elsewhere.

use std::sync::Once;

static PROVIDER: Once = Once::new();

/// A `reqwest` client builder with TLS ready (rustls with ring). Add the crate's own settings
/// (timeouts, redirect policy, `no_proxy`) and `build()` it.
///
/// ```
/// let client = serving::http_client().no_proxy().build().expect("a client");
/// # drop(client);
/// ```
#[allow(clippy::disallowed_methods)]
pub fn http_client() -> reqwest::ClientBuilder {
    PROVIDER.call_once(|| {
        // An error means another provider was installed first: that one is used, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// A reqwest error's text with its cause chain, the URL it carries replaced by `url_as`: the
/// URL's query or user part may hold a credential (a write key, a token), which must not reach
/// a log, an answer or a file.
pub fn error_text(e: &reqwest::Error, url_as: &str) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), url_as);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
