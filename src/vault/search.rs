//! The vault's search index: each stored entry with its parsed site and name words, worked out
//! once when the vault is read. The matching itself is [`crate::credentials::site`].
//!
//! Unlocking builds one [`Indexed`] per credential, so it is compact: every text field, the
//! parsed host and the lowercase name share one allocation (issue 14: a string per field made
//! allocation the largest cost of unlocking a large vault).

use super::format::{Entry, EntryFields, RawEntry};
use crate::anotherpass::seam::Credential;
use crate::credentials::site::{Candidate, host_text, words_into};
pub use crate::credentials::site::{Match, Query, Site, site_key, site_of, text_hash};
use zeroize::Zeroize;

/// Where each part ends in [`Indexed::text`]: the seven stored fields (uid, readable uid, name,
/// password, user, website, otp), then the host and the lowercase name.
const UID: usize = 0;
const READABLE_UID: usize = 1;
const NAME: usize = 2;
const PASSWORD: usize = 3;
const USER: usize = 4;
const WEBSITE: usize = 5;
const OTP: usize = 6;
const HOST: usize = 7;
const NAME_LC: usize = 8;

/// A stored entry with what search needs, worked out once when the vault is read.
#[derive(Clone)]
pub struct Indexed {
    /// The parts listed at [`UID`]…[`NAME_LC`], back to back; zeroized on drop.
    text: String,
    ends: [u32; 9],
    /// Where the registrable domain starts in `text` (inside the host part).
    domain_at: u32,
    pub created_ms: u64,
    pub updated_ms: u64,
    words: Words,
}

/// Sorted word hashes for [`Match::Name`]; most names have at most four, kept inline.
#[derive(Clone)]
enum Words {
    Inline(u8, [u64; 4]),
    Heap(Box<[u64]>),
}

impl Words {
    fn new(w: &[u64]) -> Self {
        match w.len() {
            n @ 0..=4 => {
                let mut a = [0; 4];
                a[..n].copy_from_slice(w);
                Words::Inline(n as u8, a)
            }
            _ => Words::Heap(w.into()),
        }
    }
    fn as_slice(&self) -> &[u64] {
        match self {
            Words::Inline(n, a) => &a[..*n as usize],
            Words::Heap(b) => b,
        }
    }
}

impl Indexed {
    pub fn new(entry: Entry) -> Self {
        Self::of(&entry, &mut Vec::new())
    }

    /// Indexes a stored entry; `scratch` is a buffer reused between calls.
    pub fn of(e: &impl EntryFields, scratch: &mut Vec<u64>) -> Self {
        let fields = e.fields();
        let (created_ms, updated_ms) = e.times();
        let name = fields[NAME];
        let host = host_text(fields[WEBSITE]);
        // The lowercase name has its own length outside ASCII (and str::to_lowercase's rules).
        let name_lc_other =
            (!name.is_ascii()).then(|| zeroize::Zeroizing::new(name.to_lowercase()));
        let name_lc_len = name_lc_other.as_ref().map_or(name.len(), |s| s.len());
        let total = fields.iter().map(|f| f.len()).sum::<usize>()
            + host.as_ref().map_or(0, |h| h.len())
            + name_lc_len;
        // Reserved exactly, so no reallocation leaves a copy of a secret in freed memory.
        let mut text = String::with_capacity(total);
        let mut ends = [0u32; 9];
        for (i, f) in fields.iter().enumerate() {
            text.push_str(f);
            ends[i] = text.len() as u32;
        }
        let host_start = text.len();
        let domain_len = host.map_or(0, |h| h.push_to(&mut text));
        ends[HOST] = text.len() as u32;
        let domain_at = (text.len() - domain_len) as u32;
        let name_start = text.len();
        match &name_lc_other {
            Some(lc) => text.push_str(lc),
            None => {
                text.push_str(name);
                text[name_start..].make_ascii_lowercase();
            }
        }
        ends[NAME_LC] = text.len() as u32;
        debug_assert_eq!(text.len(), total);
        let host_end = ends[HOST] as usize;
        let site_host = (host_end > host_start).then(|| &text[host_start..host_end]);
        words_into(&text[name_start..], site_host, scratch);
        let words = Words::new(scratch);
        Self {
            text,
            ends,
            domain_at,
            created_ms,
            updated_ms,
            words,
        }
    }

    /// Indexes an entry decoded in place from a segment.
    pub fn from_raw(e: &RawEntry<'_>, scratch: &mut Vec<u64>) -> Self {
        Self::of(e, scratch)
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    pub fn uid(&self) -> &str {
        self.part(UID)
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
        RawEntry {
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
            fields: self.fields(),
        }
        .to_entry()
    }
}

impl EntryFields for Indexed {
    fn times(&self) -> (u64, u64) {
        (self.created_ms, self.updated_ms)
    }
    fn fields(&self) -> [&str; 7] {
        [UID, READABLE_UID, NAME, PASSWORD, USER, WEBSITE, OTP].map(|i| self.part(i))
    }
}

impl Drop for Indexed {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

impl Candidate for Indexed {
    fn host_and_domain(&self) -> Option<(&str, &str)> {
        let host = self.part(HOST);
        (!host.is_empty()).then(|| {
            let end = self.ends[HOST] as usize;
            (host, &self.text[self.domain_at as usize..end])
        })
    }
    fn words(&self) -> &[u64] {
        self.words.as_slice()
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
                assert_eq!(
                    x.words(),
                    words(&name.to_lowercase(), parsed.as_ref()),
                    "{name}"
                );
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
    fn many_words_are_kept_beyond_the_inline_four() {
        let x = Indexed::new(entry("alpha bravo charlie delta echo foxtrot", ""));
        assert_eq!(x.words().len(), 6);
        assert!(x.words().is_sorted());
    }
}
