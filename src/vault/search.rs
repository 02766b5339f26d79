//! The vault's entries as search sees them: a handle on one entry of a segment's
//! [`Packed`] form, where its fields, parsed site and name words were worked out when the
//! segment was written. The matching itself is [`crate::credentials::site`].

use super::format::{Entry, EntryFields};
use super::packed::{NAME_LC, Packed};
use crate::anotherpass::seam::Credential;
use crate::credentials::site::Candidate;
pub use crate::credentials::site::{Match, Query, Site, site_key, site_of, text_hash};
use std::sync::Arc;

const READABLE_UID: usize = 1;
const NAME: usize = 2;
const USER: usize = 4;
const WEBSITE: usize = 5;
const OTP: usize = 6;

/// One stored entry: its segment's packed entries and its position there. Cloning shares
/// them; the last handle dropped zeroizes them.
#[derive(Clone)]
pub struct Indexed {
    packed: Arc<Packed>,
    at: u32,
}

impl Indexed {
    /// Indexes an entry on its own (a new or changed credential).
    pub fn new(entry: Entry) -> Self {
        Self::at(Arc::new(Packed::build([&entry].into_iter())), 0)
    }

    /// Entry `at` of `packed`.
    pub fn at(packed: Arc<Packed>, at: usize) -> Self {
        debug_assert!(at < packed.len());
        Self {
            packed,
            at: at as u32,
        }
    }

    /// The packed entries it is one of, and its position there.
    pub fn source(&self) -> (&Packed, usize) {
        (&self.packed, self.at as usize)
    }

    fn part(&self, k: usize) -> &str {
        self.packed.part(self.at as usize, k)
    }

    pub fn uid(&self) -> &str {
        self.part(0)
    }
    pub fn readable_uid(&self) -> &str {
        self.part(READABLE_UID)
    }
    pub fn name(&self) -> &str {
        self.part(NAME)
    }
    pub fn user(&self) -> &str {
        self.part(USER)
    }
    pub fn website(&self) -> &str {
        self.part(WEBSITE)
    }
    pub fn otp(&self) -> &str {
        self.part(OTP)
    }
    pub fn created_ms(&self) -> u64 {
        self.times().0
    }
    pub fn updated_ms(&self) -> u64 {
        self.times().1
    }
    /// The name in lowercase, for sorting and text search.
    pub fn name_lc(&self) -> &str {
        self.part(NAME_LC)
    }
    /// The registrable domain of the website, if it has a site.
    pub fn domain(&self) -> Option<&str> {
        self.host_and_domain().map(|(_, d)| d)
    }

    /// Whether this entry stores exactly `c` (times aside).
    pub fn stores(&self, c: &Credential) -> bool {
        let [a, b, d, e, f, g] = super::format::text_fields(c);
        c.uid.as_deref() == Some(self.uid()) && self.fields()[1..] == [a, b, d, e, f, g]
    }

    /// An owned copy of the stored entry, password included.
    pub fn to_entry(&self) -> Entry {
        self.packed.to_entry(self.at as usize)
    }
}

impl EntryFields for Indexed {
    fn times(&self) -> (u64, u64) {
        self.packed.times(self.at as usize)
    }
    fn fields(&self) -> [&str; 7] {
        self.packed.fields(self.at as usize)
    }
}

impl Candidate for Indexed {
    fn host_and_domain(&self) -> Option<(&str, &str)> {
        self.packed.host_and_domain(self.at as usize)
    }
    fn has_word(&self, w: u64) -> bool {
        self.packed.has_word(self.at as usize, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::site::{Parsed, words};

    fn entry(name: &str, website: &str) -> Entry {
        Entry {
            credential: Credential {
                uid: Some("3f1c0a52-8a3e-4e0b-9c1d-2b7f5e6a9d10".into()),
                readable_uid: "3f1c0a52".into(),
                name: name.into(),
                password: "pässwörd".into(),
                user: "Ann@Example.org".into(),
                website: website.into(),
                otp: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
            },
            created_ms: 1,
            updated_ms: 2,
        }
    }

    /// The compact form gives back every field, and ranks exactly like the parts parsed one by
    /// one with [`site_of`] and [`words`] (the form every other provider uses).
    #[test]
    fn compact_form_keeps_fields_and_agrees_with_the_plain_parse() {
        let names = [
            "GitHub (work)",
            "ΣΊΣΥΦΟΣ mail",
            "my-bank-login",
            "",
            "İstanbul Kart",
            "x",
        ];
        let sites = [
            "https://WWW.GitHub.com/login",
            "github",
            "http://192.168.1.5:8787/",
            "https://bücher.example",
            "",
            "My bank",
            "https://login.bbc.co.uk",
            "www.com",
        ];
        let queries = [
            "https://github.com",
            "https://gist.github.com",
            "https://bbc.co.uk",
            "https://my-bank.example",
            "https://xn--bcher-kva.example",
            "http://192.168.1.5",
            "https://www.com",
        ]
        .map(|q| Query::parse(q).unwrap());
        for name in names {
            for site in sites {
                let e = entry(name, site);
                let x = Indexed::new(e.clone());
                assert_eq!(x.to_entry(), e);
                assert!(x.stores(&e.credential));
                assert_eq!(x.name_lc(), name.to_lowercase());
                assert_eq!(
                    (x.readable_uid(), x.name(), x.user(), x.website(), x.otp()),
                    (
                        "3f1c0a52",
                        name,
                        "Ann@Example.org",
                        site,
                        "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"
                    )
                );
                let plain = Parsed::new(name, site);
                let parsed = site_of(site);
                assert_eq!(
                    x.host_and_domain(),
                    parsed.as_ref().map(|s| (s.host.as_str(), s.domain())),
                    "{site}"
                );
                for w in words(&name.to_lowercase(), parsed.as_ref()) {
                    assert!(x.has_word(w), "{name}");
                }
                for q in &queries {
                    assert_eq!(q.rank(&x), q.rank(&plain), "{name} / {site}");
                }
            }
        }
        let mut other = entry("GitHub (work)", "github").credential;
        other.password.push('!');
        assert!(!Indexed::new(entry("GitHub (work)", "github")).stores(&other));
    }

    #[test]
    fn every_word_of_a_long_name_is_kept() {
        let x = Indexed::new(entry("alpha bravo charlie delta echo foxtrot", ""));
        for w in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"] {
            assert!(x.has_word(text_hash(w)), "{w}");
        }
        assert!(!x.has_word(text_hash("golf")));
    }
}
