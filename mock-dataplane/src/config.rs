//! Configuration: which sources (write keys) exist, where events are stored, which texts are used.
//!
//! The real gateway learns its sources from the workspace configuration (backend config); the mock
//! takes them from flags, a builder, or a sources file (TOML or YAML) with the same fields that
//! matter to the gateway: write key, source id, name, enabled flag and definition category.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::faults::FaultRule;

/// The gateway's default `Gateway.maxReqSizeInKB` (4000) in bytes: 4000 * 1024.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4_096_000;

/// The gateway's HTTP server `WriteTimeout` (`Gateway.WriteTimeout`, 10 s): an answer not
/// written by then is never written, the client sees the connection close.
pub const DEFAULT_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a `/_mock/stream` subscriber may leave its full buffer unread before it is dropped.
pub const DEFAULT_STREAM_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The gateway's default `Gateway.maxConcurrentRequests`.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 50_000;

/// A source as the gateway sees it: a write key mapped to a source id, a name and an enabled flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The write key SDKs send as the HTTP Basic username.
    pub write_key: String,
    /// The source id (`source_id` job parameter in rudder-server).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// A disabled source answers 404 `source is disabled`.
    pub enabled: bool,
}

impl Source {
    /// An enabled source with a generated id, named `name`.
    pub fn new(write_key: impl Into<String>, name: impl Into<String>) -> Self {
        Source {
            write_key: write_key.into(),
            id: generate_id(),
            name: name.into(),
            enabled: true,
        }
    }
}

/// One entry of a sources file; `category` distinguishes webhook sources (only accepted on
/// `/v1/webhook`) from event-stream sources (empty category, like Looker, HTTP and Node).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub write_key: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Source definition category: empty (event stream) or `webhook`.
    #[serde(default)]
    pub category: String,
    /// Source definition name, e.g. `Looker`, `HTTP`, `Node` (informational).
    #[serde(default)]
    pub definition: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesFile {
    sources: Vec<SourceSpec>,
}

/// A configured source plus the definition category the gateway routes by.
#[derive(Clone, Debug)]
pub(crate) struct SourceEntry {
    pub source: Source,
    pub category: String,
}

/// Where accepted events live.
#[derive(Clone, Debug)]
pub enum Storage {
    /// In process memory: fast, lost on exit. The default for tests.
    InMemory,
    /// A SQLite database (WAL) in this directory; survives crashes.
    Sqlite(PathBuf),
}

/// Everything the server needs; built by [`crate::MockDataplaneBuilder`] or the binary.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) sources: Vec<SourceEntry>,
    /// Where accepted events are stored.
    pub storage: Storage,
    /// Answer with the pre-1.46 capitalised texts (`OK`, `Invalid Write Key`, ...).
    pub legacy_responses: bool,
    /// The 413 threshold, measured on the decompressed (and, for single events, wrapped) body.
    pub max_request_bytes: usize,
    /// Requests beyond this many in flight get 503 `Service Unavailable`.
    pub max_concurrent_requests: usize,
    /// Fault rules active from start-up.
    pub faults: Vec<FaultRule>,
    /// Sync the WAL to disk before acknowledging (default); off, acknowledged means committed
    /// (survives a crash of the mock, not of the machine).
    pub fsync: bool,
    /// Answers ready later than this after the request arrived are dropped with the connection,
    /// like Go's `http.Server.WriteTimeout` (what was stored stays stored).
    pub write_timeout: std::time::Duration,
    /// Origins (normalised `scheme://host[:port]`) that may call `/_mock/` from a browser.
    /// Empty by default: the control API holds captured events and must not be readable or
    /// writable by any page a developer has open. Add with [`Config::allow_cors_origin`].
    pub(crate) cors_origins: Vec<String>,
    /// A `/_mock/stream` subscriber whose buffer stays full this long (it reads nothing while
    /// events wait) is sent an `end` event and disconnected, so it cannot pin memory.
    pub stream_stall_timeout: std::time::Duration,
    /// Header-read and idle timeouts and the connection limit of the server. The gateway sets
    /// no header timeout (`ReadHeaderTimeout` 0) and an idle timeout of 720 s; the mock keeps
    /// the 720 s and bounds header reads at 30 s (see [`serving::Limits`]). Each connection
    /// uses two descriptors here (the spare one connection faults write through).
    pub limits: serving::Limits,
    /// `--forward URL`: send each accepted request to this data plane first, store only what
    /// it acknowledges and pass on its other answers (see the crate README).
    pub forward: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sources: Vec::new(),
            storage: Storage::InMemory,
            legacy_responses: false,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            faults: Vec::new(),
            fsync: true,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            cors_origins: Vec::new(),
            stream_stall_timeout: DEFAULT_STREAM_STALL_TIMEOUT,
            limits: serving::Limits::default().fit_descriptors(2),
            forward: None,
        }
    }
}

/// Errors found while reading configuration files.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid {format} sources/faults file: {detail}")]
    Parse {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    #[error("duplicate write key for sources {first} and {second}")]
    DuplicateKey { first: String, second: String },
    #[error("a source has an empty write key (source id {0})")]
    EmptyKey(String),
    #[error("--cors-origin {0:?} is not an origin like http://localhost:3000")]
    BadOrigin(String),
}

impl Config {
    /// Adds an event-stream source.
    pub fn add_source(&mut self, source: Source) -> Result<(), ConfigError> {
        self.add_entry(SourceEntry {
            source,
            category: String::new(),
        })
    }

    /// Adds a source with a definition category (`webhook` for webhook sources).
    pub fn add_source_with_category(
        &mut self,
        source: Source,
        category: impl Into<String>,
    ) -> Result<(), ConfigError> {
        self.add_entry(SourceEntry {
            source,
            category: category.into(),
        })
    }

    fn add_entry(&mut self, entry: SourceEntry) -> Result<(), ConfigError> {
        if entry.source.write_key.is_empty() {
            return Err(ConfigError::EmptyKey(entry.source.id));
        }
        if let Some(existing) = self
            .sources
            .iter()
            .find(|e| e.source.write_key == entry.source.write_key)
        {
            return Err(ConfigError::DuplicateKey {
                first: existing.source.id.clone(),
                second: entry.source.id,
            });
        }
        self.sources.push(entry);
        Ok(())
    }

    /// Lets pages from `origin` (e.g. `http://localhost:3000`) call the `/_mock/` API.
    pub fn allow_cors_origin(&mut self, origin: &str) -> Result<(), ConfigError> {
        let normalized =
            normalize_origin(origin).ok_or_else(|| ConfigError::BadOrigin(origin.to_owned()))?;
        if !self.cors_origins.contains(&normalized) {
            self.cors_origins.push(normalized);
        }
        Ok(())
    }

    /// The origins allowed to call `/_mock/` from a browser (normalised).
    pub fn cors_origins(&self) -> &[String] {
        &self.cors_origins
    }

    /// The configured sources, in the order they were added.
    pub fn sources(&self) -> Vec<Source> {
        self.sources.iter().map(|e| e.source.clone()).collect()
    }

    /// Adds every source of a TOML or YAML sources file (`sources = [...]` / `sources: [...]`).
    pub fn load_sources_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file: SourcesFile = parse_file(path)?;
        for spec in file.sources {
            let source = Source {
                id: spec.id.unwrap_or_else(generate_id),
                name: spec
                    .name
                    .or(spec.definition)
                    .unwrap_or_else(|| "source".to_owned()),
                enabled: spec.enabled,
                write_key: spec.write_key,
            };
            self.add_source_with_category(source, spec.category)?;
        }
        Ok(())
    }

    /// Adds the fault rules of a TOML, YAML or JSON faults file (`faults = [...]`).
    pub fn load_faults_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct FaultsFile {
            faults: Vec<FaultRule>,
        }
        let file: FaultsFile = parse_file(path)?;
        for rule in &file.faults {
            rule.validate().map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                format: "faults",
                detail: e.to_string(),
            })?;
        }
        self.faults.extend(file.faults);
        Ok(())
    }
}

/// Parses by extension: `.toml`, `.json`, otherwise YAML (JSON is valid YAML too).
fn parse_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let parse_err = |format: &'static str, detail: String| ConfigError::Parse {
        path: path.to_owned(),
        format,
        detail,
    };
    match ext.as_str() {
        "toml" => toml::from_str(&text).map_err(|e| parse_err("TOML", e.to_string())),
        "json" => serde_json::from_str(&text).map_err(|e| parse_err("JSON", e.to_string())),
        _ => serde_norway::from_str(&text).map_err(|e| parse_err("YAML", e.to_string())),
    }
}

/// A random id in the style of rudder-server source ids / write keys (27 base62 characters).
pub fn generate_id() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..27)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// An origin in the form browsers send it (`scheme://host[:port]`, default port left out,
/// lower case), or `None` when `s` is not a tuple origin (`null`, a path, garbage).
pub(crate) fn normalize_origin(s: &str) -> Option<String> {
    let url = url::Url::parse(s.trim()).ok()?;
    match url.origin() {
        o @ url::Origin::Tuple(..) => Some(o.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}
