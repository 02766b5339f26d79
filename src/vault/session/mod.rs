//! The vault as a running host sees it: locked or unlocked, the data key in memory with a
//! sliding timeout, the decrypted entries cached and kept fresh against other processes, and
//! every change committed as one atomic step under the vault's file lock.
//!
//! Freshness: before each use the manifest header is read again (one small file); when its
//! commit id changed, only the segments whose ids changed are reloaded. Writes re-read under the
//! exclusive lock before applying the change, so concurrent hosts never lose an update.

mod memory;
mod ops;
mod shared_key;

pub use ops::{Hit, Listing, SaveReport, Status, Summary, SyncReport};

use super::crypto;
use super::error::VaultError;
use super::format::{self, Body, DataKeys, FormatError, Header, SegmentRef, SegmentSpec};
use super::seen::Seen;
use super::store::Store;
use crate::anotherpass::seam::ClientKey;
use crate::clock::{Clock, SystemClock};
use crate::config::Paths;
use memory::{Draft, Loaded, Opened, Segment, reshard, wanted_segments};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct State {
    store: Store,
    /// The highest commit counter seen per vault, outside the vault directory.
    seen: Seen,
    clock: Arc<dyn Clock>,
    shared: Arc<Shared>,
    /// The passbridge agent, which shares unlocks with this user's other processes.
    agent: Option<Arc<crate::agent::client::Client>>,
}

#[derive(Default)]
struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
    /// The lock timeout in milliseconds: shared with the timer thread, changed by
    /// `vault.settings.set` while the vault may be open.
    lock_timeout_ms: AtomicU64,
}

impl Shared {
    fn lock_timeout(&self) -> Duration {
        Duration::from_millis(self.lock_timeout_ms.load(Ordering::Relaxed))
    }
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

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl State {
    pub fn new(paths: &Paths, settings: &super::Settings) -> Self {
        Self::with_clock(
            paths,
            settings.lock_timeout(),
            Arc::new(SystemClock::default()),
        )
    }

    /// The vault under `paths.data_dir` whose timeout reads `clock` (tests pass a
    /// [`super::ManualClock`]); rollback marks go under `paths.config_dir`.
    pub fn with_clock(paths: &Paths, lock_timeout: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: Store::new(paths.data_dir.join(super::store::DIR_NAME)),
            seen: Seen::new(&paths.config_dir),
            clock,
            shared: Arc::new(Shared {
                lock_timeout_ms: AtomicU64::new(lock_timeout.as_millis() as u64),
                ..Shared::default()
            }),
            agent: None,
        }
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    pub fn lock_timeout(&self) -> Duration {
        self.shared.lock_timeout()
    }

    /// Applies a new lock timeout to the running session: it counts from the last use, so a
    /// shorter one may lock the vault at once (the timer is woken to do it). The agent holds a
    /// shared unlock for the new time too.
    pub fn set_lock_timeout(&self, timeout: Duration) {
        self.shared
            .lock_timeout_ms
            .store(timeout.as_millis() as u64, Ordering::Relaxed);
        let slot = self.slot();
        let live = slot
            .open
            .as_ref()
            .filter(|u| self.clock.now().saturating_sub(u.last_used) < timeout);
        if let Some(u) = live {
            self.offer(&u.vault);
        }
        drop(slot);
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
            None => Err((VaultError::Locked, false)),
            Some(u) => self
                .check(u)
                .and_then(|()| self.still_shared(u, touch).map_err(|e| (e, true))),
        };
        if let Err((e, lock_now)) = verdict {
            if lock_now {
                slot.open = None;
            }
            // Locked here, perhaps unlocked in another process: ask the agent.
            let recalled = match (&slot.open, &e) {
                (None, VaultError::Locked | VaultError::LockedBecause(_)) => self.recall(touch),
                _ => None,
            };
            let Some(u) = recalled else { return Err(e) };
            slot.open = Some(u);
            if !slot.reaper {
                slot.reaper = self.start_timer();
            }
            self.shared.wake.notify_all();
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
            Err(
                e @ (VaultError::Missing
                | VaultError::LockedBecause(_)
                | VaultError::RolledBack { .. }),
            ) => Err((e, true)),
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
        self.same_vault(u, &sealed.header)?;
        if exclusive_held {
            return self.reload(u, &sealed);
        }
        let _guard = self.store.lock_shared()?;
        // Read again under the lock: the segments it names cannot vanish while we read them.
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        self.same_vault(u, &sealed.header)?;
        self.reload(u, &sealed)
    }

    /// Whether our key still opens the vault on disk: neither replaced nor re-keyed.
    fn same_vault(&self, u: &Unlocked, header: &Header) -> Result<(), VaultError> {
        if header.vault_id != u.vault.header.vault_id {
            return Err(VaultError::LockedBecause(
                "because the vault on disk was replaced",
            ));
        }
        if header.key_id != u.vault.header.key_id {
            return Err(VaultError::LockedBecause(
                "because its key was changed (a new password, a new phone link or vault.rekey)",
            ));
        }
        Ok(())
    }

    /// Refuses a vault older than one seen before (here or by any process of this user), and
    /// records the counter otherwise. Call it holding the vault's lock (shared or exclusive).
    fn check_counter(&self, header: &Header, body: &Body, ours: u64) -> Result<(), VaultError> {
        let seen = self.seen.get(&header.vault_id)?.max(ours);
        if body.counter < seen {
            log::warn!(
                "the vault on disk is older (commit {}) than one seen before (commit {seen})",
                body.counter
            );
            return Err(VaultError::RolledBack {
                dir: self.store.dir().to_path_buf(),
                found: body.counter,
                seen,
            });
        }
        self.seen.record(&header.vault_id, body.counter)
    }

    fn reload(
        &self,
        u: &mut Unlocked,
        sealed: &format::SealedManifest<'_>,
    ) -> Result<(), VaultError> {
        let v = &u.vault;
        let body = sealed.open(&v.keys).map_err(|e| self.fmt(e))?;
        self.check_counter(&sealed.header, &body, v.body.counter)?;
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
        // Another process may have changed a slot: keep only the public keys that still fit.
        if sealed.header.client != v.header.client {
            v.client_pub = sealed.header.client.public();
        }
        v.password_pub = memory::password_public(&sealed.header, v.password_pub.take());
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
        let (head, body) = self.store.read_segment(&id, format::SEGMENT_HEADER_LEN)?;
        let spec = SegmentSpec {
            vault_id: &header.vault_id,
            index,
            id,
            count: r.count,
        };
        // Decrypted in place; a version 3 segment's text then stays in that buffer, and what
        // search needs was worked out when it was written. No per-entry HMAC to re-check each
        // entry's segment: the segment's AEAD under the DEK, bound to its index by its AAD and
        // to its id and count by the manifest, already proves our own writer placed them.
        let (packed, current) =
            format::open_packed(&head, body, spec, keys).map_err(|e| self.fmt(e))?;
        Ok(Segment::new(packed, current))
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
        unwrap: impl FnOnce(&Header) -> Result<Opened, FormatError>,
    ) -> Result<Loaded, VaultError> {
        // Unwrap first, without the lock: a password takes Argon2 or PBKDF2 time and must not
        // hold writers back. The DEK stays valid while the key id does.
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let first = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        let opened = unwrap(&first.header).map_err(|e| self.fmt(e))?;
        let (vault_id, key_id) = (first.header.vault_id, first.header.key_id);
        let _guard = self.store.lock_shared()?;
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        if (sealed.header.vault_id, sealed.header.key_id) != (vault_id, key_id) {
            return Err(VaultError::LockedBecause(
                "because the vault or its key was replaced while unlocking; try again",
            ));
        }
        let keys = DataKeys::derive(&opened.dek, &vault_id);
        let body = sealed.open(&keys).map_err(|e| self.fmt(e))?;
        self.check_counter(&sealed.header, &body, 0)?;
        let segments = self.load_segments(&sealed.header, &keys, &body.segments)?;
        let header = sealed.header.clone();
        Ok(Loaded {
            client_pub: memory::client_public(&header.client, opened.client_pub),
            password_pub: memory::password_public(&header, opened.password_pub),
            header,
            body,
            dek: opened.dek,
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
        let dek = crypto::random_key()?;
        let vault_id = crypto::random::<16>()?;
        let client_pub = format::client_public(&vault_id, key.bytes()).map_err(|e| self.fmt(e))?;
        let header = Header {
            version: format::VERSION,
            vault_id,
            commit_id: crypto::random::<16>()?,
            key_id: crypto::random::<16>()?,
            segment_count: 1,
            client: format::seal_client(&vault_id, &dek, &client_pub)?,
            password: None,
        };
        let body = Body {
            created_ms: wall_ms(),
            counter: 1,
            segments: vec![SegmentRef::default()],
            remembered: BTreeMap::new(),
        };
        let keys = DataKeys::derive(&dek, &vault_id);
        let bytes = format::seal_manifest(&header, &body, &keys).map_err(|e| self.fmt(e))?;
        self.store.write_manifest(&bytes)?;
        self.seen.record(&vault_id, body.counter)?;
        log::info!("created a new vault in {}", self.store.dir().display());
        Ok(Some(Loaded {
            header,
            body,
            dek,
            keys,
            segments: vec![Segment::default()],
            client_pub: Some(client_pub),
            password_pub: None,
        }))
    }

    /// Reads the vault with the ANOTHERpass `key`; with `create`, a missing vault is created.
    fn open_with_key(&self, key: &ClientKey, create: bool) -> Result<Loaded, VaultError> {
        let unwrap = |h: &Header| {
            let (dek, public) = format::unwrap_client(h, key.bytes())?;
            Ok(Opened {
                dek,
                client_pub: Some(public),
                password_pub: None,
            })
        };
        match self.load(unwrap) {
            Err(VaultError::Missing) if create => match self.create(key)? {
                Some(v) => Ok(v),
                None => self.load(unwrap),
            },
            other => other,
        }
    }

    /// Commits a change with the ANOTHERpass `key` (creating a missing vault) without
    /// unlocking this process: the keys and decrypted entries are dropped, and so zeroized,
    /// on return.
    fn change_with_key<T>(
        &self,
        key: &ClientKey,
        f: impl FnOnce(&mut Draft<'_>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let epoch = self.store.read_epoch();
        let mut u = Unlocked {
            vault: self.open_with_key(key, true)?,
            last_used: self.clock.now(),
            epoch,
        };
        self.commit(&mut u, f)
    }

    fn install(&self, vault: Loaded, epoch: [u8; 16]) {
        self.offer(&vault);
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
        let spawned = std::thread::Builder::new()
            .name("vault-timer".into())
            .spawn(move || {
                let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if slot.closed {
                        return;
                    }
                    let wait = slot.open.as_ref().and_then(|u| {
                        let deadline = u.last_used + shared.lock_timeout();
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
            rekey,
            ..
        } = draft;
        let mut header = v.header.clone();
        let mut body = v.body.clone();
        let id = header.vault_id;
        // A new DEK makes new subkeys, which also place every uid anew: everything is
        // redistributed and re-sealed, and no old key slot opens what this commit writes.
        let new_key = match rekey {
            true => {
                let dek = crypto::random_key()?;
                let keys = DataKeys::derive(&dek, &id);
                header.key_id = crypto::random::<16>()?;
                Some((dek, keys))
            }
            false => None,
        };
        let (dek, keys) = match &new_key {
            Some((d, k)) => (d, k),
            None => (&v.dek, &v.keys),
        };
        let total: u64 = (0..v.header.segment_count)
            .map(|i| match segments.get(&i) {
                Some(copy) => copy.len() as u64,
                None => u64::from(v.body.segments[i as usize].count),
            })
            .sum();
        let count = wanted_segments(total, v.header.segment_count);
        if count != v.header.segment_count || rekey {
            segments = reshard(v, segments, count, keys);
            header.segment_count = count;
            body.segments = vec![SegmentRef::default(); count as usize];
        }
        header.version = format::VERSION;
        header.commit_id = crypto::random::<16>()?;
        body.counter = v.body.counter.max(self.seen.get(&id)?) + 1;
        // Slots: new ones as asked; the others re-sealed for a new DEK, and version 1 slots
        // moved to public-key sealing as soon as their public key is known.
        let client_pub = client.or(v.client_pub);
        let client_direct = matches!(header.client, format::Seal::Direct(_));
        if rekey || client.is_some() || client_direct {
            match client_pub {
                Some(p) => header.client = format::seal_client(&id, dek, &p)?,
                None if rekey => return Err(VaultError::UpgradeNeeded("the phone")),
                None => {}
            }
        }
        let password_pub = match &password {
            Some(p) => p.clone(),
            None => v.password_pub.clone(),
        };
        match (&password, &header.password) {
            (Some(None), _) => header.password = None,
            (Some(Some(p)), _) => header.password = Some(format::seal_password(&id, dek, p)?),
            (None, Some(slot)) if rekey || matches!(slot.seal, format::Seal::Direct(_)) => {
                match &password_pub {
                    Some(p) => header.password = Some(format::seal_password(&id, dek, p)?),
                    None if rekey => {
                        return Err(VaultError::UpgradeNeeded("its local password"));
                    }
                    None => {}
                }
            }
            (None, _) => {}
        }
        if let Some(r) = remembered {
            body.remembered = r;
        }
        // Segments of an older format or older index rules move to the current ones with the
        // first change: then every later unlock reads them without parsing.
        if header.segment_count == v.header.segment_count {
            for (i, seg) in v.segments.iter().enumerate() {
                if !seg.current && v.body.segments[i].id.is_some() {
                    segments.entry(i as u16).or_insert_with(|| seg.to_map());
                }
            }
        }
        let mut written = Vec::new();
        let mut packed = BTreeMap::new();
        let result = (|| {
            for (&i, seg) in &segments {
                body.segments[i as usize] = if seg.is_empty() {
                    SegmentRef::default()
                } else {
                    let id = crypto::random::<16>()?;
                    let spec = SegmentSpec {
                        vault_id: &header.vault_id,
                        index: i,
                        id,
                        count: seg.len() as u32,
                    };
                    let p = Segment::pack(seg);
                    let bytes = format::seal_packed(spec, &p, keys).map_err(|e| self.fmt(e))?;
                    packed.insert(i, p);
                    self.store.write_segment(&id, &bytes)?;
                    written.push(id);
                    SegmentRef {
                        id: Some(id),
                        count: spec.count,
                    }
                };
            }
            let bytes = format::seal_manifest(&header, &body, keys).map_err(|e| self.fmt(e))?;
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
        if let Err(e) = self.seen.record(&id, body.counter) {
            log::warn!("the vault's rollback mark could not be updated: {e}");
        }
        let v = &mut u.vault;
        if v.segments.len() != body.segments.len() {
            v.segments = body.segments.iter().map(|_| Segment::default()).collect();
        }
        if let Some((d, k)) = new_key {
            v.dek = d;
            v.keys = k;
        }
        v.client_pub = client_pub;
        v.password_pub = match &header.password {
            Some(_) => password_pub,
            None => None,
        };
        v.header = header;
        v.body = body;
        for i in segments.into_keys() {
            v.segments[i as usize] = match packed.remove(&i) {
                Some(p) => Segment::new(p, true),
                None => Segment::default(),
            };
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
        self.commit_shared(u, f)
    }

    /// [`Self::commit`] on this process's unlocked vault: a new data key it made goes to the
    /// agent, replacing the old one there, so other processes do not stay locked out.
    fn commit_shared<T>(
        &self,
        u: &mut Unlocked,
        f: impl FnOnce(&mut Draft<'_>) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let key_id = u.vault.header.key_id;
        let out = self.commit(u, f)?;
        if u.vault.header.key_id != key_id {
            self.offer(&u.vault);
        }
        Ok(out)
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
