//! Integration tests of mock-looker (one test binary; modules by topic).
mod activity;
mod console;
mod cross_origin;
mod e2e;
mod files;
mod fuzz_looks;
mod helpers;
mod hubs;
mod journal;
mod looks;
mod official_errors;
mod reach;
mod schedules;
mod sdk;
mod writeback;
