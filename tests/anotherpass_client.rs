//! The ANOTHERpass client over real HTTP against a minimal loopback phone: linking, every
//! command, the polling rules of spec §1.7, cancel, timeouts, and hostile or broken replies.
use crate::support::ap_harness;
use crate::support::ap_phone;

use ap_harness::Harness;
use ap_phone::Reply;
use passbridge::anotherpass::{b64, ids, store};
use serde_json::{Value, json};
use std::time::Duration;

const UID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const CLIENT_KEY: &str = "7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n";

fn cred(name: &str) -> Value {
    json!({"uid": UID, "readableUid": "d5vagjvd", "name": name, "password": "pw-of-".to_owned() + name,
           "user": "alice", "website": "https://github.com", "otp": ""})
}

fn answer_one(name: &str) -> Reply {
    Reply::Answer(json!({"credential": cred(name), "clientKey": CLIENT_KEY}))
}

fn request_payloads(h: &Harness) -> Vec<Value> {
    h.phone
        .payloads()
        .into_iter()
        .filter(|p| p["action"] == "request_credential")
        .collect()
}

#[test]
fn link_start_complete_confirm_with_a_4096_bit_key() {
    let h = Harness::with(|s| s.rsa_bits = None);
    let started = h.ok("anotherpass.link.start", json!({}));
    assert_eq!(started["key_bits"], 4096);
    assert_eq!(started["relink"], false);
    let qr = started["qr_payload"].as_str().unwrap();
    let wcid = started["web_client_id"].as_str().unwrap();
    assert!(qr.starts_with(&format!("{wcid}:")));
    assert!(
        started["qr_svg"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    let events = h.take_events();
    assert_eq!(events[0]["stage"], "generating_key");
    assert_eq!(events[0]["bits"], 4096);

    h.phone.scan(qr);
    h.phone.push(Reply::LinkAccept);
    let done = h.ok(
        "anotherpass.link.complete",
        json!({"server": "@icpmd", "port": 8787}),
    );
    assert_eq!(done["fingerprint"], ids::link_fingerprint(&h.phone.app_n()));
    assert_eq!(done["vault_id"], "aacofrwj");

    // What the phone received: only an envelope, under SK, with the WebCrypto-style JWK.
    let seen = h.phone.seen();
    assert_eq!(seen.len(), 1);
    let outer: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert!(outer.get("encOneTimeKey").is_none(), "{outer}");
    assert_eq!(seen[0].web_client_id.as_deref(), Some(wcid));
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    let p = seen[0].payload.as_ref().unwrap();
    assert_eq!(p["action"], "link_app");
    assert!(p.get("vaultId").is_none());
    let jwk = &p["clientPubKey"];
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(jwk["alg"], "RSA-OAEP-256");
    assert_eq!(jwk["n"].as_str().unwrap().len(), 683);

    // Nothing is saved before the user confirms.
    assert_eq!(h.ok("anotherpass.status", json!({}))["linked"], false);
    assert_eq!(
        h.ok("anotherpass.status", json!({}))["linking"]["stage"],
        "confirm_fingerprint"
    );
    let confirmed = h.ok("anotherpass.link.confirm", json!({"matches": true}));
    assert_eq!(confirmed["linked"], true);
    let status = h.ok("anotherpass.status", json!({}));
    assert_eq!(status["linked"], true);
    assert_eq!(status["server"], "@icpmd");
    assert_eq!(status["web_client_id"], wcid);
    assert_eq!(status["linking"], Value::Null);
    assert!(!store::pending_path(&h.paths).exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store::link_path(&h.paths))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The saved link works: a request goes out with a one-time key under the app key.
    h.phone
        .push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    let r = h.ok("anotherpass.get_client_key", json!({}));
    assert_eq!(r["client_key_received"], true);
}

#[test]
fn relink_keeps_identity_sends_vault_id_and_a_mismatch_keeps_the_old_link() {
    let h = Harness::new();
    h.link();
    let before = h.ok("anotherpass.status", json!({}));

    let started = h.ok("anotherpass.link.start", json!({}));
    assert_eq!(started["relink"], true);
    assert_eq!(started["web_client_id"], before["web_client_id"]);
    h.phone.scan(started["qr_payload"].as_str().unwrap());
    h.phone.rotate_app_key();
    h.phone.push(Reply::LinkAccept);
    let done = h.ok("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
    let last = h.phone.payloads().pop().unwrap();
    assert_eq!(last["vaultId"], "aacofrwj");
    assert_ne!(done["fingerprint"], before["app_key_fingerprint"]);

    // The user says the fingerprints differ: the old link stays as it was.
    let r = h.ok("anotherpass.link.confirm", json!({"matches": false}));
    assert_eq!(r, json!({"linked": true, "discarded": true}));
    let after = h.ok("anotherpass.status", json!({}));
    assert_eq!(after["app_key_fingerprint"], before["app_key_fingerprint"]);
    assert_eq!(after["server"], before["server"]);
}

#[test]
fn relink_to_another_vault_is_refused_by_app_or_client() {
    let h = Harness::new();
    h.link();
    // The app refuses (it checks the vaultId we send).
    let started = h.ok("anotherpass.link.start", json!({}));
    h.phone.scan(started["qr_payload"].as_str().unwrap());
    h.phone.set_vault_id("zzzzzzzz");
    h.phone.push(Reply::LinkAccept);
    let (code, msg) = h.err("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
    assert_eq!(code, "vault_mismatch", "{msg}");
    // An app that does not check: the client does.
    let started = h.ok("anotherpass.link.start", json!({}));
    h.phone.scan(started["qr_payload"].as_str().unwrap());
    h.phone.ignore_vault_id();
    h.phone.push(Reply::LinkAccept);
    let (code, msg) = h.err("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
    assert_eq!(code, "vault_mismatch");
    assert!(
        msg.contains("zzzzzzzz") && msg.contains("aacofrwj"),
        "{msg}"
    );
    // fresh: a new identity, no vaultId.
    let started = h.ok("anotherpass.link.start", json!({"fresh": true}));
    assert_eq!(started["relink"], false);
    h.phone.scan(started["qr_payload"].as_str().unwrap());
    h.phone.push(Reply::LinkAccept);
    h.ok("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
    assert!(h.phone.payloads().pop().unwrap().get("vaultId").is_none());
}

#[test]
fn link_failures_have_their_own_codes() {
    let h = Harness::new();
    let (code, _) = h.err("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
    assert_eq!(code, "link_not_started");
    let (code, _) = h.err("anotherpass.link.confirm", json!({"matches": true}));
    assert_eq!(code, "link_not_started");
    for bad in [
        json!({}),
        json!({"server": "http://x"}),
        json!({"server": "@zz"}),
        json!({"server": "10.0.0.5", "port": 80}),
        json!({"server": "10.0.0.5", "port": 50000}),
        json!({"server": 5}),
    ] {
        assert_eq!(
            h.err("anotherpass.link.complete", bad.clone()).0,
            "invalid_params",
            "{bad}"
        );
    }

    let started = h.ok("anotherpass.link.start", json!({}));
    h.phone.scan(started["qr_payload"].as_str().unwrap());
    let table = [
        (
            Reply::Status(500, "Missing action listener"),
            "phone_error",
            "link new device",
        ),
        (
            Reply::Status(401, "device locked"),
            "phone_locked",
            "Unlock",
        ),
        (
            Reply::Status(404, "webClientId is unknown"),
            "unknown_client",
            "Scan the QR code",
        ),
        (
            Reply::Status(403, "webClientId is blocked"),
            "denied_by_user",
            "Unblock",
        ),
        (
            Reply::Status(400, "fingerprint mismatch"),
            "link_fingerprint",
            "new QR code",
        ),
        (
            Reply::Raw(200, b"<html>".to_vec()),
            "bad_reply",
            "cannot use",
        ),
        (
            Reply::Status(202, "no user acknowledge"),
            "bad_reply",
            "HTTP 202",
        ),
    ];
    for (reply, want, hint) in table {
        h.phone.push(reply.clone());
        let (code, msg) = h.err("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
        assert_eq!(code, want, "{reply:?}: {msg}");
        assert!(msg.contains(hint), "{reply:?}: {msg}");
    }
    // The real fingerprint check of the phone: a QR code from another linking.
    let other = h.ok("anotherpass.link.start", json!({}));
    let mut parts: Vec<String> = other["qr_payload"]
        .as_str()
        .unwrap()
        .split(':')
        .map(String::from)
        .collect();
    parts[2] = "0".repeat(64);
    h.phone.scan(&parts.join(":"));
    h.phone.push(Reply::LinkAccept);
    assert_eq!(
        h.err("anotherpass.link.complete", json!({"server": "10.0.0.5"}))
            .0,
        "link_fingerprint"
    );

    // Once answered, the QR code is used up (the app already holds BK, errata §10.3).
    let started = h.ok("anotherpass.link.start", json!({}));
    h.phone.scan(started["qr_payload"].as_str().unwrap());
    h.phone.push(Reply::LinkAccept);
    h.ok("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
    let (code, msg) = h.err("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
    assert_eq!(code, "link_not_started", "{msg}");
    assert_eq!(h.ok("anotherpass.status", json!({}))["linked"], false);
}

#[test]
fn link_start_again_reuses_the_pending_key() {
    let h = Harness::new();
    let a = h.ok("anotherpass.link.start", json!({}));
    h.take_events();
    let b = h.ok("anotherpass.link.start", json!({}));
    assert!(
        h.take_events()
            .iter()
            .all(|e| e["stage"] != "generating_key")
    );
    let fp = |v: &Value| {
        v["qr_payload"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(fp(&a), fp(&b), "same client key");
    assert_ne!(a["qr_payload"], b["qr_payload"], "new session key");
}

#[test]
fn unreachable_phone_during_linking() {
    let port = free_port();
    let h = Harness::with(|s| {
        s.port = Some(port);
        s.link_timeout_ms = Some(5_000);
    });
    h.ok("anotherpass.link.start", json!({}));
    let (code, msg) = h.err("anotherpass.link.complete", json!({"server": "10.0.0.5"}));
    assert_eq!(code, "phone_unreachable", "{msg}");
    // The settings override decides where the request goes, and the message says so.
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn polls_with_a_new_envelope_and_the_same_identifier_until_the_answer() {
    let h = Harness::new();
    h.link();
    h.phone.push_all([
        Reply::Status(202, "no user acknowledge"),
        Reply::Status(202, "pending request"),
        Reply::Status(401, "device locked"),
        Reply::Status(401, "Locked"),
        Reply::Status(401, "not in foreground"),
        Reply::Status(409, "waiting for concurrent request"),
        Reply::Raw(204, Vec::new()),
        Reply::Status(202, "no user selection"),
        answer_one("GitHub"),
    ]);
    h.take_events();
    let r = h.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://github.com/login"}),
    );
    assert_eq!(r["credential"]["password"], "pw-of-GitHub");
    assert_eq!(r["credential"]["uid"], UID);
    assert_eq!(r["vault_updated"], true);
    assert!(r.get("clientKey").is_none() && !r.to_string().contains("7IkzDzry"));

    let polls = request_payloads(&h);
    assert_eq!(polls.len(), 9);
    let rid = polls[0]["requestIdentifier"].as_str().unwrap().to_owned();
    assert_eq!(b64::decode(&rid).unwrap().len(), 16);
    for p in &polls {
        assert_eq!(p["requestIdentifier"], rid.as_str());
        assert_eq!(
            *p,
            json!({"action": "request_credential", "command": "fetch_credential_for_url",
                   "requestIdentifier": rid, "website": "https://github.com/login"})
        );
    }
    // A new one-time key (and so a new envelope) for every poll.
    let seen: Vec<_> = h
        .phone
        .seen()
        .into_iter()
        .filter(|s| s.otk.is_some())
        .collect();
    let mut otks: Vec<_> = seen.iter().map(|s| s.otk.clone().unwrap()).collect();
    otks.sort();
    otks.dedup();
    assert_eq!(otks.len(), seen.len());
    assert!(seen.iter().all(|s| s.otk.as_ref().unwrap().len() == 32));
    // Client-side base64: padded standard alphabet.
    for s in &seen {
        let outer: Value = serde_json::from_str(&s.body).unwrap();
        let otk = outer["encOneTimeKey"].as_str().unwrap();
        assert!(
            !otk.contains('-') && !otk.contains('_') && otk.len().is_multiple_of(4),
            "{otk}"
        );
    }

    // Progress: the fingerprint the phone shows, and why we wait.
    let fp = ids::request_fingerprint(&h.phone.base_key().unwrap(), &rid).unwrap();
    assert_eq!(r["request_fingerprint"], fp);
    let events = h.take_events();
    assert_eq!(events[0]["stage"], "requesting");
    assert_eq!(events[0]["fingerprint"], fp);
    let reasons: Vec<_> = events[1..]
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        [
            "awaiting_approval",
            "awaiting_approval",
            "phone_locked",
            "app_locked",
            "app_not_in_foreground",
            "other_request_in_progress",
            "unexpected_status",
            "awaiting_selection"
        ]
    );
    assert!(
        events[1..]
            .iter()
            .all(|e| e["fingerprint"] == fp.as_str() && e["id"] == "t")
    );

    // The vault got the key and the credential; the choice is remembered for the site.
    let got = h.sink.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0[..], b64::decode(CLIENT_KEY).unwrap()[..]);
    assert_eq!(got[0].1, ["GitHub"]);
    assert_eq!(
        h.sink
            .remembered
            .lock()
            .unwrap()
            .get("https://github.com/login")
            .map(String::as_str),
        Some(UID)
    );
}

#[test]
fn remembered_uid_user_and_explicit_uid_are_sent_never_null() {
    let h = Harness::new();
    h.link();
    h.sink
        .remembered
        .lock()
        .unwrap()
        .insert("https://x.org".into(), UID.into());
    h.phone.push(answer_one("X"));
    h.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://x.org", "user": "bob"}),
    );
    let p = request_payloads(&h).pop().unwrap();
    assert_eq!(p["uid"], UID);
    assert_eq!(p["user"], "bob");
    h.phone.push(answer_one("X"));
    h.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://y.org", "user": null, "uid": null}),
    );
    let p = request_payloads(&h).pop().unwrap();
    assert!(p.get("uid").is_none() && p.get("user").is_none(), "{p}");
    assert!(!h.phone.seen().iter().any(|s| {
        s.payload
            .as_ref()
            .is_some_and(|p| p.to_string().contains("null"))
    }));
}

/// The commands sent since `before`, and whether they all carried one identifier.
fn commands_since(h: &Harness, before: usize) -> (Vec<String>, bool) {
    let sent = request_payloads(h).split_off(before);
    let same = sent
        .iter()
        .all(|p| p["requestIdentifier"] == sent[0]["requestIdentifier"]);
    let commands = sent
        .iter()
        .map(|p| p["command"].as_str().unwrap().to_owned())
        .collect();
    (commands, same)
}

#[test]
fn stop_codes_end_polling_and_withdraw_the_request_unless_refused() {
    let table = [
        (
            Reply::Status(403, "denied by user"),
            "denied_by_user",
            false,
        ),
        (
            Reply::Status(400, "Cannot parse message"),
            "rejected_request",
            true,
        ),
        (
            Reply::Status(404, "webClientId is unknown"),
            "unknown_client",
            true,
        ),
        (
            Reply::Status(500, "Unexpected error during handling post request: x"),
            "phone_error",
            true,
        ),
    ];
    let h = Harness::new();
    h.link();
    for (reply, code, withdrawn) in table {
        let before = request_payloads(&h).len();
        h.phone.push(reply.clone());
        let (got, msg) = h.err("anotherpass.fetch_single_credential", json!({}));
        assert_eq!(got, code, "{reply:?}: {msg}");
        // A 403 is the app ending the request; after any other stop the app may still hold it.
        let (commands, same) = commands_since(&h, before);
        let expected: &[&str] = if withdrawn {
            &["fetch_single_credential", "cancel_request"]
        } else {
            &["fetch_single_credential"]
        };
        assert_eq!(commands, expected, "{reply:?}");
        assert!(same, "{reply:?}: the cancel names the request");
    }
    assert!(h.sink.received.lock().unwrap().is_empty());
}

#[test]
fn broken_answers_are_bad_reply_or_decrypt_failed() {
    let h = Harness::new();
    h.link();
    // The last column: whether the client withdraws the request. An answer that decrypts is the
    // app's own (the app has ended the request) even when its content is unusable.
    let table = [
        (Reply::Raw(200, b"garbage".to_vec()), "bad_reply", true),
        (
            Reply::Raw(
                200,
                br#"{"encOneTimeKey":"AAAA","envelope":"EWM:a:b"}"#.to_vec(),
            ),
            "decrypt_failed",
            true,
        ),
        (
            Reply::WrongKey(json!({"clientKey": CLIENT_KEY})),
            "decrypt_failed",
            true,
        ),
        (
            Reply::Answer(json!({"clientKey": "AAAA"})),
            "bad_reply",
            false,
        ),
        (
            Reply::Answer(json!({"credential": cred("x")})),
            "bad_reply",
            false,
        ),
        (Reply::Answer(json!([1, 2])), "bad_reply", false),
        // Above the 1 MiB cap of single answers.
        (
            Reply::Raw(200, vec![b' '; 1024 * 1024 + 1]),
            "bad_reply",
            true,
        ),
    ];
    for (reply, code, withdrawn) in table {
        let before = request_payloads(&h).len();
        h.phone.push(reply.clone());
        let (got, msg) = h.err("anotherpass.fetch_credential_for_uid", json!({"uid": UID}));
        assert_eq!(got, code, "{reply:?}: {msg}");
        let (commands, same) = commands_since(&h, before);
        assert_eq!(
            commands.last().map(String::as_str) == Some("cancel_request"),
            withdrawn,
            "{reply:?}: {commands:?}"
        );
        assert_eq!(commands.len(), 1 + usize::from(withdrawn), "{reply:?}");
        assert!(same, "{reply:?}");
    }
}

#[test]
fn lists_may_be_large_but_not_unbounded() {
    let h = Harness::new();
    h.link();
    let many: Vec<Value> = (0..4000).map(|i| cred(&format!("site{i}"))).collect();
    h.phone.push(Reply::Answer(
        json!({"credentials": many, "clientKey": CLIENT_KEY}),
    ));
    let r = h.ok("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(r["credentials"].as_array().unwrap().len(), 4000);
    assert_eq!(h.sink.received.lock().unwrap()[0].1.len(), 4000);
    h.phone
        .push(Reply::Raw(200, vec![b' '; 16 * 1024 * 1024 + 1]));
    let (code, msg) = h.err("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(code, "bad_reply");
    assert!(msg.contains("16 MiB"), "{msg}");
}

#[test]
fn every_command_sends_its_fields() {
    let h = Harness::new();
    h.link();
    let list =
        Reply::Answer(json!({"credentials": [cred("a"), cred("b")], "clientKey": CLIENT_KEY}));
    let cases = [
        (
            "fetch_credential_for_uid",
            json!({"uid": UID.to_uppercase()}),
            answer_one("a"),
            json!({"uid": UID}),
        ),
        (
            "fetch_credentials_for_uids",
            json!({"uids": [UID]}),
            list.clone(),
            json!({"uids": [UID]}),
        ),
        (
            "fetch_single_credential",
            json!({}),
            answer_one("a"),
            json!({}),
        ),
        (
            "fetch_multiple_credentials",
            json!({}),
            list.clone(),
            json!({}),
        ),
        ("fetch_all_credentials", json!({}), list.clone(), json!({})),
        (
            "create_credential_for_url",
            json!({"website": "new.org", "user": "me"}),
            answer_one("a"),
            json!({"website": "new.org", "user": "me"}),
        ),
        (
            "create_credential_for_url",
            json!({"website": "new.org"}),
            answer_one("a"),
            json!({"website": "new.org"}),
        ),
    ];
    for (command, params, reply, extra) in cases {
        h.phone.push(reply);
        let r = h.ok(&format!("anotherpass.{command}"), params);
        assert!(
            r.get("credential").is_some() || r.get("credentials").is_some(),
            "{r}"
        );
        let p = request_payloads(&h).pop().unwrap();
        let mut want = json!({"action": "request_credential", "command": command,
                              "requestIdentifier": p["requestIdentifier"]});
        for (k, v) in extra.as_object().unwrap() {
            want[k] = v.clone();
        }
        assert_eq!(p, want);
    }
    for (action, params) in [
        ("fetch_credential_for_uid", json!({"uid": "nope"})),
        ("fetch_credential_for_uid", json!({})),
        ("fetch_credentials_for_uids", json!({"uids": []})),
        ("fetch_credential_for_url", json!({"website": ""})),
        ("create_credential_for_url", json!({})),
        ("fetch_all_credentials", json!({"timeout_ms": 1})),
        ("get_client_key", json!({"reveal": "yes"})),
    ] {
        assert_eq!(
            h.err(&format!("anotherpass.{action}"), params.clone()).0,
            "invalid_params",
            "{action} {params}"
        );
    }
}

#[test]
fn otp_codes_come_with_the_credential() {
    let h = Harness::new();
    h.link();
    let mut c = cred("otp");
    c["otp"] = json!(
        "otpauth://totp/GitHub:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA256&digits=8&period=60"
    );
    h.phone.push(Reply::Answer(
        json!({"credential": c, "clientKey": CLIENT_KEY}),
    ));
    let r = h.ok("anotherpass.fetch_single_credential", json!({}));
    let code = &r["credential"]["otp_code"];
    assert_eq!(code["kind"], "totp");
    assert_eq!(code["digits"], 8);
    assert_eq!(code["period"], 60);
    assert_eq!(code["code"].as_str().unwrap().len(), 8);
    assert!((1..=60).contains(&code["seconds_left"].as_u64().unwrap()));
}

#[test]
fn client_key_stays_in_passbridge_unless_revealed() {
    let h = Harness::new();
    h.link();
    h.phone
        .push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    let r = h.ok("anotherpass.get_client_key", json!({}));
    assert_eq!(r["client_key_received"], true);
    assert!(r.get("client_key").is_none());
    h.phone
        .push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    let r = h.ok("anotherpass.get_client_key", json!({"reveal": true}));
    assert_eq!(r["client_key"], CLIENT_KEY.trim());
    assert_eq!(h.sink.received.lock().unwrap().len(), 2);
    // A vault that cannot take the result does not cost the user the answer.
    *h.sink.fail.lock().unwrap() = true;
    h.phone.push(answer_one("z"));
    let r = h.ok("anotherpass.fetch_single_credential", json!({}));
    assert_eq!(r["vault_updated"], false);
    assert_eq!(r["vault_error"]["code"], "vault_locked");
    assert_eq!(r["credential"]["name"], "z");
}

#[test]
fn revealing_the_client_key_asks_the_gate_first() {
    let h = Harness::new();
    h.link();
    h.phone
        .push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    h.ok("anotherpass.get_client_key", json!({}));
    h.phone
        .push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    h.ok("anotherpass.get_client_key", json!({"reveal": true}));
    assert_eq!(
        h.gate.asked.lock().unwrap()[1..],
        [
            "anotherpass_fetch",
            "anotherpass_reveal_key",
            "anotherpass_fetch"
        ]
    );
    *h.gate.deny.lock().unwrap() = true;
    let sent = h.phone.seen().len();
    let (code, _) = h.err("anotherpass.get_client_key", json!({"reveal": true}));
    assert_eq!(code, "approval_denied");
    assert_eq!(h.phone.seen().len(), sent, "nothing reached the phone");
}

#[test]
fn credential_source_for_the_vault() {
    let h = Harness::new();
    h.link();
    let ctx = passbridge::api::Ctx::new(h.dispatcher.state.clone());
    h.phone
        .push(Reply::Answer(json!({"clientKey": CLIENT_KEY})));
    let key = h
        .dispatcher
        .state
        .get::<std::sync::Arc<dyn passbridge::anotherpass::seam::CredentialSource>>()
        .unwrap()
        .get_client_key(&ctx)
        .unwrap();
    assert_eq!(key.bytes()[..], b64::decode(CLIENT_KEY).unwrap()[..]);
    h.phone.push(Reply::Answer(
        json!({"credentials": [cred("a")], "clientKey": CLIENT_KEY}),
    ));
    let (creds, _) = h
        .dispatcher
        .state
        .get::<std::sync::Arc<dyn passbridge::anotherpass::seam::CredentialSource>>()
        .unwrap()
        .fetch_by_uids(&ctx, &[UID.into(), "junk".into()])
        .unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(request_payloads(&h).pop().unwrap()["uids"], json!([UID]));
    // The source hands the key to its caller, not to the sink.
    assert!(h.sink.received.lock().unwrap().is_empty());
}

#[test]
fn timeout_while_waiting_names_the_reason_and_withdraws_the_request() {
    let h = Harness::new();
    h.link();
    h.phone.set_default(Reply::Status(202, "pending request"));
    let (code, msg) = h.err(
        "anotherpass.fetch_single_credential",
        json!({"timeout_ms": 600, "poll_interval_ms": 100}),
    );
    assert_eq!(code, "timeout");
    assert!(msg.contains("Approve the request"), "{msg}");
    let polls = request_payloads(&h);
    let last = polls.last().unwrap();
    assert_eq!(last["command"], "cancel_request");
    assert_eq!(last["requestIdentifier"], polls[0]["requestIdentifier"]);
    assert!(polls.len() >= 3, "several polls before giving up");
}

#[test]
fn unreachable_phone_is_retried_then_reported() {
    let h = Harness::new();
    h.link();
    let port = free_port();
    h.set(|s| s.port = Some(port));
    h.take_events();
    let (code, msg) = h.err(
        "anotherpass.fetch_single_credential",
        json!({"timeout_ms": 500, "poll_interval_ms": 100}),
    );
    assert_eq!(code, "phone_unreachable", "{msg}");
    let events = h.take_events();
    let waits: Vec<_> = events.iter().filter(|e| e["stage"] == "waiting").collect();
    assert!(waits.len() >= 2, "kept trying: {events:?}");
    assert!(waits.iter().all(|e| e["reason"] == "phone_unreachable"));
}

#[test]
fn slow_phone_hits_the_per_request_timeout_and_polling_goes_on() {
    let h = Harness::with(|s| s.http_timeout_ms = Some(300));
    h.link();
    h.phone.push_all([
        Reply::Slow(
            Duration::from_millis(1500),
            Box::new(Reply::Status(202, "pending request")),
        ),
        answer_one("late"),
    ]);
    let r = h.ok("anotherpass.fetch_single_credential", json!({}));
    assert_eq!(r["credential"]["name"], "late");
    let reasons: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| e["reason"].as_str().map(String::from))
        .collect();
    assert_eq!(reasons, ["phone_unreachable"]);
}

#[test]
fn cancel_sends_cancel_request_with_the_same_identifier() {
    let h = Harness::new();
    h.link();
    h.phone
        .set_default(Reply::Status(202, "no user acknowledge"));
    let d = h.dispatcher.clone();
    let events = h.events.clone();
    let worker = std::thread::spawn(move || {
        d.handle(
            passbridge::api::Request {
                id: json!("slow"),
                action: "anotherpass.fetch_single_credential".into(),
                params: json!({"timeout_ms": 120_000}),
                progress: true,
            },
            std::sync::Arc::new(move |e| events.lock().unwrap().push(e)),
        )
    });
    // Wait (bounded) until the phone has seen two polls.
    let t0 = std::time::Instant::now();
    while request_payloads(&h).len() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no polls");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        h.ok("cancel", json!({"target": "slow"})),
        json!({"cancelled": true})
    );
    let reply = worker.join().unwrap();
    assert_eq!(reply["error"]["code"], "cancelled", "{reply}");
    let polls = request_payloads(&h);
    let cancel: Vec<_> = polls
        .iter()
        .filter(|p| p["command"] == "cancel_request")
        .collect();
    assert_eq!(cancel.len(), 1);
    assert_eq!(
        cancel[0]["requestIdentifier"],
        polls[0]["requestIdentifier"]
    );
    assert_eq!(polls.last().unwrap()["command"], "cancel_request");
}

#[test]
fn cancel_during_a_slow_exchange_returns_at_once() {
    let h = Harness::new();
    h.link();
    h.phone.set_default(Reply::Slow(
        Duration::from_secs(30),
        Box::new(Reply::Status(202, "pending request")),
    ));
    let d = h.dispatcher.clone();
    let worker = std::thread::spawn(move || {
        d.handle(
            passbridge::api::Request {
                id: json!("slow"),
                action: "anotherpass.get_client_key".into(),
                params: json!({}),
                progress: false,
            },
            std::sync::Arc::new(|_| {}),
        )
    });
    let t0 = std::time::Instant::now();
    while request_payloads(&h).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no poll");
        std::thread::sleep(Duration::from_millis(20));
    }
    h.ok("cancel", json!({"target": "slow"}));
    // join() returning at all (long before the 30 s reply) is the check; no timing assertion.
    let reply = worker.join().unwrap();
    assert_eq!(reply["error"]["code"], "cancelled");
    let polls = request_payloads(&h);
    assert_eq!(polls.last().unwrap()["command"], "cancel_request");
}

#[test]
fn download_vault_backup_saves_a_private_file_without_overwriting() {
    let h = Harness::new();
    h.link();
    let wcid = h.ok("anotherpass.status", json!({}))["web_client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!("{wcid}_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    let out = tempfile::tempdir().unwrap();
    let name = "anotherpassvault-aacofrwj-2025-01-31.json";
    std::fs::write(out.path().join(name), "older backup").unwrap();
    let content = br#"{"vault":"encrypted stuff"}"#;
    h.phone.offer_download(&key, content);
    h.phone.push(Reply::Answer(
        json!({"clientKey": CLIENT_KEY, "downloadKey": key, "filename": name}),
    ));
    let r = h.ok(
        "anotherpass.download_vault_backup",
        json!({"directory": out.path().to_str().unwrap()}),
    );
    assert_eq!(r["filename"], "anotherpassvault-aacofrwj-2025-01-31-1.json");
    assert_eq!(r["bytes"], content.len());
    let path = std::path::PathBuf::from(r["path"].as_str().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), content);
    assert_eq!(
        std::fs::read_to_string(out.path().join(name)).unwrap(),
        "older backup"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let get = h
        .phone
        .seen()
        .into_iter()
        .find(|s| s.method == "GET")
        .unwrap();
    assert_eq!(get.url, format!("/{key}"));

    // The file is served once; a hostile name is reduced to a plain one; a foreign key is refused.
    h.phone.push(Reply::Answer(
        json!({"clientKey": CLIENT_KEY, "downloadKey": key, "filename": "../../x.json"}),
    ));
    let (code, msg) = h.err(
        "anotherpass.download_vault_backup",
        json!({"directory": out.path().to_str().unwrap()}),
    );
    assert_eq!(code, "download_failed", "{msg}");
    assert!(!out.path().join("x.json").exists(), "partial file removed");
    h.phone.push(Reply::Answer(
        json!({"clientKey": CLIENT_KEY, "downloadKey": "../etc/passwd", "filename": "a"}),
    ));
    assert_eq!(
        h.err(
            "anotherpass.download_vault_backup",
            json!({"directory": out.path().to_str().unwrap()})
        )
        .0,
        "bad_reply"
    );
    assert_eq!(
        h.err(
            "anotherpass.download_vault_backup",
            json!({"directory": "/no/such/dir"})
        )
        .0,
        "invalid_params"
    );
    let files = std::fs::read_dir(out.path()).unwrap().count();
    assert_eq!(files, 2);
}

#[test]
fn not_linked_and_unlink() {
    let h = Harness::new();
    for action in [
        "anotherpass.get_client_key",
        "anotherpass.fetch_all_credentials",
        "anotherpass.fetch_single_credential",
    ] {
        assert_eq!(h.err(action, json!({})).0, "not_linked");
    }
    h.link();
    let wcid = h.ok("anotherpass.status", json!({}))["web_client_id"].clone();
    assert_eq!(
        h.ok("anotherpass.unlink", json!({})),
        json!({"unlinked": true, "identity_kept": true})
    );
    assert_eq!(
        h.err("anotherpass.get_client_key", json!({})).0,
        "not_linked"
    );
    let s = h.ok("anotherpass.status", json!({}));
    assert_eq!(
        (s["linked"].clone(), s["web_client_id"].clone()),
        (json!(false), wcid.clone())
    );
    // Linking again after an unlink keeps the identity (same clientKey for the same vault).
    let started = h.ok("anotherpass.link.start", json!({}));
    assert_eq!(started["web_client_id"], wcid);
    assert_eq!(started["relink"], true);
    assert_eq!(
        h.ok("anotherpass.unlink", json!({"forget": true})),
        json!({"unlinked": false, "identity_kept": false})
    );
    assert!(!store::link_path(&h.paths).exists());
    assert!(!store::pending_path(&h.paths).exists());
}

#[test]
fn a_damaged_link_file_is_a_clear_error_and_unlink_clears_it() {
    let h = Harness::new();
    h.link();
    std::fs::write(store::link_path(&h.paths), b"{\"version\":1,").unwrap();
    let (code, msg) = h.err("anotherpass.get_client_key", json!({}));
    assert_eq!(code, "storage_error");
    assert!(msg.contains("link it again"), "{msg}");
    h.ok("anotherpass.unlink", json!({}));
    assert_eq!(h.ok("anotherpass.status", json!({}))["linked"], false);
}

#[test]
fn host_status_includes_the_backend_summary() {
    let h = Harness::new();
    let s = h.ok("status", json!({}));
    assert_eq!(s["anotherpass"]["available"], true);
    assert_eq!(s["anotherpass"]["linked"], false);
    h.link();
    assert_eq!(h.ok("status", json!({}))["anotherpass"]["linked"], true);
}

#[test]
fn the_approval_gate_guards_linking_and_fetching() {
    let h = Harness::new();
    h.link();
    assert_eq!(*h.gate.asked.lock().unwrap(), ["anotherpass_link"]);
    h.phone.push(answer_one("a"));
    h.ok("anotherpass.fetch_single_credential", json!({}));
    assert_eq!(
        h.gate.asked.lock().unwrap().last().unwrap(),
        "anotherpass_fetch"
    );

    *h.gate.deny.lock().unwrap() = true;
    let sent = h.phone.seen().len();
    for (action, params) in [
        ("anotherpass.fetch_single_credential", json!({})),
        ("anotherpass.get_client_key", json!({})),
        (
            "anotherpass.download_vault_backup",
            json!({"directory": h.dir.path().to_str().unwrap()}),
        ),
        ("anotherpass.link.start", json!({})),
        ("anotherpass.unlink", json!({})),
    ] {
        assert_eq!(h.err(action, params).0, "approval_denied", "{action}");
    }
    assert_eq!(h.phone.seen().len(), sent, "nothing reached the phone");
    assert_eq!(h.ok("anotherpass.status", json!({}))["linked"], true);
}

#[test]
fn a_trickling_backup_download_ends_at_timeout_ms() {
    // Before: the download had its own 300 s limit and ignored `timeout_ms`; this phone sends
    // the whole file after about 75 s, so the request succeeded far past its deadline.
    let h = Harness::new();
    h.link();
    let wcid = h.ok("anotherpass.status", json!({}))["web_client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!("{wcid}_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    h.phone
        .offer_trickling_download(&key, &[b'x'; 150], std::time::Duration::from_millis(500));
    h.phone.push(Reply::Answer(
        json!({"clientKey": CLIENT_KEY, "downloadKey": key, "filename": "backup.json"}),
    ));
    let out = tempfile::tempdir().unwrap();
    let (code, msg) = h.err(
        "anotherpass.download_vault_backup",
        json!({"directory": out.path().to_str().unwrap(), "timeout_ms": 1500}),
    );
    assert_eq!(code, "timeout", "{msg}");
    assert!(msg.contains("1500 ms"), "{msg}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "partial file removed"
    );
}

#[test]
fn backups_go_only_to_an_absolute_directory_outside_passbridge() {
    let h = Harness::new();
    let file = h.dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    std::fs::create_dir_all(&h.paths.data_dir).unwrap();
    for (dir, says) in [
        ("backups".to_owned(), "absolute"),
        (
            file.to_str().unwrap().to_owned(),
            "is a file, not a directory",
        ),
        (
            h.paths.data_dir.to_str().unwrap().to_owned(),
            "passbridge's own directory",
        ),
    ] {
        let (code, msg) = h.err(
            "anotherpass.download_vault_backup",
            json!({"directory": dir}),
        );
        assert_eq!(code, "invalid_params", "{dir}");
        assert!(msg.contains(says), "{dir}: {msg}");
    }
    assert!(h.phone.seen().is_empty(), "the phone was not asked");
}
