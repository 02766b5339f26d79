//! Slows down password guessing. Every check of the local vault password (unlock, and the
//! current password that `set_password`/`clear_password` need) runs one at a time in the process
//! and under a file lock across processes, and consecutive wrong passwords make the next try
//! wait: nothing for the first [`FREE_FAILURES`] (typos), then 1 s, 2 s, 4 s… up to
//! [`MAX_DELAY_SECS`]. The count is kept in `<data dir>/unlock-failures.json` (0600) so a new
//! host process does not start afresh; a right password resets it.
//!
//! Pure part: [`Failures`] (the schedule, given the time). I/O: [`Throttle::check`].

use super::error::VaultError;
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const FILE: &str = "unlock-failures.json";
/// Wrong passwords allowed in a row before any delay.
pub const FREE_FAILURES: u32 = 3;
/// The longest wait between tries.
pub const MAX_DELAY_SECS: u64 = 300;
/// Larger files are not ours: treated as damaged (and so as the maximum delay).
const MAX_FILE_BYTES: u64 = 4096;

/// One password check at a time in this process (PBKDF2 in parallel only helps a guesser).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Consecutive wrong passwords and when the last one was given (Unix seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    pub count: u32,
    pub last_unix: u64,
}

impl Failures {
    /// The wait required after `count` consecutive failures.
    pub fn delay_secs(count: u32) -> u64 {
        if count < FREE_FAILURES {
            return 0;
        }
        let doublings = (count - FREE_FAILURES).min(16);
        (1u64 << doublings).min(MAX_DELAY_SECS)
    }

    /// Seconds to wait before the next try at `now`. A clock set back behaves as if the last
    /// failure happened now (never a wait longer than the schedule's).
    pub fn wait_left(&self, now: u64) -> u64 {
        let since = now.saturating_sub(self.last_unix.min(now));
        Self::delay_secs(self.count).saturating_sub(since)
    }

    pub fn failed(&mut self, now: u64) {
        self.count = self.count.saturating_add(1);
        self.last_unix = now;
    }
}

/// The failure counter of one data directory.
pub struct Throttle {
    path: PathBuf,
}

impl Throttle {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored count; a damaged file counts as many failures (fail closed), a missing one
    /// as none.
    pub fn load(&self) -> Failures {
        match std::fs::metadata(&self.path) {
            Err(_) => Failures::default(),
            Ok(m) if m.len() > MAX_FILE_BYTES => Self::damaged(),
            Ok(_) => std::fs::read(&self.path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_else(Self::damaged),
        }
    }

    /// The maximum delay, counted from the next check (see [`Throttle::check`]).
    fn damaged() -> Failures {
        Failures {
            count: FREE_FAILURES + 16,
            last_unix: u64::MAX,
        }
    }

    fn save(&self, f: &Failures) -> Result<(), VaultError> {
        let io = |source| VaultError::Io {
            path: self.path.clone(),
            source,
        };
        if f.count == 0 {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
                _ => Ok(()),
            };
        }
        let bytes = serde_json::to_vec(f).expect("plain struct serializes");
        fsutil::write_atomic(&self.path, &bytes).map_err(io)
    }

    /// Runs the password check `check` unless a wait is due at `now`, one at a time, and
    /// counts its outcome: a wrong password adds a failure, success clears them, any other
    /// error leaves the count alone.
    pub fn check<T>(
        &self,
        now: impl Fn() -> u64,
        check: impl FnOnce() -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = self.path.parent() {
            fsutil::ensure_private_dir(dir).map_err(|source| VaultError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let _across = fsutil::lock_exclusive(&self.path).map_err(|source| VaultError::Io {
            path: self.path.clone(),
            source,
        })?;
        let mut failures = self.load();
        let t = now();
        if failures.last_unix > t {
            // A clock set back, or a damaged file: the delay runs from now, and must be
            // stored so it ends.
            failures.last_unix = t;
            self.save(&failures)?;
        }
        let wait = failures.wait_left(t);
        if wait > 0 {
            return Err(VaultError::TooManyAttempts { wait_seconds: wait });
        }
        match check() {
            Err(VaultError::WrongPassword) => {
                failures.failed(now());
                self.save(&failures)?;
                Err(VaultError::WrongPassword)
            }
            Ok(v) => {
                if failures.count > 0 {
                    self.save(&Failures::default())?;
                }
                Ok(v)
            }
            Err(e) => Err(e),
        }
    }
}

/// Wall-clock Unix seconds (the count outlives the process, so no monotonic clock).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn schedule_grows_and_is_capped() {
        let d: Vec<u64> = (0..14).map(Failures::delay_secs).collect();
        assert_eq!(d, [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(Failures::delay_secs(u32::MAX), MAX_DELAY_SECS);
        let f = Failures {
            count: 5,
            last_unix: 1000,
        };
        assert_eq!(f.wait_left(1000), 4);
        assert_eq!(f.wait_left(1003), 1);
        assert_eq!(f.wait_left(1004), 0);
        assert_eq!(
            f.wait_left(10),
            4,
            "a clock set back waits one delay, no more"
        );
    }

    fn wrong() -> Result<(), VaultError> {
        Err(VaultError::WrongPassword)
    }

    #[test]
    fn counts_failures_on_disk_and_resets_on_success() {
        let dir = tempfile::tempdir().unwrap();
        let t = Throttle::new(dir.path());
        let clock = Cell::new(1_000u64);
        let now = || clock.get();
        // Three typos go through at once.
        for _ in 0..FREE_FAILURES {
            assert!(matches!(
                t.check(now, wrong),
                Err(VaultError::WrongPassword)
            ));
        }
        assert_eq!(t.load().count, FREE_FAILURES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(t.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Now a wait is due: even the right password is not checked.
        let mut ran = false;
        let r = t.check(now, || {
            ran = true;
            Ok(())
        });
        assert!(matches!(
            r,
            Err(VaultError::TooManyAttempts { wait_seconds: 1 })
        ));
        assert!(!ran, "no password check while a wait is due");
        // A new Throttle (another process) sees the same count.
        assert_eq!(Throttle::new(dir.path()).load().count, FREE_FAILURES);
        clock.set(1_001);
        assert!(matches!(
            t.check(now, wrong),
            Err(VaultError::WrongPassword)
        ));
        assert!(matches!(
            t.check(now, || Ok(())),
            Err(VaultError::TooManyAttempts { wait_seconds: 2 })
        ));
        clock.set(1_003);
        // Other errors do not count.
        assert!(matches!(
            t.check(now, || Err::<(), _>(VaultError::NoPassword)),
            Err(VaultError::NoPassword)
        ));
        assert_eq!(t.load().count, FREE_FAILURES + 1);
        assert_eq!(t.check(now, || Ok(7)).unwrap(), 7);
        assert_eq!(t.load(), Failures::default());
        assert!(!t.path().exists(), "success removes the counter");
    }

    #[test]
    fn a_damaged_counter_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let t = Throttle::new(dir.path());
        std::fs::write(t.path(), b"{not json").unwrap();
        assert_eq!(t.load().wait_left(unix_now()), MAX_DELAY_SECS);
        assert!(matches!(
            t.check(unix_now, || Ok(())),
            Err(VaultError::TooManyAttempts { .. })
        ));
    }
}
