//! Process hardening at start-up: secrets (unlocked vault keys, credentials, passwords) live in
//! this process's memory, so no core dump may write them to disk and no other process of the
//! same user may read them through ptrace or /proc/<pid>/mem.
//!
//! - Linux: `prctl(PR_SET_DUMPABLE, 0)` (no core dumps, no ptrace attach by the same user,
//!   /proc/<pid> files owned by root) and `RLIMIT_CORE` 0.
//! - macOS and other Unixes: `RLIMIT_CORE` 0. (`PT_DENY_ATTACH` on macOS is not used: it is
//!   advisory against debuggers only and a root or same-user attacker can bypass it.)
//! - Windows: nothing here (no core files by default; see docs/security.md).
//!
//! Failures are logged, never fatal: a host that cannot harden itself still works.

/// What [`process`] achieved, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hardening {
    /// Core dumps disabled (RLIMIT_CORE 0).
    pub no_core: bool,
    /// Not dumpable / not ptrace-attachable by the same user (Linux only).
    pub not_dumpable: bool,
}

/// Hardens the current process; call first thing in `main`.
pub fn process() -> Hardening {
    Hardening {
        no_core: no_core_dumps(),
        not_dumpable: not_dumpable(),
    }
}

#[cfg(unix)]
fn no_core_dumps() -> bool {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } == 0;
    if !ok {
        log::warn!(
            "cannot disable core dumps: {}",
            std::io::Error::last_os_error()
        );
    }
    ok
}

#[cfg(not(unix))]
fn no_core_dumps() -> bool {
    false
}

#[cfg(target_os = "linux")]
fn not_dumpable() -> bool {
    // SAFETY: PR_SET_DUMPABLE takes plain integer arguments.
    let ok = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } == 0;
    if !ok {
        log::warn!(
            "cannot make the process non-dumpable: {}",
            std::io::Error::last_os_error()
        );
    }
    ok
}

#[cfg(not(target_os = "linux"))]
fn not_dumpable() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn hardening_takes_effect_in_this_process() {
        let h = process();
        assert!(h.no_core);
        let mut lim = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes into the struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut lim) }, 0);
        assert_eq!((lim.rlim_cur, lim.rlim_max), (0, 0));
        #[cfg(target_os = "linux")]
        {
            assert!(h.not_dumpable);
            // SAFETY: PR_GET_DUMPABLE takes no pointers.
            assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
        }
    }
}
