//! The agent process: a private directory, a lock file so only one agent runs, a Unix socket
//! that serves only this user, one request per connection on a single thread, and a tick that
//! expires secrets and decides when to exit.

use super::proto::{Request, Response};
use super::store::Store;
use super::{AgentError, LOCK_FILE, SOCKET, Settings, sys};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the agent looks at its socket and the clock when nothing else wakes it.
const TICK: Duration = Duration::from_secs(1);
/// A client has this long to send its request: one slow client must not stall the others.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Creates `dir` private to this user, or checks that an existing one is: owned by us and
/// closed to group and others (a socket in someone else's directory could be swapped).
pub fn private_dir(dir: &Path) -> Result<(), AgentError> {
    crate::fsutil::ensure_private_dir(dir).map_err(AgentError::Io)?;
    check_private_dir(dir)
}

/// Checks without creating (clients use this before connecting).
pub fn check_private_dir(dir: &Path) -> Result<(), AgentError> {
    let meta = fs::symlink_metadata(dir)?;
    let unsafe_dir = |why| AgentError::Unsafe {
        path: dir.to_path_buf(),
        why,
    };
    if !meta.is_dir() {
        return Err(unsafe_dir("not a directory"));
    }
    if meta.uid() != sys::euid() {
        return Err(unsafe_dir("owned by another user"));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(unsafe_dir("open to other users"));
    }
    Ok(())
}

pub fn socket_path(dir: &Path) -> Result<PathBuf, AgentError> {
    let p = dir.join(SOCKET);
    if p.as_os_str().len() > super::MAX_SOCKET_PATH {
        return Err(AgentError::PathTooLong(p));
    }
    Ok(p)
}

/// Runs the agent for the socket directory `dir` until it has a reason to exit. Returns at
/// once (Ok) when another agent already holds the lock.
pub fn run(dir: &Path, settings: &Settings) -> Result<(), AgentError> {
    sys::harden();
    private_dir(dir)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(LOCK_FILE))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            log::info!("agent: another agent is running for {}", dir.display());
            return Ok(());
        }
        Err(fs::TryLockError::Error(e)) => return Err(e.into()),
    }
    let path = socket_path(dir)?;
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let listener = UnixListener::bind(&path)?;
    crate::fsutil::set_mode(&path, 0o600)?;
    listener.set_nonblocking(true)?;
    let ino = fs::metadata(&path)?.ino();
    sys::catch_stop_signals();
    log::info!(
        "agent: serving {} (pid {})",
        path.display(),
        std::process::id()
    );
    let mut agent = Agent {
        store: Store::default(),
        settings: settings.clone(),
        stopping: false,
        uid: sys::euid(),
        warned_mlock: false,
    };
    let why = agent.serve(&listener, &path, ino);
    let dropped = agent.store.clear();
    log::info!("agent: exiting ({why}); {dropped} secret(s) zeroized");
    if fs::metadata(&path).is_ok_and(|m| m.ino() == ino) {
        let _ = fs::remove_file(&path);
    }
    drop(lock);
    Ok(())
}

struct Agent {
    store: Store,
    settings: Settings,
    stopping: bool,
    uid: u32,
    warned_mlock: bool,
}

impl Agent {
    /// Serves until a reason to exit, which it returns.
    fn serve(&mut self, listener: &UnixListener, path: &Path, ino: u64) -> &'static str {
        let mut idle_since = Some(sys::now());
        loop {
            if sys::stop_requested() {
                return "asked to stop by a signal";
            }
            if self.stopping {
                return "asked to stop";
            }
            let now = sys::now();
            let expired = self.store.expire(now);
            if expired > 0 {
                log::info!("agent: {expired} secret(s) expired");
            }
            let mut wait = TICK;
            if self.store.is_empty() {
                let since = *idle_since.get_or_insert(now);
                let idle = now.saturating_sub(since);
                if idle >= self.settings.idle_exit() {
                    return "nothing held for the idle time";
                }
                wait = wait.min(self.settings.idle_exit() - idle);
            } else {
                idle_since = None;
            }
            if let Some(d) = self.store.next_deadline() {
                wait = wait.min(d.saturating_sub(now));
            }
            if !fs::metadata(path).is_ok_and(|m| m.ino() == ino) {
                return "its socket was removed or replaced";
            }
            if sys::wait_readable(listener.as_raw_fd(), wait.max(Duration::from_millis(1))) {
                match listener.accept() {
                    Ok((stream, _)) => self.handle(stream),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => log::warn!("agent: accept failed: {e}"),
                }
            }
        }
    }

    fn handle(&mut self, mut stream: UnixStream) {
        let setup = stream
            .set_nonblocking(false)
            .and_then(|()| stream.set_read_timeout(Some(IO_TIMEOUT)))
            .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)));
        if let Err(e) = setup {
            log::warn!("agent: cannot set up a connection: {e}");
            return;
        }
        let reply = match sys::peer_uid(stream.as_raw_fd()) {
            Ok(uid) if uid == self.uid => self.answer(&mut stream),
            Ok(uid) => {
                log::warn!("agent: refused a connection from uid {uid}");
                Response::Refused("the agent serves only the user who started it".into())
            }
            Err(e) => {
                log::warn!("agent: cannot tell who connected ({e}); refused");
                Response::Refused("cannot verify the connecting user".into())
            }
        };
        let _ = stream.write_all(&reply.encode());
    }

    fn answer(&mut self, stream: &mut UnixStream) -> Response {
        let req = super::read_message(stream)
            .and_then(|body| Request::decode(&body).map_err(AgentError::from));
        match req {
            Ok(r) => self.apply(r),
            Err(e) => {
                log::debug!("agent: bad request: {e}");
                Response::Refused(e.to_string())
            }
        }
    }

    /// What a request does to the store. Pure apart from the clock.
    fn apply(&mut self, req: Request) -> Response {
        let now = sys::now();
        match req {
            Request::Put { name, ttl, secret } => {
                self.store
                    .put(&name, &secret, ttl.max(Duration::from_millis(1)), now);
                let locked = self
                    .store
                    .get(&name, false, now)
                    .is_some_and(|(s, _)| s.is_locked());
                if !locked && !self.warned_mlock {
                    self.warned_mlock = true;
                    log::info!("agent: the OS did not lock secrets in memory (RLIMIT_MEMLOCK)");
                }
                Response::Done
            }
            Request::Get { name, touch } => match self.store.get(&name, touch, now) {
                Some((s, remaining)) => Response::Secret {
                    remaining,
                    secret: zeroize::Zeroizing::new(s.bytes().to_vec()),
                },
                None => Response::Absent,
            },
            Request::Check { name, touch } => match self.store.get(&name, touch, now) {
                Some((_, remaining)) => Response::Present { remaining },
                None => Response::Absent,
            },
            Request::Forget { name } => {
                self.store.forget(&name);
                Response::Done
            }
            Request::LockAll => {
                let n = self.store.clear();
                log::info!("agent: locked all ({n} secret(s) zeroized)");
                Response::Done
            }
            Request::Status => Response::Status {
                pid: std::process::id(),
                entries: self.store.len() as u32,
            },
            Request::Stop => {
                self.store.clear();
                self.stopping = true;
                Response::Done
            }
        }
    }
}
