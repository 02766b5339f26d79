//! What the simulated phone holds: the vault, the device links, the switches a test flips, the
//! scripted phone owner, and the log of what arrived.

use super::proto;
use super::rsa::AppKey;
use serde_json::Value;
use std::sync::Arc;

/// A credential in the vault (`EncCredential`, decrypted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// Canonical lowercase UUID; `None` for old entries without one (then no `uid`/`readableUid`).
    pub uid: Option<String>,
    pub name: String,
    pub user: String,
    pub password: String,
    pub website: String,
    /// An `otpauth://` URI; sent as `""` when `None`.
    pub otp: Option<String>,
    /// Obfuscated ("veiled") credentials are skipped by `fetch_all` and `fetch_..._for_uids`.
    pub veiled: bool,
}

impl Credential {
    /// A credential with a fresh random UUID.
    pub fn new(name: &str, user: &str, password: &str, website: &str) -> Self {
        let mut b: [u8; 16] = proto::random_bytes(16).try_into().expect("16 bytes");
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Self {
            uid: Some(proto::format_uuid(&b)),
            name: name.into(),
            user: user.into(),
            password: password.into(),
            website: website.into(),
            otp: None,
            veiled: false,
        }
    }
    pub fn with_uid(mut self, uid: &str) -> Self {
        self.uid = Some(uid.to_lowercase());
        self
    }
    pub fn without_uid(mut self) -> Self {
        self.uid = None;
        self
    }
    pub fn with_otp(mut self, otpauth: &str) -> Self {
        self.otp = Some(otpauth.into());
        self
    }
    pub fn veiled(mut self) -> Self {
        self.veiled = true;
        self
    }
    pub(crate) fn uid_bytes(&self) -> Option<[u8; 16]> {
        self.uid.as_deref().and_then(proto::parse_uuid)
    }
}

/// A device link (`EncWebExtension`).
pub struct Link {
    pub id: u64,
    pub web_client_id: String,
    pub title: String,
    pub linked: bool,
    pub blocked: bool,
    pub bypass: bool,
    /// `sharedBaseKey`: SK from the QR code until the link reply, BK afterwards (errata §10.3).
    pub shared_key: Vec<u8>,
    /// `extensionPublicKey` before the link reply: the QR's fingerprint hex.
    pub qr_fingerprint: String,
    /// `extensionPublicKey` after the link reply: the client's JWK as JSON text.
    pub client_jwk: Option<String>,
    /// The keystore key `webExt/curr/<id>`.
    pub app_key: Option<Arc<AppKey>>,
}

/// A snapshot of a link for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub web_client_id: String,
    pub linked: bool,
    pub blocked: bool,
    pub bypass: bool,
    /// SK while linking, BK after the link reply.
    pub shared_key: Vec<u8>,
    pub client_jwk: Option<String>,
    pub app_key_bits: Option<usize>,
    /// `serverPubKey.n` as sent in the link reply.
    pub app_key_n: Option<String>,
}

impl Link {
    pub(crate) fn info(&self) -> LinkInfo {
        LinkInfo {
            web_client_id: self.web_client_id.clone(),
            linked: self.linked,
            blocked: self.blocked,
            bypass: self.bypass,
            shared_key: self.shared_key.clone(),
            client_jwk: self.client_jwk.clone(),
            app_key_bits: self.app_key.as_ref().map(|k| k.bits()),
            app_key_n: self.app_key.as_ref().map(|k| k.n_b64url()),
        }
    }
}

/// The global request slot (`HttpCredentialRequestHandler`, spec §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    None,
    Incoming,
    AwaitingAcceptance,
    Accepted,
    Denied,
    Fulfilled,
}

impl RequestState {
    pub fn is_progressing(self) -> bool {
        matches!(
            self,
            Self::Incoming | Self::AwaitingAcceptance | Self::Accepted
        )
    }
}

/// What the owner does with an acceptance sheet (request or link).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Accept,
    Deny,
    /// Leave it open; a test or a person answers through `Sim::user_*`.
    Never,
}

/// What the owner taps after accepting a request that needs a choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    /// single: the first credential; for_url: the first whose domain matches; multiple: the first.
    Auto,
    /// These credentials (the first existing one for single/for_url; all existing for multiple).
    Uids(Vec<String>),
    /// Tap "cancel request" on the snackbar: the next poll gets 403.
    Cancel,
    Never,
}

/// What the owner does in the edit screen of `create_credential_for_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Create {
    /// Save the prefilled credential with this password.
    Save {
        password: String,
    },
    /// Leave the edit screen without saving (the request keeps waiting for a selection).
    Discard,
    Never,
}

/// The scripted phone owner. Acts once between two `request_credential` polls; each `*_after`
/// counts the polls answered while the owner is still looking at that screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub answer: Answer,
    pub answer_after: u32,
    /// The "bypass" checkbox of the sheet (stored on accept and on deny).
    pub tick_bypass: bool,
    pub pick: Pick,
    pub pick_after: u32,
    pub create: Create,
    pub create_after: u32,
}

impl Script {
    pub fn accept() -> Self {
        Self {
            answer: Answer::Accept,
            answer_after: 0,
            tick_bypass: false,
            pick: Pick::Auto,
            pick_after: 0,
            create: Create::Save {
                password: "created-by-sim".into(),
            },
            create_after: 0,
        }
    }
    pub fn deny() -> Self {
        Self {
            answer: Answer::Deny,
            ..Self::accept()
        }
    }
    /// Nobody looks at the phone: requests stay pending until `Sim::user_*` is called.
    pub fn never() -> Self {
        Self {
            answer: Answer::Never,
            pick: Pick::Never,
            create: Create::Never,
            ..Self::accept()
        }
    }
    /// Answer the sheet only after `n` "pending request" replies.
    pub fn after(mut self, n: u32) -> Self {
        self.answer_after = n;
        self
    }
    pub fn with_bypass(mut self) -> Self {
        self.tick_bypass = true;
        self
    }
    pub fn pick(mut self, uids: &[&str]) -> Self {
        self.pick = Pick::Uids(uids.iter().map(|u| u.to_lowercase()).collect());
        self
    }
    pub fn pick_after(mut self, n: u32) -> Self {
        self.pick_after = n;
        self
    }
    pub fn cancel_selection(mut self) -> Self {
        self.pick = Pick::Cancel;
        self
    }
    pub fn never_pick(mut self) -> Self {
        self.pick = Pick::Never;
        self
    }
    pub fn save_created(mut self, password: &str) -> Self {
        self.create = Create::Save {
            password: password.into(),
        };
        self
    }
    pub fn discard_created(mut self) -> Self {
        self.create = Create::Discard;
        self
    }
    pub fn create_after(mut self, n: u32) -> Self {
        self.create_after = n;
        self
    }
}

/// One HTTP request as the simulator saw it, and what it replied.
#[derive(Clone, Debug, Default)]
pub struct LoggedRequest {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The `X-WebClientId` header.
    pub web_client_id: Option<String>,
    /// The raw body (lossy UTF-8).
    pub body: String,
    /// The body parsed as JSON, when it was JSON.
    pub body_json: Option<Value>,
    /// OTKrq after RSA decryption (linked clients only).
    pub one_time_key: Option<Vec<u8>>,
    /// The decrypted envelope, exactly as received.
    pub plaintext: Option<String>,
    /// The decrypted envelope as JSON (absent fields stay absent, `null` stays `null`).
    pub payload: Option<Value>,
    pub status: u16,
    /// The `error` of a non-200 reply.
    pub error: Option<String>,
    /// The JSON sealed into a 200 reply.
    pub reply_plaintext: Option<String>,
    /// The injected fault that shaped the reply, if any.
    pub fault: Option<String>,
}

impl LoggedRequest {
    fn payload_str(&self, key: &str) -> Option<&str> {
        self.payload.as_ref()?.get(key)?.as_str()
    }
    pub fn action(&self) -> Option<&str> {
        self.payload_str("action")
    }
    pub fn command(&self) -> Option<&str> {
        self.payload_str("command")
    }
    pub fn request_identifier(&self) -> Option<&str> {
        self.payload_str("requestIdentifier")
    }
    /// The outer `encOneTimeKey` field as sent.
    pub fn enc_one_time_key(&self) -> Option<&str> {
        self.body_json.as_ref()?.get("encOneTimeKey")?.as_str()
    }
}

/// A reply-shaping fault for client tests. Transport faults hit the next `POST /` (or the next
/// 200 with `Sim::fault_next_success`); crypto faults (`WrongKey`, `BadTag`, `CorruptEnvelope`,
/// `WrongOneTimeKey`) always hit the next 200 reply. The request itself is processed normally
/// (the phone's state moves on): a broken 202 leaves the phone's request slot taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Sleep, then send the real reply.
    Delay(std::time::Duration),
    /// Close the TCP connection without sending a byte.
    CloseWithoutReply,
    /// This status with a body that is not JSON.
    Garbage { status: u16 },
    /// Status 200 and a JSON-looking body of `bytes` bytes, streamed (chunked or with a length).
    Oversized { bytes: u64, chunked: bool },
    /// Status 200 and a well-formed answer body (`encOneTimeKey`, `EWM:…:0` envelope) of random
    /// bytes, in place of whatever the reply was: it looks final but decrypts to nothing.
    Forged,
    /// The envelope is sealed under a random key.
    WrongKey,
    /// One bit of the GCM tag is flipped.
    BadTag,
    /// The envelope string is truncated to two fields.
    CorruptEnvelope,
    /// `encOneTimeKey` carries a different one-time key than the one used.
    WrongOneTimeKey,
}

impl Fault {
    pub(crate) fn is_crypto(&self) -> bool {
        matches!(
            self,
            Fault::WrongKey | Fault::BadTag | Fault::CorruptEnvelope | Fault::WrongOneTimeKey
        )
    }
}

/// The one-time vault backup held for download (`TempFileService`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldBackup {
    pub download_key: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}
