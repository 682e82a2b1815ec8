//! `scenarios record`: the command-line side of [`scenarios::record`].

use std::path::PathBuf;

use clap::Args;

/// `scenarios record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The hub the recorded requests go to, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub hub_url: String,
    /// Send this token to the hub instead of Looker's (which is then only the proxy's). Without
    /// it, Looker's token is passed on. Never written to a file.
    #[arg(long, env = "SCENARIOS_RECORD_HUB_TOKEN", hide_env_values = true)]
    pub hub_token: Option<String>,
    /// Where to listen: give Looker `http://ADDR` as its Action Hub URL.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Output directory: NNN_<action>.yaml scenarios, looks/, exchanges/ (created if missing;
    /// numbering continues after what is already there).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace emails and people's names by generated values (the same value always the same
    /// way), so the recording can be shared.
    #[arg(long)]
    pub redact_pii: bool,
    /// A `mock-dataplane --forward <real data plane>` at this host:port: `rudder_server_url` is
    /// pointed at it, and the events it stores become the scenarios' event expectations.
    #[arg(long, value_name = "ADDR")]
    pub dataplane_via: Option<String>,
    /// The proxy's URL as the hub reaches it (the download URLs it hands out); default
    /// http://<listen address>.
    #[arg(long, value_name = "URL")]
    pub advertise_url: Option<String>,
    /// Largest request body, list/form answer or downloaded Look (default 250 MiB, the
    /// official hub's body limit).
    #[arg(long, value_name = "N", default_value_t = scenarios::record::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
}

/// Runs the proxy until Ctrl-C or SIGTERM; the process exit code.
pub async fn record(args: RecordArgs) -> u8 {
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {} (--listen): {e}", args.listen);
            return scenarios::report::EXIT_HARNESS;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut cfg = scenarios::record::RecordConfig::new(args.hub_url.clone(), args.out.clone());
    cfg.hub_token = args.hub_token;
    cfg.redact_pii = args.redact_pii;
    cfg.dataplane_via = args.dataplane_via;
    cfg.advertise_url = args.advertise_url;
    cfg.max_body_bytes = args.max_body_bytes;
    println!(
        "recording: give Looker http://{addr} as its Action Hub; requests go to {}; writing to {}",
        args.hub_url,
        args.out.display()
    );
    println!("Ctrl-C or SIGTERM stops (exchanges in flight are finished and written first)");
    match scenarios::record::run(listener, cfg, serving::shutdown_signal()).await {
        Ok(()) => {
            println!("replay with: scenarios run {}", args.out.display());
            scenarios::report::EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            scenarios::report::EXIT_HARNESS
        }
    }
}
