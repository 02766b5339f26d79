//! Plain HTTP to the phone (the app serves no TLS; every message is end-to-end encrypted) through
//! the project's HTTP edge, [`crate::http`]: no proxy (the phone is on the LAN), no redirects, a
//! connect timeout, a timeout per exchange, and a cap on every body, checked while reading.

use crate::http::{self, HttpError};
use std::io::Write;
use std::time::Duration;

/// Error bodies (`{"error": "..."}`) are tiny; read at most this much of them.
pub const ERROR_BODY_CAP: u64 = 64 * 1024;
/// The app's replies carry a handful of headers.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The phone is on the LAN: no connection within seconds means it is not there (yet). Polling
/// tries again; linking reports it at once instead of after its 3-minute exchange timeout.
pub const CONNECT_TIMEOUT: Duration = http::CONNECT_TIMEOUT;

/// A reply from the phone. `body` is the full body for 200, else empty.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `error` text of a non-200 JSON body (what the app said), bounded and sanitized.
    pub said: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("no connection: {0}")]
    Unreachable(String),
    #[error("no answer in time")]
    Timeout,
    /// A 200 body above the cap: a bug or a hostile peer, never retried.
    #[error("the answer is larger than {0} bytes")]
    TooLarge(u64),
    /// Writing a download to disk failed.
    #[error("cannot write the file: {0}")]
    Local(String),
}

impl From<HttpError> for NetError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Timeout => NetError::Timeout,
            HttpError::TooLarge(cap) => NetError::TooLarge(cap),
            HttpError::Output(why) => NetError::Local(why),
            HttpError::Refused => NetError::Unreachable(
                "the connection was refused (is the ANOTHERpass server switched on?)".into(),
            ),
            // Everything else is the network or whatever answers at that address: worth another
            // poll, and its text reads as the reason the phone cannot be reached.
            other => NetError::Unreachable(other.to_string()),
        }
    }
}

/// Errors of a call (before the body): a connect timeout means "not there", not "too slow".
fn call_error(e: ureq::Error) -> NetError {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => NetError::Unreachable(format!(
            "no connection within {} s",
            CONNECT_TIMEOUT.as_secs()
        )),
        other => HttpError::from(other).into(),
    }
}

/// One HTTP client for the process (connection reuse across polls).
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        let agent = http::Options::new()
            .connect_timeout(CONNECT_TIMEOUT)
            // A proxy from the environment would only leak the phone's traffic or break it.
            .proxy(http::Proxy::None)
            .max_header_bytes(MAX_HEADER_BYTES)
            .agent();
        Self { agent }
    }

    /// POSTs a JSON body with the client id header. `cap` bounds a 200 body.
    pub fn post(
        &self,
        url: &str,
        web_client_id: &str,
        body: &str,
        timeout: Duration,
        cap: u64,
    ) -> Result<Reply, NetError> {
        let mut resp = self
            .agent
            .post(url)
            .header("X-WebClientId", web_client_id)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(CONNECT_TIMEOUT)))
            .build()
            .send(body)
            .map_err(call_error)?;
        let status = resp.status().as_u16();
        if status == 200 {
            let body = http::read_limited(resp.body_mut(), cap)?;
            return Ok(Reply {
                status,
                body,
                said: None,
            });
        }
        Ok(Reply {
            status,
            body: Vec::new(),
            said: said(resp.body_mut()),
        })
    }

    /// GETs `url` and streams a 200 body into `out` (at most `cap` bytes). Returns the status,
    /// the app's error text for other statuses, and the number of bytes written.
    pub fn get_into(
        &self,
        url: &str,
        timeout: Duration,
        cap: u64,
        out: &mut dyn Write,
    ) -> Result<(u16, Option<String>, u64), NetError> {
        let mut resp = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(CONNECT_TIMEOUT)))
            .build()
            .call()
            .map_err(call_error)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Ok((status, said(resp.body_mut()), 0));
        }
        let written = http::copy_limited(resp.body_mut(), cap, out)?;
        Ok((status, None, written))
    }
}

/// Best effort: a missing or broken error body still leaves the status to act on.
fn said(body: &mut ureq::Body) -> Option<String> {
    http::read_limited(body, ERROR_BODY_CAP)
        .ok()
        .and_then(|b| error_text(&b))
}

/// The `error` field of an app error body, cut to 200 characters without controls or bidi
/// formatting (it ends up in messages people read; the phone's text is not trusted).
pub fn error_text(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let s = v.get("error")?.as_str()?;
    Some(crate::http::clean_text(s, 200))
}

/// A loopback server that answers each request in turn with one of the given replies.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::{Arc, Mutex};

    /// A reply: status, body, chunked (else with a Content-Length).
    pub type Canned = (u16, Vec<u8>, bool);
    /// The headers of each request, in order.
    pub type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

    /// Serves `replies` in order; returns the base URL and the headers of each request seen.
    pub fn serve(replies: Vec<Canned>) -> (String, Seen) {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("loopback server");
        let url = format!("http://{}/", server.server_addr().to_ip().expect("tcp"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (status, body, chunked) in replies {
                let Ok(req) = server.recv() else { return };
                log.lock().unwrap().push(
                    req.headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                );
                let threshold = if chunked { 0 } else { usize::MAX };
                let _ = req.respond(
                    tiny_http::Response::from_data(body)
                        .with_status_code(status)
                        .with_chunked_threshold(threshold),
                );
            }
        });
        (url, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::serve;
    use super::*;

    const T: Duration = Duration::from_secs(60);

    #[test]
    fn bodies_are_capped_exactly_whatever_their_framing() {
        let (url, seen) = serve(vec![
            (200, vec![b'a'; 100], false),
            (200, vec![b'a'; 101], false),
            (200, vec![b'a'; 101], true),
            (401, br#"{"error": "device locked"}"#.to_vec(), false),
            (500, vec![b' '; ERROR_BODY_CAP as usize + 1], false),
        ]);
        let http = Http::new();
        let r = http.post(&url, "ABC-DEF", "{}", T, 100).unwrap();
        assert_eq!((r.status, r.body.len(), r.said), (200, 100, None));
        for _ in 0..2 {
            assert_eq!(
                http.post(&url, "ABC-DEF", "{}", T, 100).unwrap_err(),
                NetError::TooLarge(100)
            );
        }
        let r = http.post(&url, "ABC-DEF", "{}", T, 100).unwrap();
        assert_eq!(
            (r.status, r.body.len(), r.said.as_deref()),
            (401, 0, Some("device locked"))
        );
        let r = http.post(&url, "ABC-DEF", "{}", T, 100).unwrap();
        assert_eq!(
            (r.status, r.said),
            (500, None),
            "an oversized error body is dropped"
        );
        let headers = seen.lock().unwrap()[0].clone();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("X-WebClientId").as_deref(), Some("ABC-DEF"));
        assert_eq!(header("Content-Type").as_deref(), Some("application/json"));
    }

    #[test]
    fn downloads_stream_up_to_the_cap() {
        let (url, _) = serve(vec![
            (200, vec![b'x'; 300_000], true),
            (200, vec![b'x'; 300_001], true),
            (404, br#"{"error": "No file to download"}"#.to_vec(), false),
        ]);
        let http = Http::new();
        let mut out = Vec::new();
        let r = http.get_into(&url, T, 300_000, &mut out).unwrap();
        assert_eq!((r.0, r.2, out.len()), (200, 300_000, 300_000));
        let mut out = Vec::new();
        assert_eq!(
            http.get_into(&url, T, 300_000, &mut out).unwrap_err(),
            NetError::TooLarge(300_000)
        );
        assert!(out.len() <= 300_000);
        let r = http.get_into(&url, T, 300_000, &mut Vec::new()).unwrap();
        assert_eq!(
            (r.0, r.1.as_deref(), r.2),
            (404, Some("No file to download"), 0)
        );
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = Http::new()
            .post(
                &format!("http://127.0.0.1:{port}/"),
                "ABC-DEF",
                "{}",
                T,
                100,
            )
            .unwrap_err();
        assert!(
            matches!(&e, NetError::Unreachable(d) if d.contains("refused")),
            "{e}"
        );
    }

    #[test]
    fn error_text_is_bounded_and_clean() {
        assert_eq!(
            error_text(b"{\n    \"error\": \"denied by user\"\n}").as_deref(),
            Some("denied by user")
        );
        assert_eq!(error_text(b"not json"), None);
        assert_eq!(error_text(b"{\"error\": 5}"), None);
        let long = format!("{{\"error\":\"{}\\u0007\"}}", "x".repeat(500));
        assert_eq!(error_text(long.as_bytes()).unwrap().len(), 200);
        assert_eq!(
            error_text(b"{\"error\":\"a\\nb\\u001b[31m\"}").as_deref(),
            Some("ab[31m")
        );
        // A right-to-left override would make "denied" read as something else.
        assert_eq!(
            error_text("{\"error\":\"ok \u{202e}deined\u{2066} \u{200f}x\"}".as_bytes()).as_deref(),
            Some("ok deined x")
        );
    }

    #[test]
    fn the_agent_talks_to_the_lan_directly() {
        let http = Http::new();
        let c = http.agent.config();
        assert!(c.proxy().is_none());
        assert_eq!(c.max_redirects(), 0);
        assert!(
            !c.max_redirects_will_error(),
            "a 3xx is an answer to act on"
        );
        assert!(!c.http_status_as_error());
        assert_eq!(c.timeouts().connect, Some(CONNECT_TIMEOUT));
        assert_eq!(c.max_response_header_size(), MAX_HEADER_BYTES);
    }

    #[test]
    fn http_errors_keep_their_meaning() {
        use NetError::*;
        assert_eq!(NetError::from(HttpError::Timeout), Timeout);
        assert_eq!(NetError::from(HttpError::TooLarge(7)), TooLarge(7));
        assert_eq!(
            NetError::from(HttpError::Output("no storage space".into())),
            Local("no storage space".into())
        );
        assert!(
            matches!(NetError::from(HttpError::Refused), Unreachable(d) if d.contains("switched on"))
        );
        assert_eq!(
            NetError::from(HttpError::HostNotFound),
            Unreachable(HttpError::HostNotFound.to_string())
        );
        assert!(matches!(
            NetError::from(HttpError::BadResponse("x".into())),
            Unreachable(_)
        ));
        assert_eq!(
            call_error(ureq::Error::Timeout(ureq::Timeout::Connect)),
            Unreachable("no connection within 5 s".into())
        );
        assert_eq!(
            call_error(ureq::Error::Timeout(ureq::Timeout::Global)),
            Timeout
        );
        assert_eq!(
            call_error(ureq::Error::ConnectionFailed),
            Unreachable(
                "the connection was refused (is the ANOTHERpass server switched on?)".into()
            )
        );
    }
}
