//! Talking to the agent from a host or CLI process: one connection per request, the agent's
//! uid checked like the agent checks ours, and the agent started on demand when a process has
//! something to hand over.

use super::proto::{Request, Response};
use super::server::{check_private_dir, private_dir, socket_path};
use super::{AgentError, Settings, sys};
use crate::config::{Config, Paths};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use zeroize::Zeroizing;

/// Generous: a loaded machine may take seconds to start a process. Never a test threshold.
const START_WAIT: Duration = Duration::from_secs(10);
/// After the agent failed to start, processes carry on alone this long before trying again.
const RETRY_START_AFTER: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Lets this process start the agent as `program agent`. The `passbridge` binary passes its
/// own path; a program that embeds the library (and its tests) never starts one by accident.
pub fn set_program(program: PathBuf) {
    let _ = PROGRAM.set(program);
}

pub struct Client {
    dir: PathBuf,
    settings: Settings,
    program: Option<PathBuf>,
    /// When starting the agent last failed ([`sys::now`]).
    failed_start: Mutex<Option<Duration>>,
}

impl Client {
    /// The agent for this process: `None` when it is disabled (`agent: false`,
    /// `PASSBRIDGE_AGENT=off`) or this program never called [`set_program`].
    pub fn for_process(paths: &Paths, config: &Config) -> Option<Arc<Self>> {
        let settings = Settings::from_config(config);
        if !settings.enabled {
            return None;
        }
        let program = PROGRAM.get()?.clone();
        Some(Arc::new(Self::new(
            super::socket_dir_from_env(paths),
            settings,
            Some(program),
        )))
    }

    /// A client of the agent in `dir`; it starts `program agent` when needed (never if `None`).
    pub fn new(dir: PathBuf, settings: Settings, program: Option<PathBuf>) -> Self {
        Self {
            dir,
            settings,
            program,
            failed_start: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn connect(&self) -> Result<UnixStream, AgentError> {
        match check_private_dir(&self.dir) {
            Err(AgentError::Io(e)) if e.kind() == ErrorKind::NotFound => {
                return Err(AgentError::NotRunning);
            }
            other => other?,
        }
        let path = socket_path(&self.dir)?;
        let s = UnixStream::connect(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => AgentError::NotRunning,
            _ => AgentError::Io(e),
        })?;
        if sys::peer_uid(s.as_raw_fd())? != sys::euid() {
            return Err(AgentError::Unsafe {
                path,
                why: "the agent there runs as another user",
            });
        }
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(s)
    }

    /// One request, one response. An agent that went away mid-exchange is `NotRunning`.
    fn call(&self, req: &Request) -> Result<Response, AgentError> {
        let gone = |e: std::io::Error| match e.kind() {
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                AgentError::NotRunning
            }
            _ => AgentError::Io(e),
        };
        let mut s = self.connect()?;
        s.write_all(&req.encode()).map_err(gone)?;
        let body = super::read_message(&mut s).map_err(|e| match e {
            AgentError::Io(e) => gone(e),
            e => e,
        })?;
        match Response::decode(&body)? {
            Response::Refused(why) => Err(AgentError::Refused(why)),
            r => Ok(r),
        }
    }

    /// Starts an agent and waits until one answers (it may be another process's).
    fn start(&self) -> Result<(), AgentError> {
        let Some(program) = &self.program else {
            return Err(AgentError::NotRunning);
        };
        let mut failed = self.failed_start.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = *failed
            && sys::now().saturating_sub(t) < RETRY_START_AFTER
        {
            return Err(AgentError::Spawn(
                "it failed to start less than a minute ago".into(),
            ));
        }
        let result = self.spawn_and_wait(program);
        *failed = result.is_err().then(sys::now);
        result
    }

    fn spawn_and_wait(&self, program: &Path) -> Result<(), AgentError> {
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        private_dir(&self.dir)?;
        let mut cmd = Command::new(program);
        // Never the host's stdout (it carries frames to the browser) nor its session: the agent
        // outlives the browser that started it.
        cmd.args(["agent", "run", "--socket-dir"])
            .arg(&self.dir)
            .arg("--idle-exit-seconds")
            .arg(self.settings.idle_exit_seconds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| AgentError::Spawn(format!("{}: {e}", program.display())))?;
        log::info!("started the passbridge agent (pid {})", child.id());
        // Reap it whenever it exits, so it never lingers as a zombie of a long-lived host.
        let _ = std::thread::Builder::new()
            .name("agent-reaper".into())
            .spawn(move || child.wait());
        let start = sys::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match self.call(&Request::Status) {
                Ok(_) => return Ok(()),
                Err(AgentError::NotRunning) => {}
                Err(e) => return Err(e),
            }
            if sys::now().saturating_sub(start) > START_WAIT {
                return Err(AgentError::Spawn(format!(
                    "it did not answer within {} s",
                    START_WAIT.as_secs()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Hands `secret` to the agent under `name` for `ttl` without use (the test setting
    /// shortens it), starting the agent if none runs.
    pub fn put(&self, name: &str, secret: &[u8], ttl: Duration) -> Result<(), AgentError> {
        let req = Request::Put {
            name: name.to_owned(),
            ttl: self.settings.ttl(ttl),
            secret: Zeroizing::new(secret.to_vec()),
        };
        let r = match self.call(&req) {
            Err(AgentError::NotRunning) => {
                self.start()?;
                self.call(&req)?
            }
            other => other?,
        };
        expect_done(r)
    }

    /// The secret under `name`, if the agent holds it; `touch` counts as use. No agent: `None`.
    pub fn get(&self, name: &str, touch: bool) -> Result<Option<Zeroizing<Vec<u8>>>, AgentError> {
        let req = Request::Get {
            name: name.to_owned(),
            touch,
        };
        match self.call(&req) {
            Ok(Response::Secret { secret, .. }) => Ok(Some(secret)),
            Ok(Response::Absent) | Err(AgentError::NotRunning) => Ok(None),
            Ok(_) => Err(AgentError::Unexpected),
            Err(e) => Err(e),
        }
    }

    /// Whether the agent holds `name`, and for how long without use. No agent: `NotRunning`.
    pub fn check(&self, name: &str, touch: bool) -> Result<Option<Duration>, AgentError> {
        let req = Request::Check {
            name: name.to_owned(),
            touch,
        };
        match self.call(&req)? {
            Response::Present { remaining } => Ok(Some(remaining)),
            Response::Absent => Ok(None),
            _ => Err(AgentError::Unexpected),
        }
    }

    /// Drops `name` in the agent (nothing to do when none runs).
    pub fn forget(&self, name: &str) -> Result<(), AgentError> {
        match self.call(&Request::Forget {
            name: name.to_owned(),
        }) {
            Err(AgentError::NotRunning) => Ok(()),
            r => expect_done(r?),
        }
    }

    /// Drops every secret; false when no agent was running.
    pub fn lock_all(&self) -> Result<bool, AgentError> {
        match self.call(&Request::LockAll) {
            Err(AgentError::NotRunning) => Ok(false),
            r => expect_done(r?).map(|()| true),
        }
    }

    /// `(pid, secrets held)` of the running agent, if one runs.
    pub fn status(&self) -> Result<Option<(u32, u32)>, AgentError> {
        match self.call(&Request::Status) {
            Ok(Response::Status { pid, entries }) => Ok(Some((pid, entries))),
            Err(AgentError::NotRunning) => Ok(None),
            Ok(_) => Err(AgentError::Unexpected),
            Err(e) => Err(e),
        }
    }

    /// Asks the agent to zeroize everything and exit; false when none was running.
    pub fn stop(&self) -> Result<bool, AgentError> {
        match self.call(&Request::Stop) {
            Err(AgentError::NotRunning) => Ok(false),
            r => expect_done(r?).map(|()| true),
        }
    }
}

fn expect_done(r: Response) -> Result<(), AgentError> {
    match r {
        Response::Done => Ok(()),
        _ => Err(AgentError::Unexpected),
    }
}
