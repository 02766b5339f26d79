//! Local encrypted vault: credentials received from the ANOTHERpass phone app, kept on disk
//! under AES-256-GCM with a data key sealed by the ANOTHERpass clientKey (and optionally a local
//! password), unlocked in memory for a sliding timeout. The format is in docs/vault-format.md.
//!
//! Layers: [`codec`] and [`format`] (pure bytes), [`crypto`] (primitives), [`store`] (files,
//! locks), [`session`] (key cache, freshness, commits), [`search`] (site matching),
//! [`actions`] (the `vault.*` protocol), [`sink`] (what ANOTHERpass hands over), [`provider`]
//! (`credentials.search`), [`cli`]. [`Vault`] plugs it into the host.

use crate::anotherpass::seam::{CredentialSink, CredentialSource};
use crate::api::{Action, ApiError, Backend, Ctx, ErrorCode, Operation, Registry};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub mod actions;
pub mod cli;
pub mod codec;
pub mod crypto;
pub mod error;
pub mod format;
pub mod lock_timeout;
pub mod packed;
pub mod provider;
pub mod search;
pub mod seen;
pub mod session;
pub mod sink;
pub mod store;
pub mod throttle;

pub use crate::clock::{Clock, ManualClock, SystemClock};
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
    /// TEST ONLY: Argon2id memory in KiB for new password slots (1024–65536, default 65536).
    /// Smaller values only make tests faster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argon2_memory_kib: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            save_credentials: true,
            lock_timeout_minutes: 60,
            argon2_memory_kib: None,
        }
    }
}

impl Settings {
    /// The key derivation for new password slots: Argon2id at 64 MiB and 3 passes, unless a
    /// test asked for less memory (then a single pass).
    pub fn password_kdf(&self) -> format::Kdf {
        match self.argon2_memory_kib {
            Some(m) if m < 64 * 1024 => format::Kdf::Argon2id {
                m_kib: m.max(format::ARGON2_MIN_KIB),
                t: 1,
                p: 1,
            },
            _ => format::Kdf::ARGON2ID,
        }
    }

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

/// Operations a Clarion policy may guard.
pub mod operation {
    use crate::api::Operation;
    pub const VAULT_UNLOCK: &str = "vault_unlock";
    pub const VAULT_GET: &str = "vault_get";
    /// Listing and searching the vault (names, users, sites; no passwords).
    pub const VAULT_READ: &str = "vault_read";
    /// Removing a credential from the vault (`vault.delete`).
    pub const VAULT_DELETE: &str = "vault_delete";
    /// Lengthening the lock timeout (`vault.settings.set`): the vault then stays open longer.
    pub const VAULT_SETTINGS: &str = "vault_settings";
    /// The vault-wide changes: moving the vault aside (`vault.reset`), accepting an older one
    /// (`vault.accept_restore`) and replacing its data key (`vault.rekey`).
    pub const VAULT_RESET: &str = "vault_reset";
    pub const ALL: &[Operation] = &[
        Operation {
            name: VAULT_UNLOCK,
            purpose: "unlock the local vault",
            implied_by: &[],
        },
        Operation {
            name: VAULT_GET,
            purpose: "give a credential from the local vault to the browser",
            implied_by: &[],
        },
        Operation {
            name: VAULT_READ,
            purpose: "list or search the local vault",
            implied_by: &[],
        },
        Operation {
            name: VAULT_DELETE,
            purpose: "delete a credential from the local vault",
            implied_by: &[],
        },
        Operation {
            name: VAULT_RESET,
            purpose: "move the local vault aside, accept a restored one or replace its key",
            implied_by: &[],
        },
        Operation {
            name: VAULT_SETTINGS,
            purpose: "keep the local vault unlocked longer",
            // Guarding the unlock means little if an unlock can be made to last a week.
            implied_by: &[VAULT_UNLOCK],
        },
    ];
}

/// The error codes of this backend with what they mean.
pub const CODE_DOCS: &[ErrorCode] = &[
    ErrorCode {
        code: error::VAULT_LOCKED,
        description: "The vault is locked: unlock it with the phone or the local password.",
    },
    ErrorCode {
        code: error::VAULT_MISSING,
        description: "There is no vault yet: fetch a credential from the phone first.",
    },
    ErrorCode {
        code: error::VAULT_WRONG_KEY,
        description: "The clientKey does not open this vault (it belongs to another link).",
    },
    ErrorCode {
        code: error::VAULT_WRONG_PASSWORD,
        description: "The local password is wrong.",
    },
    ErrorCode {
        code: error::VAULT_NO_PASSWORD,
        description: "No local password is set.",
    },
    ErrorCode {
        code: error::VAULT_NOT_FOUND,
        description: "No credential has this uid in the vault.",
    },
    ErrorCode {
        code: error::VAULT_CORRUPT,
        description: "The vault files cannot be read; they were left untouched.",
    },
    ErrorCode {
        code: error::VAULT_UNSUPPORTED_VERSION,
        description: "The vault was written by a newer passbridge.",
    },
    ErrorCode {
        code: error::VAULT_TOO_MANY_ATTEMPTS,
        description: "Too many wrong local passwords in a row: wait the time the message gives.",
    },
    ErrorCode {
        code: error::VAULT_ROLLED_BACK,
        description: "The vault on disk is older than one this computer already used (restored or rolled back); accept it with vault.accept_restore if that was intended.",
    },
    ErrorCode {
        code: error::VAULT_UPGRADE_NEEDED,
        description: "A vault written by an older passbridge must be unlocked once with the phone or password named in the message before its key can change.",
    },
];

/// The local vault as a backend of the host.
pub struct Vault;

impl Backend for Vault {
    fn name(&self) -> &'static str {
        "vault"
    }
    fn start(&self, reg: &mut Registry) -> Result<(), String> {
        let settings: Settings = reg
            .config()
            .section(self.name())
            .map_err(|e| e.to_string())?;
        let agent = crate::agent::link(reg);
        reg.insert(State::new(reg.paths(), &settings).share_unlocks_with(agent));
        reg.insert::<Arc<dyn CredentialSink>>(Arc::new(VaultSink));
        crate::credentials::register_provider(reg, Arc::new(provider::VaultProvider));
        Ok(())
    }
    fn actions(&self) -> Vec<Action> {
        actions::all()
    }
    fn summary(&self, ctx: &Ctx) -> Value {
        summary(ctx)
    }
    fn operations(&self) -> &'static [Operation] {
        operation::ALL
    }
    fn codes(&self) -> &'static [ErrorCode] {
        CODE_DOCS
    }
}

/// This backend's state in `ctx` (registered by [`Vault::start`]).
pub fn state(ctx: &Ctx) -> &State {
    ctx.state.expect::<State>()
}

/// This backend's settings as they are now (defaults if the section became invalid).
pub fn settings(ctx: &Ctx) -> Settings {
    ctx.state.config().section("vault").unwrap_or_else(|e| {
        log::warn!("{e}; using the default vault settings");
        Settings::default()
    })
}

/// ANOTHERpass, which unlocks the vault and refreshes it.
pub fn source(ctx: &Ctx) -> Result<&dyn CredentialSource, ApiError> {
    ctx.state
        .get::<Arc<dyn CredentialSource>>()
        .map(|s| s.as_ref())
        .ok_or_else(|| {
            ApiError::internal("The vault needs ANOTHERpass to unlock with the phone, and it is not part of this passbridge.")
        })
}

/// A short summary for the host's `status` action. Never fails.
pub fn summary(ctx: &Ctx) -> Value {
    match state(ctx).status() {
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
