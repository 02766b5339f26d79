//! A throwaway "machine" for installer tests: a HOME, a PASSBRIDGE_HOME and a relocated system
//! root under one temp dir, and the built binary run against them with a clean environment.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_passbridge");
pub const CHROME_ID: &str = "abcdefghijklmnopabcdefghijklmnop";
pub const CHROME_ORIGIN: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop/";
pub const FIREFOX_ID: &str = "passbridge@example.org";
pub const MANIFEST: &str = "org.passbridge.host.json";

pub type Snapshot = BTreeMap<PathBuf, (char, u32, Vec<u8>)>;

/// The snapshot without everything under `top` (a first-level name in the temp dir).
pub fn without(s: &Snapshot, top: &str) -> Snapshot {
    s.iter()
        .filter(|(p, _)| !p.starts_with(top))
        .map(|(p, v)| (p.clone(), v.clone()))
        .collect()
}

pub struct Machine {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub pb_home: PathBuf,
    pub root: PathBuf,
    /// XDG_CONFIG_HOME for the commands (unset when `None`).
    pub xdg: Option<PathBuf>,
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Machine {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        Self {
            home,
            pb_home: dir.path().join("pb"),
            root: dir.path().join("root"),
            xdg: None,
            dir,
        }
    }

    pub fn with_xdg(mut self) -> Self {
        let xdg = self.dir.path().join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        self.xdg = Some(xdg);
        self
    }

    /// `$XDG_CONFIG_HOME`, or `~/.config`.
    pub fn config_home(&self) -> PathBuf {
        self.xdg
            .clone()
            .unwrap_or_else(|| self.home.join(".config"))
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("HOME", &self.home)
            .env("PASSBRIDGE_HOME", &self.pb_home)
            .env("PASSBRIDGE_SYSTEM_ROOT", &self.root)
            // The machine's own PATH, so the browsers installed on the real one stay out.
            .env("PATH", self.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("PASSBRIDGE_LOG_FILE")
            .env_remove("PASSBRIDGE_LOG");
        if let Some(x) = &self.xdg {
            c.env("XDG_CONFIG_HOME", x);
        }
        c
    }

    /// `PATH` for the commands: the relocated root's bin folders.
    pub fn path(&self) -> String {
        format!(
            "{}:{}",
            self.root.join("usr/bin").display(),
            self.root.join("bin").display()
        )
    }

    /// Puts an executable stand-in for a program at `rel` under the relocated root.
    #[cfg(unix)]
    pub fn install_program(&self, rel: &str) {
        let p = self.root.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        chmod(&p, 0o755);
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and insists on success.
    pub fn must(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(r.ok(), "passbridge {args:?} failed:\n{r:?}");
        r
    }

    pub fn chromium_manifest(&self) -> PathBuf {
        self.config_home()
            .join("chromium/NativeMessagingHosts")
            .join(MANIFEST)
    }

    pub fn firefox_manifest(&self) -> PathBuf {
        self.home
            .join(".mozilla/native-messaging-hosts")
            .join(MANIFEST)
    }

    pub fn config(&self) -> Value {
        read_json(&self.pb_home.join("config/config.json"))
    }

    pub fn record_path(&self) -> PathBuf {
        self.pb_home.join("config/installed.json")
    }

    /// Every file, directory and symlink under the temp dir: path → (kind, mode, content).
    pub fn snapshot(&self) -> Snapshot {
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Snapshot) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(base).unwrap().to_path_buf();
        let m = mode(&meta);
        if meta.is_dir() {
            out.insert(rel, ('d', m, Vec::new()));
            walk(base, &p, out);
        } else if meta.file_type().is_symlink() {
            out.insert(rel, ('l', m, Vec::new()));
        } else {
            out.insert(rel, ('f', m, std::fs::read(&p).unwrap()));
        }
    }
}

#[cfg(unix)]
pub fn mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
pub fn mode(_meta: &std::fs::Metadata) -> u32 {
    0
}

pub fn read_json(p: &Path) -> Value {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The binary the installer registers by default: the test binary, canonicalized.
pub fn bin_canonical() -> String {
    std::fs::canonicalize(BIN)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[cfg(unix)]
pub fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}
