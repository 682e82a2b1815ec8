//! `mock-looker`: a mock Looker instance that drives any Action Hub.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use mock_looker::Config;

/// A mock Looker instance: Looks, every action data format, forms and state, schedules,
/// a Looker API 4.0 subset and System Activity, with contract checks on every hub answer.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8082, env = "MOCK_LOOKER_PORT")]
    port: u16,
    /// Address to bind; loopback by default so the mock is never exposed by accident.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The host name a hub reaches this mock under (e.g. `host.docker.internal` for a hub in a
    /// container): every URL handed to a hub (download URLs, `state_url`s, OAuth links) becomes
    /// `http://NAME:PORT`. Default: the bound address.
    #[arg(long, value_name = "NAME")]
    advertise_host: Option<String>,
    /// Directory of extra Look definitions (*.yaml, *.yml, *.json), loaded after the demo Looks.
    #[arg(long)]
    looks: Option<PathBuf>,
    /// Do not load the built-in demo Looks.
    #[arg(long)]
    no_demo_looks: bool,
    /// Action Hub to register at start, as URL or URL=TOKEN; repeat for several hubs.
    #[arg(long = "hub", value_name = "URL[=TOKEN]")]
    hubs: Vec<String>,
    /// Looker version sent in `User-Agent: LookerOutgoingWebhook/<version>`; hubs pick
    /// formats by it (json_detail_lite_stream from 6.2 on).
    #[arg(long, default_value = mock_looker::DEFAULT_LOOKER_VERSION)]
    looker_version: String,
    /// API 4.0 client id (generated when not given).
    #[arg(long, env = "MOCK_LOOKER_CLIENT_ID", requires = "client_secret")]
    client_id: Option<String>,
    /// API 4.0 client secret (generated when not given).
    #[arg(long, env = "MOCK_LOOKER_CLIENT_SECRET", requires = "client_id")]
    client_secret: Option<String>,
    /// Seconds to wait for one hub answer before reporting a failure.
    #[arg(long, default_value_t = 120)]
    hub_timeout: u64,
    /// Largest hub answer read, in bytes; bigger answers are reported failures.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_answer_bytes: usize,
    #[command(flatten)]
    limits: serving::LimitArgs,
    /// Journal entries kept (`GET /_mock/journal`); the oldest are dropped first, so a
    /// long-running mock stays within a fixed memory budget.
    #[arg(long, default_value_t = mock_looker::DEFAULT_JOURNAL_ENTRIES, env = "MOCK_LOOKER_JOURNAL_ENTRIES", value_parser = positive)]
    journal_entries: usize,
    /// Bytes kept of each body a journal entry records; the rest becomes a marker saying how
    /// many bytes were dropped.
    #[arg(long, default_value_t = mock_looker::DEFAULT_JOURNAL_BODY_BYTES, env = "MOCK_LOOKER_JOURNAL_BODY_BYTES", value_parser = positive)]
    journal_body_bytes: usize,
    /// Bytes (estimated) the whole journal may hold; the oldest entries are dropped first.
    #[arg(long, default_value_t = mock_looker::DEFAULT_JOURNAL_BYTES, env = "MOCK_LOOKER_JOURNAL_BYTES", value_parser = positive)]
    journal_bytes: usize,
}

/// A count that must be at least 1 (a zero limit would keep nothing).
fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive integer, got {s:?}")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "mock_looker=info,serving=info".into()),
        )
        .init();
    let cli = Cli::parse();
    let hubs = cli
        .hubs
        .iter()
        .map(|h| match h.split_once('=') {
            Some((url, token)) => (url.trim_end_matches('/').to_owned(), Some(token.to_owned())),
            None => (h.trim_end_matches('/').to_owned(), None),
        })
        .collect();
    let config = Config {
        looks_dir: cli.looks,
        builtin_looks: !cli.no_demo_looks,
        hubs,
        advertise_host: cli.advertise_host.clone(),
        looker_version: cli.looker_version,
        client_id: cli.client_id.clone(),
        client_secret: cli.client_secret.clone(),
        hub_timeout: Duration::from_secs(cli.hub_timeout),
        max_answer_bytes: cli.max_answer_bytes,
        limits: cli.limits.limits(1),
        journal_entries: cli.journal_entries,
        journal_body_bytes: cli.journal_body_bytes,
        journal_bytes: cli.journal_bytes,
        ..Config::default()
    };
    let (client_id, client_secret) = match (cli.client_id, cli.client_secret) {
        (Some(i), Some(s)) => (i, s),
        _ => (
            mock_looker::generate_secret(10),
            mock_looker::generate_secret(12),
        ),
    };
    let config = Config {
        client_id: Some(client_id.clone()),
        client_secret: Some(client_secret.clone()),
        ..config
    };
    let listener = tokio::net::TcpListener::bind((cli.bind, cli.port))
        .await
        .with_context(|| format!("cannot bind {}:{}", cli.bind, cli.port))?;
    let addr = listener.local_addr()?;
    let url = match &cli.advertise_host {
        Some(host) => serving::advertised_url(host, addr.port()),
        None => format!("http://{addr}"),
    };
    if url == format!("http://{addr}") {
        println!("mock-looker listening on {url}");
    } else {
        println!("mock-looker listening on http://{addr} (advertised as {url})");
    }
    println!("API 4.0: base_url={url} client_id={client_id} client_secret={client_secret}");
    println!("journal: {url}/_mock/journal");
    mock_looker::run(listener, config, serving::shutdown_signal()).await?;
    Ok(())
}
