//! Runs a real headless browser with the test extension against the built host (spec §4.7):
//! a temporary HOME, the host registered there, the extension's report collected over loopback.

pub mod extension;
pub mod launch;
pub mod report;

pub use launch::Kind;

use passbridge::config::{Config, HOST_NAME, Paths};
use report::{Message, ReportServer};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_passbridge");
/// Only turns a hang into a failure; a healthy run reports within seconds.
const REPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// The browser if it is installed. Missing: a failure under CI, a loud skip for a developer.
pub fn require(kind: Kind) -> Option<PathBuf> {
    if let Some(exe) = kind.find() {
        return Some(exe);
    }
    let install = format!(
        "sudo apt-get install -y {} (or run tests/run.sh, which installs it)",
        kind.package()
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("CI is set but {} is not installed: {install}", kind.name());
    }
    // Written past the test harness's output capture, so the skip shows without --nocapture.
    let _ = writeln!(
        std::io::stderr(),
        "\n=== SKIPPED: {} is not installed, so the real-browser test did not run. Install it: {install} ===\n",
        kind.name()
    );
    None
}

/// A temporary HOME for one browser run; the passbridge home is `<home>/pb`.
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// The host's log level (`PASSBRIDGE_LOG`).
    log: &'static str,
}

impl Sandbox {
    /// The host logs at debug level into [`Sandbox::host_log`], for failure messages.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            log: "debug",
        }
    }
    /// The host logs as it does by default (warnings): for benchmarks/browser.rs.
    #[allow(dead_code)]
    pub fn quiet() -> Self {
        Self {
            log: "warn",
            ..Self::new()
        }
    }
    pub fn home(&self) -> &Path {
        self.dir.path()
    }
    pub fn pb_home(&self) -> PathBuf {
        self.home().join("pb")
    }
    pub fn host_log(&self) -> PathBuf {
        self.home().join("host.log")
    }
    pub fn browser_log(&self, kind: Kind) -> PathBuf {
        self.home().join(format!("{}.log", kind.name()))
    }

    /// The environment of everything run in this sandbox. The browser passes it on to the host
    /// it launches, which is how the host finds PASSBRIDGE_HOME.
    pub fn env(&self, cmd: &mut Command) {
        let home = self.home();
        cmd.env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("PASSBRIDGE_HOME", self.pb_home())
            // Neither the installer nor the host may see a machine-wide install in /etc.
            .env("PASSBRIDGE_SYSTEM_ROOT", home.join("system"))
            .env("PASSBRIDGE_LOG", self.log)
            .env("PASSBRIDGE_LOG_FILE", self.host_log())
            // Headless needs no display; make sure none is used.
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("MOZ_CRASHREPORTER_DISABLE", "1");
    }
}

/// A log file's text for a failure message, or why it could not be read.
fn read_log(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("({}: {e})", p.display()))
}

/// Registers the host for `ext_id` in the sandbox with the real installer, as a user would:
/// `passbridge install --browser <name> --<family>-extension-id <id>` writes the browser's host
/// manifest and adds the id to the host's allowlist. The only place the tests register anything.
pub fn register(kind: Kind, sb: &Sandbox, ext_id: &str) {
    let id_flag = match kind {
        Kind::Chromium => "--chrome-extension-id",
        Kind::Firefox => "--firefox-extension-id",
    };
    let mut cmd = Command::new(BIN);
    sb.env(&mut cmd);
    let out = cmd
        .args(["install", "--browser", kind.name(), id_flag, ext_id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "passbridge install failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Takes `ext_id` off the host's allowlist (another id stays on it) while the browser's manifest
/// still admits it: only the host itself can refuse the extension now.
pub fn unlist(kind: Kind, sb: &Sandbox, ext_id: &str) {
    let paths = Paths::under(&sb.pb_home());
    let was_listed = Config::update(&paths, |c| {
        let (list, listed, other) = match kind {
            Kind::Chromium => (
                &mut c.allowed.chrome_origins,
                format!("chrome-extension://{ext_id}/"),
                "chrome-extension://abcdefghijklmnopabcdefghijklmnop/",
            ),
            Kind::Firefox => (
                &mut c.allowed.firefox_ids,
                ext_id.to_string(),
                "someone-else@passbridge.org",
            ),
        };
        let was_listed = list.contains(&listed);
        list.retain(|v| *v != listed);
        list.push(other.into());
        was_listed
    })
    .unwrap()
    .1;
    assert!(was_listed, "registration did not allowlist {ext_id}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Allowlisted: hello, echo, progress and concurrency.
    Full,
    /// Manifest admits the extension, the host's allowlist does not.
    Refused,
}

/// What one browser run produced.
pub struct Run {
    pub kind: Kind,
    pub ext_id: String,
    /// The params the probe was told to echo.
    pub echo_sent: Value,
    pub report: Value,
}

pub fn extension_id(kind: Kind) -> String {
    let m = extension::manifest(kind.name());
    match kind {
        Kind::Chromium => extension::chromium_id(m["key"].as_str().expect("manifest has a key")),
        Kind::Firefox => m["browser_specific_settings"]["gecko"]["id"]
            .as_str()
            .expect("manifest has a gecko id")
            .into(),
    }
}

/// Runs the browser with the test extension once. `None` when the browser is missing (skip).
pub fn run(kind: Kind, mode: Mode) -> Option<Run> {
    let exe = require(kind)?;
    let sb = Sandbox::new();
    let ext_id = extension_id(kind);
    register(kind, &sb, &ext_id);
    if mode == Mode::Refused {
        unlist(kind, &sb, &ext_id);
    }
    let echo_sent = json!({
        "nonce": format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos()
        ),
        "text": "h\u{e9}llo \u{2713} \"quoted\" \\ /",
        "n": 42,
        "nested": {"list": [1, 2.5, null, true, "x"]},
    });
    let config = json!({
        "mode": match mode { Mode::Full => "full", Mode::Refused => "refused" },
        "echo": echo_sent,
    });
    let report = Launched::start(kind, &exe, &sb, config)
        .report()
        .unwrap_or_else(|why| panic!("{} ({mode:?}): {why}", kind.name()));
    Some(Run {
        kind,
        ext_id,
        echo_sent,
        report,
    })
}

/// A browser running the probe with its own report server; several may run at once in one
/// sandbox (each browser keeps its profile and log apart).
pub struct Launched {
    kind: Kind,
    server: ReportServer,
    browser: launch::Running,
    log: PathBuf,
    host_log: PathBuf,
    started: Instant,
}

impl Launched {
    /// Starts `kind` (at `exe`) with the probe told `config` (plus the host name and the
    /// report port).
    pub fn start(kind: Kind, exe: &Path, sb: &Sandbox, mut config: Value) -> Self {
        let server = ReportServer::start();
        config["host"] = json!(HOST_NAME);
        config["port"] = json!(server.port());
        let mut cmd = match kind {
            Kind::Chromium => chromium_command(exe, sb, &config),
            Kind::Firefox => firefox_command(exe, sb, &config, &extension_id(kind)),
        };
        sb.env(&mut cmd);
        let log_path = sb.browser_log(kind);
        let log = std::fs::File::create(&log_path).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        Self {
            kind,
            server,
            browser: launch::Running::spawn(&mut cmd),
            log: log_path,
            host_log: sb.host_log(),
            started: Instant::now(),
        }
    }

    /// The probe's report; the browser is stopped either way. `Err` says why there is none,
    /// with the probe's log, the browser's output and the host log.
    pub fn report(mut self) -> Result<Value, String> {
        let mut probe_log = Vec::new();
        let outcome = loop {
            match self.server.recv_timeout(Duration::from_millis(250)) {
                Ok(Message::Report(v)) => break Ok(v),
                Ok(Message::Log(line)) => probe_log.push(line),
                Ok(Message::Bad(what)) => {
                    break Err(format!("the probe sent a bad request: {what}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    break Err("the report server stopped".into());
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(status) = self.browser.exited() {
                        break Err(format!("the browser exited ({status}) before reporting"));
                    }
                    if self.started.elapsed() > REPORT_TIMEOUT {
                        break Err(format!("no report within {REPORT_TIMEOUT:?}"));
                    }
                }
            }
        };
        let elapsed = self.started.elapsed();
        drop(self.browser);
        match outcome {
            Ok(report) => {
                // Printed for people (`-- --nocapture`), never asserted.
                eprintln!("{}: report after {elapsed:.2?}", self.kind.name());
                Ok(report)
            }
            Err(why) => Err(format!(
                "{why}\n--- probe log ---\n{}\n--- browser output (last 60 lines) ---\n{}\n--- host log ---\n{}",
                probe_log.join("\n"),
                tail(&read_log(&self.log), 60),
                read_log(&self.host_log),
            )),
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Spec §4.7 recipe. `--user-data-dir` is `~/.config/chromium`, where the installer writes the
/// user-level host manifest (Chromium looks inside the user data directory).
fn chromium_command(exe: &Path, sb: &Sandbox, config: &Value) -> Command {
    let ext_dir = sb.home().join("extension");
    extension::stage_dir(Kind::Chromium.name(), config, &ext_dir);
    let mut cmd = Command::new(exe);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!(
        "--user-data-dir={}",
        sb.home().join(".config/chromium").display()
    ))
    .arg(format!("--load-extension={}", ext_dir.display()))
    .args([
        "--disable-features=DisableLoadExtensionCommandLineSwitch",
        "about:blank",
    ]);
    cmd
}

/// Firefox picks up an unsigned .xpi named after its id from the profile's extensions folder
/// with these prefs (ESR honours `xpinstall.signatures.required`).
const FIREFOX_PREFS: &[(&str, &str)] = &[
    ("xpinstall.signatures.required", "false"),
    ("extensions.autoDisableScopes", "0"),
    ("extensions.enabledScopes", "15"),
    // No calls home from a throwaway profile.
    ("extensions.update.enabled", "false"),
    ("datareporting.policy.dataSubmissionEnabled", "false"),
    ("toolkit.telemetry.reportingpolicy.firstRun", "false"),
    ("network.captive-portal-service.enabled", "false"),
    ("network.connectivity-service.enabled", "false"),
    ("browser.shell.checkDefaultBrowser", "false"),
];

fn firefox_command(exe: &Path, sb: &Sandbox, config: &Value, ext_id: &str) -> Command {
    let profile = sb.home().join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let prefs: String = FIREFOX_PREFS
        .iter()
        .map(|(k, v)| format!("user_pref(\"{k}\", {v});\n"))
        .collect();
    std::fs::write(profile.join("user.js"), prefs).unwrap();
    extension::stage_xpi(
        Kind::Firefox.name(),
        config,
        &profile.join("extensions").join(format!("{ext_id}.xpi")),
    );
    let mut cmd = Command::new(exe);
    cmd.args(["--headless", "--no-remote", "--profile"])
        .arg(&profile)
        .arg("about:blank");
    cmd
}
