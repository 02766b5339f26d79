//! Files that hold secrets: private directories, atomic replacement, advisory locks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Creates `dir` and makes it private to the user (0700 on Unix). Every missing parent it
/// creates (PASSBRIDGE_HOME, a default parent) is created 0700 too; existing parents are left
/// as they are.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    set_mode(dir, 0o700)
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Creates a new file only the user can read, failing if `path` already exists.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Replaces `path` with `bytes` so a crash leaves either the old or the new content:
/// write a temporary file beside it, fsync, rename over, fsync the directory. Private (0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, 0o600)
}

/// [`write_atomic`] with exactly `mode` (not masked by the umask), e.g. 0644 for browser
/// manifests. The temporary file is created new (never through a planted symlink), and a
/// symlink at `path` is replaced, not followed.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    // A leftover from a crashed run with the same pid would block create_new.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        set_mode(&tmp, mode)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// An exclusive advisory lock on `<path>.lock`, held until dropped. Blocks while another
/// process (a second browser's host, the CLI) holds it.
pub struct LockGuard {
    _file: File,
    pub path: PathBuf,
}

pub fn lock_exclusive(path: &Path) -> io::Result<LockGuard> {
    let guard = open_lock_file(path)?;
    guard._file.lock()?;
    Ok(guard)
}

/// A shared (read) advisory lock on `<path>.lock`.
pub fn lock_shared(path: &Path) -> io::Result<LockGuard> {
    let guard = open_lock_file(path)?;
    guard._file.lock_shared()?;
    Ok(guard)
}

fn open_lock_file(path: &Path) -> io::Result<LockGuard> {
    let lock_path = lock_path_for(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)?;
    set_mode(&lock_path, 0o600)?;
    Ok(LockGuard {
        _file: file,
        path: lock_path,
    })
}

fn lock_path_for(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn every_directory_created_is_private() {
        // Before: only the last directory became 0700; PASSBRIDGE_HOME itself was left 0755.
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("new-home");
        ensure_private_dir(&home.join("a").join("config")).unwrap();
        for d in [home.clone(), home.join("a"), home.join("a").join("config")] {
            let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
        let before = fs::metadata(tmp.path()).unwrap().permissions().mode();
        ensure_private_dir(&home.join("b")).unwrap();
        assert_eq!(
            fs::metadata(tmp.path()).unwrap().permissions().mode(),
            before
        );
    }

    #[test]
    fn atomic_write_replaces_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn private_dir_is_0700() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        ensure_private_dir(&d).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&d).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }

    #[test]
    fn lock_is_exclusive_between_handles() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v");
        let g = lock_exclusive(&p).unwrap();
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&g.path)
            .unwrap();
        assert!(matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock)));
        drop(g);
        assert!(f.try_lock().is_ok());
    }
}
