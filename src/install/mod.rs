//! Registering the host with browsers: the browser × OS × scope table, manifests, registry.

pub mod cli;
