//! A subset of Looker API 4.0.

use std::sync::Arc;

use axum::Router;

use crate::core::Core;

#[derive(Debug, Default)]
pub struct ApiState {}

pub(crate) fn router() -> Router<Arc<Core>> {
    Router::new()
}
