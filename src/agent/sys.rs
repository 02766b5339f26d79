//! The operating-system calls the agent needs: memory locking, no core dumps, the peer's uid
//! on a Unix socket, signals, a clock that counts suspend. Thin wrappers; nothing else here.

use std::time::Duration;

/// Locks `b`'s pages in memory (no swap). Best effort: false when the OS refuses (limits).
#[cfg(unix)]
pub fn mlock(b: &[u8]) -> bool {
    if b.is_empty() {
        return false;
    }
    // SAFETY: the pointer and length describe a live allocation owned by the caller.
    unsafe { libc::mlock(b.as_ptr().cast(), b.len()) == 0 }
}

#[cfg(unix)]
pub fn munlock(b: &[u8]) {
    // SAFETY: as for mlock; unlocking pages we locked.
    unsafe {
        libc::munlock(b.as_ptr().cast(), b.len());
    }
}

#[cfg(not(unix))]
pub fn mlock(_: &[u8]) -> bool {
    false
}

#[cfg(not(unix))]
pub fn munlock(_: &[u8]) {}

/// No core dumps (they would write secrets to disk) and, on Linux, no ptrace attach by other
/// processes of the same user.
#[cfg(unix)]
pub fn harden() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls with valid arguments.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_CORE, &zero) != 0 {
            log::warn!("agent: cannot disable core dumps");
        }
        #[cfg(target_os = "linux")]
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            log::warn!("agent: cannot mark the process non-dumpable");
        }
    }
}

/// This process's effective uid.
#[cfg(unix)]
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective uid of the process at the other end of a connected Unix socket.
#[cfg(target_os = "linux")]
pub fn peer_uid(fd: std::os::fd::RawFd) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writing and sized for SO_PEERCRED.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

#[cfg(all(unix, not(target_os = "linux")))]
pub fn peer_uid(fd: std::os::fd::RawFd) -> std::io::Result<u32> {
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: both outputs are valid for writing.
    if unsafe { libc::getpeereid(fd, &mut uid, &mut gid) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(uid)
}

/// Time since an arbitrary origin, counting system suspend where the OS can (a laptop that
/// slept for an hour has used up an hour of the timeout).
pub fn now() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is valid for writing.
        if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed()
}

#[cfg(unix)]
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// SIGTERM, SIGINT and SIGHUP ask the agent to stop (and so zeroize) instead of dying with
/// secrets in memory. Installed without SA_RESTART so a blocking `poll` returns.
#[cfg(unix)]
pub fn catch_stop_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

#[cfg(unix)]
pub fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

/// Waits until `fd` is readable or `timeout` passes (or a signal arrives). True if readable.
#[cfg(unix)]
pub fn wait_readable(fd: std::os::fd::RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0 && p.revents & libc::POLLIN != 0
}
