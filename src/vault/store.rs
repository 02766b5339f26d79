//! The vault directory on disk: where each file lives, bounded reads, the advisory lock,
//! durable writes, and clean-up of files that no manifest refers to.
//!
//! Files: `manifest.pbv` (replaced atomically), `seg-<id>.pbv` (written once under a fresh id,
//! never modified), `manifest.pbv.lock` (the advisory lock), `lock-epoch` (bumped by
//! "lock everywhere").

use super::error::VaultError;
use crate::fsutil;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const DIR_NAME: &str = "vault";
pub const MANIFEST: &str = "manifest.pbv";
const EPOCH: &str = "lock-epoch";
const SEGMENT_PREFIX: &str = "seg-";
const SEGMENT_SUFFIX: &str = ".pbv";
/// Upper bounds on what we read, far above what a million credentials need.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;
const MAX_SEGMENT_BYTES: u64 = 256 << 20;

pub struct Store {
    dir: PathBuf,
}

pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Store {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST)
    }

    fn segment_path(&self, id: &[u8; 16]) -> PathBuf {
        self.dir
            .join(format!("{SEGMENT_PREFIX}{}{SEGMENT_SUFFIX}", hex(id)))
    }

    fn io_err(path: &Path) -> impl Fn(io::Error) -> VaultError + '_ {
        move |source| VaultError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn too_large(&self) -> VaultError {
        VaultError::Corrupt {
            dir: self.dir.clone(),
            what: "a file is larger than any vault writes".into(),
        }
    }

    /// Reads a whole file after checking its size; `None` if it does not exist.
    fn read_bounded(
        &self,
        path: &Path,
        max: u64,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        let io = Self::io_err(path);
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let len = file.metadata().map_err(&io)?.len();
        if len > max {
            return Err(self.too_large());
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(len as usize));
        file.take(max + 1).read_to_end(&mut buf).map_err(&io)?;
        if buf.len() as u64 > max {
            return Err(self.too_large());
        }
        Ok(Some(buf))
    }

    /// The manifest bytes, or `None` when there is no vault.
    pub fn read_manifest(&self) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        self.read_bounded(&self.manifest_path(), MAX_MANIFEST_BYTES)
    }

    /// A segment file the manifest refers to, as its first `head_len` bytes (fewer if the
    /// file is shorter) and the rest. The rest is decrypted in place, hence zeroizing, and
    /// read into its own buffer so the plaintext can stay where it is.
    pub fn read_segment(
        &self,
        id: &[u8; 16],
        head_len: usize,
    ) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), VaultError> {
        let path = self.segment_path(id);
        let io = Self::io_err(&path);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VaultError::Corrupt {
                    dir: self.dir.clone(),
                    what: format!("segment file {} is missing", hex(id)),
                });
            }
            Err(e) => return Err(io(e)),
        };
        let len = file.metadata().map_err(&io)?.len();
        if len > MAX_SEGMENT_BYTES {
            return Err(self.too_large());
        }
        let mut head = Vec::with_capacity(head_len);
        (&mut file)
            .take(head_len as u64)
            .read_to_end(&mut head)
            .map_err(&io)?;
        let rest_max = MAX_SEGMENT_BYTES - head.len() as u64;
        let mut rest = Zeroizing::new(Vec::with_capacity(
            (len as usize).saturating_sub(head.len()),
        ));
        file.take(rest_max + 1)
            .read_to_end(&mut rest)
            .map_err(&io)?;
        if rest.len() as u64 > rest_max {
            return Err(self.too_large());
        }
        Ok((head, rest))
    }

    /// Held while reading segments, so no writer removes one under us.
    pub fn lock_shared(&self) -> Result<fsutil::LockGuard, VaultError> {
        let p = self.manifest_path();
        fsutil::lock_shared(&p).map_err(Self::io_err(&p))
    }

    /// Held for a whole read-modify-write, across processes.
    pub fn lock_exclusive(&self) -> Result<fsutil::LockGuard, VaultError> {
        fsutil::ensure_private_dir(&self.dir).map_err(Self::io_err(&self.dir))?;
        let p = self.manifest_path();
        fsutil::lock_exclusive(&p).map_err(Self::io_err(&p))
    }

    /// Writes a new segment under a fresh name and flushes it. It becomes part of the vault
    /// only when a manifest naming it is renamed into place (whose directory fsync also makes
    /// this file's name durable).
    pub fn write_segment(&self, id: &[u8; 16], bytes: &[u8]) -> Result<(), VaultError> {
        let p = self.segment_path(id);
        let io = Self::io_err(&p);
        let mut f = fsutil::create_new_private(&p).map_err(&io)?;
        let res = f.write_all(bytes).and_then(|()| f.sync_all());
        if let Err(e) = res {
            drop(f);
            let _ = fs::remove_file(&p);
            return Err(io(e));
        }
        Ok(())
    }

    pub fn remove_segment(&self, id: &[u8; 16]) {
        let _ = fs::remove_file(self.segment_path(id));
    }

    /// Replaces the manifest atomically (temp file, fsync, rename, fsync of the directory).
    pub fn write_manifest(&self, bytes: &[u8]) -> Result<(), VaultError> {
        let p = self.manifest_path();
        fsutil::write_atomic(&p, bytes).map_err(Self::io_err(&p))
    }

    /// Removes segment files not in `keep` and temp files of interrupted manifest writes.
    /// Only called under the exclusive lock, so no writer is using them. Best effort.
    pub fn collect_garbage(&self, keep: &HashSet<[u8; 16]>) {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return;
        };
        let tmp_prefix = format!(".{MANIFEST}.tmp-");
        for e in dir.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let stale = match name
                .strip_prefix(SEGMENT_PREFIX)
                .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            {
                Some(id) => parse_hex16(id).is_some_and(|id| !keep.contains(&id)),
                None => name.starts_with(&tmp_prefix),
            };
            if stale && let Err(err) = fs::remove_file(e.path()) {
                log::warn!("could not remove stale vault file {name}: {err}");
            }
        }
    }

    /// The current lock epoch (zeros when never bumped).
    pub fn read_epoch(&self) -> [u8; 16] {
        match fs::read(self.dir.join(EPOCH)) {
            Ok(b) => b.try_into().unwrap_or([0xff; 16]),
            Err(_) => [0; 16],
        }
    }

    /// Tells every process that has this vault open to lock it.
    pub fn bump_epoch(&self, epoch: [u8; 16]) -> Result<(), VaultError> {
        if !self.dir.is_dir() {
            return Ok(());
        }
        let p = self.dir.join(EPOCH);
        fsutil::write_atomic(&p, &epoch).map_err(Self::io_err(&p))
    }

    /// Moves the whole vault directory aside (never deletes it) and returns where it went.
    pub fn retire(&self, unix_secs: u64) -> Result<PathBuf, VaultError> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        let mut to = parent.join(format!("{DIR_NAME}.retired-{unix_secs}"));
        let mut n = 1;
        while to.exists() {
            to = parent.join(format!("{DIR_NAME}.retired-{unix_secs}-{n}"));
            n += 1;
        }
        fs::rename(&self.dir, &to).map_err(Self::io_err(&self.dir))?;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_collection_keeps_what_the_manifest_names() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path().join("vault"));
        drop(s.lock_exclusive().unwrap());
        s.write_segment(&[1; 16], b"one").unwrap();
        s.write_segment(&[2; 16], b"two").unwrap();
        assert!(
            s.write_segment(&[2; 16], b"again").is_err(),
            "segments are write-once"
        );
        fs::write(s.dir().join(format!(".{MANIFEST}.tmp-123")), b"x").unwrap();
        fs::write(s.dir().join("notes.txt"), b"mine").unwrap();
        s.write_manifest(b"m").unwrap();
        s.collect_garbage(&HashSet::from([[1; 16]]));
        let mut left: Vec<_> = fs::read_dir(s.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "manifest.pbv",
                "manifest.pbv.lock",
                "notes.txt",
                &format!("seg-{}.pbv", hex(&[1; 16]))
            ]
        );
        let (head, rest) = s.read_segment(&[1; 16], 2).unwrap();
        assert_eq!((&head[..], &rest[..]), (&b"on"[..], &b"e"[..]));
        let (head, rest) = s.read_segment(&[1; 16], 60).unwrap();
        assert_eq!((&head[..], &rest[..]), (&b"one"[..], &b""[..]));
        assert!(matches!(
            s.read_segment(&[2; 16], 60),
            Err(VaultError::Corrupt { .. })
        ));
    }

    #[test]
    fn missing_vault_reads_as_none_and_retire_moves_aside() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path().join("vault"));
        assert!(s.read_manifest().unwrap().is_none());
        assert_eq!(s.read_epoch(), [0; 16]);
        s.bump_epoch([5; 16]).unwrap(); // no directory: nothing to lock
        s.write_manifest(b"m").unwrap_err();
        drop(s.lock_exclusive().unwrap());
        s.write_manifest(b"m").unwrap();
        s.bump_epoch([5; 16]).unwrap();
        assert_eq!(s.read_epoch(), [5; 16]);
        let a = s.retire(7).unwrap();
        fs::create_dir(s.dir()).unwrap();
        let b = s.retire(7).unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(a.join(MANIFEST)).unwrap(), b"m");
    }
}
