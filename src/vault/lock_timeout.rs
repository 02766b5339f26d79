//! `vault.settings` and `vault.settings.set`: the lock timeout, read and changed from the
//! extension's settings page. Stored in the `vault` section of `config.json` (written atomically,
//! 0600, other keys of the section kept as written) and applied to the running session at once.
//!
//! A longer timeout leaves an unlocked vault open longer, so it weakens what guards unlocking:
//! lengthening passes the approval gate as `vault_settings`, which a policy guarding
//! `vault_unlock` covers too. Shortening never needs an approval.

use super::error::VaultError;
use super::{MAX_LOCK_TIMEOUT_MINUTES, MIN_LOCK_TIMEOUT_MINUTES, Settings, operation};
use crate::api::{Action, ApiError, Ctx, codes};
use crate::config::{Config, ConfigError};
use crate::typed;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// The section of `config.json` the vault owns.
const SECTION: &str = "vault";

pub fn actions() -> Vec<Action> {
    vec![
        Action {
            name: "vault.settings",
            handler: typed!(get),
            summary: "The vault's settings: lock timeout (and its bounds), saving credentials.",
        },
        Action {
            name: "vault.settings.set",
            handler: typed!(set),
            summary: "Change the lock timeout {lock_timeout_minutes} (a longer one may need an approval).",
        },
    ]
}

#[derive(Debug, Default, Deserialize)]
pub struct NoParams {}

/// Params of `vault.settings.set`. Unknown fields are refused: a misspelt setting must not
/// look saved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetParams {
    pub lock_timeout_minutes: u64,
}

#[derive(Debug, Serialize)]
pub struct View {
    pub lock_timeout_minutes: u32,
    pub min_lock_timeout_minutes: u32,
    pub max_lock_timeout_minutes: u32,
    pub save_credentials: bool,
    /// Time left before the running session locks; `None` when it is locked.
    pub ttl_remaining_seconds: Option<u64>,
    /// Whether the change was approved with a security key (`vault.settings.set` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_used: Option<bool>,
}

fn storage(e: ConfigError) -> ApiError {
    ApiError::new(codes::STORAGE, e.to_string())
}

/// The timeout in whole minutes, as `Settings::lock_timeout` brings it into range.
fn minutes(s: &Settings) -> u32 {
    (s.lock_timeout().as_secs() / 60) as u32
}

/// The settings on disk now: another process (CLI, another browser) may have changed them.
fn on_disk(ctx: &Ctx) -> Result<Settings, ApiError> {
    Config::load(&ctx.state.paths)
        .and_then(|c| c.section::<Settings>(SECTION))
        .map_err(storage)
}

/// The settings with the open session's time left. A vault that cannot be read (damaged, rolled
/// back) still has settings: its problem is `vault.status`'s to report.
fn view(ctx: &Ctx, s: &Settings) -> View {
    let left = super::state(ctx)
        .status()
        .ok()
        .and_then(|st| st.ttl_remaining_seconds);
    View {
        lock_timeout_minutes: minutes(s),
        min_lock_timeout_minutes: MIN_LOCK_TIMEOUT_MINUTES,
        max_lock_timeout_minutes: MAX_LOCK_TIMEOUT_MINUTES,
        save_credentials: s.save_credentials,
        ttl_remaining_seconds: left,
        approval_used: None,
    }
}

pub fn get(ctx: &Ctx, _p: NoParams) -> Result<View, ApiError> {
    Ok(view(ctx, &on_disk(ctx)?))
}

/// The requested timeout, or the error that names the range.
pub fn checked_minutes(given: u64) -> Result<u32, VaultError> {
    u32::try_from(given)
        .ok()
        .filter(|m| (MIN_LOCK_TIMEOUT_MINUTES..=MAX_LOCK_TIMEOUT_MINUTES).contains(m))
        .ok_or(VaultError::LockTimeoutOutOfRange { given })
}

pub fn set(ctx: &Ctx, p: SetParams) -> Result<View, ApiError> {
    let new = checked_minutes(p.lock_timeout_minutes)?;
    let gate = ctx.state.gate();
    let mut approved = None;
    if new > minutes(&on_disk(ctx)?) {
        approved = Some(gate.is_required(ctx, operation::VAULT_SETTINGS));
        gate.require(ctx, operation::VAULT_SETTINGS)?;
    }
    let saved = loop {
        match save(ctx, new, approved.is_some())? {
            Some(saved) => break saved,
            // Shortened by another process meanwhile, so this is now a lengthening: through
            // the gate (outside the config lock, an approval takes a while), then again.
            None => {
                approved = Some(gate.is_required(ctx, operation::VAULT_SETTINGS));
                gate.require(ctx, operation::VAULT_SETTINGS)?;
            }
        }
    };
    super::state(ctx).set_lock_timeout(Duration::from_secs(u64::from(new) * 60));
    let mut v = view(ctx, &saved);
    v.approval_used = Some(approved.unwrap_or(false));
    Ok(v)
}

/// Writes the new timeout under the config lock, unless it lengthens what is on disk now and
/// the gate was not passed (`None`). Only this key of the section changes.
fn save(ctx: &Ctx, new: u32, gated: bool) -> Result<Option<Settings>, ApiError> {
    let mut refused = None;
    let (cfg, saved) = Config::update(&ctx.state.paths, |c| {
        let current = match c.section::<Settings>(SECTION) {
            Ok(s) => s,
            Err(e) => {
                refused = Some(storage(e));
                return None;
            }
        };
        if new > minutes(&current) && !gated {
            return None;
        }
        let section = c
            .sections
            .entry(SECTION.to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
        if !section.is_object() {
            *section = Value::Object(Default::default());
        }
        section["lock_timeout_minutes"] = Value::from(new);
        Some(Settings {
            lock_timeout_minutes: new,
            ..current
        })
    })
    .map_err(storage)?;
    if let Some(e) = refused {
        return Err(e);
    }
    *ctx.state.config.write().unwrap_or_else(|e| e.into_inner()) = cfg;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anotherpass::seam::ClientKey;
    use crate::config::Paths;
    use crate::vault::{ManualClock, State};
    use std::sync::Arc;

    #[test]
    fn bounds_are_a_typed_error() {
        assert_eq!(checked_minutes(1).unwrap(), 1);
        assert_eq!(checked_minutes(10_080).unwrap(), 10_080);
        for bad in [0, 10_081, u64::from(u32::MAX) + 1, u64::MAX] {
            let e = checked_minutes(bad).unwrap_err();
            assert_eq!(e.code(), codes::INVALID_PARAMS);
            let m = e.to_string();
            assert!(m.contains("1") && m.contains("10080"), "{m}");
        }
    }

    #[test]
    fn a_new_timeout_applies_to_the_open_session() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::default());
        let v = State::with_clock(
            &Paths::under(dir.path()),
            Duration::from_secs(3600),
            clock.clone(),
        );
        v.unlock_with_key(&ClientKey::from_bytes(&[7; 32]).unwrap(), true)
            .unwrap();
        clock.advance(Duration::from_secs(10 * 60));
        v.set_lock_timeout(Duration::from_secs(30 * 60));
        assert_eq!(v.lock_timeout(), Duration::from_secs(30 * 60));
        // Counted from the last use: 20 of the 30 minutes are left.
        assert_eq!(v.status().unwrap().ttl_remaining_seconds, Some(20 * 60));
        // Shorter than the time already unused: locked at once.
        v.set_lock_timeout(Duration::from_secs(5 * 60));
        assert!(v.status().unwrap().locked);
        assert_eq!(
            v.touch().unwrap_err().code(),
            crate::vault::error::VAULT_LOCKED
        );
    }
}
