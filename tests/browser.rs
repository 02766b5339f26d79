//! The host in real browsers (spec §4.7): headless Chromium and Firefox ESR load the test
//! extension from tests/browser/, which talks to the built host through the browser's own native
//! messaging and reports every reply to the test. Without the browsers installed these tests skip
//! loudly, except under CI, where they fail. Both browsers also run at once against one
//! passbridge agent: an unlock in one serves the other.
#![cfg(target_os = "linux")]

use crate::support::browser;
use crate::support::vault as vault_support;

use browser::{Kind, Launched, Mode, Run, Sandbox};
use passbridge::config::Paths;
use passbridge::vault::{self, ManualClock, format};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn chromium_extension_uses_the_host() {
    if let Some(run) = browser::run(Kind::Chromium, Mode::Full) {
        assert_full(&run);
    }
}

#[test]
fn firefox_extension_uses_the_host() {
    if let Some(run) = browser::run(Kind::Firefox, Mode::Full) {
        assert_full(&run);
    }
}

#[test]
fn chromium_extension_missing_from_the_allowlist_is_refused_by_the_host() {
    if let Some(run) = browser::run(Kind::Chromium, Mode::Refused) {
        assert_refused(&run);
    }
}

#[test]
fn firefox_extension_missing_from_the_allowlist_is_refused_by_the_host() {
    if let Some(run) = browser::run(Kind::Firefox, Mode::Refused) {
        assert_refused(&run);
    }
}

const VAULT_PASSWORD: &str = "correct horse battery";

/// Chromium and Firefox at the same time in one HOME, so one passbridge agent: Firefox alone is
/// given the vault's password and unlocks; Chromium, started alongside and never given it, waits
/// until the vault is unlocked and then searches it from the same unlock.
#[test]
fn chromium_and_firefox_share_one_unlock_through_the_agent() {
    let (Some(chromium), Some(firefox)) = (
        browser::require(Kind::Chromium),
        browser::require(Kind::Firefox),
    ) else {
        return;
    };
    let sb = Sandbox::new();
    for kind in [Kind::Chromium, Kind::Firefox] {
        browser::register(kind, &sb, &browser::extension_id(kind));
    }
    // A vault with two credentials that opens with the password, made in-process (no agent).
    let v = vault::State::with_clock(
        &Paths::under(&sb.pb_home()),
        Duration::from_secs(3600),
        Arc::new(ManualClock::default()),
    );
    v.unlock_with_key(&vault_support::key(1), true).unwrap();
    v.save(&[
        vault_support::cred("u-gh", "GitHub", "https://github.com"),
        vault_support::cred("u-bank", "Bank", "https://bank.example"),
    ])
    .unwrap();
    v.set_password(VAULT_PASSWORD, format::Kdf::TEST).unwrap();
    drop(v);
    let _stop = StopAgent(&sb);

    let url = "https://github.com/login";
    let searcher = Launched::start(
        Kind::Chromium,
        &chromium,
        &sb,
        json!({"mode": "search", "url": url}),
    );
    let unlocker = Launched::start(
        Kind::Firefox,
        &firefox,
        &sb,
        json!({"mode": "unlock", "password": VAULT_PASSWORD, "url": url}),
    );
    // Both run now; collect Firefox's report first (Chromium waits for its unlock meanwhile).
    let unlocked = unlocker.report().unwrap_or_else(|e| panic!("firefox: {e}"));
    let searched = searcher
        .report()
        .unwrap_or_else(|e| panic!("chromium: {e}"));
    let ctx = format!(
        "firefox:\n{}\nchromium:\n{}",
        serde_json::to_string_pretty(&unlocked).unwrap(),
        serde_json::to_string_pretty(&searched).unwrap()
    );
    assert_eq!(unlocked["unlock"]["ok"], true, "{ctx}");
    assert_eq!(
        unlocked["search"]["result"]["items"][0]["uid"], "u-gh",
        "{ctx}"
    );
    // Chromium saw the vault locked at least once unless Firefox was quicker; either way it
    // never had the password, and its search answers from Firefox's unlock.
    let waited = &searched["wait_unlocked"];
    // For people (`--no-capture`): how long Chromium saw the vault locked.
    eprintln!("chromium asked vault.status {} time(s)", waited["polls"]);
    assert_eq!(waited["last"]["ok"], true, "{ctx}");
    assert_eq!(waited["last"]["result"]["locked"], false, "{ctx}");
    assert_eq!(searched["search"]["ok"], true, "{ctx}");
    assert_eq!(searched["search"]["result"]["total"], 1, "{ctx}");
    assert_eq!(
        searched["search"]["result"]["items"][0]["uid"], "u-gh",
        "{ctx}"
    );
    // One agent held it: `passbridge agent status` in the same home says so.
    let mut cmd = std::process::Command::new(browser::BIN);
    sb.env(&mut cmd);
    let out = cmd.args(["agent", "status"]).output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("holds 1 unlock(s)"), "{status}");
}

/// Stops the sandbox's agent when the test ends, pass or fail.
struct StopAgent<'a>(&'a Sandbox);

impl Drop for StopAgent<'_> {
    fn drop(&mut self) {
        let mut cmd = std::process::Command::new(browser::BIN);
        self.0.env(&mut cmd);
        let _ = cmd.args(["agent", "stop"]).output();
    }
}

/// The id the tests register must be the one Chromium derives from the manifest key, or the
/// browser refuses the connection; this pins the derivation to values computed with other tools
/// (`openssl ... -outform DER | sha256sum | cut -c1-32 | tr 0-9a-f a-p`).
#[test]
fn chromium_extension_id_is_derived_from_the_manifest_key() {
    assert_eq!(
        browser::extension_id(Kind::Chromium),
        "joaajilehcaffhenpoolbcihlhoookie"
    );
    // SHA-256 of nothing is e3b0c442 98fc1c14 9afbf4c8 996fb924 ...
    assert_eq!(
        browser::extension::chromium_id(""),
        "odlameecjipmbmbejkplpemijjgpljce"
    );
}

fn context(run: &Run) -> String {
    format!(
        "{} report:\n{}",
        run.kind.name(),
        serde_json::to_string_pretty(&run.report).unwrap()
    )
}

/// Frames of one step, in the order the extension received them.
fn frames<'a>(run: &'a Run, step: &str) -> &'a [Value] {
    run.report[step]["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("step {step} has no frames; {}", context(run)))
}

fn assert_full(run: &Run) {
    let r = &run.report;
    let ctx = context(run);

    // (a) hello through sendNativeMessage (a host process for this one message).
    let hello = &r["hello"];
    assert_eq!(hello["ok"], true, "{ctx}");
    assert_eq!(hello["id"], Value::Null, "{ctx}");
    assert_eq!(hello["result"]["name"], "passbridge", "{ctx}");
    assert_eq!(
        hello["result"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{ctx}"
    );
    assert_eq!(hello["result"]["protocol"], 1, "{ctx}");

    // (b) the echo carries exactly what the extension sent: unicode, escapes, nesting, nonce.
    assert_eq!(
        r["echo"],
        json!({"id": "echo", "ok": true, "result": {"echo": run.echo_sent}}),
        "{ctx}"
    );

    // (c) progress on a connectNative port: the event(s) first, then the final reply.
    let (last, events) = frames(run, "progress")
        .split_last()
        .unwrap_or_else(|| panic!("no frames for id 1; {ctx}"));
    assert_eq!(
        last,
        &json!({"id": 1, "ok": true, "result": {"echo": {"delay_ms": 200, "x": 1}}}),
        "{ctx}"
    );
    assert_eq!(
        events,
        [json!({"id": 1, "event": "progress", "stage": "sleeping", "delay_ms": 200})],
        "{ctx}"
    );

    // (d) concurrency on the same port. The slow request was running (its progress event came
    // first) when the fast one was sent; the fast reply arrived while the slow one still slept,
    // which the successful cancel proves; then the slow one ended as cancelled.
    let frames = frames(run, "concurrency");
    assert_eq!(frames[0]["id"], 2, "{ctx}");
    assert_eq!(frames[0]["event"], "progress", "{ctx}");
    let replies: Vec<&Value> = frames.iter().filter(|f| f.get("ok").is_some()).collect();
    let order: Vec<i64> = replies.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert_eq!(order.len(), 3, "{ctx}");
    assert_eq!(order[0], 3, "the fast reply must come first; {ctx}");
    let reply = |id: i64| *replies.iter().find(|f| f["id"] == id).unwrap();
    assert_eq!(
        reply(3),
        &json!({"id": 3, "ok": true, "result": {"echo": {"which": "fast"}}}),
        "{ctx}"
    );
    assert_eq!(
        reply(4),
        &json!({"id": 4, "ok": true, "result": {"cancelled": true}}),
        "{ctx}"
    );
    assert_eq!(reply(2)["ok"], false, "{ctx}");
    assert_eq!(reply(2)["error"]["code"], "cancelled", "{ctx}");
}

/// The browser's manifest admits the extension, so the browser starts the host; the host reads
/// the caller from its argv, finds it missing from its allowlist and refuses every request.
fn assert_refused(run: &Run) {
    let ctx = context(run);
    for (step, id) in [("hello", Value::Null), ("port", json!("refused"))] {
        let reply = &run.report[step];
        assert_eq!(reply["id"], id, "{step}; {ctx}");
        assert_eq!(reply["ok"], false, "{step}; {ctx}");
        assert_eq!(reply["error"]["code"], "forbidden_caller", "{step}; {ctx}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&run.ext_id),
            "{step}: the refusal must name the caller {}; {ctx}",
            run.ext_id
        );
    }
}
