//! HTTP to a Clarion server: create an authn, poll it. Plain HTTP only (the build has no TLS),
//! no proxy (the authn id is a bearer capability), no redirects, bounded replies.

use super::wire::{self, Authn, WireError};
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
        "{0:?} is not a usable Clarion server URL: give http://host:port (https needs a local TLS proxy in front of passbridge's plain-HTTP client)"
    )]
    InvalidServer(String),
    #[error(
        "cannot reach the Clarion server at {server}: {why}. Check that it runs and the URL is right."
    )]
    Unreachable { server: String, why: String },
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

/// Checks a server URL: `http`, a host, no credentials, query or fragment. A path prefix is
/// kept, with a trailing slash so endpoints join under it.
pub fn server_url(s: &str) -> Result<Url, ClientError> {
    let bad = || ClientError::InvalidServer(s.chars().take(200).collect());
    let mut u = Url::parse(s.trim()).map_err(|_| bad())?;
    if u.scheme() != "http"
        || u.host_str().is_none_or(str::is_empty)
        || !u.username().is_empty()
        || u.password().is_some()
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(bad());
    }
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
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
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(None)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(CALL_TIMEOUT))
            .user_agent(concat!("passbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
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
        let unreachable = |why: String| ClientError::Unreachable {
            server: self.base.to_string(),
            why,
        };
        let mut res = res.map_err(|e| unreachable(describe(&e)))?;
        let status = res.status().as_u16();
        let bytes = res
            .body_mut()
            .with_config()
            .limit(MAX_REPLY_BYTES)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => ClientError::BadReply(format!(
                    "the reply is larger than {MAX_REPLY_BYTES} bytes"
                )),
                other => unreachable(describe(&other)),
            })?;
        Ok((status, bytes))
    }
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "it did not answer in time".into(),
        ureq::Error::HostNotFound => "the host name does not resolve".into(),
        ureq::Error::ConnectionFailed => "the connection was refused".into(),
        ureq::Error::Io(io) => format!("network error ({})", io.kind()),
        other => other.to_string(),
    }
}

/// A non-2xx answer; Clarion's JSON `{"error": "..."}` is quoted when present (it is never secret).
fn status_error(status: u16, body: &[u8]) -> ClientError {
    let said = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .map(|m| format!(" ({:?})", m.chars().take(100).collect::<String>()))
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
            canonical_server(" http://c.lan/clarion ").unwrap(),
            "http://c.lan/clarion/"
        );
        for bad in [
            "",
            "c.lan",
            "https://c.lan/",
            "ftp://c.lan/",
            "http://u:p@c.lan/",
            "http://c.lan/?x=1",
            "http://c.lan/#f",
            "file:///etc/passwd",
        ] {
            assert!(server_url(bad).is_err(), "{bad}");
        }
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
