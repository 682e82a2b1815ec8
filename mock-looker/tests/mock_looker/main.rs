//! Integration tests of mock-looker (one test binary; modules by topic).
mod activity;
mod e2e;
mod helpers;
mod hubs;
mod looks;
mod schedules;
mod sdk;
mod writeback;
