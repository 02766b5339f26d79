//! The backends together, through the built host binary (framed JSON): ANOTHERpass results land
//! in the local vault, the vault works without the phone and follows it, Clarion guards both,
//! and two browsers (two host processes) share one vault. The phone is the spec-faithful
//! simulator, Clarion the spec-faithful fake; both are real HTTP servers on loopback.
use crate::support::anotherpass_sim;
use crate::support::clarion_fake;
use crate::support::host;

use anotherpass_sim::{Credential, LoggedRequest, RequestState, Script, Sim, SimConfig};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clarion_fake::FakeClarion;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ORIGIN: &str = "chrome-extension://knldjmfmopnpolahpmmgbagdohdnhkik/";
/// The vault's local password (`vault.set_password`).
const LOCAL_PASSWORD: &str = "local vault password 42";
/// A security key's credential handle (base64url), registered with the fake Clarion.
const KEY_HANDLE: &str = "Y3Jvc3MtYmFja2VuZC1rZXk";

// ------------------------------------------------------------------ helpers

/// Waits for something another process does; the deadline only turns a hang into a failure.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + host::TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A simulated phone with RSA-2048 app keys.
fn phone() -> Sim {
    Sim::start(SimConfig::fast())
}

/// Adds a credential to the phone and returns its uid.
fn add(sim: &Sim, name: &str, user: &str, password: &str, website: &str) -> String {
    sim.add_credential(Credential::new(name, user, password, website))
        .expect("simulator credentials have a uid")
}

/// The phone's `request_credential` polls of one command, in order.
fn polls_of(sim: &Sim, command: &str) -> Vec<LoggedRequest> {
    sim.api_requests()
        .into_iter()
        .filter(|r| r.command() == Some(command))
        .collect()
}

/// The sorted uids of a `vault.list` / `vault.search` result.
fn uids_of(listing: &Value) -> Vec<String> {
    let mut v: Vec<String> = listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uid"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn sorted(uids: &[String]) -> Vec<String> {
    let mut v = uids.to_vec();
    v.sort();
    v
}

/// The ways a 32-byte key could be written into text: base64 (padded), base64url, hex.
fn key_spellings(key_b64: &str) -> Vec<String> {
    let raw = STANDARD
        .decode(key_b64.trim())
        .expect("clientKey is base64");
    assert_eq!(raw.len(), 32);
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        STANDARD.encode(&raw),
        URL_SAFE_NO_PAD.encode(&raw),
        hex.clone(),
        hex.to_uppercase(),
    ]
}

/// Every file under `dir`, recursively: (path, contents).
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// One browser profile: a passbridge home (config and data) whose ANOTHERpass settings point at
/// the simulated phone, with small RSA keys and quick polling.
struct Profile {
    home: host::Home,
}

impl Profile {
    fn new(sim: &Sim) -> Self {
        let home = host::Home::new();
        // Each browser session starts locked here (these tests are about what unlocks it and
        // what a new session sees); tests/agent.rs covers sessions that share one unlock.
        home.write_config(&json!({
            "agent": false,
            "allowed": {"chrome_origins": [ORIGIN]},
            "anotherpass": {"server": "127.0.0.1", "port": sim.port(), "rsa_bits": 2048,
                            "poll_interval_ms": 50, "timeout_ms": 60000, "http_timeout_ms": 20000},
            "vault": {"argon2_memory_kib": 1024},
        }));
        Self { home }
    }

    /// A host process, as the browser starts it for `connectNative`.
    fn browser(&self) -> Browser {
        Browser::new(self.home.spawn(&[ORIGIN]))
    }

    /// A host logging everything (`PASSBRIDGE_LOG=trace`) to `log_file` and its stderr to
    /// `stderr_file`.
    fn traced_browser(&self, log_file: &Path, stderr_file: &Path) -> Browser {
        // host.rs lets stderr through to the test's; a shell redirects it into the file.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("exec \"$0\" \"$@\" 2>\"$PB_TEST_STDERR\"")
            .arg(host::BIN)
            .arg(ORIGIN)
            .env("PASSBRIDGE_HOME", self.home.path())
            .env("PASSBRIDGE_LOG", "trace")
            .env("PASSBRIDGE_LOG_FILE", log_file)
            .env("PB_TEST_STDERR", stderr_file);
        Browser::new(host::Host::start(&mut cmd))
    }
}

/// A running host process. Every frame it sent that a test looked at is kept, so a test can
/// check that a secret never went out.
struct Browser {
    host: host::Host,
    next_id: u64,
    frames: Vec<Value>,
}

impl Browser {
    fn new(host: host::Host) -> Self {
        Self {
            host,
            next_id: 0,
            frames: Vec::new(),
        }
    }

    /// Sends a request and returns its id.
    fn send(&mut self, action: &str, params: Value, progress: bool) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.host
            .send(&json!({"id": id, "action": action, "params": params, "progress": progress}));
        id
    }

    /// The final reply of `id` and its progress events.
    fn finish(&mut self, id: &Value) -> (Value, Vec<Value>) {
        let (reply, events, _) = self.host.reply_for(id);
        self.frames.extend(events.iter().cloned());
        self.frames.push(reply.clone());
        (reply, events)
    }

    /// One request with progress events on; its reply and events.
    fn call(&mut self, action: &str, params: Value) -> (Value, Vec<Value>) {
        let id = self.send(action, params, true);
        self.finish(&id)
    }

    #[track_caller]
    fn ok(&mut self, action: &str, params: Value) -> Value {
        host::ok(&self.call(action, params).0).clone()
    }

    #[track_caller]
    fn err(&mut self, action: &str, params: Value) -> (String, String) {
        let (reply, _) = self.call(action, params);
        let (code, message) = host::error(&reply);
        (code.to_owned(), message.to_owned())
    }

    /// Waits for the progress event of `id` that asks for a Clarion approval; returns the authn
    /// id and the event. Fails if `id` finishes first.
    fn approval_pending(&mut self, id: &Value) -> (String, Value) {
        loop {
            let f = self.host.recv();
            self.frames.push(f.clone());
            if &f["id"] != id {
                // Another request's frame: keep it where reply_for finds it.
                continue;
            }
            assert_eq!(
                f["event"], "progress",
                "finished before asking for approval: {f}"
            );
            if f["stage"] == "approval_pending" {
                let url = f["html_url"].as_str().expect("html_url").to_owned();
                return (url.rsplit('/').next().unwrap().to_owned(), f);
            }
        }
    }

    /// Every frame kept so far, as text.
    fn transcript(&self) -> String {
        self.transcript_since(0)
    }

    /// The frames kept after the first `n`, as text.
    fn transcript_since(&self, n: usize) -> String {
        self.frames[n..]
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Links the phone (start, the owner scans, complete, both sides confirm); returns the
    /// webClientId.
    fn link(&mut self, sim: &Sim) -> String {
        let started = self.ok("anotherpass.link.start", json!({}));
        sim.scan_qr(started["qr_payload"].as_str().unwrap())
            .unwrap();
        let done = self.ok("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
        assert_eq!(
            done["fingerprint"].as_str(),
            sim.last_link_fingerprint().as_deref()
        );
        assert_eq!(
            self.ok("anotherpass.link.confirm", json!({"matches": true}))["linked"],
            true
        );
        started["web_client_id"].as_str().unwrap().to_owned()
    }

    fn vault_status(&mut self) -> Value {
        self.ok("vault.status", json!({}))
    }

    fn vault_password(&mut self, uid: &str) -> String {
        self.ok("vault.get", json!({"uid": uid}))["password"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Closes stdin; the host must exit cleanly.
    fn close(self) {
        assert_eq!(self.host.close(), Some(0), "the host did not exit cleanly");
    }
}

/// A Clarion fake with one registered key and this policy, set up through `browser`.
fn clarion_with_policy(browser: &mut Browser, require: &[&str]) -> FakeClarion {
    let fake = FakeClarion::start();
    fake.set_allowed_callback("chrome-extension://");
    let started = browser.ok("clarion.register.start", json!({"server": fake.base}));
    let url = started["url"].as_str().unwrap().to_owned();
    assert_eq!(fake.open(&url).0, 200, "Clarion refused {url}");
    let done = fake.complete_registration(KEY_HANDLE, Some("yubikey"), Some(0));
    assert_eq!(
        done.callback,
        format!("js:{}", ORIGIN.trim_end_matches('/'))
    );
    let key = browser.ok(
        "clarion.register.finish",
        json!({"state": done.state, "data": done.data}),
    );
    assert_eq!(key["key"]["handle"], KEY_HANDLE);
    let policy = browser.ok(
        "clarion.policy.set",
        json!({"require": require, "approval_ttl_seconds": 0}),
    );
    assert_eq!(policy["approval_used"], false, "strengthening is free");
    assert_eq!(fake.authn_count(), 0);
    fake
}

// ------------------------------------------------------------------ ANOTHERpass → vault

#[test]
fn phone_results_land_in_the_vault_and_the_key_stays_inside() {
    let sim = phone();
    let gh = add(&sim, "GitHub", "octo", "gh-pass-1", "github.com");
    let gl = add(&sim, "GitLab", "fox", "gl-pass-2", "https://gitlab.com");
    let bank = add(&sim, "Bank", "me", "bank-pass-3", "bank.example");
    let profile = Profile::new(&sim);
    let logs = tempfile::tempdir().unwrap();
    let (log_file, stderr_file) = (logs.path().join("host.log"), logs.path().join("stderr"));
    let mut b = profile.traced_browser(&log_file, &stderr_file);
    let wcid = b.link(&sim);
    assert_eq!(b.vault_status()["exists"], false);

    // One credential for a site: stored, and the vault opened with the phone's key.
    let one = b.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://github.com/login"}),
    );
    assert_eq!(one["credential"]["uid"], gh.as_str());
    assert_eq!(one["vault_updated"], true, "{one}");
    let s = b.vault_status();
    assert_eq!(
        (s["exists"].clone(), s["locked"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(s["entries"], 1);
    let found = b.ok(
        "vault.search",
        json!({"url": "https://github.com/settings"}),
    );
    assert_eq!(uids_of(&found), [gh.as_str()]);
    assert_eq!(found["items"][0]["user"], "octo");
    assert!(found["items"][0].get("password").is_none(), "{found}");
    assert!(!found.to_string().contains("gh-pass-1"), "{found}");
    assert_eq!(b.vault_password(&gh), "gh-pass-1");

    // The whole vault.
    let all = b.ok("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(all["credentials"].as_array().unwrap().len(), 3);
    assert_eq!(all["vault_updated"], true, "{all}");
    assert_eq!(b.vault_status()["entries"], 3);
    let listed = b.ok("vault.list", json!({}));
    assert_eq!(
        uids_of(&listed),
        sorted(&[gh.clone(), gl.clone(), bank.clone()])
    );
    assert!(!listed.to_string().contains("-pass-"), "{listed}");
    let found = b.ok(
        "vault.search",
        json!({"url": "https://gitlab.com/users/sign_in"}),
    );
    assert_eq!(uids_of(&found), [gl.as_str()]);
    assert_eq!(b.vault_password(&gl), "gl-pass-2");
    assert_eq!(b.vault_password(&bank), "bank-pass-3");
    b.ok("vault.set_password", json!({"password": LOCAL_PASSWORD}));

    // The key leaves passbridge only when the extension asks for it.
    let kept = b.ok("anotherpass.get_client_key", json!({}));
    assert_eq!(kept["client_key_received"], true);
    assert!(kept.get("client_key").is_none(), "{kept}");
    let before_reveal = b.transcript();
    let revealed = b.ok("anotherpass.get_client_key", json!({"reveal": true}));
    let key_b64 = sim.client_key_for(&wcid);
    assert_eq!(revealed["client_key"], key_b64.trim_end());
    b.close();

    let log = std::fs::read_to_string(&log_file).unwrap();
    let stderr = std::fs::read_to_string(&stderr_file).unwrap();
    // The check below only means something if the host did log at trace level.
    assert!(log.contains(" TRACE ") || log.contains(" DEBUG "), "{log}");
    assert!(stderr.contains(&log[..log.find('\n').unwrap()]), "{stderr}");
    let secrets: Vec<String> = key_spellings(&key_b64)
        .into_iter()
        .chain(["gh-pass-1", "gl-pass-2", "bank-pass-3", LOCAL_PASSWORD].map(String::from))
        .collect();
    // Nor in any file passbridge wrote (vault, link, config): only ciphertext there.
    let files = files_under(profile.home.path());
    assert!(
        files
            .iter()
            .any(|(p, _)| p.starts_with(profile.home.path().join("data/vault"))),
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for secret in &secrets {
        assert!(!log.contains(secret), "the log file has {secret}");
        assert!(!stderr.contains(secret), "stderr has {secret}");
        for (path, bytes) in &files {
            assert!(!contains(bytes, secret), "{} has {secret}", path.display());
        }
    }
    for k in key_spellings(&key_b64) {
        assert!(
            !before_reveal.contains(&k),
            "the clientKey went to the extension unasked"
        );
    }
}

#[test]
fn the_vault_serves_from_disk_when_the_phone_is_away() {
    let sim = phone();
    let gh = add(&sim, "GitHub", "octo", "gh-pass", "github.com");
    let mail = add(&sim, "Mail", "me", "mail-pass", "mail.example");
    let profile = Profile::new(&sim);
    let mut b = profile.browser();
    b.link(&sim);
    assert_eq!(
        b.ok("anotherpass.fetch_all_credentials", json!({}))["vault_updated"],
        true
    );
    b.ok("vault.set_password", json!({"password": LOCAL_PASSWORD}));
    b.close();

    // The phone leaves; a new browser session opens the vault with the local password.
    sim.set_listening(false).unwrap();
    let asked_before = sim.api_requests().len();
    let mut b = profile.browser();
    let s = b.vault_status();
    assert_eq!(
        (
            s["exists"].clone(),
            s["locked"].clone(),
            s["password_set"].clone()
        ),
        (json!(true), json!(true), json!(true))
    );
    assert_eq!(b.err("vault.get", json!({"uid": gh})).0, "vault_locked");
    let (code, _) = b.err("vault.unlock", json!({"password": "not the password"}));
    assert_eq!(code, "vault_wrong_password");
    let s = b.ok("vault.unlock", json!({"password": LOCAL_PASSWORD}));
    assert_eq!(
        (s["locked"].clone(), s["entries"].clone()),
        (json!(false), json!(2))
    );
    let found = b.ok("vault.search", json!({"url": "https://mail.example/inbox"}));
    assert_eq!(uids_of(&found), [mail.as_str()]);
    assert_eq!(b.vault_password(&mail), "mail-pass");
    assert_eq!(b.vault_password(&gh), "gh-pass");
    assert_eq!(
        sim.api_requests().len(),
        asked_before,
        "the phone was not needed"
    );
    b.close();

    // The phone is back: unlocking without a password asks it for the key.
    sim.set_listening(true).unwrap();
    let mut b = profile.browser();
    assert_eq!(b.vault_status()["locked"], true);
    let (r, events) = b.call("vault.unlock", json!({}));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["result"]["locked"], false);
    assert_eq!(r["result"]["entries"], 2);
    assert!(
        events.iter().any(|e| e["stage"] == "waiting_for_phone"),
        "{events:?}"
    );
    assert_eq!(polls_of(&sim, "get_client_key").last().unwrap().status, 200);
    assert_eq!(b.vault_password(&gh), "gh-pass");
    b.close();
}

#[test]
fn sync_follows_changes_on_the_phone() {
    let sim = phone();
    let changed = add(&sim, "GitHub", "octo", "old-pass", "github.com");
    let deleted = add(&sim, "Forum", "me", "forum-pass", "forum.example");
    let veiled = add(&sim, "Bank", "me", "bank-pass", "bank.example");
    let same = add(&sim, "Mail", "me", "mail-pass", "mail.example");
    let profile = Profile::new(&sim);
    let mut b = profile.browser();
    b.link(&sim);
    b.ok("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(b.vault_status()["entries"], 4);

    // On the phone: a new password, a deletion, a credential hidden (veiled, still there), and a
    // new credential the vault never saw.
    assert!(sim.update_credential(&changed, |c| c.password = "new-pass".into()));
    assert!(sim.remove_credential(&deleted));
    assert!(sim.update_credential(&veiled, |c| c.veiled = true));
    let fresh = add(&sim, "New", "me", "new-cred-pass", "new.example");

    // The phone's answer leaves out deleted and veiled credentials alike: sync keeps both and
    // reports them, it never deletes.
    let r = b.ok("vault.sync", json!({}));
    let missing = sorted(&[deleted.clone(), veiled.clone()]);
    assert_eq!(
        r,
        json!({"updated": 1, "unchanged": 1, "missing": missing, "missing_count": 2, "asked": 4})
    );
    let asked = polls_of(&sim, "fetch_credentials_for_uids");
    let sent: Vec<String> = asked[0].payload.as_ref().unwrap()["uids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        sorted(&sent),
        sorted(&[
            changed.clone(),
            deleted.clone(),
            veiled.clone(),
            same.clone()
        ])
    );
    assert_eq!(b.vault_password(&changed), "new-pass");
    assert_eq!(b.vault_password(&same), "mail-pass");
    assert_eq!(b.vault_password(&veiled), "bank-pass");
    assert_eq!(b.vault_password(&deleted), "forum-pass");
    assert_eq!(
        b.err("vault.get", json!({"uid": fresh})).0,
        "vault_not_found"
    );
    assert_eq!(
        uids_of(&b.ok("vault.list", json!({}))),
        sorted(&[
            changed.clone(),
            deleted.clone(),
            veiled.clone(),
            same.clone()
        ])
    );

    // The user deletes what is really gone; the veiled one stays reported until it is unveiled.
    b.ok("vault.delete", json!({"uid": deleted}));
    let r = b.ok("vault.sync", json!({}));
    assert_eq!(
        r,
        json!({"updated": 0, "unchanged": 2, "missing": [veiled], "missing_count": 1, "asked": 3})
    );
    assert!(sim.update_credential(&veiled, |c| c.veiled = false));
    let r = b.ok("vault.sync", json!({}));
    assert_eq!(
        r,
        json!({"updated": 0, "unchanged": 3, "missing": [], "missing_count": 0, "asked": 3})
    );
    b.close();
}

#[test]
fn the_choice_for_a_site_is_sent_to_the_phone_next_time() {
    let sim = phone();
    let work = add(&sim, "Work", "me@work", "work-pass", "example.com");
    let private = add(&sim, "Private", "me@home", "home-pass", "example.com");
    let profile = Profile::new(&sim);
    let mut b = profile.browser();
    b.link(&sim);

    // First visit: nothing remembered yet; the owner picks the second of two matches.
    sim.set_user(Script::accept().pick(&[&private]));
    let first = b.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://example.com/login"}),
    );
    assert_eq!(first["credential"]["uid"], private.as_str());
    let sent = polls_of(&sim, "fetch_credential_for_url");
    assert!(sent[0].payload.as_ref().unwrap().get("uid").is_none());

    // Next visit (another page of the site): the choice goes to the phone, which preselects it;
    // left to itself the owner would have taken the first match.
    sim.set_user(Script::accept());
    sim.clear_requests();
    let next = b.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://www.example.com/account"}),
    );
    let sent = polls_of(&sim, "fetch_credential_for_url");
    assert_eq!(sent[0].payload.as_ref().unwrap()["uid"], private.as_str());
    assert_eq!(next["credential"]["uid"], private.as_str());
    assert_eq!(next["credential"]["password"], "home-pass");

    // The vault shows the choice too.
    let found = b.ok("vault.search", json!({"url": "https://example.com/"}));
    assert_eq!(found["items"][0]["uid"], private.as_str());
    assert_eq!(found["items"][0]["remembered"], true);

    // An explicit uid wins over the remembered one, and becomes the new choice.
    sim.clear_requests();
    b.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://example.com/", "uid": work}),
    );
    sim.clear_requests();
    let again = b.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://example.com/"}),
    );
    assert_eq!(again["credential"]["uid"], work.as_str());
    let sent = polls_of(&sim, "fetch_credential_for_url");
    assert_eq!(sent[0].payload.as_ref().unwrap()["uid"], work.as_str());
    b.close();
}

#[test]
fn relinking_keeps_the_vault_readable_and_another_vault_is_refused() {
    let sim = phone();
    let gh = add(&sim, "GitHub", "octo", "gh-pass", "github.com");
    add(&sim, "Mail", "me", "mail-pass", "mail.example");
    let profile = Profile::new(&sim);
    let mut b = profile.browser();
    let wcid = b.link(&sim);
    b.ok("anotherpass.fetch_all_credentials", json!({}));
    b.ok("vault.set_password", json!({"password": LOCAL_PASSWORD}));
    let key = b.ok("anotherpass.get_client_key", json!({"reveal": true}))["client_key"].clone();

    // Unlink, delete the link on the phone, link again: same identity, vault id sent.
    let gone = b.ok("anotherpass.unlink", json!({}));
    assert_eq!(gone, json!({"unlinked": true, "identity_kept": true}));
    assert!(sim.delete_link(&wcid));
    assert_eq!(b.link(&sim), wcid);
    let relink = sim
        .api_requests()
        .into_iter()
        .rfind(|r| r.action() == Some("link_app"))
        .unwrap();
    assert_eq!(
        relink.payload.as_ref().unwrap()["vaultId"],
        sim.vault_id().as_str()
    );
    assert_eq!(
        b.ok("anotherpass.get_client_key", json!({"reveal": true}))["client_key"],
        key
    );
    b.close();

    // A new session: the new link's key opens the existing vault.
    let mut b = profile.browser();
    let s = b.ok("vault.unlock", json!({}));
    assert_eq!(
        (s["locked"].clone(), s["entries"].clone()),
        (json!(false), json!(2))
    );
    assert_eq!(b.vault_password(&gh), "gh-pass");

    // The phone now holds another vault (restored from elsewhere): relinking is refused.
    b.ok("anotherpass.unlink", json!({}));
    assert!(sim.delete_link(&wcid));
    sim.set_vault_salt(&[7u8; 128]);
    sim.set_master_key(&[8u8; 32]);
    let started = b.ok("anotherpass.link.start", json!({}));
    assert_eq!(started["relink"], true);
    sim.scan_qr(started["qr_payload"].as_str().unwrap())
        .unwrap();
    let (code, msg) = b.err("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
    assert_eq!(code, "vault_mismatch", "{msg}");
    assert_eq!(b.ok("anotherpass.status", json!({}))["linked"], false);
    assert_eq!(b.vault_status()["entries"], 2);
    b.close();

    // A fresh link to that other vault: its key does not open this vault, which is left as it was.
    let mut b = profile.browser();
    let started = b.ok("anotherpass.link.start", json!({"fresh": true}));
    let other_wcid = started["web_client_id"].as_str().unwrap().to_owned();
    assert_ne!(other_wcid, wcid);
    sim.scan_qr(started["qr_payload"].as_str().unwrap())
        .unwrap();
    b.ok("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
    b.ok("anotherpass.link.confirm", json!({"matches": true}));
    let r = b.ok("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(r["vault_updated"], false, "{r}");
    assert_eq!(r["vault_error"]["code"], "vault_wrong_key", "{r}");
    assert_eq!(b.vault_status()["locked"], true);
    let s = b.ok("vault.unlock", json!({"password": LOCAL_PASSWORD}));
    assert_eq!(s["entries"], 2);
    assert_eq!(b.vault_password(&gh), "gh-pass");
    b.close();
}

// ------------------------------------------------------------------ Clarion guards the rest

#[test]
fn clarion_approval_guards_vault_reads_and_unlocks() {
    let sim = phone();
    let gh = add(&sim, "GitHub", "octo", "gh-guarded-pass", "github.com");
    let profile = Profile::new(&sim);
    let mut b = profile.browser();
    b.link(&sim);
    b.ok("anotherpass.fetch_all_credentials", json!({}));
    b.ok("vault.set_password", json!({"password": LOCAL_PASSWORD}));
    let fake = clarion_with_policy(&mut b, &["vault_get", "vault_unlock"]);
    let mut counter = 0;

    // vault.get waits for the touch; meanwhile the host answers other requests.
    let seen = b.frames.len();
    let get = b.send("vault.get", json!({"uid": gh}), true);
    let (authn, event) = b.approval_pending(&get);
    assert_eq!(event["operation"], "vault_get");
    assert_eq!(event["html_url"], format!("{}/authn/{authn}", fake.base));
    assert_eq!(b.vault_status()["locked"], false);
    assert_eq!(fake.authn(&authn).status, "open");
    assert!(
        !b.transcript_since(seen).contains("gh-guarded-pass"),
        "sent before approval"
    );
    counter += 1;
    fake.verify(&authn, KEY_HANDLE, counter);
    let (r, events) = b.finish(&get);
    assert_eq!(r["result"]["password"], "gh-guarded-pass", "{r}");
    assert!(events.iter().any(|e| e["stage"] == "approval_verified"));

    // Cancelled on the Clarion page: no password.
    let seen = b.frames.len();
    let get = b.send("vault.get", json!({"uid": gh}), true);
    let (authn, _) = b.approval_pending(&get);
    fake.cancel(&authn);
    let (r, _) = b.finish(&get);
    assert_eq!(r["error"]["code"], "approval_cancelled", "{r}");
    let after = b.transcript_since(seen);
    assert!(!after.contains("gh-guarded-pass"), "{after}");

    // Without progress events nobody could see the page: refused at once, no authn made.
    let authns = fake.authn_count();
    let get = b.send("vault.get", json!({"uid": gh}), false);
    let (r, events) = b.finish(&get);
    assert_eq!(r["error"]["code"], "approval_required", "{r}");
    assert!(events.is_empty());
    assert_eq!(fake.authn_count(), authns);

    // vault_unlock: a new session's password unlock waits for the touch as well.
    b.close();
    let mut b = profile.browser();
    let unlock = b.send("vault.unlock", json!({"password": LOCAL_PASSWORD}), true);
    let (authn, event) = b.approval_pending(&unlock);
    assert_eq!(event["operation"], "vault_unlock");
    assert_eq!(b.vault_status()["locked"], true, "unlocked before approval");
    fake.cancel(&authn);
    assert_eq!(b.finish(&unlock).0["error"]["code"], "approval_cancelled");
    assert_eq!(b.vault_status()["locked"], true);

    // The phone unlock: approval first, only then is the phone asked.
    let asked = polls_of(&sim, "get_client_key").len();
    let unlock = b.send("vault.unlock", json!({}), true);
    let (authn, _) = b.approval_pending(&unlock);
    assert_eq!(
        polls_of(&sim, "get_client_key").len(),
        asked,
        "phone asked first"
    );
    counter += 1;
    fake.verify(&authn, KEY_HANDLE, counter);
    let (r, _) = b.finish(&unlock);
    assert_eq!(r["result"]["locked"], false, "{r}");
    assert!(polls_of(&sim, "get_client_key").len() > asked);

    // Unlocked: the read still needs its own touch (TTL 0).
    let get = b.send("vault.get", json!({"uid": gh}), true);
    let (authn, _) = b.approval_pending(&get);
    counter += 1;
    fake.verify(&authn, KEY_HANDLE, counter);
    assert_eq!(b.finish(&get).0["result"]["password"], "gh-guarded-pass");
    b.close();
}

#[test]
fn a_phone_result_does_not_unlock_the_vault_past_the_policy() {
    let sim = phone();
    add(&sim, "GitHub", "octo", "gh-pass", "github.com");
    let profile = Profile::new(&sim);
    let mut b = profile.browser();
    b.link(&sim);
    b.ok("anotherpass.fetch_all_credentials", json!({}));
    let fake = clarion_with_policy(&mut b, &["vault_unlock"]);
    b.close();

    // A new session finds the vault locked; a result from the phone carries the clientKey.
    let mail = add(&sim, "Mail", "me", "mail-pass", "mail.example");
    let mut b = profile.browser();
    assert_eq!(b.vault_status()["locked"], true);
    let r = b.ok("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(r["vault_updated"], true, "{r}");
    assert_eq!(
        b.vault_status()["locked"],
        true,
        "a phone result unlocked the vault without an approval"
    );
    assert_eq!(b.err("vault.get", json!({"uid": mail})).0, "vault_locked");
    assert_eq!(fake.authn_count(), 0, "nobody was asked to approve");

    // The approved unlock shows what was saved while locked.
    let unlock = b.send("vault.unlock", json!({}), true);
    let (authn, event) = b.approval_pending(&unlock);
    assert_eq!(event["operation"], "vault_unlock");
    fake.verify(&authn, KEY_HANDLE, 1);
    let (r, _) = b.finish(&unlock);
    assert_eq!(r["result"]["locked"], false, "{r}");
    assert_eq!(r["result"]["entries"], 2, "{r}");
    assert_eq!(b.vault_password(&mail), "mail-pass");

    // Unlocked: a result is taken as before and the vault stays open, no new approval.
    let news = add(&sim, "News", "me", "news-pass", "news.example");
    let r = b.ok("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(r["vault_updated"], true, "{r}");
    assert_eq!(b.vault_password(&news), "news-pass");
    assert_eq!(fake.authn_count(), 1);
    b.close();
}

#[test]
fn clarion_approval_guards_linking_the_phone() {
    let sim = phone();
    let profile = Profile::new(&sim);
    let mut b = profile.browser();
    let fake = clarion_with_policy(&mut b, &["anotherpass_link"]);

    let start = b.send("anotherpass.link.start", json!({}), true);
    let (authn, event) = b.approval_pending(&start);
    assert_eq!(event["operation"], "anotherpass_link");
    assert_eq!(
        b.ok("anotherpass.status", json!({}))["linking"],
        Value::Null
    );
    fake.cancel(&authn);
    assert_eq!(b.finish(&start).0["error"]["code"], "approval_cancelled");
    assert_eq!(
        b.ok("anotherpass.status", json!({}))["linking"],
        Value::Null
    );

    let start = b.send("anotherpass.link.start", json!({}), true);
    let (authn, _) = b.approval_pending(&start);
    fake.verify(&authn, KEY_HANDLE, 1);
    let (r, _) = b.finish(&start);
    let qr = r["result"]["qr_payload"]
        .as_str()
        .expect("a QR code")
        .to_owned();
    sim.scan_qr(&qr).unwrap();
    b.ok("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
    assert_eq!(
        b.ok("anotherpass.link.confirm", json!({"matches": true}))["linked"],
        true
    );

    // Unlinking is guarded the same way; without progress it is refused and nothing changes.
    let unlink = b.send("anotherpass.unlink", json!({}), false);
    assert_eq!(b.finish(&unlink).0["error"]["code"], "approval_required");
    assert_eq!(b.ok("anotherpass.status", json!({}))["linked"], true);
    b.close();
}

// ------------------------------------------------------------------ two browsers, one vault

#[test]
fn two_browsers_receive_into_one_vault_at_the_same_time() {
    const PER_SET: usize = 4;
    let sim = phone();
    // Six disjoint sets of credentials: rounds × browsers.
    let sets: Vec<Vec<String>> = (0..6)
        .map(|s| {
            (0..PER_SET)
                .map(|i| {
                    add(
                        &sim,
                        &format!("Site {s}-{i}"),
                        &format!("user{s}{i}"),
                        &format!("pass-{s}-{i}"),
                        &format!("site{s}x{i}.example"),
                    )
                })
                .collect()
        })
        .collect();
    let profile = Profile::new(&sim);
    let mut a = profile.browser();
    a.link(&sim);
    let mut b = profile.browser();

    fn fetch(br: &mut Browser, set: &[String]) -> Value {
        br.send(
            "anotherpass.fetch_credentials_for_uids",
            json!({"uids": set}),
            true,
        )
    }
    fn stored(br: &mut Browser, id: &Value) {
        let (r, _) = br.finish(id);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["result"]["vault_updated"], true, "{r}");
    }
    // Both requests reach the phone before the owner answers: one is on the acceptance sheet,
    // the other is told to wait (409) and polls again.
    let at_once = |a: &mut Browser, b: &mut Browser, set_a: &[String], set_b: &[String]| {
        sim.clear_requests();
        sim.set_user(Script::never());
        let (ia, ib) = (fetch(a, set_a), fetch(b, set_b));
        wait_until("both requests at the phone", || {
            sim.request_state().0 == RequestState::AwaitingAcceptance
                && sim.api_requests().iter().any(|r| r.status == 409)
        });
        sim.set_user(Script::accept());
        sim.user_accept().unwrap();
        stored(a, &ia);
        stored(b, &ib);
    };

    // Round 1, at once; the first result creates the vault.
    at_once(&mut a, &mut b, &sets[0], &sets[1]);
    // Round 2, one after the other: each browser holds the vault open with what it saw last,
    // so the second writes on top of a view that is out of date.
    let ia = fetch(&mut a, &sets[2]);
    stored(&mut a, &ia);
    let ib = fetch(&mut b, &sets[3]);
    stored(&mut b, &ib);
    // Round 3, at once again, into a vault both have open.
    at_once(&mut a, &mut b, &sets[4], &sets[5]);

    let everything: Vec<String> = sets.concat();
    for br in [&mut a, &mut b] {
        let listed = br.ok("vault.list", json!({"limit": 1000}));
        assert_eq!(listed["total"], everything.len());
        assert_eq!(uids_of(&listed), sorted(&everything));
    }
    a.ok("vault.set_password", json!({"password": LOCAL_PASSWORD}));
    a.close();
    b.close();

    // A third session reads every entry back from disk.
    let mut c = profile.browser();
    c.ok("vault.unlock", json!({"password": LOCAL_PASSWORD}));
    for (s, set) in sets.iter().enumerate() {
        for (i, uid) in set.iter().enumerate() {
            assert_eq!(c.vault_password(uid), format!("pass-{s}-{i}"));
        }
    }
    c.close();
}
