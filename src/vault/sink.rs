//! What the ANOTHERpass backend hands the vault: every clientKey it receives unlocks the vault,
//! and the credentials it fetched are saved (setting `save_credentials`).

use super::search::site_key;
use crate::api::services::{ClientKey, Credential, CredentialSink};
use crate::api::{ApiError, Ctx};

pub struct VaultSink;

impl CredentialSink for VaultSink {
    fn received(
        &self,
        ctx: &Ctx,
        key: &ClientKey,
        credentials: &[Credential],
    ) -> Result<(), ApiError> {
        let vault = &ctx.state.vault;
        vault.unlock_with_key(key, true)?;
        if ctx.state.config().vault.save_credentials && !credentials.is_empty() {
            let r = vault.save(credentials)?;
            if r.skipped > 0 {
                log::warn!(
                    "{} credential(s) from the phone were not stored: no uid, or a field over 64 KiB",
                    r.skipped
                );
            }
        }
        Ok(())
    }

    fn remembered_uid(&self, ctx: &Ctx, website: &str) -> Option<String> {
        let site = site_key(website)?;
        ctx.state.vault.remembered(&site).ok().flatten()
    }

    fn remember_uid(&self, ctx: &Ctx, website: &str, uid: &str) {
        let Some(site) = site_key(website) else {
            return;
        };
        if uid.is_empty() || uid.len() > 256 {
            return;
        }
        if let Err(e) = ctx.state.vault.remember(&site, uid) {
            // Locked or unwritable: the choice is simply not remembered this time.
            log::debug!("not remembering the choice for a site: {}", e.code());
        }
    }
}
