//! Integration tests of mock-looker (one test binary; modules by topic).
mod helpers;
mod hubs;
mod looks;
mod sdk;
