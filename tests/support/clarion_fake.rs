//! A Clarion server for tests, faithful to /work/shared/specs/clarion.md (sorah/clarion HEAD
//! 797cc08, memory store, no counter store): `POST /api/authn`, `GET /api/authn/:id`,
//! `GET|POST /register`, `GET /`. The browser side (`/ui/*`, the WebAuthn ceremony) is replaced
//! by test controls: [`FakeClarion::verify`], [`FakeClarion::cancel`], [`FakeClarion::complete_registration`].
//! Registration results are encrypted exactly as Clarion does: RSA-OAEP (SHA-1, MGF1-SHA-1) of
//! `{"iv","tag","key"}`, AES-256-GCM with the tag carried apart, MIME base64 (60-char lines).

use super::loopback::Loopback;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Key fields `Key.new(**hash)` accepts (spec A.4).
const KEY_FIELDS: &[&str] = &[
    "handle",
    "type",
    "name",
    "public_key",
    "counter",
    "user_handle",
];

#[derive(Clone, Debug)]
pub struct Authn {
    pub id: String,
    /// Stored status: open, verified or cancelled ("expired" is computed on load).
    pub status: String,
    pub name: Value,
    pub comment: Value,
    pub keys: Vec<Value>,
    pub created_at: i64,
    pub expires_at: i64,
    pub verified_at: Option<i64>,
    pub verified_key: Option<Value>,
}

/// What `GET /register` received (the page a user would see).
#[derive(Clone, Debug)]
pub struct RegisterPage {
    pub name: String,
    pub callback: String,
    pub state: Option<String>,
    // Not asserted on; shown in failure messages (Debug).
    #[allow(dead_code)]
    pub comment: Option<String>,
    pub public_key_der: Vec<u8>,
}

/// What the page hands to the app: `postMessage({clarion_key: {state, name, data}})` for `js:`
/// callbacks, the form fields `state` and `data` otherwise.
#[derive(Clone, Debug)]
pub struct Completed {
    pub callback: String,
    pub state: String,
    // Not asserted on; shown in failure messages (Debug).
    #[allow(dead_code)]
    pub name: Option<String>,
    pub data: String,
    /// The COSE key the "authenticator" made, standard base64.
    // Not asserted on; shown in failure messages (Debug).
    #[allow(dead_code)]
    pub public_key: String,
}

/// A canned reply for requests whose method and path start match (a misbehaving server).
#[derive(Clone, Debug)]
struct Override {
    method: &'static str,
    path_prefix: String,
    status: u16,
    body: String,
}

#[derive(Default)]
struct Inner {
    authns: HashMap<String, Authn>,
    order: Vec<String>,
    /// CLARION_AUTHN_DEFAULT_EXPIRES_IN.
    expires_in: i64,
    /// Offset of the server's local time, in minutes (Ruby `Time#xmlschema` prints it).
    utc_offset_minutes: i32,
    /// CLARION_REGISTRATION_ALLOWED_URL as a plain substring (an unanchored regexp without metacharacters).
    allowed_callback: String,
    registrations: Vec<RegisterPage>,
    overrides: Vec<Override>,
    /// Misbehaviour: never report "expired".
    ignore_expiry: bool,
    /// Misbehaviour (issue 16's forged gate): answer `POST /api/authn` as already verified by
    /// the first key it was sent, echoing its handle, without a counter.
    verify_on_create: bool,
    /// Bodies of `POST /api/authn`, as received.
    authn_requests: Vec<Value>,
}

pub struct FakeClarion {
    pub base: String,
    inner: Arc<(Mutex<Inner>, Condvar)>,
    /// Serves until the fake is dropped.
    _server: Loopback,
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Ruby `Time#xmlschema`: whole seconds and a numeric offset (`Z` for UTC times).
/// Written independently of the client's parser: a plain walk over years and months.
pub fn xmlschema(t: i64, offset_minutes: i32) -> String {
    let local = t + i64::from(offset_minutes) * 60;
    let (mut days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut year = 1970;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < 0 {
            year -= 1;
            days += if leap(year) { 366 } else { 365 };
        } else if days >= len {
            days -= len;
            year += 1;
        } else {
            break;
        }
    }
    let months = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 0;
    while days >= months[month] {
        days -= months[month];
        month += 1;
    }
    let offset = if offset_minutes == 0 {
        "+00:00".to_string()
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let m = offset_minutes.abs();
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    };
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}{offset}",
        month + 1,
        days + 1,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

/// Ruby `pack('m*')`: standard base64, a newline after every 60 characters and at the end.
pub fn pack_m(raw: &[u8]) -> String {
    STANDARD
        .encode(raw)
        .as_bytes()
        .chunks(60)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect()
}

/// Ruby `unpack('m')`: characters outside the standard alphabet are skipped (spec A.6 step 3).
fn unpack_m(s: &str) -> Vec<u8> {
    let kept: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    // A lone trailing character carries no whole byte: Ruby drops it.
    let usable = if kept.len() % 4 == 1 {
        kept.len() - 1
    } else {
        kept.len()
    };
    STANDARD_NO_PAD.decode(&kept[..usable]).unwrap_or_default()
}

impl FakeClarion {
    pub fn start() -> Self {
        let inner = Arc::new((
            Mutex::new(Inner {
                expires_in: 300,
                allowed_callback: "127.0.0.1".into(),
                ..Default::default()
            }),
            Condvar::new(),
        ));
        let inner2 = inner.clone();
        let server = Loopback::start(move |base, req| handle(&inner2, base, req));
        Self {
            base: server.base.clone(),
            inner,
            _server: server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let (lock, cvar) = &*self.inner;
        let out = f(&mut lock.lock().unwrap());
        cvar.notify_all();
        out
    }

    // ---- configuration (Clarion's env vars) ----

    pub fn set_expires_in(&self, secs: i64) {
        self.with(|i| i.expires_in = secs);
    }
    pub fn set_utc_offset_minutes(&self, m: i32) {
        self.with(|i| i.utc_offset_minutes = m);
    }
    pub fn set_allowed_callback(&self, pattern: &str) {
        self.with(|i| i.allowed_callback = pattern.into());
    }
    /// Misbehaviour: statuses never turn to "expired".
    pub fn ignore_expiry(&self) {
        self.with(|i| i.ignore_expiry = true);
    }
    /// Misbehaviour: every new authn is "verified" at once by the first key sent, no counter
    /// (what a forger on the network path answered in issue 16).
    pub fn verify_on_create(&self, on: bool) {
        self.with(|i| i.verify_on_create = on);
    }
    /// Misbehaviour: answer `method` requests under `path_prefix` with this status and body.
    pub fn override_reply(&self, method: &'static str, path_prefix: &str, status: u16, body: &str) {
        self.with(|i| {
            i.overrides.push(Override {
                method,
                path_prefix: path_prefix.into(),
                status,
                body: body.into(),
            })
        });
    }

    // ---- observation ----

    pub fn authn_count(&self) -> usize {
        self.with(|i| i.authns.len())
    }
    pub fn authn(&self, id: &str) -> Authn {
        self.with(|i| i.authns[id].clone())
    }
    pub fn authn_requests(&self) -> Vec<Value> {
        self.with(|i| i.authn_requests.clone())
    }
    /// Waits until `n` authns exist and returns the id of the newest.
    pub fn wait_for_authn(&self, n: usize) -> String {
        let (lock, cvar) = &*self.inner;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut g = lock.lock().unwrap();
        while g.order.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no authn was created in time");
            g = cvar.wait_timeout(g, left).unwrap().0;
        }
        g.order[n - 1].clone()
    }
    pub fn registrations(&self) -> Vec<RegisterPage> {
        self.with(|i| i.registrations.clone())
    }

    // ---- the browser side ----

    /// The user touched `handle` on the authn page: what a successful `POST /ui/verify/:id` does.
    /// Like Clarion, only a key listed in the authn can verify, and only while it is open.
    pub fn verify(&self, id: &str, handle: &str, counter: u64) {
        self.with(|i| {
            let now = now();
            let a = i.authns.get_mut(id).expect("unknown authn");
            assert!(
                a.status == "open" && now <= a.expires_at,
                "authn already processed or expired"
            );
            let key = a
                .keys
                .iter()
                .find(|k| k["handle"] == handle)
                .expect("Clarion only verifies with a listed key");
            // `Key#as_json(all: false)`: no public_key, type included (spec A.4).
            a.verified_key = Some(json!({
                "type": key.get("type").cloned().unwrap_or(json!("fido-legacy")),
                "handle": handle,
                "name": key.get("name").cloned().unwrap_or(Value::Null),
                "counter": counter,
            }));
            a.verified_at = Some(now);
            a.status = "verified".into();
        });
    }
    /// Verified in time, then polled only after the expiry (the A.5 caveat), in one step.
    pub fn verify_then_expire(&self, id: &str, handle: &str, counter: u64) {
        self.verify(id, handle, counter);
        self.with(|i| {
            let a = i.authns.get_mut(id).unwrap();
            let now = now();
            a.created_at = now - 300;
            a.verified_at = Some(now - 2);
            a.expires_at = now - 1;
        });
    }
    /// Misbehaviour: report a verification with any key object.
    pub fn force_verified(&self, id: &str, verified_key: Value) {
        self.with(|i| {
            let a = i.authns.get_mut(id).unwrap();
            a.status = "verified".into();
            a.verified_at = Some(now());
            a.verified_key = Some(verified_key);
        });
    }
    /// The user clicked Cancel (`POST /ui/cancel/:id`).
    pub fn cancel(&self, id: &str) {
        self.with(|i| i.authns.get_mut(id).unwrap().status = "cancelled".into());
    }
    /// Time passes beyond the authn's expiry.
    pub fn expire(&self, id: &str) {
        self.with(|i| {
            let a = i.authns.get_mut(id).unwrap();
            let now = now();
            a.created_at = now - 300;
            a.expires_at = now - 1;
        });
    }
    /// The memory store lost it (a restart).
    pub fn forget(&self, id: &str) {
        self.with(|i| {
            i.authns.remove(id);
        });
    }

    /// A browser opening `url` (e.g. the `/register` URL): (status, body).
    pub fn open(&self, url: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut res = agent.get(url).call().unwrap();
        (
            res.status().as_u16(),
            res.body_mut().read_to_string().unwrap(),
        )
    }

    /// The user finished the register page (the newest one opened): the key object encrypted to
    /// the page's public key exactly as `Key#to_encrypted_json` does.
    pub fn complete_registration(
        &self,
        handle: &str,
        name: Option<&str>,
        counter: Option<u64>,
    ) -> Completed {
        let page = self
            .registrations()
            .pop()
            .expect("no register page was opened");
        let mut cose = [0u8; 77];
        aws_lc_rs::rand::fill(&mut cose).unwrap();
        let public_key = STANDARD.encode(cose);
        // Key order as Clarion writes it; nil name/counter are omitted.
        let mut obj = Map::new();
        obj.insert("type".into(), json!("webauthn"));
        obj.insert("handle".into(), json!(handle));
        if let Some(n) = name {
            obj.insert("name".into(), json!(n));
        }
        if let Some(c) = counter {
            obj.insert("counter".into(), json!(c));
        }
        obj.insert("public_key".into(), json!(public_key));
        let data = seal(
            &page.public_key_der,
            Value::Object(obj).to_string().as_bytes(),
        );
        Completed {
            callback: page.callback,
            state: page.state.unwrap_or_default(),
            name: name.map(str::to_owned),
            data,
            public_key,
        }
    }

    /// The page's hidden form auto-submitting to an http(s) callback: (status, body).
    pub fn post_callback(c: &Completed, state: &str) -> (u16, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("state", state)
            .append_pair("data", &c.data)
            .finish();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut res = agent
            .post(&c.callback)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body)
            .unwrap();
        (
            res.status().as_u16(),
            res.body_mut().read_to_string().unwrap(),
        )
    }
}

/// `to_encrypted_json`: `{"data": pack_m(AES-GCM ciphertext), "key": pack_m(RSA-OAEP(inner))}`.
pub fn seal(spki_der: &[u8], plaintext: &[u8]) -> String {
    let pk =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(spki_der).unwrap()).unwrap();
    let (mut key, mut iv) = ([0u8; 32], [0u8; 12]);
    aws_lc_rs::rand::fill(&mut key).unwrap();
    aws_lc_rs::rand::fill(&mut iv).unwrap();
    let mut ct = plaintext.to_vec();
    let tag = Aes256Gcm::new_from_slice(&key)
        .unwrap()
        .encrypt_in_place_detached(Nonce::from_slice(&iv), b"", &mut ct)
        .unwrap();
    let inner = json!({"iv": STANDARD.encode(iv), "tag": STANDARD.encode(tag), "key": STANDARD.encode(key)});
    let mut out = vec![0u8; pk.ciphertext_size()];
    let sealed = pk
        .encrypt(
            &OAEP_SHA1_MGF1SHA1,
            inner.to_string().as_bytes(),
            &mut out,
            None,
        )
        .unwrap();
    json!({"data": pack_m(&ct), "key": pack_m(sealed)}).to_string()
}

// ---------------------------------------------------------------- server side

fn reply(req: tiny_http::Request, status: u16, content_type: &str, body: String) {
    let h = tiny_http::Header::from_bytes("Content-Type", content_type).unwrap();
    let _ = req.respond(
        tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(h),
    );
}

fn json_reply(req: tiny_http::Request, status: u16, v: Value) {
    reply(req, status, "application/json", v.to_string());
}

/// Sinatra's development-mode 500 page, roughly.
fn server_error(req: tiny_http::Request) {
    reply(
        req,
        500,
        "text/html",
        "<h1>Internal Server Error</h1>".into(),
    );
}

fn render(a: &Authn, base: &str, offset: i32, ignore_expiry: bool) -> Value {
    // `Authn.new` forces "expired" past expires_at, whatever was stored (spec A.5 caveat).
    let status = if !ignore_expiry && now() > a.expires_at {
        "expired"
    } else {
        a.status.as_str()
    };
    let mut v = json!({
        "id": a.id, "status": status, "name": a.name, "comment": a.comment,
        "created_at": xmlschema(a.created_at, offset),
        "expires_at": xmlschema(a.expires_at, offset),
        "url": format!("{base}/api/authn/{}", a.id),
        "html_url": format!("{base}/authn/{}", a.id),
    });
    if let (Some(t), Some(k)) = (a.verified_at, &a.verified_key) {
        v["verified_at"] = json!(xmlschema(t, offset));
        v["verified_key"] = k.clone();
    }
    json!({ "authn": v })
}

fn handle(inner: &Arc<(Mutex<Inner>, Condvar)>, base: &str, mut req: tiny_http::Request) {
    let (lock, cvar) = &**inner;
    let method = req.method().as_str().to_owned();
    let url = req.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let path = path.to_owned();
    let mut body = Vec::new();
    let _ = req.as_reader().take(1 << 20).read_to_end(&mut body);

    let mut g = lock.lock().unwrap();
    if let Some(o) = g
        .overrides
        .iter()
        .find(|o| o.method == method && path.starts_with(&o.path_prefix))
        .cloned()
    {
        drop(g);
        return reply(req, o.status, "application/json", o.body);
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/") => {
            drop(g);
            reply(req, 200, "text/plain", "Clarion\n".into())
        }
        ("POST", "/api/authn") => {
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                drop(g);
                return server_error(req);
            };
            g.authn_requests.push(v.clone());
            // `params[:keys].map`: nil (missing or null) and non-arrays raise → 500.
            let Some(keys) = v.get("keys").and_then(Value::as_array) else {
                drop(g);
                return server_error(req);
            };
            for k in keys {
                let Some(obj) = k.as_object() else {
                    drop(g);
                    return server_error(req);
                };
                let unknown = obj.keys().any(|f| !KEY_FIELDS.contains(&f.as_str()));
                if unknown || !obj.contains_key("handle") {
                    drop(g);
                    return json_reply(req, 400, json!({"error": "invalid params"}));
                }
            }
            let now = now();
            let forged = g
                .verify_on_create
                .then(|| keys.first())
                .flatten()
                .map(|k| json!({"type": k.get("type").cloned().unwrap_or(json!("fido-legacy")), "handle": k["handle"]}));
            let a = Authn {
                id: random_token(64),
                status: if forged.is_some() { "verified" } else { "open" }.into(),
                name: v.get("name").cloned().unwrap_or(Value::Null),
                comment: v.get("comment").cloned().unwrap_or(Value::Null),
                keys: keys.clone(),
                created_at: now,
                expires_at: now + g.expires_in,
                verified_at: forged.as_ref().map(|_| now),
                verified_key: forged,
            };
            let out = render(&a, base, g.utc_offset_minutes, g.ignore_expiry);
            g.order.push(a.id.clone());
            g.authns.insert(a.id.clone(), a);
            cvar.notify_all();
            drop(g);
            json_reply(req, 200, out)
        }
        ("GET", p) if p.starts_with("/api/authn/") => {
            let id = &p["/api/authn/".len()..];
            let out = g
                .authns
                .get(id)
                .map(|a| render(a, base, g.utc_offset_minutes, g.ignore_expiry));
            drop(g);
            match out {
                Some(v) => json_reply(req, 200, v),
                None => json_reply(req, 404, json!({"error": "authn not found"})),
            }
        }
        ("GET" | "POST", "/register") => {
            let raw = if method == "GET" {
                query.as_bytes().to_vec()
            } else {
                body
            };
            let params: HashMap<String, String> =
                url::form_urlencoded::parse(&raw).into_owned().collect();
            let (Some(name), Some(callback), Some(public_key)) = (
                params.get("name"),
                params.get("callback"),
                params.get("public_key"),
            ) else {
                drop(g);
                return reply(req, 400, "text/plain", "missing params".into());
            };
            let checked = callback.strip_prefix("js:").unwrap_or(callback);
            if !checked.contains(g.allowed_callback.as_str()) {
                drop(g);
                return reply(req, 400, "text/plain", "invalid callback".into());
            }
            let der = unpack_m(public_key);
            if PublicEncryptingKey::from_der(&der).is_err() {
                drop(g);
                return reply(req, 400, "text/plain", "invalid public key".into());
            }
            g.registrations.push(RegisterPage {
                name: name.clone(),
                callback: callback.clone(),
                state: params.get("state").cloned(),
                comment: params.get("comment").cloned(),
                public_key_der: der,
            });
            drop(g);
            reply(
                req,
                200,
                "text/html",
                "<!DOCTYPE html><title>Clarion: register</title>".into(),
            )
        }
        _ => {
            drop(g);
            reply(req, 404, "text/plain", "Not Found".into())
        }
    }
}
