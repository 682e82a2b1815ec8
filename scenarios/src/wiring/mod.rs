//! The one module that knows the real crates: implements the [`Harness`] with the mock Looker,
//! the reference hub and the mock data plane, each started fresh on port 0 per scenario.
//!
//! Everything crate-specific lives here: converting a scenario Look into the mock Looker's
//! `LookDef` (`look.rs`), a fault rule into the data plane's `FaultRule`, outcomes into
//! [`SendResult`]. One file per system: `looker_side.rs`, `hub_side.rs` (with the write-back hub
//! and its database), `dataplane_side.rs` (in-process, or an external one over `/_mock`).
//!
//! [`Harness`]: crate::harness::Harness
//! [`SendResult`]: crate::harness::SendResult
//!
//! A write-back scenario (`hub: {writeback: true}`) gets the hub the `action-hub` binary serves
//! by default: the RudderStack actions plus `mark_suspicious`/`mark_suspicious_batch`, with a
//! random hub secret, an OAuth client registered for it at the mock Looker's provider, and a
//! SQLite database in a temporary directory. The runner reads that database file itself with
//! `rusqlite`, so what the hub says it wrote is checked against what is there.

mod dataplane_side;
mod hub_side;
mod look;
mod looker_side;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Mutex;

use crate::format::{Mapping, Scenario, WriteKeySpec};
use crate::harness::{DataPlane as _, Launcher};

pub use hub_side::read_writeback_rows;
pub use look::to_look;

/// Write key of the in-process data plane when a scenario names none.
pub const DEFAULT_WRITE_KEY: &str = "wk_scenario";

/// External endpoints given on the command line.
#[derive(Debug, Clone, Default)]
pub struct WiringConfig {
    /// External hub URL.
    pub hub_url: Option<String>,
    /// External hub token.
    pub hub_token: Option<String>,
    /// External mock data plane URL.
    pub dataplane_url: Option<String>,
    /// Address the in-process mocks listen on (default 127.0.0.1): `--bind`.
    pub bind: Option<IpAddr>,
    /// Host name in every URL the in-process mocks hand the hub (default the bound address):
    /// `--advertise-host`, for a hub that reaches them under another name (a container).
    pub advertise_host: Option<String>,
}

/// Starts the real systems per scenario.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// Where to find external systems.
    pub config: WiringConfig,
}

impl Wiring {
    /// A launcher with these external endpoints.
    pub fn new(config: WiringConfig) -> Wiring {
        Wiring { config }
    }
}

enum HubServer {
    Local(hub::Hub),
    /// The hub with the write-back actions, served on a listener bound first so that its
    /// public URL (the `oauth_url`s and the OAuth redirect URI) is known before it starts.
    Writeback {
        url: String,
        token: String,
        /// Dropping it shuts the hub down.
        _server: serving::Background,
    },
    External {
        url: String,
        token: Option<String>,
    },
}

/// What a write-back scenario needs besides the hub's URL.
struct WritebackSide {
    /// The hub secret (the OAuth state key is derived from it).
    secret: String,
    /// The hub's SQLite file.
    db: PathBuf,
    _dir: tempfile::TempDir,
}

enum DataplaneServer {
    Local(mock_dataplane::MockDataplane),
    External {
        url: String,
        keys: Vec<String>,
        /// The typed client of the mock's `/_mock/` API (mock-dataplane's own).
        client: mock_dataplane::Client,
    },
}

/// The systems of one scenario.
pub struct Env {
    hub: HubServer,
    dataplane: DataplaneServer,
    looker: mock_looker::MockLooker,
    /// Mock Looker hub registrations by Looker version ("" = the scenario default).
    hubs: Mutex<BTreeMap<String, String>>,
    default_version: Option<String>,
    writeback: Option<WritebackSide>,
}

impl Wiring {
    /// The data plane URL a scenario uses, when it is not the in-process one.
    fn external_dataplane(&self, s: &Scenario) -> Option<String> {
        s.dataplane
            .url
            .clone()
            .or_else(|| self.config.dataplane_url.clone())
    }
}

impl Launcher for Wiring {
    type H = Env;

    async fn start(&self, s: &Scenario) -> anyhow::Result<Env> {
        let keys: Vec<WriteKeySpec> = if s.dataplane.write_keys.is_empty() {
            vec![WriteKeySpec::Key(DEFAULT_WRITE_KEY.into())]
        } else {
            s.dataplane.write_keys.clone()
        };
        let dataplane = match self.external_dataplane(s) {
            Some(url) => {
                let url = url.trim_end_matches('/').to_string();
                let client = mock_dataplane::Client::new(url.clone())
                    .context("a client for the external data plane's /_mock API")?;
                // The mock was started without knowing this scenario: make it accept the keys
                // the scenario names (or refuse one it names as a disabled source).
                for k in &keys {
                    let (key, name, enabled) = match k {
                        WriteKeySpec::Key(k) => (k.clone(), None, true),
                        WriteKeySpec::Source { key, name, enabled } => {
                            (key.clone(), name.clone(), *enabled)
                        }
                    };
                    let source = mock_dataplane::Source {
                        name: name.unwrap_or_else(|| "scenario source".into()),
                        enabled,
                        // Empty: an existing source keeps its id, a new one gets one.
                        id: String::new(),
                        write_key: key,
                    };
                    client
                        .put_source(&source)
                        .await
                        .context("creating the scenario's write keys at the external data plane")?;
                }
                apply_settings(&client, s).await?;
                DataplaneServer::External {
                    client,
                    url,
                    keys: keys.iter().map(|k| k.key().to_string()).collect(),
                }
            }
            None => {
                let mut b = mock_dataplane::MockDataplane::builder().in_memory();
                if let Some(ip) = self.config.bind {
                    b = b.bind(ip);
                }
                if let Some(host) = &self.config.advertise_host {
                    b = b.advertise_host(host.clone());
                }
                for k in &keys {
                    b = match k {
                        WriteKeySpec::Key(k) => b.write_key(k.clone()),
                        WriteKeySpec::Source { key, name, enabled } => {
                            let mut src = mock_dataplane::Source::new(
                                key.clone(),
                                name.clone().unwrap_or_else(|| key.clone()),
                            );
                            src.enabled = *enabled;
                            b.source(src)
                        }
                    };
                }
                if s.dataplane.legacy_responses {
                    b = b.legacy_responses(true);
                }
                if let Some(n) = s.dataplane.max_request_bytes {
                    b = b.max_request_bytes(n);
                }
                if let Some(ms) = s.dataplane.write_timeout_ms {
                    b = b.write_timeout(Duration::from_millis(ms));
                }
                DataplaneServer::Local(b.start().await.context("starting the mock data plane")?)
            }
        };
        // The mock Looker first: a write-back hub is configured with its OAuth provider.
        let mut looker = mock_looker::MockLooker::builder().without_builtin_looks();
        if let Some(ip) = self.config.bind {
            looker = looker.bind(ip);
        }
        if let Some(host) = &self.config.advertise_host {
            looker = looker.advertise_host(host.clone());
        }
        let looker = looker.start().await.context("starting the mock Looker")?;
        let mapping = match s.hub.mapping {
            Mapping::Rudderstack => hub::MappingMode::RudderStack,
            Mapping::Clean => hub::MappingMode::Clean,
        };
        let mut writeback = None;
        let hub = match (
            s.hub.url.clone().or_else(|| self.config.hub_url.clone()),
            &s.hub.url,
        ) {
            (None, _) if s.hub.writeback => {
                let (side, wb) = hub_side::start_writeback_hub(&looker, mapping).await?;
                writeback = Some(wb);
                side
            }
            (Some(url), scenario_url) => HubServer::External {
                url,
                token: if scenario_url.is_some() {
                    s.hub.token.clone()
                } else {
                    self.config.hub_token.clone()
                },
            },
            (None, _) => {
                let config = hub::HubConfig {
                    mapping,
                    ..hub::HubConfig::default()
                };
                HubServer::Local(
                    hub::Hub::builder()
                        .config(config)
                        .start()
                        .await
                        .context("starting the reference hub")?,
                )
            }
        };
        let env = Env {
            hub,
            dataplane,
            looker,
            hubs: Mutex::new(BTreeMap::new()),
            default_version: s.looker.version.clone().filter(|v| v != "none"),
            writeback,
        };
        if let DataplaneServer::External { client, .. } = &env.dataplane {
            // Nothing of the previous scenario may count for this one.
            env.reset_events().await?;
            env.clear_faults().await?;
            client.clear_requests().await?;
        }
        Ok(env)
    }
}

/// Gives an external mock-dataplane the settings the in-process one would be built with for
/// this scenario (its own, else the defaults), through `POST /_mock/settings`.
async fn apply_settings(client: &mock_dataplane::Client, s: &Scenario) -> anyhow::Result<()> {
    let d = &s.dataplane;
    let wanted = mock_dataplane::RuntimeSettings {
        legacy_responses: Some(d.legacy_responses),
        max_request_bytes: Some(
            d.max_request_bytes
                .unwrap_or(mock_dataplane::DEFAULT_MAX_REQUEST_BYTES),
        ),
        write_timeout_ms: Some(d.write_timeout_ms.unwrap_or(
            u64::try_from(mock_dataplane::DEFAULT_WRITE_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
        )),
    };
    match client.set_settings(&wanted).await {
        Ok(_) => Ok(()),
        // A mock-dataplane from before /_mock/settings: fine while the scenario needs the
        // defaults it most likely runs with.
        Err(mock_dataplane::ClientError::Status { status: 404, .. })
            if !d.legacy_responses
                && d.max_request_bytes.is_none()
                && d.write_timeout_ms.is_none() =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "giving the data plane at {} this scenario's settings",
            client.url()
        ))),
    }
}
