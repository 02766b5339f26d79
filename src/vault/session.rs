//! The vault as a running host sees it: locked or unlocked, the data key in memory with a
//! sliding timeout, the decrypted entries cached and kept fresh against other processes, and
//! every change committed as one atomic step under the vault's file lock.
//!
//! Freshness: before each use the manifest header is read again (one small file); when its
//! commit id changed, only the segments whose ids changed are reloaded. Writes re-read under the
//! exclusive lock before applying the change, so concurrent hosts never lose an update.

use super::clock::{Clock, SystemClock};
use super::crypto::{self, Key32};
use super::error::VaultError;
use super::format::{
    self, Body, DataKeys, Entry, FormatError, Header, PasswordSlot, SegmentRef, SegmentSpec,
    Wrapped,
};
use super::search::{Indexed, Match, Query, text_hash};
use super::store::Store;
use crate::api::params::Page;
use crate::api::services::{ClientKey, Credential};
use crate::config::{Config, Paths};
use serde::Serialize;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest uid accepted from the phone (real ones are 36-character UUIDs).
const MAX_UID_BYTES: usize = 256;

pub struct State {
    store: Store,
    clock: Arc<dyn Clock>,
    ttl_ms: Arc<AtomicU64>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
}

#[derive(Default)]
struct Slot {
    open: Option<Unlocked>,
    closed: bool,
    reaper: bool,
}

struct Unlocked {
    vault: Loaded,
    last_used: Duration,
    /// The lock epoch when we unlocked; a different one on disk means "lock everywhere".
    epoch: [u8; 16],
}

/// A decrypted vault. Dropping it zeroizes the keys and every credential.
struct Loaded {
    header: Header,
    body: Body,
    dek: Key32,
    keys: DataKeys,
    segments: Vec<Segment>,
}

impl Loaded {
    fn entries(&self) -> impl Iterator<Item = &Indexed> {
        self.segments.iter().flat_map(|s| s.entries.iter())
    }
    fn count(&self) -> u64 {
        self.body.segments.iter().map(|s| u64::from(s.count)).sum()
    }
    fn get(&self, uid: &str) -> Option<&Indexed> {
        let i = self.keys.segment_of(uid, self.header.segment_count);
        self.segments[i as usize].get(uid)
    }
}

/// One segment in memory: its entries sorted by uid, and lookup tables so a search visits
/// only the entries that can match. The tables are sorted `(hash, position)` pairs, of the
/// registrable domain and of each word of the name; a hit is confirmed on the entry itself.
#[derive(Default)]
struct Segment {
    entries: Vec<Indexed>,
    by_domain: Vec<(u64, u32)>,
    by_word: Vec<(u64, u32)>,
}

/// Positions whose hash is `h` in a sorted table.
fn lookup(table: &[(u64, u32)], h: u64) -> impl Iterator<Item = usize> + '_ {
    let start = table.partition_point(|&(k, _)| k < h);
    table[start..]
        .iter()
        .take_while(move |&&(k, _)| k == h)
        .map(|&(_, p)| p as usize)
}

impl Segment {
    /// `entries` must be sorted by uid.
    fn build(entries: Vec<Indexed>) -> Self {
        let mut by_domain = Vec::with_capacity(entries.len());
        let mut by_word = Vec::with_capacity(entries.len() * 2);
        for (pos, e) in entries.iter().enumerate() {
            if let Some(s) = &e.site {
                by_domain.push((text_hash(s.domain()), pos as u32));
            }
            by_word.extend(e.words.iter().map(|&w| (w, pos as u32)));
        }
        by_domain.sort_unstable();
        by_word.sort_unstable();
        Self {
            entries,
            by_domain,
            by_word,
        }
    }
    fn from_map(map: BTreeMap<String, Indexed>) -> Self {
        Self::build(map.into_values().collect())
    }
    fn to_map(&self) -> BTreeMap<String, Indexed> {
        self.entries
            .iter()
            .map(|e| (e.uid().to_owned(), e.clone()))
            .collect()
    }
    fn get(&self, uid: &str) -> Option<&Indexed> {
        let i = self.entries.binary_search_by(|e| e.uid().cmp(uid)).ok()?;
        Some(&self.entries[i])
    }
    /// Every entry of this segment that fits `query`, with how well.
    fn matches<'s>(&'s self, query: &Query, out: &mut Vec<(Match, &'s Indexed)>) {
        for p in lookup(&self.by_domain, text_hash(query.site.domain())) {
            let e = &self.entries[p];
            out.extend(query.rank(e).map(|m| (m, e)));
        }
        // Entries of the same domain were found above; here only the name matches count.
        if let Some(label) = query.label() {
            for p in lookup(&self.by_word, label) {
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

fn wanted_segments(entries: u64, current: u16) -> u16 {
    if entries <= u64::from(current) * 2 * TARGET_PER_SEGMENT || current >= format::MAX_SEGMENTS {
        return current;
    }
    entries
        .div_ceil(TARGET_PER_SEGMENT)
        .next_power_of_two()
        .min(u64::from(format::MAX_SEGMENTS)) as u16
}

/// What `vault.status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub exists: bool,
    pub locked: bool,
    pub password_set: bool,
    pub entries: Option<u64>,
    pub ttl_remaining_seconds: Option<u64>,
}

/// A credential without its secrets, for lists and search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub uid: String,
    pub readable_uid: String,
    pub name: String,
    pub user: String,
    pub website: String,
    pub has_otp: bool,
    pub created_at: u64,
    pub updated_at: u64,
}

impl Summary {
    fn of(e: &Entry) -> Self {
        let c = &e.credential;
        Self {
            uid: e.uid().to_owned(),
            readable_uid: c.readable_uid.clone(),
            name: c.name.clone(),
            user: c.user.clone(),
            website: c.website.clone(),
            has_otp: !c.otp.is_empty(),
            created_at: e.created_ms,
            updated_at: e.updated_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    #[serde(flatten)]
    pub summary: Summary,
    #[serde(rename = "match")]
    pub matched: &'static str,
    /// The user chose this credential for this site last time.
    pub remembered: bool,
}

/// One page of a longer list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub offset: usize,
    pub limit: usize,
    pub total: usize,
    pub next_offset: Option<usize>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SaveReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Credentials without a uid or with oversized fields (not stored).
    pub skipped: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Changes to apply in one commit: copies of the segments touched, and header/body edits.
struct Draft<'a> {
    base: &'a Loaded,
    segments: BTreeMap<u16, BTreeMap<String, Indexed>>,
    remembered: Option<BTreeMap<String, String>>,
    client: Option<Wrapped>,
    password: Option<Option<PasswordSlot>>,
}

impl<'a> Draft<'a> {
    fn new(base: &'a Loaded) -> Self {
        Self {
            base,
            segments: BTreeMap::new(),
            remembered: None,
            client: None,
            password: None,
        }
    }
    fn segment_of(&self, uid: &str) -> u16 {
        self.base
            .keys
            .segment_of(uid, self.base.header.segment_count)
    }
    fn get(&self, uid: &str) -> Option<&Indexed> {
        let i = self.segment_of(uid);
        match self.segments.get(&i) {
            Some(copy) => copy.get(uid),
            None => self.base.segments[i as usize].get(uid),
        }
    }
    fn segment_mut(&mut self, i: u16) -> &mut BTreeMap<String, Indexed> {
        let base = self.base;
        self.segments
            .entry(i)
            .or_insert_with(|| base.segments[i as usize].to_map())
    }
    fn put(&mut self, e: Entry) {
        let uid = e.uid().to_owned();
        let i = self.segment_of(&uid);
        self.segment_mut(i).insert(uid, Indexed::new(e));
    }
    fn remove(&mut self, uid: &str) -> bool {
        if self.get(uid).is_none() {
            return false;
        }
        let i = self.segment_of(uid);
        self.segment_mut(i).remove(uid);
        self.forget_uid(uid);
        true
    }
    fn remembered_mut(&mut self) -> &mut BTreeMap<String, String> {
        let base = self.base;
        self.remembered
            .get_or_insert_with(|| base.body.remembered.clone())
    }
    /// Drops remembered choices that point at a credential no longer stored.
    fn forget_uid(&mut self, uid: &str) {
        if self.base.body.remembered.values().any(|u| u == uid)
            || self
                .remembered
                .as_ref()
                .is_some_and(|r| r.values().any(|u| u == uid))
        {
            self.remembered_mut().retain(|_, u| u != uid);
        }
    }
    fn is_noop(&self) -> bool {
        self.segments.is_empty()
            && self.remembered.is_none()
            && self.client.is_none()
            && self.password.is_none()
    }
}

/// Every entry, redistributed over `count` segments (the `dirty` copies replace their originals).
fn reshard(
    v: &Loaded,
    mut dirty: BTreeMap<u16, BTreeMap<String, Indexed>>,
    count: u16,
) -> BTreeMap<u16, BTreeMap<String, Indexed>> {
    let mut out: BTreeMap<u16, BTreeMap<String, Indexed>> =
        (0..count).map(|i| (i, BTreeMap::new())).collect();
    for i in 0..v.header.segment_count {
        let entries: Vec<Indexed> = match dirty.remove(&i) {
            Some(copy) => copy.into_values().collect(),
            None => v.segments[i as usize].entries.clone(),
        };
        for e in entries {
            let j = v.keys.segment_of(e.uid(), count);
            out.entry(j).or_default().insert(e.uid().to_owned(), e);
        }
    }
    out
}

/// Checks a credential from the phone before it is stored.
fn storable(c: &Credential) -> bool {
    let uid_ok = c
        .uid
        .as_deref()
        .is_some_and(|u| !u.is_empty() && u.len() <= MAX_UID_BYTES);
    let fields = [
        &c.readable_uid,
        &c.name,
        &c.password,
        &c.user,
        &c.website,
        &c.otp,
    ];
    uid_ok && fields.iter().all(|f| f.len() <= format::MAX_FIELD_BYTES)
}

fn by_name(a: &&Indexed, b: &&Indexed) -> CmpOrdering {
    a.name_lc.cmp(&b.name_lc).then_with(|| a.uid().cmp(b.uid()))
}

impl State {
    pub fn new(paths: &Paths, config: &Config) -> Self {
        Self::with_clock(
            &paths.data_dir,
            config.vault.lock_timeout(),
            Arc::new(SystemClock::default()),
        )
    }

    /// A vault under `data_dir` whose timeout reads `clock` (tests pass a [`super::ManualClock`]).
    pub fn with_clock(data_dir: &Path, lock_timeout: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: Store::new(data_dir.join(super::store::DIR_NAME)),
            clock,
            ttl_ms: Arc::new(AtomicU64::new(lock_timeout.as_millis() as u64)),
            shared: Arc::default(),
        }
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    pub fn lock_timeout(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::SeqCst))
    }

    pub fn set_lock_timeout(&self, d: Duration) {
        self.ttl_ms.store(d.as_millis() as u64, Ordering::SeqCst);
        self.shared.wake.notify_all();
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.shared.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fmt(&self, e: FormatError) -> VaultError {
        VaultError::from_format(e, self.store.dir())
    }

    /// Whether a key is held in memory right now (no expiry check): for tests of zeroization.
    pub fn holds_key(&self) -> bool {
        self.slot().open.is_some()
    }

    /// Wakes the timer thread, e.g. after a test moved a manual clock.
    pub fn wake_timer(&self) {
        self.shared.wake.notify_all();
    }

    // ---- the unlocked session ----

    /// The unlocked vault after the expiry, lock-everywhere and freshness checks.
    fn live<'s>(&self, slot: &'s mut Slot, touch: bool) -> Result<&'s mut Unlocked, VaultError> {
        let verdict = match slot.open.as_mut() {
            None => return Err(VaultError::Locked),
            Some(u) => self.check(u),
        };
        if let Err((e, lock_now)) = verdict {
            if lock_now {
                slot.open = None;
            }
            return Err(e);
        }
        let u = slot.open.as_mut().expect("checked above");
        if touch {
            u.last_used = self.clock.now();
        }
        Ok(u)
    }

    /// `Err((error, lock now?))`.
    fn check(&self, u: &mut Unlocked) -> Result<(), (VaultError, bool)> {
        if self.clock.now().saturating_sub(u.last_used) >= self.lock_timeout() {
            return Err((
                VaultError::LockedBecause("because it was not used for the lock timeout"),
                true,
            ));
        }
        if self.store.read_epoch() != u.epoch {
            return Err((
                VaultError::LockedBecause("from another browser or the command line"),
                true,
            ));
        }
        match self.refresh(u, false) {
            Ok(()) => Ok(()),
            Err(e @ (VaultError::Missing | VaultError::LockedBecause(_))) => Err((e, true)),
            Err(e) => Err((e, false)),
        }
    }

    /// Brings the cached vault up to date with the manifest on disk. With `exclusive_held`
    /// the caller holds the write lock; otherwise a shared lock is taken to read segments.
    fn refresh(&self, u: &mut Unlocked, exclusive_held: bool) -> Result<(), VaultError> {
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        if sealed.header == u.vault.header {
            return Ok(());
        }
        if sealed.header.vault_id != u.vault.header.vault_id {
            return Err(VaultError::LockedBecause(
                "because the vault on disk was replaced",
            ));
        }
        if exclusive_held {
            return self.reload(u, &sealed);
        }
        let _guard = self.store.lock_shared()?;
        // Read again under the lock: the segments it names cannot vanish while we read them.
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        if sealed.header.vault_id != u.vault.header.vault_id {
            return Err(VaultError::LockedBecause(
                "because the vault on disk was replaced",
            ));
        }
        self.reload(u, &sealed)
    }

    fn reload(
        &self,
        u: &mut Unlocked,
        sealed: &format::SealedManifest<'_>,
    ) -> Result<(), VaultError> {
        let v = &u.vault;
        let body = sealed.open(&v.keys).map_err(|e| self.fmt(e))?;
        let same_shape = body.segments.len() == v.body.segments.len();
        let mut fresh = Vec::new();
        for (i, r) in body.segments.iter().enumerate() {
            if !same_shape || *r != v.body.segments[i] {
                fresh.push((i, self.load_segment(&sealed.header, &v.keys, i as u16, *r)?));
            }
        }
        let v = &mut u.vault;
        if !same_shape {
            v.segments = body.segments.iter().map(|_| Segment::default()).collect();
        }
        for (i, seg) in fresh {
            v.segments[i] = seg;
        }
        v.header = sealed.header.clone();
        v.body = body;
        Ok(())
    }

    fn load_segment(
        &self,
        header: &Header,
        keys: &DataKeys,
        index: u16,
        r: SegmentRef,
    ) -> Result<Segment, VaultError> {
        let Some(id) = r.id else {
            return Ok(Segment::default());
        };
        let mut bytes = self.store.read_segment(&id)?;
        let spec = SegmentSpec {
            vault_id: &header.vault_id,
            index,
            id,
            count: r.count,
        };
        let entries = format::open_segment(&mut bytes, spec, keys).map_err(|e| self.fmt(e))?;
        for (i, e) in entries.iter().enumerate() {
            if keys.segment_of(e.uid(), header.segment_count) != index {
                return Err(self.fmt(FormatError::Damaged(
                    "an entry is stored in the wrong segment",
                )));
            }
            if i > 0 && entries[i - 1].uid() >= e.uid() {
                return Err(self.fmt(FormatError::Damaged(
                    "a segment's entries are out of order or repeated",
                )));
            }
        }
        Ok(Segment::build(
            entries.into_iter().map(Indexed::new).collect(),
        ))
    }

    /// Loads every segment, on a few threads when there are many: unlocking a large vault is
    /// decryption and parsing, which parallelize.
    fn load_segments(
        &self,
        header: &Header,
        keys: &DataKeys,
        refs: &[SegmentRef],
    ) -> Result<Vec<Segment>, VaultError> {
        let load = |i: usize, r: &SegmentRef| self.load_segment(header, keys, i as u16, *r);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4)
            .min(refs.len() / 8);
        if threads <= 1 {
            return refs.iter().enumerate().map(|(i, r)| load(i, r)).collect();
        }
        let chunk = refs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers = refs
                .chunks(chunk)
                .enumerate()
                .map(|(c, part)| {
                    std::thread::Builder::new().spawn_scoped(scope, move || {
                        let first = c * chunk;
                        part.iter()
                            .enumerate()
                            .map(|(j, r)| load(first + j, r))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| VaultError::Internal(format!("cannot start a reader thread: {e}")))?;
            let mut all = Vec::with_capacity(refs.len());
            for w in workers {
                let part = w
                    .join()
                    .map_err(|_| VaultError::Internal("a vault reader thread panicked".into()))?;
                all.extend(part?);
            }
            Ok(all)
        })
    }

    /// Reads and decrypts the whole vault with the DEK `unwrap` recovers from its header.
    fn load(
        &self,
        unwrap: impl FnOnce(&Header) -> Result<Key32, FormatError>,
    ) -> Result<Loaded, VaultError> {
        // Unwrap first, without the lock: a password takes PBKDF2 time and must not hold
        // writers back. The DEK of a vault never changes, so it stays valid.
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let first = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        let dek = unwrap(&first.header).map_err(|e| self.fmt(e))?;
        let vault_id = first.header.vault_id;
        let _guard = self.store.lock_shared()?;
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        if sealed.header.vault_id != vault_id {
            return Err(VaultError::LockedBecause(
                "because the vault was replaced while unlocking; try again",
            ));
        }
        let keys = DataKeys::derive(&dek, &vault_id);
        let body = sealed.open(&keys).map_err(|e| self.fmt(e))?;
        let segments = self.load_segments(&sealed.header, &keys, &body.segments)?;
        Ok(Loaded {
            header: sealed.header.clone(),
            body,
            dek,
            keys,
            segments,
        })
    }

    /// Creates an empty vault sealed for `key`, unless another process just created one.
    fn create(&self, key: &ClientKey) -> Result<Option<Loaded>, VaultError> {
        let _guard = self.store.lock_exclusive()?;
        if self.store.read_manifest()?.is_some() {
            return Ok(None);
        }
        let internal = |e: crypto::CryptoError| VaultError::Internal(e.to_string());
        let dek = crypto::random_key().map_err(internal)?;
        let vault_id = crypto::random::<16>().map_err(internal)?;
        let header = Header {
            vault_id,
            commit_id: crypto::random::<16>().map_err(internal)?,
            segment_count: 1,
            client: format::wrap_client(&vault_id, &dek, key.bytes()).map_err(internal)?,
            password: None,
        };
        let body = Body {
            created_ms: wall_ms(),
            segments: vec![SegmentRef::default()],
            remembered: BTreeMap::new(),
        };
        let keys = DataKeys::derive(&dek, &vault_id);
        let bytes = format::seal_manifest(&header, &body, &keys).map_err(|e| self.fmt(e))?;
        self.store.write_manifest(&bytes)?;
        log::info!("created a new vault in {}", self.store.dir().display());
        Ok(Some(Loaded {
            header,
            body,
            dek,
            keys,
            segments: vec![Segment::default()],
        }))
    }

    fn install(&self, vault: Loaded, epoch: [u8; 16]) {
        let mut slot = self.slot();
        slot.open = Some(Unlocked {
            vault,
            last_used: self.clock.now(),
            epoch,
        });
        if !slot.reaper {
            slot.reaper = self.start_timer();
        }
        self.shared.wake.notify_all();
    }

    /// A thread that locks (and so zeroizes) the vault when the timeout passes unused.
    fn start_timer(&self) -> bool {
        let shared = self.shared.clone();
        let clock = self.clock.clone();
        let ttl = self.ttl_ms.clone();
        let spawned = std::thread::Builder::new()
            .name("vault-timer".into())
            .spawn(move || {
                let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if slot.closed {
                        return;
                    }
                    let wait = slot.open.as_ref().and_then(|u| {
                        let deadline =
                            u.last_used + Duration::from_millis(ttl.load(Ordering::SeqCst));
                        deadline.checked_sub(clock.now()).filter(|d| !d.is_zero())
                    });
                    if slot.open.is_some() && wait.is_none() {
                        slot.open = None;
                        log::info!("vault locked after the lock timeout");
                    }
                    slot = match wait {
                        None => shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner()),
                        Some(d) => {
                            let r = shared.wake.wait_timeout(slot, d);
                            r.unwrap_or_else(|e| e.into_inner()).0
                        }
                    };
                }
            });
        match spawned {
            Ok(_) => true,
            Err(e) => {
                log::warn!("cannot start the vault timer ({e}); the timeout applies on next use");
                false
            }
        }
    }

    /// Applies `change` to the vault as it is on disk now, under the exclusive lock, and
    /// commits it: new segment files first, then the manifest that names them (atomic rename).
    /// A crash at any point leaves the old or the new vault; the memory copy changes only
    /// after the commit.
    fn commit<T>(
        &self,
        u: &mut Unlocked,
        change: impl FnOnce(&mut Draft<'_>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let _guard = self.store.lock_exclusive()?;
        self.refresh(u, true)?;
        let v = &u.vault;
        let mut draft = Draft::new(v);
        let out = change(&mut draft)?;
        if draft.is_noop() {
            return Ok(out);
        }
        let Draft {
            mut segments,
            remembered,
            client,
            password,
            ..
        } = draft;
        let internal = |e: crypto::CryptoError| VaultError::Internal(e.to_string());
        let mut header = v.header.clone();
        let mut body = v.body.clone();
        let total: u64 = (0..v.header.segment_count)
            .map(|i| match segments.get(&i) {
                Some(copy) => copy.len() as u64,
                None => u64::from(v.body.segments[i as usize].count),
            })
            .sum();
        let count = wanted_segments(total, v.header.segment_count);
        if count != v.header.segment_count {
            segments = reshard(v, segments, count);
            header.segment_count = count;
            body.segments = vec![SegmentRef::default(); count as usize];
        }
        header.commit_id = crypto::random::<16>().map_err(internal)?;
        if let Some(c) = client {
            header.client = c;
        }
        if let Some(p) = password {
            header.password = p;
        }
        if let Some(r) = remembered {
            body.remembered = r;
        }
        let mut written = Vec::new();
        let result = (|| {
            for (&i, seg) in &segments {
                body.segments[i as usize] = if seg.is_empty() {
                    SegmentRef::default()
                } else {
                    let id = crypto::random::<16>().map_err(internal)?;
                    let spec = SegmentSpec {
                        vault_id: &header.vault_id,
                        index: i,
                        id,
                        count: seg.len() as u32,
                    };
                    let bytes = format::seal_segment(spec, seg.values().map(|x| &x.entry), &v.keys)
                        .map_err(|e| self.fmt(e))?;
                    self.store.write_segment(&id, &bytes)?;
                    written.push(id);
                    SegmentRef {
                        id: Some(id),
                        count: spec.count,
                    }
                };
            }
            let bytes = format::seal_manifest(&header, &body, &v.keys).map_err(|e| self.fmt(e))?;
            self.store.write_manifest(&bytes)
        })();
        if let Err(e) = result {
            // The rename may have happened before the failure (e.g. the directory fsync):
            // then the new manifest is live and its segments must stay.
            let landed = self
                .store
                .read_manifest()
                .ok()
                .flatten()
                .and_then(|b| format::parse_manifest(&b).ok().map(|m| m.header.commit_id))
                == Some(header.commit_id);
            if !landed {
                for id in &written {
                    self.store.remove_segment(id);
                }
                return Err(e);
            }
            log::warn!("vault commit landed but may not be durable yet: {e}");
        }
        let v = &mut u.vault;
        if v.segments.len() != body.segments.len() {
            v.segments = body.segments.iter().map(|_| Segment::default()).collect();
        }
        v.header = header;
        v.body = body;
        for (i, seg) in segments {
            v.segments[i as usize] = Segment::from_map(seg);
        }
        let keep: HashSet<[u8; 16]> = v.body.segments.iter().filter_map(|s| s.id).collect();
        self.store.collect_garbage(&keep);
        Ok(out)
    }

    /// Runs `f` on the unlocked vault, refreshing the timeout.
    fn with<T>(&self, f: impl FnOnce(&Loaded) -> T) -> Result<T, VaultError> {
        let mut slot = self.slot();
        let u = self.live(&mut slot, true)?;
        Ok(f(&u.vault))
    }

    /// Commits a change to the unlocked vault, refreshing the timeout.
    fn change<T>(
        &self,
        f: impl FnOnce(&mut Draft<'_>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let mut slot = self.slot();
        let u = self.live(&mut slot, true)?;
        self.commit(u, f)
    }

    // ---- operations ----

    /// Counts as use: restarts the timeout.
    pub fn touch(&self) -> Result<(), VaultError> {
        self.with(|_| ())
    }

    /// The vault's state; does not count as use (the timeout keeps running).
    pub fn status(&self) -> Result<Status, VaultError> {
        {
            let mut slot = self.slot();
            match self.live(&mut slot, false) {
                Ok(u) => {
                    let left = (u.last_used + self.lock_timeout()).saturating_sub(self.clock.now());
                    return Ok(Status {
                        exists: true,
                        locked: false,
                        password_set: u.vault.header.password.is_some(),
                        entries: Some(u.vault.count()),
                        ttl_remaining_seconds: Some(left.as_secs()),
                    });
                }
                Err(VaultError::Locked | VaultError::LockedBecause(_) | VaultError::Missing) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(bytes) = self.store.read_manifest()? else {
            return Ok(Status {
                exists: false,
                locked: true,
                password_set: false,
                entries: None,
                ttl_remaining_seconds: None,
            });
        };
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        Ok(Status {
            exists: true,
            locked: true,
            password_set: sealed.header.password.is_some(),
            entries: None,
            ttl_remaining_seconds: None,
        })
    }

    /// Unlocks with the ANOTHERpass clientKey. With `create`, a missing vault is created.
    /// When the vault is already open and `key` is a new one (the phone was linked again),
    /// the vault is re-sealed for the new key.
    pub fn unlock_with_key(&self, key: &ClientKey, create: bool) -> Result<(), VaultError> {
        {
            let mut slot = self.slot();
            match self.live(&mut slot, true) {
                Ok(u) => {
                    return match format::unwrap_client(&u.vault.header, key.bytes()) {
                        Ok(_) => Ok(()),
                        Err(FormatError::WrongKey) => {
                            self.commit(u, |d| {
                                let v = d.base;
                                let w =
                                    format::wrap_client(&v.header.vault_id, &v.dek, key.bytes())
                                        .map_err(|e| VaultError::Internal(e.to_string()))?;
                                d.client = Some(w);
                                Ok(())
                            })?;
                            log::info!("vault re-sealed for a new ANOTHERpass link key");
                            Ok(())
                        }
                        Err(e) => Err(self.fmt(e)),
                    };
                }
                Err(VaultError::Locked | VaultError::LockedBecause(_) | VaultError::Missing) => {}
                Err(e) => return Err(e),
            }
        }
        let epoch = self.store.read_epoch();
        let vault = match self.load(|h| format::unwrap_client(h, key.bytes())) {
            Err(VaultError::Missing) if create => match self.create(key)? {
                Some(v) => v,
                None => self.load(|h| format::unwrap_client(h, key.bytes()))?,
            },
            other => other?,
        };
        self.install(vault, epoch);
        Ok(())
    }

    /// Unlocks with the local password (no phone needed). A no-op when already unlocked.
    pub fn unlock_with_password(&self, password: &str) -> Result<(), VaultError> {
        {
            let mut slot = self.slot();
            if self.live(&mut slot, true).is_ok() {
                return Ok(());
            }
        }
        let epoch = self.store.read_epoch();
        let vault = self.load(|h| format::unwrap_password(h, password))?;
        self.install(vault, epoch);
        Ok(())
    }

    /// Locks in this process: the keys and every decrypted credential are zeroized.
    pub fn lock(&self) {
        self.slot().open = None;
    }

    /// Locks here and tells every other process with this vault open to lock on its next use.
    pub fn lock_everywhere(&self) -> Result<(), VaultError> {
        self.lock();
        let epoch = crypto::random::<16>().map_err(|e| VaultError::Internal(e.to_string()))?;
        self.store.bump_epoch(epoch)
    }

    /// Stores credentials from the phone (insert or update by uid).
    pub fn save(&self, credentials: &[Credential]) -> Result<SaveReport, VaultError> {
        let now = wall_ms();
        self.change(|d| {
            let mut r = SaveReport::default();
            for c in credentials {
                if !storable(c) {
                    r.skipped += 1;
                    continue;
                }
                let created_ms = match d.get(c.uid.as_deref().unwrap_or_default()) {
                    Some(old) if old.entry.credential == *c => {
                        r.unchanged += 1;
                        continue;
                    }
                    Some(old) => {
                        r.updated += 1;
                        old.entry.created_ms
                    }
                    None => {
                        r.added += 1;
                        now
                    }
                };
                d.put(Entry {
                    credential: c.clone(),
                    created_ms,
                    updated_ms: now,
                });
            }
            Ok(r)
        })
    }

    pub fn delete(&self, uid: &str) -> Result<(), VaultError> {
        self.change(|d| match d.remove(uid) {
            true => Ok(()),
            false => Err(VaultError::NotFound(uid.to_owned())),
        })
    }

    /// The full credential, password included.
    pub fn get(&self, uid: &str) -> Result<Entry, VaultError> {
        self.with(|v| v.get(uid).map(|x| x.entry.clone()))?
            .ok_or_else(|| VaultError::NotFound(uid.to_owned()))
    }

    /// Every stored uid (for a sync with the phone).
    pub fn uids(&self) -> Result<Vec<String>, VaultError> {
        self.with(|v| v.entries().map(|x| x.uid().to_owned()).collect())
    }

    /// All entries by name, one page at a time.
    pub fn list(&self, page: Page) -> Result<Listing<Summary>, VaultError> {
        self.with(|v| {
            let mut all: Vec<&Indexed> = v.entries().collect();
            let total = all.len();
            let end = page.offset.saturating_add(page.limit).min(total);
            // Only the first `end` need sorting: select them in linear time first.
            if end < total {
                all.select_nth_unstable_by(end, by_name);
                all.truncate(end);
            }
            all.sort_unstable_by(by_name);
            let items = all[page.offset.min(end)..end]
                .iter()
                .map(|x| Summary::of(&x.entry))
                .collect();
            Listing {
                items,
                offset: page.offset,
                limit: page.limit,
                total,
                next_offset: (end < total).then_some(end),
            }
        })
    }

    /// Entries that fit the page `query` describes, best match first.
    pub fn search(&self, query: &Query, page: Page) -> Result<Listing<Hit>, VaultError> {
        self.with(|v| {
            let chosen = v.body.remembered.get(query.site.domain());
            let mut found = Vec::new();
            for seg in &v.segments {
                seg.matches(query, &mut found);
            }
            let mut hits: Vec<(Match, bool, &Indexed)> = found
                .into_iter()
                .map(|(m, x)| (m, chosen.is_some_and(|c| c == x.uid()), x))
                .collect();
            hits.sort_unstable_by(|a, b| {
                (a.0, !a.1)
                    .cmp(&(b.0, !b.1))
                    .then_with(|| by_name(&a.2, &b.2))
            });
            let total = hits.len();
            let start = page.offset.min(total);
            let end = page.offset.saturating_add(page.limit).min(total);
            Listing {
                items: hits[start..end]
                    .iter()
                    .map(|(m, r, x)| Hit {
                        summary: Summary::of(&x.entry),
                        matched: m.as_str(),
                        remembered: *r,
                    })
                    .collect(),
                offset: page.offset,
                limit: page.limit,
                total,
                next_offset: (end < total).then_some(end),
            }
        })
    }

    /// Whether `key` is the one the vault is sealed for (reads the header; no unlock needed).
    pub fn key_matches(&self, key: &ClientKey) -> Result<bool, VaultError> {
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        match format::unwrap_client(&sealed.header, key.bytes()) {
            Ok(_) => Ok(true),
            Err(FormatError::WrongKey) => Ok(false),
            Err(e) => Err(self.fmt(e)),
        }
    }

    /// Applies what the phone returned for `asked`: changed entries are updated and, with
    /// `remove_missing`, entries the phone no longer returns are removed. Entries added or
    /// deleted meanwhile are left as they are.
    pub fn apply_sync(
        &self,
        asked: &[String],
        returned: &[Credential],
        remove_missing: bool,
    ) -> Result<SyncReport, VaultError> {
        let now = wall_ms();
        let fresh: HashMap<&str, &Credential> = returned
            .iter()
            .filter(|c| storable(c))
            .filter_map(|c| Some((c.uid.as_deref()?, c)))
            .collect();
        self.change(|d| {
            let mut r = SyncReport::default();
            for uid in asked {
                let Some(old) = d.get(uid) else { continue };
                match fresh.get(uid.as_str()) {
                    Some(c) if old.entry.credential == **c => r.unchanged += 1,
                    Some(c) => {
                        let created_ms = old.entry.created_ms;
                        d.put(Entry {
                            credential: (*c).clone(),
                            created_ms,
                            updated_ms: now,
                        });
                        r.updated += 1;
                    }
                    None if remove_missing => {
                        d.remove(uid);
                        r.removed += 1;
                    }
                    None => r.unchanged += 1,
                }
            }
            Ok(r)
        })
    }

    /// Remembers the user's choice for a site (keyed by registrable domain).
    pub fn remember(&self, site: &str, uid: &str) -> Result<(), VaultError> {
        self.change(|d| {
            if d.base.body.remembered.get(site).map(String::as_str) != Some(uid) {
                d.remembered_mut().insert(site.to_owned(), uid.to_owned());
            }
            Ok(())
        })
    }

    pub fn remembered(&self, site: &str) -> Result<Option<String>, VaultError> {
        self.with(|v| v.body.remembered.get(site).cloned())
    }

    /// Seals the data key under a local password too, so the vault opens without the phone.
    pub fn set_password(&self, password: &str, iterations: u32) -> Result<(), VaultError> {
        let (vault_id, dek) = self.with(|v| (v.header.vault_id, v.dek.clone()))?;
        // PBKDF2 runs outside the lock: other requests need not wait for it.
        let slot = format::wrap_password(&vault_id, &dek, password, iterations)
            .map_err(|e| self.fmt(e))?;
        self.change(|d| {
            if d.base.header.vault_id != vault_id {
                return Err(VaultError::LockedBecause(
                    "because the vault on disk was replaced",
                ));
            }
            d.password = Some(Some(slot));
            Ok(())
        })
    }

    pub fn clear_password(&self) -> Result<(), VaultError> {
        self.change(|d| {
            if d.base.header.password.is_some() {
                d.password = Some(None);
            }
            Ok(())
        })
    }

    /// Locks and moves the vault directory aside (never deletes it); returns where it went.
    pub fn reset(&self) -> Result<Option<std::path::PathBuf>, VaultError> {
        self.lock();
        if !self.store.dir().exists() {
            return Ok(None);
        }
        let _guard = self.store.lock_exclusive()?;
        let secs = wall_ms() / 1000;
        self.store.retire(secs).map(Some)
    }
}

impl Drop for State {
    fn drop(&mut self) {
        let mut slot = self.slot();
        slot.closed = true;
        slot.open = None;
        drop(slot);
        self.shared.wake.notify_all();
    }
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
