//! File operations of the installer: atomic writes with a chosen mode (manifests must be
//! readable by the browser, and by every user in system scope), directory creation that
//! remembers what it created, bounded reads.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Manifests and the system allowlist: not secret, must be readable by browsers of any user.
pub const PUBLIC_FILE_MODE: u32 = 0o644;
/// Directories created in system scope.
pub const PUBLIC_DIR_MODE: u32 = 0o755;
/// Directories created in a user's home.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

pub use crate::fsutil::write_atomic_mode;

/// Creates `dir` and any missing parents, one level at a time, appending each directory it
/// created to `created` (outermost first) so uninstall can remove exactly those.
pub fn create_dirs(dir: &Path, mode: u32, created: &mut Vec<PathBuf>) -> io::Result<()> {
    for d in missing_dirs(dir) {
        match fs::create_dir(&d) {
            Ok(()) => {
                crate::fsutil::set_mode(&d, mode)?;
                created.push(d);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    if fs::metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists but is not a directory",
        ))
    }
}

/// `dir` and those of its ancestors that do not exist yet, outermost first.
pub fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    missing.reverse();
    missing
}

/// Reads a whole file, refusing one larger than `max` before reading it.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes, more than the {max} expected"),
        ));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "grew while being read",
        ));
    }
    Ok(buf)
}

/// `None` when the file does not exist.
pub fn read_optional(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    match read_bounded(path, max) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Removes a file; a file already gone counts as removed.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes the directories in `created` (innermost first) that are empty now and hold none
/// of `keep`; returns the ones that remain (still needed, or not empty because someone else
/// put files there).
pub fn prune_dirs(created: &[String], keep: &[String]) -> Vec<String> {
    let mut remaining = Vec::new();
    for d in created.iter().rev() {
        let needed = keep.iter().any(|k| Path::new(k).starts_with(d));
        let removed = !needed
            && match fs::remove_dir(d) {
                Ok(()) => true,
                Err(e) => e.kind() == io::ErrorKind::NotFound,
            };
        if !removed {
            remaining.push(d.clone());
        }
    }
    remaining.reverse();
    remaining
}

/// Whether the file at `path` can be executed (Unix: any execute bit; elsewhere: it is a file).
pub fn is_executable(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_sets_the_mode_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.json");
        write_atomic_mode(&p, b"one", PUBLIC_FILE_MODE).unwrap();
        write_atomic_mode(&p, b"two", PUBLIC_FILE_MODE).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        assert_eq!(mode(&p), 0o644);
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_replaces_a_symlink_instead_of_following_it() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("elsewhere");
        fs::write(&target, b"keep").unwrap();
        let p = d.path().join("m.json");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        write_atomic_mode(&p, b"new", PUBLIC_FILE_MODE).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
    }

    #[test]
    fn create_dirs_records_only_what_it_created_and_prune_undoes_it() {
        let d = tempfile::tempdir().unwrap();
        let existing = d.path().join("a");
        fs::create_dir(&existing).unwrap();
        let target = existing.join("b/c");
        let mut created = Vec::new();
        create_dirs(&target, PRIVATE_DIR_MODE, &mut created).unwrap();
        assert_eq!(created, vec![existing.join("b"), existing.join("b/c")]);
        #[cfg(unix)]
        assert_eq!(mode(&target), 0o700);
        create_dirs(&target, PRIVATE_DIR_MODE, &mut created).unwrap();
        assert_eq!(created.len(), 2, "nothing new on the second call");

        let created: Vec<String> = created
            .iter()
            .map(|p| p.to_str().unwrap().to_string())
            .collect();
        let file = target.join("f").to_str().unwrap().to_string();
        assert_eq!(prune_dirs(&created, std::slice::from_ref(&file)), created);
        fs::write(target.join("stranger"), b"x").unwrap();
        assert_eq!(prune_dirs(&created, &[]), created, "non-empty dirs stay");
        fs::remove_file(target.join("stranger")).unwrap();
        assert!(prune_dirs(&created, &[]).is_empty());
        assert!(existing.exists() && !existing.join("b").exists());
    }

    #[test]
    fn create_dirs_refuses_a_file_in_the_way() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("f"), b"").unwrap();
        assert!(create_dirs(&d.path().join("f"), PUBLIC_DIR_MODE, &mut Vec::new()).is_err());
    }

    #[test]
    fn bounded_read_refuses_large_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big");
        fs::write(&p, vec![b'x'; 100]).unwrap();
        assert_eq!(read_bounded(&p, 100).unwrap().len(), 100);
        assert_eq!(
            read_bounded(&p, 99).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(read_optional(&d.path().join("none"), 9).unwrap(), None);
    }

    #[test]
    fn sha256_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
