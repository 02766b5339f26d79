//! Registrations in progress, kept in `<data>/clarion-pending.json` (0600) so `finish` works
//! from another process: each `sendNativeMessage` starts a new host. Entries expire after
//! [`PENDING_TTL_SECONDS`]; the private keys in them are cleared from memory when dropped.

use crate::config::Paths;
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::PathBuf;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub const FILE_NAME: &str = "clarion-pending.json";
/// How long a registration may take, from `start` to `finish`.
pub const PENDING_TTL_SECONDS: i64 = 600;
/// At most this many registrations wait at once; the oldest is dropped first.
pub const MAX_PENDING: usize = 8;
const MAX_FILE_BYTES: u64 = 256 * 1024;

#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Pending {
    /// The random token sent as `state` and checked on `finish`.
    pub state: String,
    /// Canonical server URL.
    pub server: String,
    pub callback: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    /// Whether a verified approval was given when this registration started.
    pub approved: bool,
    /// PKCS#8 DER of the RSA key, standard base64.
    pub private_key: String,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("server", &self.server)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is damaged; start the registration again")]
    Damaged(PathBuf),
}

pub struct PendingStore {
    path: PathBuf,
}

impl PendingStore {
    pub fn new(paths: &Paths) -> Self {
        Self {
            path: paths.data_dir.join(FILE_NAME),
        }
    }

    /// Adds `entry`, dropping expired ones and the oldest beyond [`MAX_PENDING`].
    /// A damaged file only held other in-progress registrations: it is replaced.
    pub fn add(&self, entry: Pending, now: i64) -> Result<(), PendingError> {
        self.update(
            |list| {
                list.push(entry);
                list.sort_by_key(|p| p.created_at);
                let excess = list.len().saturating_sub(MAX_PENDING);
                list.drain(..excess);
            },
            now,
            true,
        )
    }

    /// The live entry whose state equals `state` (compared in constant time).
    pub fn find(&self, state: &str, now: i64) -> Result<Option<Pending>, PendingError> {
        let _lock = self.lock(false)?;
        let list = self.load()?;
        let mut found = None;
        // No early exit: every entry is compared, so timing does not tell which matched.
        for p in list.iter() {
            let same = aws_lc_rs::constant_time::verify_slices_are_equal(
                p.state.as_bytes(),
                state.as_bytes(),
            )
            .is_ok();
            if same && p.expires_at > now {
                found = Some(p.clone());
            }
        }
        Ok(found)
    }

    /// Removes the entry for `state` (and every expired one).
    pub fn remove(&self, state: &str, now: i64) -> Result<(), PendingError> {
        self.update(|list| list.retain(|p| p.state != state), now, false)
    }

    fn update(
        &self,
        f: impl FnOnce(&mut Vec<Pending>),
        now: i64,
        replace_damaged: bool,
    ) -> Result<(), PendingError> {
        let _lock = self.lock(true)?;
        let mut list = match self.load() {
            Ok(l) => l,
            Err(PendingError::Damaged(p)) if replace_damaged => {
                log::warn!("{} was damaged; replacing it", p.display());
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        list.retain(|p| p.expires_at > now);
        f(&mut list);
        if list.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.io(e)),
                _ => Ok(()),
            };
        }
        let bytes = Zeroizing::new(serde_json::to_vec(&list).expect("pending list serializes"));
        fsutil::write_atomic(&self.path, &bytes).map_err(|e| self.io(e))
    }

    fn lock(&self, exclusive: bool) -> Result<fsutil::LockGuard, PendingError> {
        if let Some(dir) = self.path.parent() {
            fsutil::ensure_private_dir(dir).map_err(|e| self.io(e))?;
        }
        let lock = if exclusive {
            fsutil::lock_exclusive(&self.path)
        } else {
            fsutil::lock_shared(&self.path)
        };
        lock.map_err(|e| self.io(e))
    }

    fn load(&self) -> Result<Vec<Pending>, PendingError> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(PendingError::Damaged(self.path.clone()));
        }
        serde_json::from_slice(&bytes).map_err(|_| PendingError::Damaged(self.path.clone()))
    }

    fn io(&self, source: std::io::Error) -> PendingError {
        PendingError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: &str, created_at: i64) -> Pending {
        Pending {
            state: state.into(),
            server: "http://c/".into(),
            callback: "js:moz-extension://x".into(),
            created_at,
            expires_at: created_at + PENDING_TTL_SECONDS,
            approved: false,
            private_key: "c2VjcmV0".into(),
        }
    }

    #[test]
    fn add_find_remove_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = PendingStore::new(&Paths::under(dir.path()));
        assert!(store.find("a", 0).unwrap().is_none());
        store.add(entry("a", 100), 100).unwrap();
        store.add(entry("b", 110), 110).unwrap();
        assert_eq!(store.find("a", 120).unwrap().unwrap().created_at, 100);
        assert!(store.find("A", 120).unwrap().is_none());
        assert!(
            store
                .find("a", 100 + PENDING_TTL_SECONDS)
                .unwrap()
                .is_none(),
            "expired"
        );
        store.remove("a", 120).unwrap();
        assert!(store.find("a", 120).unwrap().is_none());
        assert!(store.find("b", 120).unwrap().is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("data").join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.remove("b", 120).unwrap();
        assert!(
            !dir.path().join("data").join(FILE_NAME).exists(),
            "empty store leaves no file"
        );
    }

    #[test]
    fn keeps_only_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = PendingStore::new(&Paths::under(dir.path()));
        for i in 0..(MAX_PENDING as i64 + 2) {
            store
                .add(entry(&format!("s{i}"), 100 + i), 100 + i)
                .unwrap();
        }
        assert!(store.find("s0", 120).unwrap().is_none());
        assert!(store.find("s1", 120).unwrap().is_none());
        assert!(store.find("s2", 120).unwrap().is_some());
    }

    #[test]
    fn damaged_file_is_an_error_for_find_and_replaced_by_add() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        paths.ensure().unwrap();
        std::fs::write(paths.data_dir.join(FILE_NAME), b"{oops").unwrap();
        let store = PendingStore::new(&paths);
        assert!(matches!(store.find("a", 0), Err(PendingError::Damaged(_))));
        store.add(entry("a", 100), 100).unwrap();
        assert!(store.find("a", 100).unwrap().is_some());
        std::fs::write(paths.data_dir.join(FILE_NAME), vec![b' '; 300 * 1024]).unwrap();
        assert!(matches!(store.find("a", 0), Err(PendingError::Damaged(_))));
    }

    #[test]
    fn debug_hides_the_key_and_state() {
        let s = format!("{:?}", entry("the-state", 1));
        assert!(!s.contains("c2VjcmV0") && !s.contains("the-state"), "{s}");
    }
}
