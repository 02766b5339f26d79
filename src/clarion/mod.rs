//! Clarion security-key approvals: register a key, get a verified touch, and the policy gate
//! that requires one before guarded operations. See docs/clarion.md.
//!
//! Pure parts: [`rfc3339`], [`callback`] (registration decryption), [`wire`] (authn JSON),
//! [`settings`]. I/O at the edges: [`client`] (HTTP), [`pending`] and [`store`] (files),
//! [`loopback`] (the CLI's callback server). Flows: [`register`], [`approval`].

use crate::api::services::ApprovalGate;
use crate::api::{Action, Backend, Ctx, ErrorCode, Registry};
use serde_json::{Value, json};
use std::sync::Arc;

pub mod actions;
pub mod approval;
pub mod callback;
pub mod cli;
pub mod client;
pub mod error;
pub mod loopback;
pub mod pending;
pub mod register;
pub mod rfc3339;
pub mod settings;
pub mod store;
pub mod wire;

pub use approval::ClarionGate;
pub use error::Error;
pub use settings::Settings;

/// This backend's error codes (append-only; each is listed in docs/protocol.md).
pub mod codes {
    /// No server or no registered key: register one first.
    pub const NOT_CONFIGURED: &str = "clarion_not_configured";
    /// The server cannot be reached (refused, timeout, DNS).
    pub const UNREACHABLE: &str = "clarion_unreachable";
    /// The server answered with an HTTP error (400 invalid params, 500, …).
    pub const SERVER_ERROR: &str = "clarion_server_error";
    /// The server's reply is not a valid Clarion reply.
    pub const BAD_REPLY: &str = "clarion_bad_reply";
    /// The server no longer knows the approval request (404).
    pub const APPROVAL_NOT_FOUND: &str = "approval_not_found";
    /// The user pressed Cancel on the Clarion page.
    pub const APPROVAL_CANCELLED: &str = "approval_cancelled";
    /// Nobody approved before the request expired (or only after it had).
    pub const APPROVAL_EXPIRED: &str = "approval_expired";
    /// Verified, but not acceptably (a key that isn't ours, a counter that went back).
    pub const APPROVAL_DENIED: &str = "approval_denied";
    /// The policy needs an approval that cannot be given (no key, no progress events), or
    /// changed during the request.
    pub const APPROVAL_REQUIRED: &str = "approval_required";
    /// `finish` with an unknown or expired registration state.
    pub const REGISTRATION_NOT_FOUND: &str = "registration_not_found";
    /// The registration data cannot be decrypted or is malformed.
    pub const REGISTRATION_INVALID: &str = "registration_invalid";
    /// The CLI waited for the registration page and nothing came.
    pub const REGISTRATION_TIMEOUT: &str = "registration_timeout";
    pub const KEY_NOT_FOUND: &str = "key_not_found";
    pub const KEY_EXISTS: &str = "key_exists";
    /// The keys belong to another Clarion server.
    pub const SERVER_MISMATCH: &str = "server_mismatch";
    /// A policy that guards something needs a registered key (setting it, removing the last key).
    pub const POLICY_NEEDS_KEY: &str = "policy_needs_key";
    /// The https server's certificate failed verification (unknown authority, wrong host name,
    /// expired…): fix the certificate or trust its CA; retrying does not help.
    pub const TLS_UNTRUSTED: &str = "clarion_tls_untrusted";
    /// The server URL is plain http:// to another machine: use https://.
    pub const INSECURE_SERVER: &str = "clarion_insecure_server";

    pub const ALL: &[&str] = &[
        NOT_CONFIGURED,
        UNREACHABLE,
        SERVER_ERROR,
        BAD_REPLY,
        APPROVAL_NOT_FOUND,
        APPROVAL_CANCELLED,
        APPROVAL_EXPIRED,
        APPROVAL_DENIED,
        APPROVAL_REQUIRED,
        REGISTRATION_NOT_FOUND,
        REGISTRATION_INVALID,
        REGISTRATION_TIMEOUT,
        KEY_NOT_FOUND,
        KEY_EXISTS,
        SERVER_MISMATCH,
        POLICY_NEEDS_KEY,
        TLS_UNTRUSTED,
        INSECURE_SERVER,
    ];
}

/// Every error code of this backend, for the documentation test.
pub const CODES: &[&str] = codes::ALL;

/// Every code with what it means.
pub const CODE_DOCS: &[ErrorCode] = &[
    ErrorCode {
        code: codes::NOT_CONFIGURED,
        description: "No Clarion server or no registered key: register one first.",
    },
    ErrorCode {
        code: codes::UNREACHABLE,
        description: "The Clarion server cannot be reached (refused, timeout, DNS).",
    },
    ErrorCode {
        code: codes::SERVER_ERROR,
        description: "The Clarion server answered with an HTTP error.",
    },
    ErrorCode {
        code: codes::BAD_REPLY,
        description: "The server's reply is not a valid Clarion reply.",
    },
    ErrorCode {
        code: codes::APPROVAL_NOT_FOUND,
        description: "The server no longer knows the approval request.",
    },
    ErrorCode {
        code: codes::APPROVAL_CANCELLED,
        description: "The user pressed Cancel on the Clarion page.",
    },
    ErrorCode {
        code: codes::APPROVAL_EXPIRED,
        description: "Nobody approved before the request expired.",
    },
    ErrorCode {
        code: codes::APPROVAL_DENIED,
        description: "Verified, but not acceptably (a key that isn't ours, a counter that went back).",
    },
    ErrorCode {
        code: codes::APPROVAL_REQUIRED,
        description: "The policy needs an approval that cannot be given, or changed during the request.",
    },
    ErrorCode {
        code: codes::REGISTRATION_NOT_FOUND,
        description: "Unknown or expired registration state.",
    },
    ErrorCode {
        code: codes::REGISTRATION_INVALID,
        description: "The registration data cannot be decrypted or is malformed.",
    },
    ErrorCode {
        code: codes::REGISTRATION_TIMEOUT,
        description: "The CLI waited for the registration page and nothing came.",
    },
    ErrorCode {
        code: codes::KEY_NOT_FOUND,
        description: "No registered key has this handle.",
    },
    ErrorCode {
        code: codes::KEY_EXISTS,
        description: "This key is already registered.",
    },
    ErrorCode {
        code: codes::SERVER_MISMATCH,
        description: "The keys belong to another Clarion server.",
    },
    ErrorCode {
        code: codes::POLICY_NEEDS_KEY,
        description: "A policy that guards something needs a registered key.",
    },
    ErrorCode {
        code: codes::TLS_UNTRUSTED,
        description: "The https server's certificate failed verification.",
    },
    ErrorCode {
        code: codes::INSECURE_SERVER,
        description: "The server URL is plain http:// to another machine: use https://.",
    },
];

/// Longest `comment` accepted (Clarion shows it on its page).
pub const MAX_COMMENT_CHARS: usize = 256;

/// A non-empty unpadded base64url token of at most `max` bytes (authn ids, key handles).
fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `invalid_params` when a text param is longer than `max` characters.
fn check_length(field: &str, value: Option<&str>, max: usize) -> Result<(), crate::api::ApiError> {
    if value.is_some_and(|v| v.chars().count() > max) {
        return Err(crate::api::ApiError::invalid_params(format!(
            "\"{field}\" is longer than {max} characters."
        )));
    }
    Ok(())
}

/// In-memory state of this backend for the life of the process.
pub struct State {
    /// Approvals given in this process, or in any with the agent (for `approval_ttl_seconds`).
    pub approvals: approval::Approvals,
}

impl State {
    pub fn new() -> Self {
        Self {
            approvals: approval::Approvals::default(),
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Clarion as a backend of the host; it also provides the approval gate.
pub struct Clarion;

impl Backend for Clarion {
    fn name(&self) -> &'static str {
        store::SECTION
    }
    fn start(&self, reg: &mut Registry) -> Result<(), String> {
        // Read from disk at each use (other processes change it); checked here once so a
        // broken section is reported when the host starts.
        let _: Settings = reg
            .config()
            .section(self.name())
            .map_err(|e| e.to_string())?;
        let agent = crate::agent::link(reg);
        let config_dir = reg.paths().config_dir.clone();
        reg.insert(State {
            approvals: approval::Approvals::share_with(agent, config_dir),
        });
        reg.insert::<Arc<dyn ApprovalGate>>(Arc::new(ClarionGate));
        Ok(())
    }
    fn actions(&self) -> Vec<Action> {
        actions()
    }
    fn summary(&self, ctx: &Ctx) -> Value {
        summary(ctx)
    }
    fn codes(&self) -> &'static [ErrorCode] {
        CODE_DOCS
    }
}

/// This backend's state in `ctx` (registered by [`Clarion::start`]).
pub fn state(ctx: &Ctx) -> &State {
    ctx.state.expect::<State>()
}

/// This backend's actions.
pub fn actions() -> Vec<Action> {
    actions::table()
}

/// A short summary for the host's `status` action.
pub fn summary(ctx: &Ctx) -> Value {
    match store::load(ctx) {
        Ok(s) => json!({
            "available": true,
            "server": s.server,
            "keys": s.keys.len(),
            "require": s.policy.require,
            "approval_ttl_seconds": s.policy.approval_ttl_seconds,
        }),
        Err(e) => json!({"available": false, "error": crate::api::ApiError::from(e).to_json()}),
    }
}
