//! ANOTHERpass backend: link the phone app (QR code + fingerprint check) and run its credential
//! commands over the local network.
//!
//! Layout: the protocol core is pure and tested with the spec's vectors ([`b64`], [`keys`],
//! [`envelope`], [`rsa`], [`ids`], [`address`], [`wire`]; one-time codes are
//! [`crate::credentials::otp`]); I/O sits at the edges
//! ([`transport`] for HTTP through [`crate::http`], [`store`] for the 0600 link files, [`client`]
//! for polling); the actions ([`link`], [`commands`]) and the terminal ([`cli`]) share the same
//! functions.

use crate::api::{Action, ApiError, Backend, Ctx, ErrorCode, Operation, Registry};
use seam::{ClientKey, Credential, CredentialSink, CredentialSource};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub mod address;
pub mod b64;
pub mod background;
pub mod cli;
pub mod client;
pub mod commands;
pub mod download;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod keys;
pub mod link;
pub mod qr;
pub mod rsa;
pub mod seam;
pub mod source;
pub mod store;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod vectors;

pub use error::{CODES, Error};

/// Defaults and bounds of the timing settings (milliseconds).
pub mod limits {
    pub const POLL_INTERVAL_DEFAULT: u64 = 2_000;
    pub const POLL_INTERVAL_MIN: u64 = 100;
    pub const POLL_INTERVAL_MAX: u64 = 60_000;
    pub const TIMEOUT_DEFAULT: u64 = 60_000;
    pub const TIMEOUT_MIN: u64 = 100;
    pub const TIMEOUT_MAX: u64 = 600_000;
    pub const HTTP_TIMEOUT_DEFAULT: u64 = 20_000;
    pub const HTTP_TIMEOUT_MIN: u64 = 100;
    pub const HTTP_TIMEOUT_MAX: u64 = 300_000;
    /// `link_app` waits while the phone generates its RSA-4096 key (the extension allows 3 min).
    pub const LINK_TIMEOUT_DEFAULT: u64 = 180_000;
    pub const LINK_TIMEOUT_MIN: u64 = 100;
    pub const LINK_TIMEOUT_MAX: u64 = 600_000;
}

/// This backend's section of `config.json`. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Pause between polls, ms (default 2000, 100–60000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
    /// How long a request waits for the phone, ms (default 60000, 100–600000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Limit of one HTTP exchange, ms (default 20000, 100–300000). Longer than the extension's
    /// 2 s on purpose: a large `fetch_all_credentials` answer needs time on Wi-Fi.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_timeout_ms: Option<u64>,
    /// How long `link.complete` waits for the phone, ms (default 180000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_timeout_ms: Option<u64>,
    /// Connection override: send every request (linking included) to this address instead of
    /// the one the user entered. For tests, port forwarding and unusual networks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Port override (any port 1–65535), used with or without `server`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Where `download_vault_backup` saves by default (else the user's download directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_dir: Option<PathBuf>,
    /// TEST ONLY: size of the client RSA key (2048–4096, default 4096). The protocol and the app
    /// use 4096; smaller keys only make tests faster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsa_bits: Option<u32>,
}

fn bounded(v: Option<u64>, default: u64, min: u64, max: u64) -> Duration {
    Duration::from_millis(v.unwrap_or(default).clamp(min, max))
}

impl Settings {
    pub fn poll_interval(&self) -> Duration {
        use limits::*;
        bounded(
            self.poll_interval_ms,
            POLL_INTERVAL_DEFAULT,
            POLL_INTERVAL_MIN,
            POLL_INTERVAL_MAX,
        )
    }
    pub fn timeout(&self) -> Duration {
        use limits::*;
        bounded(self.timeout_ms, TIMEOUT_DEFAULT, TIMEOUT_MIN, TIMEOUT_MAX)
    }
    pub fn http_timeout(&self) -> Duration {
        use limits::*;
        bounded(
            self.http_timeout_ms,
            HTTP_TIMEOUT_DEFAULT,
            HTTP_TIMEOUT_MIN,
            HTTP_TIMEOUT_MAX,
        )
    }
    pub fn link_timeout(&self) -> Duration {
        use limits::*;
        bounded(
            self.link_timeout_ms,
            LINK_TIMEOUT_DEFAULT,
            LINK_TIMEOUT_MIN,
            LINK_TIMEOUT_MAX,
        )
    }
    /// 2048, 3072 or 4096 (anything else means 4096).
    pub fn rsa_bits(&self) -> usize {
        match self.rsa_bits {
            Some(b @ (2048 | 3072)) => b as usize,
            _ => rsa::PROTOCOL_BITS,
        }
    }

    /// The URL to use for a phone at `server:port`, honouring the override, and a label for messages.
    pub fn target(&self, server: &address::Server, port: u16) -> Result<(String, String), Error> {
        let server = match &self.server {
            Some(s) => address::Server::parse(s).map_err(|e| {
                Error::InvalidParams(format!("The anotherpass.server setting is invalid: {e}"))
            })?,
            None => server.clone(),
        };
        let port = self.port.filter(|p| *p != 0).unwrap_or(port);
        Ok((server.base_url(port), format!("{}:{port}", server.as_str())))
    }
}

/// In-memory state of this backend for the life of the process.
pub struct State {
    /// One HTTP agent, so polls reuse their connection.
    pub http: transport::Http,
}

impl State {
    pub fn new() -> Self {
        Self {
            http: transport::Http::new(),
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Operations a Clarion policy may guard.
pub mod operation {
    use crate::api::Operation;
    pub const ANOTHERPASS_LINK: &str = "anotherpass_link";
    pub const ANOTHERPASS_FETCH: &str = "anotherpass_fetch";
    /// Handing the clientKey to the extension (`anotherpass.get_client_key {reveal: true}`).
    pub const ANOTHERPASS_REVEAL_KEY: &str = "anotherpass_reveal_key";
    pub const ALL: &[Operation] = &[
        Operation {
            name: ANOTHERPASS_LINK,
            purpose: "link a new ANOTHERpass phone",
            implied_by: &[],
        },
        Operation {
            name: ANOTHERPASS_FETCH,
            purpose: "fetch a credential from ANOTHERpass",
            implied_by: &[],
        },
        Operation {
            name: ANOTHERPASS_REVEAL_KEY,
            purpose: "give the ANOTHERpass client key (it opens the vault) to the browser",
            // The revealed clientKey opens the local vault: guarding its unlock or get without
            // this would leave a way around them (names of the vault's operations).
            implied_by: &["vault_unlock", "vault_get"],
        },
    ];
}

/// ANOTHERpass as a backend of the host.
pub struct Anotherpass;

impl Backend for Anotherpass {
    fn name(&self) -> &'static str {
        "anotherpass"
    }
    fn start(&self, reg: &mut Registry) -> Result<(), String> {
        // Parsed here so a broken section is reported when the host starts.
        let _: Settings = reg
            .config()
            .section(self.name())
            .map_err(|e| e.to_string())?;
        reg.insert(State::new());
        reg.insert::<Arc<dyn CredentialSource>>(Arc::new(source::AnotherpassSource));
        Ok(())
    }
    fn actions(&self) -> Vec<Action> {
        actions()
    }
    fn summary(&self, ctx: &Ctx) -> Value {
        summary(ctx)
    }
    fn operations(&self) -> &'static [Operation] {
        operation::ALL
    }
    fn codes(&self) -> &'static [ErrorCode] {
        error::CODE_DOCS
    }
}

/// This backend's state in `ctx` (registered by [`Anotherpass::start`]).
pub fn state(ctx: &Ctx) -> &State {
    ctx.state.expect::<State>()
}

/// This backend's settings as they are now (defaults if the section became invalid).
pub fn settings(ctx: &Ctx) -> Settings {
    ctx.state
        .config()
        .section("anotherpass")
        .unwrap_or_else(|e| {
            log::warn!("{e}; using the default anotherpass settings");
            Settings::default()
        })
}

/// Where results go: the local vault when it is part of this passbridge.
pub fn sink(ctx: &Ctx) -> &dyn CredentialSink {
    match ctx.state.get::<Arc<dyn CredentialSink>>() {
        Some(s) => s.as_ref(),
        None => &NoSink,
    }
}

struct NoSink;

impl CredentialSink for NoSink {
    fn received(&self, _: &Ctx, _: &ClientKey, _: &[Credential]) -> Result<(), ApiError> {
        Err(ApiError::internal(
            "No local vault is part of this passbridge, so nothing was stored.",
        ))
    }
    fn remembered_uid(&self, _: &Ctx, _: &str) -> Option<String> {
        None
    }
    fn remember_uid(&self, _: &Ctx, _: &str, _: &str) {}
}

/// This backend's actions.
pub fn actions() -> Vec<Action> {
    macro_rules! action {
        ($name:literal, $f:path, $summary:literal) => {
            Action {
                name: $name,
                handler: crate::typed!($f),
                summary: $summary,
            }
        };
    }
    vec![
        action!(
            "anotherpass.status",
            link::status,
            "Whether a phone is linked, and where."
        ),
        action!(
            "anotherpass.link.start",
            link::start,
            "Start linking: a QR code for the app to scan (params: fresh?)."
        ),
        action!(
            "anotherpass.link.complete",
            link::complete,
            "Send the link request to the phone (params: server, port?); returns the fingerprint to compare."
        ),
        action!(
            "anotherpass.link.confirm",
            link::confirm,
            "Save the link if the fingerprints match (params: matches)."
        ),
        action!(
            "anotherpass.unlink",
            link::unlink,
            "Forget the link (params: forget?)."
        ),
        action!(
            "anotherpass.fetch_credential_for_url",
            commands::fetch_credential_for_url,
            "The credential for a website (params: website, user?, uid?)."
        ),
        action!(
            "anotherpass.fetch_credential_for_uid",
            commands::fetch_credential_for_uid,
            "One credential by its uid (params: uid)."
        ),
        action!(
            "anotherpass.fetch_credentials_for_uids",
            commands::fetch_credentials_for_uids,
            "Credentials by uid (params: uids)."
        ),
        action!(
            "anotherpass.fetch_single_credential",
            commands::fetch_single_credential,
            "A credential the user picks on the phone."
        ),
        action!(
            "anotherpass.fetch_multiple_credentials",
            commands::fetch_multiple_credentials,
            "Credentials the user picks on the phone."
        ),
        action!(
            "anotherpass.fetch_all_credentials",
            commands::fetch_all_credentials,
            "Every credential of the vault."
        ),
        action!(
            "anotherpass.create_credential_for_url",
            commands::create_credential_for_url,
            "Create a credential on the phone (params: website, user?)."
        ),
        action!(
            "anotherpass.get_client_key",
            commands::get_client_key,
            "Unlock the local vault with the phone's clientKey (params: reveal?)."
        ),
        action!(
            "anotherpass.download_vault_backup",
            commands::download_vault_backup,
            "Save a vault backup from the phone (params: directory?)."
        ),
    ]
}

/// A short summary for the host's `status` action.
pub fn summary(ctx: &Ctx) -> Value {
    match link::status(ctx, crate::api::params::NoParams {}) {
        Ok(s) => {
            let mut v = serde_json::to_value(s).unwrap_or_else(|_| json!({}));
            v["available"] = json!(true);
            v
        }
        Err(e) => json!({"available": true, "linked": false, "error": ApiError::from(e).to_json()}),
    }
}
