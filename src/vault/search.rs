//! The vault's search index: each stored entry with its parsed site and name words, worked out
//! once when the vault is read. The matching itself is [`crate::credentials::site`].

use super::format::Entry;
use crate::credentials::site::{Candidate, words};
pub use crate::credentials::site::{Match, Query, Site, site_key, site_of, text_hash};
use zeroize::Zeroize;

/// A stored entry with what search needs, worked out once when the vault is read.
#[derive(Clone)]
pub struct Indexed {
    pub entry: Entry,
    pub site: Option<Site>,
    /// The name in lowercase, for sorting.
    pub name_lc: String,
    /// Sorted word hashes for [`Match::Name`].
    pub words: Vec<u64>,
}

impl Indexed {
    pub fn new(entry: Entry) -> Self {
        let site = site_of(&entry.credential.website);
        let name_lc = entry.credential.name.to_lowercase();
        Self {
            words: words(&name_lc, site.as_ref()),
            site,
            name_lc,
            entry,
        }
    }
    pub fn uid(&self) -> &str {
        self.entry.uid()
    }
}

impl Drop for Indexed {
    fn drop(&mut self) {
        self.name_lc.zeroize();
    }
}

impl Candidate for Indexed {
    fn site(&self) -> Option<&Site> {
        self.site.as_ref()
    }
    fn words(&self) -> &[u64] {
        &self.words
    }
}
