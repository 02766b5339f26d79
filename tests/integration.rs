//! The integration tests: one test binary, a module per area, and the shared drivers and fakes in
//! `support` (compiled once). Separate binaries each linked passbridge and their own copy of the
//! support code, which made linking most of a test build's time. `vault_crash.rs` stays a binary
//! of its own: it runs itself as the child writer it kills (`harness = false` in Cargo.toml).
//!
//! Run one area with `cargo nextest run -E 'binary(integration) & test(/^vault_host::/)'` or
//! `cargo test --test integration vault_host::`.

mod support;

mod agent;
mod anotherpass_cli;
mod anotherpass_client;
mod anotherpass_e2e;
mod anotherpass_host;
mod anotherpass_node;
mod anotherpass_sim;
mod browser;
mod clarion;
mod cli;
mod credentials;
mod cross_backend;
mod docs;
mod hardening;
mod host;
mod host_fuzz;
mod host_smoke;
mod http_tls;
mod install_cli;
mod install_script;
mod keyring;
mod passman_host;
mod passman_node;
mod passweaver;
mod readme;
mod vault;
mod vault_files;
mod vault_host;
mod vault_keys;
mod vault_upgrade;
