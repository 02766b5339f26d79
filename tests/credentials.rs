//! `credentials.search` and `credentials.get` through the built binary, across the local vault
//! and test-only sources (`credentials.test_sources`): one ranked list, paging, a locked source,
//! one that never answers (timeout), no secret in any list, the Clarion policy on `get`, and the
//! vault's own policy operations (`vault_get`, `vault_read`) through these actions.
use crate::support::clarion_fake;
use crate::support::host::{self, err_code, ok, req};
use crate::support::vault as vault_support;

use clarion_fake::FakeClarion;
use serde_json::{Value, json};
use vault_support::{PASSWORD, cred, seed};

/// A vault with four entries (opens with PASSWORD) and more sources: `notebook` answers,
/// `safe` is locked; with `hanging`, `faraway` never answers (every search then waits for the
/// timeout, so only one test has it).
fn home_with(hanging: bool) -> host::Home {
    let home = host::Home::new();
    let mut gh = cred("v-gh", "GitHub", "https://github.com");
    gh.otp = "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into();
    seed(
        home.path(),
        &[
            gh,
            cred("v-gist", "Gist", "https://gist.github.com"),
            cred("v-note", "My github notes", ""),
            cred("v-bank", "Bank", "https://bank.example"),
        ],
    );
    let mut config = json!({
        "credentials": {
            "test_sources": [
                {"source": "notebook", "entries": [
                    {"id": "n-gh", "name": "Another GitHub", "user": "ann", "password": "nb-secret-1",
                     "urls": ["https://www.github.com/login"], "notes": "nb-note",
                     "otp": "otpauth://totp/y?secret=JBSWY3DPEHPK3PXP"},
                    {"id": "n-api", "name": "API", "user": "bot", "password": "nb-secret-2",
                     "urls": ["https://example.org", "https://api.github.com"]},
                    {"id": "n-other", "name": "Unrelated", "user": "x", "password": "nb-secret-3",
                     "urls": ["https://elsewhere.example"]}
                ]},
                {"source": "safe", "behaviour": "locked"}
            ]
        }
    });
    if hanging {
        // Long enough for the other sources on a busy machine; the assertions do not time.
        config["credentials"]["search_timeout_ms"] = json!(1000);
        config["credentials"]["test_sources"]
            .as_array_mut()
            .unwrap()
            .push(json!({"source": "faraway", "behaviour": "hang"}));
    }
    home.write_config(&config);
    home
}

fn home() -> host::Home {
    home_with(false)
}

fn ids(r: &Value) -> Vec<String> {
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["source"].as_str().unwrap(),
                i["id"].as_str().unwrap()
            )
        })
        .collect()
}

fn status_of<'a>(r: &'a Value, source: &str) -> &'a Value {
    r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == source)
        .unwrap_or_else(|| panic!("no status for {source}: {r}"))
}

fn search(h: &mut host::Host, id: u64, params: Value) -> Value {
    let r = ok(&req(h, id, "credentials.search", params)).clone();
    checked_search(r)
}

/// A search result that matches the schema and holds no secret.
fn checked_search(r: Value) -> Value {
    host::assert_schema("credentialsSearchResult", &r);
    let text = r.to_string();
    for secret in [
        "secret-",
        "nb-secret",
        "nb-note",
        "otpauth",
        "JBSWY3DP",
        PASSWORD,
    ] {
        assert!(
            !text.contains(secret),
            "{secret} in a search result: {text}"
        );
    }
    r
}

#[test]
fn search_ranks_across_sources_pages_and_reports_each_source() {
    let home = home();
    let mut h = home.spawn(&[]);

    // The vault is locked: the other sources still answer.
    let r = search(&mut h, 1, json!({"url": "https://github.com/login"}));
    assert_eq!(status_of(&r, "vault")["status"], "locked");
    assert_eq!(status_of(&r, "vault")["error"]["code"], "vault_locked");
    assert_eq!(ids(&r), ["notebook/n-gh", "notebook/n-api"]);

    ok(&req(
        &mut h,
        2,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    let r = search(&mut h, 3, json!({"url": "https://github.com/login"}));
    // Host matches of both sources (by name), then same domain, then name matches.
    assert_eq!(
        ids(&r),
        [
            "notebook/n-gh",
            "vault/v-gh",
            "notebook/n-api",
            "vault/v-gist",
            "vault/v-note"
        ]
    );
    let matches: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["match"].as_str().unwrap())
        .collect();
    assert_eq!(matches, ["host", "host", "domain", "domain", "name"]);
    assert_eq!(r["total"], 5);
    assert_eq!(r["next_offset"], Value::Null);
    assert_eq!(
        r["site"],
        json!({"host": "github.com", "domain": "github.com"})
    );
    assert_eq!(r["items"][1]["has_otp"], true);
    assert_eq!(r["items"][1]["urls"], json!(["https://github.com"]));
    assert_eq!(
        status_of(&r, "vault"),
        &json!({"source": "vault", "status": "ok", "total": 3})
    );
    assert_eq!(status_of(&r, "notebook")["total"], 2);
    assert_eq!(status_of(&r, "safe")["status"], "locked");
    // Every other backend's source is reported too, as not configured in this home.
    for other in r["sources"].as_array().unwrap() {
        if !["vault", "notebook", "safe"].contains(&other["source"].as_str().unwrap()) {
            assert_eq!(other["status"], "not_configured", "{other}");
        }
    }

    // Pages of two: the same order, cut.
    let p1 = search(&mut h, 4, json!({"url": "https://github.com/", "limit": 2}));
    assert_eq!(ids(&p1), ["notebook/n-gh", "vault/v-gh"]);
    assert_eq!(p1["next_offset"], 2);
    let p2 = search(
        &mut h,
        5,
        json!({"url": "https://github.com/", "offset": 2, "limit": 2}),
    );
    assert_eq!(ids(&p2), ["notebook/n-api", "vault/v-gist"]);
    assert_eq!(p2["next_offset"], 4);
    let p3 = search(
        &mut h,
        6,
        json!({"url": "https://github.com/", "offset": 4, "limit": 2}),
    );
    assert_eq!(ids(&p3), ["vault/v-note"]);
    assert_eq!(p3["next_offset"], Value::Null);

    // Text search: name, user or address.
    let r = search(&mut h, 7, json!({"query": "BANK"}));
    assert_eq!(ids(&r), ["vault/v-bank"]);
    assert_eq!(r["items"][0]["match"], "text");
    assert!(r.get("site").is_none());
    let r = search(&mut h, 8, json!({"query": "bot"}));
    assert_eq!(ids(&r), ["notebook/n-api"]);

    // Bad params name what to fix.
    for bad in [
        json!({}),
        json!({"url": "https://a.example", "query": "a"}),
        json!({"url": "not a url"}),
        json!({"query": ""}),
        json!({"url": "https://a.example", "limit": 0}),
        json!({"url": "https://a.example", "limit": "2"}),
    ] {
        let reply = req(&mut h, 9, "credentials.search", bad.clone());
        assert_eq!(err_code(&reply), "invalid_params", "{bad}");
    }
    let reply = req(
        &mut h,
        10,
        "credentials.search",
        json!({"url": "https://a.example", "limit": "2"}),
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{reply}"
    );
    assert_eq!(h.close(), Some(0));
}

#[test]
fn a_source_that_never_answers_is_unreachable_and_the_rest_still_count() {
    let home = home_with(true);
    let mut h = home.spawn(&[]);
    ok(&req(
        &mut h,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    let r = search(
        &mut h,
        2,
        json!({"url": "https://github.com/login", "limit": 3}),
    );
    let far = status_of(&r, "faraway");
    assert_eq!(far["status"], "unreachable");
    assert_eq!(far["error"]["code"], "source_unreachable");
    assert!(
        far["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1000 ms"),
        "{far}"
    );
    assert_eq!(status_of(&r, "vault")["status"], "ok");
    assert_eq!(status_of(&r, "notebook")["status"], "ok");
    assert_eq!(ids(&r), ["notebook/n-gh", "vault/v-gh", "notebook/n-api"]);
    assert_eq!(
        (r["total"].clone(), r["next_offset"].clone()),
        (json!(5), json!(3))
    );
    // The host is not stuck: the next request is answered.
    assert_eq!(ok(&req(&mut h, 3, "ping", json!({"x": 1})))["echo"]["x"], 1);
    assert_eq!(h.close(), Some(0));
}

#[test]
fn get_returns_the_secret_and_a_current_code() {
    let home = home();
    let mut h = home.spawn(&[]);
    // Locked vault: refused at once (nobody is asked to approve what cannot succeed).
    let r = req(
        &mut h,
        1,
        "credentials.get",
        json!({"source": "vault", "id": "v-gh"}),
    );
    assert_eq!(err_code(&r), "vault_locked");
    ok(&req(
        &mut h,
        2,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));

    let r = ok(&req(
        &mut h,
        3,
        "credentials.get",
        json!({"source": "vault", "id": "v-gh"}),
    ))
    .clone();
    host::assert_schema("credentialsGetResult", &r);
    assert_eq!(r["password"], "secret-v-gh");
    assert_eq!(r["user"], "user-v-gh");
    assert_eq!(r["urls"], json!(["https://github.com"]));
    assert_eq!(r["otp_code"]["kind"], "totp");
    assert_eq!(r["otp_code"]["code"].as_str().unwrap().len(), 6);
    assert!(r["otp_code"]["seconds_left"].as_u64().unwrap() <= 30);
    assert!(
        !r.to_string().contains("JBSWY3DP"),
        "the OTP secret stays here"
    );

    let r = ok(&req(
        &mut h,
        4,
        "credentials.get",
        json!({"source": "notebook", "id": "n-api"}),
    ))
    .clone();
    host::assert_schema("credentialsGetResult", &r);
    assert_eq!(
        (r["password"].as_str(), r["has_otp"].as_bool()),
        (Some("nb-secret-2"), Some(false))
    );
    assert!(r.get("otp_code").is_none());

    let cases = [
        (json!({"source": "vault", "id": "nope"}), "vault_not_found"),
        (json!({"source": "nowhere", "id": "x"}), "unknown_source"),
        (json!({"source": "safe", "id": "x"}), "vault_locked"),
        (json!({"source": "vault"}), "invalid_params"),
        (json!({"source": "vault", "id": ""}), "invalid_params"),
    ];
    for (params, code) in cases {
        let r = req(&mut h, 5, "credentials.get", params.clone());
        assert_eq!(err_code(&r), code, "{params}");
    }
    let r = req(&mut h, 6, "credentials.get", json!({"id": "x"}));
    assert!(
        r["error"]["message"].as_str().unwrap().contains("source"),
        "{r}"
    );
    assert_eq!(h.close(), Some(0));
}

#[test]
fn get_passes_the_policy_for_every_source() {
    let home = home();
    // A policy guarding credential_get without a key: nothing can be approved.
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(home.path().join("config/config.json")).unwrap())
            .unwrap();
    config["clarion"] = json!({"policy": {"require": ["credential_get"]}});
    home.write_config(&config);
    let mut h = home.spawn(&[]);
    ok(&req(
        &mut h,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    for (id, source, cid) in [(2, "vault", "v-gh"), (3, "notebook", "n-gh")] {
        let r = req(
            &mut h,
            id,
            "credentials.get",
            json!({"source": source, "id": cid}),
        );
        assert_eq!(err_code(&r), "approval_required", "{source}");
        assert!(!r.to_string().contains("secret"), "{r}");
    }
    // Searching is not guarded.
    let r = search(&mut h, 4, json!({"url": "https://github.com"}));
    assert_eq!(r["total"], 5);
    let p = ok(&req(&mut h, 5, "clarion.policy", json!({}))).clone();
    assert!(
        p["operations"]
            .as_array()
            .unwrap()
            .contains(&json!("credential_get"))
    );
    assert_eq!(p["unknown"], json!([]));
    assert_eq!(h.close(), Some(0));
}

// ------------------------------------------------------------------ the vault's own operations

const KEY1: &str = "a2V5LW9uZS1jcmVkZW50aWFsLWlk";
const FF_ORIGIN: &str = "moz-extension://0123abcd-0123-4567-89ab-0123456789ab";

/// `home()` with a registered Clarion key and a policy guarding `require` (strengthening needs
/// no touch), each step in its own process as the extension does it.
fn guarded_home(require: &[&str], ttl: u64) -> (FakeClarion, host::Home) {
    let home = home();
    let fake = FakeClarion::start();
    fake.set_allowed_callback("moz-extension://");
    let call = |action: &str, params: Value| {
        home.call(&json!({"id": 1, "action": action, "params": params, "progress": true}))
            .0
    };
    let started = call(
        "clarion.register.start",
        json!({"server": fake.base, "origin": FF_ORIGIN}),
    );
    let url = ok(&started)["url"].as_str().unwrap().to_owned();
    assert_eq!(fake.open(&url).0, 200, "Clarion refused {url}");
    let done = fake.complete_registration(KEY1, Some("yubikey"), Some(0));
    ok(&call(
        "clarion.register.finish",
        json!({"state": done.state, "data": done.data}),
    ));
    let p = call(
        "clarion.policy.set",
        json!({"require": require, "approval_ttl_seconds": ttl}),
    );
    assert_eq!(ok(&p)["approval_used"], false, "{p}");
    assert_eq!(fake.authn_count(), 0);
    (fake, home)
}

/// Sends `action` with progress events and waits for the one asking for an approval: (authn
/// id, event). Fails if the request finishes first.
fn until_approval(h: &mut host::Host, id: &str, action: &str, params: Value) -> (String, Value) {
    h.send(&json!({"id": id, "action": action, "params": params, "progress": true}));
    loop {
        let f = h.recv();
        if f["id"] != id {
            continue;
        }
        assert_eq!(f["event"], "progress", "finished before asking: {f}");
        if f["stage"] == "approval_pending" {
            let url = f["html_url"].as_str().unwrap();
            return (url.rsplit('/').next().unwrap().to_owned(), f);
        }
    }
}

#[test]
fn get_from_the_vault_needs_the_vault_get_approval() {
    let (fake, home) = guarded_home(&["vault_get"], 0);
    let mut h = home.spawn(&[]);
    ok(&req(
        &mut h,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    let get = json!({"source": "vault", "id": "v-gh"});

    // Approved: the secret comes only after the touch.
    let (authn, event) = until_approval(&mut h, "a", "credentials.get", get.clone());
    assert_eq!(event["operation"], "vault_get");
    assert_eq!(event["html_url"], format!("{}/authn/{authn}", fake.base));
    assert_eq!(
        fake.authn(&authn).comment,
        json!("passbridge: give a credential from the local vault to the browser")
    );
    fake.verify(&authn, KEY1, 1);
    let (r, events, _) = h.reply_for(&json!("a"));
    host::assert_schema("credentialsGetResult", ok(&r));
    assert_eq!(r["result"]["password"], "secret-v-gh");
    assert!(events.iter().any(|e| e["stage"] == "approval_verified"));

    // Refused on the page, or "verified" by a key that is not ours: no secret (TTL 0: each
    // get asks again).
    let (authn, _) = until_approval(&mut h, "b", "credentials.get", get.clone());
    fake.cancel(&authn);
    let (r, _, _) = h.reply_for(&json!("b"));
    assert_eq!(err_code(&r), "approval_cancelled");
    let (authn, _) = until_approval(&mut h, "c", "credentials.get", get.clone());
    fake.force_verified(
        &authn,
        json!({"type": "webauthn", "handle": "c29tZW9uZS1lbHNl", "counter": 9}),
    );
    let (r, _, _) = h.reply_for(&json!("c"));
    assert_eq!(err_code(&r), "approval_denied");
    assert!(!r.to_string().contains("secret-v-gh"), "{r}");

    // Without progress events nobody could open the page: refused at once.
    let asked = fake.authn_count();
    let r = req(&mut h, 2, "credentials.get", get);
    assert_eq!(err_code(&r), "approval_required");
    assert_eq!(fake.authn_count(), asked);
    // Another source is not the vault: vault_get does not guard it.
    let r = req(
        &mut h,
        3,
        "credentials.get",
        json!({"source": "notebook", "id": "n-gh"}),
    );
    assert_eq!(ok(&r)["password"], "nb-secret-1");
    assert_eq!(fake.authn_count(), asked);
    assert_eq!(h.close(), Some(0));
}

#[test]
fn search_keeps_the_vault_locked_until_vault_read_is_approved() {
    let (fake, home) = guarded_home(&["vault_read"], 600);
    let mut h = home.spawn(&[]);
    ok(&req(
        &mut h,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));

    // Unlocked, but the policy guards listing it: no vault entry, and nobody is asked even
    // though the request could show a page.
    for (id, params) in [
        ("s1", json!({"url": "https://github.com/login"})),
        ("s2", json!({"query": "bank"})),
    ] {
        h.send(
            &json!({"id": id, "action": "credentials.search", "params": params, "progress": true}),
        );
        let (reply, events, _) = h.reply_for(&json!(id));
        assert!(events.is_empty(), "{events:?}");
        let r = checked_search(ok(&reply).clone());
        let vault = status_of(&r, "vault");
        assert_eq!(vault["status"], "locked", "{r}");
        assert_eq!(vault["error"]["code"], "approval_required");
        assert!(
            vault["error"]["message"]
                .as_str()
                .unwrap()
                .contains("vault.search"),
            "{vault}"
        );
        assert!(
            ids(&r).iter().all(|i| !i.starts_with("vault/")),
            "{params}: {r}"
        );
    }
    let r = search(&mut h, 2, json!({"url": "https://github.com/login"}));
    assert_eq!(ids(&r), ["notebook/n-gh", "notebook/n-api"]);
    assert_eq!(fake.authn_count(), 0, "a search never asks for a touch");

    // vault.search asks for it; approved, it is remembered for the TTL.
    let (authn, event) = until_approval(
        &mut h,
        "v",
        "vault.search",
        json!({"url": "https://github.com/"}),
    );
    assert_eq!(event["operation"], "vault_read");
    fake.verify(&authn, KEY1, 1);
    let (r, _, _) = h.reply_for(&json!("v"));
    assert_eq!(ok(&r)["total"], 3);

    let r = search(&mut h, 3, json!({"url": "https://github.com/login"}));
    assert_eq!(
        status_of(&r, "vault"),
        &json!({"source": "vault", "status": "ok", "total": 3})
    );
    assert_eq!(
        ids(&r),
        [
            "notebook/n-gh",
            "vault/v-gh",
            "notebook/n-api",
            "vault/v-gist",
            "vault/v-note"
        ]
    );
    let r = search(&mut h, 4, json!({"query": "bank"}));
    assert_eq!(ids(&r), ["vault/v-bank"]);
    assert_eq!(fake.authn_count(), 1);
    assert_eq!(h.close(), Some(0));

    // With the agent the approval (and the unlock) count in every process of the user: a new
    // host uses both without asking…
    let mut h = home.spawn(&[]);
    let r = search(&mut h, 2, json!({"url": "https://github.com/login"}));
    assert_eq!(status_of(&r, "vault")["status"], "ok", "{r}");
    assert_eq!(fake.authn_count(), 1);
    // …until `passbridge lock` forgets them: unlocked again, the vault is not listed unasked.
    assert!(home.run_cli(&["lock"], "").status.success());
    ok(&req(
        &mut h,
        3,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    let r = search(&mut h, 4, json!({"url": "https://github.com/login"}));
    assert_eq!(status_of(&r, "vault")["status"], "locked");
    assert_eq!(h.close(), Some(0));

    // Without the agent approvals live in one process: a new host asks again.
    let mut h = host::Host::start(home.command().env("PASSBRIDGE_AGENT", "off"));
    ok(&req(
        &mut h,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    let r = search(&mut h, 2, json!({"url": "https://github.com/login"}));
    assert_eq!(status_of(&r, "vault")["status"], "locked");
    assert_eq!(h.close(), Some(0));
}
