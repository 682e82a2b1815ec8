//! A recording's shared state: what the proxy learned (action params, the hub's URLs, forms),
//! the one-time download URLs it serves, the secrets and PII map, and the files it writes.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;
use serde_json::Value;

use super::RecordConfig;
use super::redact::{Pii, Secrets};

/// A Look the proxy fetched from Looker's one-time `download_url`, served once to the hub.
#[derive(Debug)]
pub struct Download {
    /// The saved answer (in the session's temporary directory, never in the output).
    pub path: PathBuf,
    pub status: u16,
    pub content_type: Option<String>,
    pub used: bool,
}

/// Mutable state, behind one lock that is never held across an await.
#[derive(Debug, Default)]
pub struct State {
    pub exchanges: u64,
    pub scenarios: u64,
    /// Action → param name → `sensitive`, from the hub's action list.
    pub params: HashMap<String, HashMap<String, bool>>,
    /// Origins (`scheme://host:port`) the hub puts in its action URLs.
    pub hub_origins: BTreeSet<String>,
    /// Action → the latest form the hub answered.
    pub forms: HashMap<String, Value>,
    pub downloads: HashMap<String, Download>,
    pub secrets: Secrets,
    pub pii: Pii,
    /// The last data-plane event cursor already attributed to an execute.
    pub cursor: u64,
}

/// One recording.
#[derive(Debug)]
pub struct Session {
    pub cfg: RecordConfig,
    /// `--hub-url` without a trailing slash.
    pub hub_base: String,
    /// How the hub reaches the proxy (for the download URLs it is given).
    pub proxy_url: String,
    /// The forwarding mock data plane (`--dataplane-via`), as a URL.
    pub via_url: Option<String>,
    pub client: reqwest::Client,
    /// Downloaded Looks before they become Look files; removed with the session.
    pub scratch: tempfile::TempDir,
    pub state: Mutex<State>,
}

impl Session {
    pub fn new(cfg: RecordConfig, proxy_url: String) -> anyhow::Result<Session> {
        for dir in [
            cfg.out.clone(),
            cfg.out.join("looks"),
            cfg.out.join("exchanges"),
        ] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut state = State {
            scenarios: highest_number(&cfg.out),
            exchanges: highest_number(&cfg.out.join("exchanges")),
            ..State::default()
        };
        if let Some(t) = &cfg.hub_token {
            state.secrets.add(t);
        }
        let via_url = cfg.dataplane_via.as_deref().map(|a| {
            if a.contains("://") {
                a.trim_end_matches('/').to_owned()
            } else {
                format!("http://{a}")
            }
        });
        Ok(Session {
            hub_base: cfg.hub_url.trim_end_matches('/').to_owned(),
            proxy_url,
            via_url,
            client: serving::http_client()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("building the HTTP client")?,
            scratch: tempfile::tempdir().context("creating a temporary directory")?,
            state: Mutex::new(state),
            cfg,
        })
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `text` to `rel` under the output directory, every known secret masked first
    /// (through a temporary file, so a reader never sees half a file).
    pub fn write(&self, rel: &Path, text: &str) -> anyhow::Result<()> {
        let clean = self.lock().secrets.scrub(text);
        let path = self.cfg.out.join(rel);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, clean).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// The highest `NNN_` prefix of the files in `dir`, so a second recording into the same
/// directory continues the numbering instead of overwriting.
fn highest_number(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split('_').next()?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
}
