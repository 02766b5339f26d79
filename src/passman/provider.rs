//! Passman as a [`CredentialProvider`], so `credentials.search` and `credentials.get` cover it
//! (`source: "passman"`; `locked` while no vault key is in memory).

use super::credential::Opened;
use super::error::PassmanError;
use super::service::Passman;
use crate::api::{ApiError, Ctx};
use crate::credentials::{
    Credential, CredentialProvider, Found, Listed, Lookup, Match, SourceError, SourceState,
};

pub const SOURCE: &str = "passman";

pub struct PassmanProvider;

fn source_error(e: PassmanError) -> SourceError {
    let state = match e {
        PassmanError::NotConfigured => SourceState::NotConfigured,
        PassmanError::Locked(_) => SourceState::Locked,
        PassmanError::Unreachable { .. } => SourceState::Unreachable,
        _ => SourceState::Error,
    };
    SourceError::new(state, ApiError::from(e))
}

fn urls(o: &Opened) -> Vec<String> {
    let u = o.text("url");
    if u.is_empty() { Vec::new() } else { vec![u] }
}

fn listed(o: &Opened, matched: Match) -> Listed {
    Listed {
        source: SOURCE.into(),
        id: o.guid(),
        name: o.label(),
        user: o.text("username"),
        urls: urls(o),
        has_otp: o.field("otp").and_then(super::otp::uri_of).is_some(),
        matched,
    }
}

fn state(ctx: &Ctx) -> &Passman {
    ctx.state.expect::<Passman>()
}

impl CredentialProvider for PassmanProvider {
    fn source(&self) -> &str {
        SOURCE
    }

    fn ready(&self, ctx: &Ctx) -> Result<(), SourceError> {
        let pm = state(ctx);
        pm.account().map_err(source_error)?;
        match pm.session.peek() {
            Some(_) => Ok(()),
            None => Err(source_error(PassmanError::Locked(""))),
        }
    }

    fn search(&self, ctx: &Ctx, lookup: &Lookup, limit: usize) -> Result<Found, SourceError> {
        self.ready(ctx)?;
        let hits = state(ctx).search(lookup).map_err(source_error)?;
        Ok(Found {
            total: hits.len(),
            items: hits
                .iter()
                .take(limit)
                .map(|(o, m)| listed(o, *m))
                .collect(),
        })
    }

    fn get(&self, ctx: &Ctx, id: &str) -> Result<Credential, SourceError> {
        self.ready(ctx)?;
        let o = state(ctx).get(id).map_err(source_error)?;
        Ok(Credential {
            source: SOURCE.into(),
            id: o.guid(),
            name: o.label(),
            user: o.text("username"),
            password: o.text("password"),
            urls: urls(&o),
            notes: o.text("description"),
            otp: o
                .field("otp")
                .and_then(super::otp::uri_of)
                .unwrap_or_default(),
        })
    }
}
