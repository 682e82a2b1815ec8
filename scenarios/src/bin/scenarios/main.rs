//! `scenarios`: run scenario files (`scenarios run`) or the demo (`scenarios up`).
//!
//! The command line and the demo live here, on the binary's side: the `scenarios` library is
//! the format, the runner, its steps and checks, and the wiring of the three systems, which the
//! e2e tests drive in-process without any of this.

mod cli;
mod demo;
mod record;

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
    let cli = cli::Cli::parse();
    ExitCode::from(cli::main(cli).await)
}
