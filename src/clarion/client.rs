//! HTTP(S) to a Clarion server: create an authn, poll it. Agents come from [`crate::http`]: no
//! proxy (the authn id is a bearer capability), no redirects, certificates checked against the
//! system's trust store, bounded replies.

use super::wire::{self, Authn, WireError};
use crate::http::{self, HttpError};
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// Largest reply read from Clarion; an authn is well under 2 KiB.
pub const MAX_REPLY_BYTES: u64 = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error(
        "{0:?} is not a usable Clarion server URL: give https://host[:port] (or http:// for a Clarion on this machine)"
    )]
    InvalidServer(String),
    /// Plain http to a host that is not this machine: anyone on the path could answer
    /// "verified", so it is refused when saved and again before every approval.
    #[error(
        "{0:?} uses plain http:// to another machine: anyone on the network path could approve in your name. Use https:// (plain http is only for a Clarion on this machine: 127.0.0.1, [::1] or localhost)"
    )]
    Insecure(String),
    #[error(
        "cannot reach the Clarion server at {server}: {why}. Check that it runs and the URL is right."
    )]
    Unreachable { server: String, why: String },
    /// TLS certificate verification failed: never retried, never downgraded.
    #[error("cannot connect securely to the Clarion server at {server}: {why}")]
    Untrusted { server: String, why: String },
    #[error("the Clarion server answered HTTP {status}{detail}")]
    Status { status: u16, detail: String },
    #[error(
        "Clarion does not know this approval request any more (it may have restarted); start again"
    )]
    NotFound,
    #[error("the Clarion server sent a reply passbridge cannot use: {0}")]
    BadReply(String),
}

impl From<WireError> for ClientError {
    fn from(e: WireError) -> Self {
        ClientError::BadReply(e.to_string())
    }
}

/// Checks a server URL: `https` or `http`, a host, no credentials, query or fragment. A path
/// prefix is kept, with a trailing slash so endpoints join under it.
pub fn server_url(s: &str) -> Result<Url, ClientError> {
    let bad = || ClientError::InvalidServer(s.chars().take(200).collect());
    let mut u = Url::parse(s.trim()).map_err(|_| bad())?;
    if !matches!(u.scheme(), "https" | "http")
        || u.host_str().is_none_or(str::is_empty)
        || !u.username().is_empty()
        || u.password().is_some()
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(bad());
    }
    if u.scheme() == "http" && !is_loopback(&u) {
        return Err(ClientError::Insecure(s.trim().chars().take(200).collect()));
    }
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

/// This machine: an IPv4 127/8 or IPv6 ::1 literal, or the name `localhost` (which WebAuthn
/// also treats as a secure context). `0.0.0.0` and other names are not.
fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The canonical text of a server URL, as stored in the settings.
pub fn canonical_server(s: &str) -> Result<String, ClientError> {
    Ok(server_url(s)?.to_string())
}

pub struct Client {
    base: Url,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(server: &str) -> Result<Self, ClientError> {
        let base = server_url(server)?;
        let agent = http::Options::new()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .agent();
        Ok(Self { base, agent })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `POST /api/authn`.
    pub fn create(&self, body: &Value) -> Result<Authn, ClientError> {
        let url = self.endpoint("api/authn")?;
        let res = self
            .agent
            .post(url.as_str())
            .header("Content-Type", "application/json")
            .send(serde_json::to_vec(body).expect("JSON serializes"));
        let (status, bytes) = self.finish(res)?;
        match status {
            200..=299 => Ok(wire::parse_authn(&bytes)?),
            _ => Err(status_error(status, &bytes)),
        }
    }

    /// `GET /api/authn/:id`. A 404 is [`ClientError::NotFound`].
    pub fn poll(&self, id: &str) -> Result<Authn, ClientError> {
        let url = self.endpoint(&format!("api/authn/{id}"))?;
        let res = self.agent.get(url.as_str()).call();
        let (status, bytes) = self.finish(res)?;
        match status {
            200..=299 => {
                let a = wire::parse_authn(&bytes)?;
                if a.id != id {
                    return Err(ClientError::BadReply(
                        "the reply is about another request".into(),
                    ));
                }
                Ok(a)
            }
            404 => Err(ClientError::NotFound),
            _ => Err(status_error(status, &bytes)),
        }
    }

    fn endpoint(&self, path: &str) -> Result<Url, ClientError> {
        self.base
            .join(path)
            .map_err(|_| ClientError::InvalidServer(self.base.to_string()))
    }

    fn finish(
        &self,
        res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let reply = http::read_reply(res, MAX_REPLY_BYTES).map_err(|e| self.http_error(e))?;
        Ok((reply.status, reply.body))
    }

    fn http_error(&self, e: HttpError) -> ClientError {
        let server = self.base.to_string();
        match e {
            HttpError::TooLarge(n) => {
                ClientError::BadReply(format!("the reply is larger than {n} bytes"))
            }
            HttpError::Untrusted(_) => ClientError::Untrusted {
                server,
                why: e.to_string(),
            },
            other => ClientError::Unreachable {
                server,
                why: other.to_string(),
            },
        }
    }
}

/// A non-2xx answer; Clarion's JSON `{"error": "..."}` is quoted when present (it is never secret).
fn status_error(status: u16, body: &[u8]) -> ClientError {
    let said = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .map(|m| format!(" ({:?})", crate::http::clean_text(&m, 100)))
        .unwrap_or_default();
    let hint = match status {
        400 => ". Clarion rejected the request: a stored key may be malformed; re-register it",
        500..=599 => ". The Clarion server failed; check its logs",
        300..=399 => ". Clarion does not redirect; check the server URL",
        _ => "",
    };
    ClientError::Status {
        status,
        detail: format!("{said}{hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(
            canonical_server("http://127.0.0.1:9292").unwrap(),
            "http://127.0.0.1:9292/"
        );
        assert_eq!(
            canonical_server(" https://c.lan/clarion ").unwrap(),
            "https://c.lan/clarion/"
        );
        for loopback in [
            "http://127.0.0.1:9292/",
            "http://127.8.9.10/",
            "http://[::1]:9292/",
            "http://localhost:9292/",
        ] {
            assert!(server_url(loopback).is_ok(), "{loopback}");
        }
        assert_eq!(
            canonical_server("HTTPS://Clarion.example:443").unwrap(),
            "https://clarion.example/"
        );
        for bad in [
            "",
            "c.lan",
            "ftp://c.lan/",
            "ws://c.lan/",
            "http://u:p@c.lan/",
            "http://c.lan/?x=1",
            "http://c.lan/#f",
            "file:///etc/passwd",
        ] {
            assert!(server_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_only_on_this_machine() {
        for insecure in [
            "http://c.lan/clarion",
            "http://10.0.0.5:9292/",
            "http://0.0.0.0:9292/",
            "http://[fe80::1]/",
            "http://localhost.evil.example/",
            "http://127.0.0.1.nip.io/",
        ] {
            assert!(
                matches!(server_url(insecure), Err(ClientError::Insecure(_))),
                "{insecure}"
            );
        }
        assert!(Client::new("http://clarion.example/").is_err());
    }

    #[test]
    fn status_errors_quote_clarion() {
        let e = status_error(400, br#"{"error": "invalid params"}"#).to_string();
        assert!(
            e.contains("HTTP 400") && e.contains("invalid params") && e.contains("re-register"),
            "{e}"
        );
        let e = status_error(500, b"<h1>Internal Server Error</h1>").to_string();
        assert!(e.contains("HTTP 500") && !e.contains("<h1>"), "{e}");
    }
}
