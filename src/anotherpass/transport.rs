//! Plain HTTP to the phone (the app serves no TLS; every message is end-to-end encrypted), with
//! hard limits: a timeout per exchange and a cap on every body read, checked while reading.

use std::io::{Read, Write};
use std::time::Duration;

/// A phone that is off the network is reported after this long, not after the whole timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Error bodies (`{"error": "..."}`) are tiny; read at most this much of them.
pub const ERROR_BODY_CAP: u64 = 64 * 1024;

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
        let config = ureq::Agent::config_builder()
            // Status codes are protocol answers here, not errors.
            .http_status_as_error(false)
            // The phone is on the LAN: a proxy from the environment would only leak or break it.
            .proxy(None)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .max_response_header_size(16 * 1024)
            .build();
        Self {
            agent: config.into(),
        }
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
        let resp = self
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
            .map_err(net_error)?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if status == 200 {
            let bytes = body
                .with_config()
                .limit(cap)
                .read_to_vec()
                .map_err(|e| match e {
                    ureq::Error::BodyExceedsLimit(_) => NetError::TooLarge(cap),
                    other => net_error(other),
                })?;
            return Ok(Reply {
                status,
                body: bytes,
                said: None,
            });
        }
        // Best effort: a missing or broken error body still leaves the status to act on.
        let said = body
            .with_config()
            .limit(ERROR_BODY_CAP)
            .read_to_vec()
            .ok()
            .and_then(|b| error_text(&b));
        Ok(Reply {
            status,
            body: Vec::new(),
            said,
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
        let resp = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(CONNECT_TIMEOUT)))
            .build()
            .call()
            .map_err(net_error)?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if status != 200 {
            let said = body
                .with_config()
                .limit(ERROR_BODY_CAP)
                .read_to_vec()
                .ok()
                .and_then(|b| error_text(&b));
            return Ok((status, said, 0));
        }
        // Counted here rather than by ureq's limit, so the cap check needs no error matching.
        let mut reader = body.with_config().reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(io_error)?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > cap {
                return Err(NetError::TooLarge(cap));
            }
            out.write_all(&buf[..n])
                .map_err(|e| NetError::Local(e.to_string()))?;
        }
        Ok((status, None, written))
    }
}

fn net_error(e: ureq::Error) -> NetError {
    match e {
        ureq::Error::Timeout(_) => NetError::Timeout,
        ureq::Error::Io(io) => io_error(io),
        ureq::Error::HostNotFound => NetError::Unreachable("host name not found".into()),
        ureq::Error::ConnectionFailed => NetError::Unreachable("connection failed".into()),
        other => NetError::Unreachable(other.to_string()),
    }
}

fn io_error(e: std::io::Error) -> NetError {
    use std::io::ErrorKind::*;
    // ureq wraps its own errors (e.g. a timeout while reading the body) in io::Error.
    if e.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
        if let Ok(inner) = e.into_inner().expect("checked").downcast::<ureq::Error>() {
            return net_error(*inner);
        }
        return NetError::Unreachable("connection error".into());
    }
    match e.kind() {
        TimedOut | WouldBlock => NetError::Timeout,
        ConnectionRefused => NetError::Unreachable(
            "connection refused (is the ANOTHERpass server switched on?)".into(),
        ),
        _ => NetError::Unreachable(e.to_string()),
    }
}

/// The `error` field of an app error body, cut to 200 printable characters (it ends up in
/// messages people read; the phone's text is not trusted).
pub fn error_text(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let s = v.get("error")?.as_str()?;
    Some(s.chars().filter(|c| !c.is_control()).take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
