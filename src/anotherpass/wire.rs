//! What goes inside and around the envelopes (spec §1.4, §2.4, §3, §4): request payloads,
//! sealing a request with a fresh one-time key, opening the app's answer, and parsing results.
//! Pure apart from drawing random keys.

use super::b64;
use super::envelope::{self, EnvelopeError};
use super::ids;
use super::keys::{self, Key32};
use super::rsa::{Oaep, RsaKeyPair, RsaPublicKey};
use super::seam::{ClientKey, Credential};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::{Zeroize, Zeroizing};

/// Bodies of single-credential answers stay far below this.
pub const SMALL_REPLY_CAP: u64 = 1024 * 1024;
/// Lists (`fetch_all_credentials` of a large vault) may be big, but not unbounded.
pub const LIST_REPLY_CAP: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The outer body is not the `{encOneTimeKey, envelope}` JSON.
    #[error("{0}")]
    Malformed(String),
    /// Key or envelope does not decrypt.
    #[error("{0}")]
    Decrypt(String),
}

/// A `request_credential` command with its fields. Absent fields are omitted, never `null`
/// (the app's `optString` would turn `null` into the string "null").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    FetchCredentialForUrl {
        website: String,
        user: Option<String>,
        uid: Option<String>,
    },
    FetchCredentialForUid {
        uid: String,
    },
    FetchCredentialsForUids {
        uids: Vec<String>,
    },
    FetchSingleCredential,
    FetchMultipleCredentials,
    FetchAllCredentials,
    CreateCredentialForUrl {
        website: String,
        user: Option<String>,
    },
    GetClientKey,
    DownloadVaultBackup,
    CancelRequest,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::FetchCredentialForUrl { .. } => "fetch_credential_for_url",
            Command::FetchCredentialForUid { .. } => "fetch_credential_for_uid",
            Command::FetchCredentialsForUids { .. } => "fetch_credentials_for_uids",
            Command::FetchSingleCredential => "fetch_single_credential",
            Command::FetchMultipleCredentials => "fetch_multiple_credentials",
            Command::FetchAllCredentials => "fetch_all_credentials",
            Command::CreateCredentialForUrl { .. } => "create_credential_for_url",
            Command::GetClientKey => "get_client_key",
            Command::DownloadVaultBackup => "download_vault_backup",
            Command::CancelRequest => "cancel_request",
        }
    }

    /// The largest 200 body accepted for this command.
    pub fn reply_cap(&self) -> u64 {
        match self {
            Command::FetchCredentialsForUids { .. }
            | Command::FetchMultipleCredentials
            | Command::FetchAllCredentials => LIST_REPLY_CAP,
            _ => SMALL_REPLY_CAP,
        }
    }

    /// The JSON object inside the envelope.
    pub fn payload(&self, request_identifier: &str) -> Value {
        let mut m = Map::new();
        m.insert("action".into(), json!("request_credential"));
        m.insert("command".into(), json!(self.name()));
        m.insert("requestIdentifier".into(), json!(request_identifier));
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        };
        match self {
            Command::FetchCredentialForUrl { website, user, uid } => {
                opt("website", &Some(website.clone()));
                opt("user", user);
                opt("uid", uid);
            }
            Command::FetchCredentialForUid { uid } => opt("uid", &Some(uid.clone())),
            Command::CreateCredentialForUrl { website, user } => {
                opt("website", &Some(website.clone()));
                opt("user", user);
            }
            Command::FetchCredentialsForUids { uids } => {
                m.insert("uids".into(), json!(uids));
            }
            _ => {}
        }
        Value::Object(m)
    }
}

/// A sealed request plus the transport key needed to open its answer.
pub struct SealedRequest {
    pub body: String,
    pub tk_rq: Key32,
}

/// Seals a payload for the linked app: a new OTKrq (as long as BK), TKrq = SHA-256(BK ‖ OTKrq),
/// OTKrq under the app key with OAEP-SHA-1, padded standard base64 everywhere.
pub fn seal_request(
    base_key: &[u8],
    app_key: &RsaPublicKey,
    payload: &[u8],
) -> Result<SealedRequest, WireError> {
    let otk = keys::random_bytes(base_key.len());
    let tk_rq = keys::request_transport_key(base_key, &otk);
    let enc_otk = app_key
        .encrypt(Oaep::Sha1, &otk)
        .map_err(|e| WireError::Decrypt(e.to_string()))?;
    let envelope =
        envelope::seal(&*tk_rq, payload).map_err(|e| WireError::Decrypt(e.to_string()))?;
    let body =
        json!({"encOneTimeKey": b64::std_padded(&enc_otk), "envelope": envelope}).to_string();
    Ok(SealedRequest { body, tk_rq })
}

#[derive(Deserialize)]
struct Outer {
    #[serde(rename = "encOneTimeKey")]
    enc_one_time_key: Option<String>,
    envelope: Option<String>,
}

fn outer(body: &[u8]) -> Result<(String, String), WireError> {
    let o: Outer = serde_json::from_slice(body)
        .map_err(|_| WireError::Malformed("the answer is not the expected JSON object".into()))?;
    match (o.enc_one_time_key, o.envelope) {
        (Some(k), Some(e)) => Ok((k, e)),
        _ => Err(WireError::Malformed(
            "the answer lacks \"encOneTimeKey\" or \"envelope\"".into(),
        )),
    }
}

fn decrypt_otk(client: &RsaKeyPair, enc: &str) -> Result<Zeroizing<Vec<u8>>, WireError> {
    let ct = b64::decode(enc)
        .map_err(|_| WireError::Decrypt("its one-time key is not base64".into()))?;
    let otk = client.decrypt(Oaep::Sha256, &ct).map_err(|_| {
        WireError::Decrypt("its one-time key is not for this computer's key".into())
    })?;
    if !(16..=64).contains(&otk.len()) {
        return Err(WireError::Decrypt(
            "its one-time key has a wrong length".into(),
        ));
    }
    Ok(otk)
}

fn open_envelope(key: &[u8], env: &str) -> Result<Zeroizing<Vec<u8>>, WireError> {
    envelope::open(key, env).map_err(|e| match e {
        EnvelopeError::Decrypt => {
            WireError::Decrypt("the envelope does not match the keys (tag mismatch)".into())
        }
        other => WireError::Decrypt(format!("corrupt envelope: {other}")),
    })
}

/// Opens a 200 answer to a normal request: OTKrs with OAEP-SHA-256 under the client key,
/// TKrs = SHA-256(BK ‖ OTKrs ‖ TKrq).
pub fn open_response(
    base_key: &[u8],
    client: &RsaKeyPair,
    tk_rq: &[u8],
    body: &[u8],
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    let (enc, env) = outer(body)?;
    let otk = decrypt_otk(client, &enc)?;
    let tk_rs = keys::response_transport_key(base_key, &otk, tk_rq);
    open_envelope(&*tk_rs, &env)
}

/// The linking request: `{"envelope": AES-128-GCM(SK, payload)}`, no `encOneTimeKey`.
pub fn seal_link_request(session_key: &[u8], payload: &[u8]) -> Result<String, WireError> {
    let envelope =
        envelope::seal(session_key, payload).map_err(|e| WireError::Decrypt(e.to_string()))?;
    Ok(json!({"envelope": envelope}).to_string())
}

/// The `link_app` payload. `vault_id` only when relinking.
pub fn link_payload(client_key: &RsaPublicKey, vault_id: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("action".into(), json!("link_app"));
    m.insert("clientPubKey".into(), client_key.client_jwk());
    if let Some(v) = vault_id {
        m.insert("vaultId".into(), json!(v));
    }
    Value::Object(m)
}

/// Opens the linking answer: key SHA-256(SK ‖ OTKrs).
pub fn open_link_response(
    session_key: &[u8],
    client: &RsaKeyPair,
    body: &[u8],
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    let (enc, env) = outer(body)?;
    let otk = decrypt_otk(client, &enc)?;
    let key = keys::link_response_key(session_key, &otk);
    open_envelope(&*key, &env)
}

/// What the app answers to `link_app`.
pub struct LinkAnswer {
    pub app_key: RsaPublicKey,
    pub base_key: Zeroizing<Vec<u8>>,
    pub vault_id: String,
}

impl LinkAnswer {
    /// The short fingerprint the user compares with the app's.
    pub fn fingerprint(&self) -> String {
        ids::link_fingerprint(self.app_key.n())
    }
}

#[derive(Deserialize)]
struct RawLinkAnswer {
    #[serde(rename = "serverPubKey")]
    server_pub_key: Option<RawJwk>,
    #[serde(rename = "sharedBaseKey")]
    shared_base_key: Option<String>,
    #[serde(rename = "linkedVaultId")]
    linked_vault_id: Option<String>,
}

impl Drop for RawLinkAnswer {
    fn drop(&mut self) {
        self.shared_base_key.zeroize();
    }
}

#[derive(Deserialize)]
struct RawJwk {
    n: Option<String>,
    e: Option<String>,
}

/// A vault id as the app makes it: 8 of `[0-9a-z]`. Accepted a little wider (1–64 alphanumerics).
pub fn is_vault_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn parse_link_answer(plaintext: &[u8]) -> Result<LinkAnswer, WireError> {
    let bad = |m: &str| WireError::Malformed(m.to_owned());
    let raw: RawLinkAnswer = serde_json::from_slice(plaintext)
        .map_err(|_| bad("the link answer is not the expected JSON object"))?;
    let jwk = raw
        .server_pub_key
        .as_ref()
        .ok_or_else(|| bad("the link answer has no app key"))?;
    let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else {
        return Err(bad("the app key lacks n or e"));
    };
    let app_key =
        RsaPublicKey::from_jwk(n, e).map_err(|_| bad("the app key is not a valid RSA key"))?;
    let base_key = raw
        .shared_base_key
        .as_deref()
        .and_then(|s| b64::decode(s).ok())
        .filter(|k| k.len() == 16 || k.len() == 32)
        .ok_or_else(|| bad("the shared base key is missing or not 16/32 bytes"))?;
    let vault_id = raw
        .linked_vault_id
        .clone()
        .filter(|v| is_vault_id(v))
        .ok_or_else(|| bad("the vault id is missing or malformed"))?;
    Ok(LinkAnswer {
        app_key,
        base_key,
        vault_id,
    })
}

/// A 200 answer to a `request_credential` command.
#[derive(Default)]
pub struct CommandAnswer {
    pub credential: Option<Credential>,
    pub credentials: Option<Vec<Credential>>,
    pub client_key: Option<ClientKey>,
    pub download_key: Option<String>,
    pub filename: Option<String>,
}

#[derive(Deserialize)]
struct RawCommandAnswer {
    credential: Option<Credential>,
    credentials: Option<Vec<Credential>>,
    #[serde(rename = "clientKey")]
    client_key: Option<String>,
    #[serde(rename = "downloadKey")]
    download_key: Option<String>,
    filename: Option<String>,
}

impl Drop for RawCommandAnswer {
    fn drop(&mut self) {
        self.client_key.zeroize();
    }
}

/// Parses the clientKey as sent (padded standard base64 with a trailing newline): 32 bytes.
pub fn parse_client_key(text: &str) -> Option<ClientKey> {
    ClientKey::from_bytes(&b64::decode(text.trim()).ok()?)
}

/// Parses and checks an answer: every 200 result carries a valid clientKey.
pub fn parse_command_answer(plaintext: &[u8]) -> Result<CommandAnswer, WireError> {
    let bad = |m: &str| WireError::Malformed(m.to_owned());
    let mut raw: RawCommandAnswer = serde_json::from_slice(plaintext)
        .map_err(|_| bad("the result is not the expected JSON object"))?;
    let client_key = raw
        .client_key
        .as_deref()
        .map(|k| parse_client_key(k).ok_or_else(|| bad("the clientKey is not 32 bytes of base64")))
        .transpose()?;
    Ok(CommandAnswer {
        credential: raw.credential.take(),
        credentials: raw.credentials.take(),
        client_key,
        download_key: raw.download_key.take(),
        filename: raw.filename.take(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anotherpass::rsa::tests::small_key;

    #[test]
    fn payloads_omit_absent_fields_and_never_send_null() {
        let rid = "EBESExQVFhcYGRobHB0eHw==";
        let p = Command::FetchCredentialForUrl {
            website: "https://github.com/login".into(),
            user: None,
            uid: None,
        }
        .payload(rid);
        assert_eq!(
            p,
            json!({"action":"request_credential","command":"fetch_credential_for_url",
                   "requestIdentifier":rid,"website":"https://github.com/login"})
        );
        let p = Command::CreateCredentialForUrl {
            website: "x.org".into(),
            user: Some("me".into()),
        }
        .payload(rid);
        assert_eq!(p["user"], "me");
        let p = Command::FetchCredentialsForUids {
            uids: vec!["a".into()],
        }
        .payload(rid);
        assert_eq!(p["uids"], json!(["a"]));
        let p = Command::FetchCredentialForUid { uid: "u1".into() }.payload(rid);
        assert_eq!(
            p,
            json!({"action":"request_credential","command":"fetch_credential_for_uid",
                   "requestIdentifier":rid,"uid":"u1"})
        );
        for c in [
            Command::GetClientKey,
            Command::CancelRequest,
            Command::FetchAllCredentials,
            Command::DownloadVaultBackup,
        ] {
            let p = c.payload(rid);
            assert_eq!(p.as_object().unwrap().len(), 3, "{p}");
            assert!(!p.to_string().contains("null"));
        }
        let vector = r#"{"action":"request_credential","command":"get_client_key","requestIdentifier":"EBESExQVFhcYGRobHB0eHw=="}"#;
        assert_eq!(Command::GetClientKey.payload(rid).to_string(), vector);
    }

    /// Only the list commands may have answers above 1 MiB, and those stop at 16 MiB.
    #[test]
    fn reply_caps_by_command() {
        assert_eq!((SMALL_REPLY_CAP, LIST_REPLY_CAP), (1 << 20, 16 << 20));
        let lists = [
            Command::FetchCredentialsForUids { uids: vec![] },
            Command::FetchMultipleCredentials,
            Command::FetchAllCredentials,
        ];
        for c in lists {
            assert_eq!(c.reply_cap(), LIST_REPLY_CAP, "{}", c.name());
        }
        let singles = [
            Command::FetchCredentialForUid { uid: "u".into() },
            Command::FetchSingleCredential,
            Command::GetClientKey,
            Command::DownloadVaultBackup,
            Command::CancelRequest,
        ];
        for c in singles {
            assert_eq!(c.reply_cap(), SMALL_REPLY_CAP, "{}", c.name());
        }
    }

    /// Plays the app for one request, with the real paddings and formats.
    fn app_answer(
        bk: &[u8],
        app: &RsaKeyPair,
        client: &RsaPublicKey,
        req_body: &str,
        answer: &[u8],
    ) -> (Value, Vec<u8>) {
        let v: Value = serde_json::from_str(req_body).unwrap();
        let enc = b64::decode(v["encOneTimeKey"].as_str().unwrap()).unwrap();
        let otk_rq = app.decrypt(Oaep::Sha1, &enc).unwrap();
        assert_eq!(otk_rq.len(), bk.len());
        let tk_rq = keys::request_transport_key(bk, &otk_rq);
        let payload = envelope::open(&*tk_rq, v["envelope"].as_str().unwrap()).unwrap();
        let otk_rs = keys::random_bytes(32);
        let tk_rs = keys::response_transport_key(bk, &otk_rs, &*tk_rq);
        let env = envelope::seal_app_style(&*tk_rs, &[9; 12], answer).unwrap();
        let body = json!({
            "encOneTimeKey": b64::url_nopad(&client.encrypt(Oaep::Sha256, &otk_rs).unwrap()),
            "envelope": env,
        });
        (
            serde_json::from_slice(&payload).unwrap(),
            body.to_string().into_bytes(),
        )
    }

    #[test]
    fn request_and_response_round_trip_like_the_app() {
        let client = small_key();
        let app = RsaKeyPair::generate(2048).unwrap();
        for bk in [vec![3u8; 32], vec![4u8; 16]] {
            let payload = Command::GetClientKey.payload("EBESExQVFhcYGRobHB0eHw==");
            let sealed = seal_request(&bk, app.public(), payload.to_string().as_bytes()).unwrap();
            let v: Value = serde_json::from_str(&sealed.body).unwrap();
            // Client side: padded standard base64, three envelope fields.
            assert!(v["encOneTimeKey"].as_str().unwrap().ends_with('='));
            assert_eq!(v["envelope"].as_str().unwrap().split(':').count(), 3);
            let answer = br#"{"clientKey":"7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n"}"#;
            let (seen, body) = app_answer(&bk, &app, client.public(), &sealed.body, answer);
            assert_eq!(seen, payload);
            let pt = open_response(&bk, client, &*sealed.tk_rq, &body).unwrap();
            let a = parse_command_answer(&pt).unwrap();
            assert!(a.client_key.is_some());
            // The same answer does not open under another request's key.
            let other = seal_request(&bk, app.public(), b"{}").unwrap();
            assert!(matches!(
                open_response(&bk, client, &*other.tk_rq, &body),
                Err(WireError::Decrypt(_))
            ));
        }
    }

    #[test]
    fn each_seal_uses_a_new_one_time_key() {
        let app = small_key();
        let a = seal_request(&[1; 32], app.public(), b"{}").unwrap();
        let b = seal_request(&[1; 32], app.public(), b"{}").unwrap();
        assert_ne!(*a.tk_rq, *b.tk_rq);
        assert_ne!(a.body, b.body);
    }

    #[test]
    fn broken_answers_are_classified() {
        let client = small_key();
        let tk = [0u8; 32];
        let malformed: &[&[u8]] = &[b"", b"garbage", b"[]", br#"{"envelope":"EWM:a:b"}"#];
        for body in malformed {
            assert!(
                matches!(
                    open_response(&[0; 32], client, &tk, body),
                    Err(WireError::Malformed(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let bad_key = json!({"encOneTimeKey": "AAAA", "envelope": "EWM:AQIDBAUGBwgJCgsM:AAAAAAAAAAAAAAAAAAAAAA"});
        assert!(matches!(
            open_response(&[0; 32], client, &tk, bad_key.to_string().as_bytes()),
            Err(WireError::Decrypt(_))
        ));
    }

    #[test]
    fn link_round_trip_and_answer_checks() {
        let client = small_key();
        let sk = [0x30u8; 16];
        let payload = link_payload(client.public(), Some("aacofrwj"));
        assert_eq!(payload["clientPubKey"]["n"], client.public().n());
        assert_eq!(payload["vaultId"], "aacofrwj");
        assert!(link_payload(client.public(), None).get("vaultId").is_none());
        let body = seal_link_request(&sk, payload.to_string().as_bytes()).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v.get("encOneTimeKey").is_none());
        assert_eq!(
            &*envelope::open(&sk, v["envelope"].as_str().unwrap()).unwrap(),
            payload.to_string().as_bytes()
        );
        // The app's answer under SHA-256(SK ‖ OTKrs).
        let app = RsaKeyPair::generate(2048).unwrap();
        let otk = [7u8; 32];
        let key = keys::link_response_key(&sk, &otk);
        let answer = json!({"serverPubKey": {"n": app.public().n(), "e": "AQAB"},
                            "sharedBaseKey": b64::url_nopad(&[5u8; 32]), "linkedVaultId": "aacofrwj"});
        let body = json!({
            "encOneTimeKey": b64::url_nopad(&client.public().encrypt(Oaep::Sha256, &otk).unwrap()),
            "envelope": envelope::seal_app_style(&*key, &[1; 12], answer.to_string().as_bytes()).unwrap(),
        });
        let pt = open_link_response(&sk, client, body.to_string().as_bytes()).unwrap();
        let a = parse_link_answer(&pt).unwrap();
        assert_eq!(*a.base_key, [5u8; 32]);
        assert_eq!(a.vault_id, "aacofrwj");
        assert_eq!(a.fingerprint(), ids::link_fingerprint(app.public().n()));
        for broken in [
            json!({}),
            json!({"serverPubKey": {"n": "AQAB", "e": "AQAB"}, "sharedBaseKey": "AAAA", "linkedVaultId": "x"}),
            json!({"serverPubKey": {"n": app.public().n(), "e": "AQAB"}, "sharedBaseKey": "AAAA", "linkedVaultId": "x"}),
            json!({"serverPubKey": {"n": app.public().n(), "e": "AQAB"}, "sharedBaseKey": b64::url_nopad(&[5u8; 32]), "linkedVaultId": "../x"}),
        ] {
            assert!(
                parse_link_answer(broken.to_string().as_bytes()).is_err(),
                "{broken}"
            );
        }
    }

    #[test]
    fn command_answers() {
        let a = parse_command_answer(
            br#"{"credential":{"uid":"u","readableUid":"r","name":"n","password":"p","user":"x","website":"https:\/\/w","otp":""},"clientKey":"7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n"}"#,
        )
        .unwrap();
        let c = a.credential.as_ref().unwrap();
        assert_eq!(
            (c.password.as_str(), c.website.as_str()),
            ("p", "https://w")
        );
        let empty = parse_command_answer(
            br#"{"credentials":[],"clientKey":"7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ="}"#,
        )
        .unwrap();
        assert_eq!(empty.credentials.as_ref().map(Vec::len), Some(0));
        assert!(parse_command_answer(br#"{"clientKey":"AAAA"}"#).is_err());
        assert!(parse_command_answer(b"[1]").is_err());
        assert!(parse_command_answer(br#"{"credential":5}"#).is_err());
    }
}
