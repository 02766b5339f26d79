//! Local encrypted vault: credentials received from the ANOTHERpass phone app, kept on disk
//! under AES-256-GCM with a data key sealed by the ANOTHERpass clientKey (and optionally a local
//! password), unlocked in memory for a sliding timeout. The format is in docs/vault-format.md.
//!
//! Layers: [`codec`] and [`format`] (pure bytes), [`crypto`] (primitives), [`store`] (files,
//! locks), [`session`] (key cache, freshness, commits), [`search`] (site matching),
//! [`actions`] (the `vault.*` protocol), [`sink`] (what ANOTHERpass hands over), [`cli`].

use crate::api::{Action, Ctx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

pub mod actions;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod crypto;
pub mod error;
pub mod format;
pub mod search;
pub mod session;
pub mod sink;
pub mod store;
pub mod throttle;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CODES, VaultError};
pub use session::State;
pub use sink::VaultSink;

pub const MIN_LOCK_TIMEOUT_MINUTES: u32 = 1;
pub const MAX_LOCK_TIMEOUT_MINUTES: u32 = 10_080;

/// This backend's section of `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Keep credentials received from the phone in the local vault.
    pub save_credentials: bool,
    /// Minutes without use after which the vault locks itself (1–10080, like the extension).
    pub lock_timeout_minutes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            save_credentials: true,
            lock_timeout_minutes: 60,
        }
    }
}

impl Settings {
    /// The timeout, with out-of-range settings brought into range.
    pub fn lock_timeout(&self) -> Duration {
        let m = self
            .lock_timeout_minutes
            .clamp(MIN_LOCK_TIMEOUT_MINUTES, MAX_LOCK_TIMEOUT_MINUTES);
        if m != self.lock_timeout_minutes {
            log::warn!(
                "vault.lock_timeout_minutes {} is outside {MIN_LOCK_TIMEOUT_MINUTES}–{MAX_LOCK_TIMEOUT_MINUTES}; using {m}",
                self.lock_timeout_minutes
            );
        }
        Duration::from_secs(u64::from(m) * 60)
    }
}

/// This backend's actions.
pub fn actions() -> Vec<Action> {
    actions::all()
}

/// A short summary for the host's `status` action. Never fails.
pub fn summary(ctx: &Ctx) -> Value {
    match ctx.state.vault.status() {
        Ok(s) => json!({
            "available": true,
            "exists": s.exists,
            "locked": s.locked,
            "entries": s.entries,
        }),
        Err(e) => json!({"available": true, "problem": e.code()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_and_range() {
        let s: Settings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.save_credentials);
        assert_eq!(s.lock_timeout(), Duration::from_secs(3600));
        let clamp = |m| {
            Settings {
                lock_timeout_minutes: m,
                ..Default::default()
            }
            .lock_timeout()
        };
        assert_eq!(clamp(0), Duration::from_secs(60));
        assert_eq!(clamp(10_080), Duration::from_secs(10_080 * 60));
        assert_eq!(clamp(u32::MAX), Duration::from_secs(10_080 * 60));
    }
}
