//! Integration tests of mock-looker (one test binary; modules by topic).
mod activity;
mod helpers;
mod hubs;
mod looks;
mod schedules;
mod sdk;
mod writeback;
