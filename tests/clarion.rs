//! Clarion end to end: the built host (framed requests, `passbridge call`, the CLI) against a
//! spec-faithful Clarion server, plus the policy gate through the `ApprovalGate` trait, and the
//! same server behind https (a loopback TLS front with certificates made at test time).
use crate::support::clarion_fake;
use crate::support::host;
use crate::support::tls;

use clarion_fake::FakeClarion;
use host::{Home, Host, err_code, ok};
use passbridge::api::Shared as State;
use passbridge::api::{CancelToken, Ctx, EventSink};
use passbridge::config::Paths;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};

const FF_ORIGIN: &str = "moz-extension://0123abcd-0123-4567-89ab-0123456789ab";
const FIREFOX_ADDON: &str = "passbridge@example.org";
const CHROME_A: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";
const CHROME_B: &str = "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba";

/// Firefox's launch arguments: the manifest path and the add-on id.
fn firefox_launch(home: &Home) -> Vec<&'static str> {
    let manifest = home.path().join("org.passbridge.host.json");
    let manifest: &'static str = Box::leak(manifest.to_str().unwrap().to_owned().into_boxed_str());
    vec![manifest, FIREFOX_ADDON]
}

/// One request to a host launched with `args`, as a browser does; the reply frame.
fn launched_call(home: &Home, args: &[&str], action: &str, params: Value) -> Value {
    let (frames, _, stderr) = home.run_once(
        args,
        &host::frame(
            json!({"id": 1, "action": action, "params": params})
                .to_string()
                .as_bytes(),
        ),
    );
    frames
        .into_iter()
        .find(|f| f.get("ok").is_some())
        .unwrap_or_else(|| panic!("no reply: {stderr}"))
}

fn callback_of(started: &Value) -> String {
    let url = url::Url::parse(ok(started)["url"].as_str().unwrap()).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "callback")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}
const KEY1: &str = "a2V5LW9uZS1jcmVkZW50aWFsLWlk";
const KEY2: &str = "a2V5LXR3by1jcmVkZW50aWFsLWlk";

/// `passbridge call` (a new process, like `sendNativeMessage`); progress events go to its stderr.
fn call(home: &Home, action: &str, params: Value) -> Value {
    home.call(&json!({"id": 1, "action": action, "params": params, "progress": true}))
        .0
}

/// Registers a key the way the extension does: start (one process), the page, finish (another).
fn register(home: &Home, fake: &FakeClarion, handle: &str, name: &str) -> Value {
    fake.set_allowed_callback("moz-extension://");
    let started = call(
        home,
        "clarion.register.start",
        json!({"server": fake.base, "origin": FF_ORIGIN}),
    );
    let url = ok(&started)["url"].as_str().unwrap().to_owned();
    assert_eq!(
        fake.open(&url).0,
        200,
        "Clarion refused the /register URL {url}"
    );
    let done = fake.complete_registration(handle, Some(name), Some(0));
    assert_eq!(done.callback, format!("js:{FF_ORIGIN}"));
    let fin = call(
        home,
        "clarion.register.finish",
        json!({"state": done.state, "data": done.data}),
    );
    ok(&fin)["key"].clone()
}

/// Sends a request that needs an approval and returns the authn id from its progress event.
fn send_until_approval(h: &mut Host, id: &str, action: &str, params: Value) -> (String, Value) {
    h.send(&json!({"id": id, "action": action, "params": params, "progress": true}));
    loop {
        let f = h.recv();
        if f["id"] != json!(id) {
            continue;
        }
        assert_eq!(
            f["event"],
            json!("progress"),
            "finished before asking for approval: {f}"
        );
        if let Some(url) = f["html_url"].as_str() {
            let authn = url.rsplit('/').next().unwrap().to_owned();
            return (authn, f);
        }
    }
}

fn final_reply(h: &Host, id: &str) -> Value {
    h.reply_for(&json!(id)).0
}

fn config(home: &Home) -> Value {
    serde_json::from_slice(&std::fs::read(home.path().join("config/config.json")).unwrap()).unwrap()
}

// ------------------------------------------------------------------ the fake itself

#[test]
fn fake_behaves_like_clarion() {
    let fake = FakeClarion::start();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |body: &str| {
        let mut r = agent
            .post(format!("{}/api/authn", fake.base))
            .header("Content-Type", "application/json")
            .send(body.to_owned())
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(
        fake.open(&format!("{}/", fake.base)),
        (200, "Clarion\n".into())
    );
    assert_eq!(post(r#"{"name":"a"}"#).0, 500, "keys missing → nil.map");
    assert_eq!(post(r#"{"keys":null}"#).0, 500);
    let bad = post(r#"{"keys":[{"handle":"h","registered_at":1}]}"#);
    assert_eq!(
        (bad.0, serde_json::from_str::<Value>(&bad.1).unwrap()),
        (400, json!({"error": "invalid params"}))
    );
    assert_eq!(
        post(r#"{"keys":[{"type":"webauthn"}]}"#).0,
        400,
        "missing handle"
    );
    assert_eq!(
        fake.open(&format!("{}/api/authn/nope", fake.base)),
        (404, json!({"error": "authn not found"}).to_string())
    );

    fake.set_utc_offset_minutes(540);
    let (status, body) =
        post(r#"{"keys":[{"type":"webauthn","handle":"aGk","name":"yk","counter":1}]}"#);
    assert_eq!(status, 200, "200, not 201");
    let a = serde_json::from_str::<Value>(&body).unwrap()["authn"].clone();
    let id = a["id"].as_str().unwrap();
    assert_eq!(id.len(), 86);
    assert_eq!(
        (a["status"].clone(), a["name"].clone(), a["comment"].clone()),
        (json!("open"), Value::Null, Value::Null)
    );
    assert!(a["expires_at"].as_str().unwrap().ends_with("+09:00"), "{a}");
    assert_eq!(a["html_url"], json!(format!("{}/authn/{id}", fake.base)));
    assert_eq!(a["url"], json!(format!("{}/api/authn/{id}", fake.base)));
    assert!(a.get("keys").is_none(), "keys are never echoed");

    fake.verify_then_expire(id, "aGk", 2);
    let polled: Value =
        serde_json::from_str(&fake.open(&format!("{}/api/authn/{id}", fake.base)).1).unwrap();
    assert_eq!(
        polled["authn"]["status"],
        json!("expired"),
        "the expiry override hides verified"
    );
    assert_eq!(
        polled["authn"]["verified_key"],
        json!({"type": "webauthn", "handle": "aGk", "name": "yk", "counter": 2})
    );

    assert_eq!(clarion_fake::xmlschema(0, 0), "1970-01-01T00:00:00+00:00");
    assert_eq!(
        clarion_fake::xmlschema(1_795_330_800, 540),
        "2026-11-22T16:00:00+09:00"
    );
    assert_eq!(
        clarion_fake::xmlschema(951_782_400, -90),
        "2000-02-28T22:30:00-01:30"
    );

    let reg = |q: &str| fake.open(&format!("{}/register?{q}", fake.base));
    assert_eq!(
        reg("callback=js:x&public_key=AA"),
        (400, "missing params".into())
    );
    fake.set_allowed_callback("moz-extension://");
    assert_eq!(
        reg("name=&callback=http://evil&public_key=AA"),
        (400, "invalid callback".into())
    );
    assert_eq!(
        reg("name=&callback=js:moz-extension://x&public_key=AAAA"),
        (400, "invalid public key".into())
    );
}

// ------------------------------------------------------------------ registration

#[test]
fn register_across_processes_then_list() {
    let fake = FakeClarion::start();
    let home = Home::new();
    let key = register(&home, &fake, KEY1, "yubikey");
    assert_eq!(key["handle"], json!(KEY1));
    assert_eq!(key["name"], json!("yubikey"));
    assert_eq!(key["counter"], json!(0));

    let page = &fake.registrations()[0];
    assert_eq!(page.name, "passbridge");
    assert_eq!(page.callback, format!("js:{FF_ORIGIN}"));
    assert_eq!(page.state.as_ref().unwrap().len(), 43);

    let keys = ok(&call(&home, "clarion.keys", json!({}))).clone();
    assert_eq!(keys["total"], json!(1));
    assert_eq!(keys["items"][0]["handle"], json!(KEY1));
    assert_eq!(keys["server"], json!(format!("{}/", fake.base)));
    assert!(keys["items"][0].get("public_key").is_none());

    let cfg = config(&home);
    assert_eq!(cfg["clarion"]["keys"][0]["type"], json!("webauthn"));
    assert!(
        !home.path().join("data/clarion-pending.json").exists(),
        "finished registrations leave nothing behind"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("config/config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn register_finish_refuses_bad_input_and_keeps_the_pending_registration() {
    let fake = FakeClarion::start();
    fake.set_allowed_callback("moz-extension://");
    let home = Home::new();
    let started = call(
        &home,
        "clarion.register.start",
        json!({"server": fake.base, "origin": FF_ORIGIN}),
    );
    let url = ok(&started)["url"].as_str().unwrap().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let p = home.path().join("data/clarion-pending.json");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    fake.open(&url);
    let done = fake.complete_registration(KEY1, None, None);

    let wrong_state = call(
        &home,
        "clarion.register.finish",
        json!({"state": "x".repeat(43), "data": done.data}),
    );
    assert_eq!(err_code(&wrong_state), "registration_not_found");
    // One character of the AES-GCM ciphertext changed (and a line break dropped, which alone is
    // harmless): the 11th is always a whole-byte position, unlike the first 'A' anywhere, which
    // could be the last character, whose low bits a lenient base64 decoder ignores.
    let mut sealed: serde_json::Value = serde_json::from_str(&done.data).unwrap();
    let body = sealed["data"].as_str().unwrap().replacen('\n', "", 1);
    let other = if body.as_bytes()[10] == b'A' {
        "B"
    } else {
        "A"
    };
    sealed["data"] = json!(format!("{}{other}{}", &body[..10], &body[11..]));
    let tampered = sealed.to_string();
    let bad = call(
        &home,
        "clarion.register.finish",
        json!({"state": done.state, "data": tampered}),
    );
    assert_eq!(err_code(&bad), "registration_invalid");
    let garbage = call(
        &home,
        "clarion.register.finish",
        json!({"state": done.state, "data": "{}"}),
    );
    assert_eq!(err_code(&garbage), "registration_invalid");
    let missing = call(
        &home,
        "clarion.register.finish",
        json!({"state": done.state}),
    );
    assert_eq!(err_code(&missing), "invalid_params");

    // Still pending: the real data finishes it, once.
    let fin = call(
        &home,
        "clarion.register.finish",
        json!({"state": done.state, "data": done.data}),
    );
    assert_eq!(ok(&fin)["key"]["name"], Value::Null);
    let again = call(
        &home,
        "clarion.register.finish",
        json!({"state": done.state, "data": done.data}),
    );
    assert_eq!(err_code(&again), "registration_not_found");

    // The same authenticator registered twice.
    let started = call(
        &home,
        "clarion.register.start",
        json!({"origin": FF_ORIGIN}),
    );
    fake.open(ok(&started)["url"].as_str().unwrap());
    let dup = fake.complete_registration(KEY1, None, None);
    let r = call(
        &home,
        "clarion.register.finish",
        json!({"state": dup.state, "data": dup.data}),
    );
    assert_eq!(err_code(&r), "key_exists");
}

#[test]
fn register_start_checks_its_params() {
    let fake = FakeClarion::start();
    let home = Home::new();
    let start = |p: Value| call(&home, "clarion.register.start", p);
    // A Firefox add-on must say its origin (the host cannot learn it).
    home.write_config(&json!({"allowed": {"firefox_ids": [FIREFOX_ADDON]}}));
    let (frames, _, _) = home.run_once(
        &firefox_launch(&home),
        &host::frame(
            json!({"id": 1, "action": "clarion.register.start", "params": {"server": fake.base}})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(err_code(&frames[0]), "invalid_params", "origin unknown");
    assert_eq!(
        err_code(&start(json!({"origin": FF_ORIGIN}))),
        "invalid_params",
        "server unknown"
    );
    assert_eq!(
        err_code(&start(
            json!({"server": "ftp://c.example", "origin": FF_ORIGIN})
        )),
        "invalid_params"
    );
    assert_eq!(
        err_code(&start(
            json!({"server": fake.base, "origin": "https://evil.example"})
        )),
        "invalid_params"
    );
    let long = "x".repeat(257);
    assert_eq!(
        err_code(&start(
            json!({"server": fake.base, "origin": FF_ORIGIN, "comment": long})
        )),
        "invalid_params"
    );
    assert_eq!(
        err_code(&call(
            &home,
            "clarion.authenticate",
            json!({"comment": long})
        )),
        "invalid_params"
    );
    let chrome = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";
    assert_eq!(
        err_code(&start(json!({"server": fake.base, "origin": chrome}))),
        "invalid_params",
        "not allowed"
    );
    home.write_config(&json!({"allowed": {"chrome_origins": [format!("{chrome}/")]}}));
    let r = start(json!({"server": fake.base, "comment": "laptop", "origin": chrome}));
    let url = url::Url::parse(ok(&r)["url"].as_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["callback"], format!("js:{chrome}"));
    assert_eq!(q["comment"], "laptop");
    assert_eq!(url.path(), "/register");

    // A key is registered with one server: another one is refused.
    register(&home, &fake, KEY1, "yk");
    let other = FakeClarion::start();
    assert_eq!(
        err_code(&start(json!({"server": other.base, "origin": FF_ORIGIN}))),
        "server_mismatch"
    );
}

// ------------------------------------------------------------------ authentication

fn registered() -> (FakeClarion, Home) {
    let fake = FakeClarion::start();
    let home = Home::new();
    register(&home, &fake, KEY1, "yubikey");
    (fake, home)
}

#[test]
fn authenticate_verified_sends_the_spec_request_and_stores_the_counter() {
    let (fake, home) = registered();
    fake.set_utc_offset_minutes(540);
    let mut h = home.spawn(&[]);
    let (authn, event) = send_until_approval(
        &mut h,
        "a",
        "clarion.authenticate",
        json!({"comment": "test"}),
    );
    assert_eq!(
        event["html_url"],
        json!(format!("{}/authn/{authn}", fake.base))
    );
    assert!(event["expires_at"].as_str().unwrap().ends_with("+09:00"));
    assert_eq!(event["stage"], json!("approval_pending"));

    let sent = &fake.authn_requests()[0];
    let stored = &config(&home)["clarion"]["keys"][0];
    assert_eq!(
        sent,
        &json!({"name": "passbridge", "comment": "test", "keys": [{
            "type": "webauthn", "handle": KEY1, "name": "yubikey", "counter": 0,
            "public_key": stored["public_key"]
        }]})
    );
    fake.verify(&authn, KEY1, 5);
    let r = final_reply(&h, "a");
    assert_eq!(ok(&r)["handle"], json!(KEY1));
    assert_eq!(ok(&r)["counter"], json!(5));
    assert_eq!(ok(&r)["name"], json!("yubikey"));
    assert_eq!(config(&home)["clarion"]["keys"][0]["counter"], json!(5));

    // Next time the stored counter goes to Clarion; a counter that goes back is refused.
    let (authn, _) = send_until_approval(&mut h, "b", "clarion.authenticate", json!({}));
    assert_eq!(fake.authn_requests()[1]["keys"][0]["counter"], json!(5));
    fake.force_verified(
        &authn,
        json!({"type": "webauthn", "handle": KEY1, "counter": 3}),
    );
    assert_eq!(err_code(&final_reply(&h, "b")), "approval_denied");
    assert_eq!(h.close(), Some(0));
}

/// What the user (or a misbehaving server) does with a pending authn.
type Act = dyn Fn(&FakeClarion, &str);

/// Runs `clarion.authenticate` and lets `act` decide it on the fake; returns the reply.
fn authenticate_with(
    fake: &FakeClarion,
    home: &Home,
    act: impl FnOnce(&FakeClarion, &str),
) -> Value {
    let mut h = home.spawn(&[]);
    let (authn, _) = send_until_approval(&mut h, "a", "clarion.authenticate", json!({}));
    act(fake, &authn);
    final_reply(&h, "a")
}

#[test]
fn authenticate_failures_have_distinct_codes() {
    let (fake, home) = registered();
    let cases: Vec<(&str, Box<Act>)> = vec![
        ("approval_cancelled", Box::new(|f, id| f.cancel(id))),
        ("approval_expired", Box::new(|f, id| f.expire(id))),
        (
            "approval_expired",
            Box::new(|f, id| f.verify_then_expire(id, KEY1, 9)),
        ),
        ("approval_not_found", Box::new(|f, id| f.forget(id))),
        (
            "approval_denied",
            Box::new(|f, id| {
                f.force_verified(
                    id,
                    json!({"type": "webauthn", "handle": KEY2, "counter": 9}),
                )
            }),
        ),
    ];
    for (want, act) in cases {
        let r = authenticate_with(&fake, &home, act);
        assert_eq!(err_code(&r), want, "{r}");
        assert!(r["error"]["message"].as_str().unwrap().len() > 20);
    }
    // Nothing was verified: the counter is untouched.
    assert_eq!(config(&home)["clarion"]["keys"][0]["counter"], json!(0));
}

#[test]
fn verified_too_late_says_so() {
    let (fake, home) = registered();
    let r = authenticate_with(&fake, &home, |f, id| f.verify_then_expire(id, KEY1, 9));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only after"),
        "{r}"
    );
}

#[test]
fn host_cancel_stops_polling() {
    let (_fake, home) = registered();
    let mut h = home.spawn(&[]);
    send_until_approval(&mut h, "a", "clarion.authenticate", json!({}));
    let c = h.request(&json!({"id": "c", "action": "cancel", "params": {"target": "a"}}));
    assert_eq!(ok(&c)["cancelled"], json!(true));
    assert_eq!(err_code(&final_reply(&h, "a")), "cancelled");
}

#[test]
fn garbage_and_errors_from_the_server() {
    let (fake, home) = registered();
    // Garbage while polling.
    let r = authenticate_with(&fake, &home, |f, _| {
        f.override_reply("GET", "/api/authn/", 200, "<html>oops")
    });
    assert_eq!(err_code(&r), "clarion_bad_reply");
    // Garbage, huge and failing answers to the create call.
    for (status, body, want) in [
        (200, "not json".to_string(), "clarion_bad_reply"),
        (200, "x".repeat(200 * 1024), "clarion_bad_reply"),
        (
            200,
            json!({"authn": {"id": "x"}}).to_string(),
            "clarion_bad_reply",
        ),
        (
            500,
            "<h1>Internal Server Error</h1>".to_string(),
            "clarion_server_error",
        ),
        (
            400,
            json!({"error": "invalid params"}).to_string(),
            "clarion_server_error",
        ),
        (302, String::new(), "clarion_server_error"),
    ] {
        let fake2 = FakeClarion::start();
        let home2 = Home::new();
        register(&home2, &fake2, KEY1, "yk");
        fake2.override_reply("POST", "/api/authn", status, &body);
        let r = call(&home2, "clarion.authenticate", json!({}));
        assert_eq!(err_code(&r), want, "HTTP {status}: {r}");
    }
}

#[test]
fn unreachable_and_unconfigured() {
    let home = Home::new();
    assert_eq!(
        err_code(&call(&home, "clarion.authenticate", json!({}))),
        "clarion_not_configured"
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    home.write_config(&json!({"clarion": {
        "server": format!("http://127.0.0.1:{port}/"),
        "keys": [{"type": "webauthn", "handle": KEY1, "public_key": "AQID"}]
    }}));
    let r = call(&home, "clarion.authenticate", json!({}));
    assert_eq!(err_code(&r), "clarion_unreachable", "{r}");
}

#[test]
fn an_approval_without_progress_events_fails_at_once() {
    let (fake, home) = registered();
    let (r, _) = home.call(&json!({"id": 1, "action": "clarion.authenticate"}));
    assert_eq!(err_code(&r), "approval_required");
    assert!(r["error"]["message"].as_str().unwrap().contains("progress"));
    assert_eq!(fake.authn_count(), 0, "no authn nobody could open");
}

#[test]
fn a_server_that_never_expires_is_given_up_on() {
    let (fake, home) = registered();
    fake.set_expires_in(1);
    fake.ignore_expiry();
    let r = call(&home, "clarion.authenticate", json!({}));
    assert_eq!(err_code(&r), "approval_expired");
}

// ------------------------------------------------------------------ keys and policy

#[test]
fn policy_strengthening_is_free_weakening_needs_a_touch() {
    let (fake, home) = registered();
    let set = |p: Value| call(&home, "clarion.policy.set", p);
    assert_eq!(
        err_code(&set(json!({"require": ["vault-unlock"]}))),
        "invalid_params"
    );
    assert_eq!(
        err_code(&set(json!({"require": [], "approval_ttl_seconds": 3601}))),
        "invalid_params"
    );
    assert_eq!(err_code(&set(json!({}))), "invalid_params");
    let r = set(json!({"require": ["vault_unlock", "vault_get"], "approval_ttl_seconds": 0}));
    assert_eq!(ok(&r)["require"], json!(["vault_get", "vault_unlock"]));
    assert_eq!(ok(&r)["approval_used"], json!(false));
    assert_eq!(fake.authn_count(), 0);

    let mut h = home.spawn(&[]);
    // Cancelled: nothing changes.
    let (authn, ev) = send_until_approval(
        &mut h,
        "w1",
        "clarion.policy.set",
        json!({"require": ["vault_get"]}),
    );
    assert_eq!(
        ev["comment"],
        json!("passbridge: weaken the approval policy")
    );
    fake.cancel(&authn);
    assert_eq!(err_code(&final_reply(&h, "w1")), "approval_cancelled");
    let p = h.request(&json!({"id": "p", "action": "clarion.policy"}));
    assert_eq!(ok(&p)["require"], json!(["vault_get", "vault_unlock"]));
    // A longer TTL is weaker too; approved, it is saved.
    let (authn, _) = send_until_approval(
        &mut h,
        "w2",
        "clarion.policy.set",
        json!({"require": ["vault_get", "vault_unlock"], "approval_ttl_seconds": 120}),
    );
    fake.verify(&authn, KEY1, 1);
    let r = final_reply(&h, "w2");
    assert_eq!(ok(&r)["approval_ttl_seconds"], json!(120));
    assert_eq!(ok(&r)["approval_used"], json!(true));
    assert_eq!(
        config(&home)["clarion"]["policy"],
        json!({"require": ["vault_get", "vault_unlock"], "approval_ttl_seconds": 120})
    );
}

#[test]
fn policy_needs_a_key() {
    let home = Home::new();
    let r = call(
        &home,
        "clarion.policy.set",
        json!({"require": ["vault_unlock"]}),
    );
    assert_eq!(err_code(&r), "policy_needs_key");
    let p = call(&home, "clarion.policy", json!({}));
    assert_eq!(
        ok(&p)["operations"],
        // Each backend's operations in the order of src/backends.rs, then credential_get.
        json!([
            "anotherpass_link",
            "anotherpass_fetch",
            "anotherpass_reveal_key",
            "vault_unlock",
            "vault_get",
            "vault_read",
            "vault_delete",
            "vault_reset",
            "vault_settings",
            "passman_unlock",
            "passman_get",
            "credential_get"
        ])
    );
    assert_eq!(ok(&p)["require"], json!([]));
}

#[test]
fn keys_and_removal_under_a_policy() {
    let (fake, home) = registered();
    register(&home, &fake, KEY2, "backup");
    assert_eq!(
        ok(&call(&home, "clarion.keys", json!({"limit": 1})))["next_offset"],
        json!(1)
    );
    assert_eq!(
        err_code(&call(&home, "clarion.remove", json!({"handle": "nope"}))),
        "key_not_found"
    );
    ok(&call(
        &home,
        "clarion.policy.set",
        json!({"require": ["vault_unlock"]}),
    ));

    let mut h = home.spawn(&[]);
    // Adding a key now needs a touch of an existing one.
    let (authn, _) = send_until_approval(
        &mut h,
        "r",
        "clarion.register.start",
        json!({"origin": FF_ORIGIN}),
    );
    fake.verify(&authn, KEY2, 1);
    let url = ok(&final_reply(&h, "r"))["url"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.open(&url);
    let done = fake.complete_registration("a2V5LXRocmVl", Some("third"), None);
    let fin = h.request(&json!({"id": "f", "action": "clarion.register.finish", "params": {"state": done.state, "data": done.data}}));
    assert_eq!(ok(&fin)["key"]["name"], json!("third"));

    // Removing needs a touch too.
    let (authn, _) = send_until_approval(&mut h, "x", "clarion.remove", json!({"handle": KEY2}));
    fake.verify(&authn, KEY1, 1);
    let r = final_reply(&h, "x");
    assert_eq!(ok(&r)["remaining"], json!(2));
    let (authn, _) = send_until_approval(
        &mut h,
        "y",
        "clarion.remove",
        json!({"handle": "a2V5LXRocmVl"}),
    );
    fake.verify(&authn, KEY1, 2);
    ok(&final_reply(&h, "y"));
    // The last key cannot go while the policy needs it.
    let r = h.request(&json!({"id": "z", "action": "clarion.remove", "params": {"handle": KEY1}}));
    assert_eq!(err_code(&r), "policy_needs_key");
    let keys = h.request(&json!({"id": "k", "action": "clarion.keys"}));
    assert_eq!(ok(&keys)["total"], json!(1));
}

#[test]
fn removing_without_a_policy_needs_no_touch() {
    let (fake, home) = registered();
    let r = call(&home, "clarion.remove", json!({"handle": KEY1}));
    assert_eq!(ok(&r)["remaining"], json!(0));
    assert_eq!(ok(&r)["approval_used"], json!(false));
    assert_eq!(fake.authn_count(), 0);
}

// ------------------------------------------------------------------ the gate, through the trait

struct GateRig {
    state: Arc<State>,
    events: Arc<Mutex<mpsc::Receiver<Value>>>,
    ctx: Ctx,
}

fn gate_rig(home: &Home) -> GateRig {
    let state = passbridge::backends::load(Paths::under(home.path())).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let ctx = Ctx {
        state: state.clone(),
        events: EventSink::new(
            true,
            Arc::new(move |v| {
                let _ = tx.lock().unwrap().send(v);
            }),
        ),
        cancel: CancelToken::new(),
        caller: Default::default(),
    };
    GateRig {
        state,
        events: Arc::new(Mutex::new(rx)),
        ctx,
    }
}

impl GateRig {
    /// Runs `gate.require(op)` on a thread; returns (authn id from the event, join handle).
    fn require(
        &self,
        op: &'static str,
    ) -> std::thread::JoinHandle<Result<(), passbridge::api::ApiError>> {
        let (state, ctx) = (self.state.clone(), self.ctx.clone());
        std::thread::spawn(move || state.gate().require(&ctx, op))
    }
    fn is_required(&self, op: &str) -> bool {
        self.state.gate().is_required(&self.ctx, op)
    }
    fn next_authn(&self) -> String {
        loop {
            let ev = self
                .events
                .lock()
                .unwrap()
                .recv_timeout(host::TIMEOUT)
                .expect("no progress event");
            if let Some(u) = ev["html_url"].as_str() {
                return u.rsplit('/').next().unwrap().to_owned();
            }
        }
    }
}

#[test]
fn gate_lets_unguarded_operations_through_and_guards_the_rest() {
    let (fake, home) = registered();
    ok(&call(
        &home,
        "clarion.policy.set",
        json!({"require": ["vault_unlock"], "approval_ttl_seconds": 0}),
    ));
    let rig = gate_rig(&home);
    assert!(!rig.is_required("vault_get"));
    assert!(rig.is_required("vault_unlock"));
    assert_eq!(rig.require("vault_get").join().unwrap(), Ok(()));
    assert_eq!(fake.authn_count(), 0, "unguarded: no approval asked");

    let t = rig.require("vault_unlock");
    let authn = rig.next_authn();
    assert_eq!(
        fake.authn(&authn).comment,
        json!("passbridge: unlock the local vault")
    );
    fake.verify(&authn, KEY1, 1);
    assert_eq!(t.join().unwrap(), Ok(()));
    assert!(
        rig.is_required("vault_unlock"),
        "TTL 0: nothing is remembered"
    );
    // TTL 0: the next guarded operation asks again; a cancel blocks it.
    let t = rig.require("vault_unlock");
    let authn = rig.next_authn();
    fake.cancel(&authn);
    assert_eq!(t.join().unwrap().unwrap_err().code, "approval_cancelled");
    assert_eq!(fake.authn_count(), 2);
}

#[test]
fn gate_remembers_an_approval_for_the_ttl() {
    let (fake, home) = registered();
    ok(&call(
        &home,
        "clarion.policy.set",
        json!({"require": ["vault_get"], "approval_ttl_seconds": 600}),
    ));
    let rig = gate_rig(&home);
    // An approval the extension asked for itself (any comment) does not count for the gate.
    let dispatcher = passbridge::api::dispatch::Dispatcher::new(rig.state.clone());
    let req = passbridge::api::parse_request(
        br#"{"id":1,"action":"clarion.authenticate","progress":true}"#,
    )
    .unwrap();
    let own = std::thread::spawn(move || dispatcher.handle(req, Arc::new(|_| {})));
    fake.verify(&fake.wait_for_authn(1), KEY1, 1);
    ok(&own.join().unwrap());

    assert!(rig.is_required("vault_get"));
    let t = rig.require("vault_get");
    fake.verify(&rig.next_authn(), KEY1, 2);
    assert_eq!(t.join().unwrap(), Ok(()));
    assert!(!rig.is_required("vault_get"), "remembered for the TTL");
    assert_eq!(rig.require("vault_get").join().unwrap(), Ok(()));
    assert_eq!(
        fake.authn_count(),
        2,
        "the second operation used the remembered approval"
    );
    // Another process (a new host) remembers nothing.
    let rig2 = gate_rig(&home);
    assert!(rig2.is_required("vault_get"));
    let t = rig2.require("vault_get");
    fake.verify(&rig2.next_authn(), KEY1, 3);
    assert_eq!(t.join().unwrap(), Ok(()));
    assert_eq!(fake.authn_count(), 3);
}

#[test]
fn gate_fails_closed() {
    let home = Home::new();
    // A hand-written policy without keys: nothing guarded can happen.
    home.write_config(&json!({"clarion": {"policy": {"require": ["anotherpass_link"]}}}));
    let rig = gate_rig(&home);
    let e = rig.require("anotherpass_link").join().unwrap().unwrap_err();
    assert_eq!(e.code, "approval_required");
    assert!(rig.is_required("anotherpass_link"));
    assert!(!rig.is_required("vault_unlock"));
    assert_eq!(rig.require("vault_unlock").join().unwrap(), Ok(()));
    // A config file that cannot be read: every operation counts as guarded.
    std::fs::write(home.path().join("config/config.json"), b"{\"clarion\": ").unwrap();
    assert!(rig.is_required("vault_unlock"));
    assert!(rig.require("vault_unlock").join().unwrap().is_err());

    // The request's cancel stops a gate that is waiting.
    let (fake, home) = registered();
    ok(&call(
        &home,
        "clarion.policy.set",
        json!({"require": ["vault_unlock"]}),
    ));
    let rig = gate_rig(&home);
    let t = rig.require("vault_unlock");
    rig.next_authn();
    rig.ctx.cancel.cancel();
    assert_eq!(t.join().unwrap().unwrap_err().code, "cancelled");
    // A server that lies about the key is refused.
    let rig = gate_rig(&home);
    let t = rig.require("vault_unlock");
    let authn = rig.next_authn();
    fake.force_verified(
        &authn,
        json!({"type": "webauthn", "handle": KEY2, "counter": 1}),
    );
    assert_eq!(t.join().unwrap().unwrap_err().code, "approval_denied");
}

// ------------------------------------------------------------------ the CLI

#[test]
fn cli_register_through_the_loopback_callback() {
    let fake = FakeClarion::start();
    fake.set_allowed_callback("http://127.0.0.1:");
    let home = Home::new();
    let mut child = home
        .command()
        .args([
            "clarion",
            "register",
            "--server",
            &fake.base,
            "--comment",
            "cli",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let url = loop {
        let line = rx
            .recv_timeout(host::TIMEOUT)
            .expect("the CLI printed no URL");
        if let Some(u) = line.trim().strip_prefix("http") {
            break format!("http{u}");
        }
    };
    assert_eq!(fake.open(&url).0, 200);
    let done = fake.complete_registration(KEY1, Some("cli key"), Some(3));
    assert!(done.callback.starts_with("http://127.0.0.1:") && done.callback.ends_with("/callback"));
    // A stranger's post is refused and the CLI keeps waiting.
    let (status, body) = FakeClarion::post_callback(&done, "someone-else");
    assert_eq!(status, 400, "{body}");
    let (status, body) = FakeClarion::post_callback(&done, &done.state);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("registered"));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = call(&home, "clarion.keys", json!({}));
    assert_eq!(ok(&keys)["items"][0]["name"], json!("cli key"));
    assert_eq!(ok(&keys)["items"][0]["counter"], json!(3));
}

#[test]
fn cli_register_times_out_clearly() {
    let fake = FakeClarion::start();
    let home = Home::new();
    let out = home
        .command()
        .args([
            "clarion",
            "register",
            "--server",
            &fake.base,
            "--timeout-seconds",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("registration_timeout"), "{err}");
}

#[test]
fn cli_keys_and_policy() {
    let (_fake, home) = registered();
    let out = home.command().args(["clarion", "keys"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(KEY1));
    let out = home
        .command()
        .args([
            "clarion",
            "set-policy",
            "--require",
            "vault_unlock,vault_get",
            "--ttl-seconds",
            "30",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        config(&home)["clarion"]["policy"],
        json!({"require": ["vault_get", "vault_unlock"], "approval_ttl_seconds": 30})
    );
}

// ------------------------------------------------------------------ over https

/// The host with `ca_file` as its only trust (`SSL_CERT_FILE`, no `SSL_CERT_DIR`), or with the
/// system's own store when `None`.
fn tls_command(home: &Home, ca_file: Option<&Path>) -> Command {
    let mut c = home.command();
    c.env_remove("SSL_CERT_DIR");
    match ca_file {
        Some(f) => c.env("SSL_CERT_FILE", f),
        None => c.env_remove("SSL_CERT_FILE"),
    };
    c
}

/// `passbridge call` with [`tls_command`]'s trust.
fn call_tls(home: &Home, ca_file: Option<&Path>, action: &str, params: Value) -> Value {
    let req = json!({"id": 1, "action": action, "params": params, "progress": true});
    let out = tls_command(home, ca_file)
        .arg("call")
        .arg(req.to_string())
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "call printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The fake Clarion behind https with a certificate for `names` issued by a fresh test CA.
fn clarion_behind_tls(names: &[&str]) -> (FakeClarion, tls::TlsFront, tls::TestCa) {
    let ca = tls::TestCa::new("passbridge test CA");
    let fake = FakeClarion::start();
    let front = tls::TlsFront::start(ca.issue(names), tls::backend_of(&fake.base));
    (fake, front, ca)
}

#[test]
fn clarion_over_https_with_a_trusted_ca() {
    let (fake, front, ca) = clarion_behind_tls(&["127.0.0.1"]);
    let home = Home::new();
    let ca_file = ca.write_pem(home.path());
    let trust = Some(ca_file.as_path());

    // Register with the https URL; the browser side opens the page (through the plain backend).
    fake.set_allowed_callback("moz-extension://");
    let started = call_tls(
        &home,
        trust,
        "clarion.register.start",
        json!({"server": front.base, "origin": FF_ORIGIN}),
    );
    let server = format!("{}/", front.base);
    assert_eq!(ok(&started)["server"], json!(server));
    let url = ok(&started)["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{server}register?")), "{url}");
    assert_eq!(fake.open(&url.replace(&front.base, &fake.base)).0, 200);
    let done = fake.complete_registration(KEY1, Some("yubikey"), Some(0));
    let fin = call_tls(
        &home,
        trust,
        "clarion.register.finish",
        json!({"state": done.state, "data": done.data}),
    );
    assert_eq!(ok(&fin)["key"]["handle"], json!(KEY1));
    assert_eq!(config(&home)["clarion"]["server"], json!(server));

    // Authenticate: create and polls go over TLS.
    let mut h = Host::start(&mut tls_command(&home, trust));
    let (authn, _) = send_until_approval(
        &mut h,
        "a",
        "clarion.authenticate",
        json!({"comment": "over tls"}),
    );
    assert_eq!(fake.authn_requests()[0]["comment"], json!("over tls"));
    fake.verify(&authn, KEY1, 7);
    let r = final_reply(&h, "a");
    assert_eq!(ok(&r)["counter"], json!(7));
    assert!(front.handshakes() >= 1, "the host spoke TLS to the front");

    // Under a policy, registering another key asks for a touch first, over TLS too.
    let p = h.request(&json!({"id": "p", "action": "clarion.policy.set",
                              "params": {"require": ["vault_unlock"]}}));
    assert_eq!(ok(&p)["require"], json!(["vault_unlock"]));
    let (authn, event) = send_until_approval(
        &mut h,
        "r",
        "clarion.register.start",
        json!({"origin": FF_ORIGIN}),
    );
    assert_eq!(
        event["comment"],
        json!("passbridge: register another security key")
    );
    fake.verify(&authn, KEY1, 8);
    let r = final_reply(&h, "r");
    assert_eq!(ok(&r)["server"], json!(server));
    assert_eq!(fake.authn_count(), 2);
    assert_eq!(h.close(), Some(0));
}

/// A home whose key is registered with `server` (no registration round needed to fail early).
fn configured_for(server: &str) -> Home {
    let home = Home::new();
    home.write_config(&json!({"clarion": {
        "server": format!("{server}/"),
        "keys": [{"type": "webauthn", "handle": KEY1, "public_key": "AQID"}]
    }}));
    home
}

#[test]
fn clarion_over_https_refuses_an_untrusted_certificate() {
    let (fake, front, _ca) = clarion_behind_tls(&["127.0.0.1"]);
    let home = configured_for(&front.base);
    let stranger = tls::TestCa::new("someone else's CA");
    let stranger_file = stranger.write_pem(home.path());

    for trust in [Some(stranger_file.as_path()), None] {
        let r = call_tls(&home, trust, "clarion.authenticate", json!({}));
        assert_eq!(err_code(&r), "clarion_tls_untrusted", "{r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("the server's certificate is not trusted") && msg.contains(&front.base),
            "{msg}"
        );
    }
    let r = call_tls(
        &home,
        Some(&stranger_file),
        "clarion.authenticate",
        json!({}),
    );
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("SSL_CERT_FILE"), "says what to do: {msg}");
    // Nothing reached Clarion.
    assert_eq!((front.handshakes(), fake.authn_count()), (0, 0));
}

#[test]
fn clarion_over_https_refuses_a_certificate_for_another_host() {
    let (fake, front, ca) = clarion_behind_tls(&["clarion.example"]);
    let home = configured_for(&front.base);
    let ca_file = ca.write_pem(home.path());
    let r = call_tls(&home, Some(&ca_file), "clarion.authenticate", json!({}));
    assert_eq!(err_code(&r), "clarion_tls_untrusted", "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("it is for clarion.example, not for the host 127.0.0.1"),
        "{msg}"
    );
    assert_eq!((front.handshakes(), fake.authn_count()), (0, 0));
}

// ------------------------------------------------------------------ issue 12: who is asking

/// Chrome names the calling extension on the command line: `clarion.register.start` needs no
/// `origin`, even with several allowed extensions, and refuses one naming another extension.
#[test]
fn register_start_uses_the_chrome_caller_from_the_command_line() {
    let fake = FakeClarion::start();
    let home = Home::new();
    home.write_config(
        &json!({"allowed": {"chrome_origins": [format!("{CHROME_A}/"), format!("{CHROME_B}/")]}}),
    );
    let launch = [format!("{CHROME_B}/")];
    let launch: Vec<&str> = launch.iter().map(String::as_str).collect();
    let started = launched_call(
        &home,
        &launch,
        "clarion.register.start",
        json!({"server": fake.base}),
    );
    assert_eq!(callback_of(&started), format!("js:{CHROME_B}"));
    assert_eq!(ok(&started)["callback"], format!("js:{CHROME_B}"));
    let other = launched_call(
        &home,
        &launch,
        "clarion.register.start",
        json!({"server": fake.base, "origin": CHROME_A}),
    );
    assert_eq!(err_code(&other), "invalid_params");
}

/// Firefox's extension origin is a per-profile UUID: the `origin` param stays required.
#[test]
fn register_start_from_firefox_takes_the_origin_param() {
    let fake = FakeClarion::start();
    let home = Home::new();
    home.write_config(&json!({"allowed": {"firefox_ids": [FIREFOX_ADDON]}}));
    let launch = firefox_launch(&home);
    let without = launched_call(
        &home,
        &launch,
        "clarion.register.start",
        json!({"server": fake.base}),
    );
    assert_eq!(err_code(&without), "invalid_params");
    assert!(
        without["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"origin\" is required"),
        "{without}"
    );
    let with = launched_call(
        &home,
        &launch,
        "clarion.register.start",
        json!({"server": fake.base, "origin": FF_ORIGIN}),
    );
    assert_eq!(callback_of(&with), format!("js:{FF_ORIGIN}"));
}

/// A person at the terminal (`passbridge call`) gets the loopback callback: the URL comes as
/// a progress event, the page posts back to this process, and the reply carries the key.
#[test]
fn register_start_from_the_terminal_uses_the_loopback_callback() {
    let fake = FakeClarion::start();
    fake.set_allowed_callback("http://127.0.0.1:");
    let home = Home::new();
    let mut child = home
        .command()
        .arg("call")
        .arg(
            json!({"id": 7, "action": "clarion.register.start",
                   "params": {"server": fake.base, "name": "terminal"}, "progress": true})
            .to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let event: Value = loop {
        let line = rx
            .recv_timeout(host::TIMEOUT)
            .expect("no progress event with the URL");
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v["stage"] == "open_url"
        {
            break v;
        }
    };
    host::assert_valid_event(&event);
    let url = event["url"].as_str().unwrap();
    assert_eq!(fake.open(url).0, 200);
    let done = fake.complete_registration(KEY2, Some("terminal key"), Some(1));
    assert!(
        done.callback.starts_with("http://127.0.0.1:"),
        "{}",
        done.callback
    );
    assert_eq!(event["callback"], done.callback);
    let (status, body) = FakeClarion::post_callback(&done, &done.state);
    assert_eq!(status, 200, "{body}");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    host::assert_valid_reply(&reply);
    assert_eq!(ok(&reply)["key"]["name"], "terminal key");
    assert_eq!(ok(&reply)["callback"], done.callback);
    let keys = call(&home, "clarion.keys", json!({}));
    assert_eq!(ok(&keys)["items"][0]["handle"], KEY2);
}

// ------------------------------------------------------------------ a hostile Clarion (issue 16)

const VAULT_PASSWORD: &str = "correct horse battery";

/// A vault in `home` that opens with VAULT_PASSWORD (made in-process, as a phone result would).
fn make_vault(home: &Home) {
    let v = passbridge::vault::State::with_clock(
        &Paths::under(home.path()),
        std::time::Duration::from_secs(3600),
        Arc::new(passbridge::vault::ManualClock::default()),
    );
    let key = passbridge::anotherpass::seam::ClientKey::from_bytes(&[7; 32]).unwrap();
    v.unlock_with_key(&key, true).unwrap();
    v.set_password(VAULT_PASSWORD, passbridge::vault::format::Kdf::TEST)
        .unwrap();
}

fn vault_locked(h: &mut Host) -> bool {
    let r = h.request(&json!({"id": "s", "action": "vault.status"}));
    ok(&r)["locked"].as_bool().unwrap()
}

#[test]
fn a_forged_clarion_cannot_unlock_the_vault() {
    let (fake, home) = registered();
    make_vault(&home);
    ok(&call(
        &home,
        "clarion.policy.set",
        json!({"require": ["vault_unlock"], "approval_ttl_seconds": 0}),
    ));
    let unlock = json!({"password": VAULT_PASSWORD});
    let mut h = home.spawn(&[]);

    // 1. The create reply already says "verified" (echoing our handle, no counter).
    fake.verify_on_create(true);
    let r = h
        .request(&json!({"id": "a", "action": "vault.unlock", "params": unlock, "progress": true}));
    assert_eq!(err_code(&r), "clarion_bad_reply", "{r}");
    assert!(vault_locked(&mut h));
    fake.verify_on_create(false);

    // 2. A later poll says "verified" without the counter we stored (0 at registration).
    let (authn, _) = send_until_approval(&mut h, "b", "vault.unlock", unlock.clone());
    fake.force_verified(&authn, json!({"type": "webauthn", "handle": KEY1}));
    assert_eq!(err_code(&final_reply(&h, "b")), "approval_denied");
    assert!(vault_locked(&mut h));

    // 3. A real touch: unlocked, and the stored counter advances.
    let (authn, _) = send_until_approval(&mut h, "c", "vault.unlock", unlock.clone());
    fake.verify(&authn, KEY1, 7);
    assert_eq!(ok(&final_reply(&h, "c"))["locked"], json!(false));
    assert_eq!(config(&home)["clarion"]["keys"][0]["counter"], json!(7));

    // 4. The same counter again (a replayed reply): refused.
    ok(&h.request(&json!({"id": "l", "action": "vault.lock"})));
    let (authn, _) = send_until_approval(&mut h, "d", "vault.unlock", unlock);
    fake.force_verified(
        &authn,
        json!({"type": "webauthn", "handle": KEY1, "counter": 7}),
    );
    assert_eq!(err_code(&final_reply(&h, "d")), "approval_denied");
    assert!(vault_locked(&mut h));
    assert_eq!(h.close(), Some(0));
}

#[test]
fn plain_http_to_another_machine_is_refused_when_saved_and_at_gate_time() {
    let home = Home::new();
    let r = call(
        &home,
        "clarion.register.start",
        json!({"server": "http://clarion.invalid:9292", "origin": FF_ORIGIN}),
    );
    assert_eq!(err_code(&r), "clarion_insecure_server", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("https://"));
    let saved = std::fs::read_to_string(home.path().join("config/config.json")).unwrap_or_default();
    assert!(!saved.contains("clarion.invalid"), "{saved}");

    // A config written before the rule (or by hand): the gate refuses before any request.
    make_vault(&home);
    home.write_config(&json!({"clarion": {

        "server": "http://clarion.invalid:9292/",
        "keys": [{"type": "webauthn", "handle": KEY1, "counter": 3, "public_key": "AQID"}],
        "policy": {"require": ["vault_unlock"], "approval_ttl_seconds": 0}
    }}));
    let r = call(&home, "vault.unlock", json!({"password": VAULT_PASSWORD}));
    assert_eq!(err_code(&r), "clarion_insecure_server", "{r}");
    // Loopback http stays allowed (the fake itself is http://127.0.0.1).
    let fake = FakeClarion::start();
    assert!(fake.base.starts_with("http://127.0.0.1:"));
    register(&Home::new(), &fake, KEY2, "yk");
}

#[test]
fn an_approval_covers_only_the_operation_approved() {
    let (fake, home) = registered();
    ok(&call(
        &home,
        "clarion.policy.set",
        json!({"require": ["vault_get", "vault_unlock"], "approval_ttl_seconds": 600}),
    ));
    let rig = gate_rig(&home);
    let t = rig.require("vault_get");
    fake.verify(&rig.next_authn(), KEY1, 1);
    assert_eq!(t.join().unwrap(), Ok(()));
    assert!(!rig.is_required("vault_get"), "remembered for the TTL");
    assert!(
        rig.is_required("vault_unlock"),
        "a vault_get approval does not unlock the vault"
    );
    // Revealing the client key is implied by guarding unlock/get, and approved on its own.
    assert!(rig.is_required("anotherpass_reveal_key"));
    let t = rig.require("vault_unlock");
    let authn = rig.next_authn();
    assert_eq!(
        fake.authn(&authn).comment,
        json!("passbridge: unlock the local vault")
    );
    fake.verify(&authn, KEY1, 2);
    assert_eq!(t.join().unwrap(), Ok(()));
    assert_eq!(fake.authn_count(), 2);
}

/// A policy guarding the vault's unlock also guards lengthening its lock timeout
/// (`vault_settings`): the extension gets the Clarion page in a progress event, and the new
/// timeout is saved only once the key is touched. Shortening asks nobody.
#[test]
fn a_longer_vault_lock_timeout_needs_an_approval_when_unlocking_does() {
    let (fake, home) = registered();
    ok(&call(
        &home,
        "clarion.policy.set",
        json!({"require": ["vault_unlock"]}),
    ));
    let mut h = home.spawn(&[]);
    let (authn, event) = send_until_approval(
        &mut h,
        "longer",
        "vault.settings.set",
        json!({"lock_timeout_minutes": 480}),
    );
    assert_eq!(event["operation"], json!("vault_settings"));
    assert_eq!(config(&home)["vault"]["lock_timeout_minutes"], json!(null));
    fake.verify(&authn, KEY1, 1);
    let r = final_reply(&h, "longer");
    assert_eq!(ok(&r)["lock_timeout_minutes"], json!(480));
    assert_eq!(ok(&r)["approval_used"], json!(true));
    assert_eq!(config(&home)["vault"]["lock_timeout_minutes"], json!(480));
    let asked = fake.authn_requests().len();
    h.send(&json!({"id": "shorter", "action": "vault.settings.set",
                   "params": {"lock_timeout_minutes": 10}, "progress": true}));
    let (r, events, _) = h.reply_for(&json!("shorter"));
    assert_eq!(ok(&r)["approval_used"], json!(false));
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        fake.authn_requests().len(),
        asked,
        "nobody asked to shorten it"
    );
    assert_eq!(config(&home)["vault"]["lock_timeout_minutes"], json!(10));
    assert_eq!(h.close(), Some(0));
}
