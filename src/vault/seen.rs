//! The highest commit counter this computer has seen per vault, kept OUTSIDE the vault
//! directory (`<config dir>/vault-seen/<vault id>`, 0600 in a 0700 directory). A vault whose
//! counter is lower was replaced by an older copy of itself (a restore from a backup, or a
//! rollback that would bring back a removed password); it is refused until the person accepts
//! the restore, which forgets the mark.
//!
//! Marks only ever grow. Writers hold the vault's exclusive lock and readers its shared lock
//! when they record, so a mark never passes a counter that is not on disk.

use super::error::VaultError;
use super::store::hex;
use crate::fsutil;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const DIR_NAME: &str = "vault-seen";

/// Threads of one process share the temp file name of `write_atomic`.
static WRITING: Mutex<()> = Mutex::new(());

pub struct Seen {
    dir: PathBuf,
}

impl Seen {
    pub fn new(config_dir: &Path) -> Self {
        Self {
            dir: config_dir.join(DIR_NAME),
        }
    }

    fn path(&self, vault_id: &[u8; 16]) -> PathBuf {
        self.dir.join(hex(vault_id))
    }

    fn io_err(path: &Path) -> impl Fn(io::Error) -> VaultError + '_ {
        move |source| VaultError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The highest counter recorded for this vault (0 when none).
    pub fn get(&self, vault_id: &[u8; 16]) -> Result<u64, VaultError> {
        let p = self.path(vault_id);
        match fs::read(&p) {
            Ok(b) => match <[u8; 8]>::try_from(b.as_slice()) {
                Ok(a) => Ok(u64::from_le_bytes(a)),
                Err(_) => {
                    // Damaged: start again from the vault's current state, and say so.
                    log::warn!(
                        "{} is damaged; the vault's rollback check starts again from its current state",
                        p.display()
                    );
                    Ok(0)
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Self::io_err(&p)(e)),
        }
    }

    /// Raises the mark to `counter` (never lowers it).
    pub fn record(&self, vault_id: &[u8; 16], counter: u64) -> Result<(), VaultError> {
        let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        if self.get(vault_id)? >= counter {
            return Ok(());
        }
        fsutil::ensure_private_dir(&self.dir).map_err(Self::io_err(&self.dir))?;
        let p = self.path(vault_id);
        fsutil::write_atomic(&p, &counter.to_le_bytes()).map_err(Self::io_err(&p))
    }

    /// Forgets the mark: the vault as it is on disk now is accepted. Whether there was one.
    pub fn forget(&self, vault_id: &[u8; 16]) -> Result<bool, VaultError> {
        let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let p = self.path(vault_id);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Self::io_err(&p)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_grow_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let s = Seen::new(dir.path());
        let id = [3u8; 16];
        assert_eq!(s.get(&id).unwrap(), 0);
        s.record(&id, 5).unwrap();
        s.record(&id, 4).unwrap();
        assert_eq!(s.get(&id).unwrap(), 5);
        assert_eq!(s.get(&[4u8; 16]).unwrap(), 0, "per vault");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&s.dir), 0o700);
            assert_eq!(mode(&s.path(&id)), 0o600);
        }
        assert!(s.forget(&id).unwrap());
        assert!(!s.forget(&id).unwrap());
        assert_eq!(s.get(&id).unwrap(), 0);
    }
}
