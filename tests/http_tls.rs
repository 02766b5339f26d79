//! `passbridge::http` against real TLS servers on loopback: certificates made at test time, a
//! rustls server in front of a small plain-HTTP responder.
use crate::support::tls;

use passbridge::http::{self, CertProblem, HttpError, Options, Trust};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tls::{TestCa, TlsFront};

/// A plain-HTTP responder: `/bytes/N` answers N bytes, `/redirect` a 302, anything else 404.
struct Backend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Backend {
    fn start() -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let url = req.url().to_owned();
                let res = if let Some(n) = url.strip_prefix("/bytes/") {
                    let n: usize = n.parse().unwrap();
                    tiny_http::Response::from_data(vec![b'x'; n])
                } else if url == "/redirect" {
                    tiny_http::Response::from_data(Vec::new())
                        .with_status_code(302)
                        .with_header(tiny_http::Header::from_bytes("Location", "/bytes/1").unwrap())
                } else {
                    tiny_http::Response::from_data(b"not here".to_vec()).with_status_code(404)
                };
                let _ = req.respond(res);
            }
        });
        Self { addr, stop }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Trusts only `ca`; short timeouts only to turn a hang into a failure.
fn trusting(ca: &TestCa) -> ureq::Agent {
    Options::new()
        .timeout(Duration::from_secs(30))
        .trust(Trust::Only(vec![ca.der.clone()]))
        .agent()
}

fn get(agent: &ureq::Agent, url: &str, cap: u64) -> Result<http::Reply, HttpError> {
    http::read_reply(agent.get(url).call(), cap)
}

#[test]
fn https_with_a_trusted_ca_works_and_plain_http_still_does() {
    let ca = TestCa::new("passbridge test CA");
    let backend = Backend::start();
    let front = TlsFront::start(ca.issue(&["127.0.0.1"]), backend.addr);
    let agent = trusting(&ca);

    let r = get(&agent, &format!("{}/bytes/5", front.base), 1024).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"xxxxx"[..]));
    assert!(front.handshakes() >= 1, "the request went over TLS");

    // Statuses are answers, redirects are not followed.
    let r = get(&agent, &format!("{}/nope", front.base), 1024).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (404, &b"not here"[..]));
    let r = get(&agent, &format!("{}/redirect", front.base), 1024).unwrap();
    assert_eq!(r.status, 302);

    // The same agent speaks plain HTTP to http:// URLs.
    let r = get(&agent, &format!("http://{}/bytes/3", backend.addr), 1024).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"xxx"[..]));
}

#[test]
fn bodies_are_bounded_over_tls() {
    let ca = TestCa::new("passbridge test CA");
    let backend = Backend::start();
    let front = TlsFront::start(ca.issue(&["127.0.0.1"]), backend.addr);
    let agent = trusting(&ca);
    let url = format!("{}/bytes/200000", front.base);

    assert_eq!(get(&agent, &url, 1000), Err(HttpError::TooLarge(1000)));
    let r = get(&agent, &url, 200_000).unwrap();
    assert_eq!(r.body.len(), 200_000);

    let mut res = agent.get(&url).call().unwrap();
    let mut out = Vec::new();
    assert_eq!(
        http::copy_limited(res.body_mut(), 200_000, &mut out),
        Ok(200_000)
    );
    assert!(out.len() == 200_000 && out.iter().all(|&b| b == b'x'));
    let mut res = agent.get(&url).call().unwrap();
    assert_eq!(
        http::copy_limited(res.body_mut(), 199_999, &mut Vec::new()),
        Err(HttpError::TooLarge(199_999))
    );
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused() {
    let ca = TestCa::new("passbridge test CA");
    let stranger = TestCa::new("someone else's CA");
    let backend = Backend::start();
    let front = TlsFront::start(ca.issue(&["127.0.0.1"]), backend.addr);

    let e = get(
        &trusting(&stranger),
        &format!("{}/bytes/1", front.base),
        1024,
    )
    .unwrap_err();
    assert_eq!(e, HttpError::Untrusted(CertProblem::UnknownIssuer));
    assert!(
        e.to_string()
            .starts_with("the server's certificate is not trusted: it is not signed by"),
        "{e}"
    );
    assert_eq!(front.handshakes(), 0);

    // The system's store (whatever this machine has) does not know the test CA either.
    let e = get(
        &Options::new().agent(),
        &format!("{}/bytes/1", front.base),
        1024,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            HttpError::Untrusted(CertProblem::UnknownIssuer | CertProblem::NoSystemRoots)
        ),
        "{e:?}"
    );
    assert_eq!(front.handshakes(), 0);
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let ca = TestCa::new("passbridge test CA");
    let backend = Backend::start();
    let front = TlsFront::start(ca.issue(&["clarion.example"]), backend.addr);

    let e = get(&trusting(&ca), &format!("{}/bytes/1", front.base), 1024).unwrap_err();
    let HttpError::Untrusted(CertProblem::WrongHost {
        expected,
        presented,
    }) = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(expected, "127.0.0.1");
    assert_eq!(presented, &["clarion.example"]);
    assert!(
        e.to_string()
            .contains("it is for clarion.example, not for the host 127.0.0.1"),
        "{e}"
    );
    assert_eq!(front.handshakes(), 0);
}

#[test]
fn an_expired_certificate_is_refused() {
    let ca = TestCa::new("passbridge test CA");
    let backend = Backend::start();
    let front = TlsFront::start(ca.issue_expired(&["127.0.0.1"]), backend.addr);
    let e = get(&trusting(&ca), &format!("{}/bytes/1", front.base), 1024).unwrap_err();
    assert_eq!(e, HttpError::Untrusted(CertProblem::Expired));
    assert_eq!(
        e.to_string(),
        "the server's certificate is not trusted: it has expired"
    );
}

/// A plain-HTTP server that answers anything with 400, as web servers do to a TLS ClientHello.
fn plain_http_400() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = conn.read(&mut [0u8; 1024]);
            let _ = conn.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    addr
}

#[test]
fn https_to_a_plain_http_server_says_so() {
    let ca = TestCa::new("passbridge test CA");
    let url = format!("https://{}/", plain_http_400());
    let e = get(&trusting(&ca), &url, 1024).unwrap_err();
    assert!(
        matches!(&e, HttpError::Tls(m) if m.contains("did not answer in TLS")),
        "{e:?}"
    );
}
