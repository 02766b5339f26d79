//! Everything that can go wrong talking to the phone, each with a stable code and a message that
//! says what happened and what to do. Mapped to [`ApiError`] at the action boundary.

use crate::api::{ApiError, ErrorCode, codes as host};

/// Error codes of this backend (append-only). The host's `invalid_params`, `storage_error`,
/// `internal` and `cancelled` are used as well.
pub mod codes {
    pub const NOT_LINKED: &str = "not_linked";
    pub const PHONE_UNREACHABLE: &str = "phone_unreachable";
    pub const TIMEOUT: &str = "timeout";
    pub const DENIED_BY_USER: &str = "denied_by_user";
    pub const REJECTED_REQUEST: &str = "rejected_request";
    pub const UNKNOWN_CLIENT: &str = "unknown_client";
    pub const PHONE_ERROR: &str = "phone_error";
    pub const PHONE_LOCKED: &str = "phone_locked";
    pub const DECRYPT_FAILED: &str = "decrypt_failed";
    pub const BAD_REPLY: &str = "bad_reply";
    pub const LINK_FINGERPRINT: &str = "link_fingerprint";
    pub const VAULT_MISMATCH: &str = "vault_mismatch";
    pub const LINK_NOT_STARTED: &str = "link_not_started";
    pub const DOWNLOAD_FAILED: &str = "download_failed";
}

/// Every code this backend defines, for the documentation test.
pub const CODES: &[&str] = &[
    codes::NOT_LINKED,
    codes::PHONE_UNREACHABLE,
    codes::TIMEOUT,
    codes::DENIED_BY_USER,
    codes::REJECTED_REQUEST,
    codes::UNKNOWN_CLIENT,
    codes::PHONE_ERROR,
    codes::PHONE_LOCKED,
    codes::DECRYPT_FAILED,
    codes::BAD_REPLY,
    codes::LINK_FINGERPRINT,
    codes::VAULT_MISMATCH,
    codes::LINK_NOT_STARTED,
    codes::DOWNLOAD_FAILED,
];

/// Every code with what it means, for `hello`-style listings and the documentation test.
pub const CODE_DOCS: &[ErrorCode] = &[
    ErrorCode {
        code: codes::NOT_LINKED,
        description: "No phone is linked: link ANOTHERpass first.",
    },
    ErrorCode {
        code: codes::PHONE_UNREACHABLE,
        description: "The phone cannot be reached on the network.",
    },
    ErrorCode {
        code: codes::TIMEOUT,
        description: "The phone did not answer in time (the user may not have approved).",
    },
    ErrorCode {
        code: codes::DENIED_BY_USER,
        description: "The request was declined on the phone.",
    },
    ErrorCode {
        code: codes::REJECTED_REQUEST,
        description: "The phone rejected the request (the link keys no longer match).",
    },
    ErrorCode {
        code: codes::UNKNOWN_CLIENT,
        description: "The phone does not know this computer.",
    },
    ErrorCode {
        code: codes::PHONE_ERROR,
        description: "ANOTHERpass on the phone could not handle the request.",
    },
    ErrorCode {
        code: codes::PHONE_LOCKED,
        description: "The vault in ANOTHERpass is locked: unlock the app.",
    },
    ErrorCode {
        code: codes::DECRYPT_FAILED,
        description: "The phone's answer could not be decrypted.",
    },
    ErrorCode {
        code: codes::BAD_REPLY,
        description: "The phone sent an answer passbridge cannot use.",
    },
    ErrorCode {
        code: codes::LINK_FINGERPRINT,
        description: "The link was refused: the key fingerprint does not match the QR code.",
    },
    ErrorCode {
        code: codes::VAULT_MISMATCH,
        description: "The phone has a different vault than the one linked before.",
    },
    ErrorCode {
        code: codes::LINK_NOT_STARTED,
        description: "link.complete or link.confirm without a link in progress.",
    },
    ErrorCode {
        code: codes::DOWNLOAD_FAILED,
        description: "The vault backup could not be downloaded.",
    },
];

fn quote(s: &Option<String>) -> String {
    match s {
        Some(s) if !s.is_empty() => format!(" (the app said: \"{s}\")"),
        _ => String::new(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "No phone is linked. Link ANOTHERpass first (passbridge anotherpass link, or the extension's link page)."
    )]
    NotLinked,
    #[error(
        "Cannot reach the phone at {addr}: {detail}. Check that the phone is on the same network as this computer, that ANOTHERpass is open with its server switched on, and that the address and port match what the app shows."
    )]
    PhoneUnreachable { addr: String, detail: String },
    /// The whole message is built by the poller from the last thing the phone said.
    #[error("{0}")]
    Timeout(String),
    #[error("{}", denied_message(.0))]
    DeniedByUser(Option<String>),
    #[error(
        "The phone rejected the request{}. Usually the keys of this link no longer match the app's: unlink and link the phone again.",
        quote(.0)
    )]
    RejectedRequest(Option<String>),
    #[error("The phone does not know this computer{}. {}", quote(.said), .hint)]
    UnknownClient { said: Option<String>, hint: String },
    #[error("ANOTHERpass on the phone could not handle the request{}. {}", quote(.said), .hint)]
    PhoneError { said: Option<String>, hint: String },
    #[error("{hint}{}", quote(.said))]
    PhoneLocked { said: Option<String>, hint: String },
    #[error(
        "The phone's answer could not be decrypted ({0}). The keys of this link may no longer match the app's: unlink and link the phone again."
    )]
    DecryptFailed(String),
    #[error("The phone sent an answer passbridge cannot use: {0}.")]
    BadReply(String),
    #[error(
        "ANOTHERpass refused the link because the key fingerprint does not match the QR code it scanned. Start linking again and scan the new QR code."
    )]
    LinkFingerprint,
    #[error(
        "This phone's vault ({got}) is not the vault linked before ({expected}). Relinking keeps your clientKey only for the same vault. To link another vault, start linking with \"fresh\": true (copies kept from the old vault will no longer open)."
    )]
    VaultMismatch { expected: String, got: String },
    #[error("{0}")]
    LinkNotStarted(String),
    #[error("The vault backup could not be downloaded: {0}.")]
    DownloadFailed(String),
    #[error("{0}")]
    InvalidParams(String),
    #[error("{0}")]
    Storage(String),
    #[error("{0}")]
    Internal(String),
    #[error("The request was cancelled.")]
    Cancelled,
    /// An error from another part of passbridge (e.g. the approval gate), passed on unchanged.
    #[error("{}", .0.message)]
    Passthrough(ApiError),
}

fn denied_message(s: &Option<String>) -> String {
    match s.as_deref() {
        Some("webClientId is blocked") => "ANOTHERpass has blocked this computer. Unblock it in the app's list of linked devices, or link again.".into(),
        Some("locked") => "ANOTHERpass refused the link because the vault is locked. Unlock the app and try again.".into(),
        _ => format!(
            "The request was declined on the phone{}. Approve it in ANOTHERpass to get the credential.",
            quote(s)
        ),
    }
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotLinked => codes::NOT_LINKED,
            Error::PhoneUnreachable { .. } => codes::PHONE_UNREACHABLE,
            Error::Timeout(_) => codes::TIMEOUT,
            Error::DeniedByUser(_) => codes::DENIED_BY_USER,
            Error::RejectedRequest(_) => codes::REJECTED_REQUEST,
            Error::UnknownClient { .. } => codes::UNKNOWN_CLIENT,
            Error::PhoneError { .. } => codes::PHONE_ERROR,
            Error::PhoneLocked { .. } => codes::PHONE_LOCKED,
            Error::DecryptFailed(_) => codes::DECRYPT_FAILED,
            Error::BadReply(_) => codes::BAD_REPLY,
            Error::LinkFingerprint => codes::LINK_FINGERPRINT,
            Error::VaultMismatch { .. } => codes::VAULT_MISMATCH,
            Error::LinkNotStarted(_) => codes::LINK_NOT_STARTED,
            Error::DownloadFailed(_) => codes::DOWNLOAD_FAILED,
            Error::InvalidParams(_) => host::INVALID_PARAMS,
            Error::Storage(_) => host::STORAGE,
            Error::Internal(_) => host::INTERNAL,
            Error::Cancelled => host::CANCELLED,
            Error::Passthrough(e) => e.code,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<ApiError> for Error {
    /// Errors from the seams (cancel token, approval gate, params helpers) keep their meaning.
    fn from(e: ApiError) -> Self {
        match e.code {
            host::CANCELLED => Error::Cancelled,
            host::INVALID_PARAMS => Error::InvalidParams(e.message),
            _ => Error::Passthrough(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in CODES {
            assert!(seen.insert(c), "duplicate {c}");
            assert!(
                c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{c}"
            );
            assert!(!host::ALL.contains(c), "{c} shadows a host code");
        }
    }

    #[test]
    fn every_code_is_described() {
        let described: Vec<&str> = CODE_DOCS.iter().map(|c| c.code).collect();
        assert_eq!(described, CODES);
    }

    #[test]
    fn messages_tell_what_to_do() {
        let e: ApiError = Error::DeniedByUser(Some("denied by user".into())).into();
        assert_eq!(e.code, "denied_by_user");
        assert!(e.message.contains("\"denied by user\""), "{}", e.message);
        let e: ApiError = Error::DeniedByUser(Some("webClientId is blocked".into())).into();
        assert!(e.message.contains("Unblock"), "{}", e.message);
        let e: ApiError = Error::RejectedRequest(None).into();
        assert!(e.message.contains("link the phone again"), "{}", e.message);
        let gate = ApiError::new("approval_required", "Touch your key");
        let back: ApiError = Error::from(gate.clone()).into();
        assert_eq!(back, gate);
        assert_eq!(Error::from(ApiError::cancelled()), Error::Cancelled);
    }
}
