//! The ANOTHERpass simulator checked two ways: its server-side computations against every §7.3
//! vector a server computes, and its HTTP behaviour against a minimal client written here
//! straight from the spec (no code shared with the simulator or with passbridge's client).
#[path = "support/anotherpass_sim/mod.rs"]
mod anotherpass_sim;

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
    assert_eq!(proto::open_envelope(&unhex(TKRS), &proto::parse_envelope(req).unwrap()), None);
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
    assert_eq!(proto::format_uuid(&uuid), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    // base64 "Dx4tPEtaaXiHlqW0w9Lh8A==" → lowercase alphanumerics → first 8
    assert_eq!(proto::readable_uid(&uuid), "dx4tpeta");
    assert_eq!(proto::parse_uuid("0f1e2d3c4b5a69788796a5b4c3d2e1f0"), None);
    assert_eq!(proto::ensure_http("example.com"), "https://example.com");
    assert_eq!(proto::ensure_http("http://x.org"), "http://x.org");
    assert_eq!(proto::ensure_http(""), "");
    assert_eq!(proto::extract_domain("https://www.login.github.com/x?y", true), "github.com");
    assert_eq!(proto::capitalize(&proto::extract_domain("https://github.com/", false)), "Github");
}

#[test]
fn android_base64_semantics() {
    // Foreign bytes are skipped, URL-safe ones included (errata §10.1) ...
    assert_eq!(android::b64_decode("AQ-ID\n", false).unwrap(), vec![1, 2, 3]);
    assert_eq!(android::b64_decode("AQID", false).unwrap(), vec![1, 2, 3]);
    assert_eq!(android::b64_decode("AQI", false).unwrap(), vec![1, 2]);
    assert_eq!(android::b64_decode("AQI=", false).unwrap(), vec![1, 2]);
    assert_eq!(android::b64_decode("-_8", true).unwrap(), vec![0xfb, 0xff]);
    // ... but a dangling character or broken padding throws.
    assert!(android::b64_decode("AQIDB", false).is_err());
    assert!(android::b64_decode("AQ=I", false).is_err());
    assert!(android::b64_decode("AQ=", false).is_err());
    assert!(android::b64_decode("A===", false).is_err());
    assert_eq!(android::b64_encode_default(&[0u8; 60]).matches('\n').count(), 2);
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
    assert!(proto::parse_envelope(&format!("{}:{}:{}:x", fields[0], fields[1], fields[2])).is_err());
    assert!(proto::parse_envelope(&format!("{}:{}:{}:7", fields[0], fields[1], fields[2])).is_err());
    // Caught while decrypting (400): another valid algorithm, another IV length, empty input.
    let algo1 = proto::parse_envelope(&format!("{}:{}:{}:1", fields[0], fields[1], fields[2])).unwrap();
    assert_eq!(proto::open_envelope(&key, &algo1), None);
    let iv16 = proto::parse_envelope(&format!("EWM:{}:{}", "AAAAAAAAAAAAAAAAAAAAAA", fields[2])).unwrap();
    assert_eq!(proto::open_envelope(&key, &iv16), None);
    assert_eq!(proto::open_envelope(&key, &proto::parse_envelope("EWM::").unwrap()), None);
    // Three fields, padded, no type check: accepted.
    let three = format!("XYZ:{}:{}", fields[1], fields[2]);
    assert_eq!(proto::open_envelope(&key, &proto::parse_envelope(&three).unwrap()).unwrap(), b"{}");
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
    pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Http> {
        let mut s = TcpStream::connect(addr)?;
        // Only there so a hang becomes a failure.
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
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
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no header end"))?;
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
        Ok(Http { status, headers, body })
    }

    fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let eol = b.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).ok()?.trim(), 16).ok()?;
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
            16 => Aes128Gcm::new_from_slice(key).unwrap().encrypt(Nonce::from_slice(&iv), plain),
            _ => Aes256Gcm::new_from_slice(key).unwrap().encrypt(Nonce::from_slice(&iv), plain),
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
            (self.status, self.error.clone().unwrap_or_else(|| "ok".into()))
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
            let n = URL_SAFE_NO_PAD.encode(pair.public_key().modulus().big_endian_without_leading_zero());
            let e = URL_SAFE_NO_PAD.encode(pair.public_key().exponent().big_endian_without_leading_zero());
            let key = OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(pair.as_der().unwrap().as_ref()).unwrap()).unwrap();
            Self { addr, wcid: wcid.into(), key, n, e, sk: random(16), bk: Vec::new(), app: None, vault_id: None }
        }

        /// The QR payload: `wcid:b64(SK):hex(sha256(n))`.
        pub fn qr(&self) -> String {
            let fp: String = sha(&[self.n.as_bytes()]).iter().map(|b| format!("{b:02x}")).collect();
            format!("{}:{}:{}", self.wcid, STANDARD.encode(&self.sk), fp)
        }

        pub fn jwk(&self) -> Value {
            json!({"kty": "RSA", "n": self.n, "e": self.e, "alg": "RSA-OAEP-256", "key_ops": ["encrypt"], "ext": true})
        }

        pub fn post_raw(&self, body: &str) -> Http {
            http(self.addr, "POST", "/", &[("X-WebClientId", &self.wcid), ("Content-Type", "application/json")], body.as_bytes()).unwrap()
        }

        fn decrypt_otk(&self, b64url: &str) -> Result<Vec<u8>, String> {
            let ct = URL_SAFE_NO_PAD.decode(b64url).map_err(|e| e.to_string())?;
            let mut out = vec![0; self.key.min_output_size()];
            let otk = self.key.decrypt(&OAEP_SHA256_MGF1SHA256, &ct, &mut out, None).map_err(|_| "RSA")?;
            Ok(otk.to_vec())
        }

        fn read_reply(&self, http: Http, key_for: impl Fn(&[u8]) -> [u8; 32]) -> Reply {
            let mut r = Reply { status: http.status, error: http.error(), json: None, decrypt_error: None, http };
            if r.status == 200 {
                let res = (|| -> Result<Value, String> {
                    let outer: Value = serde_json::from_slice(&r.http.body).map_err(|e| e.to_string())?;
                    let otk = self.decrypt_otk(outer["encOneTimeKey"].as_str().ok_or("no encOneTimeKey")?)?;
                    let plain = open(&key_for(&otk), outer["envelope"].as_str().ok_or("no envelope")?)?;
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
            self.bk = URL_SAFE_NO_PAD.decode(v["sharedBaseKey"].as_str().unwrap()).unwrap();
            self.app = Some((v["serverPubKey"]["n"].as_str().unwrap().into(), v["serverPubKey"]["e"].as_str().unwrap().into()));
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
            STANDARD.encode(key.encrypt(&OAEP_SHA1_MGF1SHA1, otk, &mut out, None).unwrap())
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
    assert_eq!(link.client_jwk.as_deref().map(|j| serde_json::from_str::<Value>(j).unwrap()), Some(c.jwk()));

    let rid = new_rid();
    let replies = c.poll(&req("get_client_key", &rid), 10);
    assert_eq!(shorts(&replies), vec![s(202, "no user acknowledge"), s(200, "ok")]);
    let key = replies[1].json.as_ref().unwrap()["clientKey"].as_str().unwrap().to_string();
    assert_eq!(key, sim.client_key_for("ABC-DEF"));
    assert!(key.ends_with("=\n"), "padded base64 plus a newline: {key:?}");
    assert_eq!(sim.last_request_fingerprint(), Some(c.request_fingerprint(&rid)));
    assert_eq!(sim.request_state(), (RequestState::Fulfilled, None));

    let polls: Vec<_> = sim.api_requests().into_iter().filter(|r| r.command().is_some()).collect();
    assert_eq!(polls.len(), 2);
    assert!(polls.iter().all(|p| p.request_identifier() == Some(rid.as_str())));
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
    assert_eq!(otk.len(), 342, "2048-bit client key: 256 bytes, base64url without padding");
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
        let r = c.send_link(&json!({"action": "link_app", "clientPubKey": c.jwk(), "vaultId": vault_id}));
        assert_eq!(r.short(), s(400, "relink vault id mismatch"));
    }
    assert!(!sim.link("ABC-DEF").unwrap().linked);

    // The right vault id is fine.
    let r = c.send_link(&json!({"action": "link_app", "clientPubKey": c.jwk(), "vaultId": sim.vault_id()}));
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
    let key1 = first.poll(&req("get_client_key", &new_rid()), 5).pop().unwrap().json.unwrap();

    let mut second = Client::new(sim.addr(), "QWE-RTY", aws_lc_rs::rsa::KeySize::Rsa2048);
    second.vault_id = first.vault_id.clone();
    assert!(sim.scan_qr(&second.qr()).is_err());
    assert!(sim.delete_link("QWE-RTY"));
    second.link(&sim);
    assert_ne!(second.bk, first.bk);
    let key2 = second.poll(&req("get_client_key", &new_rid()), 5).pop().unwrap().json.unwrap();
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
    assert_eq!(c.call(&req("get_client_key", &new_rid())).short(), s(404, "webClientId is unknown"));
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
    assert_eq!(c.call(&req("get_client_key", &new_rid())).short(), s(400, "Cannot parse message"));
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
    assert_eq!(sim.api_requests().last().unwrap().one_time_key.as_ref().unwrap().len(), 16);
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
    let enc = sim.api_requests().last().unwrap().enc_one_time_key().unwrap().to_string();
    assert_eq!(enc.len(), 684, "512-byte OAEP ciphertext, padded base64");
}
