//! The host in real browsers (spec §4.7): headless Chromium and Firefox ESR load the test
//! extension from tests/browser/, which talks to the built host through the browser's own native
//! messaging and reports every reply to the test. Without the browsers installed these tests skip
//! loudly, except under CI, where they fail.
#![cfg(target_os = "linux")]

use crate::support::browser;

use browser::{Kind, Mode, Run};
use serde_json::{Value, json};

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
