//! `scenarios record`: a recording proxy between Looker and a hub (issue 15).
//!
//! Looker (a real one, or the mock) is given the proxy's address as its Action Hub. Every
//! request goes on to the hub and its answer comes back (see [`proxy`] for the few things
//! changed on the way); every exchange is written to `DIR/exchanges/`, and every execute becomes
//! a scenario `DIR/NNN_<action>.yaml` with its Look in `DIR/looks/NNN_<action>.json` (a mock
//! Looker Look), written as soon as the hub has answered (before Looker's answer ends), so a
//! Ctrl-C or SIGTERM loses nothing but what is still in flight, and the server waits for that.
//! `scenarios run DIR` replays them against the reference hub or any hub (`--hub-url`).
//!
//! No secret reaches a file: the write key and other sensitive params become placeholders the
//! runner fills (`${dataplane.write_key}`, `${sensitive.NAME}`), and every file is scrubbed of
//! every token and key the proxy saw ([`redact`]). `--redact-pii` replaces emails and names.

mod exchange;
mod execute;
mod look;
mod proxy;
mod redact;
mod session;
mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

/// The default `--max-body-bytes`: the official hub's `express.json({limit: "250mb"})`.
pub const DEFAULT_MAX_BODY_BYTES: usize = 250 << 20;

/// What `scenarios record` is told.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The hub the requests go to.
    pub hub_url: String,
    /// Sent to the hub instead of Looker's token; `None` passes Looker's on.
    pub hub_token: Option<String>,
    /// Where scenarios, Looks and exchanges are written.
    pub out: PathBuf,
    /// Replace emails and names with generated values.
    pub redact_pii: bool,
    /// A forwarding mock data plane (`host:port` or URL) that `rudder_server_url` is pointed
    /// at, whose stored events become the scenario's event expectations.
    pub dataplane_via: Option<String>,
    /// How the hub reaches the proxy (for the download URLs it is given); default the address
    /// the proxy listens on.
    pub advertise_url: Option<String>,
    /// Largest request body, answer read whole, or download accepted.
    pub max_body_bytes: usize,
}

impl RecordConfig {
    /// Records traffic to `hub_url` into `out`, nothing else set.
    pub fn new(hub_url: impl Into<String>, out: impl Into<PathBuf>) -> RecordConfig {
        RecordConfig {
            hub_url: hub_url.into(),
            hub_token: None,
            out: out.into(),
            redact_pii: false,
            dataplane_via: None,
            advertise_url: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Serves the proxy on `listener` until `shutdown`, then waits for the exchanges in flight
/// (their scenarios are written before they end).
pub async fn run(
    listener: TcpListener,
    config: RecordConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let url = url::Url::parse(&config.hub_url)
        .with_context(|| format!("--hub-url {:?} is not a URL", config.hub_url))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "--hub-url {:?} must be http or https",
        config.hub_url
    );
    let addr = listener.local_addr()?;
    let proxy_url = match &config.advertise_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let ip = if addr.ip().is_unspecified() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                addr.ip()
            };
            format!("http://{}", SocketAddr::new(ip, addr.port()))
        }
    };
    let session = Arc::new(session::Session::new(config, proxy_url)?);
    if let Some(via) = &session.via_url {
        let cursor = execute::start_cursor(via).await.with_context(|| {
            format!("--dataplane-via {via}: cannot read its /_mock/events (start `mock-dataplane --forward <data plane URL>` there)")
        })?;
        session.lock().cursor = cursor;
    }
    let router = Router::new()
        .route("/_record/downloads/{token}", get(proxy::download))
        .fallback(proxy::proxy)
        .with_state(session);
    serving::serve(
        listener,
        router,
        serving::Limits::default(),
        "scenarios record",
        shutdown,
    )
    .await?;
    Ok(())
}
