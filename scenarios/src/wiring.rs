//! The one module that knows the real crates: implements [`Harness`] with the mock Looker, the
//! reference hub and the mock data plane, each started fresh on port 0 per scenario.
//!
//! (Until those crates land, `start` reports that the harness is not wired.)

use crate::format::Scenario;
use crate::harness::Launcher;

/// External endpoints given on the command line.
#[derive(Debug, Clone, Default)]
pub struct WiringConfig {
    /// External hub URL.
    pub hub_url: Option<String>,
    /// External hub token.
    pub hub_token: Option<String>,
    /// External mock data plane URL.
    pub dataplane_url: Option<String>,
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

/// Placeholder until the real crates land: a harness that cannot exist.
#[derive(Debug)]
pub enum Unwired {}

impl crate::harness::Harness for Unwired {
    fn hub_url(&self) -> String {
        match *self {}
    }
    fn hub_token(&self) -> Option<String> {
        match *self {}
    }
    fn dataplane_url(&self) -> String {
        match *self {}
    }
    fn write_keys(&self) -> Vec<String> {
        match *self {}
    }
    async fn send(
        &self,
        _: crate::harness::SendRequest,
    ) -> anyhow::Result<crate::harness::SendResult> {
        match *self {}
    }
    async fn fetch_form(
        &self,
        _: crate::harness::FormRequest,
    ) -> anyhow::Result<crate::harness::FormResult> {
        match *self {}
    }
    async fn list_actions(&self, _: Option<String>) -> anyhow::Result<crate::harness::ActionList> {
        match *self {}
    }
    async fn add_fault(&self, _: serde_json::Value) -> anyhow::Result<()> {
        match *self {}
    }
    async fn clear_faults(&self) -> anyhow::Result<()> {
        match *self {}
    }
    async fn reset_events(&self) -> anyhow::Result<()> {
        match *self {}
    }
    async fn events(
        &self,
        _: crate::harness::Filter,
    ) -> anyhow::Result<Vec<crate::harness::Stored>> {
        match *self {}
    }
    async fn wait_for(
        &self,
        _: usize,
        _: crate::harness::Filter,
        _: std::time::Duration,
    ) -> anyhow::Result<Result<Vec<crate::harness::Stored>, usize>> {
        match *self {}
    }
    async fn total_events(&self) -> anyhow::Result<usize> {
        match *self {}
    }
    async fn requests(&self) -> anyhow::Result<Vec<crate::harness::JournalRow>> {
        match *self {}
    }
}

impl Launcher for Wiring {
    type H = Unwired;
    async fn start(&self, _: &Scenario) -> anyhow::Result<Unwired> {
        anyhow::bail!("the hub, mock-looker and mock-dataplane crates are not wired in yet")
    }
}
