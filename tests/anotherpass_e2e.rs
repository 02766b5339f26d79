//! passbridge's ANOTHERpass client end to end: framed requests into the built host, real HTTP to
//! the simulated phone app (written independently from the same spec), the phone owner scripted.
use crate::support::anotherpass_sim;
use crate::support::host;

use anotherpass_sim::{Credential, Fault, LoggedRequest, RequestState, Script, Sim, SimConfig};
use serde_json::{Value, json};
use std::rc::Rc;
use std::time::{Duration, Instant};

const ORIGIN: &str = "chrome-extension://knldjmfmopnpolahpmmgbagdohdnhkik/";

/// Waits for the simulator to see something; the deadline only turns a hang into a failure.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + host::TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct E2e {
    sim: Rc<Sim>,
    _home: host::Home,
    host: host::Host,
    next_id: u64,
    wcid: String,
}

impl E2e {
    /// A simulator with RSA-2048 app keys and a host whose ANOTHERpass settings point at it.
    fn new(settings: Value) -> Self {
        Self::with_sim(Rc::new(Sim::start(SimConfig::fast())), settings)
    }

    /// Another computer (its own passbridge home) linked to the same phone.
    fn second_computer(&self) -> Self {
        let mut other = Self::with_sim(self.sim.clone(), json!({}));
        let started = other.ok("anotherpass.link.start", json!({}));
        other.wcid = started["web_client_id"].as_str().unwrap().to_string();
        self.sim
            .scan_qr(started["qr_payload"].as_str().unwrap())
            .unwrap();
        other.ok("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
        other.ok("anotherpass.link.confirm", json!({"matches": true}));
        other
    }

    fn with_sim(sim: Rc<Sim>, settings: Value) -> Self {
        let home = host::Home::new();
        let mut ap = json!({"server": "127.0.0.1", "port": sim.port(), "rsa_bits": 2048,
                            "poll_interval_ms": 50, "timeout_ms": 60000, "http_timeout_ms": 20000});
        for (k, v) in settings.as_object().unwrap() {
            ap[k] = v.clone();
        }
        home.write_config(&json!({"allowed": {"chrome_origins": [ORIGIN]}, "anotherpass": ap}));
        let host = home.spawn(&[ORIGIN]);
        Self {
            sim,
            _home: home,
            host,
            next_id: 0,
            wcid: String::new(),
        }
    }

    fn send(&mut self, action: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.host
            .send(&json!({"id": id, "action": action, "params": params, "progress": true}));
        id
    }

    /// The final reply and the progress events of one request.
    fn call(&mut self, action: &str, params: Value) -> (Value, Vec<Value>) {
        let id = self.send(action, params);
        let (reply, events, _) = self.host.reply_for(&id);
        (reply, events)
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

    /// link.start, the owner scans, link.complete; returns link.complete's result.
    fn start_and_complete(&mut self, params: Value) -> Value {
        let started = self.ok("anotherpass.link.start", params);
        self.wcid = started["web_client_id"].as_str().unwrap().to_string();
        self.sim
            .scan_qr(started["qr_payload"].as_str().unwrap())
            .unwrap();
        self.ok("anotherpass.link.complete", json!({"server": "127.0.0.1"}))
    }

    /// The whole link, both sides confirmed.
    fn link(&mut self) -> Value {
        let done = self.start_and_complete(json!({}));
        assert_eq!(
            Some(done["fingerprint"].as_str().unwrap().to_string()),
            self.sim.last_link_fingerprint()
        );
        let ok = self.ok("anotherpass.link.confirm", json!({"matches": true}));
        assert_eq!(ok["linked"], true);
        done
    }

    fn polls(&self) -> Vec<LoggedRequest> {
        self.sim
            .api_requests()
            .into_iter()
            .filter(|r| r.command().is_some())
            .collect()
    }
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every poll of one identifier used a fresh one-time key; no payload carried a `null`.
fn assert_clean_polls(polls: &[LoggedRequest]) {
    let mut seen = std::collections::HashSet::new();
    for p in polls {
        let otk = p.enc_one_time_key().expect("encOneTimeKey sent");
        assert!(seen.insert(otk.to_string()), "a one-time key was reused");
        let payload = p.payload.as_ref().unwrap().as_object().unwrap();
        assert!(
            payload.values().all(|v| !v.is_null()),
            "null in {payload:?}"
        );
        assert_eq!(
            p.web_client_id.as_deref(),
            p.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("X-WebClientId"))
                .map(|(_, v)| v.as_str())
        );
    }
}

#[test]
fn link_and_every_command() {
    let mut t = E2e::new(json!({}));
    let gh = t
        .sim
        .add_credential(Credential::new("GitHub", "octo", "gh-pw", "github.com"))
        .unwrap();
    let gl = t
        .sim
        .add_credential(Credential::new(
            "GitLab",
            "fox",
            "gl-pw",
            "https://gitlab.com",
        ))
        .unwrap();
    t.sim
        .add_credential(Credential::new("Bank", "me", "bank-pw", "bank.example").veiled());
    let mail = t
        .sim
        .add_credential(
            Credential::new("Mail", "me@x", "mail-pw", "mail.example")
                .with_otp("otpauth://totp/Mail:me?secret=JBSWY3DPEHPK3PXP&issuer=Mail"),
        )
        .unwrap();

    let done = t.link();
    assert_eq!(done["vault_id"], t.sim.vault_id().as_str());
    let status = t.ok("anotherpass.status", json!({}));
    assert_eq!(status["linked"], true);
    assert_eq!(status["app_key_fingerprint"], done["fingerprint"]);
    assert!(t.sim.link(&t.wcid).unwrap().linked);
    let link_req = t
        .sim
        .api_requests()
        .into_iter()
        .find(|r| r.action() == Some("link_app"))
        .unwrap();
    assert!(
        link_req
            .body_json
            .as_ref()
            .unwrap()
            .get("encOneTimeKey")
            .is_none()
    );
    assert!(
        link_req.payload.as_ref().unwrap().get("vaultId").is_none(),
        "first link: no vaultId"
    );

    let key = t.ok("anotherpass.get_client_key", json!({"reveal": true}));
    assert_eq!(
        key["client_key"].as_str().unwrap(),
        t.sim.client_key_for(&t.wcid).trim_end()
    );
    assert_eq!(
        key["request_fingerprint"].as_str(),
        t.sim.last_request_fingerprint().as_deref()
    );

    let all = t.ok("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(names(&all["credentials"]), ["GitHub", "GitLab", "Mail"]);
    assert_eq!(all["credentials"][0]["website"], "https://github.com");
    assert!(
        all["credentials"][2]["otp_code"].is_object(),
        "{}",
        all["credentials"][2]
    );

    let some = t.ok(
        "anotherpass.fetch_credentials_for_uids",
        json!({"uids": [mail, gl]}),
    );
    assert_eq!(names(&some["credentials"]), ["GitLab", "Mail"]);

    let one = t.ok("anotherpass.fetch_credential_for_uid", json!({"uid": gh}));
    assert_eq!(one["credential"]["password"], "gh-pw");

    let site = t.ok(
        "anotherpass.fetch_credential_for_url",
        json!({"website": "https://gitlab.com/users/sign_in"}),
    );
    assert_eq!(site["credential"]["uid"], gl.as_str());

    t.sim
        .set_user(Script::accept().pick(&[&mail]).pick_after(2));
    let single = t.ok("anotherpass.fetch_single_credential", json!({}));
    assert_eq!(single["credential"]["name"], "Mail");

    t.sim.set_user(Script::accept().pick(&[&gh, &gl]));
    let multi = t.ok("anotherpass.fetch_multiple_credentials", json!({}));
    assert_eq!(names(&multi["credentials"]), ["GitHub", "GitLab"]);

    t.sim
        .set_user(Script::accept().save_created("fresh-pw").create_after(1));
    let created = t.ok(
        "anotherpass.create_credential_for_url",
        json!({"website": "https://www.example.com/join", "user": "alice"}),
    );
    assert_eq!(created["credential"]["name"], "Example");
    assert_eq!(created["credential"]["password"], "fresh-pw");
    assert_eq!(t.sim.credentials().last().unwrap().user, "alice");

    let dir = tempfile::tempdir().unwrap();
    let saved = t.ok(
        "anotherpass.download_vault_backup",
        json!({"directory": dir.path()}),
    );
    let path = std::path::PathBuf::from(saved["path"].as_str().unwrap());
    let expected_name = format!("anotherpassvault-{}-", t.sim.vault_id());
    assert!(
        saved["filename"]
            .as_str()
            .unwrap()
            .starts_with(&expected_name),
        "{saved}"
    );
    let backup: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(backup["vaultId"], t.sim.vault_id().as_str());
    assert_eq!(t.sim.backup(), None, "downloaded once");

    // What went over the wire: fresh keys per poll, no nulls, only the fields each command has.
    let polls = t.polls();
    assert_clean_polls(&polls);
    let keys = |cmd: &str| -> Vec<String> {
        let p = polls.iter().find(|p| p.command() == Some(cmd)).unwrap();
        let mut k: Vec<String> = p
            .payload
            .as_ref()
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        keys("fetch_single_credential"),
        ["action", "command", "requestIdentifier"]
    );
    assert_eq!(
        keys("fetch_credentials_for_uids"),
        ["action", "command", "requestIdentifier", "uids"]
    );
    assert_eq!(
        keys("create_credential_for_url"),
        ["action", "command", "requestIdentifier", "user", "website"]
    );
    let single_polls: Vec<_> = polls
        .iter()
        .filter(|p| p.command() == Some("fetch_single_credential"))
        .collect();
    assert_eq!(single_polls.len(), 5, "ack, accept, 2 waits, pick");
    assert!(
        single_polls
            .iter()
            .all(|p| p.request_identifier() == single_polls[0].request_identifier())
    );
    assert_eq!(t.sim.request_state(), (RequestState::Fulfilled, None));
    assert_eq!(t.host.close(), Some(0));
}

#[test]
fn relink_keeps_the_client_key_and_sends_the_vault_id() {
    let mut t = E2e::new(json!({}));
    t.link();
    let before = t.ok("anotherpass.get_client_key", json!({"reveal": true}))["client_key"].clone();
    let first_wcid = t.wcid.clone();

    let started = t.ok("anotherpass.link.start", json!({}));
    assert_eq!(started["relink"], true);
    assert_eq!(started["web_client_id"], first_wcid.as_str());
    let qr = started["qr_payload"].as_str().unwrap();
    assert_eq!(
        t.sim.scan_qr(qr).unwrap_err(),
        "This device link already exists. Delete it first."
    );
    assert!(t.sim.delete_link(&first_wcid));
    t.sim.scan_qr(qr).unwrap();
    let done = t.ok("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
    assert_eq!(done["relink"], true);
    t.ok("anotherpass.link.confirm", json!({"matches": true}));
    let relink = t
        .sim
        .api_requests()
        .into_iter()
        .rfind(|r| r.action() == Some("link_app"))
        .unwrap();
    assert_eq!(
        relink.payload.as_ref().unwrap()["vaultId"],
        t.sim.vault_id().as_str()
    );
    let after = t.ok("anotherpass.get_client_key", json!({"reveal": true}))["client_key"].clone();
    assert_eq!(before, after);
}

#[test]
fn relink_against_another_vault_is_refused() {
    let mut t = E2e::new(json!({}));
    t.link();
    let started = t.ok("anotherpass.link.start", json!({}));
    t.sim.delete_link(&t.wcid);
    t.sim.set_vault_salt(&[9u8; 128]);
    t.sim
        .scan_qr(started["qr_payload"].as_str().unwrap())
        .unwrap();
    let (code, msg) = t.err("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
    assert_eq!(code, "vault_mismatch", "{msg}");
    let last = t.sim.api_requests().pop().unwrap();
    assert_eq!(
        (last.status, last.error.as_deref()),
        (400, Some("relink vault id mismatch"))
    );
}

#[test]
fn link_refusals_and_mismatched_fingerprints() {
    let mut t = E2e::new(json!({"link_timeout_ms": 30000}));
    // The owner scanned something else: the phone rejects the key.
    let started = t.ok("anotherpass.link.start", json!({}));
    let qr = started["qr_payload"].as_str().unwrap();
    let (head, hex) = qr.rsplit_once(':').unwrap();
    let flipped: String = hex.chars().rev().collect();
    t.sim.scan_qr(&format!("{head}:{flipped}")).unwrap();
    let (code, msg) = t.err("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
    assert_eq!(code, "link_fingerprint", "{msg}");

    // Not scanned at all: the phone does not know the id.
    let mut fresh = E2e::new(json!({}));
    fresh.ok("anotherpass.link.start", json!({}));
    let (code, _) = fresh.err("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
    assert_eq!(code, "unknown_client");

    // The link screen was closed.
    let started = fresh.ok("anotherpass.link.start", json!({}));
    fresh
        .sim
        .scan_qr(started["qr_payload"].as_str().unwrap())
        .unwrap();
    fresh.sim.set_link_screen_open(false);
    let (code, msg) = fresh.err("anotherpass.link.complete", json!({"server": "127.0.0.1"}));
    assert_eq!(code, "phone_error", "{msg}");
    assert!(msg.contains("Missing action listener"), "{msg}");

    // The person says the fingerprints differ: nothing is saved.
    let mut t3 = E2e::new(json!({}));
    t3.start_and_complete(json!({}));
    let r = t3.ok("anotherpass.link.confirm", json!({"matches": false}));
    assert_eq!(r["linked"], false);
    assert_eq!(t3.ok("anotherpass.status", json!({}))["linked"], false);
    let (code, _) = t3.err("anotherpass.get_client_key", json!({}));
    assert_eq!(code, "not_linked");
}

#[test]
fn owner_denies_and_link_deleted_on_the_phone() {
    let mut t = E2e::new(json!({}));
    t.link();
    t.sim.set_user(Script::deny());
    let (code, msg) = t.err("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(code, "denied_by_user", "{msg}");
    t.sim.set_user(Script::accept().cancel_selection());
    let (code, _) = t.err("anotherpass.fetch_single_credential", json!({}));
    assert_eq!(code, "denied_by_user");
    t.sim.set_user(Script::accept());
    let (code, _) = t.err(
        "anotherpass.fetch_credential_for_uid",
        json!({"uid": "00000000-0000-4000-8000-000000000000"}),
    );
    assert_eq!(code, "denied_by_user", "unknown uid: the app answers 403");
    t.sim.set_blocked(&t.wcid, true);
    let (code, msg) = t.err("anotherpass.get_client_key", json!({}));
    assert_eq!(code, "denied_by_user");
    assert!(msg.contains("blocked"), "{msg}");
    t.sim.set_blocked(&t.wcid, false);
    t.sim.delete_link(&t.wcid);
    let (code, _) = t.err("anotherpass.get_client_key", json!({}));
    assert_eq!(code, "unknown_client");
}

#[test]
fn cancel_frees_the_phones_request_slot() {
    let mut t = E2e::new(json!({}));
    t.link();
    t.sim.set_user(Script::never());
    let id = t.send("anotherpass.fetch_single_credential", json!({}));
    wait_until("the acceptance sheet", || {
        t.sim.request_state().0 == RequestState::AwaitingAcceptance
    });
    let rid = t.sim.request_state().1.unwrap();
    t.host
        .send(&json!({"id": "c", "action": "cancel", "params": {"target": id}}));
    let (reply, _, _) = t.host.reply_for(&id);
    assert_eq!(reply["error"]["code"], "cancelled", "{reply}");
    wait_until("cancel_request", || {
        t.polls()
            .iter()
            .any(|p| p.command() == Some("cancel_request"))
    });
    let cancel = t
        .polls()
        .into_iter()
        .find(|p| p.command() == Some("cancel_request"))
        .unwrap();
    assert_eq!(cancel.request_identifier(), Some(rid.as_str()));
    assert_eq!(
        (cancel.status, cancel.error.as_deref()),
        (403, Some("denied by user"))
    );
    assert_eq!(t.sim.request_state(), (RequestState::Fulfilled, None));
    t.sim.set_user(Script::accept());
    t.ok("anotherpass.get_client_key", json!({}));
}

#[test]
fn timeout_cancels_so_the_next_request_is_not_blocked() {
    let mut t = E2e::new(json!({}));
    t.link();
    t.sim.set_user(Script::never());
    // Long enough that even a loaded machine answers the first poll before the deadline (a
    // first poll that never returns is `phone_unreachable`, rightly); short polls keep it quick.
    let (code, msg) = t.err(
        "anotherpass.get_client_key",
        json!({"timeout_ms": 6000, "poll_interval_ms": 200}),
    );
    assert_eq!(code, "timeout", "{msg}");
    assert!(msg.contains("Approve"), "{msg}");
    assert!(
        t.polls()
            .iter()
            .any(|p| p.command() == Some("cancel_request"))
    );
    t.sim.set_user(Script::accept());
    t.ok("anotherpass.get_client_key", json!({}));
}

#[test]
fn locks_during_polling_keep_the_client_waiting() {
    let mut t = E2e::new(json!({}));
    t.link();
    // Each lock is lifted once the client has polled into it twice.
    type Switch = fn(&Sim, bool);
    let states: [(&str, Switch); 3] = [
        ("device locked", |s, on| s.set_device_locked(on)),
        ("Locked", |s, on| s.set_vault_locked(on)),
        ("not in foreground", |s, on| s.set_in_foreground(!on)),
    ];
    for (said, set) in states {
        set(&t.sim, true);
        t.sim.clear_requests();
        let id = t.send("anotherpass.get_client_key", json!({}));
        wait_until(said, || {
            t.sim
                .api_requests()
                .iter()
                .filter(|r| r.error.as_deref() == Some(said))
                .count()
                >= 2
        });
        set(&t.sim, false);
        let (reply, events, _) = t.host.reply_for(&id);
        assert_eq!(reply["ok"], true, "{said}: {reply}");
        let reason = match said {
            "device locked" => "phone_locked",
            "Locked" => "app_locked",
            _ => "app_not_in_foreground",
        };
        assert!(
            events.iter().any(|e| e["reason"] == reason),
            "{said}: {events:?}"
        );
    }
    // Logged out: the app answers 401 once and stops its server; logging in brings it back.
    t.sim.set_session_denied(true);
    t.sim.clear_requests();
    let id = t.send("anotherpass.get_client_key", json!({}));
    wait_until("the logged-out reply", || !t.sim.is_listening());
    t.sim.set_session_denied(false);
    let (reply, events, _) = t.host.reply_for(&id);
    assert_eq!(reply["ok"], true, "{reply}");
    assert!(
        events.iter().any(|e| e["reason"] == "app_locked"),
        "{events:?}"
    );
}

#[test]
fn concurrent_request_gets_409_until_the_first_is_done() {
    let mut a = E2e::new(json!({}));
    a.link();
    let mut b = a.second_computer();
    let b_wcid = b.wcid.clone();

    a.sim.set_user(Script::never());
    let ida = a.send("anotherpass.get_client_key", json!({}));
    wait_until("A's sheet", || {
        a.sim.request_state().0 == RequestState::AwaitingAcceptance
    });
    let idb = b.send("anotherpass.get_client_key", json!({}));
    wait_until("409 for B", || {
        a.sim
            .api_requests()
            .iter()
            .any(|r| r.web_client_id.as_deref() == Some(&b_wcid) && r.status == 409)
    });
    a.sim.user_accept().unwrap();
    let (ra, _, _) = a.host.reply_for(&ida);
    assert_eq!(ra["ok"], true, "{ra}");
    a.sim.set_user(Script::accept());
    let (rb, events, _) = b.host.reply_for(&idb);
    assert_eq!(rb["ok"], true, "{rb}");
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "other_request_in_progress")
    );
}

#[test]
fn broken_replies_are_reported_not_trusted() {
    let mut t = E2e::new(json!({}));
    t.link();
    for (fault, code) in [
        (Fault::WrongKey, "decrypt_failed"),
        (Fault::BadTag, "decrypt_failed"),
        (Fault::WrongOneTimeKey, "decrypt_failed"),
        (Fault::CorruptEnvelope, "bad_reply"),
        (Fault::Garbage { status: 200 }, "bad_reply"),
        (
            Fault::Oversized {
                bytes: 50 * 1024 * 1024,
                chunked: false,
            },
            "bad_reply",
        ),
        (
            Fault::Oversized {
                bytes: 50 * 1024 * 1024,
                chunked: true,
            },
            "bad_reply",
        ),
    ] {
        t.sim.fault_next_success(fault.clone());
        let (got, msg) = t.err("anotherpass.get_client_key", json!({}));
        assert!(
            got == code || (code == "bad_reply" && got == "decrypt_failed"),
            "{fault:?}: {got} {msg}"
        );
        assert!(
            t.sim
                .api_requests()
                .iter()
                .any(|r| r.fault.as_deref() == Some(&format!("{fault:?}"))),
            "{fault:?} not applied"
        );
    }
    // The link still works afterwards.
    t.ok("anotherpass.get_client_key", json!({}));
}

#[test]
fn slow_closed_and_unreachable_phone() {
    let mut t = E2e::new(json!({"http_timeout_ms": 500}));
    t.link();
    // A reply that never comes in time: the client polls again and gets the result.
    t.sim.fault_next(Fault::Delay(Duration::from_secs(600)));
    let r = t.ok("anotherpass.get_client_key", json!({}));
    assert_eq!(r["client_key_received"], true);
    // A connection closed without a reply: same.
    t.sim.fault_next(Fault::CloseWithoutReply);
    t.ok("anotherpass.get_client_key", json!({}));
    assert!(
        t.sim
            .api_requests()
            .iter()
            .any(|r| r.fault.as_deref() == Some("CloseWithoutReply"))
    );
    // Off the network for the whole request.
    t.sim.set_listening(false).unwrap();
    let (code, msg) = t.err("anotherpass.get_client_key", json!({"timeout_ms": 1000}));
    assert_eq!(code, "phone_unreachable", "{msg}");
    t.sim.set_listening(true).unwrap();
    t.ok("anotherpass.get_client_key", json!({}));
}

/// The polls of one request identifier, in order.
fn polls_of(t: &E2e, rid: &str) -> Vec<LoggedRequest> {
    t.polls()
        .into_iter()
        .filter(|p| p.request_identifier() == Some(rid))
        .collect()
}

#[test]
fn a_request_given_up_is_withdrawn_so_the_next_is_not_blocked() {
    let mut t = E2e::new(json!({}));
    t.link();
    let mb50 = 50 * 1024 * 1024;
    // Each fault replaces the phone's first 202: the phone holds the request, the client stops.
    let cases = [
        (Fault::Garbage { status: 200 }, "bad_reply"),
        (
            Fault::Oversized {
                bytes: mb50,
                chunked: false,
            },
            "bad_reply",
        ),
        (
            Fault::Oversized {
                bytes: mb50,
                chunked: true,
            },
            "bad_reply",
        ),
        (Fault::Forged, "decrypt_failed"),
        (Fault::Garbage { status: 400 }, "rejected_request"),
        (Fault::Garbage { status: 500 }, "phone_error"),
    ];
    for (fault, code) in cases {
        t.sim.set_user(Script::never());
        t.sim.clear_requests();
        t.sim.fault_next(fault.clone());
        let (got, msg) = t.err("anotherpass.get_client_key", json!({}));
        assert_eq!(got, code, "{fault:?}: {msg}");
        let first = t.polls().remove(0);
        assert_eq!(
            (first.status, first.fault.clone()),
            (202, Some(format!("{fault:?}"))),
            "the phone registered the request"
        );
        let rid = first.request_identifier().unwrap().to_string();
        wait_until("cancel_request", || {
            polls_of(&t, &rid)
                .iter()
                .any(|p| p.command() == Some("cancel_request"))
        });
        let polls = polls_of(&t, &rid);
        let commands: Vec<_> = polls.iter().map(|p| p.command().unwrap()).collect();
        assert_eq!(
            commands,
            ["get_client_key", "cancel_request"],
            "{fault:?}: one poll, then one cancel with the same identifier"
        );
        assert_eq!(
            (polls[1].status, polls[1].error.as_deref()),
            (403, Some("denied by user")),
            "{fault:?}"
        );
        assert_eq!(t.sim.request_state(), (RequestState::Fulfilled, None));

        // The next request (a new identifier) is served, never told to wait for another.
        t.sim.set_user(Script::accept());
        t.ok("anotherpass.get_client_key", json!({"timeout_ms": 10000}));
        assert!(
            t.sim.api_requests().iter().all(|r| r.status != 409),
            "{fault:?}: {:?}",
            t.sim.api_requests()
        );
    }
}

#[test]
fn an_undecryptable_answer_is_withdrawn_for_every_client() {
    let mut a = E2e::new(json!({}));
    a.link();
    let mut b = a.second_computer();

    // A's request: the phone's 202 arrives as an answer that does not decrypt.
    a.sim.set_user(Script::never());
    a.sim.fault_next(Fault::Forged);
    let (code, msg) = a.err("anotherpass.fetch_all_credentials", json!({}));
    assert_eq!(code, "decrypt_failed", "{msg}");
    let rid = a.polls()[0].request_identifier().unwrap().to_string();
    wait_until("A's cancel_request", || {
        a.sim.request_state() == (RequestState::Fulfilled, None)
    });
    assert_eq!(
        polls_of(&a, &rid).last().unwrap().command(),
        Some("cancel_request")
    );

    // B, another computer, is not kept waiting by A's abandoned request.
    a.sim.set_user(Script::accept());
    b.ok("anotherpass.get_client_key", json!({"timeout_ms": 10000}));
    assert!(a.sim.api_requests().iter().all(|r| r.status != 409));

    // A decryptable answer is the phone's own: nothing to withdraw after it.
    a.sim.clear_requests();
    a.ok("anotherpass.get_client_key", json!({}));
    assert!(
        a.polls()
            .iter()
            .all(|p| p.command() != Some("cancel_request"))
    );
}
