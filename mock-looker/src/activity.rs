//! System Activity: the events the mock records about itself.

use std::sync::Mutex;

use serde::Serialize;

/// One recorded event, with Looker's common attributes and its own.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: u64,
    pub name: String,
    pub category: String,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub created: String,
    pub user_id: Option<String>,
    pub sudo_user_id: Option<String>,
    pub is_looker_employee: bool,
    pub is_admin: bool,
    pub is_api_call: bool,
    pub attributes: Vec<(String, String)>,
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct EventInput {
    pub name: String,
    pub category: String,
    pub user_id: Option<String>,
    pub is_api_call: bool,
    pub attributes: Vec<(String, String)>,
}

impl EventInput {
    pub fn new(name: &str, category: &str) -> Self {
        EventInput {
            name: name.into(),
            category: category.into(),
            user_id: Some("1".into()),
            is_api_call: false,
            attributes: Vec::new(),
        }
    }
    pub fn attr(mut self, k: &str, v: impl ToString) -> Self {
        self.attributes.push((k.into(), v.to_string()));
        self
    }
    pub fn api(mut self, yes: bool) -> Self {
        self.is_api_call = yes;
        self
    }
    pub fn user(mut self, id: Option<String>) -> Self {
        self.user_id = id;
        self
    }
}

/// The event log (in memory, in order).
#[derive(Debug, Default)]
pub struct ActivityLog {
    events: Mutex<Vec<Event>>,
}

impl ActivityLog {
    pub fn record(&self, e: EventInput) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let id = events.len() as u64 + 1;
        events.push(Event {
            id,
            name: e.name,
            category: e.category,
            created: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            is_admin: e.user_id.as_deref() == Some("1"),
            user_id: e.user_id,
            sudo_user_id: None,
            is_looker_employee: false,
            is_api_call: e.is_api_call,
            attributes: e.attributes,
        });
        id
    }

    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
