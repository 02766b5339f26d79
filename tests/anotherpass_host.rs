//! ANOTHERpass through the built binary: linking across separate processes (as
//! `runtime.sendNativeMessage` does, one process per message) and in one long-lived host
//! (`connectNative`), then a credential request with progress events.
use crate::support::ap_phone;
use crate::support::host;

use ap_phone::{Phone, Reply};
use serde_json::{Value, json};

const ORIGIN: &str = "chrome-extension://knldjmfmopnpolahpmmgbagdohdnhkik/";
const CLIENT_KEY: &str = "7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n";

fn home_for(phone: &Phone) -> host::Home {
    let home = host::Home::new();
    home.write_config(&json!({
        "allowed": {"chrome_origins": [ORIGIN]},
        "anotherpass": {"server": "127.0.0.1", "port": phone.port, "rsa_bits": 2048,
                        "poll_interval_ms": 100, "timeout_ms": 30000},
    }));
    home
}

/// One message in a fresh host process, like `sendNativeMessage`.
fn one_shot(home: &host::Home, action: &str, params: Value) -> Value {
    let req = json!({"id": 1, "action": action, "params": params});
    let (frames, code, stderr) = home.run_once(&[ORIGIN], &host::frame(req.to_string().as_bytes()));
    assert_eq!(code, Some(0), "{stderr}");
    let reply = frames.last().cloned().expect("a reply");
    assert_eq!(reply["ok"], true, "{action}: {reply:#}");
    reply["result"].clone()
}

#[test]
fn linking_survives_one_process_per_message() {
    let phone = Phone::start();
    let home = home_for(&phone);
    let started = one_shot(&home, "anotherpass.link.start", json!({}));
    phone.scan(started["qr_payload"].as_str().unwrap());
    phone.push(Reply::LinkAccept);
    let done = one_shot(
        &home,
        "anotherpass.link.complete",
        json!({"server": "192.168.1.20"}),
    );
    assert_eq!(done["port"], 8787);
    one_shot(&home, "anotherpass.link.confirm", json!({"matches": true}));
    let status = one_shot(&home, "anotherpass.status", json!({}));
    assert_eq!(status["linked"], true);
    assert_eq!(status["app_key_fingerprint"], done["fingerprint"]);

    phone.push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    let r = one_shot(&home, "anotherpass.get_client_key", json!({}));
    assert_eq!(r["client_key_received"], true);
}

#[test]
fn linking_and_fetching_in_one_host_with_progress() {
    let phone = Phone::start();
    let home = home_for(&phone);
    let mut h = home.spawn(&[ORIGIN]);
    let started = h.request(&json!({"id": "s", "action": "anotherpass.link.start"}));
    phone.scan(started["result"]["qr_payload"].as_str().unwrap());
    phone.push(Reply::LinkAccept);
    let done = h.request(&json!({"id": "c", "action": "anotherpass.link.complete",
                                 "params": {"server": "@ib", "port": 8787}}));
    assert_eq!(done["ok"], true, "{done}");
    let ok = h.request(&json!({"id": "f", "action": "anotherpass.link.confirm",
                               "params": {"matches": true}}));
    assert_eq!(ok["result"]["linked"], true);

    phone.push_all([
        Reply::Status(202, "no user acknowledge"),
        Reply::Answer(
            json!({"credential": {"uid": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "readableUid": "x", "name": "GitHub", "password": "hunter2", "user": "alice",
            "website": "https://github.com", "otp": ""}, "clientKey": CLIENT_KEY}),
        ),
    ]);
    h.send(
        &json!({"id": 7, "action": "anotherpass.fetch_credential_for_url", "progress": true,
                   "params": {"website": "https://github.com/login"}}),
    );
    let (reply, events, _) = h.reply_for(&json!(7));
    assert_eq!(
        reply["result"]["credential"]["password"], "hunter2",
        "{reply}"
    );
    let fp = reply["result"]["request_fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 9);
    assert!(
        events
            .iter()
            .any(|e| e["stage"] == "requesting" && e["fingerprint"] == fp)
    );
    assert!(events.iter().any(|e| e["reason"] == "awaiting_approval"));
    assert_eq!(h.close(), Some(0));
}
