//! Integration tests of mock-looker (one test binary; modules by topic).
mod activity;
mod cross_origin;
mod e2e;
mod fuzz_gen;
mod fuzz_looks;
mod helpers;
mod hubs;
mod journal;
mod looks;
mod reach;
mod schedules;
mod sdk;
mod writeback;
