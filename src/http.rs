//! HTTP(S) for the backends: the one place that builds [`ureq::Agent`]s and reads bounded
//! bodies, with errors in people's terms.
//!
//! Every agent made here: treats HTTP statuses as answers, not errors; follows no redirect unless
//! asked (a 3xx comes back as it is); uses no proxy unless asked; has a connect and an overall
//! timeout; and speaks TLS through rustls on aws-lc-rs, verifying certificates against the
//! operating system's trust store (on Linux the system bundle, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` when set; Keychain on macOS, the certificate store on Windows). `http://` URLs
//! stay plain HTTP: the TLS setup is only loaded on the first `https://` connection.
//!
//! Build agents only through [`Options`]: with ureq's own defaults and this crate's features an
//! `https://` request panics (no crypto provider, no root store).
//!
//! ```no_run
//! use passbridge::http::{self, Options, Proxy};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), http::HttpError> {
//! let agent = Options::new()
//!     .connect_timeout(Duration::from_secs(5))
//!     .timeout(Duration::from_secs(15))
//!     .proxy(Proxy::None) // the default; `Proxy::FromEnvironment` reads HTTPS_PROXY etc.
//!     .agent();
//! // One call, whole body up to a cap:
//! let reply = http::read_reply(agent.get("https://clarion.example/api/authn/x").call(), 64 * 1024)?;
//! println!("{} {}", reply.status, reply.body.len());
//! // Or step by step, e.g. a different cap per status, or streaming to a file:
//! let mut res = agent.post("http://192.0.2.1:8787/").send("{}")?;
//! let cap = if res.status() == 200 { 1 << 20 } else { 4096 };
//! let body = http::read_limited(res.body_mut(), cap)?;
//! # let _ = body;
//! let mut res = agent.get("http://192.0.2.1:8787/file").call()?;
//! let mut file = std::io::sink();
//! let written = http::copy_limited(res.body_mut(), 50 << 20, &mut file)?;
//! # let _ = written;
//! # Ok(()) }
//! ```
//!
//! `?` on a [`ureq::Error`] gives an [`HttpError`] (`From`). Its text is a clause meant to follow
//! "cannot reach the … server at URL: ", e.g. "the server's certificate is not trusted: …".
//! Per-request settings (another timeout, extra headers) use ureq's request API as usual:
//! `agent.get(url).config().timeout_global(Some(d)).build().call()`.

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// Default time to open the TCP connection (and each address's share of it).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for one whole call: connect, TLS, request, reply headers and body.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit on the reply's status line and headers together.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
const USER_AGENT: &str = concat!("passbridge/", env!("CARGO_PKG_VERSION"));

/// Whether requests go through a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proxy {
    /// Connect directly (the default): LAN devices and servers addressed with bearer
    /// capabilities in their URLs must not be routed through a proxy from the environment.
    #[default]
    None,
    /// `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` (and lower-case forms), honouring `NO_PROXY`.
    FromEnvironment,
}

/// Which certificate authorities a TLS server's certificate may chain to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The operating system's trust store (the default).
    #[default]
    System,
    /// Only these roots (DER), e.g. a CA file a backend setting names for a self-hosted server.
    Only(Vec<rustls::pki_types::CertificateDer<'static>>),
}

/// How to build an agent. Start from [`Options::new`]; every setter returns the options.
#[derive(Debug, Clone)]
pub struct Options {
    connect_timeout: Duration,
    timeout: Duration,
    max_redirects: u32,
    proxy: Proxy,
    trust: Trust,
    max_header_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    pub fn new() -> Self {
        Self {
            connect_timeout: CONNECT_TIMEOUT,
            timeout: TIMEOUT,
            max_redirects: 0,
            proxy: Proxy::None,
            trust: Trust::System,
            max_header_bytes: MAX_HEADER_BYTES,
        }
    }

    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The whole call, body included (a request can set its own through ureq's request config).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Follow up to `n` redirects (default 0: a 3xx reply is returned to the caller). Only for
    /// servers whose redirects are part of their API; ureq would follow https → http too.
    pub fn follow_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }

    pub fn proxy(mut self, p: Proxy) -> Self {
        self.proxy = p;
        self
    }

    pub fn trust(mut self, t: Trust) -> Self {
        self.trust = t;
        self
    }

    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n;
        self
    }

    /// Builds the agent. Cheap: the system trust store is read on the first `https://` call.
    pub fn agent(&self) -> ureq::Agent {
        let proxy = match self.proxy {
            Proxy::None => None,
            Proxy::FromEnvironment => ureq::Proxy::try_from_env(),
        };
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(self.max_redirects)
            // With redirects off, hand the 3xx back instead of failing.
            .max_redirects_will_error(false)
            .proxy(proxy)
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.timeout))
            .max_response_header_size(self.max_header_bytes)
            .user_agent(USER_AGENT)
            .tls_config(tls_config(&self.trust))
            .build()
            .into()
    }
}

/// The process's crypto provider: aws-lc-rs, shared so agents can share connection pools.
fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

fn tls_config(trust: &Trust) -> TlsConfig {
    let roots = match trust {
        Trust::System => RootCerts::PlatformVerifier,
        Trust::Only(certs) => certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .into(),
    };
    TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(crypto_provider())
        .root_certs(roots)
        .build()
}

/// A status and a whole (bounded) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Finishes a call: its status and at most `cap` bytes of body ([`HttpError::TooLarge`] past that).
pub fn read_reply(
    res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    cap: u64,
) -> Result<Reply, HttpError> {
    let mut res = res?;
    let status = res.status().as_u16();
    let body = read_limited(res.body_mut(), cap)?;
    Ok(Reply { status, body })
}

/// Reads a whole body of at most `cap` bytes. A declared length above `cap` fails before reading.
pub fn read_limited(body: &mut ureq::Body, cap: u64) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    copy_limited(body, cap, &mut out)?;
    Ok(out)
}

/// Streams a body of at most `cap` bytes into `out`; returns the byte count. Past `cap` it fails
/// with [`HttpError::TooLarge`] (what was written so far stays written: write to a temporary file).
pub fn copy_limited(
    body: &mut ureq::Body,
    cap: u64,
    out: &mut dyn Write,
) -> Result<u64, HttpError> {
    if body.content_length().is_some_and(|n| n > cap) {
        return Err(HttpError::TooLarge(cap));
    }
    // Counted here: ureq's own limit also fails a body of exactly the limit.
    let mut reader = body.with_config().reader();
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(from_io(e)),
        };
        total += n as u64;
        if total > cap {
            return Err(HttpError::TooLarge(cap));
        }
        out.write_all(&buf[..n])
            .map_err(|e| HttpError::Output(e.kind().to_string()))?;
    }
}

/// What went wrong with a call. The text is a clause for people ("…: the connection was refused").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("it did not answer in time")]
    Timeout,
    #[error("the host name could not be resolved (check its spelling, or give the IP address)")]
    HostNotFound,
    #[error("the connection was refused")]
    Refused,
    #[error("network error ({0})")]
    Network(String),
    /// The certificate failed verification: an attacker in the path looks exactly like this, so
    /// callers must not retry without it or fall back to plain HTTP.
    #[error("the server's certificate is not trusted: {0}")]
    Untrusted(CertProblem),
    /// The TLS handshake failed for another reason (not a TLS server, no common protocol, …).
    #[error("no secure connection could be made: {0}")]
    Tls(String),
    #[error("the proxy failed ({0})")]
    Proxy(String),
    #[error("its answer is not valid HTTP ({0})")]
    BadResponse(String),
    #[error("its answer is larger than {0} bytes")]
    TooLarge(u64),
    /// Writing a streamed body failed ([`copy_limited`]).
    #[error("cannot write its answer ({0})")]
    Output(String),
    /// The request itself could not be made (a malformed URL, …): a bug or bad settings.
    #[error("the request cannot be made ({0})")]
    Request(String),
}

/// Why a certificate is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    /// No chain to a trusted authority (self-signed, or a private CA this system doesn't trust).
    UnknownIssuer,
    /// Valid, but for other names than the server's host; `presented` are the names it has.
    WrongHost {
        expected: String,
        presented: Vec<String>,
    },
    Expired,
    NotYetValid,
    Revoked,
    /// The system has no trusted authorities at all.
    NoSystemRoots,
    Other(String),
}

impl std::fmt::Display for CertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertProblem::UnknownIssuer => f.write_str(
                "it is not signed by a certificate authority this system trusts (for a private CA, \
                 add it to the system's certificate store, or on Linux set SSL_CERT_FILE to a \
                 bundle that contains it)",
            ),
            CertProblem::WrongHost {
                expected,
                presented,
            } if presented.is_empty() => write!(f, "it is not valid for the host {expected}"),
            CertProblem::WrongHost {
                expected,
                presented,
            } => write!(
                f,
                "it is for {}, not for the host {expected} (check the server URL)",
                presented.join(", ")
            ),
            CertProblem::Expired => f.write_str("it has expired"),
            CertProblem::NotYetValid => {
                f.write_str("it is not valid yet (check this computer's clock)")
            }
            CertProblem::Revoked => f.write_str("it has been revoked"),
            CertProblem::NoSystemRoots => f.write_str(
                "this system trusts no certificate authority at all (install the system's CA \
                 certificates, or set SSL_CERT_FILE)",
            ),
            CertProblem::Other(why) => write!(f, "{why}"),
        }
    }
}

impl From<ureq::Error> for HttpError {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Timeout(_) => HttpError::Timeout,
            ureq::Error::HostNotFound => HttpError::HostNotFound,
            ureq::Error::ConnectionFailed => HttpError::Refused,
            ureq::Error::Io(io) => from_io(io),
            ureq::Error::Rustls(t) => from_rustls(&t),
            ureq::Error::Tls(why) => HttpError::Tls(why.to_owned()),
            ureq::Error::BodyExceedsLimit(n) => HttpError::TooLarge(n),
            ureq::Error::LargeResponseHeader(_, limit) => {
                HttpError::BadResponse(format!("its headers exceed {limit} bytes"))
            }
            ureq::Error::Protocol(p) => HttpError::BadResponse(p.to_string()),
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
                HttpError::BadResponse("redirects that cannot be followed".into())
            }
            ureq::Error::InvalidProxyUrl => HttpError::Proxy("its URL is not valid".into()),
            ureq::Error::ConnectProxyFailed(why) => HttpError::Proxy(clean(&why)),
            ureq::Error::BadUri(why) => HttpError::Request(clean(&why)),
            other => HttpError::Request(clean(&other.to_string())),
        }
    }
}

/// ureq reports TLS failures during the handshake as I/O errors that carry the rustls error,
/// and its own errors (a timeout while reading a body) wrapped in I/O errors too.
fn from_io(e: io::Error) -> HttpError {
    if e.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
        if let Some(inner) = e.into_inner()
            && let Ok(u) = inner.downcast::<ureq::Error>()
        {
            return HttpError::from(*u);
        }
        return HttpError::Network("connection error".into());
    }
    if let Some(t) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return from_rustls(t);
    }
    // std's resolver (getaddrinfo) reports a name that does not resolve as an uncategorized
    // I/O error with this text, whatever the OS says after it.
    if e.to_string()
        .starts_with("failed to lookup address information")
    {
        return HttpError::HostNotFound;
    }
    use io::ErrorKind::*;
    match e.kind() {
        TimedOut | WouldBlock => HttpError::Timeout,
        ConnectionRefused => HttpError::Refused,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
            HttpError::Network("the connection was closed".into())
        }
        kind => HttpError::Network(kind.to_string()),
    }
}

fn from_rustls(e: &rustls::Error) -> HttpError {
    use rustls::CertificateError as C;
    use rustls::Error as E;
    let cert = |c: &C| match c {
        C::UnknownIssuer => CertProblem::UnknownIssuer,
        C::NotValidForNameContext {
            expected,
            presented,
        } => CertProblem::WrongHost {
            expected: clean(&expected.to_str()),
            presented: presented
                .iter()
                .filter_map(|n| presented_name(n))
                .take(5)
                .collect(),
        },
        C::NotValidForName => CertProblem::WrongHost {
            expected: "asked for".into(),
            presented: Vec::new(),
        },
        C::Expired | C::ExpiredContext { .. } => CertProblem::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => CertProblem::NotYetValid,
        C::Revoked => CertProblem::Revoked,
        C::BadSignature => CertProblem::Other("its signature is not valid".into()),
        C::BadEncoding => CertProblem::Other("it is malformed".into()),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            CertProblem::Other("it is not meant for a web server".into())
        }
        other => CertProblem::Other(clean(&format!("{other:?}"))),
    };
    match e {
        E::InvalidCertificate(c) => HttpError::Untrusted(cert(c)),
        // rustls-platform-verifier's message when the system store is empty.
        E::General(m) if m.contains("No CA certificates") => {
            HttpError::Untrusted(CertProblem::NoSystemRoots)
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            HttpError::Tls("the server did not answer in TLS (is it an http:// server?)".into())
        }
        E::AlertReceived(a) => HttpError::Tls(clean(&format!(
            "the server refused the secure connection ({a:?})"
        ))),
        E::PeerIncompatible(_) => HttpError::Tls(
            "the server offers no TLS version or cipher that passbridge accepts".into(),
        ),
        E::NoCertificatesPresented => HttpError::Untrusted(CertProblem::Other(
            "the server presented no certificate".into(),
        )),
        other => HttpError::Tls(clean(&other.to_string())),
    }
}

/// A name as webpki reports it (`DnsName("a.example")`, `IpAddress(192.0.2.1)`), bare; other
/// kinds (directory names, URIs) say nothing about host names and are left out.
fn presented_name(s: &str) -> Option<String> {
    let bare = s
        .strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| {
            s.strip_prefix("IpAddress(")
                .and_then(|r| r.strip_suffix(')'))
        })?;
    Some(clean(bare))
}

/// Text from a server or the network, made safe for a message: no controls, bounded.
fn clean(s: &str) -> String {
    clean_text(s, 200)
}

/// Relayed text (a phone's or a server's words) made safe to show: no control characters
/// (ESC and friends), no bidirectional or invisible format characters that could make a
/// message read differently from what it says, at most `max_chars` characters.
pub fn clean_text(s: &str, max_chars: usize) -> String {
    s.chars()
        .filter(|&c| !is_hidden(c))
        .take(max_chars)
        .collect()
}

/// Controls, line/paragraph separators, bidi marks, embeddings, overrides and isolates,
/// zero-width and other invisible format characters.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_text_loses_controls_and_bidi_formatting() {
        let evil =
            "pay\u{202e}gpj.exe\u{1b}[31m \u{2066}x\u{2069}\u{200f}\u{61c}\u{feff}\u{200b}ok\u{7f}";
        assert_eq!(clean_text(evil, 200), "paygpj.exe[31m xok");
        assert_eq!(clean_text("ünïcödé 😀 stays", 200), "ünïcödé 😀 stays");
        assert_eq!(clean_text(&"a".repeat(500), 200).len(), 200);
    }
    use rustls::CertificateError as C;

    /// The shape ureq gives a certificate failure: an I/O error carrying the rustls error.
    fn handshake_error(e: rustls::Error) -> ureq::Error {
        ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, e))
    }

    #[test]
    fn certificate_failures_are_untrusted() {
        let cases = [
            (C::UnknownIssuer, CertProblem::UnknownIssuer),
            (C::Expired, CertProblem::Expired),
            (C::NotValidYet, CertProblem::NotYetValid),
            (C::Revoked, CertProblem::Revoked),
        ];
        for (c, want) in cases {
            let e = HttpError::from(handshake_error(rustls::Error::InvalidCertificate(c)));
            assert_eq!(e, HttpError::Untrusted(want));
            assert!(
                e.to_string()
                    .starts_with("the server's certificate is not trusted: "),
                "{e}"
            );
        }
        let e = HttpError::from(handshake_error(C::UnknownIssuer.into())).to_string();
        assert!(e.contains("SSL_CERT_FILE"), "{e}");
    }

    #[test]
    fn wrong_host_names_both_sides_cleanly() {
        let expected = rustls::pki_types::ServerName::try_from("clarion.lan")
            .unwrap()
            .to_owned();
        let e = HttpError::from(handshake_error(
            C::NotValidForNameContext {
                expected,
                presented: vec![
                    r#"DnsName("other.example")"#.into(),
                    "DirectoryName".into(),
                    "IpAddress(192.0.2.7)".into(),
                    "DnsName(\"evil\u{1b}[31m.example\")".into(),
                ],
            }
            .into(),
        ));
        assert_eq!(
            e.to_string(),
            "the server's certificate is not trusted: it is for other.example, 192.0.2.7, \
             evil[31m.example, not for the host clarion.lan (check the server URL)"
        );
    }

    #[test]
    fn other_tls_failures() {
        let e = HttpError::from(handshake_error(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        )));
        assert!(
            matches!(&e, HttpError::Tls(m) if m.contains("http://")),
            "{e}"
        );
        // rustls-platform-verifier's error when the system has no roots comes as ureq::Error::Rustls.
        let e = HttpError::from(ureq::Error::Rustls(rustls::Error::General(
            "No CA certificates were loaded from the system".into(),
        )));
        assert_eq!(e, HttpError::Untrusted(CertProblem::NoSystemRoots));
        let e = HttpError::from(ureq::Error::Tls("Rustls invalid dns name error"));
        assert!(matches!(e, HttpError::Tls(_)));
    }

    #[test]
    fn network_failures() {
        assert_eq!(
            HttpError::from(ureq::Error::Io(io::ErrorKind::ConnectionRefused.into())),
            HttpError::Refused
        );
        assert_eq!(
            HttpError::from(ureq::Error::Io(io::ErrorKind::TimedOut.into())),
            HttpError::Timeout
        );
        assert_eq!(
            HttpError::from(ureq::Error::Timeout(ureq::Timeout::Global)),
            HttpError::Timeout
        );
        assert_eq!(
            HttpError::from(ureq::Error::HostNotFound),
            HttpError::HostNotFound
        );
        // A name that does not resolve, as std's resolver really reports it (`.invalid` never
        // resolves: RFC 6761), and as ureq passes it on.
        let lookup = std::net::ToSocketAddrs::to_socket_addrs("no-such-host.invalid:80")
            .expect_err("a .invalid name resolved");
        assert_eq!(
            HttpError::from(ureq::Error::Io(lookup)),
            HttpError::HostNotFound
        );
        // ureq's own errors come back wrapped in I/O errors from body readers.
        let wrapped = ureq::Error::Io(ureq::Error::BodyExceedsLimit(10).into_io());
        assert_eq!(HttpError::from(wrapped), HttpError::TooLarge(10));
        let wrapped = ureq::Error::Io(ureq::Error::Timeout(ureq::Timeout::Global).into_io());
        assert_eq!(HttpError::from(wrapped), HttpError::Timeout);
    }

    #[test]
    fn agents_are_configured_as_documented() {
        let agent = Options::new().agent();
        let c = agent.config();
        assert!(!c.http_status_as_error());
        assert_eq!(c.max_redirects(), 0);
        assert!(!c.max_redirects_will_error());
        assert!(c.proxy().is_none());
        assert_eq!(c.timeouts().global, Some(TIMEOUT));
        assert_eq!(c.timeouts().connect, Some(CONNECT_TIMEOUT));
        assert_eq!(c.max_response_header_size(), MAX_HEADER_BYTES);
        assert!(matches!(
            c.tls_config().root_certs(),
            RootCerts::PlatformVerifier
        ));
        assert_eq!(c.tls_config().provider(), TlsProvider::Rustls);
        assert!(!c.tls_config().disable_verification());

        let agent = Options::new()
            .timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_secs(1))
            .follow_redirects(3)
            .max_header_bytes(1024)
            .trust(Trust::Only(Vec::new()))
            .agent();
        let c = agent.config();
        assert_eq!(c.timeouts().global, Some(Duration::from_secs(2)));
        assert_eq!(c.timeouts().connect, Some(Duration::from_secs(1)));
        assert_eq!(c.max_redirects(), 3);
        assert_eq!(c.max_response_header_size(), 1024);
        assert!(matches!(
            c.tls_config().root_certs(),
            RootCerts::Specific(_)
        ));
    }
}
