//! mock-looker: a Looker instance that drives any Action Hub.
pub mod format;
pub mod look;

pub use format::{Format, WriteOptions};
pub use look::{Look, LookDef, LookError};

/// The demo Looks shipped with the binary (also loaded by default by [`MockLooker`]).
pub fn builtin_looks() -> Vec<Look> {
    const FILES: [(&str, &str); 4] = [
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
    ];
    FILES
        .iter()
        .map(|(name, text)| Look::from_yaml_str(text, name).expect("built-in Looks are valid"))
        .collect()
}
