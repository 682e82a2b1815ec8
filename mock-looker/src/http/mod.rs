//! The mock's own HTTP surface, and nothing else: the `/_mock/` admin API with the download
//! and state URLs ([`admin`]), the Looker API 4.0 subset with its sessions ([`api4`]) and the
//! OAuth provider ([`oauth`], its sign-in page in [`oauth_page`]), and the console a person
//! opens in a browser ([`console`]). Handlers translate HTTP to calls on the engine in
//! `crate::core`, which knows nothing of this layer.

pub(crate) mod admin;
pub(crate) mod api4;
mod console;
mod guard;
pub mod oauth;
mod oauth_page;

use std::future::Future;
use std::sync::Arc;

use crate::core::{Core, HubOptions};

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    core: Arc<Core>,
    oauth: oauth::OAuthProvider,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hubs = core.config.hubs.clone();
    let app = admin::router(core.clone())
        .merge(api4::router().with_state(core.clone()))
        .merge(oauth.router())
        .merge(console::router(core.clone()))
        // Cross-origin and content-type rules of the admin API and API 4.0 (see `guard`).
        .layer(axum::middleware::from_fn(guard::guard));
    // The Python SDK sends `//api/…` when base_url ends with a slash: collapse `//` before routing.
    let app = tower::Layer::layer(&tower::util::MapRequestLayer::new(collapse_slashes), app);
    let scheduler = tokio::spawn(crate::scheduler::run_scheduler(core.clone()));
    let startup = {
        let core = core.clone();
        tokio::spawn(async move {
            for (url, token) in hubs {
                match core
                    .register_hub(
                        &url,
                        HubOptions {
                            token,
                            looker_version: None,
                        },
                    )
                    .await
                {
                    Ok(h) if h.fetch_error.is_none() => {
                        tracing::info!(hub = %h.url, actions = h.actions.len(), "hub registered")
                    }
                    Ok(h) => {
                        tracing::warn!(hub = %h.url, error = ?h.fetch_error, "hub registered but its action list failed")
                    }
                    Err(e) => tracing::warn!(%e, "hub not registered"),
                }
            }
        })
    };
    // The slash collapsing must run before routing, so the router is wrapped as a whole.
    let app = axum::Router::new().fallback_service(app);
    let result = serving::serve(listener, app, core.config.limits, "mock-looker", shutdown).await;
    scheduler.abort();
    startup.abort();
    result
}

fn collapse_slashes(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    if path.contains("//") {
        let mut collapsed = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && collapsed.ends_with('/')) {
                collapsed.push(c);
            }
        }
        let pq = match req.uri().query() {
            Some(q) => format!("{collapsed}?{q}"),
            None => collapsed,
        };
        if let Ok(uri) = pq.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}
