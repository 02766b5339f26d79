//! What the ANOTHERpass backend hands the vault: every clientKey it receives unlocks the vault,
//! and the credentials it fetched are saved (setting `save_credentials`). When the Clarion
//! policy guards `vault_unlock` and no approval is at hand, a locked vault stays locked: the
//! credentials are saved with the key, which is then dropped.

use super::operation;
use super::search::site_key;
use crate::anotherpass::seam::{ClientKey, Credential, CredentialSink};
use crate::api::{ApiError, Ctx};

pub struct VaultSink;

impl CredentialSink for VaultSink {
    fn received(
        &self,
        ctx: &Ctx,
        key: &ClientKey,
        credentials: &[Credential],
    ) -> Result<(), ApiError> {
        let vault = super::state(ctx);
        let save = super::settings(ctx).save_credentials && !credentials.is_empty();
        // A phone answer must not get around an approval the policy wants for unlocking.
        let stay_locked =
            !vault.is_unlocked() && ctx.state.gate().is_required(ctx, operation::VAULT_UNLOCK);
        let report = if stay_locked {
            log::info!("the vault stays locked: unlocking it needs a Clarion approval");
            if !save {
                return Ok(());
            }
            vault.save_with_key(key, credentials)?
        } else {
            vault.unlock_with_key(key, true)?;
            if !save {
                return Ok(());
            }
            vault.save(credentials)?
        };
        if report.skipped > 0 {
            log::warn!(
                "{} credential(s) from the phone were not stored: no uid, or a field over 64 KiB",
                report.skipped
            );
        }
        Ok(())
    }

    fn remembered_uid(&self, ctx: &Ctx, website: &str) -> Option<String> {
        let site = site_key(website)?;
        super::state(ctx).remembered(&site).ok().flatten()
    }

    fn remember_uid(&self, ctx: &Ctx, website: &str, uid: &str) {
        let Some(site) = site_key(website) else {
            return;
        };
        if uid.is_empty() || uid.len() > 256 {
            return;
        }
        if let Err(e) = super::state(ctx).remember(&site, uid) {
            // Locked or unwritable: the choice is simply not remembered this time.
            log::debug!("not remembering the choice for a site: {}", e.code());
        }
    }
}
