//! PassWeaver as a source of `credentials.search` / `credentials.get` (`source: "passweaver"`):
//! `locked` while there is no session and no API key to make one.

use super::backend::{NAME, pw};
use super::error::PwError;
use super::ops::Hit;
use crate::api::{ApiError, Ctx};
use crate::credentials::{
    Credential, CredentialProvider, Found, Listed, Lookup, Match, SourceError, SourceState,
};

pub struct Provider;

fn source_error(e: PwError) -> SourceError {
    let state = match &e {
        PwError::NotConfigured => SourceState::NotConfigured,
        PwError::LoginRequired(_) | PwError::TokenRejected(_) => SourceState::Locked,
        PwError::Unreachable { .. } | PwError::Untrusted { .. } => SourceState::Unreachable,
        _ => SourceState::Error,
    };
    SourceError::new(state, ApiError::from(e))
}

fn listed(h: &Hit, m: Match) -> Listed {
    Listed {
        source: NAME.into(),
        id: h.id.clone(),
        name: h.title.clone(),
        user: h.user.clone().unwrap_or_default(),
        urls: h.url.iter().cloned().collect(),
        has_otp: h.has_otp,
        matched: m,
    }
}

fn matched(s: &str) -> Match {
    match s {
        "host" => Match::Host,
        "domain" => Match::Domain,
        "name" => Match::Name,
        _ => Match::Text,
    }
}

impl CredentialProvider for Provider {
    fn source(&self) -> &str {
        NAME
    }

    fn ready(&self, ctx: &Ctx) -> Result<(), SourceError> {
        let p = pw(ctx);
        let account = p.account().map_err(source_error)?;
        if p.locked() {
            return Err(source_error(PwError::LoginRequired(format!(
                "PassWeaver is locked: log in as {} with passweaver.login.",
                account.who()
            ))));
        }
        Ok(())
    }

    fn search(&self, ctx: &Ctx, lookup: &Lookup, limit: usize) -> Result<Found, SourceError> {
        self.ready(ctx)?;
        let p = pw(ctx);
        let hits = match lookup {
            Lookup::Site(q) => p.search_url(&q.site.host),
            Lookup::Text(t) => p.search_text(t),
        }
        .map_err(source_error)?;
        let total = hits.len();
        let items = hits
            .iter()
            .take(limit)
            .map(|h| {
                let m = match lookup {
                    Lookup::Site(_) => matched(h.matched.unwrap_or("text")),
                    Lookup::Text(_) => Match::Text,
                };
                listed(h, m)
            })
            .collect();
        Ok(Found { items, total })
    }

    fn get(&self, ctx: &Ctx, id: &str) -> Result<Credential, SourceError> {
        self.ready(ctx)?;
        let item = pw(ctx).get(id).map_err(source_error)?;
        let field = |k: &str| {
            item.data
                .get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let url = field("url");
        Ok(Credential {
            source: NAME.into(),
            id: item.id.clone(),
            name: item.title.clone(),
            user: field("user"),
            // Data that is not the JSON convention is the secret itself.
            password: match &item.text {
                Some(t) => t.clone(),
                None => field("password"),
            },
            urls: if url.is_empty() {
                Vec::new()
            } else {
                vec![url]
            },
            notes: field("notes"),
            otp: super::ops::otp_uri(&field("otp"))
                .map(|u| u.to_string())
                .unwrap_or_default(),
        })
    }
}
