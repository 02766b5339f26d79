//! The ANOTHERpass simulator checked two ways: its server-side computations against every §7.3
//! vector a server computes, and its HTTP behaviour against a minimal client written here
//! straight from the spec (no code shared with the simulator or with passbridge's client).
use crate::support::anotherpass_sim;

use anotherpass_sim::{Credential, Fault, RequestState, Script, Sim, SimConfig, android, proto};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
fn range(from: u8, to_incl: u8) -> Vec<u8> {
    (from..=to_incl).collect()
}

// ------------------------------------------------------------------------------ §7.3 vectors

const TKRQ: &str = "60dcbc828060c044579c4b6c671582e39e631b3d7de3dac5e69286394521158b";
const TKRS: &str = "4c5d12b946b3236efc202d4855b0ac4c553b01a20dd2df3dd398836673c5fd7f";
const IV: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

#[test]
fn vector_key_schedule() {
    let bk = range(0x00, 0x1f);
    let tkrq = proto::request_transport_key(&bk, &range(0xa0, 0xbf));
    assert_eq!(proto::hex(&tkrq), TKRQ);
    let tkrs = proto::response_transport_key(&bk, &range(0x40, 0x5f), &tkrq);
    assert_eq!(proto::hex(&tkrs), TKRS);
}

#[test]
fn vector_request_fingerprint() {
    let bk = range(0x00, 0x1f);
    let rid = "EBESExQVFhcYGRobHB0eHw==";
    assert_eq!(
        proto::hex(&proto::conjunct_keys(&[&bk, &range(0x10, 0x1f)])),
        "8233cf4919de6027d978c9c704a123871d6ec1019e9c36eb072a3e4f53578f80"
    );
    assert_eq!(
        proto::request_fingerprint(&bk, rid).unwrap().as_deref(),
        Some("GJ-PPS-RN")
    );
}

#[test]
fn vector_server_response_envelope() {
    let env = proto::seal_envelope(&unhex(TKRS), &IV, br#"{"clientKey": "x"}"#).unwrap();
    assert_eq!(
        env,
        "EWM:AQIDBAUGBwgJCgsM:zVbQAWDd2WNh9KpTb+OgEe2tbdGmBIU7Y1BZOuc+ONjfSA:0"
    );
}

#[test]
fn vector_server_opens_client_envelopes() {
    let req = "EWM:AQIDBAUGBwgJCgsM:zSjSL4DCIMo8eblkZU13T3L/C6ku5qYXaeuRD7iDBK+yVHvMoYgBZvz0VZN2NZnmAjmuwCwzTOqpm/vWdj2ID9ZnncRTCZ5rOQ8QxZZ8o3noSpaTPkeW3FhHlxm61RzhCOfkkHdfZOBYY0bmJBsMzmMOBRjAqqu8pw==";
    let plain = proto::open_envelope(&unhex(TKRQ), &proto::parse_envelope(req).unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        r#"{"action":"request_credential","command":"get_client_key","requestIdentifier":"EBESExQVFhcYGRobHB0eHw=="}"#
    );
    let link = "EWM:AQIDBAUGBwgJCgsM:lbNbnE8XVDNEEQwehNZufWIIkDUDw3XxhGDNJRD8a4oty6LuMg==";
    let sk = range(0x30, 0x3f);
    let plain = proto::open_envelope(&sk, &proto::parse_envelope(link).unwrap()).unwrap();
    assert_eq!(plain, br#"{"action":"link_app"}"#);
    // A wrong key is what the app catches: 400, not 500.
    assert_eq!(
        proto::open_envelope(&unhex(TKRS), &proto::parse_envelope(req).unwrap()),
        None
    );
}

fn vector_salt() -> Vec<u8> {
    (0..128u32).map(|i| (7 * i % 256) as u8).collect()
}

#[test]
fn vector_client_key_and_vault_id() {
    assert_eq!(
        proto::client_key_b64(&vector_salt(), "ABC-DEF", &[0x55; 32]),
        "7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n"
    );
    assert_eq!(proto::vault_id(&vector_salt()), "aacofrwj");
}

#[test]
fn vector_download_key() {
    assert_eq!(
        proto::download_key("ABC-DEF", &range(0x00, 0x1f)),
        "ABC-DEF_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    );
    assert_eq!(
        proto::backup_filename("aacofrwj", proto::civil_from_days(19_782)),
        "anotherpassvault-aacofrwj-2024-02-29.json"
    );
    assert_eq!(proto::civil_from_days(0), (1970, 1, 1));
}

#[test]
fn vector_handles() {
    let h = |s: &str| proto::handle_for_ipv4(s.parse::<Ipv4Addr>().unwrap());
    assert_eq!(h("192.168.178.39").as_deref(), Some("@icpmd"));
    assert_eq!(h("192.168.0.1").as_deref(), Some("@ib"));
    assert_eq!(h("172.16.178.39").as_deref(), Some("@ecpmd"));
    assert_eq!(h("10.255.255.255").as_deref(), Some("@abksojn"));
    assert_eq!(h("127.0.0.1"), None);
    assert_eq!(h("172.32.0.1"), None);
}

#[test]
fn credential_mapping_helpers() {
    let uuid = proto::parse_uuid("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0").unwrap();
    assert_eq!(
        proto::format_uuid(&uuid),
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    );
    // base64 "Dx4tPEtaaXiHlqW0w9Lh8A==" → lowercase alphanumerics → first 8
    assert_eq!(proto::readable_uid(&uuid), "dx4tpeta");
    assert_eq!(proto::parse_uuid("0f1e2d3c4b5a69788796a5b4c3d2e1f0"), None);
    assert_eq!(proto::ensure_http("example.com"), "https://example.com");
    assert_eq!(proto::ensure_http("http://x.org"), "http://x.org");
    assert_eq!(proto::ensure_http(""), "");
    assert_eq!(
        proto::extract_domain("https://www.login.github.com/x?y", true),
        "github.com"
    );
    assert_eq!(
        proto::capitalize(&proto::extract_domain("https://github.com/", false)),
        "Github"
    );
}

#[test]
fn android_base64_semantics() {
    // Foreign bytes are skipped, URL-safe ones included (errata §10.1) ...
    assert_eq!(
        android::b64_decode("AQ-ID\n", false).unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(android::b64_decode("AQID", false).unwrap(), vec![1, 2, 3]);
    assert_eq!(android::b64_decode("AQI", false).unwrap(), vec![1, 2]);
    assert_eq!(android::b64_decode("AQI=", false).unwrap(), vec![1, 2]);
    assert_eq!(android::b64_decode("-_8", true).unwrap(), vec![0xfb, 0xff]);
    // ... but a dangling character or broken padding throws.
    assert!(android::b64_decode("AQIDB", false).is_err());
    assert!(android::b64_decode("AQ=I", false).is_err());
    assert!(android::b64_decode("AQ=", false).is_err());
    assert!(android::b64_decode("A===", false).is_err());
    assert_eq!(
        android::b64_encode_default(&[0u8; 60])
            .matches('\n')
            .count(),
        2
    );
    assert_eq!(android::error_body("a/b"), "{\n    \"error\": \"a\\/b\"\n}");
}

#[test]
fn envelope_failures_split_into_400_and_500_like_the_app() {
    let key = [7u8; 32];
    let good = proto::seal_envelope(&key, &IV, b"{}").unwrap();
    let fields: Vec<&str> = good.split(':').collect();
    // Thrown while parsing (500): too few fields, bad padding, a bad algorithm index.
    assert!(proto::parse_envelope("EWM:AQIDBAUGBwgJCgsM").is_err());
    assert!(proto::parse_envelope("EWM:AQIDBAUGBwgJCgsM:AB=C").is_err());
    assert!(
        proto::parse_envelope(&format!("{}:{}:{}:x", fields[0], fields[1], fields[2])).is_err()
    );
    assert!(
        proto::parse_envelope(&format!("{}:{}:{}:7", fields[0], fields[1], fields[2])).is_err()
    );
    // Caught while decrypting (400): another valid algorithm, another IV length, empty input.
    let algo1 =
        proto::parse_envelope(&format!("{}:{}:{}:1", fields[0], fields[1], fields[2])).unwrap();
    assert_eq!(proto::open_envelope(&key, &algo1), None);
    let iv16 =
        proto::parse_envelope(&format!("EWM:{}:{}", "AAAAAAAAAAAAAAAAAAAAAA", fields[2])).unwrap();
    assert_eq!(proto::open_envelope(&key, &iv16), None);
    assert_eq!(
        proto::open_envelope(&key, &proto::parse_envelope("EWM::").unwrap()),
        None
    );
    // Three fields, padded, no type check: accepted.
    let three = format!("XYZ:{}:{}", fields[1], fields[2]);
    assert_eq!(
        proto::open_envelope(&key, &proto::parse_envelope(&three).unwrap()).unwrap(),
        b"{}"
    );
}

// ------------------------------------------------------------- a minimal client from the spec

mod client {
    use aes_gcm::aead::{Aead, KeyInit};
    use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{
        KeyPair, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
        OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents,
    };
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use serde_json::{Value, json};
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    pub struct Http {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Http {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
        pub fn error(&self) -> Option<String> {
            let v: Value = serde_json::from_slice(&self.body).ok()?;
            v.get("error")?.as_str().map(str::to_string)
        }
    }

    /// One request on a fresh connection (`Connection: close`), read to EOF.
    pub fn http(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Http> {
        let mut s = TcpStream::connect(addr)?;
        // Only there so a hang becomes a failure.
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        parse(&raw)
    }

    pub fn parse(raw: &[u8]) -> std::io::Result<Http> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no header end"))?;
        let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("head not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        if chunked {
            body = dechunk(&body).ok_or_else(|| bad("bad chunking"))?;
        }
        Ok(Http {
            status,
            headers,
            body,
        })
    }

    fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let eol = b.windows(2).position(|w| w == b"\r\n")?;
            let size =
                usize::from_str_radix(std::str::from_utf8(&b[..eol]).ok()?.trim(), 16).ok()?;
            b = &b[eol + 2..];
            if size == 0 {
                return Some(out);
            }
            out.extend_from_slice(b.get(..size)?);
            b = b.get(size + 2..)?;
        }
    }

    fn sha(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    fn random(n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        aws_lc_rs::rand::fill(&mut v).unwrap();
        v
    }

    fn seal(key: &[u8], plain: &[u8]) -> String {
        let iv = random(12);
        let ct = match key.len() {
            16 => Aes128Gcm::new_from_slice(key)
                .unwrap()
                .encrypt(Nonce::from_slice(&iv), plain),
            _ => Aes256Gcm::new_from_slice(key)
                .unwrap()
                .encrypt(Nonce::from_slice(&iv), plain),
        }
        .unwrap();
        format!("EWM:{}:{}", STANDARD.encode(&iv), STANDARD.encode(&ct))
    }

    /// Opens a server envelope (unpadded base64, `:0`) under a 32-byte key.
    pub fn open(key: &[u8], envelope: &str) -> Result<Vec<u8>, String> {
        let f: Vec<&str> = envelope.split(':').collect();
        if f.len() != 4 || f[0] != "EWM" || f[3] != "0" {
            return Err(format!("not a server envelope: {envelope}"));
        }
        let iv = STANDARD_NO_PAD.decode(f[1]).map_err(|e| e.to_string())?;
        let ct = STANDARD_NO_PAD.decode(f[2]).map_err(|e| e.to_string())?;
        if iv.len() != 12 {
            return Err("IV is not 12 bytes".into());
        }
        Aes256Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(Nonce::from_slice(&iv), ct.as_slice())
            .map_err(|_| "tag mismatch".to_string())
    }

    pub fn short_fingerprint(digest: &[u8]) -> String {
        let f: String = STANDARD
            .encode(digest)
            .chars()
            .filter(char::is_ascii_alphabetic)
            .take(7)
            .collect::<String>()
            .to_uppercase();
        format!("{}-{}-{}", &f[..2], &f[2..5], &f[5..])
    }

    pub struct Reply {
        pub status: u16,
        pub error: Option<String>,
        pub json: Option<Value>,
        pub decrypt_error: Option<String>,
        pub http: Http,
    }

    impl Reply {
        pub fn short(&self) -> (u16, String) {
            (
                self.status,
                self.error.clone().unwrap_or_else(|| "ok".into()),
            )
        }
    }

    pub struct Client {
        pub addr: SocketAddr,
        pub wcid: String,
        key: OaepPrivateDecryptingKey,
        pub n: String,
        pub e: String,
        pub sk: Vec<u8>,
        pub bk: Vec<u8>,
        pub app: Option<(String, String)>,
        pub vault_id: Option<String>,
    }

    impl Client {
        pub fn new(addr: SocketAddr, wcid: &str, size: KeySize) -> Self {
            let pair = KeyPair::generate(size).unwrap();
            let n = URL_SAFE_NO_PAD.encode(
                pair.public_key()
                    .modulus()
                    .big_endian_without_leading_zero(),
            );
            let e = URL_SAFE_NO_PAD.encode(
                pair.public_key()
                    .exponent()
                    .big_endian_without_leading_zero(),
            );
            let key = OaepPrivateDecryptingKey::new(
                PrivateDecryptingKey::from_pkcs8(pair.as_der().unwrap().as_ref()).unwrap(),
            )
            .unwrap();
            Self {
                addr,
                wcid: wcid.into(),
                key,
                n,
                e,
                sk: random(16),
                bk: Vec::new(),
                app: None,
                vault_id: None,
            }
        }

        /// The QR payload: `wcid:b64(SK):hex(sha256(n))`.
        pub fn qr(&self) -> String {
            let fp: String = sha(&[self.n.as_bytes()])
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{}:{}:{}", self.wcid, STANDARD.encode(&self.sk), fp)
        }

        pub fn jwk(&self) -> Value {
            json!({"kty": "RSA", "n": self.n, "e": self.e, "alg": "RSA-OAEP-256", "key_ops": ["encrypt"], "ext": true})
        }

        pub fn post_raw(&self, body: &str) -> Http {
            http(
                self.addr,
                "POST",
                "/",
                &[
                    ("X-WebClientId", &self.wcid),
                    ("Content-Type", "application/json"),
                ],
                body.as_bytes(),
            )
            .unwrap()
        }

        fn decrypt_otk(&self, b64url: &str) -> Result<Vec<u8>, String> {
            let ct = URL_SAFE_NO_PAD.decode(b64url).map_err(|e| e.to_string())?;
            let mut out = vec![0; self.key.min_output_size()];
            let otk = self
                .key
                .decrypt(&OAEP_SHA256_MGF1SHA256, &ct, &mut out, None)
                .map_err(|_| "RSA")?;
            Ok(otk.to_vec())
        }

        fn read_reply(&self, http: Http, key_for: impl Fn(&[u8]) -> [u8; 32]) -> Reply {
            let mut r = Reply {
                status: http.status,
                error: http.error(),
                json: None,
                decrypt_error: None,
                http,
            };
            if r.status == 200 {
                let res = (|| -> Result<Value, String> {
                    let outer: Value =
                        serde_json::from_slice(&r.http.body).map_err(|e| e.to_string())?;
                    let otk = self
                        .decrypt_otk(outer["encOneTimeKey"].as_str().ok_or("no encOneTimeKey")?)?;
                    let plain = open(
                        &key_for(&otk),
                        outer["envelope"].as_str().ok_or("no envelope")?,
                    )?;
                    serde_json::from_slice(&plain).map_err(|e| e.to_string())
                })();
                match res {
                    Ok(v) => r.json = Some(v),
                    Err(e) => r.decrypt_error = Some(e),
                }
            }
            r
        }

        /// Sends `link_app` under SK (no encOneTimeKey) and opens a 200 with SHA256(SK‖OTKrs).
        pub fn send_link(&self, msg: &Value) -> Reply {
            let body = json!({"envelope": seal(&self.sk, msg.to_string().as_bytes())});
            let http = self.post_raw(&body.to_string());
            self.read_reply(http, |otk| sha(&[&self.sk, otk]))
        }

        /// The whole link: the owner scans, the client posts, the result is kept.
        pub fn link(&mut self, sim: &super::anotherpass_sim::Sim) -> Reply {
            sim.scan_qr(&self.qr()).unwrap();
            let mut msg = json!({"action": "link_app", "clientPubKey": self.jwk()});
            if let Some(v) = &self.vault_id {
                msg["vaultId"] = json!(v);
            }
            let r = self.send_link(&msg);
            assert_eq!(r.status, 200, "link failed: {:?}", r.error);
            let v = r.json.clone().expect("link reply decrypts");
            self.bk = URL_SAFE_NO_PAD
                .decode(v["sharedBaseKey"].as_str().unwrap())
                .unwrap();
            self.app = Some((
                v["serverPubKey"]["n"].as_str().unwrap().into(),
                v["serverPubKey"]["e"].as_str().unwrap().into(),
            ));
            self.vault_id = Some(v["linkedVaultId"].as_str().unwrap().into());
            r
        }

        pub fn link_fingerprint(&self) -> String {
            short_fingerprint(&sha(&[self.app.as_ref().unwrap().0.as_bytes()]))
        }

        pub fn request_fingerprint(&self, rid: &str) -> String {
            short_fingerprint(&sha(&[&self.bk, &STANDARD.decode(rid).unwrap()]))
        }

        /// OAEP-SHA-1 to the app key, padded standard base64.
        pub fn enc_otk(&self, otk: &[u8]) -> String {
            let (n, e) = self.app.as_ref().expect("linked");
            let public: PublicEncryptingKey = PublicKeyComponents {
                n: URL_SAFE_NO_PAD.decode(n).unwrap(),
                e: URL_SAFE_NO_PAD.decode(e).unwrap(),
            }
            .try_into()
            .unwrap();
            let key = OaepPublicEncryptingKey::new(public).unwrap();
            let mut out = vec![0; key.ciphertext_size()];
            STANDARD.encode(
                key.encrypt(&OAEP_SHA1_MGF1SHA1, otk, &mut out, None)
                    .unwrap(),
            )
        }

        /// One normal request (fresh OTKrq) and its decrypted reply.
        pub fn call(&self, msg: &Value) -> Reply {
            let otk = random(self.bk.len());
            let tkrq = sha(&[&self.bk, &otk]);
            let body = json!({"encOneTimeKey": self.enc_otk(&otk), "envelope": seal(&tkrq, msg.to_string().as_bytes())});
            let http = self.post_raw(&body.to_string());
            self.read_reply(http, |otkrs| sha(&[&self.bk, otkrs, &tkrq]))
        }

        /// Polls like the extension: until a reply that is not 202/401/409, at most `max` times.
        pub fn poll(&self, msg: &Value, max: usize) -> Vec<Reply> {
            let mut out = Vec::new();
            for _ in 0..max {
                let r = self.call(msg);
                let go_on = matches!(r.status, 202 | 401 | 409);
                out.push(r);
                if !go_on {
                    break;
                }
            }
            out
        }
    }

    pub fn new_rid() -> String {
        STANDARD.encode(random(16))
    }
}

use client::{Client, Reply, http, new_rid};

fn fast_sim() -> Sim {
    Sim::start(SimConfig::fast())
}

fn linked(sim: &Sim, wcid: &str) -> Client {
    let mut c = Client::new(sim.addr(), wcid, aws_lc_rs::rsa::KeySize::Rsa2048);
    c.link(sim);
    c
}

fn req(command: &str, rid: &str) -> Value {
    json!({"action": "request_credential", "command": command, "requestIdentifier": rid})
}

fn shorts(rs: &[Reply]) -> Vec<(u16, String)> {
    rs.iter().map(Reply::short).collect()
}

fn s(status: u16, e: &str) -> (u16, String) {
    (status, e.to_string())
}

// ------------------------------------------------------------------------------ linking

#[test]
fn link_then_get_client_key_with_fresh_one_time_keys() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    let link = sim.link("ABC-DEF").unwrap();
    assert!(link.linked);
    assert_eq!(link.shared_key, c.bk);
    assert_eq!(c.bk.len(), 32);
    assert_eq!(c.vault_id.as_deref(), Some(sim.vault_id().as_str()));
    assert_eq!(link.app_key_n.as_ref(), Some(&c.app.as_ref().unwrap().0));
    assert_eq!(link.app_key_bits, Some(2048));
    assert_eq!(sim.last_link_fingerprint(), Some(c.link_fingerprint()));
    assert_eq!(
        link.client_jwk
            .as_deref()
            .map(|j| serde_json::from_str::<Value>(j).unwrap()),
        Some(c.jwk())
    );

    let rid = new_rid();
    let replies = c.poll(&req("get_client_key", &rid), 10);
    assert_eq!(
        shorts(&replies),
        vec![s(202, "no user acknowledge"), s(200, "ok")]
    );
    let key = replies[1].json.as_ref().unwrap()["clientKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(key, sim.client_key_for("ABC-DEF"));
    assert!(
        key.ends_with("=\n"),
        "padded base64 plus a newline: {key:?}"
    );
    assert_eq!(
        sim.last_request_fingerprint(),
        Some(c.request_fingerprint(&rid))
    );
    assert_eq!(sim.request_state(), (RequestState::Fulfilled, None));

    let polls: Vec<_> = sim
        .api_requests()
        .into_iter()
        .filter(|r| r.command().is_some())
        .collect();
    assert_eq!(polls.len(), 2);
    assert!(
        polls
            .iter()
            .all(|p| p.request_identifier() == Some(rid.as_str()))
    );
    assert_ne!(polls[0].enc_one_time_key(), polls[1].enc_one_time_key());
    assert_ne!(polls[0].one_time_key, polls[1].one_time_key);
    assert_eq!(polls[0].one_time_key.as_ref().unwrap().len(), 32);
}

#[test]
fn link_reply_has_the_app_wire_format() {
    let sim = fast_sim();
    let mut c = Client::new(sim.addr(), "ABC-DEF", aws_lc_rs::rsa::KeySize::Rsa2048);
    let r = c.link(&sim);
    assert_eq!(r.http.header("Content-Type"), Some("application/json"));
    assert_eq!(r.http.header("Access-Control-Allow-Origin"), Some("*"));
    let text = r.http.text();
    assert!(text.starts_with("{\"encOneTimeKey\":\""), "{text}");
    // org.json escapes '/' in the body; a JSON parser undoes it.
    let outer: Value = serde_json::from_str(&text).unwrap();
    let otk = outer["encOneTimeKey"].as_str().unwrap();
    assert_eq!(
        otk.len(),
        342,
        "2048-bit client key: 256 bytes, base64url without padding"
    );
    assert!(!otk.contains(['=', '+', '/']));
    let env = outer["envelope"].as_str().unwrap();
    let f: Vec<&str> = env.split(':').collect();
    assert_eq!((f.len(), f[0], f[3]), (4, "EWM", "0"));
    assert!(!env.contains('='), "unpadded: {env}");
    let reply = r.json.unwrap();
    let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{reply}");
    assert_eq!(reply["serverPubKey"]["e"], "AQAB");
    assert_eq!(reply["linkedVaultId"].as_str().unwrap().len(), 8);
}

#[test]
fn link_refusals() {
    let sim = fast_sim();
    let c = Client::new(sim.addr(), "ABC-DEF", aws_lc_rs::rsa::KeySize::Rsa2048);

    // Unknown until scanned.
    let r = c.send_link(&json!({"action": "link_app", "clientPubKey": c.jwk()}));
    assert_eq!(r.short(), s(404, "webClientId is unknown"));

    // Scanned, but the link screen was closed again.
    sim.scan_qr(&c.qr()).unwrap();
    sim.set_link_screen_open(false);
    let r = c.send_link(&json!({"action": "link_app", "clientPubKey": c.jwk()}));
    assert_eq!(r.short(), s(500, "Missing action listener"));
    sim.set_link_screen_open(true);

    // A key other than the QR's.
    let other = Client::new(sim.addr(), "ABC-DEF", aws_lc_rs::rsa::KeySize::Rsa2048);
    let r = c.send_link(&json!({"action": "link_app", "clientPubKey": other.jwk()}));
    assert_eq!(r.short(), s(400, "fingerprint mismatch"));

    // A relink for another vault; `null` is not "absent" for the app (optString → "null").
    for vault_id in [json!("zzzzzzzz"), Value::Null] {
        let r = c.send_link(
            &json!({"action": "link_app", "clientPubKey": c.jwk(), "vaultId": vault_id}),
        );
        assert_eq!(r.short(), s(400, "relink vault id mismatch"));
    }
    assert!(!sim.link("ABC-DEF").unwrap().linked);

    // The right vault id is fine.
    let r = c.send_link(
        &json!({"action": "link_app", "clientPubKey": c.jwk(), "vaultId": sim.vault_id()}),
    );
    assert_eq!(r.status, 200);
    assert!(sim.link("ABC-DEF").unwrap().linked);

    // A linked device cannot be scanned again.
    assert_eq!(
        sim.scan_qr(&c.qr()).unwrap_err(),
        "This device link already exists. Delete it first."
    );
    assert!(sim.scan_qr("ABC-DEF:AAAA").is_err());
    assert!(sim.scan_qr("abc-def:AAAAAAAAAAAAAAAAAAAAAA==:00").is_err());
}

#[test]
fn relink_after_delete_keeps_the_client_key() {
    let sim = fast_sim();
    let first = linked(&sim, "QWE-RTY");
    let key1 = first
        .poll(&req("get_client_key", &new_rid()), 5)
        .pop()
        .unwrap()
        .json
        .unwrap();

    let mut second = Client::new(sim.addr(), "QWE-RTY", aws_lc_rs::rsa::KeySize::Rsa2048);
    second.vault_id = first.vault_id.clone();
    assert!(sim.scan_qr(&second.qr()).is_err());
    assert!(sim.delete_link("QWE-RTY"));
    second.link(&sim);
    assert_ne!(second.bk, first.bk);
    let key2 = second
        .poll(&req("get_client_key", &new_rid()), 5)
        .pop()
        .unwrap()
        .json
        .unwrap();
    assert_eq!(key1["clientKey"], key2["clientKey"]);
    // The old client's keys are gone.
    assert_eq!(first.call(&req("get_client_key", &new_rid())).status, 500);
}

#[test]
fn link_denied_by_the_owner_deletes_the_entry() {
    let sim = fast_sim();
    sim.set_user(Script::deny());
    let mut c = Client::new(sim.addr(), "ABC-DEF", aws_lc_rs::rsa::KeySize::Rsa2048);
    let r = c.link(&sim);
    assert_eq!(r.status, 200, "the reply goes out before the owner answers");
    assert_eq!(sim.link("ABC-DEF"), None);
    assert_eq!(
        c.call(&req("get_client_key", &new_rid())).short(),
        s(404, "webClientId is unknown")
    );
}

#[test]
fn until_the_owner_accepts_the_stored_key_is_raw_bk() {
    let sim = fast_sim();
    sim.set_user(Script::never());
    let mut c = Client::new(sim.addr(), "ABC-DEF", aws_lc_rs::rsa::KeySize::Rsa2048);
    c.link(&sim);
    assert!(sim.link_pending());
    assert!(!sim.link("ABC-DEF").unwrap().linked);
    // Normal requests and a retried link_app (under SK) both fail to decrypt (errata §10.3).
    assert_eq!(
        c.call(&req("get_client_key", &new_rid())).short(),
        s(400, "Cannot parse message")
    );
    let r = c.send_link(&json!({"action": "link_app", "clientPubKey": c.jwk()}));
    assert_eq!(r.short(), s(400, "Cannot parse message"));

    sim.user_accept().unwrap();
    assert!(sim.link("ABC-DEF").unwrap().linked);
    sim.set_user(Script::accept());
    let rs = c.poll(&req("get_client_key", &new_rid()), 5);
    assert_eq!(rs.last().unwrap().status, 200);
}

#[test]
fn old_android_uses_16_byte_keys() {
    let sim = fast_sim();
    sim.set_key_len(16);
    let c = linked(&sim, "ABC-DEF");
    assert_eq!(c.bk.len(), 16);
    let rs = c.poll(&req("get_client_key", &new_rid()), 5);
    assert_eq!(rs.last().unwrap().status, 200);
    assert_eq!(
        sim.api_requests()
            .last()
            .unwrap()
            .one_time_key
            .as_ref()
            .unwrap()
            .len(),
        16
    );
}

#[test]
fn real_key_sizes_rsa_4096() {
    let sim = Sim::start(SimConfig::default());
    let mut c = Client::new(sim.addr(), "BIG-KEY", aws_lc_rs::rsa::KeySize::Rsa4096);
    let r = c.link(&sim);
    let outer: Value = serde_json::from_slice(&r.http.body).unwrap();
    assert_eq!(outer["encOneTimeKey"].as_str().unwrap().len(), 683);
    assert_eq!(sim.link("BIG-KEY").unwrap().app_key_bits, Some(4096));
    assert_eq!(c.app.as_ref().unwrap().0.len(), 683, "512-byte modulus");
    let rs = c.poll(&req("get_client_key", &new_rid()), 5);
    assert_eq!(rs.last().unwrap().short(), s(200, "ok"));
    let enc = sim
        .api_requests()
        .last()
        .unwrap()
        .enc_one_time_key()
        .unwrap()
        .to_string();
    assert_eq!(enc.len(), 684, "512-byte OAEP ciphertext, padded base64");
}

// ------------------------------------------------------------------------------ commands

struct Vault {
    github: String,
    gitlab: String,
    veiled: String,
    otp: String,
}

fn fill(sim: &Sim) -> Vault {
    Vault {
        github: sim
            .add_credential(Credential::new("GitHub", "octo", "gh-pw", "github.com"))
            .unwrap(),
        gitlab: sim
            .add_credential(Credential::new(
                "GitLab",
                "fox",
                "gl/pw\"",
                "https://gitlab.com/login",
            ))
            .unwrap(),
        veiled: sim
            .add_credential(Credential::new("Bank", "me", "bank-pw", "bank.example").veiled())
            .unwrap(),
        otp: sim
            .add_credential(
                Credential::new("Mail", "me@x", "mail-pw", "")
                    .with_otp("otpauth://totp/Mail:me?secret=JBSWY3DPEHPK3PXP&issuer=Mail"),
            )
            .unwrap(),
    }
}

fn done(rs: &[Reply]) -> Value {
    let last = rs.last().unwrap();
    assert_eq!(last.status, 200, "{:?}", shorts(rs));
    last.json.clone().unwrap()
}

#[test]
fn fetch_all_maps_credentials_like_the_app() {
    let sim = fast_sim();
    let v = fill(&sim);
    let old =
        sim.add_credential(Credential::new("Old", "u", "p", "http://old.example").without_uid());
    assert_eq!(old, None);
    let c = linked(&sim, "ABC-DEF");
    let out = done(&c.poll(&req("fetch_all_credentials", &new_rid()), 5));
    assert_eq!(out["clientKey"], sim.client_key_for("ABC-DEF"));
    let creds = out["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 4, "the veiled one is skipped: {creds:?}");
    let gh_uid = proto::parse_uuid(&v.github).unwrap();
    assert_eq!(
        creds[0],
        json!({"uid": v.github, "readableUid": proto::readable_uid(&gh_uid), "name": "GitHub",
               "password": "gh-pw", "user": "octo", "website": "https://github.com", "otp": ""})
    );
    assert_eq!(creds[1]["password"], "gl/pw\"");
    assert_eq!(creds[1]["website"], "https://gitlab.com/login");
    assert_eq!(creds[2]["uid"], v.otp.as_str());
    assert_eq!(creds[2]["website"], "");
    assert!(
        creds[2]["otp"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert_eq!(creds[3].get("uid"), None);
    assert_eq!(creds[3].get("readableUid"), None);
    assert_eq!(creds[3]["website"], "http://old.example");
    assert!(!creds.iter().any(|c| c["uid"] == v.veiled.as_str()));
    // The reply went out as org.json text: '/' escaped.
    let plain = sim
        .api_requests()
        .last()
        .unwrap()
        .reply_plaintext
        .clone()
        .unwrap();
    assert!(
        plain.contains(r#""website":"https:\/\/github.com""#),
        "{plain}"
    );
}

#[test]
fn fetch_for_uids_skips_unknown_invalid_and_veiled() {
    let sim = fast_sim();
    let v = fill(&sim);
    let c = linked(&sim, "ABC-DEF");
    let mut m = req("fetch_credentials_for_uids", &new_rid());
    m["uids"] = json!([
        v.gitlab,
        "not-a-uuid",
        7,
        v.veiled,
        "00000000-0000-4000-8000-000000000000",
        v.github.to_uppercase()
    ]);
    let out = done(&c.poll(&m, 5));
    let names: Vec<&str> = out["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["GitHub", "GitLab"], "vault order");

    let mut m = req("fetch_credentials_for_uids", &new_rid());
    m["uids"] = json!(["00000000-0000-4000-8000-000000000000"]);
    assert_eq!(done(&c.poll(&m, 5))["credentials"], json!([]));
}

#[test]
fn fetch_for_uid_found_unknown_and_invalid() {
    let sim = fast_sim();
    let v = fill(&sim);
    let c = linked(&sim, "ABC-DEF");
    let mut m = req("fetch_credential_for_uid", &new_rid());
    m["uid"] = json!(v.gitlab);
    let rs = c.poll(&m, 5);
    assert_eq!(
        shorts(&rs),
        vec![s(202, "no user acknowledge"), s(200, "ok")]
    );
    assert_eq!(rs[1].json.as_ref().unwrap()["credential"]["name"], "GitLab");

    // Unknown: a toast and Denied, so 403 (not 404).
    m = req("fetch_credential_for_uid", &new_rid());
    m["uid"] = json!("00000000-0000-4000-8000-000000000000");
    assert_eq!(
        shorts(&c.poll(&m, 5)),
        vec![s(202, "no user acknowledge"), s(403, "denied by user")]
    );

    // Invalid: no flow starts, 202 forever, and the slot stays taken.
    let rid = new_rid();
    m = req("fetch_credential_for_uid", &rid);
    m["uid"] = json!("nope");
    let rs = c.poll(&m, 6);
    assert_eq!(rs.len(), 6);
    assert!(
        rs.iter()
            .all(|r| r.short() == s(202, "no user acknowledge"))
    );
    assert_eq!(
        sim.request_state(),
        (RequestState::Incoming, Some(rid.clone()))
    );
    assert_eq!(
        c.call(&req("get_client_key", &new_rid())).short(),
        s(409, "waiting for concurrent request")
    );
    // Only a cancel with the same identifier frees it.
    assert_eq!(
        c.call(&req("cancel_request", &rid)).short(),
        s(403, "denied by user")
    );
    assert_eq!(
        c.poll(&req("get_client_key", &new_rid()), 5)
            .last()
            .unwrap()
            .status,
        200
    );
}

#[test]
fn fetch_for_url_preselected_searched_and_fallback() {
    let sim = fast_sim();
    let v = fill(&sim);
    let c = linked(&sim, "ABC-DEF");

    // Remembered uid: accepting is enough.
    let mut m = req("fetch_credential_for_url", &new_rid());
    m["website"] = json!("https://github.com/login");
    m["uid"] = json!(v.github);
    let rs = c.poll(&m, 5);
    assert_eq!(
        shorts(&rs),
        vec![s(202, "no user acknowledge"), s(200, "ok")]
    );

    // No uid: the list searches the domain, the owner taps the match.
    let mut m = req("fetch_credential_for_url", &new_rid());
    m["website"] = json!("https://www.gitlab.com/users/sign_in");
    let rs = c.poll(&m, 6);
    assert_eq!(
        shorts(&rs),
        vec![
            s(202, "no user acknowledge"),
            s(202, "no user selection"),
            s(200, "ok")
        ]
    );
    assert_eq!(
        rs[2].json.as_ref().unwrap()["credential"]["uid"],
        v.gitlab.as_str()
    );

    // A known-format but unknown uid falls back to the website flow; the owner taps GitHub.
    sim.set_user(Script::accept().pick(&[&v.github]));
    let mut m = req("fetch_credential_for_url", &new_rid());
    m["website"] = json!("https://nowhere.example");
    m["uid"] = json!("00000000-0000-4000-8000-000000000000");
    let out = done(&c.poll(&m, 6));
    assert_eq!(out["credential"]["name"], "GitHub");

    // Blank website and no uid: nothing starts.
    let mut m = req("fetch_credential_for_url", &new_rid());
    m["website"] = json!("  ");
    let rs = c.poll(&m, 3);
    assert!(
        rs.iter()
            .all(|r| r.short() == s(202, "no user acknowledge"))
    );
}

#[test]
fn single_selection_after_polls_and_multiple() {
    let sim = fast_sim();
    let v = fill(&sim);
    let c = linked(&sim, "ABC-DEF");
    sim.set_user(Script::accept().pick(&[&v.otp]).pick_after(2));
    let rs = c.poll(&req("fetch_single_credential", &new_rid()), 10);
    assert_eq!(
        shorts(&rs),
        vec![
            s(202, "no user acknowledge"),
            s(202, "no user selection"),
            s(202, "no user selection"),
            s(202, "no user selection"),
            s(200, "ok")
        ]
    );
    assert_eq!(rs[4].json.as_ref().unwrap()["credential"]["name"], "Mail");

    sim.set_user(Script::accept().pick(&[&v.gitlab, &v.veiled]));
    let out = done(&c.poll(&req("fetch_multiple_credentials", &new_rid()), 10));
    let names: Vec<&str> = out["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["GitLab", "Bank"],
        "a selected veiled credential is sent"
    );
}

#[test]
fn create_credential_keeps_the_list_covered_until_saved() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    sim.set_user(Script::accept().save_created("s3cret").create_after(1));
    let mut m = req("create_credential_for_url", &new_rid());
    m["website"] = json!("https://www.example.com/signup");
    m["user"] = json!("alice");
    let rs = c.poll(&m, 10);
    assert_eq!(
        shorts(&rs),
        vec![
            s(202, "no user acknowledge"),
            s(401, "not in foreground"),
            s(401, "not in foreground"),
            s(200, "ok")
        ]
    );
    let cred = &rs[3].json.as_ref().unwrap()["credential"];
    assert_eq!(
        (
            &cred["name"],
            &cred["user"],
            &cred["password"],
            &cred["website"]
        ),
        (
            &json!("Example"),
            &json!("alice"),
            &json!("s3cret"),
            &json!("https://example.com")
        )
    );
    assert_eq!(
        sim.credentials().last().unwrap().uid.as_deref(),
        cred["uid"].as_str()
    );

    // Blank website: no flow.
    let mut m = req("create_credential_for_url", &new_rid());
    m["website"] = json!("");
    assert!(
        c.poll(&m, 3)
            .iter()
            .all(|r| r.short() == s(202, "no user acknowledge"))
    );
}

#[test]
fn download_backup_once() {
    let sim = fast_sim();
    fill(&sim);
    let c = linked(&sim, "ABC-DEF");
    let out = done(&c.poll(&req("download_vault_backup", &new_rid()), 5));
    let key = out["downloadKey"].as_str().unwrap();
    let (wcid, rest) = key.split_once('_').unwrap();
    assert_eq!(wcid, "ABC-DEF");
    assert!(
        (20..=43).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric()),
        "{key}"
    );
    let filename = out["filename"].as_str().unwrap();
    let prefix = format!("anotherpassvault-{}-", sim.vault_id());
    let date = filename
        .strip_prefix(&prefix)
        .and_then(|d| d.strip_suffix(".json"))
        .unwrap();
    assert_eq!(date.len(), 10);
    assert_eq!(out["clientKey"], sim.client_key_for("ABC-DEF"));

    let get = |path: &str| http(sim.addr(), "GET", path, &[], b"").unwrap();
    let wrong = get("/ABC-DEF_nope");
    assert_eq!(
        (wrong.status, wrong.error().as_deref()),
        (404, Some("Unknown file to download"))
    );
    let file = get(&format!("/{key}"));
    assert_eq!(file.status, 200);
    assert_eq!(file.header("Access-Control-Allow-Origin"), Some("*"));
    let backup: Value = serde_json::from_slice(&file.body).unwrap();
    assert_eq!(backup["vaultId"], sim.vault_id().as_str());
    assert!(!file.text().contains("gh-pw"), "the vault stays encrypted");
    let again = get(&format!("/{key}"));
    assert_eq!(
        (again.status, again.error().as_deref()),
        (404, Some("No file to download"))
    );
}

#[test]
fn result_follows_the_current_polls_command_and_identifier_resets() {
    let sim = fast_sim();
    fill(&sim);
    let c = linked(&sim, "ABC-DEF");
    let rid = new_rid();
    assert_eq!(
        c.call(&req("get_client_key", &rid)).short(),
        s(202, "no user acknowledge")
    );
    let r = c.call(&req("fetch_all_credentials", &rid));
    assert_eq!(
        r.json.as_ref().unwrap()["credentials"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // A lost 200 cannot be fetched again: the same identifier is a new request.
    assert_eq!(
        c.call(&req("get_client_key", &rid)).short(),
        s(202, "no user acknowledge")
    );
}

// ------------------------------------------------------------------------- the owner decides

#[test]
fn deny_and_bypass_checkbox() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    sim.set_user(Script::deny());
    let rs = c.poll(&req("get_client_key", &new_rid()), 5);
    assert_eq!(
        shorts(&rs),
        vec![s(202, "no user acknowledge"), s(403, "denied by user")]
    );
    assert_eq!(sim.request_state(), (RequestState::Fulfilled, None));
    assert!(!sim.link("ABC-DEF").unwrap().bypass);

    // Denying with the box ticked still enables bypass (errata §10.6).
    sim.set_user(Script::deny().with_bypass());
    assert_eq!(
        c.poll(&req("get_client_key", &new_rid()), 5)
            .last()
            .unwrap()
            .status,
        403
    );
    assert!(sim.link("ABC-DEF").unwrap().bypass);

    // With bypass nobody needs to look: Accepted at once, the second poll has the result.
    sim.set_user(Script::never());
    let rs = c.poll(&req("get_client_key", &new_rid()), 5);
    assert_eq!(
        shorts(&rs),
        vec![s(202, "no user acknowledge"), s(200, "ok")]
    );
}

#[test]
fn accept_after_n_polls_and_manual_owner() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    sim.set_user(Script::accept().after(3));
    let rs = c.poll(&req("get_client_key", &new_rid()), 10);
    assert_eq!(
        shorts(&rs),
        vec![
            s(202, "no user acknowledge"),
            s(202, "pending request"),
            s(202, "pending request"),
            s(202, "pending request"),
            s(200, "ok")
        ]
    );

    sim.set_user(Script::never());
    let rid = new_rid();
    assert_eq!(c.call(&req("fetch_single_credential", &rid)).status, 202);
    assert!(
        sim.screen().starts_with("acceptance sheet"),
        "{}",
        sim.screen()
    );
    assert_eq!(
        c.call(&req("fetch_single_credential", &rid)).short(),
        s(202, "pending request")
    );
    assert!(sim.user_pick(&[]).is_err());
    sim.user_accept().unwrap();
    assert_eq!(
        c.call(&req("fetch_single_credential", &rid)).short(),
        s(202, "no user selection")
    );
    let uid = sim
        .add_credential(Credential::new("X", "x", "x", "x.org"))
        .unwrap();
    sim.user_pick(&[&uid]).unwrap();
    let r = c.call(&req("fetch_single_credential", &rid));
    assert_eq!(r.json.unwrap()["credential"]["uid"], uid.as_str());
}

#[test]
fn cancel_from_client_and_from_the_owner() {
    let sim = fast_sim();
    fill(&sim);
    let c = linked(&sim, "ABC-DEF");
    sim.set_user(Script::never());
    let rid = new_rid();
    assert_eq!(c.call(&req("fetch_single_credential", &rid)).status, 202);
    assert_eq!(
        c.call(&req("cancel_request", &rid)).short(),
        s(403, "denied by user")
    );
    let log = sim.api_requests();
    let cancel = log.last().unwrap();
    assert_eq!(
        (cancel.command(), cancel.request_identifier()),
        (Some("cancel_request"), Some(rid.as_str()))
    );

    // The owner taps "cancel request" while selecting.
    sim.set_user(Script::accept().cancel_selection());
    let rs = c.poll(&req("fetch_single_credential", &new_rid()), 10);
    assert_eq!(
        shorts(&rs),
        vec![
            s(202, "no user acknowledge"),
            s(202, "no user selection"),
            s(403, "denied by user")
        ]
    );
}

#[test]
fn one_global_slot_gives_409_to_everyone_else() {
    let sim = fast_sim();
    let a = linked(&sim, "AAA-AAA");
    let b = linked(&sim, "BBB-BBB");
    sim.set_user(Script::never());
    let rid_a = new_rid();
    assert_eq!(a.call(&req("get_client_key", &rid_a)).status, 202);
    assert_eq!(
        b.call(&req("get_client_key", &new_rid())).short(),
        s(409, "waiting for concurrent request")
    );
    assert_eq!(
        a.call(&req("get_client_key", &new_rid())).short(),
        s(409, "waiting for concurrent request")
    );
    sim.user_accept().unwrap();
    let ra = a.call(&req("get_client_key", &rid_a));
    assert_eq!(ra.json.unwrap()["clientKey"], sim.client_key_for("AAA-AAA"));
    sim.set_user(Script::accept());
    let rb = done(&b.poll(&req("get_client_key", &new_rid()), 5));
    assert_eq!(rb["clientKey"], sim.client_key_for("BBB-BBB"));
    assert_ne!(sim.client_key_for("AAA-AAA"), sim.client_key_for("BBB-BBB"));
}

// -------------------------------------------------------------------------- phone states

#[test]
fn locked_states_in_processing_order() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    let q = || req("get_client_key", &new_rid());

    sim.set_device_locked(true);
    assert_eq!(c.call(&q()).short(), s(401, "device locked"));
    let no_header = http(sim.addr(), "POST", "/", &[], b"{}").unwrap();
    assert_eq!(
        (no_header.status, no_header.error().as_deref()),
        (401, Some("device locked"))
    );
    assert_eq!(
        http(sim.addr(), "GET", "/x", &[], b"")
            .unwrap()
            .error()
            .as_deref(),
        Some("device locked")
    );
    sim.set_device_locked(false);

    sim.set_vault_locked(true);
    assert_eq!(c.call(&q()).short(), s(401, "Locked"));
    let no_header = http(sim.addr(), "POST", "/", &[], b"{}").unwrap();
    assert_eq!(
        (no_header.status, no_header.error().as_deref()),
        (400, Some("X-WebClientId header missing"))
    );
    sim.set_vault_locked(false);

    sim.set_blocked("ABC-DEF", true);
    assert_eq!(c.call(&q()).short(), s(403, "webClientId is blocked"));
    sim.set_blocked("ABC-DEF", false);

    // Not in foreground: the identifier is registered first, so the slot is wedged (§10.5).
    sim.set_in_foreground(false);
    let rid = new_rid();
    assert_eq!(
        c.call(&req("get_client_key", &rid)).short(),
        s(401, "not in foreground")
    );
    sim.set_in_foreground(true);
    assert_eq!(
        c.call(&q()).short(),
        s(409, "waiting for concurrent request")
    );
    assert_eq!(
        shorts(&c.poll(&req("get_client_key", &rid), 5)),
        vec![s(202, "no user acknowledge"), s(200, "ok")]
    );

    // A requestIdentifier with broken padding: 500 after registering, wedged too.
    let bad = "AAAA=AAA";
    let r = c.call(&req("get_client_key", bad));
    assert_eq!(r.status, 500);
    assert!(
        r.error
            .unwrap()
            .starts_with("Unexpected error during handling post request: ")
    );
    assert_eq!(c.call(&q()).status, 409);
    assert_eq!(
        c.call(&req("cancel_request", bad)).short(),
        s(403, "denied by user")
    );
    assert_eq!(c.poll(&q(), 5).last().unwrap().status, 200);
}

#[test]
fn logged_out_app_stops_its_server() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    sim.set_session_denied(true);
    assert_eq!(
        c.call(&req("get_client_key", &new_rid())).short(),
        s(401, "no active session")
    );
    assert!(!sim.is_listening());
    assert!(
        std::net::TcpStream::connect(sim.addr()).is_err(),
        "connection refused"
    );
    sim.set_session_denied(false);
    assert_eq!(
        c.poll(&req("get_client_key", &new_rid()), 5)
            .last()
            .unwrap()
            .status,
        200
    );

    sim.set_listening(false).unwrap();
    assert!(std::net::TcpStream::connect(sim.addr()).is_err());
    sim.set_listening(true).unwrap();
    assert_eq!(
        c.poll(&req("get_client_key", &new_rid()), 5)
            .last()
            .unwrap()
            .status,
        200
    );
}

#[test]
fn malformed_requests_get_the_apps_status_and_message() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    let post = |headers: &[(&str, &str)], body: &str| {
        let r = http(sim.addr(), "POST", "/", headers, body.as_bytes()).unwrap();
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        let text = r.text();
        assert!(
            text.starts_with("{\n    \"error\": \""),
            "pretty-printed: {text:?}"
        );
        (r.status, r.error().unwrap())
    };
    let wcid = [("X-WebClientId", "ABC-DEF")];
    let unexpected = |(status, e): (u16, String)| {
        assert_eq!(status, 500, "{e}");
        assert!(
            e.starts_with("Unexpected error during handling post request: "),
            "{e}"
        );
    };

    assert_eq!(post(&[], "{}"), s(400, "X-WebClientId header missing"));
    assert_eq!(
        post(&[("X-WebClientId", "abc-def")], "{}"),
        s(400, "X-WebClientId malformed")
    );
    assert_eq!(
        post(&[("X-WebClientId", "ABC-DEFG")], "{}"),
        s(400, "X-WebClientId malformed")
    );
    assert_eq!(
        post(&[("X-WebClientId", "XYZ-XYZ")], "{}"),
        s(404, "webClientId is unknown")
    );
    unexpected(post(&wcid, "not json"));
    unexpected(post(&wcid, "[1]"));
    // No encOneTimeKey: decodes to nothing, RSA throws.
    unexpected(post(&wcid, r#"{"envelope":"EWM:AA:AA"}"#));

    // With a valid one-time key the envelope is what fails.
    let otk = vec![9u8; 32];
    let good_otk = c.enc_otk(&otk);
    let with_env = |env: &str| json!({"encOneTimeKey": good_otk, "envelope": env}).to_string();
    unexpected(post(&wcid, &json!({"encOneTimeKey": good_otk}).to_string()));
    unexpected(post(&wcid, &with_env("EWM:AAAAAAAAAAAAAAAA")));
    unexpected(post(&wcid, &with_env("EWM:AAAAAAAAAAAAAAAA:AB=C")));
    unexpected(post(&wcid, &with_env("EWM:AAAAAAAAAAAAAAAA:AAAA:x")));
    assert_eq!(
        post(
            &wcid,
            &with_env("EWM:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:1")
        ),
        s(400, "Cannot parse message")
    );
    assert_eq!(
        post(
            &wcid,
            &with_env("EWM:AAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==")
        ),
        s(400, "Cannot parse message")
    );
    assert_eq!(
        post(
            &wcid,
            &with_env("EWM:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==")
        ),
        s(400, "Cannot parse message")
    );

    // URL-safe encOneTimeKey: Android skips '-' and '_', the bytes are wrong, RSA throws.
    let raw = STANDARD.decode(&good_otk).unwrap();
    let url = URL_SAFE_NO_PAD.encode(&raw);
    if url.contains(['-', '_']) {
        unexpected(post(
            &wcid,
            &json!({"encOneTimeKey": url, "envelope": "EWM:AA:AA"}).to_string(),
        ));
    }

    // Envelopes that decrypt but carry the wrong thing.
    let sealed = |plain: &str| {
        use aes_gcm::aead::{Aead, KeyInit};
        use sha2::Digest;
        let tk: [u8; 32] = sha2::Sha256::new()
            .chain_update(&c.bk)
            .chain_update(&otk)
            .finalize()
            .into();
        let ct = aes_gcm::Aes256Gcm::new_from_slice(&tk)
            .unwrap()
            .encrypt(aes_gcm::Nonce::from_slice(&IV), plain.as_bytes())
            .unwrap();
        with_env(&format!(
            "EWM:{}:{}",
            STANDARD.encode(IV),
            STANDARD.encode(ct)
        ))
    };
    unexpected(post(&wcid, &sealed("not json")));
    unexpected(post(&wcid, &sealed(r#"{"command":"get_client_key"}"#)));
    assert_eq!(
        post(&wcid, &sealed(r#"{"action":"fly"}"#)),
        s(400, "unknown action: fly")
    );
    assert_eq!(
        post(&wcid, &sealed(r#"{"action":5}"#)),
        s(400, "unknown action: 5")
    );
    let rc = |extra: &str| sealed(&format!(r#"{{"action":"request_credential"{extra}}}"#));
    assert_eq!(post(&wcid, &rc("")), s(400, "unknown command"));
    assert_eq!(
        post(&wcid, &rc(r#","command":"fly","requestIdentifier":"AAAA""#)),
        s(400, "unknown command")
    );
    unexpected(post(&wcid, &rc(r#","command":"get_client_key""#)));
    // The link screen is closed by now.
    assert_eq!(
        post(&wcid, &sealed(r#"{"action":"link_app"}"#)),
        s(500, "Missing action listener")
    );
    // Nothing of this touched the request slot.
    assert_eq!(sim.request_state(), (RequestState::None, None));
}

#[test]
fn routes_like_the_apps_ktor_server() {
    let sim = fast_sim();
    let go = |m: &str, p: &str| http(sim.addr(), m, p, &[], b"").unwrap();
    let opt = go("OPTIONS", "/");
    assert_eq!(opt.status, 200);
    assert_eq!(opt.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        opt.header("Access-Control-Allow-Headers"),
        Some("X-WebClientId,Content-Type")
    );
    assert_eq!(opt.header("Access-Control-Allow-Methods"), None);
    assert!(opt.body.is_empty());
    let info = go("GET", "/");
    assert_eq!(info.status, 200);
    assert!(
        info.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(info.text().contains("ANOTHERpass browser extension"));
    assert_eq!(go("PUT", "/").status, 405);
    assert_eq!(go("DELETE", "/").status, 405);
    assert_eq!(go("POST", "/x").status, 404);
    assert_eq!(go("OPTIONS", "/x").status, 404);
    assert_eq!(go("GET", "/a/b").status, 404);
    let none = go("GET", "/ABC-DEF_x?y=1");
    assert_eq!(
        (none.status, none.error().as_deref()),
        (404, Some("No file to download"))
    );
    let methods: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(methods[0], "OPTIONS /");
    assert_eq!(methods.len(), 8);
}

// ------------------------------------------------------------------------------ faults

#[test]
fn fault_close_without_reply() {
    use std::io::{Read, Write};
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    sim.fault_next(Fault::CloseWithoutReply);
    let mut s = std::net::TcpStream::connect(sim.addr()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let body = b"{}";
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nX-WebClientId: ABC-DEF\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut got = Vec::new();
    let n = s.read_to_end(&mut got);
    assert!(
        got.is_empty(),
        "no byte of a reply: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(n.is_ok() || n.unwrap_err().kind() == std::io::ErrorKind::ConnectionReset);
    assert_eq!(
        sim.api_requests().last().unwrap().fault.as_deref(),
        Some("CloseWithoutReply")
    );
    // One-shot: the next request is answered.
    assert_eq!(
        c.poll(&req("get_client_key", &new_rid()), 5)
            .last()
            .unwrap()
            .status,
        200
    );
}

#[test]
fn fault_garbage_and_oversized_bodies() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    sim.fault_next(Fault::Garbage { status: 200 });
    let r = c.call(&req("get_client_key", &new_rid()));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.http.body).is_err());

    for (chunked, bytes) in [(false, 50 * 1024 * 1024), (true, 8 * 1024 * 1024)] {
        sim.fault_next(Fault::Oversized { bytes, chunked });
        let r = c.call(&req("get_client_key", &new_rid()));
        assert_eq!(r.status, 200);
        assert_eq!(r.http.body.len() as u64, bytes);
        assert!(r.http.body.starts_with(b"{\"encOneTimeKey\":\"AAAA"));
        let framing = if chunked {
            r.http.header("Transfer-Encoding")
        } else {
            r.http.header("Content-Length")
        };
        assert!(framing.is_some(), "{chunked} {:?}", r.http.headers);
    }
}

#[test]
fn fault_delay_holds_the_reply() {
    use std::io::{Read, Write};
    let sim = fast_sim();
    sim.fault_next(Fault::Delay(std::time::Duration::from_secs(600)));
    let mut s = std::net::TcpStream::connect(sim.addr()).unwrap();
    write!(s, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    let e = s.read(&mut buf).unwrap_err();
    assert!(matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    // The request was processed; only its reply waits.
    assert_eq!(
        sim.api_requests().last().unwrap().error.as_deref(),
        Some("X-WebClientId header missing")
    );
    // Other requests are not held up.
    assert_eq!(http(sim.addr(), "GET", "/", &[], b"").unwrap().status, 200);
    drop(sim); // wakes the sleeper
}

#[test]
fn crypto_faults_hit_the_next_200_only() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    for (fault, expect) in [
        (Fault::WrongKey, "tag mismatch"),
        (Fault::BadTag, "tag mismatch"),
        (Fault::CorruptEnvelope, "not a server envelope"),
        (Fault::WrongOneTimeKey, "tag mismatch"),
    ] {
        sim.fault_next(fault.clone());
        let rs = c.poll(&req("get_client_key", &new_rid()), 5);
        assert_eq!(
            shorts(&rs),
            vec![s(202, "no user acknowledge"), s(200, "ok")],
            "{fault:?}"
        );
        assert_eq!(
            rs[0].http.error().as_deref(),
            Some("no user acknowledge"),
            "202 untouched"
        );
        let err = rs[1].decrypt_error.clone().unwrap_or_default();
        assert!(err.starts_with(expect), "{fault:?}: {err}");
        assert_eq!(
            sim.api_requests().last().unwrap().fault,
            Some(format!("{fault:?}"))
        );
    }
    sim.fault_always(Some(Fault::BadTag));
    for _ in 0..2 {
        assert!(
            c.poll(&req("get_client_key", &new_rid()), 5)[1]
                .decrypt_error
                .is_some()
        );
    }
    sim.fault_always(None);
    assert!(
        c.poll(&req("get_client_key", &new_rid()), 5)[1]
            .json
            .is_some()
    );
}

#[test]
fn transport_fault_can_wait_for_the_success_reply() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    sim.fault_next_success(Fault::Garbage { status: 200 });
    let rs = c.poll(&req("get_client_key", &new_rid()), 5);
    assert_eq!(rs[0].short(), s(202, "no user acknowledge"));
    assert!(serde_json::from_slice::<Value>(&rs[1].http.body).is_err());
    assert_eq!(
        sim.request_state(),
        (RequestState::Fulfilled, None),
        "the phone is done"
    );

    // The same fault on the 202 leaves the slot taken: the next identifier gets 409.
    sim.set_user(Script::never());
    sim.fault_next(Fault::Garbage { status: 200 });
    assert!(
        c.call(&req("get_client_key", &new_rid()))
            .http
            .error()
            .is_none()
    );
    assert_eq!(
        c.call(&req("get_client_key", &new_rid())).short(),
        s(409, "waiting for concurrent request")
    );
}

#[test]
fn forged_answer_replaces_any_reply_and_leaves_the_slot_taken() {
    let sim = fast_sim();
    let c = linked(&sim, "ABC-DEF");
    sim.set_user(Script::never());
    sim.fault_next(Fault::Forged);
    let rid = new_rid();
    let r = c.call(&req("get_client_key", &rid));
    assert_eq!(r.status, 200);
    let body: Value = serde_json::from_slice(&r.http.body).unwrap();
    assert!(body["envelope"].as_str().unwrap().starts_with("EWM:"));
    assert!(body["envelope"].as_str().unwrap().ends_with(":0"));
    assert!(r.decrypt_error.is_some(), "random bytes do not decrypt");
    let logged = sim.api_requests().pop().unwrap();
    assert_eq!(
        (logged.status, logged.fault.as_deref()),
        (202, Some("Forged")),
        "the phone's real reply was a 202"
    );
    assert_eq!(
        sim.request_state(),
        (RequestState::AwaitingAcceptance, Some(rid))
    );
    assert_eq!(
        c.call(&req("get_client_key", &new_rid())).short(),
        s(409, "waiting for concurrent request")
    );
}
