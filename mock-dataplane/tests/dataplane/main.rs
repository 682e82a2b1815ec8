//! Integration tests of the mock data plane, one binary. Add new test modules here.
//! Logs are printed only when `TEST_LOG` is set.

mod helpers;

mod bad_input;
mod binary;
mod client;
mod connections;
mod console;
mod control_api_access;
mod durability;
mod faults;
mod forward;
mod fuzz;
mod gateway;
mod handle;
mod ids;
mod inspection;
mod interop;
mod routes;
mod secrets;
mod sources;
mod stream;
