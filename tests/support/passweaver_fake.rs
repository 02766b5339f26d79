//! A PassWeaver API for tests, written from /work/shared/specs/passweaver.md (passweaver-api
//! 2.8.1), independently of the client: its own JWTs (HS512 under a key made at each start), its
//! own AES-256-CBC (RustCrypto `cbc`, where the client uses aws-lc-rs), its own search index.
//! Quirks kept: no `message` on success; 404 `No item found` for an empty search; 500 for an
//! unknown path and for `POST /items`; tokens die on [`FakePassWeaver::restart`]; the JWT from
//! `POST /personal/password` is built with a null seed (personal writes with it give 500); a
//! one-time token is deleted on its first read; admins get 403 on items.

use super::loopback::Loopback;
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b
}

/// A 26-character Crockford base32 id, as the server derives from a UUIDv7.
fn new_id() -> String {
    const A: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    random::<26>()
        .iter()
        .map(|b| A[(b % 32) as usize] as char)
        .collect()
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub login: String,
    pub password: String,
    pub admin: bool,
    /// local or apikey (spec C.8: an API key of a `local` user is refused at login).
    pub authmethod: String,
    pub personal_password: Option<String>,
    pub personal_folder: String,
}

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: String,
    pub secret: String,
    pub user: String,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct Folder {
    pub id: String,
    pub parent: String,
    pub description: String,
    pub personal: bool,
    pub owner: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Item {
    pub id: String,
    pub folder: String,
    pub title: String,
    pub data: String,
    pub metadata: String,
    pub personal: bool,
    pub updated: u64,
}

#[derive(Clone, Debug)]
struct Ots {
    kind: u64,
    scope: u64,
    data: String,
    item: Option<String>,
    user: Option<String>,
    expires: u64,
}

/// One request as received (for assertions on what the client sent).
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    // Not asserted on; shown in failure messages (Debug).
    #[allow(dead_code)]
    pub bearer: Option<String>,
    // Not asserted on; shown in failure messages (Debug).
    #[allow(dead_code)]
    pub body: String,
}

#[derive(Clone, Debug)]
struct Override {
    method: String,
    path_prefix: String,
    status: u16,
    body: String,
    times: Option<usize>,
}

struct Inner {
    signing_key: [u8; 32],
    /// Stands for the per-process key of `personaltoken` (AES in the real server).
    personal_key: [u8; 32],
    jwt_seconds: u64,
    /// Seconds the server's clock is ahead of the real one (time passing, without waiting).
    clock_offset: u64,
    users: Vec<User>,
    apikeys: Vec<ApiKey>,
    folders: Vec<Folder>,
    /// (folder, user, read, write): the nearest folder with a grant decides.
    grants: Vec<(String, String, bool, bool)>,
    items: Vec<Item>,
    otts: HashMap<String, Ots>,
    readonly: bool,
    overrides: Vec<Override>,
    log: Vec<Logged>,
}

pub struct FakePassWeaver {
    /// `http://127.0.0.1:<port>` (the API is under `/api/v1`).
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    /// Serves until the fake is dropped.
    _server: Loopback,
}

impl FakePassWeaver {
    pub fn start() -> Self {
        let admin = User {
            id: "0".into(),
            login: "admin".into(),
            password: "0".into(),
            admin: true,
            authmethod: "local".into(),
            personal_password: None,
            personal_folder: String::new(),
        };
        let inner = Arc::new(Mutex::new(Inner {
            signing_key: random(),
            personal_key: random(),
            jwt_seconds: 7200,
            clock_offset: 0,
            users: vec![admin],
            apikeys: Vec::new(),
            folders: Vec::new(),
            grants: Vec::new(),
            items: Vec::new(),
            otts: HashMap::new(),
            readonly: false,
            overrides: Vec::new(),
            log: Vec::new(),
        }));
        let inner2 = inner.clone();
        let server = Loopback::start(move |_, req| handle(&inner2, req));
        Self {
            base: server.base.clone(),
            inner,
            _server: server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    // ---- set-up, as an administrator would do it ----

    /// A local user with a personal folder (parent `P`); returns the user id.
    pub fn add_user(&self, login: &str, password: &str) -> String {
        self.add_user_with(login, password, "local")
    }

    pub fn add_user_with(&self, login: &str, password: &str, authmethod: &str) -> String {
        self.with(|i| {
            let id = new_id();
            let pf = new_id();
            i.folders.push(Folder {
                id: pf.clone(),
                parent: "P".into(),
                description: login.into(),
                personal: true,
                owner: Some(id.clone()),
            });
            i.users.push(User {
                id: id.clone(),
                login: login.to_lowercase(),
                password: password.into(),
                admin: false,
                authmethod: authmethod.into(),
                personal_password: None,
                personal_folder: pf,
            });
            id
        })
    }

    /// `POST /apikeys`: (id, secret).
    pub fn add_api_key(&self, user: &str) -> (String, String) {
        self.with(|i| {
            let r: [u8; 16] = random();
            let h: String = r.iter().map(|b| format!("{b:02x}")).collect();
            let id = format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            );
            let secret = URL_SAFE_NO_PAD.encode(random::<24>());
            i.apikeys.push(ApiKey {
                id: id.clone(),
                secret: secret.clone(),
                user: user.into(),
                active: true,
            });
            (id, secret)
        })
    }

    pub fn add_folder(&self, parent: &str, description: &str) -> String {
        self.with(|i| {
            let id = new_id();
            i.folders.push(Folder {
                id: id.clone(),
                parent: parent.into(),
                description: description.into(),
                personal: false,
                owner: None,
            });
            id
        })
    }

    pub fn grant(&self, folder: &str, user: &str, read: bool, write: bool) {
        self.with(|i| i.grants.push((folder.into(), user.into(), read, write)));
    }

    /// Stores an item directly (as another user of the team would have).
    pub fn put_item(&self, folder: &str, title: &str, data: &str, metadata: &str) -> String {
        self.with(|i| {
            let personal = i.folders.iter().any(|f| f.id == folder && f.personal);
            let id = new_id();
            i.items.push(Item {
                id: id.clone(),
                folder: folder.into(),
                title: title.into(),
                data: data.into(),
                metadata: metadata.into(),
                personal,
                updated: now(),
            });
            id
        })
    }

    pub fn item(&self, id: &str) -> Option<Item> {
        self.with(|i| i.items.iter().find(|x| x.id == id).cloned())
    }

    pub fn personal_folder(&self, user: &str) -> String {
        self.with(|i| {
            i.users
                .iter()
                .find(|u| u.id == user)
                .unwrap()
                .personal_folder
                .clone()
        })
    }

    // ---- server behaviour ----

    /// A restart: a new signing key (every JWT dies) and a new personal key; data stays.
    pub fn restart(&self) {
        self.with(|i| {
            i.signing_key = random();
            i.personal_key = random();
        });
    }

    /// Moves the server's clock past the lifetime of every token issued so far: they now
    /// report `Token expired`.
    pub fn expire_tokens(&self) {
        self.with(|i| i.clock_offset += i.jwt_seconds + 1);
    }

    pub fn set_readonly(&self, on: bool) {
        self.with(|i| i.readonly = on);
    }

    /// Answers requests whose method and path start match with this status and raw body
    /// (`times`: how many requests, or all).
    pub fn override_reply(
        &self,
        method: &str,
        path_prefix: &str,
        status: u16,
        body: &str,
        times: Option<usize>,
    ) {
        self.with(|i| {
            i.overrides.push(Override {
                method: method.into(),
                path_prefix: path_prefix.into(),
                status,
                body: body.into(),
                times,
            })
        });
    }

    pub fn clear_overrides(&self) {
        self.with(|i| i.overrides.clear());
    }

    pub fn log(&self) -> Vec<Logged> {
        self.with(|i| i.log.clone())
    }

    pub fn logins(&self) -> usize {
        self.log()
            .iter()
            .filter(|l| l.method == "POST" && l.path == "/api/v1/login")
            .count()
    }
}

// ---------------------------------------------------------------- JWT (HS512)

fn sign(key: &[u8; 32], claims: &Value) -> String {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{head}.{body}");
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, key), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn personal_token(key: &[u8; 32], user: &str, password: &str) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        format!("{user}:{password}").as_bytes(),
    );
    STANDARD.encode(tag.as_ref())
}

/// The value the set-password JWT carries: built from the old, null seed.
const NULL_SEED_TOKEN: &str = "null-seed";

fn issue(i: &mut Inner, user: &User, personaltoken: Option<String>) -> String {
    let t = now() + i.clock_offset;
    let mut c = json!({
        "sub": user.id, "iss": "Passweaver API", "admin": user.admin,
        "iat": t, "exp": t + i.jwt_seconds,
    });
    if let Some(p) = personaltoken {
        c["personaltoken"] = Value::String(p);
    }
    sign(&i.signing_key, &c)
}

/// `lib/auth.mjs`: (status, message) on failure, the claims on success.
fn verify(i: &Inner, auth: Option<&str>) -> Result<Value, (u16, &'static str)> {
    let Some(h) = auth else {
        return Err((401, "A token is required for authentication"));
    };
    // Only the second space-separated word is read.
    let Some(token) = h.split(' ').nth(1) else {
        return Err((401, "A token is required for authentication"));
    };
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err((401, "Invalid token"));
    }
    let input = format!("{}.{}", parts[0], parts[1]);
    let Ok(sig) = URL_SAFE_NO_PAD.decode(parts[2]) else {
        return Err((401, "Invalid token"));
    };
    let key = hmac::Key::new(hmac::HMAC_SHA512, &i.signing_key);
    if hmac::verify(&key, input.as_bytes(), &sig).is_err() {
        return Err((401, "Invalid token"));
    }
    let claims: Value = URL_SAFE_NO_PAD
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or((401, "Invalid token"))?;
    if claims["exp"].as_u64().unwrap_or(0) <= now() + i.clock_offset {
        return Err((401, "Token expired"));
    }
    Ok(claims)
}

// ---------------------------------------------------------------- AES-256-CBC reply data

/// Node's `Buffer.from(key, 'base64')`: both alphabets, padding and whitespace ignored.
fn node_base64(s: &str) -> Vec<u8> {
    let cleaned: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cleaned)
        .unwrap_or_default()
}

fn encrypt(key: &[u8], plain: &str) -> String {
    use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    let iv: [u8; 16] = random();
    let mut buf = vec![0u8; plain.len() + 16];
    buf[..plain.len()].copy_from_slice(plain.as_bytes());
    let ct = cbc::Encryptor::<aes::Aes256>::new(key.into(), &iv.into())
        .encrypt_padded_mut::<Pkcs7>(&mut buf, plain.len())
        .unwrap();
    format!("{}:{}", STANDARD.encode(iv), STANDARD.encode(ct))
}

/// The `key` query parameter: 32 bytes or `400 Bad request` / `"Invalid key"`.
fn read_key(query: &HashMap<String, String>) -> Result<Vec<u8>, Reply> {
    let k = query.get("key").map(|k| node_base64(k)).unwrap_or_default();
    if k.len() != 32 {
        return Err(fail(400, "Bad request", json!("Invalid key")));
    }
    Ok(k)
}

// ---------------------------------------------------------------- HTTP

type Reply = (u16, String);

fn ok(status: u16, data: Value) -> Reply {
    (
        status,
        json!({"status": "success", "data": data}).to_string(),
    )
}

fn fail(status: u16, message: &str, data: Value) -> Reply {
    (
        status,
        json!({"status": "failed", "message": message, "data": data}).to_string(),
    )
}

fn failed(status: u16, message: &str) -> Reply {
    fail(status, message, json!({}))
}

fn parse_query(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn handle(inner: &Arc<Mutex<Inner>>, mut req: tiny_http::Request) {
    let method = req.method().as_str().to_owned();
    let (path, query) = match req.url().split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (req.url().to_owned(), String::new()),
    };
    let auth = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_owned());
    let mut body = String::new();
    let _ = req.as_reader().take(1 << 20).read_to_string(&mut body);
    let (status, text) = {
        let mut i = inner.lock().unwrap();
        i.log.push(Logged {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            bearer: auth.clone(),
            body: body.clone(),
        });
        let hit = i
            .overrides
            .iter_mut()
            .find(|o| o.method == method && path.starts_with(&o.path_prefix) && o.times != Some(0));
        if let Some(o) = hit {
            if let Some(t) = &mut o.times {
                *t -= 1;
            }
            (o.status, o.body.clone())
        } else {
            route(
                &mut i,
                &method,
                &path,
                &parse_query(&query),
                auth.as_deref(),
                &body,
            )
        }
    };
    let h =
        tiny_http::Header::from_bytes("Content-Type", "application/json; charset=utf-8").unwrap();
    let _ = req.respond(
        tiny_http::Response::from_string(text)
            .with_status_code(status)
            .with_header(h),
    );
}

fn route(
    i: &mut Inner,
    method: &str,
    path: &str,
    q: &HashMap<String, String>,
    auth: Option<&str>,
    body: &str,
) -> Reply {
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return failed(500, "Path not found, or invalid method");
    };
    let seg: Vec<&str> = rest.split('/').collect();
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(_) => return failed(400, "Bad request"),
        }
    };
    let r = match (method, seg.as_slice()) {
        ("GET", ["version"]) => Ok(ok(200, json!({"version": "2.8.1"}))),
        ("POST", ["login"]) => Ok(login(i, &body)),
        ("POST", ["onetimetokens"]) => Ok(ots_create(i, &body)),
        ("GET", ["onetimetokens", token]) => Ok(ots_read(i, token, q, auth)),
        ("POST", ["items"]) => Ok(failed(500, "Internal error")),
        _ => authed(i, method, &seg, q, auth, &body),
    };
    r.unwrap_or_else(|e| e)
}

fn authed(
    i: &mut Inner,
    method: &str,
    seg: &[&str],
    q: &HashMap<String, String>,
    auth: Option<&str>,
    body: &Value,
) -> Result<Reply, Reply> {
    let known = matches!(
        (method, seg),
        ("GET", ["items"])
            | ("GET" | "PATCH" | "DELETE", ["items", _])
            | ("POST", ["folders", _, "items"])
            | ("GET", ["users", _, "folders"])
            | ("POST", ["personal", "password" | "unlock"])
    );
    if !known {
        return Err(failed(500, "Path not found, or invalid method"));
    }
    let claims = verify(i, auth).map_err(|(s, m)| failed(s, m))?;
    let uid = claims["sub"].as_str().unwrap_or("").to_owned();
    let user = i
        .users
        .iter()
        .find(|u| u.id == uid)
        .cloned()
        .ok_or_else(|| failed(401, "Invalid token"))?;
    let ptoken = claims["personaltoken"].as_str().map(str::to_owned);
    let is_items = matches!(seg, ["items", ..] | ["folders", _, "items"]);
    if is_items && user.admin {
        return Err(failed(403, "Forbidden"));
    }
    let write =
        matches!(method, "POST" | "PATCH" | "DELETE") && !matches!(seg, ["personal", "unlock"]);
    if write && i.readonly {
        return Err(failed(409, "System is in readonly mode"));
    }
    let ctx = Who {
        user: &user,
        ptoken: ptoken.as_deref(),
    };
    match (method, seg) {
        ("GET", ["items"]) => search(i, &ctx, q),
        ("GET", ["items", id]) => get_item(i, &ctx, id, q),
        ("POST", ["folders", folder, "items"]) => create_item(i, &ctx, folder, body),
        ("PATCH", ["items", id]) => update_item(i, &ctx, id, body),
        ("DELETE", ["items", id]) => delete_item(i, &ctx, id),
        ("GET", ["users", id, "folders"]) => user_folders(i, &ctx, id),
        ("POST", ["personal", "password"]) => set_personal(i, &ctx, body),
        ("POST", ["personal", "unlock"]) => unlock_personal(i, &ctx, body),
        _ => Err(failed(500, "Path not found, or invalid method")),
    }
}

struct Who<'a> {
    user: &'a User,
    ptoken: Option<&'a str>,
}

fn login(i: &mut Inner, b: &Value) -> Reply {
    if let (Some(u), Some(p)) = (b["username"].as_str(), b["password"].as_str()) {
        let login = u.to_lowercase();
        let Some(user) = i.users.iter().find(|x| x.login == login).cloned() else {
            // No LDAP configured: an unknown user goes down the LDAP path.
            return failed(401, "connect ECONNREFUSED 127.0.0.1:389");
        };
        if user.password != p || user.authmethod != "local" {
            return failed(401, "Bad user or wrong password");
        }
        let jwt = issue(i, &user, None);
        return ok(200, json!({"jwt": jwt}));
    }
    if let (Some(k), Some(s)) = (b["apikey"].as_str(), b["secret"].as_str()) {
        let Some(key) = i.apikeys.iter().find(|x| x.id == k).cloned() else {
            return failed(401, "Bad API key");
        };
        if key.secret != s {
            return failed(401, "Bad API key secret");
        }
        if !key.active {
            return failed(401, "API key not valid");
        }
        let user = i.users.iter().find(|u| u.id == key.user).cloned().unwrap();
        if user.authmethod != "apikey" {
            return failed(401, "Bad user or wrong password");
        }
        let jwt = issue(i, &user, None);
        return ok(200, json!({"jwt": jwt}));
    }
    failed(400, "Bad request")
}

fn folder<'a>(i: &'a Inner, id: &str) -> Option<&'a Folder> {
    i.folders.iter().find(|f| f.id == id)
}

/// (read, write) for `user` on `folder`: the nearest folder up the tree with a grant.
fn perms(i: &Inner, user: &User, folder_id: &str) -> (bool, bool) {
    let mut cur = folder_id.to_owned();
    for _ in 0..64 {
        if let Some(f) = folder(i, &cur)
            && f.personal
        {
            let mine = f.owner.as_deref() == Some(user.id.as_str());
            return (mine, mine);
        }
        if let Some((_, _, r, w)) = i.grants.iter().rev().find(|g| g.0 == cur && g.1 == user.id) {
            return (*r, *w);
        }
        match folder(i, &cur) {
            Some(f) => cur = f.parent.clone(),
            None => return (false, false),
        }
    }
    (false, false)
}

/// The personal-folder checks of `model/item.mjs`: 412 never set, 500 null seed, 417 locked.
fn personal_access(i: &Inner, who: &Who) -> Result<(), Reply> {
    let Some(pw) = &who.user.personal_password else {
        return Err(failed(412, "Personal password not set"));
    };
    match who.ptoken {
        Some(NULL_SEED_TOKEN) => Err(failed(500, "Internal error")),
        Some(t) if t == personal_token(&i.personal_key, &who.user.id, pw) => Ok(()),
        _ => Err(failed(417, "Personal folder not accessible")),
    }
}

fn item_json(i: &Inner, it: &Item) -> Value {
    json!({
        "id": it.id, "folderid": it.folder, "personal": it.personal, "enterprise": false,
        "type": null, "title": it.title, "metadata": it.metadata,
        "createdat": "2026-01-01T00:00:00.000Z", "updatedat": format!("{}", it.updated),
        "accessedat": null, "linkeditemid": null, "favorite": false, "childrenlinkeditems": [],
        "folder": {"description": folder(i, &it.folder).map(|f| f.description.clone()).unwrap_or_default()},
        "itemtype": null,
    })
}

/// Postgres `simple` full-text terms: lower-case words; a dotted host stays one term.
fn terms(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-' || c == '_'))
        .map(|t| t.trim_matches('.').to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn search(i: &Inner, who: &Who, q: &HashMap<String, String>) -> Result<Reply, Reply> {
    let words: Vec<String> = q
        .get("search")
        .map(|s| s.to_lowercase())
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .min(100);
    let personal_ok = personal_access(i, who).is_ok();
    let rows: Vec<Value> = i
        .items
        .iter()
        .filter(|it| perms(i, who.user, &it.folder).0)
        .filter(|it| !it.personal || personal_ok)
        .filter(|it| {
            let fname = folder(i, &it.folder)
                .map(|f| f.description.clone())
                .unwrap_or_default();
            let t = terms(&format!("{} {} {}", it.title, it.metadata, fname));
            words
                .iter()
                .all(|w| t.iter().any(|term| term.starts_with(w.as_str())))
        })
        .take(limit)
        .map(|it| item_json(i, it))
        .collect();
    if rows.is_empty() {
        return Err(failed(404, "No item found"));
    }
    Ok(ok(200, Value::Array(rows)))
}

fn find_item(i: &Inner, id: &str) -> Result<Item, Reply> {
    i.items
        .iter()
        .find(|x| x.id == id)
        .cloned()
        .ok_or_else(|| failed(404, "Item not found"))
}

fn get_item(i: &Inner, who: &Who, id: &str, q: &HashMap<String, String>) -> Result<Reply, Reply> {
    let key = read_key(q)?;
    let it = find_item(i, id)?;
    if !perms(i, who.user, &it.folder).0 {
        return Err(failed(403, "Forbidden"));
    }
    if it.personal {
        personal_access(i, who)?;
    }
    let mut v = item_json(i, &it);
    v["data"] = Value::String(encrypt(&key, &it.data));
    Ok(ok(200, v))
}

fn create_item(i: &mut Inner, who: &Who, folder_id: &str, b: &Value) -> Result<Reply, Reply> {
    let (Some(title), Some(data), Some(metadata)) = (
        b["title"].as_str(),
        b["data"].as_str(),
        b["metadata"].as_str(),
    ) else {
        return Err(failed(400, "Bad request"));
    };
    if title.is_empty() || title.chars().count() > 200 {
        return Err(failed(400, "Bad request"));
    }
    if folder_id == "0" || folder_id == "P" {
        return Err(failed(422, "Cannot create items in this folder"));
    }
    let f = folder(i, folder_id)
        .cloned()
        .ok_or_else(|| failed(404, "Folder not found"))?;
    if !perms(i, who.user, folder_id).1 {
        return Err(failed(403, "Forbidden"));
    }
    if f.personal {
        personal_access(i, who)?;
    }
    let id = new_id();
    i.items.push(Item {
        id: id.clone(),
        folder: folder_id.into(),
        title: title.into(),
        data: data.into(),
        metadata: metadata.into(),
        personal: f.personal,
        updated: now(),
    });
    Ok(ok(201, json!({"id": id})))
}

fn update_item(i: &mut Inner, who: &Who, id: &str, b: &Value) -> Result<Reply, Reply> {
    let it = find_item(i, id)?;
    if !perms(i, who.user, &it.folder).1 {
        return Err(failed(403, "Forbidden"));
    }
    if it.personal {
        personal_access(i, who)?;
    }
    if let Some(d) = b.get("data") {
        if !d.is_string() {
            return Err(failed(400, "Bad request"));
        }
        // The controller JSON.parses the stored data when data is sent.
        if serde_json::from_str::<Value>(&it.data).is_err() {
            return Err(failed(500, "Internal error"));
        }
    }
    if let Some(f) = b.get("folder").and_then(Value::as_str) {
        if folder(i, f).is_none() {
            return Err(failed(404, "Folder not found"));
        }
        if !perms(i, who.user, f).1 {
            return Err(failed(403, "Forbidden"));
        }
    }
    let x = i.items.iter_mut().find(|x| x.id == id).unwrap();
    if let Some(t) = b["title"].as_str() {
        x.title = t.into();
    }
    if let Some(d) = b["data"].as_str() {
        x.data = d.into();
    }
    if let Some(m) = b["metadata"].as_str() {
        x.metadata = m.into();
    }
    if let Some(f) = b["folder"].as_str() {
        x.folder = f.into();
    }
    x.updated = now();
    Ok(ok(200, json!({})))
}

fn delete_item(i: &mut Inner, who: &Who, id: &str) -> Result<Reply, Reply> {
    let it = find_item(i, id)?;
    if !perms(i, who.user, &it.folder).1 {
        return Err(failed(403, "Forbidden"));
    }
    if it.personal {
        personal_access(i, who)?;
    }
    i.items.retain(|x| x.id != id);
    Ok(ok(200, json!({})))
}

fn tree(i: &Inner, user: &User, parent: &str) -> Vec<Value> {
    i.folders
        .iter()
        .filter(|f| f.parent == parent && !f.personal)
        .filter_map(|f| {
            let (r, w) = perms(i, user, &f.id);
            let children = tree(i, user, &f.id);
            (r || !children.is_empty()).then(|| {
                json!({"id": f.id, "parent": f.parent, "description": f.description,
                       "personal": false, "permissions": {"read": r, "write": w},
                       "children": children})
            })
        })
        .collect()
}

fn user_folders(i: &Inner, who: &Who, id: &str) -> Result<Reply, Reply> {
    if id != who.user.id && !who.user.admin {
        return Err(failed(403, "Forbidden"));
    }
    let mut out = tree(i, who.user, "0");
    if let Some(pf) = folder(i, &who.user.personal_folder) {
        out.push(json!({"id": pf.id, "parent": "P", "description": pf.description,
                        "personal": true, "permissions": {"read": true, "write": true}, "children": []}));
    }
    Ok(ok(200, Value::Array(out)))
}

fn set_personal(i: &mut Inner, who: &Who, b: &Value) -> Result<Reply, Reply> {
    let Some(p) = b["password"].as_str().filter(|p| !p.is_empty()) else {
        return Err(failed(400, "Bad request"));
    };
    if who.user.personal_password.is_some() {
        return Err(failed(422, "Personal password already set"));
    }
    let uid = who.user.id.clone();
    let u = i.users.iter_mut().find(|u| u.id == uid).unwrap();
    u.personal_password = Some(p.into());
    let u = u.clone();
    // The bug: the token is made from the seed as it was before the password existed.
    let jwt = issue(i, &u, Some(NULL_SEED_TOKEN.into()));
    Ok(ok(200, json!({"jwt": jwt})))
}

fn unlock_personal(i: &mut Inner, who: &Who, b: &Value) -> Result<Reply, Reply> {
    let Some(p) = b["password"].as_str() else {
        return Err(failed(400, "Bad request"));
    };
    let Some(set) = &who.user.personal_password else {
        return Err(failed(412, "Personal password not set"));
    };
    if set != p {
        return Err(failed(401, "Wrong password"));
    }
    let t = personal_token(&i.personal_key, &who.user.id, p);
    let u = who.user.clone();
    let jwt = issue(i, &u, Some(t));
    Ok(ok(200, json!({"jwt": jwt})))
}

fn ots_create(i: &mut Inner, b: &Value) -> Reply {
    let (Some(kind), Some(scope), Some(hours)) =
        (b["type"].as_u64(), b["scope"].as_u64(), b["hours"].as_u64())
    else {
        return failed(400, "Bad request");
    };
    if kind > 1 || scope > 2 || hours < 1 {
        return failed(400, "Bad request");
    }
    if hours > 168 {
        return failed(422, "Hours exceed the maximum allowed");
    }
    let data = b["data"].as_str().unwrap_or("").to_owned();
    if kind == 0 && data.is_empty() {
        return failed(400, "Bad request");
    }
    let token: String = random::<20>().iter().map(|x| format!("{x:02x}")).collect();
    i.otts.insert(
        token.clone(),
        Ots {
            kind,
            scope,
            data,
            item: b["itemid"].as_str().map(str::to_owned),
            user: b["userid"].as_str().map(str::to_owned),
            expires: now() + i.clock_offset + hours * 3600,
        },
    );
    ok(201, json!({"token": token}))
}

fn ots_read(i: &mut Inner, token: &str, q: &HashMap<String, String>, auth: Option<&str>) -> Reply {
    let t = now() + i.clock_offset;
    i.otts.retain(|_, o| o.expires > t);
    let key = match read_key(q) {
        Ok(k) => k,
        Err(e) => return e,
    };
    let Some(o) = i.otts.get(token).cloned() else {
        return failed(404, "Token not found");
    };
    if o.scope > 0 {
        let Ok(claims) = verify(i, auth) else {
            return failed(403, "This secret requires a logged in user");
        };
        if o.scope == 2 && claims["sub"].as_str() != o.user.as_deref() {
            return failed(403, "This secret is for another user");
        }
    }
    i.otts.remove(token);
    let (secret, item) = if o.kind == 0 {
        (encrypt(&key, &o.data), String::new())
    } else {
        let it = o
            .item
            .as_deref()
            .and_then(|id| i.items.iter().find(|x| x.id == id).cloned());
        let Some(it) = it else {
            return failed(404, "Item not found");
        };
        let j = json!({"id": it.id, "title": it.title, "type": null, "data": it.data}).to_string();
        (String::new(), encrypt(&key, &j))
    };
    ok(200, json!({"secret": secret, "item": item, "type": o.kind}))
}
