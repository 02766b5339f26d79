//! A Passman API v2 server for tests, written from /work/shared/specs/passman.md (B.2–B.4, with
//! B.7's corrections) and not from the client: Basic auth, `GET /vaults` with a random
//! `challenge_password` (a vault with no credential is left out), `GET /vaults/{guid}` (404 `[]`),
//! `POST /credentials` (500 on a `null` server-encrypted field or a null label/vault_id),
//! `GET|PATCH /credentials/{guid}` (500 HTML page when unknown; PATCH keeps omitted plain fields
//! and corrupts a credential sent without `label`), `DELETE /credentials/{guid}` (404 `[]`),
//! `GET /sharing/vault/{guid}/get` (ACL entries; `[]` as text/html with sharing disabled).
//! `hidden` is stored and returned as 0/1. Ciphertexts are opaque to the server, as in Passman.
//! Seeding encrypts like the web app with this file's own sjcl encoder ([`sjcl_encrypt`]).

use super::loopback::Loopback;
use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ccm::aead::{Aead, KeyInit};
use ccm::consts::{U8, U13};
use serde_json::{Map, Value, json};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub const LOGIN: &str = "alice";
pub const APP_PASSWORD: &str = "Xk2pQ-app-password-7Lm";
/// The fields the web app encrypts (spec), as the server stores them; `compromised` aside.
pub const SERVER_ENCRYPTED: &[&str] = &[
    "description",
    "username",
    "password",
    "files",
    "custom_fields",
    "otp",
    "email",
    "tags",
    "url",
];
const CHALLENGE_FIELDS: &[&str] = &["description", "email", "username", "password"];

// ---- the web app's encryption, independently: sjcl.encrypt(key, JSON.stringify(v), {ccm, ts 64}) ----

fn pbkdf2(password: &str, salt: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(1000).unwrap(),
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

/// `btoa(sjcl.encrypt(...))` for plaintexts under 64 KiB (13-byte nonce).
pub fn sjcl_encrypt(password: &str, plaintext: &[u8]) -> String {
    let (mut iv, mut salt) = ([0u8; 16], [0u8; 8]);
    aws_lc_rs::rand::fill(&mut iv).unwrap();
    aws_lc_rs::rand::fill(&mut salt).unwrap();
    let key = pbkdf2(password, &salt);
    let cipher = ccm::Ccm::<Aes256, U8, U13>::new(&key.into());
    let ct = cipher
        .encrypt(
            ccm::aead::generic_array::GenericArray::from_slice(&iv[..13]),
            plaintext,
        )
        .unwrap();
    let json = format!(
        r#"{{"iv":"{}","v":1,"iter":1000,"ks":256,"ts":64,"mode":"ccm","adata":"","cipher":"aes","salt":"{}","ct":"{}"}}"#,
        STANDARD_NO_PAD.encode(iv),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(ct)
    );
    STANDARD.encode(json)
}

/// Decrypts what a client stored, checking the parameters Passman's sjcl insists on.
pub fn sjcl_decrypt(password: &str, stored: &str) -> Option<Vec<u8>> {
    let json = STANDARD.decode(stored).ok()?;
    let v: Value = serde_json::from_slice(&json).ok()?;
    if v["iter"] != 1000
        || v["ks"] != 256
        || v["ts"] != 64
        || v["mode"] != "ccm"
        || v["adata"] != ""
    {
        return None;
    }
    let b = |k: &str| {
        let s = v[k].as_str()?;
        STANDARD_NO_PAD.decode(s.trim_end_matches('=')).ok()
    };
    let (iv, salt, ct) = (b("iv")?, b("salt")?, b("ct")?);
    let key = pbkdf2(password, &salt);
    let cipher = ccm::Ccm::<Aes256, U8, U13>::new(&key.into());
    cipher
        .decrypt(
            ccm::aead::generic_array::GenericArray::from_slice(&iv[..13]),
            ct.as_slice(),
        )
        .ok()
}

/// A field value as the web app stores it.
pub fn field(password: &str, value: &Value) -> String {
    sjcl_encrypt(password, value.to_string().as_bytes())
}

pub fn field_value(password: &str, stored: &Value) -> Option<Value> {
    serde_json::from_slice(&sjcl_decrypt(password, stored.as_str()?)?).ok()
}

// ---- the server ----

#[derive(Clone, Debug)]
pub struct Vault {
    pub id: i64,
    pub guid: String,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Stored {
    pub data: Map<String, Value>,
    /// Encrypted at rest under a key from another label: every encrypted field reads as false.
    pub corrupted: bool,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    // Not asserted on; shown in failure messages (Debug).
    #[allow(dead_code)]
    pub path: String,
    pub body: Option<Value>,
}

struct Canned {
    method: &'static str,
    path_prefix: String,
    status: u16,
    content_type: String,
    body: String,
}

#[derive(Default)]
struct Inner {
    vaults: Vec<Vault>,
    credentials: Vec<Stored>,
    /// ACL entries of credentials shared with us, by vault guid.
    shares: Vec<(String, Value)>,
    sharing_disabled: bool,
    canned: Vec<Canned>,
    requests: Vec<Recorded>,
    next_id: i64,
    pick: usize,
}

pub struct FakePassman {
    /// The Nextcloud address to give passbridge.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    /// Serves until the fake is dropped.
    _server: Loopback,
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn guid() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-4{}-A{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl FakePassman {
    pub fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            next_id: 1,
            ..Default::default()
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

    /// `POST /vaults` (without the web app's test credential: the vault stays unlisted).
    pub fn add_vault(&self, name: &str) -> Vault {
        self.with(|i| {
            let v = Vault {
                id: i.next_id,
                guid: guid(),
                name: name.into(),
            };
            i.next_id += 1;
            i.vaults.push(v.clone());
            v
        })
    }

    /// A credential as the web app writes it: each of `fields` (plain JSON values) encrypted
    /// with `key`, every server-encrypted field present. `extra` plain fields are merged in.
    pub fn add_credential(
        &self,
        vault: &Vault,
        key: &str,
        label: &str,
        fields: Value,
        extra: Value,
    ) -> String {
        let mut data = Map::new();
        let fields = fields.as_object().cloned().unwrap_or_default();
        for f in SERVER_ENCRYPTED.iter().chain(["compromised"].iter()) {
            let v = fields.get(*f).cloned().unwrap_or(match *f {
                "tags" | "files" | "custom_fields" => json!([]),
                "otp" => json!({}),
                "compromised" => json!(false),
                _ => Value::Null,
            });
            data.insert((*f).into(), json!(field(key, &v)));
        }
        data.insert("label".into(), json!(label));
        data.insert("vault_id".into(), json!(vault.id));
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            data.insert(k, v);
        }
        self.with(|i| insert(i, data)).unwrap()
    }

    /// Shares a credential with us: an ACL entry whose top-level `shared_key` is the shared key
    /// encrypted with our vault key (not JSON-encoded), fields encrypted with the shared key.
    pub fn add_share(
        &self,
        vault: &Vault,
        vault_key: &str,
        shared_key: &str,
        label: &str,
        fields: Value,
    ) -> String {
        let g = guid();
        let mut data = Map::new();
        for (k, v) in fields.as_object().cloned().unwrap_or_default() {
            data.insert(k, json!(field(shared_key, &v)));
        }
        for f in SERVER_ENCRYPTED.iter().filter(|f| **f != "files") {
            data.entry(f.to_string())
                .or_insert_with(|| json!(field(shared_key, &Value::Null)));
        }
        data.insert("label".into(), json!(label));
        data.insert("guid".into(), json!(g));
        data.insert("credential_id".into(), json!(9000));
        data.insert("vault_id".into(), json!(777));
        data.insert("hidden".into(), json!(0));
        data.insert("delete_time".into(), json!(0));
        let acl = json!({
            "acl_id": 1, "item_id": 9000, "item_guid": g, "user_id": LOGIN, "created": now(),
            "expire": 0, "expire_views": 0, "permissions": 1, "vault_id": vault.id, "vault_guid": vault.guid,
            "shared_key": sjcl_encrypt(vault_key, format!(" {shared_key}\n").as_bytes()),
            "credential_data": Value::Object(data),
        });
        self.with(|i| i.shares.push((vault.guid.clone(), acl)));
        g
    }

    pub fn disable_sharing(&self) {
        self.with(|i| i.sharing_disabled = true);
    }

    /// Misbehaviour: answer `method` requests whose API path starts with `path_prefix`.
    pub fn override_reply(
        &self,
        method: &'static str,
        path_prefix: &str,
        status: u16,
        content_type: &str,
        body: &str,
    ) {
        self.with(|i| {
            i.canned.push(Canned {
                method,
                path_prefix: path_prefix.into(),
                status,
                content_type: content_type.into(),
                body: body.into(),
            })
        });
    }

    pub fn clear_overrides(&self) {
        self.with(|i| i.canned.clear());
    }

    pub fn credential(&self, guid: &str) -> Option<Stored> {
        self.with(|i| {
            i.credentials
                .iter()
                .find(|c| c.data["guid"] == guid)
                .cloned()
        })
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|i| i.requests.clone())
    }
}

/// CredentialMapper::create: fills server fields, stores, returns the guid (or a 500 reason).
fn insert(i: &mut Inner, mut data: Map<String, Value>) -> Result<String, &'static str> {
    for f in SERVER_ENCRYPTED {
        if data.get(*f).is_none_or(Value::is_null) {
            return Err(
                "TypeError: encrypt(): Argument #1 ($data) must be of type string, null given",
            );
        }
    }
    if data.get("label").is_none_or(Value::is_null)
        || data.get("vault_id").is_none_or(Value::is_null)
    {
        return Err("Integrity constraint violation: label or vault_id cannot be null");
    }
    let g = guid();
    let id = i.next_id;
    i.next_id += 1;
    data.insert("guid".into(), json!(g));
    data.insert("credential_id".into(), json!(id));
    data.insert("user_id".into(), json!(LOGIN));
    data.insert("created".into(), json!(now()));
    data.insert("changed".into(), json!(now()));
    let hidden = truthy(data.get("hidden"));
    data.insert("hidden".into(), json!(hidden as i64));
    if data.get("delete_time").is_none() {
        data.insert("delete_time".into(), Value::Null);
    }
    data.remove("favicon");
    i.credentials.push(Stored {
        data,
        corrupted: false,
    });
    Ok(g)
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !matches!(s.as_str(), "" | "0"),
        _ => false,
    }
}

/// A credential as the API returns it.
fn view(c: &Stored) -> Value {
    let mut d = c.data.clone();
    if c.corrupted {
        for f in SERVER_ENCRYPTED {
            d.insert((*f).into(), json!(false));
        }
    }
    if d.get("icon")
        .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        d.insert("icon".into(), json!([]));
    }
    Value::Object(d)
}

enum Reply {
    Json(u16, Value),
    Raw(u16, String, String),
}

fn error_page(status: u16) -> Reply {
    Reply::Raw(
        status,
        "text/html; charset=UTF-8".into(),
        "<!DOCTYPE html><html><body><h1>Internal Server Error</h1><p>The server was unable to complete your request.</p></body></html>".into(),
    )
}

fn handle(inner: &Arc<Mutex<Inner>>, mut req: tiny_http::Request) {
    let method = req.method().as_str().to_owned();
    let url = req.url().to_owned();
    let header = |name: &str| {
        req.headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
            .unwrap_or_default()
    };
    let (auth, accept, ctype) = (
        header("Authorization"),
        header("Accept"),
        header("Content-Type"),
    );
    let mut body = Vec::new();
    let _ = req.as_reader().take(8 << 20).read_to_end(&mut body);
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{LOGIN}:{APP_PASSWORD}"))
    );
    let path = url
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches("/index.php")
        .to_owned();
    let reply = match path.strip_prefix("/apps/passman/api/v2/") {
        None => Reply::Raw(
            404,
            "text/html".into(),
            "<html>Page not found</html>".into(),
        ),
        Some(_) if auth != expected => {
            if accept.contains("html") {
                Reply::Raw(303, "text/html".into(), String::new())
            } else {
                Reply::Json(401, json!({"message": "Current user is not logged in"}))
            }
        }
        Some(api) => {
            let mut i = inner.lock().unwrap();
            // Only with Content-Type: application/json does Nextcloud parse the body.
            let parsed: Option<Value> = ctype
                .contains("application/json")
                .then(|| serde_json::from_slice(&body).ok())
                .flatten();
            i.requests.push(Recorded {
                method: method.clone(),
                path: api.to_owned(),
                body: parsed.clone(),
            });
            let canned = i
                .canned
                .iter()
                .find(|c| c.method == method && api.starts_with(&c.path_prefix))
                .map(|c| Reply::Raw(c.status, c.content_type.clone(), c.body.clone()));
            match canned {
                Some(r) => r,
                None => route(&mut i, &method, api, parsed),
            }
        }
    };
    let (status, content_type, text) = match reply {
        Reply::Json(s, v) => (
            s,
            "application/json; charset=utf-8".to_owned(),
            v.to_string(),
        ),
        Reply::Raw(s, c, b) => (s, c, b),
    };
    let mut resp = tiny_http::Response::from_string(text)
        .with_status_code(status)
        .with_header(
            tiny_http::Header::from_bytes("Content-Type", content_type.as_bytes()).unwrap(),
        );
    if status == 303 {
        resp = resp
            .with_header(tiny_http::Header::from_bytes("Location", "/index.php/login").unwrap());
    }
    let _ = req.respond(resp);
}

fn route(i: &mut Inner, method: &str, api: &str, body: Option<Value>) -> Reply {
    let parts: Vec<&str> = api.trim_end_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["vaults"]) => {
            let mut out = Vec::new();
            for v in &i.vaults {
                // getRandomCredentialByVaultId: among the first 20 non-shared credentials.
                let own: Vec<&Stored> = i
                    .credentials
                    .iter()
                    .filter(|c| {
                        c.data["vault_id"] == v.id
                            && c.data.get("shared_key").is_none_or(Value::is_null)
                    })
                    .take(20)
                    .collect();
                if own.is_empty() {
                    continue;
                }
                i.pick = i.pick.wrapping_mul(31).wrapping_add(7);
                let c = view(own[i.pick % own.len()]);
                let f = CHALLENGE_FIELDS[(i.pick / 7) % CHALLENGE_FIELDS.len()];
                out.push(json!({
                    "vault_id": v.id, "guid": v.guid, "name": v.name, "created": 1_700_000_000,
                    "public_sharing_key": "-----BEGIN PUBLIC KEY-----", "last_access": now(),
                    "challenge_password": c[f], "delete_request_pending": false,
                }));
            }
            Reply::Json(200, Value::Array(out))
        }
        ("GET", ["vaults", g]) => match i.vaults.iter().find(|v| v.guid == *g) {
            None => Reply::Json(404, json!([])),
            Some(v) => {
                let creds: Vec<Value> = i
                    .credentials
                    .iter()
                    .filter(|c| c.data["vault_id"] == v.id)
                    .map(view)
                    .collect();
                Reply::Json(
                    200,
                    json!({
                        "vault_id": v.id, "guid": v.guid, "name": v.name, "created": 1_700_000_000,
                        "private_sharing_key": "x", "public_sharing_key": "y", "sharing_keys_generated": 1,
                        "vault_settings": null, "last_access": now(), "delete_request_pending": false,
                        "credentials": creds,
                    }),
                )
            }
        },
        ("POST", ["credentials"]) => {
            let Some(Value::Object(data)) = body else {
                return error_page(500);
            };
            match insert(i, data) {
                Ok(g) => Reply::Json(
                    200,
                    view(i.credentials.iter().find(|c| c.data["guid"] == g).unwrap()),
                ),
                Err(_) => error_page(500),
            }
        }
        ("GET", ["credentials", g]) => match i.credentials.iter().find(|c| c.data["guid"] == *g) {
            Some(c) => Reply::Json(200, view(c)),
            None => error_page(500),
        },
        ("PATCH", ["credentials", g]) => {
            let Some(pos) = i.credentials.iter().position(|c| c.data["guid"] == *g) else {
                return error_page(500);
            };
            let Some(Value::Object(new)) = body else {
                return error_page(500);
            };
            // updateCredential needs the guid in the body too.
            if new.get("guid").and_then(Value::as_str) != Some(g) {
                return error_page(500);
            }
            for f in SERVER_ENCRYPTED {
                if new.get(*f).is_some_and(Value::is_null) {
                    return error_page(500);
                }
            }
            let c = &mut i.credentials[pos];
            let label_sent = new.get("label").is_some_and(|l| !l.is_null());
            for (k, v) in new {
                if v.is_null() || matches!(k.as_str(), "credential_id" | "user_id" | "created") {
                    continue;
                }
                let v = if k == "hidden" {
                    json!(truthy(Some(&v)) as i64)
                } else {
                    v
                };
                c.data.insert(k, v);
            }
            c.data.insert("changed".into(), json!(now()));
            if !label_sent {
                c.corrupted = true;
            }
            Reply::Json(200, view(c))
        }
        ("DELETE", ["credentials", g]) => {
            match i.credentials.iter().position(|c| c.data["guid"] == *g) {
                Some(pos) => {
                    let c = i.credentials.remove(pos);
                    Reply::Json(200, view(&c))
                }
                None => Reply::Json(404, json!([])),
            }
        }
        ("GET", ["sharing", "vault", g, "get"]) => {
            if i.sharing_disabled {
                return Reply::Raw(200, "text/html; charset=UTF-8".into(), "[]".into());
            }
            let list: Vec<Value> = i
                .shares
                .iter()
                .filter(|(v, _)| v == g)
                .map(|(_, a)| a.clone())
                .collect();
            Reply::Json(200, Value::Array(list))
        }
        _ => Reply::Raw(
            404,
            "text/html".into(),
            "<html>Page not found</html>".into(),
        ),
    }
}
