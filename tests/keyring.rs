//! The link's keys in a real Secret Service (issue 16): a private D-Bus session bus and an
//! unlocked GNOME Keyring per test, started here, and the built binary in separate processes
//! against the loopback phone. Also the fallback to the 0600 file, which must be reported in
//! `status`, in `doctor` and when the link is made.
//!
//! Without `dbus-daemon` or `gnome-keyring-daemon` the keyring tests skip loudly, except under CI,
//! where they fail (tests/run.sh `deps` installs them).
use crate::support::{ap_phone, host};

use ap_phone::{Phone, Reply};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ORIGIN: &str = "chrome-extension://knldjmfmopnpolahpmmgbagdohdnhkik/";
const CLIENT_KEY: &str = "7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n";

fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// A session bus with an unlocked GNOME Keyring on it; both stopped on drop.
struct Session {
    dir: tempfile::TempDir,
    address: String,
    bus: Child,
    keyring: Child,
}

impl Session {
    /// `None` (after saying why) when the programs are missing outside CI.
    fn start() -> Option<Self> {
        let missing: Vec<&str> = [
            "dbus-daemon",
            "gnome-keyring-daemon",
            "secret-tool",
            "dbus-send",
        ]
        .into_iter()
        .filter(|p| !installed(p))
        .collect();
        if !missing.is_empty() {
            let msg = format!(
                "{missing:?} not installed (apt-get install dbus-daemon gnome-keyring libsecret-tools)"
            );
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("CI is set but {msg}");
            }
            eprintln!("SKIPPED: the keyring test needs a Secret Service: {msg}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "run"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let run = dir.path().join("run");
            std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!(
                "--address=unix:path={}",
                dir.path().join("bus").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        // A fresh login keyring, created and unlocked with this password (read from stdin).
        let mut keyring = Self::env_of(&dir, &address, Command::new("gnome-keyring-daemon"))
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"test-password").unwrap();
        drop(stdin);
        let session = Self {
            dir,
            address,
            bus,
            keyring,
        };
        session.wait_for_secret_service();
        Some(session)
    }

    fn env_of(dir: &tempfile::TempDir, address: &str, mut c: Command) -> Command {
        c.env("DBUS_SESSION_BUS_ADDRESS", address)
            .env("HOME", dir.path().join("home"))
            .env("XDG_RUNTIME_DIR", dir.path().join("run"))
            .env_remove("XDG_DATA_HOME")
            .env_remove("DISPLAY");
        c
    }

    fn command(&self, program: &str) -> Command {
        Self::env_of(&self.dir, &self.address, Command::new(program))
    }

    /// Until the daemon owns its bus name; before that, D-Bus would start a second, locked one.
    fn wait_for_secret_service(&self) {
        let t0 = Instant::now();
        loop {
            let out = self
                .command("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return;
            }
            assert!(
                t0.elapsed() < host::TIMEOUT,
                "gnome-keyring-daemon never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A passbridge home whose commands use this keyring (and must: `keyring`, not `auto`).
    fn home(&self, phone: &Phone) -> host::Home {
        let mut home = home_for(phone);
        home.set_env("DBUS_SESSION_BUS_ADDRESS", Some(&self.address));
        home.set_env("PASSBRIDGE_SECRET_STORE", Some("keyring"));
        let run = self.dir.path().join("run");
        home.set_env("XDG_RUNTIME_DIR", Some(run.to_str().unwrap()));
        home
    }

    /// The keyring entry's bytes, read by `secret-tool` (another Secret Service client).
    fn lookup(&self, user: &str) -> Option<Vec<u8>> {
        let out = self
            .command("secret-tool")
            .args(["lookup", "service", "passbridge", "username", user])
            .output()
            .unwrap();
        (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn home_for(phone: &Phone) -> host::Home {
    let home = host::Home::new();
    home.write_config(&json!({
        "allowed": {"chrome_origins": [ORIGIN]},
        "anotherpass": {"server": "127.0.0.1", "port": phone.port, "rsa_bits": 2048,
                        "poll_interval_ms": 100, "timeout_ms": 30000},
    }));
    home
}

/// One message in a fresh host process, like `sendNativeMessage`: the whole reply.
fn one_shot_reply(home: &host::Home, action: &str, params: Value) -> Value {
    let req = json!({"id": 1, "action": action, "params": params});
    let (frames, code, stderr) = home.run_once(&[ORIGIN], &host::frame(req.to_string().as_bytes()));
    assert_eq!(code, Some(0), "{stderr}");
    frames.last().cloned().expect("a reply")
}

fn one_shot(home: &host::Home, action: &str, params: Value) -> Value {
    let reply = one_shot_reply(home, action, params);
    assert_eq!(reply["ok"], true, "{action}: {reply:#}");
    let result = reply["result"].clone();
    match action {
        "status" => host::assert_schema("secretStore", &result["secret_store"]),
        "anotherpass.status" => host::assert_schema("anotherpassStatus", &result),
        _ => {}
    }
    result
}

/// Links through three processes, as the extension does; returns link.confirm's result.
fn link(home: &host::Home, phone: &Phone) -> Value {
    let started = one_shot(home, "anotherpass.link.start", json!({}));
    phone.scan(started["qr_payload"].as_str().unwrap());
    phone.push(Reply::LinkAccept);
    one_shot(
        home,
        "anotherpass.link.complete",
        json!({"server": "192.168.1.20"}),
    );
    one_shot(home, "anotherpass.link.confirm", json!({"matches": true}))
}

fn link_file(home: &host::Home) -> PathBuf {
    home.path().join("data").join("anotherpass-link.json")
}

fn read_link_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The keyring entry's user name that the link file points at.
fn entry_user(file: &Value) -> String {
    let id = file["link"]["keyring"].as_str().expect("a keyring id");
    format!("anotherpass-link/{id}")
}

#[test]
fn the_link_keys_live_in_the_keyring_and_unlink_deletes_them() {
    let Some(session) = Session::start() else {
        return;
    };
    let phone = Phone::start();
    let home = session.home(&phone);
    let status = one_shot(&home, "status", json!({}));
    assert_eq!(
        status["secret_store"],
        json!({"kind": "keyring", "backend": "Secret Service"})
    );

    let confirmed = link(&home, &phone);
    assert_eq!(confirmed["secrets"], "keyring", "{confirmed:#}");
    assert!(confirmed.get("warning").is_none(), "{confirmed:#}");
    let bk = phone.base_key().unwrap();
    let file = read_link_file(&link_file(&home));
    let text = std::fs::read_to_string(link_file(&home)).unwrap();
    assert!(
        !text.contains("client_private_key") && !text.contains("base_key"),
        "{text}"
    );
    let user = entry_user(&file);
    // Another Secret Service client sees the entry: the DER of the client key, then BK.
    let stored = session.lookup(&user).expect("the entry is in the keyring");
    assert!(stored.ends_with(&bk), "BK closes the entry");
    assert!(stored.len() > 1000, "the RSA key is in it");

    // A new process uses the link from the keyring: status decodes the key, the phone answers.
    let status = one_shot(&home, "anotherpass.status", json!({}));
    assert_eq!(status["linked"], true);
    assert_eq!(status["secrets"], "keyring");
    assert_eq!(status["key_bits"], 2048);
    phone.push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    let r = one_shot(&home, "anotherpass.get_client_key", json!({}));
    assert_eq!(r["client_key_received"], true);

    let (_, stdout) = doctor(&home);
    assert!(
        stdout.contains("secrets are kept in the Secret Service"),
        "{stdout}"
    );

    // Without the session bus, status says the keys are out of reach instead of failing.
    let mut home = home;
    let kept = home.env.len();
    let empty = tempfile::tempdir().unwrap();
    home.set_env("DBUS_SESSION_BUS_ADDRESS", None);
    home.set_env("XDG_RUNTIME_DIR", Some(empty.path().to_str().unwrap()));
    home.set_env("PASSBRIDGE_SECRET_STORE", None);
    let status = one_shot(&home, "anotherpass.status", json!({}));
    assert_eq!(status["linked"], true);
    assert_eq!(status["secrets"], "keyring");
    assert!(
        status["problem"].as_str().unwrap().contains("D-Bus"),
        "{status:#}"
    );
    let (_, stdout) = doctor(&home);
    assert!(
        stdout.contains("keyring that cannot be reached"),
        "{stdout}"
    );
    home.env.truncate(kept);

    let r = one_shot(&home, "anotherpass.unlink", json!({}));
    assert_eq!(r["unlinked"], true);
    assert!(session.lookup(&user).is_none(), "unlink deletes the entry");
    let status = one_shot(&home, "anotherpass.status", json!({}));
    assert_eq!(status["linked"], false);
}

/// `passbridge doctor` in `home`: (exit success, stdout).
fn doctor(home: &host::Home) -> (bool, String) {
    let out = home.command().arg("doctor").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_plaintext_link_moves_into_the_keyring_on_first_use() {
    let Some(session) = Session::start() else {
        return;
    };
    let phone = Phone::start();
    let mut home = session.home(&phone);
    // Linked where the file was the store (an older passbridge, or a headless session).
    let kept = home.env.len();
    home.set_env("PASSBRIDGE_SECRET_STORE", Some("file"));
    let confirmed = link(&home, &phone);
    assert_eq!(confirmed["secrets"], "file");
    let text = std::fs::read_to_string(link_file(&home)).unwrap();
    assert!(text.contains("client_private_key") && text.contains("base_key"));
    home.env.truncate(kept);

    // The first use where the keyring answers moves the keys and empties the file of them.
    let status = one_shot(&home, "anotherpass.status", json!({}));
    assert_eq!(status["linked"], true);
    assert_eq!(status["secrets"], "keyring", "{status:#}");
    let text = std::fs::read_to_string(link_file(&home)).unwrap();
    assert!(
        !text.contains("client_private_key") && !text.contains("base_key"),
        "{text}"
    );
    let stored = session
        .lookup(&entry_user(&read_link_file(&link_file(&home))))
        .expect("moved into the keyring");
    assert!(stored.ends_with(&phone.base_key().unwrap()));
    phone.push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    let r = one_shot(&home, "anotherpass.get_client_key", json!({}));
    assert_eq!(r["client_key_received"], true);

    // Relinking replaces the entry: the old one is deleted, not left behind.
    let old = entry_user(&read_link_file(&link_file(&home)));
    assert_eq!(link(&home, &phone)["secrets"], "keyring");
    let new = entry_user(&read_link_file(&link_file(&home)));
    assert_ne!(old, new);
    assert!(session.lookup(&old).is_none());
    assert!(session.lookup(&new).is_some());
    // forget: the entry goes with the file.
    let r = one_shot(&home, "anotherpass.unlink", json!({"forget": true}));
    assert_eq!(r["unlinked"], true);
    assert!(session.lookup(&new).is_none());
}

/// No keyring at all: the file, said in status, doctor and the link confirmation. Needs no
/// D-Bus, so it runs everywhere.
#[test]
fn without_a_keyring_the_file_fallback_is_reported_everywhere() {
    let phone = Phone::start();
    let mut home = home_for(&phone);
    let empty = tempfile::tempdir().unwrap();
    home.set_env("PASSBRIDGE_SECRET_STORE", None);
    home.set_env("DBUS_SESSION_BUS_ADDRESS", None);
    home.set_env("XDG_RUNTIME_DIR", Some(empty.path().to_str().unwrap()));
    let status = one_shot(&home, "status", json!({}));
    assert_eq!(status["secret_store"]["kind"], "file", "{status:#}");
    assert!(
        status["secret_store"]["reason"]
            .as_str()
            .unwrap()
            .contains("no D-Bus session bus"),
        "{status:#}"
    );
    let confirmed = link(&home, &phone);
    assert_eq!(confirmed["secrets"], "file");
    let warning = confirmed["warning"].as_str().expect("a warning");
    assert!(
        warning.contains("not in a keyring") && warning.contains("anotherpass-link.json"),
        "{warning}"
    );
    let status = one_shot(&home, "anotherpass.status", json!({}));
    assert_eq!(status["secrets"], "file");
    let (_, stdout) = doctor(&home);
    assert!(stdout.contains("warn  no keyring is used"), "{stdout}");
    // Required but absent: an error, not a quiet fallback.
    home.set_env("PASSBRIDGE_SECRET_STORE", Some("keyring"));
    let status = one_shot(&home, "status", json!({}));
    assert_eq!(status["secret_store"]["kind"], "error", "{status:#}");
    let reply = one_shot_reply(&home, "anotherpass.status", json!({}));
    assert_eq!(
        reply["ok"], true,
        "the keys are in the file, still readable: {reply:#}"
    );
}

/// The Passman app password and the PassWeaver API key secret: a file written without a keyring
/// (as before) moves into it when read, and removing the account deletes the entry.
#[test]
fn passman_and_passweaver_secrets_move_into_the_keyring_and_go_with_the_account() {
    let Some(session) = Session::start() else {
        return;
    };
    let phone = Phone::start();
    let home = session.home(&phone);
    let passman = home.path().join("data").join("passman-account.json");
    let passweaver = home.path().join("config").join("passweaver.json");
    std::fs::create_dir_all(passman.parent().unwrap()).unwrap();
    std::fs::write(
        &passman,
        json!({"server": "https://127.0.0.1:9/", "login": "alice",
               "app_password": "app-secret-123", "lock_timeout_minutes": 60})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        &passweaver,
        json!({"server": "https://127.0.0.1:9/", "api_key": "k1", "secret": "api-secret-456"})
            .to_string(),
    )
    .unwrap();

    let s = one_shot(&home, "passman.status", json!({}));
    assert_eq!(s["configured"], true, "{s:#}");
    let s = one_shot(&home, "passweaver.status", json!({}));
    assert_eq!(s["configured"], true, "{s:#}");
    let mut entries = Vec::new();
    for (file, secret, kind) in [
        (&passman, "app-secret-123", "passman-app-password"),
        (&passweaver, "api-secret-456", "passweaver-api-key-secret"),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains(secret), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let user = format!("{kind}/{}", v["keyring"].as_str().expect("an entry id"));
        assert_eq!(session.lookup(&user).unwrap(), secret.as_bytes());
        entries.push(user);
    }
    // Read back from the keyring by a new process.
    let s = one_shot(&home, "passweaver.status", json!({}));
    assert_eq!(s["auth"], "api_key", "{s:#}");

    assert_eq!(
        one_shot(&home, "passman.remove", json!({}))["removed"],
        true
    );
    assert_eq!(
        one_shot(&home, "passweaver.remove", json!({}))["removed"],
        true
    );
    for user in entries {
        assert!(session.lookup(&user).is_none(), "{user} was deleted");
    }
}
