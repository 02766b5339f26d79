//! PassWeaver end to end: the built host, driven through frames, against a loopback PassWeaver
//! API that behaves as the spec describes (tests/support/passweaver_fake.rs).

use crate::support::host;
use crate::support::passweaver_fake;

use host::{Home, Host};
use passweaver_fake::FakePassWeaver;
use serde_json::{Value, json};
use std::cell::Cell;

struct Session {
    host: Host,
    next: Cell<u64>,
    _home: Home,
}

impl Session {
    fn new() -> Self {
        let home = Home::new();
        let host = home.spawn(&[]);
        Self {
            host,
            next: Cell::new(1),
            _home: home,
        }
    }

    /// The reply to one request (ok or error), checked against the schema by the driver.
    fn call(&mut self, action: &str, params: Value) -> Value {
        let id = self.next.get();
        self.next.set(id + 1);
        self.host
            .request(&json!({"id": id, "action": action, "params": params}))
    }

    #[track_caller]
    fn ok(&mut self, action: &str, params: Value) -> Value {
        host::ok(&self.call(action, params)).clone()
    }

    #[track_caller]
    fn err(&mut self, action: &str, params: Value) -> (String, String) {
        let r = self.call(action, params);
        let (code, message) = host::error(&r);
        if action.starts_with("passweaver.") && code != "invalid_params" {
            host::assert_schema("passweaverErrorCode", &r["error"]["code"]);
        }
        (code.to_owned(), message.to_owned())
    }
}

/// A team with one user (`ann`) who may read and write "Team", and read only "Ops".
struct Team {
    fake: FakePassWeaver,
    user: String,
    team: String,
    ops: String,
}

fn team() -> Team {
    let fake = FakePassWeaver::start();
    let user = fake.add_user("ann", "ann-password");
    let team = fake.add_folder("0", "Team");
    let ops = fake.add_folder("0", "Ops");
    fake.grant(&team, &user, true, true);
    fake.grant(&ops, &user, true, false);
    Team {
        fake,
        user,
        team,
        ops,
    }
}

fn logged_in(t: &Team) -> Session {
    let mut s = Session::new();
    s.ok(
        "passweaver.setup",
        json!({"server": t.fake.base, "username": "Ann"}),
    );
    s.ok("passweaver.login", json!({"password": "ann-password"}));
    s
}

#[test]
fn login_search_by_site_and_get_decrypts() {
    let t = team();
    let intranet = t.fake.put_item(
        &t.team,
        "Intranet",
        r#"{"url":"https://intranet.example.com/login","user":"ann","password":"s3cret+/=","notes":"","otp":"JBSWY3DPEHPK3PXP"}"#,
        "intranet.example.com",
    );
    let mail = t.fake.put_item(
        &t.ops,
        "Mail",
        r#"{"url":"https://mail.example.com","user":"ops","password":"m","notes":""}"#,
        // Found by the registrable domain (a `mail.example.com` term would not match).
        "example.com",
    );
    // Found only by its first label: its host is another company's.
    let other = t.fake.put_item(
        &t.team,
        "Other intranet",
        r#"{"url":"https://intranet.other.org","user":"x","password":"y","notes":""}"#,
        "intranet.other.org",
    );

    let mut s = Session::new();
    let r = s.ok(
        "passweaver.setup",
        json!({"server": format!("{}/api/v1", t.fake.base), "username": "Ann"}),
    );
    assert_eq!(r["version"], "2.8.1");
    assert_eq!(r["logged_in"], false);
    let (code, _) = s.err("passweaver.search", json!({"query": "intranet"}));
    assert_eq!(code, "login_required");
    let (code, _) = s.err("passweaver.login", json!({"password": "wrong"}));
    assert_eq!(code, "passweaver_login_failed");
    let r = s.ok("passweaver.login", json!({"password": "ann-password"}));
    assert_eq!(r["logged_in"], true);
    assert_eq!(r["user_id"], t.user.as_str());

    // The index keeps the host as one term: "intranet example" alone would miss.
    let r = s.ok(
        "passweaver.search",
        json!({"url": "https://intranet.example.com/login?next=/"}),
    );
    let ids: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [intranet.as_str(), mail.as_str(), other.as_str()],
        "{r}"
    );
    assert_eq!(r["items"][0]["match"], "host");
    assert_eq!(r["items"][1]["match"], "domain");
    assert_eq!(r["items"][2]["match"], "text");
    assert_eq!(r["items"][0]["has_otp"], true);
    assert_eq!(r["items"][0]["user"], "ann");
    assert!(r["items"][0].get("password").is_none());
    assert_eq!(r["total"], 3);
    host::assert_schema("passweaverSearchResult", &r);

    // A miss (PassWeaver answers 404) is an empty list.
    let r = s.ok("passweaver.search", json!({"query": "nothing-like-this"}));
    assert_eq!(r["items"], json!([]));
    assert_eq!(r["total"], 0);
    let r = s.ok("passweaver.search", json!({"query": "team", "limit": 1}));
    assert_eq!(r["total"], 2);
    assert_eq!(r["next_offset"], 1);

    let r = s.ok("passweaver.get", json!({"id": intranet}));
    host::assert_schema("passweaverItem", &r);
    assert_eq!(r["data"]["password"], "s3cret+/=");
    assert_eq!(r["data"]["url"], "https://intranet.example.com/login");
    assert_eq!(r["otp"]["kind"], "totp");
    assert_eq!(r["otp"]["code"].as_str().unwrap().len(), 6);

    // Each read sent a fresh 32-byte key, base64url (a raw '+' would arrive as a space).
    let keys: Vec<String> = t
        .fake
        .log()
        .iter()
        .filter(|l| l.path.starts_with("/api/v1/items/"))
        .map(|l| l.query.clone())
        .collect();
    assert!(keys.len() >= 2);
    for k in &keys {
        assert!(k.starts_with("key=") && !k.contains(['+', '/', '%']), "{k}");
    }
    let mut uniq = keys.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), keys.len(), "a key was reused");

    let st = s.ok("passweaver.status", json!({}));
    assert_eq!(st["version"], "2.8.1");
    assert_eq!(st["logged_in"], true);
    assert_eq!(st["user"], "ann");
    assert_eq!(st["personal_unlocked"], false);
    let st = s.ok("status", json!({}));
    assert_eq!(st["passweaver"]["logged_in"], true);
}

#[test]
fn an_api_key_logs_in_again_after_expiry_and_restart() {
    let fake = FakePassWeaver::start();
    let bot = fake.add_user_with("deploy-bot", "", "apikey");
    let team = fake.add_folder("0", "Team");
    fake.grant(&team, &bot, true, true);
    fake.put_item(
        &team,
        "Db",
        r#"{"url":"db.lan","user":"u","password":"p","notes":""}"#,
        "db.lan",
    );
    let (key, secret) = fake.add_api_key(&bot);

    let mut s = Session::new();
    let (code, _) = s.err(
        "passweaver.setup",
        json!({"server": fake.base, "api_key": key, "secret": "wrong"}),
    );
    assert_eq!(code, "passweaver_login_failed");
    let r = s.ok(
        "passweaver.setup",
        json!({"server": fake.base, "api_key": key, "secret": secret}),
    );
    assert_eq!(r["logged_in"], true);
    let file = std::fs::read_to_string(s._home.path().join("config/passweaver.json")).unwrap();
    assert!(file.contains(&secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(s._home.path().join("config/passweaver.json")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let st = s.ok("passweaver.status", json!({}));
    assert!(!st.to_string().contains(&secret));
    assert_eq!(st["auth"], "api_key");

    assert_eq!(
        s.ok("passweaver.search", json!({"query": "db"}))["total"],
        1
    );
    let logins = fake.logins();
    fake.expire_tokens();
    assert_eq!(
        s.ok("passweaver.search", json!({"query": "db"}))["total"],
        1
    );
    assert_eq!(fake.logins(), logins + 1);
    fake.restart();
    assert_eq!(
        s.ok("passweaver.search", json!({"query": "db"}))["total"],
        1
    );
    assert_eq!(fake.logins(), logins + 2);
    // The same token serves the next call: no login per request.
    s.ok("passweaver.search", json!({"query": "db"}));
    assert_eq!(fake.logins(), logins + 2);
}

#[test]
fn a_password_session_ends_with_the_server_restart() {
    let t = team();
    let mut s = logged_in(&t);
    t.fake.put_item(&t.team, "Wiki", "{}", "wiki.lan");
    assert_eq!(
        s.ok("passweaver.search", json!({"query": "wiki"}))["total"],
        1
    );
    t.fake.restart();
    let (code, msg) = s.err("passweaver.search", json!({"query": "wiki"}));
    assert_eq!(code, "login_required");
    assert!(msg.contains("passweaver.login"), "{msg}");
    assert_eq!(s.ok("passweaver.status", json!({}))["logged_in"], false);
    s.ok("passweaver.login", json!({"password": "ann-password"}));
    t.fake.expire_tokens();
    assert_eq!(
        s.err("passweaver.get", json!({"id": "01ABC"})).0,
        "login_required"
    );
}

#[test]
fn create_update_delete_and_permissions() {
    let t = team();
    let mut s = logged_in(&t);
    let r = s.ok(
        "passweaver.create",
        json!({"folder": t.team, "title": "Router", "data": {"url": "https://router.lan/admin", "user": "root", "password": "r1", "notes": "rack 2"}}),
    );
    let id = r["id"].as_str().unwrap().to_owned();
    let stored = t.fake.item(&id).unwrap();
    // The data is a JSON string; metadata defaults to the host so a site search finds it.
    let data: Value = serde_json::from_str(&stored.data).unwrap();
    assert_eq!(data["password"], "r1");
    assert_eq!(stored.metadata, "router.lan");
    let r = s.ok("passweaver.search", json!({"url": "https://router.lan/"}));
    assert_eq!(r["items"][0]["id"], id.as_str());

    s.ok(
        "passweaver.update",
        json!({"id": id, "data": {"password": "r2"}, "title": "Core router"}),
    );
    let r = s.ok("passweaver.get", json!({"id": id}));
    assert_eq!(r["data"]["password"], "r2");
    assert_eq!(r["data"]["user"], "root");
    assert_eq!(r["data"]["notes"], "rack 2");
    assert_eq!(r["title"], "Core router");

    // Read-only folder: 403.
    let (code, msg) = s.err(
        "passweaver.create",
        json!({"folder": t.ops, "title": "X", "data": {"password": "p"}}),
    );
    assert_eq!(code, "passweaver_forbidden");
    assert!(msg.contains("permission"), "{msg}");
    // The root folder: 422.
    let (code, _) = s.err(
        "passweaver.create",
        json!({"folder": "0", "title": "X", "data": {"password": "p"}}),
    );
    assert_eq!(code, "passweaver_invalid_value");
    // Read-only mode: 409.
    t.fake.set_readonly(true);
    assert_eq!(
        s.err("passweaver.delete", json!({"id": id})).0,
        "passweaver_read_only"
    );
    t.fake.set_readonly(false);

    assert_eq!(
        s.ok("passweaver.delete", json!({"id": id}))["deleted"],
        true
    );
    assert!(t.fake.item(&id).is_none());
    assert_eq!(s.err("passweaver.delete", json!({"id": id})).0, "not_found");
    assert_eq!(s.err("passweaver.get", json!({"id": id})).0, "not_found");

    // Bad params never reach the server.
    for (action, p) in [
        ("passweaver.get", json!({"id": "../../version"})),
        (
            "passweaver.create",
            json!({"folder": t.team, "title": "", "data": {}}),
        ),
        (
            "passweaver.create",
            json!({"folder": t.team, "title": "x", "data": {"password": 5}}),
        ),
        ("passweaver.update", json!({"id": "01ABC"})),
        ("passweaver.search", json!({})),
        ("passweaver.search", json!({"url": ""})),
    ] {
        assert_eq!(s.err(action, p.clone()).0, "invalid_params", "{action} {p}");
    }

    let f = s.ok("passweaver.folders", json!({}));
    let folders = f["folders"].as_array().unwrap();
    let team = folders.iter().find(|x| x["id"] == t.team.as_str()).unwrap();
    assert_eq!(
        (team["read"].clone(), team["write"].clone()),
        (json!(true), json!(true))
    );
    let ops = folders.iter().find(|x| x["id"] == t.ops.as_str()).unwrap();
    assert_eq!(
        (ops["read"].clone(), ops["write"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        f["personal_folder"],
        t.fake.personal_folder(&t.user).as_str()
    );
}

#[test]
fn the_personal_folder_needs_a_password_then_an_unlock() {
    let t = team();
    let mut s = logged_in(&t);
    let personal = s.ok("passweaver.folders", json!({}))["personal_folder"]
        .as_str()
        .unwrap()
        .to_owned();
    let item = json!({"folder": personal, "title": "Bank", "data": {"url": "https://bank.example", "user": "ann", "password": "b"}});
    let (code, msg) = s.err("passweaver.create", item.clone());
    assert_eq!(code, "personal_password_not_set");
    assert!(msg.contains("passweaver.personal.set"), "{msg}");
    let (code, _) = s.err("passweaver.personal.unlock", json!({"password": "x"}));
    assert_eq!(code, "personal_password_not_set");

    // Setting it returns a broken JWT (writes with it fail with 500); passbridge unlocks instead.
    let r = s.ok("passweaver.personal.set", json!({"password": "mine"}));
    assert_eq!(r["personal_unlocked"], true);
    let id = s.ok("passweaver.create", item.clone())["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.ok("passweaver.get", json!({"id": id}))["data"]["password"],
        "b"
    );
    assert_eq!(
        s.ok("passweaver.status", json!({}))["personal_unlocked"],
        true
    );

    // A new login is a plain JWT again: 417 until unlocked.
    s.ok("passweaver.login", json!({"password": "ann-password"}));
    let (code, msg) = s.err("passweaver.get", json!({"id": id}));
    assert_eq!(code, "personal_locked");
    assert!(msg.contains("passweaver.personal.unlock"), "{msg}");
    // A site search still works; the locked personal item is simply not listed.
    s.ok("passweaver.search", json!({"url": "https://bank.example"}));
    assert_eq!(
        s.err("passweaver.personal.unlock", json!({"password": "nope"}))
            .0,
        "passweaver_wrong_password"
    );
    assert_eq!(
        s.err("passweaver.personal.set", json!({"password": "again"}))
            .0,
        "passweaver_invalid_value"
    );
    s.ok("passweaver.personal.unlock", json!({"password": "mine"}));
    assert_eq!(
        s.ok("passweaver.get", json!({"id": id}))["data"]["password"],
        "b"
    );
    let r = s.ok("passweaver.search", json!({"url": "https://bank.example"}));
    assert_eq!(r["items"][0]["id"], id.as_str());
}

#[test]
fn a_one_time_secret_reads_once() {
    let t = team();
    let mut s = Session::new();
    s.ok(
        "passweaver.setup",
        json!({"server": t.fake.base, "username": "ann", "gui_url": "http://localhost:8080/pw"}),
    );
    // Creating and reading a scope-0 secret need no login.
    let r = s.ok(
        "passweaver.ots.create",
        json!({"data": "the wifi key", "hours": 2}),
    );
    let token = r["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 40);
    assert_eq!(
        r["link"],
        format!("http://localhost:8080/pw/noauth/onetimesecret/{token}")
    );
    let r = s.ok("passweaver.ots.read", json!({"token": token}));
    assert_eq!(
        (r["type"].clone(), r["secret"].clone()),
        (json!("secret"), json!("the wifi key"))
    );
    let (code, msg) = s.err("passweaver.ots.read", json!({"token": token}));
    assert_eq!(code, "not_found");
    assert!(msg.contains("already read"), "{msg}");

    assert_eq!(
        s.err("passweaver.ots.create", json!({"data": "x", "hours": 1000}))
            .0,
        "passweaver_invalid_value"
    );
    assert_eq!(
        s.err("passweaver.ots.read", json!({"token": "../../items"}))
            .0,
        "invalid_params"
    );
    // Scope "logged_in" needs a session to read.
    let token = s.ok(
        "passweaver.ots.create",
        json!({"data": "team only", "scope": "logged_in"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.err("passweaver.ots.read", json!({"token": token})).0,
        "passweaver_forbidden"
    );
    s.ok("passweaver.login", json!({"password": "ann-password"}));
    assert_eq!(
        s.ok("passweaver.ots.read", json!({"token": token}))["secret"],
        "team only"
    );
}

#[test]
fn garbage_and_failing_servers_are_typed_errors() {
    let t = team();
    let text_item = t
        .fake
        .put_item(&t.team, "Legacy", "just a password, not JSON", "legacy.lan");
    let mut s = logged_in(&t);

    // Data that is not JSON is returned as text and never breaks a search.
    let r = s.ok("passweaver.get", json!({"id": text_item}));
    host::assert_schema("passweaverItem", &r);
    assert_eq!(r["data"], Value::Null);
    assert_eq!(r["text"], "just a password, not JSON");
    assert_eq!(
        s.ok("passweaver.search", json!({"url": "http://legacy.lan"}))["total"],
        1
    );

    let cases: &[(u16, &str, &str)] = &[
        (
            502,
            "<html><body>Bad gateway</body></html>",
            "passweaver_bad_reply",
        ),
        (200, r#"{"items": []}"#, "passweaver_bad_reply"),
        (
            200,
            r#"{"status":"success","data":{"not":"a list"}}"#,
            "passweaver_bad_reply",
        ),
        (
            200,
            r#"{"status":"success","data":[{"title":"no id"}]}"#,
            "passweaver_bad_reply",
        ),
        (
            500,
            r#"{"status":"failed","message":"Internal error","data":{}}"#,
            "passweaver_server_error",
        ),
        (
            400,
            r#"{"status":"failed","message":"Bad request","data":{}}"#,
            "passweaver_bad_request",
        ),
        (
            422,
            r#"{"status":"failed","message":"Unprocessable","data":{}}"#,
            "passweaver_invalid_value",
        ),
        (
            403,
            r#"{"status":"failed","message":"Forbidden","data":{}}"#,
            "passweaver_forbidden",
        ),
        (
            409,
            r#"{"status":"failed","message":"System is in readonly mode","data":{}}"#,
            "passweaver_read_only",
        ),
        (
            412,
            r#"{"status":"failed","message":"x","data":{}}"#,
            "personal_password_not_set",
        ),
        (
            417,
            r#"{"status":"failed","message":"Personal folder not accessible","data":{}}"#,
            "personal_locked",
        ),
    ];
    for (status, body, code) in cases {
        t.fake
            .override_reply("GET", "/api/v1/items", *status, body, Some(1));
        let (got, msg) = s.err("passweaver.search", json!({"query": "legacy"}));
        assert_eq!(&got, code, "{status} {body}");
        assert!(!msg.contains("<html>"), "{msg}");
    }
    // Ciphertext that does not decrypt with this call's key.
    t.fake.override_reply(
        "GET",
        &format!("/api/v1/items/{text_item}"),
        200,
        &json!({"status":"success","data":{"id": text_item, "title":"x","data":"AAECAwQFBgcICQoLDA0ODw==:AAAAAAAAAAAAAAAAAAAAAA=="}}).to_string(),
        Some(1),
    );
    assert_eq!(
        s.err("passweaver.get", json!({"id": text_item})).0,
        "passweaver_decrypt_failed"
    );
    // A huge reply is cut off, not read into memory.
    let huge = format!(r#"{{"status":"success","data":"{}"}}"#, "x".repeat(5 << 20));
    t.fake
        .override_reply("GET", "/api/v1/items", 200, &huge, Some(1));
    assert_eq!(
        s.err("passweaver.search", json!({"query": "legacy"})).0,
        "passweaver_bad_reply"
    );
    t.fake.clear_overrides();
    assert_eq!(
        s.ok("passweaver.search", json!({"query": "legacy"}))["total"],
        1
    );

    // Administrators get 403 on items.
    let mut admin = Session::new();
    admin.ok(
        "passweaver.setup",
        json!({"server": t.fake.base, "username": "admin"}),
    );
    admin.ok("passweaver.login", json!({"password": "0"}));
    assert_eq!(
        admin.err("passweaver.get", json!({"id": text_item})).0,
        "passweaver_forbidden"
    );
}

#[test]
fn setup_refuses_bad_servers_and_never_stores_a_password() {
    let mut s = Session::new();
    let (code, _) = s.err("passweaver.search", json!({"query": "x"}));
    assert_eq!(code, "passweaver_not_configured");
    let (code, msg) = s.err(
        "passweaver.setup",
        json!({"server": "http://192.0.2.1:15000", "username": "ann"}),
    );
    assert_eq!(code, "invalid_params");
    assert!(msg.contains("https"), "{msg}");
    let (code, _) = s.err(
        "passweaver.setup",
        json!({"server": "https://example.invalid", "username": "ann", "password": "pw"}),
    );
    assert_eq!(code, "invalid_params");
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _) = s.err(
        "passweaver.setup",
        json!({"server": format!("http://127.0.0.1:{port}"), "username": "ann"}),
    );
    assert_eq!(code, "passweaver_unreachable");
    // A server that is not PassWeaver.
    let fake = FakePassWeaver::start();
    fake.override_reply("GET", "/api/v1/version", 200, "<html>hello</html>", None);
    let (code, _) = s.err(
        "passweaver.setup",
        json!({"server": fake.base, "username": "ann"}),
    );
    assert_eq!(code, "passweaver_bad_reply");
    assert!(!s._home.path().join("config/passweaver.json").exists());
    assert_eq!(s.ok("passweaver.status", json!({}))["configured"], false);

    let hello = s.ok("hello", json!({}));
    assert!(
        hello["backends"]
            .as_array()
            .unwrap()
            .contains(&json!("passweaver"))
    );
    assert!(
        hello["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("passweaver.ots.read"))
    );
}

#[test]
fn the_schema_lists_every_error_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut listed: Vec<&str> = schema["$defs"]["passweaverErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let mut codes: Vec<&str> = passbridge::passweaver::CODE_DOCS
        .iter()
        .map(|c| c.code)
        .collect();
    // PassWeaver also answers the host's shared `not_found`.
    codes.push(passbridge::api::codes::NOT_FOUND);
    listed.sort();
    codes.sort();
    assert_eq!(listed, codes);
}

/// Runs `passbridge passweaver <args>` with `stdin`; (stdout JSON, success, stderr).
fn cli(home: &Home, args: &[&str], stdin: &str) -> (Value, bool, String) {
    let out = home.run_cli(&[&["passweaver"], args].concat(), stdin);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (v, out.status.success(), stderr)
}

#[test]
fn the_command_line_sets_up_adds_searches_and_shares() {
    let t = team();
    let home = Home::new();
    let (v, ok, err) = cli(
        &home,
        &["setup", "--server", &t.fake.base, "--username", "ann"],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(v["version"], "2.8.1");
    let (v, ok, err) = cli(
        &home,
        &[
            "add",
            "--folder",
            &t.team,
            "--title",
            "Printer",
            "--url",
            "https://printer.lan",
            "--user",
            "lp",
            "--password-stdin",
        ],
        "ann-password\nprinter-secret\n",
    );
    assert!(ok, "{err}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (v, ok, err) = cli(
        &home,
        &[
            "search",
            "--url",
            "https://printer.lan/queue",
            "--password-stdin",
        ],
        "ann-password\n",
    );
    assert!(ok, "{err}");
    assert_eq!(v["items"][0]["id"], id.as_str());
    let (v, ok, _) = cli(&home, &["get", &id, "--password-stdin"], "ann-password\n");
    assert!(ok);
    assert_eq!(v["data"]["password"], "printer-secret");
    // Without a login, a password account cannot search: a clear error, no output.
    let (v, ok, err) = cli(&home, &["search", "printer"], "");
    assert!(!ok && v.is_null());
    assert!(
        err.contains("passweaver.login")
            || err.contains("--password-stdin")
            || err.contains("Log in"),
        "{err}"
    );
    assert!(!err.contains("ann-password"));

    let (v, ok, err) = cli(&home, &["ots", "create", "--hours", "1"], "one time\n");
    assert!(ok, "{err}");
    let token = v["token"].as_str().unwrap().to_owned();
    let (v, ok, _) = cli(&home, &["ots", "read", &token], "");
    assert!(ok);
    assert_eq!(v["secret"], "one time");
    let (_, ok, err) = cli(&home, &["ots", "read", &token], "");
    assert!(!ok && err.contains("already read"), "{err}");
}

#[test]
fn passweaver_joins_the_credentials_search() {
    let t = team();
    let id = t.fake.put_item(
        &t.team,
        "Intranet",
        r#"{"url":"https://intranet.example.com","user":"ann","password":"pw1","notes":"n","otp":"JBSWY3DPEHPK3PXP"}"#,
        "intranet.example.com",
    );
    let mut s = Session::new();
    s.ok(
        "passweaver.setup",
        json!({"server": t.fake.base, "username": "ann"}),
    );
    // Not logged in: the source is locked, the search itself still answers.
    let r = s.ok(
        "credentials.search",
        json!({"url": "https://intranet.example.com/"}),
    );
    let pw = r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["source"] == "passweaver")
        .unwrap()
        .clone();
    assert_eq!(pw["status"], "locked", "{r}");
    assert_eq!(pw["error"]["code"], "login_required");
    let (code, _) = s.err("credentials.get", json!({"source": "passweaver", "id": id}));
    assert_eq!(code, "login_required");

    s.ok("passweaver.login", json!({"password": "ann-password"}));
    let r = s.ok(
        "credentials.search",
        json!({"url": "https://intranet.example.com/"}),
    );
    let item = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["source"] == "passweaver")
        .unwrap_or_else(|| panic!("{r}"))
        .clone();
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["match"], "host");
    assert_eq!(item["user"], "ann");
    assert_eq!(item["has_otp"], true);
    assert!(item.get("password").is_none());
    let c = s.ok("credentials.get", json!({"source": "passweaver", "id": id}));
    assert_eq!(c["password"], "pw1");
    assert_eq!(c["notes"], "n");
    assert_eq!(c["otp_code"]["code"].as_str().unwrap().len(), 6);
    let r = s.ok("credentials.search", json!({"query": "intranet"}));
    assert!(
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id.as_str())
    );
}

/// The test server keeps the quirks the spec confirmed on a running instance (C.7), so the
/// tests above exercise the client against them.
#[test]
fn the_fake_keeps_the_servers_quirks() {
    let fake = FakePassWeaver::start();
    let user = fake.add_user("bob", "pw");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let call = |method: &str, path: &str, jwt: Option<&str>, body: Option<Value>| -> (u16, Value) {
        let url = format!("{}/api/v1/{path}", fake.base);
        let auth = jwt.map(|j| format!("Bearer {j}")).unwrap_or_default();
        let mut res = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            (_, b) => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
        }
        .unwrap();
        let status = res.status().as_u16();
        (status, res.body_mut().read_json().unwrap())
    };
    // Success has no message; an unknown path is a 500.
    let (st, v) = call("GET", "version", None, None);
    assert_eq!((st, v.get("message")), (200, None));
    assert_eq!(call("GET", "no/such/path", None, None).0, 500);
    let (_, v) = call(
        "POST",
        "login",
        None,
        Some(json!({"username": "BOB", "password": "pw"})),
    );
    let jwt = v["data"]["jwt"].as_str().unwrap().to_owned();
    assert_eq!(call("POST", "items", Some(&jwt), Some(json!({}))).0, 500);
    assert_eq!(call("GET", "items?search=nothing", Some(&jwt), None).0, 404);
    // An unencoded '+' in the key arrives as a space: 400 Invalid key.
    let f = fake.add_folder("0", "F");
    fake.grant(&f, &user, true, true);
    let id = fake.put_item(&f, "T", "{}", "");
    let (st, v) = call(
        "GET",
        &format!("items/{id}?key=ab+{}", "A".repeat(40)),
        Some(&jwt),
        None,
    );
    assert_eq!((st, v["data"].clone()), (400, json!("Invalid key")));
    // The set-password JWT cannot write personal items; the unlock JWT can.
    let pf = fake.personal_folder(&user);
    let (_, v) = call(
        "POST",
        "personal/password",
        Some(&jwt),
        Some(json!({"password": "pp"})),
    );
    let broken = v["data"]["jwt"].as_str().unwrap().to_owned();
    let item = json!({"title": "x", "data": "{}", "metadata": ""});
    let path = format!("folders/{pf}/items");
    assert_eq!(
        call("POST", &path, Some(&broken), Some(item.clone())).0,
        500
    );
    assert_eq!(call("POST", &path, Some(&jwt), Some(item.clone())).0, 417);
    let (_, v) = call(
        "POST",
        "personal/unlock",
        Some(&jwt),
        Some(json!({"password": "pp"})),
    );
    let unlocked = v["data"]["jwt"].as_str().unwrap().to_owned();
    assert_eq!(call("POST", &path, Some(&unlocked), Some(item)).0, 201);
    // A restart kills every token.
    fake.restart();
    let (st, v) = call("GET", "items?search=x", Some(&jwt), None);
    assert_eq!((st, v["message"].clone()), (401, json!("Invalid token")));
}
