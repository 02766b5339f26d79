//! The decrypted vault in memory: segments with their search tables, and the draft a commit
//! builds (copies of the segments it touches, then a redistribution when the vault outgrew
//! its segment count).

use crate::vault::crypto::Key32;
use crate::vault::format;
use crate::vault::format::{Body, DataKeys, Entry, Header, PasswordPublic, Seal};
use crate::vault::packed::{Builder, Packed};
use crate::vault::search::{Indexed, Match, Query, text_hash};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A decrypted vault. Dropping it zeroizes the keys and every credential.
pub(super) struct Loaded {
    pub(super) header: Header,
    pub(super) body: Body,
    pub(super) dek: Key32,
    pub(super) keys: DataKeys,
    pub(super) segments: Vec<Segment>,
    /// The slots' public keys, to seal a new DEK without their secrets: from the header, or,
    /// for a version 1 slot, learned when it was opened (None: not known in this process).
    pub(super) client_pub: Option<[u8; 32]>,
    pub(super) password_pub: Option<PasswordPublic>,
}

/// What opening a key slot yields: the DEK, and the opened slot's public key.
pub(super) struct Opened {
    pub(super) dek: Key32,
    pub(super) client_pub: Option<[u8; 32]>,
    pub(super) password_pub: Option<PasswordPublic>,
}

/// The public key of a client slot: its own, or `known` for a version 1 slot.
pub(super) fn client_public(seal: &Seal, known: Option<[u8; 32]>) -> Option<[u8; 32]> {
    seal.public().or(known)
}

/// What re-sealing the password slot of `header` needs: from the slot, or `known` for a
/// version 1 slot.
pub(super) fn password_public(
    header: &Header,
    known: Option<PasswordPublic>,
) -> Option<PasswordPublic> {
    let slot = header.password.as_ref()?;
    match slot.seal.public() {
        Some(public) => Some(PasswordPublic {
            kdf: slot.kdf,
            salt: slot.salt,
            public,
        }),
        None => known.filter(|k| k.salt == slot.salt && k.kdf == slot.kdf),
    }
}

impl Loaded {
    pub(super) fn entries(&self) -> impl Iterator<Item = &Indexed> {
        self.segments.iter().flat_map(|s| s.entries.iter())
    }
    pub(super) fn count(&self) -> u64 {
        self.body.segments.iter().map(|s| u64::from(s.count)).sum()
    }
    pub(super) fn get(&self, uid: &str) -> Option<&Indexed> {
        let i = self.keys.segment_of(uid, self.header.segment_count);
        self.segments[i as usize].get(uid)
    }
}

/// One segment in memory: its entries sorted by uid in their packed form, whose lookup tables
/// let a search visit only the entries that can match (a hit is confirmed on the entry
/// itself), and a handle on each.
#[derive(Default)]
pub(super) struct Segment {
    packed: Arc<Packed>,
    pub(super) entries: Vec<Indexed>,
    /// Read from a file in the current format under the current index rules: a commit
    /// rewrites segments that are not (the move from format 2 and from older rules).
    pub(super) current: bool,
}

impl Segment {
    pub(super) fn new(packed: Packed, current: bool) -> Self {
        let packed = Arc::new(packed);
        let entries = (0..packed.len())
            .map(|i| Indexed::at(packed.clone(), i))
            .collect();
        Self {
            packed,
            entries,
            current,
        }
    }
    /// The entries of `map` packed anew, keeping what each one's source worked out.
    pub(super) fn pack(map: &BTreeMap<String, Indexed>) -> Packed {
        let mut b = Builder::new(map.len(), 0);
        for e in map.values() {
            let (from, i) = e.source();
            b.push_from(from, i);
        }
        b.finish()
    }
    pub(super) fn to_map(&self) -> BTreeMap<String, Indexed> {
        self.entries
            .iter()
            .map(|e| (e.uid().to_owned(), e.clone()))
            .collect()
    }
    pub(super) fn get(&self, uid: &str) -> Option<&Indexed> {
        self.packed.find(uid).map(|i| &self.entries[i])
    }
    /// Every entry of this segment that fits `query`, with how well.
    pub(super) fn matches<'s>(&'s self, query: &Query, out: &mut Vec<(Match, &'s Indexed)>) {
        for p in self.packed.with_domain(text_hash(query.site.domain())) {
            let e = &self.entries[p];
            out.extend(query.rank(e).map(|m| (m, e)));
        }
        // Entries of the same domain were found above; here only the name matches count.
        if let Some(label) = query.label() {
            for p in self.packed.with_word(label) {
                let e = &self.entries[p];
                if query.rank(e) == Some(Match::Name) {
                    out.push((Match::Name, e));
                }
            }
        }
    }
}

/// Segments average between 128 and 512 entries: a change rewrites little, and a small vault
/// is a handful of files. Counts are powers of two and only grow.
const TARGET_PER_SEGMENT: u64 = 256;

pub(super) fn wanted_segments(entries: u64, current: u16) -> u16 {
    if entries <= u64::from(current) * 2 * TARGET_PER_SEGMENT || current >= format::MAX_SEGMENTS {
        return current;
    }
    entries
        .div_ceil(TARGET_PER_SEGMENT)
        .next_power_of_two()
        .min(u64::from(format::MAX_SEGMENTS)) as u16
}

/// Changes to apply in one commit: copies of the segments touched, and header/body edits.
pub(super) struct Draft<'a> {
    pub(super) base: &'a Loaded,
    pub(super) segments: BTreeMap<u16, BTreeMap<String, Indexed>>,
    pub(super) remembered: Option<BTreeMap<String, String>>,
    /// A new client slot for this public key (a new link).
    pub(super) client: Option<[u8; 32]>,
    /// A new password slot (Some(None): remove it).
    pub(super) password: Option<Option<PasswordPublic>>,
    /// Replace the DEK and re-seal everything with the new one.
    pub(super) rekey: bool,
}

impl<'a> Draft<'a> {
    pub(super) fn new(base: &'a Loaded) -> Self {
        Self {
            base,
            segments: BTreeMap::new(),
            remembered: None,
            client: None,
            password: None,
            rekey: false,
        }
    }
    pub(super) fn segment_of(&self, uid: &str) -> u16 {
        self.base
            .keys
            .segment_of(uid, self.base.header.segment_count)
    }
    pub(super) fn get(&self, uid: &str) -> Option<&Indexed> {
        let i = self.segment_of(uid);
        match self.segments.get(&i) {
            Some(copy) => copy.get(uid),
            None => self.base.segments[i as usize].get(uid),
        }
    }
    pub(super) fn segment_mut(&mut self, i: u16) -> &mut BTreeMap<String, Indexed> {
        let base = self.base;
        self.segments
            .entry(i)
            .or_insert_with(|| base.segments[i as usize].to_map())
    }
    pub(super) fn put(&mut self, e: Entry) {
        let uid = e.uid().to_owned();
        let i = self.segment_of(&uid);
        self.segment_mut(i).insert(uid, Indexed::new(e));
    }
    pub(super) fn remove(&mut self, uid: &str) -> bool {
        if self.get(uid).is_none() {
            return false;
        }
        let i = self.segment_of(uid);
        self.segment_mut(i).remove(uid);
        self.forget_uid(uid);
        true
    }
    pub(super) fn remembered_mut(&mut self) -> &mut BTreeMap<String, String> {
        let base = self.base;
        self.remembered
            .get_or_insert_with(|| base.body.remembered.clone())
    }
    /// Drops remembered choices that point at a credential no longer stored.
    pub(super) fn forget_uid(&mut self, uid: &str) {
        if self.base.body.remembered.values().any(|u| u == uid)
            || self
                .remembered
                .as_ref()
                .is_some_and(|r| r.values().any(|u| u == uid))
        {
            self.remembered_mut().retain(|_, u| u != uid);
        }
    }
    pub(super) fn is_noop(&self) -> bool {
        self.segments.is_empty()
            && self.remembered.is_none()
            && self.client.is_none()
            && self.password.is_none()
            && !self.rekey
    }
}

/// Every entry, redistributed over `count` segments by `keys` (the `dirty` copies replace their
/// originals).
pub(super) fn reshard(
    v: &Loaded,
    mut dirty: BTreeMap<u16, BTreeMap<String, Indexed>>,
    count: u16,
    keys: &DataKeys,
) -> BTreeMap<u16, BTreeMap<String, Indexed>> {
    let mut out: BTreeMap<u16, BTreeMap<String, Indexed>> =
        (0..count).map(|i| (i, BTreeMap::new())).collect();
    for i in 0..v.header.segment_count {
        let entries: Vec<Indexed> = match dirty.remove(&i) {
            Some(copy) => copy.into_values().collect(),
            None => v.segments[i as usize].entries.clone(),
        };
        for e in entries {
            let j = keys.segment_of(e.uid(), count);
            out.entry(j).or_default().insert(e.uid().to_owned(), e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_count_grows_by_powers_of_two_with_hysteresis() {
        assert_eq!(wanted_segments(0, 1), 1);
        assert_eq!(wanted_segments(512, 1), 1);
        assert_eq!(wanted_segments(513, 1), 4);
        assert_eq!(wanted_segments(2048, 4), 4);
        assert_eq!(wanted_segments(2049, 4), 16);
        assert_eq!(wanted_segments(100_000, 1), 512);
        assert_eq!(wanted_segments(100_000, 512), 512);
        assert_eq!(wanted_segments(10, 64), 64, "never shrinks");
        assert_eq!(wanted_segments(u64::MAX / 2, 1), format::MAX_SEGMENTS);
        assert_eq!(
            wanted_segments(u64::MAX / 2, format::MAX_SEGMENTS),
            format::MAX_SEGMENTS
        );
    }
}
