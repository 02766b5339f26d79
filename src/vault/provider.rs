//! The vault as a [`CredentialProvider`] for `credentials.search` and `credentials.get`.
//! ANOTHERpass results land here too, so the search includes what the phone sent.

use super::error::VaultError;
use super::session::Summary;
use crate::api::params::Page;
use crate::api::{ApiError, Ctx};
use crate::credentials::{
    Credential, CredentialProvider, Found, Listed, Lookup, Match, SourceError, SourceState,
};

pub const SOURCE: &str = "vault";

pub struct VaultProvider;

fn source_error(e: VaultError) -> SourceError {
    let state = match e {
        VaultError::Locked | VaultError::LockedBecause(_) => SourceState::Locked,
        VaultError::Missing => SourceState::NotConfigured,
        _ => SourceState::Error,
    };
    SourceError::new(state, ApiError::from(e))
}

fn listed(s: Summary, matched: Match) -> Listed {
    Listed {
        source: SOURCE.into(),
        urls: if s.website.is_empty() {
            Vec::new()
        } else {
            vec![s.website]
        },
        id: s.uid,
        name: s.name,
        user: s.user,
        has_otp: s.has_otp,
        matched,
    }
}

impl CredentialProvider for VaultProvider {
    fn source(&self) -> &str {
        SOURCE
    }

    fn ready(&self, ctx: &Ctx) -> Result<(), SourceError> {
        let s = super::state(ctx).status().map_err(source_error)?;
        if !s.exists {
            return Err(source_error(VaultError::Missing));
        }
        if s.locked {
            return Err(source_error(VaultError::Locked));
        }
        Ok(())
    }

    fn search(&self, ctx: &Ctx, lookup: &Lookup, limit: usize) -> Result<Found, SourceError> {
        self.ready(ctx)?;
        // A policy that guards listing the vault guards it here too. No touch is asked for
        // inside a search (every source answers within a timeout): vault.search asks for it.
        if ctx
            .state
            .gate()
            .is_required(ctx, super::operation::VAULT_READ)
        {
            return Err(SourceError::new(
                SourceState::Locked,
                ApiError::new(
                    "approval_required",
                    "The policy guards listing the vault (vault_read): approve vault.search, then search again while that approval lasts (the policy's approval_ttl_seconds; with 0 the vault is never listed here).",
                ),
            ));
        }
        let vault = super::state(ctx);
        match lookup {
            Lookup::Site(q) => {
                let page = Page {
                    offset: 0,
                    limit: limit.max(1),
                };
                let l = vault.search(q, page).map_err(source_error)?;
                let items = l
                    .items
                    .into_iter()
                    .map(|h| {
                        let m = match h.matched {
                            "host" => Match::Host,
                            "domain" => Match::Domain,
                            _ => Match::Name,
                        };
                        listed(h.summary, m)
                    })
                    .collect();
                Ok(Found {
                    items,
                    total: l.total,
                })
            }
            Lookup::Text(t) => {
                let (items, total) = vault.search_text(t, limit).map_err(source_error)?;
                Ok(Found {
                    items: items.into_iter().map(|s| listed(s, Match::Text)).collect(),
                    total,
                })
            }
        }
    }

    fn get(&self, ctx: &Ctx, id: &str) -> Result<Credential, SourceError> {
        // A policy that guards vault.get guards the same secret here (besides credential_get).
        ctx.state
            .gate()
            .require(ctx, super::operation::VAULT_GET)
            .map_err(|e| SourceError::new(SourceState::Error, e))?;
        let e = super::state(ctx).get(id).map_err(source_error)?;
        let c = &e.credential;
        Ok(Credential {
            source: SOURCE.into(),
            id: e.uid().to_owned(),
            name: c.name.clone(),
            user: c.user.clone(),
            password: c.password.clone(),
            urls: if c.website.is_empty() {
                Vec::new()
            } else {
                vec![c.website.clone()]
            },
            notes: String::new(),
            otp: c.otp.clone(),
        })
    }
}
