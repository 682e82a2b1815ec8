//! The demo Looks shipped with the mock (and loaded by default by [`MockLooker`](crate::MockLooker)),
//! with named ids so callers need no magic strings.

use crate::look::{DashboardDef, Look, parse_dashboard};

/// Look 1, "Users": emails, anonymous ids, names, cities, an order count (Identify, Track).
pub const USERS: &str = "1";
/// Look 2, "Accounts": accounts with a group id (Group).
pub const ACCOUNTS: &str = "2";
/// Look 3, "Orders by month (pivoted)": a pivoted Look.
pub const ORDERS_BY_MONTH_PIVOT: &str = "3";
/// Look 4, "Generated users (100k)": generated rows, stable across runs (streaming).
pub const GENERATED_USERS: &str = "4";
/// Look 5, "Orders for Review".
pub const ORDERS_FOR_REVIEW: &str = "5";

/// Dashboard 1, "Customer overview": tiles of Looks 1, 2 and 3 (a dashboard send).
pub const OVERVIEW_DASHBOARD: &str = "1";

/// The demo dashboards shipped with the binary (loaded with the demo Looks).
pub fn builtin_dashboards() -> Vec<DashboardDef> {
    const FILES: [(&str, &str); 1] = [(
        "looks/06_overview_dashboard.yaml",
        include_str!("../looks/06_overview_dashboard.yaml"),
    )];
    FILES
        .iter()
        .map(|(name, text)| {
            parse_dashboard(text, name, false).expect("built-in dashboards are valid")
        })
        .collect()
}

/// The demo Looks shipped with the binary (also loaded by default by [`MockLooker`]).
pub fn builtin_looks() -> Vec<Look> {
    const FILES: [(&str, &str); 5] = [
        (
            "looks/01_users.yaml",
            include_str!("../looks/01_users.yaml"),
        ),
        (
            "looks/02_accounts.yaml",
            include_str!("../looks/02_accounts.yaml"),
        ),
        (
            "looks/03_orders_by_month_pivot.yaml",
            include_str!("../looks/03_orders_by_month_pivot.yaml"),
        ),
        (
            "looks/04_generated_users.yaml",
            include_str!("../looks/04_generated_users.yaml"),
        ),
        (
            "looks/05_orders_for_review.yaml",
            include_str!("../looks/05_orders_for_review.yaml"),
        ),
    ];
    FILES
        .iter()
        .map(|(name, text)| Look::from_yaml_str(text, name).expect("built-in Looks are valid"))
        .collect()
}
