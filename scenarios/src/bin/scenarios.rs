//! `scenarios`: run scenario files (`scenarios run`) or the demo (`scenarios up`).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let cli = scenarios::cli::Cli::parse();
    ExitCode::from(scenarios::cli::main(cli).await)
}
