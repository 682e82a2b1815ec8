//! `scenarios up`: the demo on embedded defaults.

use clap::Args;

/// Flags of `scenarios up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Port of the reference hub.
    #[arg(long, default_value_t = 8080)]
    pub hub_port: u16,
    /// Port of the mock data plane.
    #[arg(long, default_value_t = 8081)]
    pub dataplane_port: u16,
    /// Port of the mock Looker.
    #[arg(long, default_value_t = 8082)]
    pub looker_port: u16,
}

/// Start the demo and serve until Ctrl-C.
pub async fn up(_args: UpArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo needs the hub, mock-looker and mock-dataplane crates")
}
