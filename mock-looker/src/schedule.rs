//! Scheduled plans and their job history.

use std::sync::Arc;

use crate::core::Core;

#[derive(Debug, Default)]
pub struct Schedules {}

pub(crate) async fn run_scheduler(_core: Arc<Core>) {}
