//! This backend's one error type and its stable codes.

use crate::api::{ApiError, codes as host_codes};

/// Error codes of the Passman backend (append-only; each is listed in docs/protocol.md).
pub mod codes {
    /// No Passman account is set up (`passman.setup`).
    pub const NOT_CONFIGURED: &str = "passman_not_configured";
    /// 401: the login or app password is not accepted.
    pub const AUTH_FAILED: &str = "passman_auth_failed";
    /// The server cannot be reached (refused, timeout, DNS, network).
    pub const UNREACHABLE: &str = "passman_unreachable";
    /// The https server's certificate failed verification.
    pub const TLS_UNTRUSTED: &str = "passman_tls_untrusted";
    /// 404, or no vault / credential with this guid.
    pub const NOT_FOUND: &str = crate::api::codes::NOT_FOUND;
    /// 5xx, an HTML error page or a redirect; the message has the status.
    pub const SERVER_ERROR: &str = "server_error";
    /// A reply that is not the JSON Passman sends.
    pub const BAD_REPLY: &str = "bad_reply";
    /// The vault password does not decrypt the vault's challenge.
    pub const WRONG_PASSWORD: &str = "wrong_password";
    /// No vault is unlocked (or the unlock expired): `passman.unlock` first.
    pub const LOCKED: &str = "passman_locked";
    /// The vault has no credential, so Passman offers nothing to check a password against.
    pub const EMPTY_VAULT: &str = "passman_empty_vault";
    /// A credential whose encrypted fields cannot be read with this key cannot be rewritten
    /// without losing them.
    pub const UNREADABLE_CREDENTIAL: &str = "passman_unreadable_credential";
    /// A credential shared with this user: passbridge only reads those.
    pub const SHARED_READ_ONLY: &str = "passman_shared_read_only";

    /// Each code with what it means (the host's docs check wants every one in docs/protocol.md).
    pub const DOCS: &[crate::api::ErrorCode] = &[
        doc(
            NOT_CONFIGURED,
            "No Passman account is set up: passman.setup.",
        ),
        doc(
            AUTH_FAILED,
            "Nextcloud answered 401: create an app password in Nextcloud's security settings.",
        ),
        doc(UNREACHABLE, "The Nextcloud server cannot be reached."),
        doc(
            TLS_UNTRUSTED,
            "The https server's certificate is not trusted.",
        ),
        // NOT_FOUND is the host's shared code (crate::api::codes), listed there once.
        doc(
            SERVER_ERROR,
            "HTTP 5xx, an HTML error page or a redirect; for a credential it may no longer exist.",
        ),
        // BAD_REPLY is the code ANOTHERpass documents with the same meaning (a reply that is not
        // what the server sends); each code is listed once across backends.
        doc(
            WRONG_PASSWORD,
            "The vault password does not decrypt the vault's challenge.",
        ),
        doc(LOCKED, "No Passman vault is unlocked: passman.unlock."),
        doc(
            EMPTY_VAULT,
            "The vault has no credential, so its password cannot be checked.",
        ),
        doc(
            UNREADABLE_CREDENTIAL,
            "Fields of this credential do not decrypt; changing it would lose them.",
        ),
        doc(
            SHARED_READ_ONLY,
            "The credential is shared with the user; passbridge only reads those.",
        ),
    ];

    const fn doc(code: &'static str, description: &'static str) -> crate::api::ErrorCode {
        crate::api::ErrorCode { code, description }
    }

    pub const ALL: &[&str] = &[
        NOT_CONFIGURED,
        AUTH_FAILED,
        UNREACHABLE,
        TLS_UNTRUSTED,
        NOT_FOUND,
        SERVER_ERROR,
        BAD_REPLY,
        WRONG_PASSWORD,
        LOCKED,
        EMPTY_VAULT,
        UNREADABLE_CREDENTIAL,
        SHARED_READ_ONLY,
    ];
}

/// Everything that can go wrong in this backend. The text is for people and never contains a
/// password, an app password or a decrypted field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassmanError {
    #[error("No Passman account is set up. Run `passbridge passman setup` or send passman.setup.")]
    NotConfigured,
    #[error("{0}")]
    InvalidParams(String),
    #[error(
        "Nextcloud at {server} did not accept the login and app password (HTTP 401). Create an app password in Nextcloud under Settings → Security → Devices & sessions, then run passman.setup again."
    )]
    AuthFailed { server: String },
    #[error(
        "Cannot reach the Nextcloud server at {server}: {why}. Check the address and that it is running."
    )]
    Unreachable { server: String, why: String },
    #[error("Cannot connect securely to the Nextcloud server at {server}: {why}")]
    Untrusted { server: String, why: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Server(String),
    #[error(
        "The Nextcloud server at {server} sent a reply that is not Passman's: {why}. Check the server address and that the Passman app is enabled."
    )]
    BadReply { server: String, why: String },
    #[error("Wrong password for the Passman vault \"{0}\".")]
    WrongPassword(String),
    #[error("The Passman vault is locked{0}. Unlock it with passman.unlock.")]
    Locked(&'static str),
    #[error(
        "The Passman vault \"{0}\" has no credential yet, so its password cannot be checked. Add one in Passman's web app first."
    )]
    EmptyVault(String),
    #[error(
        "The credential {guid} has fields this vault password cannot decrypt ({fields}); changing it here would lose them. Change it in Passman's web app."
    )]
    Unreadable { guid: String, fields: String },
    #[error(
        "The credential {0} is shared with you; passbridge reads shared credentials but does not change them."
    )]
    SharedReadOnly(String),
    #[error("{0}")]
    Storage(String),
}

impl PassmanError {
    pub fn code(&self) -> &'static str {
        match self {
            PassmanError::NotConfigured => codes::NOT_CONFIGURED,
            PassmanError::InvalidParams(_) => host_codes::INVALID_PARAMS,
            PassmanError::AuthFailed { .. } => codes::AUTH_FAILED,
            PassmanError::Unreachable { .. } => codes::UNREACHABLE,
            PassmanError::Untrusted { .. } => codes::TLS_UNTRUSTED,
            PassmanError::NotFound(_) => codes::NOT_FOUND,
            PassmanError::Server(_) => codes::SERVER_ERROR,
            PassmanError::BadReply { .. } => codes::BAD_REPLY,
            PassmanError::WrongPassword(_) => codes::WRONG_PASSWORD,
            PassmanError::Locked(_) => codes::LOCKED,
            PassmanError::EmptyVault(_) => codes::EMPTY_VAULT,
            PassmanError::Unreadable { .. } => codes::UNREADABLE_CREDENTIAL,
            PassmanError::SharedReadOnly(_) => codes::SHARED_READ_ONLY,
            PassmanError::Storage(_) => host_codes::STORAGE,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        PassmanError::InvalidParams(message.into())
    }
}

impl From<PassmanError> for ApiError {
    fn from(e: PassmanError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}
