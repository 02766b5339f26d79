//! TEST ONLY: a credential source with fixed contents and a chosen behaviour, enabled by the
//! `credentials.test_sources` setting (like `anotherpass.rsa_bits`). It lets the integration
//! tests drive `credentials.search` across several sources, a locked one and one that never
//! answers, through the real binary.

use super::site::Parsed;
use super::{
    Credential, CredentialProvider, Found, Listed, Lookup, Match, SourceError, SourceState,
};
use crate::api::{ApiError, Ctx};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the source behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Answers from its entries.
    #[default]
    Ok,
    /// Reports itself locked.
    Locked,
    /// Never answers a search (until cancelled): a source that cannot be reached.
    Hang,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Debug)]
pub struct FixtureSource {
    /// Its `source` tag.
    pub source: String,
    #[serde(default)]
    pub behaviour: Behaviour,
    #[serde(default)]
    pub entries: Vec<Credential>,
}

impl FixtureSource {
    fn entry(&self, c: &Credential) -> Credential {
        let mut c = c.clone();
        c.source = self.source.clone();
        c
    }
}

/// How well `c` fits `lookup`: the best of its addresses for a site.
pub fn rank(lookup: &Lookup, c: &Credential) -> Option<Match> {
    match lookup {
        Lookup::Site(q) => {
            let first = c.urls.first().map_or("", String::as_str);
            let by_name = q.rank(&Parsed::new(&c.name, first));
            c.urls
                .iter()
                .filter_map(|u| q.rank_parts(Parsed::new("", u).site.as_ref(), &[]))
                .chain(by_name)
                .min()
        }
        Lookup::Text(t) => super::text_matches(t, &c.name, &c.user, &c.urls).then_some(Match::Text),
    }
}

impl CredentialProvider for FixtureSource {
    fn source(&self) -> &str {
        &self.source
    }

    fn ready(&self, _ctx: &Ctx) -> Result<(), SourceError> {
        match self.behaviour {
            Behaviour::Locked => Err(SourceError::new(
                SourceState::Locked,
                ApiError::new(
                    "vault_locked",
                    format!("{} is locked. Unlock it and search again.", self.source),
                ),
            )),
            _ => Ok(()),
        }
    }

    fn search(&self, ctx: &Ctx, lookup: &Lookup, limit: usize) -> Result<Found, SourceError> {
        self.ready(ctx)?;
        if self.behaviour == Behaviour::Hang {
            // Woken by the search's timeout (or the request's cancel).
            let _ = ctx.cancel.sleep(Duration::from_secs(600));
            return Err(SourceError::new(SourceState::Error, ApiError::cancelled()));
        }
        let mut hits: Vec<Listed> = self
            .entries
            .iter()
            .filter_map(|c| rank(lookup, c).map(|m| Listed::of(&self.entry(c), m)))
            .collect();
        hits.sort_by_cached_key(|l| (l.matched, l.name.to_lowercase(), l.id.clone()));
        let total = hits.len();
        hits.truncate(limit);
        Ok(Found { items: hits, total })
    }

    fn get(&self, ctx: &Ctx, id: &str) -> Result<Credential, SourceError> {
        self.ready(ctx)?;
        self.entries
            .iter()
            .find(|c| c.id == id)
            .map(|c| self.entry(c))
            .ok_or_else(|| {
                SourceError::new(
                    SourceState::Error,
                    ApiError::new(
                        "vault_not_found",
                        "No credential has this id in this source.",
                    ),
                )
            })
    }
}
