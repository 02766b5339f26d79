//! The HTTP edge: routing like the app's Ktor server (spec §1.2, errata §10.7), rendering
//! replies, and the injected faults.

use super::android;
use super::api::{self, After, Reply, Sealed};
use super::front::Front;
use super::model::{Fault, LoggedRequest};
use super::phone::Phone;
use super::proto;
use super::rsa;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

/// The app's `GET /` text.
const INFO_PAGE: &str =
    "Download the ANOTHERpass browser extension to use the app as a credential server.";

/// The app reads any body; the simulator stops at this to stay a good neighbour in tests.
const MAX_BODY: u64 = 16 * 1024 * 1024;

#[derive(Default)]
pub struct Faults {
    /// One-shot faults in order, each with "only for a 200 reply".
    pub queue: VecDeque<(Fault, bool)>,
    pub always: Option<Fault>,
}

impl Faults {
    /// The fault for this reply. Crypto faults, and faults queued for a success, wait for a
    /// sealed (200) reply.
    fn take(&mut self, sealed: bool) -> Option<Fault> {
        let fits = |f: &Fault, only_200: bool| sealed || !(only_200 || f.is_crypto());
        if self
            .queue
            .front()
            .is_some_and(|(f, only_200)| fits(f, *only_200))
        {
            return self.queue.pop_front().map(|(f, _)| f);
        }
        self.always.clone().filter(|f| fits(f, false))
    }
}

pub struct Shared {
    pub phone: Mutex<Phone>,
    pub log: Mutex<Vec<LoggedRequest>>,
    pub faults: Mutex<Faults>,
    pub front: Front,
    pub verbose: bool,
    seq: AtomicU64,
    stopped: Mutex<bool>,
    stop_signal: Condvar,
}

impl Shared {
    pub fn new(phone: Phone, front: Front, verbose: bool) -> Self {
        Self {
            phone: Mutex::new(phone),
            log: Mutex::default(),
            faults: Mutex::default(),
            front,
            verbose,
            seq: AtomicU64::new(0),
            stopped: Mutex::new(false),
            stop_signal: Condvar::new(),
        }
    }

    pub fn stop(&self) {
        *self.stopped.lock().expect("stop lock") = true;
        self.stop_signal.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock().expect("stop lock")
    }

    /// Sleeps `d`, or less if the simulator stops meanwhile.
    fn sleep(&self, d: Duration) {
        let guard = self.stopped.lock().expect("stop lock");
        let _ = self
            .stop_signal
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .expect("stop lock");
    }
}

/// The server thread: one request at a time (a delayed reply gets its own thread).
pub fn serve(server: Arc<Server>, shared: Arc<Shared>) {
    while let Ok(request) = server.recv() {
        if shared.is_stopped() {
            break;
        }
        handle(request, &shared);
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn handle(mut request: Request, shared: &Arc<Shared>) {
    // A request on a connection opened before the server went down: the app is gone.
    if !shared.front.is_listening() {
        close_without_reply(request, shared);
        return;
    }
    let path = request
        .url()
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_string();
    let method = request.method().clone();
    let wcid = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("X-WebClientId"))
        .map(|h| h.value.as_str().to_string());
    let mut log = LoggedRequest {
        seq: shared.seq.fetch_add(1, Ordering::SeqCst),
        method: method.to_string(),
        path: path.clone(),
        headers: request
            .headers()
            .iter()
            .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
            .collect(),
        web_client_id: wcid.clone(),
        ..LoggedRequest::default()
    };

    let is_api = path == "/" && method == Method::Post;
    let segment = path
        .strip_prefix('/')
        .filter(|s| !s.is_empty() && !s.contains('/'));
    let (reply, after) = match (path.as_str(), &method, segment) {
        ("/", Method::Options, _) => (Reply::Options, After::Nothing),
        ("/", Method::Get, _) => (Reply::Html(INFO_PAGE), After::Nothing),
        ("/", Method::Post, _) => match read_body(&mut request) {
            Ok(body) => {
                log.body = body.clone();
                let mut phone = shared.phone.lock().expect("phone lock");
                api::post(&mut phone, wcid.as_deref(), &body, &mut log)
            }
            Err(message) => (
                Reply::Error {
                    status: 500,
                    message,
                },
                After::Nothing,
            ),
        },
        ("/", _, _) => (Reply::Empty(405), After::Nothing),
        (_, Method::Get, Some(key)) => {
            let mut phone = shared.phone.lock().expect("phone lock");
            api::download(&mut phone, key)
        }
        _ => (Reply::Empty(404), After::Nothing),
    };

    let fault = if is_api {
        let sealed = matches!(reply, Reply::Sealed(_));
        shared.faults.lock().expect("fault lock").take(sealed)
    } else {
        None
    };
    log.status = reply.status();
    if let Reply::Error { message, .. } = &reply {
        log.error = Some(message.clone());
    }
    log.fault = fault.as_ref().map(|f| format!("{f:?}"));
    if shared.verbose {
        eprintln!(
            "[http] {} {} {} {} -> {} {}{}",
            log.method,
            log.path,
            wcid.as_deref().unwrap_or("-"),
            log.command().or(log.action()).unwrap_or(""),
            log.status,
            log.error.as_deref().unwrap_or(""),
            log.fault
                .as_deref()
                .map(|f| format!(" [fault {f}]"))
                .unwrap_or_default(),
        );
    }
    shared.log.lock().expect("log lock").push(log);

    // Down before the reply goes out (open connections stay): whoever reads the 401 finds the
    // server gone, with no race against the reply.
    if after == After::ShutDownServer {
        shared.front.go_down(false);
    }
    match fault {
        Some(Fault::CloseWithoutReply) => close_without_reply(request, shared),
        Some(Fault::Delay(d)) => {
            let shared = shared.clone();
            std::thread::spawn(move || {
                shared.sleep(d);
                send(request, reply, None);
            });
        }
        other => send(request, reply, other),
    }
}

fn read_body(request: &mut Request) -> Result<String, String> {
    let mut bytes = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("Unexpected error during handling post request: {e}"))?;
    if bytes.len() as u64 > MAX_BODY {
        return Err(
            "Unexpected error during handling post request: body too large for the simulator"
                .into(),
        );
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn close_without_reply(request: Request, shared: &Shared) {
    if let Some(peer) = request.remote_addr().copied() {
        shared.front.kill(peer);
    }
    // Take the writer and drop it unwritten: tiny_http would otherwise answer 500 itself.
    drop(request.into_writer());
}

fn json_headers() -> Vec<Header> {
    vec![
        header("Access-Control-Allow-Origin", "*"),
        header("Content-Type", "application/json"),
    ]
}

fn send(request: Request, reply: Reply, fault: Option<Fault>) {
    let response = match (reply, fault) {
        (_, Some(Fault::Garbage { status })) => {
            let body = b"<html><body>\x00\xff not JSON {\"error\": </body>".to_vec();
            with_headers(
                Response::from_data(body).with_status_code(StatusCode(status)),
                json_headers(),
            )
        }
        (_, Some(Fault::Forged)) => {
            let enc = android::b64_url_nopad(&proto::random_bytes(256));
            let env = format!(
                "EWM:{}:{}:0",
                android::b64_std_nopad(&proto::random_bytes(12)),
                android::b64_std_nopad(&proto::random_bytes(64))
            );
            with_headers(
                Response::from_string(Sealed::body_with(&enc, &env)),
                json_headers(),
            )
        }
        (_, Some(Fault::Oversized { bytes, chunked })) => {
            let len = (!chunked).then_some(bytes as usize);
            let flood = Flood {
                remaining: bytes,
                sent: 0,
            };
            let response = Response::new(StatusCode(200), json_headers(), flood, len, None);
            // tiny_http picks chunked above its threshold (32 KiB) unless told otherwise.
            let threshold = if chunked { 0 } else { usize::MAX };
            let _ = request.respond(response.with_chunked_threshold(threshold));
            return;
        }
        (Reply::Sealed(sealed), fault) => {
            let body = match fault {
                Some(f) => faulty_body(&sealed, &f),
                None => sealed.body(),
            };
            with_headers(Response::from_string(body), json_headers())
        }
        (Reply::Error { status, message }, _) => {
            // A 204 carries no body on the wire.
            let body = if status == 204 {
                String::new()
            } else {
                android::error_body(&message)
            };
            with_headers(
                Response::from_string(body).with_status_code(StatusCode(status)),
                json_headers(),
            )
        }
        (Reply::Html(text), _) => with_headers(
            Response::from_string(text),
            vec![
                header("Access-Control-Allow-Origin", "*"),
                header("Content-Type", "text/html; charset=UTF-8"),
            ],
        ),
        (Reply::Options, _) => with_headers(
            Response::from_string(""),
            vec![
                header("Access-Control-Allow-Origin", "*"),
                header("Access-Control-Allow-Headers", "X-WebClientId,Content-Type"),
                header("Content-Type", "text/plain; charset=UTF-8"),
            ],
        ),
        (Reply::Empty(status), _) => {
            Response::from_data(Vec::new()).with_status_code(StatusCode(status))
        }
        (Reply::File(backup), _) => with_headers(Response::from_data(backup.bytes), json_headers()),
    };
    // Ktor sends a Content-Length; tiny_http would chunk bodies above 32 KiB.
    let _ = request.respond(response.with_chunked_threshold(usize::MAX));
}

fn with_headers<R: Read>(mut r: Response<R>, headers: Vec<Header>) -> Response<R> {
    for h in headers {
        r.add_header(h);
    }
    r
}

/// A 200 body that decrypts wrongly in the way the fault names.
fn faulty_body(s: &Sealed, fault: &Fault) -> String {
    match fault {
        Fault::WrongKey => {
            let key = proto::random_bytes(32);
            let env =
                proto::seal_envelope(&key, &s.iv, s.plaintext.as_bytes()).expect("32-byte key");
            Sealed::body_with(&s.enc_one_time_key, &env)
        }
        Fault::BadTag => {
            let mut ct = s.ciphertext.clone();
            if let Some(last) = ct.last_mut() {
                *last ^= 0x01;
            }
            let env = format!(
                "EWM:{}:{}:0",
                android::b64_std_nopad(&s.iv),
                android::b64_std_nopad(&ct)
            );
            Sealed::body_with(&s.enc_one_time_key, &env)
        }
        Fault::CorruptEnvelope => Sealed::body_with(
            &s.enc_one_time_key,
            &format!("EWM:{}", android::b64_std_nopad(&s.iv)),
        ),
        Fault::WrongOneTimeKey => {
            let other = proto::random_bytes(s.one_time_key.len());
            let enc = rsa::encrypt_to_client(&s.client_n, &s.client_e, &other)
                .map(|ct| android::b64_url_nopad(&ct))
                .unwrap_or_else(|_| s.enc_one_time_key.clone());
            Sealed::body_with(&enc, &s.envelope())
        }
        _ => s.body(),
    }
}

/// An endless-looking JSON body: `{"encOneTimeKey":"AAAA…` up to `remaining` bytes.
struct Flood {
    remaining: u64,
    sent: u64,
}

impl Read for Flood {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        const PREFIX: &[u8] = b"{\"encOneTimeKey\":\"";
        let n = (buf.len() as u64).min(self.remaining) as usize;
        buf[..n].fill(b'A');
        let sent = self.sent.min(PREFIX.len() as u64) as usize;
        let head = (PREFIX.len() - sent).min(n);
        buf[..head].copy_from_slice(&PREFIX[sent..sent + head]);
        self.remaining -= n as u64;
        self.sent += n as u64;
        Ok(n)
    }
}
