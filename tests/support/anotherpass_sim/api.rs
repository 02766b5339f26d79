//! `POST /` in the app's exact processing order (spec §1.5 with errata §10.2) and
//! `GET /{downloadKey}` (spec §4.6). No I/O: the HTTP layer feeds bytes in and renders the reply.

use super::android::{self, J};
use super::model::{HeldBackup, LoggedRequest};
use super::phone::{Phone, Refusal, unexpected};
use super::proto;
use super::rsa;
use serde_json::{Map, Value};

/// What to send back.
#[derive(Debug)]
pub enum Reply {
    /// `{"error": …}` pretty-printed, with this status.
    Error {
        status: u16,
        message: String,
    },
    /// 200 with the encrypted body.
    Sealed(Sealed),
    Html(&'static str),
    /// The CORS preflight answer.
    Options,
    /// A status with an empty body (Ktor's default 404/405).
    Empty(u16),
    /// The one-time backup download.
    File(HeldBackup),
}

impl Reply {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Error { status, .. } | Reply::Empty(status) => *status,
            _ => 200,
        }
    }
}

impl From<Refusal> for Reply {
    fn from((status, message): Refusal) -> Self {
        Reply::Error { status, message }
    }
}

/// A sealed 200 reply and what went into it, so a fault can rebuild it differently.
pub struct Sealed {
    pub key: [u8; 32],
    pub one_time_key: Vec<u8>,
    pub client_n: String,
    pub client_e: String,
    pub plaintext: String,
    pub iv: [u8; 12],
    pub ciphertext: Vec<u8>,
    pub enc_one_time_key: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(..)")
    }
}

impl Sealed {
    /// `wrapBody`: a fresh OTKrs under the client's key, the envelope under `key`.
    fn new(
        key: [u8; 32],
        one_time_key: Vec<u8>,
        client_jwk: &str,
        plaintext: String,
    ) -> Result<Self, Refusal> {
        let jwk: Map<String, Value> = serde_json::from_str(client_jwk).map_err(|e| {
            unexpected(format!(
                "Value {client_jwk} cannot be converted to JSONObject ({e})"
            ))
        })?;
        let client_n = android::get_string(&jwk, "n").map_err(unexpected)?;
        let client_e = android::get_string(&jwk, "e").map_err(unexpected)?;
        let enc =
            rsa::encrypt_to_client(&client_n, &client_e, &one_time_key).map_err(unexpected)?;
        let iv: [u8; 12] = proto::random_bytes(12).try_into().expect("12 bytes");
        let ciphertext = proto::gcm_seal(&key, &iv, plaintext.as_bytes()).expect("32-byte key");
        Ok(Self {
            key,
            one_time_key,
            client_n,
            client_e,
            plaintext,
            iv,
            ciphertext,
            enc_one_time_key: android::b64_url_nopad(&enc),
        })
    }

    pub fn envelope(&self) -> String {
        format!(
            "EWM:{}:{}:0",
            android::b64_std_nopad(&self.iv),
            android::b64_std_nopad(&self.ciphertext)
        )
    }

    /// The HTTP body: `{"encOneTimeKey":…,"envelope":…}` in org.json's compact form.
    pub fn body_with(enc_one_time_key: &str, envelope: &str) -> String {
        J::O(vec![
            ("encOneTimeKey", J::s(enc_one_time_key)),
            ("envelope", J::s(envelope)),
        ])
        .compact()
    }

    pub fn body(&self) -> String {
        Self::body_with(&self.enc_one_time_key, &self.envelope())
    }
}

/// After the reply: the app logs out and stops its server (step 2).
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Nothing,
    ShutDownServer,
}

fn err(status: u16, msg: &str) -> Reply {
    Reply::Error {
        status,
        message: msg.to_string(),
    }
}

/// `POST /` (spec §1.5). Fills `log` with what it learns on the way.
pub fn post(
    phone: &mut Phone,
    header_wcid: Option<&str>,
    body: &str,
    log: &mut LoggedRequest,
) -> (Reply, After) {
    if phone.device_locked {
        return (err(401, "device locked"), After::Nothing);
    }
    if phone.session_denied {
        return (err(401, "no active session"), After::ShutDownServer);
    }
    (post_session(phone, header_wcid, body, log), After::Nothing)
}

fn post_session(
    phone: &mut Phone,
    header_wcid: Option<&str>,
    body: &str,
    log: &mut LoggedRequest,
) -> Reply {
    let Some(wcid) = header_wcid else {
        return err(400, "X-WebClientId header missing");
    };
    if !proto::is_valid_web_client_id(wcid) {
        return err(400, "X-WebClientId malformed");
    }
    if phone.vault_locked {
        return err(401, "Locked");
    }
    let Some(idx) = phone.link_index(wcid) else {
        return err(404, "webClientId is unknown");
    };
    if phone.links[idx].blocked {
        return err(403, "webClientId is blocked");
    }
    let base_key = phone.links[idx].shared_key.clone();
    if base_key.is_empty() {
        return err(400, "No base key");
    }
    let outer: Map<String, Value> = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(o)) => o,
        Ok(other) => {
            return unexpected(format!("Value {other} cannot be converted to JSONObject")).into();
        }
        Err(e) => return unexpected(format!("{e} in {body:.40}")).into(),
    };
    log.body_json = Some(Value::Object(outer.clone()));

    // The key schedule is decided by `linked` at request time; the link reply is sealed under
    // SK‖OTKrs even though the stored key is already BK by then (errata §10.3).
    let linked = phone.links[idx].linked;
    let request_key: Vec<u8> = if linked {
        let enc = android::opt_string(&outer, "encOneTimeKey");
        let ct = match android::b64_decode(&enc, false) {
            Ok(ct) => ct,
            Err(e) => return unexpected(e).into(),
        };
        let Some(app_key) = phone.links[idx].app_key.clone() else {
            return err(400, "Cannot derive request transport key");
        };
        let otk = match app_key.decrypt_one_time_key(&ct) {
            Ok(otk) => otk,
            Err(e) => return unexpected(e).into(),
        };
        log.one_time_key = Some(otk.clone());
        proto::request_transport_key(&base_key, &otk).to_vec()
    } else {
        base_key.clone()
    };

    let envelope = match android::get_string(&outer, "envelope") {
        Ok(e) => e,
        Err(e) => return unexpected(e).into(),
    };
    let parsed = match proto::parse_envelope(&envelope) {
        Ok(p) => p,
        Err(e) => return unexpected(e).into(),
    };
    let Some(plain) = proto::open_envelope(&request_key, &parsed) else {
        return err(400, "Cannot parse message");
    };
    let text = String::from_utf8_lossy(&plain).into_owned();
    log.plaintext = Some(text.clone());
    let msg: Map<String, Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(o)) => o,
        Ok(other) => {
            return unexpected(format!("Value {other} cannot be converted to JSONObject")).into();
        }
        Err(e) => return unexpected(e).into(),
    };
    log.payload = Some(Value::Object(msg.clone()));

    let Some(action) = msg.get("action") else {
        return unexpected("No value for action").into();
    };
    let is_link = action.as_str() == Some("link_app");
    let result = match action.as_str() {
        Some("link_app") if !phone.link_screen_open => return err(500, "Missing action listener"),
        Some("link_app") => phone.handle_link(idx, &msg),
        Some("request_credential") => phone.handle_request(idx, &msg),
        _ => {
            let shown = match action {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return err(400, &format!("unknown action: {shown}"));
        }
    };
    let reply = match result {
        Ok(json) => json.compact(),
        Err(refusal) => return refusal.into(),
    };

    let one_time_key = proto::random_bytes(phone.key_len);
    let response_key = if linked {
        proto::response_transport_key(&base_key, &one_time_key, &request_key)
    } else {
        proto::link_response_key(&base_key, &one_time_key)
    };
    // wrapBody reads the client key from `extensionPublicKey`, which holds the JWK only once
    // a link reply was built; before that it is the QR fingerprint and the app throws.
    let link = &phone.links[idx];
    let jwk = link
        .client_jwk
        .clone()
        .unwrap_or_else(|| link.qr_fingerprint.clone());
    let sealed = match Sealed::new(response_key, one_time_key, &jwk, reply) {
        Ok(s) => s,
        Err(refusal) => return refusal.into(),
    };
    log.reply_plaintext = Some(sealed.plaintext.clone());
    if is_link {
        phone.after_link_reply();
    }
    Reply::Sealed(sealed)
}

/// `GET /{downloadKey}`: only the device lock and the session are checked; the file is served
/// once and only for the latest key.
pub fn download(phone: &mut Phone, key: &str) -> (Reply, After) {
    if phone.device_locked {
        return (err(401, "device locked"), After::Nothing);
    }
    if phone.session_denied {
        return (err(401, "no active session"), After::Nothing);
    }
    let reply = match &phone.backup {
        None => err(404, "No file to download"),
        Some(b) if b.download_key != key => err(404, "Unknown file to download"),
        Some(_) => Reply::File(phone.backup.take().expect("checked")),
    };
    (reply, After::Nothing)
}
