//! `mock-dataplane`: a RudderStack data plane (gateway) mock on the command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use mock_dataplane::{Config, Source, Storage};

/// A high-fidelity RudderStack data plane mock: the gateway's /v1 API with the real answers,
/// durable storage of every accepted event, an inspection API under /_mock/ and fault injection.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8081, env = "MOCK_DATAPLANE_PORT")]
    port: u16,

    /// Address to bind. Loopback by default so the mock is not exposed by accident.
    #[arg(long, visible_alias = "bind", default_value = "127.0.0.1")]
    host: String,

    /// The host name a hub reaches this mock under (e.g. `host.docker.internal` for a hub in a
    /// container): printed as the URL to give the hub (`http://NAME:PORT/v1/batch`). The mock
    /// itself hands out no URLs.
    #[arg(long, value_name = "NAME")]
    advertise_host: Option<String>,

    /// Accept this write key; `KEY=NAME` also names the source. Repeatable. Without any key or
    /// sources file, one demo source is created and its key printed.
    #[arg(long = "write-key", value_name = "KEY[=NAME]")]
    write_keys: Vec<String>,

    /// A TOML or YAML file listing sources: `sources = [{write_key, id, name, enabled, category}]`.
    /// `category = "webhook"` makes a webhook source (accepted only on /v1/webhook).
    #[arg(long, value_name = "FILE")]
    sources: Option<PathBuf>,

    /// Store events durably in SQLite (WAL) in this directory.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "mock-dataplane-data",
        conflicts_with = "in_memory"
    )]
    data_dir: PathBuf,

    /// Keep events in memory only (lost on exit).
    #[arg(long)]
    in_memory: bool,

    /// Acknowledge after the commit without waiting for the disk (survives a crash of the
    /// mock, not of the machine). By default the WAL is synced before every acknowledgement.
    #[arg(long)]
    no_fsync: bool,

    /// Answer with the pre-1.46 capitalised texts (`OK`, `Invalid Write Key`, ...).
    #[arg(long)]
    legacy_responses: bool,

    /// The 413 threshold in bytes, measured after gzip decoding (gateway default 4096000).
    #[arg(long, value_name = "N", default_value_t = mock_dataplane::DEFAULT_MAX_REQUEST_BYTES)]
    max_request_bytes: usize,

    /// The HTTP write timeout in milliseconds (gateway default 10000): an answer ready later
    /// (a slow store, or a delay fault) is never sent; the connection closes instead, while
    /// what was stored stays stored, as with the real gateway.
    #[arg(long, value_name = "MS", default_value_t = mock_dataplane::DEFAULT_WRITE_TIMEOUT.as_millis() as u64)]
    write_timeout_ms: u64,

    /// Fault rules active from start-up: a TOML, YAML or JSON file with `faults = [...]`
    /// (same rule format as POST /_mock/faults).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,

    /// Let pages from this origin (e.g. http://localhost:3000) call the /_mock/ API from a
    /// browser. Repeatable. By default no page may: the API holds the captured events.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,

    /// Drop a /_mock/stream subscriber that reads nothing for this long while events wait
    /// (it gets `event: end`, then the connection closes).
    #[arg(long, value_name = "MS", default_value_t = mock_dataplane::DEFAULT_STREAM_STALL_TIMEOUT.as_millis() as u64)]
    stream_stall_timeout_ms: u64,

    /// Forward each accepted request to this data plane (e.g. https://hosted.rudderlabs.com)
    /// before storing it: only what it acknowledges (2xx) is stored and acknowledged; any other
    /// answer, or 502/504 when it cannot be reached, is passed to the client. Configure the
    /// write keys it knows with --write-key too (the mock checks them first).
    #[arg(long, value_name = "URL")]
    forward: Option<String>,

    #[command(flatten)]
    limits: serving::LimitArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "mock_dataplane=info,serving=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();

    let mut config = Config::default();
    config.legacy_responses = cli.legacy_responses;
    config.max_request_bytes = cli.max_request_bytes;
    config.write_timeout = std::time::Duration::from_millis(cli.write_timeout_ms);
    config.fsync = !cli.no_fsync;
    config.stream_stall_timeout = std::time::Duration::from_millis(cli.stream_stall_timeout_ms);
    // Two descriptors per connection: the spare one connection faults write through.
    config.limits = cli.limits.limits(2);
    if let Some(url) = &cli.forward {
        let parsed = url::Url::parse(url)
            .with_context(|| format!("--forward {url:?} is not a URL like http://host:port"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https") && parsed.query().is_none(),
            "--forward {url:?}: give the data plane's http(s) root URL, without a query"
        );
        config.forward = Some(url.trim_end_matches('/').to_owned());
    }
    for origin in &cli.cors_origins {
        config.allow_cors_origin(origin)?;
    }
    config.storage = if cli.in_memory {
        Storage::InMemory
    } else {
        Storage::Sqlite(cli.data_dir.clone())
    };
    for spec in &cli.write_keys {
        let (key, name) = match spec.split_once('=') {
            Some((k, n)) => (k, n),
            None => (spec.as_str(), "mock source"),
        };
        config.add_source(Source::new(key, name))?;
    }
    if let Some(path) = &cli.sources {
        config.load_sources_file(path)?;
    }
    if let Some(path) = &cli.faults {
        config.load_faults_file(path)?;
    }
    let demo = config.sources().is_empty();
    if demo {
        config.add_source(Source::new(demo_key(&config)?, "demo source"))?;
    }

    let listener = tokio::net::TcpListener::bind((cli.host.as_str(), cli.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", cli.host, cli.port))?;
    let addr = listener.local_addr()?;
    match &cli.advertise_host {
        Some(host) => println!(
            "mock-dataplane listening on http://{addr} (advertised as {})",
            serving::advertised_url(host, addr.port())
        ),
        None => println!("mock-dataplane listening on http://{addr}"),
    }
    match &config.storage {
        Storage::InMemory => println!("storage: in memory"),
        Storage::Sqlite(dir) => println!("storage: SQLite in {}", dir.display()),
    }
    if let Some(url) = &config.forward {
        println!("forwarding each accepted request to {url} first (--forward)");
    }
    // Keys given on the command line or in a sources file are not echoed (write keys are
    // never logged); the generated demo key is printed, as nothing else tells it.
    for s in config.sources() {
        let shown = if demo {
            s.write_key.clone()
        } else {
            mock_dataplane::mask(&s.write_key)
        };
        println!(
            "accepting write key {shown} (source id {}, name {:?}{})",
            s.id,
            s.name,
            if s.enabled { "" } else { ", DISABLED" }
        );
    }
    if !config.cors_origins().is_empty() {
        println!("/_mock/ callable from {}", config.cors_origins().join(", "));
    }
    let shutdown = async {
        serving::shutdown_signal().await;
        tracing::info!("shutting down");
    };
    mock_dataplane::run(listener, config, shutdown).await?;
    Ok(())
}

/// The demo key: generated once and kept in the data dir so restarts accept the same key.
fn demo_key(config: &Config) -> anyhow::Result<String> {
    let Storage::Sqlite(dir) = &config.storage else {
        return Ok(mock_dataplane::generate_id());
    };
    let path = dir.join("demo-write-key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        let k = k.trim().to_owned();
        if !k.is_empty() {
            return Ok(k);
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = mock_dataplane::generate_id();
    std::fs::write(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}
