//! `passbridge agent`: one process per user that holds what is unlocked (the vault's data key,
//! Passman vault keys, PassWeaver logins and recent Clarion approvals, each a named secret with
//! its own timeout, see [`item_name`]), so every browser and the terminal share one unlock, like
//! gpg-agent or ssh-agent.
//!
//! It holds secrets and nothing else: the protocol, the backends and the vault files stay in
//! the host processes. It is reachable only through a Unix socket in a 0700 directory
//! ([`socket_dir`]) and serves only processes of its own uid (SO_PEERCRED / getpeereid). It
//! is started on demand by the first process that has something to hand over
//! ([`client::Client::put`]) and exits when nothing has been held for `idle_exit_seconds`, when
//! its socket is removed, or on SIGTERM; secrets are zeroized on lock, expiry and exit, locked
//! in memory where the OS allows, and core dumps are off.
//!
//! Layers: [`proto`] (pure bytes), [`store`] (secrets and their timeouts, pure time),
//! [`sys`] (OS calls), [`server`] and [`client`] (the socket), [`cli`].
//! Windows is not supported yet: there every process keeps its own keys, as before.

pub mod cli;
#[cfg(unix)]
pub mod client;
#[cfg(not(unix))]
#[path = "client_stub.rs"]
pub mod client;
pub mod proto;
#[cfg(unix)]
pub mod server;
pub mod store;
pub mod sys;

use crate::api::Registry;
use crate::config::{Config, ConfigError, Paths};
use client::Client;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const SOCKET: &str = "agent.sock";
pub const LOCK_FILE: &str = "agent.lock";
/// Environment switch: `PASSBRIDGE_AGENT=off` (or `0`, `false`) is the same as `agent: false`.
pub const ENV_SWITCH: &str = "PASSBRIDGE_AGENT";

/// The `agent` section of `config.json`: `false`, `true`, or an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Raw")]
pub struct Settings {
    /// Share unlocks through the agent (default). `false`: each process keeps its own keys.
    pub enabled: bool,
    /// The agent exits after holding nothing for this long.
    pub idle_exit_seconds: u64,
    /// TEST ONLY: every secret handed to the agent expires after this many milliseconds
    /// without use, instead of its backend's timeout (tests watch expiry without waiting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_ttl_ms: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_exit_seconds: 600,
            test_ttl_ms: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Flag(bool),
    Full(Full),
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Full {
    enabled: bool,
    idle_exit_seconds: u64,
    test_ttl_ms: Option<u64>,
}

impl Default for Full {
    fn default() -> Self {
        let d = Settings::default();
        Self {
            enabled: d.enabled,
            idle_exit_seconds: d.idle_exit_seconds,
            test_ttl_ms: d.test_ttl_ms,
        }
    }
}

impl From<Raw> for Settings {
    fn from(r: Raw) -> Self {
        match r {
            Raw::Flag(enabled) => Self {
                enabled,
                ..Self::default()
            },
            Raw::Full(f) => Self {
                enabled: f.enabled,
                idle_exit_seconds: f.idle_exit_seconds.max(1),
                test_ttl_ms: f.test_ttl_ms,
            },
        }
    }
}

impl Settings {
    /// The settings in `config`, with [`ENV_SWITCH`] applied; an invalid section is logged and
    /// means the defaults (the agent is a convenience, never a reason not to start).
    pub fn from_config(config: &Config) -> Self {
        let mut s: Settings = config.section("agent").unwrap_or_else(|e| {
            log::warn!("{e}; using the default agent settings");
            Settings::default()
        });
        if let Some(v) = std::env::var_os(ENV_SWITCH) {
            let v = v.to_string_lossy().to_ascii_lowercase();
            s.enabled = !matches!(v.as_str(), "0" | "off" | "false" | "no");
        }
        s
    }

    /// How long a secret lives without use: its backend's timeout, or the test setting.
    pub fn ttl(&self, wanted: Duration) -> Duration {
        self.test_ttl_ms.map_or(wanted, Duration::from_millis)
    }

    pub fn idle_exit(&self) -> Duration {
        Duration::from_secs(self.idle_exit_seconds.max(1))
    }
}

/// Where the socket lives: inside `PASSBRIDGE_HOME` when it is set (so separate homes never
/// share an agent), else `$XDG_RUNTIME_DIR/passbridge` (a per-user tmpfs, gone at logout), else
/// the data directory.
pub fn socket_dir(paths: &Paths, home_set: bool, runtime_dir: Option<&Path>) -> PathBuf {
    match runtime_dir.filter(|d| d.is_absolute()) {
        Some(d) if !home_set => d.join("passbridge"),
        _ => paths.data_dir.join("agent"),
    }
}

/// [`socket_dir`] from this process's environment.
pub fn socket_dir_from_env(paths: &Paths) -> PathBuf {
    let home_set = std::env::var_os("PASSBRIDGE_HOME").is_some_and(|v| !v.is_empty());
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    socket_dir(paths, home_set, runtime.as_deref())
}

/// The agent's name for one held item: `kind/` and 32 hex digits of a SHA-256 over `parts`
/// (each length-prefixed, so no two lists collide). The parts say whose the item is (data
/// directory, server, account, operation…): two accounts or two homes never share an entry,
/// and no account name or server address appears in the agent's memory or on the socket.
pub fn item_name(kind: &str, parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let d = h.finalize();
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{kind}/{hex}")
}

/// Lets this process start the agent (`passbridge agent`) when it needs one: the binary calls
/// this first thing. Library users and tests that do not never start an agent.
pub fn allow_starting_from_this_binary() {
    if let Ok(exe) = std::env::current_exe() {
        client::set_program(exe);
    }
}

/// The agent as a service of the running process, created once and shared by every backend
/// that hands keys over; `None` when it is off (then each process keeps its own, as before).
#[derive(Default)]
pub struct Link(Option<Option<Arc<Client>>>);

/// The process's agent client (see [`Link`]), for a backend's `start`.
pub fn link(reg: &mut Registry) -> Option<Arc<Client>> {
    let (paths, config) = (reg.paths().clone(), reg.config());
    reg.entry::<Link>()
        .0
        .get_or_insert_with(|| Client::for_process(&paths, &config))
        .clone()
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no passbridge agent is running")]
    NotRunning,
    #[error("{path} is not a private directory of this user ({why}); the agent will not use it")]
    Unsafe { path: PathBuf, why: &'static str },
    #[error("the agent socket path {0} is too long for a Unix socket; set XDG_RUNTIME_DIR")]
    PathTooLong(PathBuf),
    #[error("talking to the passbridge agent failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the passbridge agent sent a malformed message: {0}")]
    Proto(#[from] proto::ProtoError),
    #[error("the passbridge agent refused the request: {0}")]
    Refused(String),
    #[error("the passbridge agent answered something unexpected")]
    Unexpected,
    #[error("cannot start the passbridge agent: {0}")]
    Spawn(String),
    #[error("the passbridge agent is not supported on this system yet")]
    Unsupported,
}

/// Reads one framed message (length checked before allocating).
pub fn read_message(r: &mut impl std::io::Read) -> Result<zeroize::Zeroizing<Vec<u8>>, AgentError> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix)?;
    let n = proto::body_len(prefix)?;
    let mut body = zeroize::Zeroizing::new(vec![0u8; n]);
    r.read_exact(&mut body)?;
    Ok(body)
}

/// The longest socket path the platform accepts (`sun_path` less its NUL).
pub const MAX_SOCKET_PATH: usize = if cfg!(target_os = "linux") { 107 } else { 103 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_accept_a_flag_or_an_object() {
        let parse = |s: &str| -> Settings {
            let c: Config = serde_json::from_str(&format!(r#"{{"agent": {s}}}"#)).unwrap();
            c.section("agent").unwrap()
        };
        assert!(!parse("false").enabled);
        assert!(parse("true").enabled);
        assert_eq!(parse("{}"), Settings::default());
        let s = parse(r#"{"enabled": false, "idle_exit_seconds": 0, "test_ttl_ms": 5}"#);
        assert_eq!(
            (s.enabled, s.idle_exit_seconds, s.test_ttl_ms),
            (false, 1, Some(5))
        );
        assert_eq!(s.ttl(Duration::from_secs(60)), Duration::from_millis(5));
        assert_eq!(
            Settings::default().ttl(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        let c: Config = serde_json::from_str(r#"{"agent": {"enabld": true}}"#).unwrap();
        assert!(c.section::<Settings>("agent").is_err());
        let c: Config = serde_json::from_str(r#"{"agent": 3}"#).unwrap();
        assert!(c.section::<Settings>("agent").is_err());
    }

    #[test]
    fn item_names_are_kind_and_a_digest_of_the_parts() {
        let a = item_name("passman", &[b"/h/data", b"https://nc", b"alice"]);
        assert_eq!(a.len(), "passman/".len() + 32);
        assert!(a.starts_with("passman/"));
        assert_ne!(
            a,
            item_name("passman", &[b"/h/data", b"https://nc", b"bob"])
        );
        assert_ne!(
            a,
            item_name("passman", &[b"/h/data2", b"https://nc", b"alice"])
        );
        // Length prefixes: moving a byte between parts is another name.
        assert_ne!(
            item_name("x", &[b"ab", b"c"]),
            item_name("x", &[b"a", b"bc"])
        );
        assert_eq!(
            a,
            item_name("passman", &[b"/h/data", b"https://nc", b"alice"])
        );
    }

    #[test]
    fn socket_dir_rules() {
        let p = Paths::under(Path::new("/h"));
        let rt = Path::new("/run/user/1000");
        assert_eq!(socket_dir(&p, true, Some(rt)), Path::new("/h/data/agent"));
        assert_eq!(
            socket_dir(&p, false, Some(rt)),
            Path::new("/run/user/1000/passbridge")
        );
        assert_eq!(socket_dir(&p, false, None), Path::new("/h/data/agent"));
        assert_eq!(
            socket_dir(&p, false, Some(Path::new("relative"))),
            Path::new("/h/data/agent")
        );
    }
}
