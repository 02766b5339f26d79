//! TLS for tests: a certificate authority made at test time (rcgen, aws-lc-rs), certificates it
//! issues, and [`TlsFront`], an https server on loopback that terminates TLS with rustls and
//! relays the plaintext to a plain-HTTP server (e.g. the fake Clarion), like a reverse proxy.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// How often a relay looks at the other side; only latency, never a pass/fail threshold.
const POLL: Duration = Duration::from_millis(10);
/// Turns a stuck handshake into a closed connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A root CA whose key lives only in this test process.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub der: CertificateDer<'static>,
    pub pem: String,
}

/// A server certificate chain and its key.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), valid from yesterday for a year.
    pub fn issue(&self, names: &[&str]) -> Leaf {
        let now = SystemTime::now();
        self.issue_valid(names, now - DAY, now + 365 * DAY)
    }

    /// A certificate for `names` that expired yesterday.
    pub fn issue_expired(&self, names: &[&str]) -> Leaf {
        let now = SystemTime::now();
        self.issue_valid(names, now - 30 * DAY, now - DAY)
    }

    fn issue_valid(&self, names: &[&str], not_before: SystemTime, not_after: SystemTime) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone(), self.der.clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    /// Writes the CA certificate as PEM (what `SSL_CERT_FILE` names) and returns its path.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

/// An https server on 127.0.0.1 relaying to a plain-HTTP `backend`.
pub struct TlsFront {
    /// `https://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handshakes: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    pub fn start(leaf: Leaf, backend: SocketAddr) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(leaf.chain, leaf.key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let (stop2, handshakes2) = (stop.clone(), handshakes.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (config, stop, handshakes) =
                    (config.clone(), stop2.clone(), handshakes2.clone());
                std::thread::spawn(move || relay(conn, config, backend, &stop, &handshakes));
            }
        });
        Self {
            base: format!("https://127.0.0.1:{}", addr.port()),
            addr,
            stop,
            handshakes,
            thread: Some(thread),
        }
    }

    /// TLS handshakes that completed (the client accepted the certificate).
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The backend address of a plain `http://127.0.0.1:<port>` base URL.
pub fn backend_of(http_base: &str) -> SocketAddr {
    let authority = http_base
        .strip_prefix("http://")
        .expect("a plain http base URL")
        .trim_end_matches('/');
    authority.parse().unwrap()
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn relay(
    mut sock: TcpStream,
    config: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
    stop: &AtomicBool,
    handshakes: &AtomicUsize,
) {
    let Ok(mut tls) = rustls::ServerConnection::new(config) else {
        return;
    };
    if sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err() {
        return;
    }
    while tls.is_handshaking() {
        // A client that rejects the certificate ends the handshake with an alert: no relay.
        if tls.complete_io(&mut sock).is_err() {
            return;
        }
    }
    handshakes.fetch_add(1, Ordering::SeqCst);
    let Ok(mut up) = TcpStream::connect(backend) else {
        return;
    };
    if sock.set_read_timeout(Some(POLL)).is_err() || up.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut down = rustls::StreamOwned::new(tls, sock);
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match down.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if up.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if would_block(&e) => {}
            Err(_) => break,
        }
        match up.read(&mut buf) {
            Ok(0) => {
                down.conn.send_close_notify();
                let _ = down.flush();
                break;
            }
            Ok(n) => {
                if down
                    .write_all(&buf[..n])
                    .and_then(|_| down.flush())
                    .is_err()
                {
                    break;
                }
            }
            Err(e) if would_block(&e) => {}
            Err(_) => break,
        }
    }
}
