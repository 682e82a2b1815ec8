//! The console: pages a person opens in a browser to see and drive what the mock does (issue
//! 12). Server-rendered HTML with a little hand-written JavaScript, embedded in the binary:
//!
//! - `GET /`: the Looks (fields with tags, first rows) and the registered hubs with their
//!   actions, why an action is or is not offered for each Look, and a form to register a hub;
//! - `GET /console/send`: send a Look to an action, fill its params and form (fetched from the
//!   hub, re-queried for interactive fields), pick the user for cell actions and OAuth logins;
//! - `GET /console/journal`: every exchange with a hub, JSON bodies pretty-printed;
//! - `GET /console/activity`: System Activity events, scheduled plans and jobs.
//!
//! The pages change nothing themselves: their scripts call the `/_mock/` admin API, whose
//! same-origin and JSON-only rules (`super::guard`) apply to them as to any client.

mod overview;
mod records;
mod send;

use std::sync::Arc;

use axum::Router;
use axum::response::Html;
use axum::routing::get;

use crate::core::Core;

/// The pages of the console, for the navigation bar.
const NAV: &[serving::page::NavLink<'static>] = &[
    ("/", "Looks & hubs"),
    ("/console/send", "Send & cell actions"),
    ("/console/journal", "Journal"),
    ("/console/activity", "System Activity & schedules"),
];

pub(crate) fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/", get(overview::page))
        .route("/console/send", get(send::page))
        .route("/console/journal", get(records::journal))
        .route("/console/activity", get(records::activity))
        .with_state(core)
}

/// A console page: the shared shell with the console's navigation.
fn document(title: &str, current: &str, body: &str) -> Html<String> {
    Html(serving::page::document(title, NAV, current, body))
}
