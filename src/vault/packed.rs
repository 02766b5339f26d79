//! A segment's entries as vault format 3 stores them, which is also their form in memory: the
//! texts of all entries back to back in one string, and beside it what a search needs, worked
//! out when the segment is written: each entry's host, registrable domain and lowercase name,
//! and sorted tables of domain and name-word hashes. Unlocking a segment is then decrypting it
//! and checking this layout, with no parsing per entry (issue 14). Pure: bytes in, bytes out.
//!
//! The layout is in docs/vault-format.md (`seg-<id>.pbv`, version 3).

use super::codec::{Reader, Writer};
use super::format::{Entry, EntryFields, MAX_FIELD_BYTES, RawEntry};
use crate::credentials::site::{host_text, text_hash, words_into};
use zeroize::{Zeroize, Zeroizing};

/// Parts of an entry in the text, in this order: the seven stored fields (uid, readable uid,
/// name, password, user, website, otp), then the host and the lowercase name.
pub const PARTS: usize = 9;
pub const HOST: usize = 7;
pub const NAME_LC: usize = 8;
const STORED: usize = 7;
const WEBSITE: usize = 5;
const NAME: usize = 2;

/// Names the code that derived the host, domain, lowercase name and word hashes of a
/// segment: this format's rules, the Public Suffix List (`psl`), the URL host rules (`url`,
/// `idna`) and the Unicode version of `to_lowercase`. A segment written under another tag is
/// read by deriving them anew (what format 2 did at every unlock) and rewritten by the next
/// commit. The crate versions are checked against Cargo.lock by a test, so updating one of
/// them cannot go unnoticed.
pub const INDEX_RULES: &str = "passbridge index 1; psl 2.1.247; url 2.5.8; idna 1.1.0";

/// [`INDEX_RULES`] and the Unicode version, hashed: stored in every segment. Worked out once
/// per process (every segment read and written compares or writes it).
pub fn index_tag() -> u64 {
    static TAG: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        let (a, b, c) = char::UNICODE_VERSION;
        text_hash(&format!("{INDEX_RULES}; unicode {a}.{b}.{c}"))
    });
    *TAG
}

/// Bytes of the fixed part of the table section, and per entry.
const META_FIXED: usize = 4 + 8 + 4 + 4;
const META_PER_ENTRY: usize = 16 + PARTS * 4 + 4;
const TABLE_ROW: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PackedError {
    /// What is wrong, for the person reading the error (the vault reports it as damage).
    #[error("{0}")]
    Malformed(&'static str),
}

fn bad(what: &'static str) -> PackedError {
    PackedError::Malformed(what)
}

/// The entries of one segment, sorted by uid, with their search tables. Zeroized on drop.
#[derive(Default)]
pub struct Packed {
    text: String,
    /// Per entry, where each of its [`PARTS`] ends in `text` (each starts where the one before
    /// it ended).
    ends: Vec<u32>,
    /// Per entry, where its registrable domain starts in `text` (inside its host part; at the
    /// host's end when it has no site).
    domain_at: Vec<u32>,
    times: Vec<(u64, u64)>,
    /// Sorted `(hash, position)` pairs: of each entry's registrable domain, and of each word
    /// of its name.
    by_domain: Vec<(u64, u32)>,
    by_word: Vec<(u64, u32)>,
}

impl Drop for Packed {
    fn drop(&mut self) {
        self.text.zeroize();
        self.ends.zeroize();
        self.domain_at.zeroize();
        for t in &mut self.times {
            t.0.zeroize();
            t.1.zeroize();
        }
        for row in self.by_domain.iter_mut().chain(self.by_word.iter_mut()) {
            row.0.zeroize();
            row.1.zeroize();
        }
    }
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("4 bytes"))
}

fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("8 bytes"))
}

/// Positions whose hash is `h` in a sorted table.
fn lookup(table: &[(u64, u32)], h: u64) -> impl Iterator<Item = usize> + '_ {
    let start = table.partition_point(|&(k, _)| k < h);
    table[start..]
        .iter()
        .take_while(move |&&(k, _)| k == h)
        .map(|&(_, p)| p as usize)
}

impl Packed {
    pub fn len(&self) -> usize {
        self.times.len()
    }
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
    /// Part `k` (see [`PARTS`]) of entry `i`.
    pub fn part(&self, i: usize, k: usize) -> &str {
        let at = i * PARTS + k;
        let start = match at {
            0 => 0,
            _ => self.ends[at - 1] as usize,
        };
        &self.text[start..self.ends[at] as usize]
    }
    /// The seven stored fields of entry `i`.
    pub fn fields(&self, i: usize) -> [&str; STORED] {
        std::array::from_fn(|k| self.part(i, k))
    }
    pub fn uid(&self, i: usize) -> &str {
        self.part(i, 0)
    }
    pub fn times(&self, i: usize) -> (u64, u64) {
        self.times[i]
    }
    /// An owned copy of entry `i`, password included.
    pub fn to_entry(&self, i: usize) -> Entry {
        let (created_ms, updated_ms) = self.times(i);
        RawEntry {
            created_ms,
            updated_ms,
            fields: self.fields(i),
        }
        .to_entry()
    }
    /// The host and registrable domain of entry `i`, if its website has a site.
    pub fn host_and_domain(&self, i: usize) -> Option<(&str, &str)> {
        let host = self.part(i, HOST);
        let end = self.ends[i * PARTS + HOST] as usize;
        (!host.is_empty()).then(|| (host, &self.text[self.domain_at[i] as usize..end]))
    }
    /// The position of the entry with this uid.
    pub fn find(&self, uid: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.uid(mid).cmp(uid) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
    /// Positions of the entries whose registrable domain hashes to `h`.
    pub fn with_domain(&self, h: u64) -> impl Iterator<Item = usize> + '_ {
        lookup(&self.by_domain, h)
    }
    /// Positions of the entries with a name word that hashes to `h`.
    pub fn with_word(&self, h: u64) -> impl Iterator<Item = usize> + '_ {
        lookup(&self.by_word, h)
    }
    /// Whether entry `i` has a name word that hashes to `h`.
    pub fn has_word(&self, i: usize, h: u64) -> bool {
        self.by_word.binary_search(&(h, i as u32)).is_ok()
    }

    /// Bytes of [`Packed::write_to`]: the text, then the tables.
    pub fn encoded_len(&self) -> (usize, usize) {
        let meta = META_FIXED
            + self.len() * META_PER_ENTRY
            + (self.by_domain.len() + self.by_word.len()) * TABLE_ROW;
        (self.text.len(), meta)
    }

    /// Appends the text and then the table section (docs/vault-format.md).
    pub fn write_to(&self, w: &mut Writer<'_>) {
        w.bytes(self.text.as_bytes());
        w.u32(self.len() as u32);
        w.u64(index_tag());
        for &(c, u) in &self.times {
            w.u64(c);
            w.u64(u);
        }
        for &e in &self.ends {
            w.u32(e);
        }
        for &d in &self.domain_at {
            w.u32(d);
        }
        for table in [&self.by_domain, &self.by_word] {
            w.u32(table.len() as u32);
            for &(h, p) in table {
                w.u64(h);
                w.u32(p);
            }
        }
    }

    /// Reads what [`Packed::write_to`] wrote: `plain` is the text followed by `meta_len`
    /// bytes of tables. Checks the whole layout (so no accessor can panic later) but trusts the
    /// derived parts, as it trusts the rest of an authenticated segment. A segment written
    /// under other [`index_tag`] rules has its derived parts worked out anew; the flag says
    /// whether they were current.
    pub fn read(plain: Vec<u8>, meta_len: usize, count: u32) -> Result<(Self, bool), PackedError> {
        // Zeroized on every early return; taken out for the text once all is read.
        let mut plain = Zeroizing::new(plain);
        let text_len = (plain.len())
            .checked_sub(meta_len)
            .ok_or(bad("a segment's lengths are inconsistent"))?;
        let mut p = Packed::default();
        let tag = {
            let mut r = Reader::new(&plain[text_len..]);
            let short = |_| bad("a segment's tables end early");
            let n = r.u32().map_err(short)?;
            if n != count {
                return Err(bad("a segment's entry count differs from the manifest"));
            }
            let tag = r.u64().map_err(short)?;
            // Bound allocations by the bytes actually present.
            if (count as usize).saturating_mul(META_PER_ENTRY) > r.remaining() {
                return Err(bad("a segment's tables end early"));
            }
            let n = count as usize;
            // Whole columns at a time: exact allocations, no bounds check per number.
            let mut column = |len: usize| r.take(len).map_err(short);
            p.times = column(n * 16)?
                .chunks_exact(16)
                .map(|c| (le_u64(&c[..8]), le_u64(&c[8..])))
                .collect();
            p.ends = column(n * PARTS * 4)?.chunks_exact(4).map(le_u32).collect();
            p.domain_at = column(n * 4)?.chunks_exact(4).map(le_u32).collect();
            for table in [&mut p.by_domain, &mut p.by_word] {
                let rows = r.u32().map_err(short)? as usize;
                if rows.saturating_mul(TABLE_ROW) > r.remaining() {
                    return Err(bad("a segment's tables end early"));
                }
                *table = r
                    .take(rows * TABLE_ROW)
                    .map_err(short)?
                    .chunks_exact(TABLE_ROW)
                    .map(|c| (le_u64(&c[..8]), le_u32(&c[8..])))
                    .collect();
            }
            r.finish()
                .map_err(|_| bad("a segment's tables have trailing bytes"))?;
            tag
        };
        // The tables are copied out: the text keeps the decrypted buffer (no copy of it).
        plain[text_len..].zeroize();
        plain.truncate(text_len);
        p.text = String::from_utf8(std::mem::take::<Vec<u8>>(&mut plain)).map_err(|e| {
            e.into_bytes().zeroize();
            bad("a segment's text is not UTF-8")
        })?;
        p.check()?;
        if tag != index_tag() {
            return Ok((p.rederived(), false));
        }
        Ok((p, true))
    }

    /// Checks that every part lies on character boundaries in order, the uids increase, the
    /// domains lie in their hosts and the tables are sorted and point at entries.
    fn check(&self) -> Result<(), PackedError> {
        let text = &self.text;
        let mut start = 0usize;
        for i in 0..self.len() {
            for k in 0..PARTS {
                let end = self.ends[i * PARTS + k] as usize;
                if end < start || !text.is_char_boundary(end) {
                    return Err(bad("a segment's text ends out of place"));
                }
                if k < STORED && end - start > MAX_FIELD_BYTES {
                    return Err(bad("a segment holds a field longer than any vault writes"));
                }
                start = end;
            }
            let host_end = self.ends[i * PARTS + HOST] as usize;
            let host_start = self.ends[i * PARTS + HOST - 1] as usize;
            let d = self.domain_at[i] as usize;
            if !(host_start..=host_end).contains(&d) || !text.is_char_boundary(d) {
                return Err(bad("a segment's domain lies outside its host"));
            }
            if i > 0 && self.uid(i - 1) >= self.uid(i) {
                return Err(bad("a segment's entries are out of order or repeated"));
            }
        }
        if start != text.len() {
            return Err(bad("a segment's texts do not fill its text"));
        }
        let n = self.len() as u32;
        for table in [&self.by_domain, &self.by_word] {
            if table.iter().any(|&(_, p)| p >= n) || !table.windows(2).all(|w| w[0] < w[1]) {
                return Err(bad(
                    "a segment's search table is out of order or out of range",
                ));
            }
        }
        Ok(())
    }

    /// The same entries with host, domain, lowercase name and tables worked out by this code.
    fn rederived(&self) -> Self {
        let mut b = Builder::new(self.len(), self.text.len());
        for i in 0..self.len() {
            b.push_fields(self.times(i), self.fields(i));
        }
        b.finish()
    }

    /// Builds from entries sorted by uid (each uid once).
    pub fn build<'e, E: EntryFields + 'e>(entries: impl Iterator<Item = &'e E>) -> Self {
        let mut b = Builder::new(0, 0);
        for e in entries {
            b.push_fields(e.times(), e.fields());
        }
        b.finish()
    }
}

/// Makes room for `n` more bytes, moving the text to a larger buffer by hand so that no copy
/// of a secret stays behind in freed memory.
fn reserve(text: &mut String, n: usize) {
    if text.capacity() - text.len() < n {
        let mut bigger = String::with_capacity((text.capacity() * 2).max(text.len() + n));
        bigger.push_str(text);
        text.zeroize();
        *text = bigger;
    }
}

fn push_text(text: &mut String, s: &str) {
    reserve(text, s.len());
    text.push_str(s);
}

/// Collects entries, in uid order, into a [`Packed`].
pub struct Builder {
    p: Packed,
    scratch: Vec<u64>,
}

impl Builder {
    /// Room for `entries` entries and about `text` bytes of text.
    pub fn new(entries: usize, text: usize) -> Self {
        let mut p = Packed::default();
        p.text.reserve_exact(text + text / 4);
        p.ends.reserve(entries * PARTS);
        p.times.reserve(entries);
        p.domain_at.reserve(entries);
        Self {
            p,
            scratch: Vec::new(),
        }
    }

    /// Adds an entry given by its stored fields, working out its host, domain and words.
    pub fn push_fields(&mut self, times: (u64, u64), fields: [&str; STORED]) {
        let p = &mut self.p;
        for f in fields {
            push_text(&mut p.text, f);
            p.ends.push(p.text.len() as u32);
        }
        let host_start = p.text.len();
        let mut domain_len = 0;
        if let Some(h) = host_text(fields[WEBSITE]) {
            // Room first: push_to appends at most h.len() bytes.
            reserve(&mut p.text, h.len());
            domain_len = h.push_to(&mut p.text);
        }
        p.ends.push(p.text.len() as u32);
        let domain_at = p.text.len() - domain_len;
        let name = fields[NAME];
        if name.is_ascii() {
            push_text(&mut p.text, name);
            let n = p.text.len();
            p.text[n - name.len()..].make_ascii_lowercase();
        } else {
            let mut lc = name.to_lowercase();
            push_text(&mut p.text, &lc);
            lc.zeroize();
        }
        p.ends.push(p.text.len() as u32);
        self.finish_entry(times, domain_at - host_start);
    }

    /// Adds an entry from another [`Packed`], keeping its derived parts.
    pub fn push_from(&mut self, from: &Packed, i: usize) {
        let p = &mut self.p;
        let first = i * PARTS;
        let start = match first {
            0 => 0,
            _ => from.ends[first - 1] as usize,
        };
        let base = p.text.len();
        push_text(
            &mut p.text,
            &from.text[start..from.ends[first + PARTS - 1] as usize],
        );
        for k in 0..PARTS {
            p.ends
                .push((base + from.ends[first + k] as usize - start) as u32);
        }
        let host_start = from.ends[first + HOST - 1] as usize;
        self.finish_entry(from.times[i], from.domain_at[i] as usize - host_start);
    }

    /// The domain position, times and table rows of the entry just added.
    fn finish_entry(&mut self, times: (u64, u64), domain_in_host: usize) {
        let p = &mut self.p;
        let i = p.times.len();
        let pos = i as u32;
        p.times.push(times);
        let host_start = p.ends[i * PARTS + HOST - 1] as usize;
        let host_end = p.ends[i * PARTS + HOST] as usize;
        let domain_at = host_start + domain_in_host;
        p.domain_at.push(domain_at as u32);
        let host = &p.text[host_start..host_end];
        if !host.is_empty() {
            p.by_domain
                .push((text_hash(&p.text[domain_at..host_end]), pos));
        }
        let name_lc = &p.text[host_end..p.ends[i * PARTS + NAME_LC] as usize];
        words_into(
            name_lc,
            (!host.is_empty()).then_some(host),
            &mut self.scratch,
        );
        p.by_word.extend(self.scratch.iter().map(|&w| (w, pos)));
    }

    pub fn finish(mut self) -> Packed {
        self.scratch.zeroize();
        let mut p = std::mem::take(&mut self.p);
        p.by_domain.sort_unstable();
        p.by_word.sort_unstable();
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::site::{Candidate, Parsed, Query, site_of, words};

    fn entry(uid: &str, name: &str, website: &str) -> Entry {
        let raw = RawEntry {
            created_ms: 1,
            updated_ms: 2,
            fields: [
                uid,
                &uid[..uid.len().min(8)],
                name,
                "pässwörd",
                "ann",
                website,
                "",
            ],
        };
        raw.to_entry()
    }

    struct At<'a>(&'a Packed, usize);
    impl Candidate for At<'_> {
        fn host_and_domain(&self) -> Option<(&str, &str)> {
            self.0.host_and_domain(self.1)
        }
        fn has_word(&self, w: u64) -> bool {
            self.0.has_word(self.1, w)
        }
    }

    fn encode(p: &Packed) -> (Vec<u8>, usize) {
        let (t, m) = p.encoded_len();
        let mut out = Vec::with_capacity(t + m);
        p.write_to(&mut Writer::new(&mut out));
        assert_eq!(out.len(), t + m);
        (out, m)
    }

    fn sample() -> Vec<Entry> {
        let names = [
            "GitHub (work)",
            "ΣΊΣΥΦΟΣ mail",
            "my-bank-login",
            "",
            "İstanbul Kart",
        ];
        let sites = [
            "https://WWW.GitHub.com/login",
            "github",
            "http://192.168.1.5:8787/",
            "https://bücher.example",
            "",
            "https://login.bbc.co.uk",
        ];
        let mut out = Vec::new();
        for (i, n) in names.iter().enumerate() {
            for (j, s) in sites.iter().enumerate() {
                out.push(entry(&format!("uid-{i}{j}"), n, s));
            }
        }
        out
    }

    /// Built, written and read back, every entry gives back its fields, and ranks exactly like
    /// the same name and website parsed on their own (what every other provider does).
    #[test]
    fn round_trip_keeps_fields_and_ranks_like_the_plain_parse() {
        let entries = sample();
        let built = Packed::build(entries.iter());
        let (bytes, meta) = encode(&built);
        let (read, current) = Packed::read(bytes, meta, entries.len() as u32).unwrap();
        assert!(current);
        let queries = [
            "https://github.com",
            "https://gist.github.com",
            "https://bbc.co.uk",
            "https://my-bank.example",
            "https://xn--bcher-kva.example",
            "http://192.168.1.5",
        ]
        .map(|q| Query::parse(q).unwrap());
        for p in [&built, &read] {
            assert_eq!(p.len(), entries.len());
            for (i, e) in entries.iter().enumerate() {
                let [_, _, name, _, _, site, _] = e.fields();
                assert_eq!(p.fields(i), e.fields());
                assert_eq!(p.times(i), (1, 2));
                assert_eq!(p.part(i, NAME_LC), name.to_lowercase());
                let parsed = site_of(site);
                assert_eq!(
                    p.host_and_domain(i),
                    parsed.as_ref().map(|s| (s.host.as_str(), s.domain())),
                    "{site}"
                );
                for w in words(&name.to_lowercase(), parsed.as_ref()) {
                    assert!(p.has_word(i, w));
                }
                assert_eq!(p.find(e.uid()), Some(i));
                let plain = Parsed::new(name, site);
                for q in &queries {
                    assert_eq!(q.rank(&At(p, i)), q.rank(&plain), "{name} / {site}");
                }
            }
            assert!(!p.is_empty());
            // Uids before, between and after the entries' are not there.
            for absent in ["uid-", "uid-00a", "uid-4", "zzz"] {
                assert_eq!(p.find(absent), None, "{absent}");
            }
            // The name word "github": the entries named GitHub and those whose site is the
            // bare host github.
            let word = text_hash("github");
            let with: Vec<usize> = p.with_word(word).collect();
            let named: Vec<usize> = (0..p.len())
                .filter(|&i| p.part(i, NAME_LC).contains("github") || p.part(i, HOST) == "github")
                .collect();
            assert_eq!(with, named);
            assert_eq!(with.len(), 10);
            assert!(with.iter().all(|&i| p.has_word(i, word)));
            assert_eq!(p.with_word(text_hash("nowhere")).count(), 0);
            let gh = text_hash("github.com");
            let with: Vec<usize> = p.with_domain(gh).collect();
            assert_eq!(with.len(), 5, "one github.com entry per name");
            assert!(
                with.iter()
                    .all(|&i| p.host_and_domain(i).unwrap().1 == "github.com")
            );
        }
    }

    /// An entry copied from another packed keeps its derived parts and lands where a fresh
    /// build puts it.
    #[test]
    fn copying_entries_equals_building_them() {
        let entries = sample();
        let whole = Packed::build(entries.iter());
        let mut b = Builder::new(0, 0);
        for i in (0..whole.len()).step_by(2) {
            b.push_from(&whole, i);
        }
        let copied = b.finish();
        let fresh = Packed::build(entries.iter().step_by(2));
        assert_eq!(encode(&copied), encode(&fresh));
    }

    /// A segment written under other rules (another PSL, another Unicode) is read with its
    /// parts worked out anew, not with the stale ones.
    #[test]
    fn tables_of_other_rules_are_derived_anew() {
        let entries = sample();
        let built = Packed::build(entries.iter());
        let (mut bytes, meta) = encode(&built);
        let t = bytes.len() - meta;
        // Another tag, and a wrong domain position for the first entry.
        bytes[t + 4..t + 12].copy_from_slice(&1u64.to_le_bytes());
        let first_host_end = built.ends[HOST] as usize;
        let at = t + META_FIXED - 8 + entries.len() * (16 + PARTS * 4);
        bytes[at..at + 4].copy_from_slice(&(first_host_end as u32).to_le_bytes());
        let (read, current) = Packed::read(bytes, meta, entries.len() as u32).unwrap();
        assert!(!current);
        assert_eq!(encode(&read), encode(&built));
    }

    /// Every malformed layout is an error, never a panic or a wrong entry.
    #[test]
    fn malformed_layouts_are_refused() {
        let entries = sample();
        let (bytes, meta) = encode(&Packed::build(entries.iter()));
        let n = entries.len() as u32;
        assert!(Packed::read(bytes.clone(), meta, n).is_ok());
        assert_eq!(
            Packed::read(bytes.clone(), meta, n + 1).err(),
            Some(bad("a segment's entry count differs from the manifest"))
        );
        assert!(Packed::read(bytes.clone(), bytes.len() + 1, n).is_err());
        // A count far beyond the bytes present is refused before anything is allocated for it.
        let huge = [
            &u32::MAX.to_le_bytes()[..],
            &index_tag().to_le_bytes(),
            &[0; 8],
        ]
        .concat();
        assert_eq!(
            Packed::read(huge, 20, u32::MAX).err(),
            Some(bad("a segment's tables end early"))
        );
        for len in 0..bytes.len() {
            let cut = bytes[..len].to_vec();
            let m = meta.min(len);
            assert!(Packed::read(cut, m, n).is_err(), "cut at {len}");
        }
        // Each byte of the tables, changed: refused, or (hash bytes, the tag) read as valid.
        let t = bytes.len() - meta;
        for at in t..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0x80;
            if let Ok((p, _)) = Packed::read(b, meta, n) {
                for i in 0..p.len() {
                    let _ = (p.fields(i), p.host_and_domain(i), p.part(i, NAME_LC));
                }
            }
        }
        // Texts out of uid order.
        let mut swapped = entries.clone();
        swapped.swap(0, 1);
        let (b, m) = encode(&Packed::build(swapped.iter()));
        assert_eq!(
            Packed::read(b, m, n).err(),
            Some(bad("a segment's entries are out of order or repeated"))
        );
        // A part ending inside a character.
        let one = [entry("u", "ü", "")];
        let (mut b, m) = encode(&Packed::build(one.iter()));
        let at = b.len() - m + META_FIXED - 8 + 16 + 4; // the readable uid's end
        let uid_end = u32::from_le_bytes(b[at - 4..at].try_into().unwrap());
        assert_eq!(uid_end, 1);
        let name_end = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap());
        b[at + 4..at + 8].copy_from_slice(&(name_end - 1).to_le_bytes());
        assert_eq!(
            Packed::read(b, m, 1).err(),
            Some(bad("a segment's text ends out of place"))
        );
        // Not UTF-8.
        let (mut b, m) = encode(&Packed::build(one.iter()));
        b[0] = 0xff;
        assert_eq!(
            Packed::read(b, m, 1).err(),
            Some(bad("a segment's text is not UTF-8"))
        );
    }

    #[test]
    fn the_crate_versions_in_the_index_rules_are_the_locked_ones() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        for krate in ["psl", "url", "idna"] {
            let at = lock
                .find(&format!("name = \"{krate}\"\nversion = \""))
                .unwrap();
            let version = lock[at..].lines().nth(1).unwrap();
            let version = version
                .trim_start_matches("version = \"")
                .trim_end_matches('"');
            assert!(
                INDEX_RULES.contains(&format!("{krate} {version};"))
                    || INDEX_RULES.ends_with(&format!("{krate} {version}")),
                "{krate} is {version} now: update INDEX_RULES (and so the tag), so that vaults \
                 written with the old rules get their search tables worked out anew"
            );
        }
    }

    /// The tag stored in every segment is FNV-1a 64 of the rules and the Unicode version:
    /// stable across builds and runs (unlike a seeded hash), and changed by either. A segment
    /// holding any other tag, zeros included, is not current.
    #[test]
    fn the_index_tag_hashes_the_rules_and_the_unicode_version() {
        let (a, b, c) = char::UNICODE_VERSION;
        assert_eq!(
            index_tag(),
            text_hash(&format!("{INDEX_RULES}; unicode {a}.{b}.{c}"))
        );
        assert_ne!(index_tag(), text_hash(INDEX_RULES));
        let (bytes, meta) = encode(&Packed::default());
        assert_eq!(bytes.len(), meta);
        assert_eq!(bytes[4..12], index_tag().to_le_bytes());
        let (empty, current) = Packed::read(bytes.clone(), meta, 0).unwrap();
        assert!(current);
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.find(""), None);
        let mut zeroed = bytes;
        zeroed[4..12].fill(0);
        let (_, current) = Packed::read(zeroed, meta, 0).unwrap();
        assert!(!current);
    }

    /// `reserve` makes room before a secret is appended, so that `push_str` never moves the
    /// text itself (which would leave a copy in freed memory), and moves it only when the room
    /// left is short.
    #[test]
    fn reserve_moves_the_text_only_when_the_room_left_is_short() {
        let mut s = String::with_capacity(8);
        s.push_str("abcd");
        let at = s.as_ptr();
        reserve(&mut s, 4);
        assert_eq!(
            (s.as_ptr(), s.capacity()),
            (at, 8),
            "four bytes left: enough"
        );
        reserve(&mut s, 5);
        assert!(s.capacity() >= 9, "{}", s.capacity());
        assert_eq!(s, "abcd");
        let at = s.as_ptr();
        push_text(&mut s, "efghi");
        assert_eq!((s.as_str(), s.as_ptr()), ("abcdefghi", at));
    }

    /// Reading allocates each table once, at its final size: nothing is moved while a segment
    /// is read, so the zeroizing on drop reaches every copy.
    #[test]
    fn reading_allocates_each_table_once() {
        let entries = sample();
        let (bytes, meta) = encode(&Packed::build(entries.iter()));
        let (p, _) = Packed::read(bytes, meta, entries.len() as u32).unwrap();
        assert_eq!(p.ends.len(), entries.len() * PARTS);
        for (len, capacity) in [
            (p.times.len(), p.times.capacity()),
            (p.ends.len(), p.ends.capacity()),
            (p.domain_at.len(), p.domain_at.capacity()),
            (p.by_domain.len(), p.by_domain.capacity()),
            (p.by_word.len(), p.by_word.capacity()),
        ] {
            assert_eq!(len, capacity);
        }
    }

    /// Each rule of the layout check, broken alone in an otherwise valid segment, is refused
    /// with its error; only the stored fields are bounded, not the derived host and name.
    #[test]
    fn each_layout_rule_is_checked_on_its_own() {
        let read_back = |p: &Packed| {
            let (b, m) = encode(p);
            Packed::read(b, m, p.len() as u32).map(|(p, _)| p)
        };
        // A stored field longer than any vault writes.
        let mut long = entry("u", "", "");
        long.credential.password = "p".repeat(MAX_FIELD_BYTES + 1);
        assert_eq!(
            read_back(&Packed::build([&long].into_iter())).err(),
            Some(bad("a segment holds a field longer than any vault writes"))
        );
        // A host and a lowercase name longer than that (derived, never stored) are read.
        let mut p = Packed::build([&entry("u", "", "")].into_iter());
        let host = "h".repeat(MAX_FIELD_BYTES + 1);
        let name = "n".repeat(MAX_FIELD_BYTES + 1);
        p.text.push_str(&host);
        p.text.push_str(&name);
        p.ends[HOST] += host.len() as u32;
        p.ends[NAME_LC] += (host.len() + name.len()) as u32;
        let got = read_back(&p).unwrap();
        assert_eq!(got.host_and_domain(0), Some((&host[..], &host[..])));
        assert_eq!(got.part(0, NAME_LC), name);

        let entries = sample();
        let valid = || Packed::build(entries.iter());
        assert!(read_back(&valid()).is_ok());
        // A domain starting before its host (in the entry's own earlier parts), or after it.
        let host_start = |p: &Packed, i: usize| p.ends[i * PARTS + HOST - 1];
        for i in [1, entries.len() - 1] {
            let mut p = valid();
            p.domain_at[i] = host_start(&p, i) - 1;
            let mut after = valid();
            after.domain_at[i] = after.ends[i * PARTS + HOST] + 1;
            for p in [p, after] {
                assert_eq!(
                    read_back(&p).err(),
                    Some(bad("a segment's domain lies outside its host")),
                    "entry {i}"
                );
            }
        }
        // Search tables: a row past the last entry (still sorted), rows out of order (all in
        // range), a row repeated.
        let table_err = Some(bad(
            "a segment's search table is out of order or out of range",
        ));
        let mut p = valid();
        p.by_word.push((u64::MAX, entries.len() as u32));
        assert_eq!(read_back(&p).err(), table_err);
        let mut p = valid();
        p.by_domain.swap(0, 1);
        assert_eq!(read_back(&p).err(), table_err);
        let mut p = valid();
        p.by_word.insert(0, p.by_word[0]);
        assert_eq!(read_back(&p).err(), table_err);
    }
}
