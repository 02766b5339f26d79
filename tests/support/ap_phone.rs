//! A minimal ANOTHERpass phone for client tests: a loopback tiny_http server that decrypts
//! every request the way the app does (SK for linking; OAEP-SHA-1 one-time key + SHA-256 key
//! schedule afterwards), records what it saw, and answers from a script: status codes with the
//! app's error texts, properly encrypted answers, garbage, oversized or slow replies.
//! Not the spec-faithful simulator (tests/support/anotherpass_sim, written independently); it
//! shares passbridge's crypto and is just enough to check the client's side of every exchange.

use passbridge::anotherpass::rsa::{Oaep, RsaKeyPair, RsaPublicKey};
use passbridge::anotherpass::{b64, envelope, ids, keys};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the phone answers to one POST.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A non-200 status with the app's `{"error": text}` body.
    Status(u16, &'static str),
    /// 200 with `answer` encrypted for the client (link or normal keys, by phase).
    Answer(Value),
    /// Accept `link_app`: check the QR fingerprint and vault id like the app, create BK, answer.
    LinkAccept,
    /// 200 encrypted under a key the client cannot know.
    WrongKey(Value),
    /// Any status and raw body.
    Raw(u16, Vec<u8>),
    /// Wait, then reply.
    Slow(Duration, Box<Reply>),
}

/// One request as the phone saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub web_client_id: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
    /// The decrypted envelope payload (None if it did not decrypt).
    pub payload: Option<Value>,
    /// The decrypted OTKrq (normal requests).
    pub otk: Option<Vec<u8>>,
}

struct Inner {
    app: RsaKeyPair,
    vault_id: String,
    /// From the scanned QR code.
    web_client_id: Option<String>,
    session_key: Option<Vec<u8>>,
    qr_fingerprint: Option<String>,
    /// After linking.
    base_key: Option<Vec<u8>>,
    client: Option<RsaPublicKey>,
    script: VecDeque<Reply>,
    default: Reply,
    seen: Vec<Seen>,
    /// (downloadKey, file) served once.
    download: Option<(String, Vec<u8>)>,
    /// Serve the download one byte at a time, this far apart.
    trickle: Option<Duration>,
    /// Ignore the relink vault id check (to test the client's own check).
    ignore_vault_id: bool,
}

pub struct Phone {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
    server: Arc<tiny_http::Server>,
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn app_key() -> RsaKeyPair {
    // The app's keystore key is 4096-bit; 2048 keeps the tests quick and changes no format.
    RsaKeyPair::generate(2048).unwrap()
}

impl Phone {
    pub fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let inner = Arc::new(Mutex::new(Inner {
            app: app_key(),
            vault_id: "aacofrwj".into(),
            web_client_id: None,
            session_key: None,
            qr_fingerprint: None,
            base_key: None,
            client: None,
            script: VecDeque::new(),
            default: Reply::Status(202, "no user acknowledge"),
            seen: Vec::new(),
            download: None,
            trickle: None,
            ignore_vault_id: false,
        }));
        let (s, i) = (server.clone(), inner.clone());
        std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let i = i.clone();
                std::thread::spawn(move || handle(&i, req));
            }
        });
        Self {
            port,
            inner,
            server,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// What the app does when the user scans the QR code.
    pub fn scan(&self, qr: &str) {
        let parts: Vec<&str> = qr.split(':').collect();
        assert_eq!(parts.len(), 3, "QR payload {qr}");
        assert!(ids::is_web_client_id(parts[0]));
        let sk = b64::decode(parts[1]).unwrap().to_vec();
        assert_eq!(sk.len(), 16);
        assert_eq!(parts[2].len(), 64);
        self.with(|i| {
            i.web_client_id = Some(parts[0].into());
            i.session_key = Some(sk);
            i.qr_fingerprint = Some(parts[2].into());
            // A fresh scan makes the link "linking" again (the app overwrites unlinked entries).
            i.base_key = None;
        });
    }

    pub fn push(&self, r: Reply) {
        self.with(|i| i.script.push_back(r));
    }

    pub fn push_all(&self, rs: impl IntoIterator<Item = Reply>) {
        self.with(|i| i.script.extend(rs));
    }

    pub fn set_default(&self, r: Reply) {
        self.with(|i| i.default = r);
    }

    pub fn set_vault_id(&self, v: &str) {
        self.with(|i| i.vault_id = v.into());
    }

    pub fn ignore_vault_id(&self) {
        self.with(|i| i.ignore_vault_id = true);
    }

    pub fn offer_download(&self, key: &str, content: &[u8]) {
        self.with(|i| i.download = Some((key.into(), content.to_vec())));
    }
    /// Like [`offer_download`](Self::offer_download), sending one byte every `gap`.
    pub fn offer_trickling_download(&self, key: &str, content: &[u8], gap: Duration) {
        self.with(|i| {
            i.download = Some((key.into(), content.to_vec()));
            i.trickle = Some(gap);
        });
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.with(|i| i.seen.clone())
    }

    /// Seen POSTs whose payload decrypted, in order.
    pub fn payloads(&self) -> Vec<Value> {
        self.seen().into_iter().filter_map(|s| s.payload).collect()
    }

    pub fn base_key(&self) -> Option<Vec<u8>> {
        self.with(|i| i.base_key.clone())
    }

    pub fn app_n(&self) -> String {
        self.with(|i| i.app.public().n().to_owned())
    }

    /// Forget the keys (as if the app's link was deleted and recreated by another client).
    pub fn rotate_app_key(&self) {
        self.with(|i| i.app = app_key());
    }
}

/// A body that arrives one byte per `gap` (a phone on a failing Wi-Fi).
struct Trickle(Vec<u8>, usize, Duration);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1 >= self.0.len() || buf.is_empty() {
            return Ok(0);
        }
        std::thread::sleep(self.2);
        buf[0] = self.0[self.1];
        self.1 += 1;
        Ok(1)
    }
}

fn respond(req: tiny_http::Request, status: u16, body: Vec<u8>) {
    let resp = tiny_http::Response::from_data(body)
        .with_status_code(status)
        .with_header(
            "Content-Type: application/json"
                .parse::<tiny_http::Header>()
                .unwrap(),
        );
    let _ = req.respond(resp);
}

fn header(req: &tiny_http::Request, name: &str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

fn handle(inner: &Arc<Mutex<Inner>>, mut req: tiny_http::Request) {
    let method = req.method().as_str().to_owned();
    let url = req.url().to_owned();
    let mut body = String::new();
    let _ = req.as_reader().take(1 << 20).read_to_string(&mut body);
    let mut seen = Seen {
        method: method.clone(),
        url: url.clone(),
        web_client_id: header(&req, "X-WebClientId"),
        content_type: header(&req, "Content-Type"),
        body: body.clone(),
        payload: None,
        otk: None,
    };
    if method == "GET" {
        let (file, trickle) = {
            let mut i = inner.lock().unwrap();
            i.seen.push(seen);
            let file = match &i.download {
                Some((k, _)) if url == format!("/{k}") => i.download.take().map(|d| d.1),
                _ => None,
            };
            (file, i.trickle)
        };
        return match file {
            Some(f) if trickle.is_some() => {
                let len = f.len();
                let reader = Trickle(f, 0, trickle.unwrap());
                let _ = req.respond(tiny_http::Response::new(
                    200.into(),
                    vec![],
                    reader,
                    Some(len),
                    None,
                ));
            }
            Some(f) => respond(req, 200, f),
            None => respond(req, 404, br#"{"error": "No file to download"}"#.to_vec()),
        };
    }
    // Decrypt like the app: SK while linking, else OTKrq under the keystore key.
    let (reply, answer_key) = {
        let mut i = inner.lock().unwrap();
        let outer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let env = outer["envelope"].as_str().unwrap_or("").to_owned();
        let mut tk_rq = None;
        match (&i.base_key, &i.session_key) {
            (Some(bk), _) => {
                let otk = outer["encOneTimeKey"]
                    .as_str()
                    .and_then(|e| b64::decode(e).ok())
                    .and_then(|ct| i.app.decrypt(Oaep::Sha1, &ct).ok());
                if let Some(otk) = otk {
                    let tk = keys::request_transport_key(bk, &otk);
                    seen.payload = envelope::open(&*tk, &env)
                        .ok()
                        .and_then(|p| serde_json::from_slice(&p).ok());
                    seen.otk = Some(otk.to_vec());
                    tk_rq = Some(tk);
                }
            }
            (None, Some(sk)) => {
                seen.payload = envelope::open(sk, &env)
                    .ok()
                    .and_then(|p| serde_json::from_slice(&p).ok());
            }
            (None, None) => {}
        }
        let is_cancel = seen
            .payload
            .as_ref()
            .is_some_and(|p| p["command"] == "cancel_request");
        let reply = if is_cancel {
            Reply::Status(403, "denied by user")
        } else if seen.payload.is_none() && !env.is_empty() {
            Reply::Status(400, "Cannot parse message")
        } else {
            let d = i.default.clone();
            i.script.pop_front().unwrap_or(d)
        };
        i.seen.push(seen.clone());
        (reply, tk_rq)
    };
    send(inner, req, reply, &seen, answer_key);
}

fn send(
    inner: &Arc<Mutex<Inner>>,
    req: tiny_http::Request,
    reply: Reply,
    seen: &Seen,
    tk_rq: Option<keys::Key32>,
) {
    match reply {
        Reply::Status(code, text) => respond(
            req,
            code,
            serde_json::to_vec_pretty(&json!({"error": text})).unwrap(),
        ),
        Reply::Raw(code, body) => respond(req, code, body),
        Reply::Slow(d, r) => {
            std::thread::sleep(d);
            send(inner, req, *r, seen, tk_rq)
        }
        Reply::Answer(v) => {
            let body = encrypt_answer(inner, &v, tk_rq.as_deref().map(|k| &k[..]), false);
            respond(req, 200, body)
        }
        Reply::WrongKey(v) => {
            let body = encrypt_answer(inner, &v, tk_rq.as_deref().map(|k| &k[..]), true);
            respond(req, 200, body)
        }
        Reply::LinkAccept => {
            let p = seen.payload.clone().unwrap_or(Value::Null);
            let mut i = inner.lock().unwrap();
            let n = p["clientPubKey"]["n"].as_str().unwrap_or("").to_owned();
            let e = p["clientPubKey"]["e"].as_str().unwrap_or("").to_owned();
            if Some(ids::qr_fingerprint(&n)) != i.qr_fingerprint {
                drop(i);
                return respond(req, 400, br#"{"error": "fingerprint mismatch"}"#.to_vec());
            }
            if let Some(v) = p["vaultId"].as_str()
                && v != i.vault_id
                && !i.ignore_vault_id
            {
                drop(i);
                return respond(
                    req,
                    400,
                    br#"{"error": "relink vault id mismatch"}"#.to_vec(),
                );
            }
            let bk = keys::random_bytes(32).to_vec();
            let answer = json!({
                "serverPubKey": {"n": i.app.public().n(), "e": i.app.public().e()},
                "sharedBaseKey": b64::url_nopad(&bk),
                "linkedVaultId": i.vault_id,
            });
            i.client = Some(RsaPublicKey::from_jwk(&n, &e).unwrap());
            drop(i);
            let body = encrypt_answer(inner, &answer, None, false);
            // The app stores BK before replying (spec §10.3).
            inner.lock().unwrap().base_key = Some(bk);
            respond(req, 200, body)
        }
    }
}

/// The app's answer format: OTKrs under the client key (OAEP-SHA-256, base64url), the envelope
/// unpadded with `:0`. Linking: key SHA-256(SK ‖ OTKrs); else SHA-256(BK ‖ OTKrs ‖ TKrq).
fn encrypt_answer(
    inner: &Arc<Mutex<Inner>>,
    v: &Value,
    tk_rq: Option<&[u8]>,
    wrong: bool,
) -> Vec<u8> {
    let i = inner.lock().unwrap();
    let client = i.client.clone().expect("the phone knows the client key");
    let otk = keys::random_bytes(32);
    let key = match (tk_rq, &i.base_key) {
        (Some(tk), Some(bk)) => keys::response_transport_key(bk, &otk, tk),
        _ => keys::link_response_key(i.session_key.as_ref().unwrap(), &otk),
    };
    let key = if wrong {
        keys::conjunct(&[&key[..], b"x"])
    } else {
        key
    };
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&keys::random_bytes(12));
    let env = envelope::seal_app_style(&*key, &iv, v.to_string().as_bytes()).unwrap();
    json!({
        "encOneTimeKey": b64::url_nopad(&client.encrypt(Oaep::Sha256, &otk).unwrap()),
        "envelope": env,
    })
    .to_string()
    .into_bytes()
}
