//! Registering the host with browsers: `passbridge install | uninstall | doctor`.
//!
//! - [`table`]: THE browser × OS × scope table of manifest folders and registry keys.
//! - [`resolve`]: pure path resolution against an injected environment (all OSes testable on Linux).
//! - [`ids`], [`manifest`], [`plan`]: id checks, manifest rendering, what an install writes.
//! - [`apply`], [`files`], [`registry`], [`record`]: the I/O, and the install record that makes
//!   uninstall and doctor exact.
//! - [`doctor`], [`probe`], [`sandbox`]: checks, a real `hello` through each registered host,
//!   Flatpak/Snap detection.

pub mod apply;
pub mod cli;
pub mod doctor;
pub mod files;
pub mod ids;
pub mod manifest;
pub mod plan;
pub mod probe;
pub mod record;
pub mod registry;
pub mod resolve;
pub mod sandbox;
pub mod table;

use crate::config::Allowlist;

/// The allowlist the host enforces: the user's `config.json` plus the machine-wide one a
/// `--scope system` install wrote (root-owned). A broken system file is logged and ignored,
/// so it cannot lock users out of their own allowlist.
pub fn host_allowlist(user: &Allowlist) -> Allowlist {
    let mut out = user.clone();
    let os = table::Os::current();
    let path = match resolve::Env::from_process(os).and_then(|env| resolve::system_dir(os, &env)) {
        Ok(dir) => std::path::Path::new(&dir).join(record::SYSTEM_ALLOWLIST_FILE),
        Err(e) => {
            log::warn!("cannot locate the system allowlist: {e}");
            return out;
        }
    };
    match record::load_system_allowlist(&path) {
        Ok(system) => {
            for o in system.chrome_origins {
                if !out.chrome_origins.contains(&o) {
                    out.chrome_origins.push(o);
                }
            }
            for i in system.firefox_ids {
                if !out.firefox_ids.contains(&i) {
                    out.firefox_ids.push(i);
                }
            }
        }
        Err(e) => log::warn!("ignoring the system allowlist: {e}"),
    }
    out
}
