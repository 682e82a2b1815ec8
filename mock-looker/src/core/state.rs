//! The engine's mutable state, behind one mutex never held across an await.

use std::collections::HashMap;
use std::time::Instant;

use super::Hub;
use crate::format::file::Content;
use crate::format::{Format, WriteOptions};
use crate::look::{Dashboard, Look};

pub(crate) struct DownloadEntry {
    /// The Look or dashboard the URL serves, written when fetched.
    pub content: Content,
    pub format: Format,
    pub opts: WriteOptions,
    pub ran_at: String,
    pub created: Instant,
    pub fetches: u32,
}

/// Mutable state, behind one mutex never held across an await.
#[derive(Default)]
pub(crate) struct State {
    pub hubs: Vec<Hub>,
    pub looks: Vec<Look>,
    /// Dashboards, their tiles' Looks resolved at start.
    pub dashboards: Vec<Dashboard>,
    pub downloads: HashMap<String, DownloadEntry>,
    /// state_url token -> (user id, integration id); one use.
    pub state_tokens: HashMap<String, (String, String)>,
    /// (user id, integration id) -> state_json.
    pub user_state: HashMap<(String, String), String>,
    pub next_hub: u64,
}
