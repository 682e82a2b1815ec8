//! The engine shared by the library handle, the HTTP server and the API: hubs, actions,
//! forms, sends, downloads, per-user state, the journal. Nothing here knows HTTP as a server:
//! the `http` module translates requests into calls on [`Core`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::activity::ActivityLog;
use crate::journal::{Journal, Limits as JournalLimits};
use crate::look::{Dashboard, DashboardDef, Look, LookError};

mod downloads;
mod exchange;
mod forms;
mod hubs;
mod model;
mod queries;
mod send;
mod state;

pub(crate) use forms::StateRejected;
pub use model::*;
pub(crate) use send::query_json;
pub(crate) use state::{DownloadEntry, State};

pub(crate) struct Core {
    pub config: Config,
    pub base_url: String,
    pub client: reqwest::Client,
    pub instance_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub state: Mutex<State>,
    /// Every exchange with a hub, bounded (its own lock: recording never waits for the state).
    pub journal: Journal,
    pub activity: ActivityLog,
    pub schedules: crate::schedule::Schedules,
    /// Saved queries (API `create_query`); a plan may name one.
    pub queries: queries::SavedQueries,
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

impl Core {
    pub fn new(config: Config, base_url: String) -> Result<Arc<Core>, StartError> {
        let client = serving::http_client()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::limited(config.max_redirects))
            .connect_timeout(config.hub_timeout.min(Duration::from_secs(30)))
            .build()?;
        let mut looks = Vec::new();
        let mut dashboard_defs = Vec::new();
        if config.builtin_looks {
            looks.extend(crate::demo::builtin_looks());
            dashboard_defs.extend(crate::demo::builtin_dashboards());
        }
        if let Some(dir) = &config.looks_dir {
            let (l, d) = Look::load_dir_with_dashboards(dir)?;
            looks.extend(l);
            dashboard_defs.extend(d);
        }
        // Assign ids to Looks without one, after the highest numeric id.
        let mut next = looks
            .iter()
            .filter_map(|l| l.id()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let mut seen = std::collections::HashSet::new();
        let looks = looks
            .into_iter()
            .map(|l| {
                if l.id().is_none() || !seen.insert(l.id().unwrap_or("").to_owned()) {
                    let id = next.to_string();
                    next += 1;
                    seen.insert(id.clone());
                    l.with_id(&id)
                } else {
                    l
                }
            })
            .collect::<Vec<Look>>();
        let dashboards = resolve_dashboards(&dashboard_defs, &looks)?;
        Ok(Arc::new(Core {
            base_url,
            client,
            instance_id: config.instance_id.clone().unwrap_or_else(|| random_hex(16)),
            client_id: config.client_id.clone().unwrap_or_else(|| random_hex(10)),
            client_secret: config
                .client_secret
                .clone()
                .unwrap_or_else(|| random_hex(12)),
            state: Mutex::new(State {
                looks,
                dashboards,
                next_hub: 1,
                ..State::default()
            }),
            journal: Journal::new(JournalLimits {
                entries: config.journal_entries,
                body_bytes: config.journal_body_bytes,
                bytes: config.journal_bytes,
            }),
            activity: ActivityLog::default(),
            schedules: Default::default(),
            queries: Default::default(),
            config,
        }))
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every Look: static ones, then the System Activity Looks as of now.
    pub fn looks(&self) -> Vec<Look> {
        let mut all = self.lock().looks.clone();
        for (id, ..) in crate::activity::ACTIVITY_LOOKS {
            if !all.iter().any(|l| l.id() == Some(id)) {
                all.extend(self.activity_look(id));
            }
        }
        all
    }

    pub fn look(&self, id: &str) -> Option<Look> {
        let found = self
            .lock()
            .looks
            .iter()
            .find(|l| l.id() == Some(id))
            .cloned();
        found.or_else(|| self.activity_look(id))
    }

    /// A System Activity Look, materialised from the events recorded so far.
    pub(super) fn activity_look(&self, id: &str) -> Option<Look> {
        let (id, title, explore, fields) =
            crate::activity::ACTIVITY_LOOKS.iter().find(|l| l.0 == id)?;
        let q = crate::activity::ActivityQuery {
            title: Some(title.to_string()),
            explore: explore.to_string(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            sorts: vec![format!("{} desc", fields[0])],
            limit: Some("5000".into()),
            ..Default::default()
        };
        match crate::activity::query_look(&q, &self.activity.events(), &self.schedules.jobs()) {
            Ok(look) => Some(look.with_id(id)),
            Err(e) => {
                tracing::error!(%e, "System Activity Look {id} failed");
                None
            }
        }
    }

    pub fn add_look(&self, look: Look) -> Look {
        let mut st = self.lock();
        let next = st
            .looks
            .iter()
            .filter_map(|l| l.id()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let look = match look.id() {
            Some(id) if !st.looks.iter().any(|l| l.id() == Some(id)) => look,
            _ => look.with_id(&next.to_string()),
        };
        st.looks.push(look.clone());
        look
    }

    pub fn dashboards(&self) -> Vec<Dashboard> {
        self.lock().dashboards.clone()
    }

    pub fn dashboard(&self, id: &str) -> Option<Dashboard> {
        self.lock().dashboards.iter().find(|d| d.id == id).cloned()
    }

    pub fn hub(&self, id: &str) -> Option<Hub> {
        self.lock().hubs.iter().find(|h| h.id == id).cloned()
    }

    pub fn hubs(&self) -> Vec<Hub> {
        self.lock().hubs.clone()
    }
}

/// Resolves the dashboards' tiles against the Looks loaded; ids are assigned in order to
/// dashboards without one (or with one already taken), after the highest numeric id.
fn resolve_dashboards(defs: &[DashboardDef], looks: &[Look]) -> Result<Vec<Dashboard>, LookError> {
    let mut next = defs
        .iter()
        .filter_map(|d| d.id.as_deref()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let mut seen = std::collections::HashSet::new();
    defs.iter()
        .map(|def| {
            let id = match &def.id {
                Some(id) if seen.insert(id.clone()) => id.clone(),
                _ => {
                    let id = next.to_string();
                    next += 1;
                    seen.insert(id.clone());
                    id
                }
            };
            Dashboard::resolve(def, &id, |look_id| {
                looks.iter().find(|l| l.id() == Some(look_id)).cloned()
            })
        })
        .collect()
}
