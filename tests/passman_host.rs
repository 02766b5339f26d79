//! Passman end to end: the built host (framed requests) and the CLI against a Passman API server
//! that behaves like the PHP controllers (tests/support/passman_fake.rs), with credentials seeded
//! the way the web app encrypts them.
use crate::support::host;
use crate::support::passman_fake;

use host::{Home, Host, err, ok};
use passman_fake::{APP_PASSWORD, FakePassman, LOGIN, Vault, field_value};
use serde_json::{Value, json};

const VAULT_KEY: &str = "correct horse vault";
// RFC 6238's SHA-1 secret in base32.
const OTP_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

struct World {
    fake: FakePassman,
    vault: Vault,
    home: Home,
    host: Host,
    next: u64,
    github: String,
}

impl World {
    /// A vault with a GitHub login (TOTP), a hidden credential and one in the trash.
    fn new() -> Self {
        let fake = FakePassman::start();
        let vault = fake.add_vault("Personal");
        let github = fake.add_credential(
            &vault,
            VAULT_KEY,
            "GitHub",
            json!({
                "username": "octocat", "password": "gh-s3cret", "url": "https://github.com/login",
                "email": "octo@example.org",
                "otp": {"type": "totp", "secret": OTP_SECRET, "algorithm": "SHA1", "period": 30, "digits": 6},
                "tags": [{"text": "dev"}],
            }),
            json!({"hidden": 0, "delete_time": 0}),
        );
        fake.add_credential(
            &vault,
            VAULT_KEY,
            "Test key for vault Personal",
            json!({"password": "lorum ipsum"}),
            json!({"hidden": 1}),
        );
        fake.add_credential(
            &vault,
            VAULT_KEY,
            "Old mail",
            json!({"username": "me", "password": "old", "url": "https://mail.example.com"}),
            json!({"delete_time": 1_700_000_000}),
        );
        let home = Home::new();
        let host = home.spawn(&[]);
        Self {
            fake,
            vault,
            home,
            host,
            next: 0,
            github,
        }
    }

    fn call(&mut self, action: &str, params: Value) -> Value {
        self.next += 1;
        self.host
            .request(&json!({"id": self.next, "action": action, "params": params}))
    }

    fn setup(&mut self) -> Value {
        let base = self.fake.base.clone();
        self.call(
            "passman.setup",
            json!({"server": base, "login": LOGIN, "app_password": APP_PASSWORD}),
        )
    }

    fn unlocked() -> Self {
        let mut w = Self::new();
        ok(&w.setup());
        ok(&w.call("passman.unlock", json!({"password": VAULT_KEY})));
        w
    }
}

#[test]
fn setup_checks_the_app_password_and_never_echoes_it() {
    let mut w = World::new();
    let base = w.fake.base.clone();
    let bad = w.call(
        "passman.setup",
        json!({"server": base, "login": LOGIN, "app_password": "wrong"}),
    );
    let msg = err(&bad, "passman_auth_failed");
    assert!(
        msg.contains("app password") && msg.contains("Security"),
        "{msg}"
    );
    let r = w.setup();
    let text = r.to_string();
    assert!(!text.contains(APP_PASSWORD), "{text}");
    assert_eq!(ok(&r)["vaults"][0]["name"], "Personal");
    assert!(ok(&r).get("warning").is_none());
    let file = w.home.path().join("data/passman-account.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let status = w.call("status", json!({}));
    assert_eq!(ok(&status)["passman"]["configured"], true);
    assert_eq!(ok(&status)["passman"]["locked"], true);
    assert!(!status.to_string().contains(APP_PASSWORD));
    // Plain http to another machine needs allow_http.
    let insecure = w.call(
        "passman.setup",
        json!({"server": "http://cloud.example.net", "login": LOGIN, "app_password": APP_PASSWORD}),
    );
    assert!(err(&insecure, "invalid_params").contains("allow_http"));
    // With allow_http every reply warns.
    let r = w.call(
        "passman.setup",
        json!({"server": base, "login": LOGIN, "app_password": APP_PASSWORD, "allow_http": true}),
    );
    assert!(ok(&r)["warning"].as_str().unwrap().contains("http://"));
    let r = w.call("passman.status", json!({}));
    assert!(ok(&r)["warning"].is_string());
    let removed = w.call("passman.remove", json!({}));
    assert_eq!(ok(&removed)["removed"], true);
    assert!(!file.exists());
    err(
        &w.call("passman.vaults", json!({})),
        "passman_not_configured",
    );
}

#[test]
fn unlock_right_and_wrong_then_lock() {
    let mut w = World::new();
    ok(&w.setup());
    err(&w.call("passman.list", json!({})), "passman_locked");
    let wrong = w.call("passman.unlock", json!({"password": "not it"}));
    assert!(err(&wrong, "wrong_password").contains("Personal"));
    let guid = w.vault.guid.clone();
    let r = w.call(
        "passman.unlock",
        json!({"vault": guid, "password": VAULT_KEY}),
    );
    assert_eq!(ok(&r)["locked"], false);
    assert_eq!(ok(&r)["unlocked_vault"]["name"], "Personal");
    host::assert_schema("passmanStatus", ok(&r));
    assert!(ok(&r)["ttl_remaining_seconds"].as_u64().unwrap() > 3000);
    // Another unlock by name, the challenge being another random field each time.
    for _ in 0..4 {
        ok(&w.call(
            "passman.unlock",
            json!({"vault": "Personal", "password": VAULT_KEY}),
        ));
        err(
            &w.call("passman.unlock", json!({"password": "nope"})),
            "wrong_password",
        );
    }
    ok(&w.call("passman.unlock", json!({"password": VAULT_KEY})));
    let r = w.call("passman.lock", json!({}));
    assert_eq!(ok(&r)["was_unlocked"], true);
    err(
        &w.call("passman.get", json!({"guid": w.github.clone()})),
        "passman_locked",
    );
    err(&w.call("passman.unlock", json!({})), "invalid_params");
}

#[test]
fn search_list_and_get_with_totp_skip_hidden_and_trashed() {
    let mut w = World::unlocked();
    let r = w.call(
        "passman.search",
        json!({"url": "https://www.github.com/settings"}),
    );
    let items = ok(&r)["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{r}");
    assert_eq!(items[0]["label"], "GitHub");
    assert_eq!(items[0]["username"], "octocat");
    assert_eq!(items[0]["has_otp"], true);
    assert_eq!(items[0]["tags"], json!(["dev"]));
    assert!(
        items[0].get("password").is_none(),
        "search never carries secrets"
    );
    let r = w.call("passman.search", json!({"query": "octo"}));
    assert_eq!(ok(&r)["total"], 1);
    let r = w.call("passman.search", json!({"url": "https://mail.example.com"}));
    assert_eq!(ok(&r)["total"], 0, "trashed credentials are skipped: {r}");
    let r = w.call("passman.list", json!({}));
    host::assert_schema("passmanListResult", ok(&r));
    let labels: Vec<&str> = ok(&r)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["GitHub"], "hidden and trashed are skipped");
    let g = w.github.clone();
    let r = w.call("passman.get", json!({"guid": g}));
    host::assert_schema("passmanGetResult", ok(&r));
    let c = &ok(&r)["credential"];
    assert_eq!(c["password"], "gh-s3cret");
    assert_eq!(c["email"], "octo@example.org");
    let code = c["otp_code"]["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(c["otp_code"]["kind"], "totp");
    err(&w.call("passman.search", json!({})), "invalid_params");
}

#[test]
fn create_then_read_back_as_the_web_app_would() {
    let mut w = World::unlocked();
    let r = w.call(
        "passman.create",
        json!({"label": "Bank", "username": "alice", "password": "b@nk pw", "url": "https://bank.example",
               "tags": ["money"], "otp": format!("otpauth://totp/Bank:alice?secret={OTP_SECRET}&issuer=Bank")}),
    );
    let created = &ok(&r)["credential"];
    let guid = created["guid"].as_str().unwrap().to_owned();
    assert_eq!(created["password"], "b@nk pw");
    let stored = w.fake.credential(&guid).unwrap().data;
    // Every encrypted field is a ciphertext the web app's sjcl opens; values are JSON texts.
    for f in passman_fake::SERVER_ENCRYPTED.iter().copied() {
        assert!(
            field_value(VAULT_KEY, &stored[f]).is_some(),
            "{f}: {}",
            stored[f]
        );
    }
    assert_eq!(
        field_value(VAULT_KEY, &stored["password"]),
        Some(json!("b@nk pw"))
    );
    assert_eq!(
        field_value(VAULT_KEY, &stored["tags"]),
        Some(json!([{"text": "money"}]))
    );
    assert_eq!(
        field_value(VAULT_KEY, &stored["otp"]).unwrap()["secret"],
        OTP_SECRET
    );
    assert_eq!(stored["hidden"], 0);
    assert_eq!(stored["label"], "Bank");
    let r = w.call("passman.get", json!({"guid": guid}));
    assert_eq!(ok(&r)["credential"]["username"], "alice");
    assert!(ok(&r)["credential"]["otp_code"]["code"].is_string());
    let r = w.call(
        "passman.search",
        json!({"url": "https://bank.example/login"}),
    );
    assert_eq!(ok(&r)["total"], 1);
    err(
        &w.call("passman.create", json!({"username": "x"})),
        "invalid_params",
    );
}

#[test]
fn update_sends_the_whole_credential_and_keeps_what_it_does_not_know() {
    let mut w = World::unlocked();
    let vault = w.vault.clone();
    let guid = w.fake.add_credential(
        &vault,
        VAULT_KEY,
        "Shop",
        json!({
            "username": "bob", "password": "old pw", "url": "https://shop.example",
            "custom_fields": [{"label": "PIN", "value": "1234", "secret": true, "field_type": "text"}],
            "files": [{"filename": "receipt.pdf", "size": 10, "mimetype": "application/pdf", "guid": "F1"}],
            "compromised": true,
        }),
        json!({"icon": {"type": "svg", "content": "PHN2Zz4="}, "renew_interval": 90, "future_field": {"keep": [1, 2]}}),
    );
    let r = w.call(
        "passman.update",
        json!({"guid": guid, "password": "new pw"}),
    );
    assert_eq!(ok(&r)["credential"]["password"], "new pw");
    let patch = w
        .fake
        .requests()
        .into_iter()
        .rfind(|q| q.method == "PATCH")
        .unwrap()
        .body
        .unwrap();
    assert_eq!(
        patch["label"], "Shop",
        "PATCH must carry the label (spec B.7)"
    );
    assert_eq!(patch["guid"], guid.as_str());
    for f in passman_fake::SERVER_ENCRYPTED.iter().copied() {
        assert!(patch[f].is_string(), "{f} must never be null: {}", patch[f]);
    }
    let stored = w.fake.credential(&guid).unwrap();
    assert!(!stored.corrupted);
    let d = &stored.data;
    assert_eq!(
        field_value(VAULT_KEY, &d["password"]),
        Some(json!("new pw"))
    );
    assert_eq!(field_value(VAULT_KEY, &d["username"]), Some(json!("bob")));
    assert_eq!(
        field_value(VAULT_KEY, &d["custom_fields"]).unwrap()[0]["value"],
        "1234"
    );
    assert_eq!(
        field_value(VAULT_KEY, &d["files"]).unwrap()[0]["filename"],
        "receipt.pdf"
    );
    assert_eq!(field_value(VAULT_KEY, &d["compromised"]), Some(json!(true)));
    assert_eq!(d["future_field"], json!({"keep": [1, 2]}));
    assert_eq!(d["renew_interval"], 90);
    assert_eq!(d["icon"]["type"], "svg");
    // Hidden is a 0/1 integer on the way back, and stays hidden.
    let test_key =
        w.fake
            .add_credential(&vault, VAULT_KEY, "Hidden", json!({}), json!({"hidden": 1}));
    ok(&w.call("passman.update", json!({"guid": test_key, "username": "x"})));
    assert_eq!(w.fake.credential(&test_key).unwrap().data["hidden"], 1);
    // Delete moves to the trash with a whole-credential update.
    let r = w.call("passman.delete", json!({"guid": guid}));
    assert!(ok(&r)["delete_time"].as_i64().unwrap() > 0);
    let kept = w.fake.credential(&guid).expect("trashed, not destroyed");
    assert!(!kept.corrupted);
    let r = w.call("passman.search", json!({"url": "https://shop.example"}));
    assert_eq!(ok(&r)["total"], 0);
}

#[test]
fn shared_credentials_are_read_with_their_shared_key() {
    let mut w = World::unlocked();
    let vault = w.vault.clone();
    let shared = w.fake.add_share(
        &vault,
        VAULT_KEY,
        "a-random-shared-key-string",
        "Team wiki",
        json!({"username": "team", "password": "w1k1", "url": "https://wiki.example.org"}),
    );
    let r = w.call(
        "passman.search",
        json!({"url": "https://wiki.example.org/"}),
    );
    let items = ok(&r)["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{r}");
    assert_eq!(items[0]["shared"], true);
    let r = w.call("passman.get", json!({"guid": shared}));
    assert_eq!(ok(&r)["credential"]["password"], "w1k1");
    err(
        &w.call("passman.update", json!({"guid": shared, "password": "x"})),
        "passman_shared_read_only",
    );
    // Sharing disabled: `[]` as text/html is an empty list, not an error.
    w.fake.disable_sharing();
    let r = w.call("passman.list", json!({}));
    assert_eq!(ok(&r)["total"], 1);
}

#[test]
fn undecryptable_fields_are_reported_on_their_credential() {
    let mut w = World::unlocked();
    let vault = w.vault.clone();
    let g = w.fake.add_credential(
        &vault,
        "some other key",
        "Foreign",
        json!({"username": "x", "password": "y", "url": "https://foreign.example"}),
        json!({}),
    );
    let r = w.call("passman.list", json!({}));
    let items = ok(&r)["items"].as_array().unwrap();
    let foreign = items
        .iter()
        .find(|i| i["guid"] == g.as_str())
        .expect("still listed");
    assert!(
        foreign["unreadable_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("password"))
    );
    assert_eq!(items.len(), 2, "the rest of the list is intact");
    err(
        &w.call("passman.update", json!({"guid": g, "username": "z"})),
        "passman_unreadable_credential",
    );
}

#[test]
fn server_errors_and_garbage_are_typed() {
    let mut w = World::unlocked();
    // Unknown credential: Passman answers a 500 HTML page.
    let r = w.call(
        "passman.get",
        json!({"guid": "AAAAAAAA-AAAA-4AAA-AAAA-AAAAAAAAAAAA"}),
    );
    assert!(err(&r, "server_error").contains("no longer exist"));
    err(
        &w.call(
            "passman.update",
            json!({"guid": "AAAAAAAA-AAAA-4AAA-AAAA-AAAAAAAAAAAA", "password": "x"}),
        ),
        "server_error",
    );
    let vault_path = format!("vaults/{}", w.vault.guid);
    for (status, ctype, body, code) in [
        (
            500,
            "text/html",
            "<html>Internal Server Error</html>",
            "server_error",
        ),
        (502, "text/html", "<html>Bad Gateway</html>", "server_error"),
        (
            200,
            "text/html",
            "<html><body>Nextcloud login</body></html>",
            "bad_reply",
        ),
        (
            200,
            "application/json",
            "{\"not\": \"a vault\"",
            "bad_reply",
        ),
        (200, "application/json", "[1, 2, 3]", "bad_reply"),
        (404, "application/json", "[]", "not_found"),
        (
            401,
            "application/json",
            "{\"message\":\"nope\"}",
            "passman_auth_failed",
        ),
        (303, "text/html", "", "server_error"),
    ] {
        w.fake.clear_overrides();
        w.fake
            .override_reply("GET", &vault_path, status, ctype, body);
        let r = w.call("passman.list", json!({}));
        let msg = err(&r, code);
        if code == "server_error" {
            assert!(msg.contains(&status.to_string()), "{msg}");
        }
    }
    w.fake.clear_overrides();
    w.fake
        .override_reply("GET", "vaults", 200, "application/json", "{\"vaults\": 5}");
    err(&w.call("passman.vaults", json!({})), "bad_reply");
    w.fake.clear_overrides();
    ok(&w.call("passman.list", json!({})));
}

#[test]
fn a_vault_without_credentials_is_unlisted_and_cannot_be_unlocked() {
    let mut w = World::new();
    let empty = w.fake.add_vault("Empty");
    ok(&w.setup());
    let r = w.call("passman.vaults", json!({}));
    let names: Vec<&str> = ok(&r)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Personal"]);
    let r = w.call(
        "passman.unlock",
        json!({"vault": empty.guid, "password": "anything"}),
    );
    err(&r, "passman_empty_vault");
    let r = w.call(
        "passman.unlock",
        json!({"vault": "NO-SUCH-VAULT", "password": "anything"}),
    );
    err(&r, "not_found");
}

#[test]
fn cli_setup_then_get_reads_secrets_from_stdin() {
    let w = World::new();
    let run = |args: &[&str], stdin: &str| {
        let out = w.home.run_cli(&[&["passman"], args].concat(), stdin);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (okay, out, errs) = run(
        &["setup", "--server", &w.fake.base, "--login", LOGIN],
        &format!("{APP_PASSWORD}\n"),
    );
    assert!(okay, "{errs}");
    assert!(!out.contains(APP_PASSWORD));
    let (okay, out, errs) = run(&["get", &w.github], &format!("{VAULT_KEY}\n"));
    assert!(okay, "{errs}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["credential"]["password"], "gh-s3cret");
    let (okay, _, errs) = run(&["unlock"], "wrong\n");
    assert!(!okay && errs.contains("Wrong password"), "{errs}");
    let (okay, out, errs) = run(
        &["add", "--label", "CLI", "--username", "u"],
        &format!("{VAULT_KEY}\nnew-secret\n"),
    );
    assert!(okay, "{errs}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let stored = w
        .fake
        .credential(v["credential"]["guid"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        field_value(VAULT_KEY, &stored.data["password"]),
        Some(json!("new-secret"))
    );
}

#[test]
fn credentials_search_and_get_cover_passman() {
    let mut w = World::new();
    let source = |r: &Value| {
        ok(r)["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == "passman")
            .cloned()
            .expect("passman reports")
    };
    let r = w.call("credentials.search", json!({"url": "https://github.com"}));
    assert_eq!(source(&r)["status"], "not_configured");
    ok(&w.setup());
    let r = w.call("credentials.search", json!({"url": "https://github.com"}));
    assert_eq!(source(&r)["status"], "locked");
    assert_eq!(source(&r)["error"]["code"], "passman_locked");
    ok(&w.call("passman.unlock", json!({"password": VAULT_KEY})));
    let r = w.call(
        "credentials.search",
        json!({"url": "https://gist.github.com/x"}),
    );
    assert_eq!(source(&r)["status"], "ok", "{r}");
    host::assert_schema("credentialsSearchResult", ok(&r));
    let items = ok(&r)["items"].as_array().unwrap();
    let item = items
        .iter()
        .find(|i| i["source"] == "passman")
        .expect("a passman item");
    assert_eq!(item["name"], "GitHub");
    assert_eq!(item["match"], "domain");
    assert_eq!(item["has_otp"], true);
    let id = item["id"].as_str().unwrap().to_owned();
    let r = w.call("credentials.search", json!({"query": "octocat"}));
    assert!(
        ok(&r)["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str())
    );
    let r = w.call("credentials.get", json!({"source": "passman", "id": id}));
    host::assert_schema("credentialsGetResult", ok(&r));
    let c = ok(&r);
    assert_eq!(c["password"], "gh-s3cret");
    assert_eq!(c["otp_code"]["digits"], 6);
    ok(&w.call("passman.lock", json!({})));
    let r = w.call("credentials.get", json!({"source": "passman", "id": id}));
    err(&r, "passman_locked");
    // A Clarion policy can guard Passman's operations.
    let r = w.call("clarion.policy", json!({}));
    let ops = ok(&r)["operations"].to_string();
    assert!(
        ops.contains("passman_unlock") && ops.contains("passman_get"),
        "{ops}"
    );
}
