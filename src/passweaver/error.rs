//! This backend's one error type. Each PassWeaver status has its own code; texts say what to do
//! next and never carry a password, a JWT or a key.

use crate::api::ApiError;

/// This backend's error codes (append-only; each is listed in docs/protocol.md).
pub mod codes {
    use crate::api::ErrorCode;

    /// No PassWeaver account is set up: `passweaver.setup` first.
    pub const NOT_CONFIGURED: &str = "passweaver_not_configured";
    /// The server cannot be reached (refused, timeout, DNS, a failed TLS handshake).
    pub const UNREACHABLE: &str = "passweaver_unreachable";
    /// The https server's certificate is not trusted: fix it or trust its CA; retrying won't help.
    pub const TLS_UNTRUSTED: &str = "passweaver_tls_untrusted";
    /// The reply is not PassWeaver's `{status, message?, data}` envelope (or not the expected data).
    pub const BAD_REPLY: &str = "passweaver_bad_reply";
    /// No valid session: log in (`passweaver.login` with the password).
    pub const LOGIN_REQUIRED: &str = "login_required";
    /// The server refused the login (wrong user or password, bad API key, system locked).
    pub const LOGIN_FAILED: &str = "passweaver_login_failed";
    /// 400: the server rejected the request's payload.
    pub const BAD_REQUEST: &str = "passweaver_bad_request";
    /// 403: the user may not do this (no permission on the folder, admin on items, OTS scope).
    pub const FORBIDDEN: &str = "passweaver_forbidden";
    /// 404: no such item, folder or one-time secret (already read or expired).
    pub const NOT_FOUND: &str = crate::api::codes::NOT_FOUND;
    /// 409: the server is in read-only mode.
    pub const READ_ONLY: &str = "passweaver_read_only";
    /// 412: no personal password was ever set.
    pub const PERSONAL_NOT_SET: &str = "personal_password_not_set";
    /// 417: the personal folder is not unlocked in this session.
    pub const PERSONAL_LOCKED: &str = "personal_locked";
    /// 401 `Wrong password` from the personal unlock.
    pub const WRONG_PERSONAL_PASSWORD: &str = "passweaver_wrong_password";
    /// 422: a value the server refuses (root folder, too many hours, unknown type, not empty…).
    pub const INVALID_VALUE: &str = "passweaver_invalid_value";
    /// 500 (or another unexpected status): the server failed.
    pub const SERVER_ERROR: &str = "passweaver_server_error";
    /// An item's encrypted data could not be decrypted with this call's key.
    pub const DECRYPT_FAILED: &str = "passweaver_decrypt_failed";

    /// Every code with what it means (docs/protocol.md lists each).
    pub const DOCS: &[ErrorCode] = &[
        ErrorCode {
            code: NOT_CONFIGURED,
            description: "no PassWeaver account: passweaver.setup first",
        },
        ErrorCode {
            code: UNREACHABLE,
            description: "the PassWeaver server cannot be reached",
        },
        ErrorCode {
            code: TLS_UNTRUSTED,
            description: "the PassWeaver server's certificate is not trusted",
        },
        ErrorCode {
            code: BAD_REPLY,
            description: "the reply is not PassWeaver's envelope or expected data",
        },
        ErrorCode {
            code: LOGIN_REQUIRED,
            description: "no valid PassWeaver session: passweaver.login",
        },
        ErrorCode {
            code: LOGIN_FAILED,
            description: "PassWeaver refused the login (401)",
        },
        ErrorCode {
            code: BAD_REQUEST,
            description: "PassWeaver rejected the payload (400)",
        },
        ErrorCode {
            code: FORBIDDEN,
            description: "no permission (403)",
        },
        // NOT_FOUND is the host's shared code (crate::api::codes), listed there once.
        ErrorCode {
            code: READ_ONLY,
            description: "the server is in read-only mode (409)",
        },
        ErrorCode {
            code: PERSONAL_NOT_SET,
            description: "no personal password yet (412)",
        },
        ErrorCode {
            code: PERSONAL_LOCKED,
            description: "the personal folder is locked (417)",
        },
        ErrorCode {
            code: WRONG_PERSONAL_PASSWORD,
            description: "the personal password is wrong",
        },
        ErrorCode {
            code: INVALID_VALUE,
            description: "a value the server refuses (422)",
        },
        ErrorCode {
            code: SERVER_ERROR,
            description: "the server failed (500)",
        },
        ErrorCode {
            code: DECRYPT_FAILED,
            description: "an item's data does not decrypt",
        },
    ];
}

/// Messages the server sends with a 401 for a missing, bad or expired JWT (not a login failure).
pub const TOKEN_MESSAGES: &[&str] = &[
    "Token expired",
    "Invalid token",
    "A token is required for authentication",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PwError {
    #[error("No PassWeaver account is set up. Run passweaver.setup with the server address first.")]
    NotConfigured,
    #[error("{0}")]
    InvalidParams(String),
    #[error(
        "Cannot reach the PassWeaver server at {server}: {why}. Check that it runs and the address is right."
    )]
    Unreachable { server: String, why: String },
    #[error("Cannot connect securely to the PassWeaver server at {server}: {why}")]
    Untrusted { server: String, why: String },
    #[error("The PassWeaver server sent a reply passbridge cannot use: {0}")]
    BadReply(String),
    /// A 401 about the JWT itself (expired, invalid, missing): the session is over.
    #[error("The PassWeaver session has ended ({0}). Log in again with passweaver.login.")]
    TokenRejected(String),
    #[error("{0}")]
    LoginRequired(String),
    #[error(
        "PassWeaver refused the login: {0}. Check the user name and password (or the API key and secret)."
    )]
    LoginFailed(String),
    #[error("PassWeaver rejected the request as malformed ({0}).")]
    BadRequest(String),
    #[error(
        "PassWeaver says you may not do this ({0}): ask an administrator for permission on the folder. Administrators cannot read or write items."
    )]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error(
        "The PassWeaver server is in read-only mode ({0}): try again once an administrator switches it back."
    )]
    ReadOnly(String),
    #[error(
        "No personal password is set yet: set one with passweaver.personal.set (or in the PassWeaver web interface), then unlock."
    )]
    PersonalNotSet,
    #[error(
        "The personal folder is locked: unlock it with passweaver.personal.unlock and your personal password."
    )]
    PersonalLocked,
    #[error("The personal password is wrong.")]
    WrongPersonalPassword,
    #[error("PassWeaver refused a value ({0}).")]
    InvalidValue(String),
    #[error("The PassWeaver server failed with HTTP {status} ({message}); check its logs.")]
    Server { status: u16, message: String },
    #[error("The item's data could not be decrypted ({0}); try again.")]
    Decrypt(String),
    #[error("{0}")]
    Storage(String),
}

impl PwError {
    pub fn code(&self) -> &'static str {
        use codes::*;
        match self {
            PwError::NotConfigured => NOT_CONFIGURED,
            PwError::InvalidParams(_) => crate::api::codes::INVALID_PARAMS,
            PwError::Unreachable { .. } => UNREACHABLE,
            PwError::Untrusted { .. } => TLS_UNTRUSTED,
            PwError::BadReply(_) => BAD_REPLY,
            PwError::TokenRejected(_) | PwError::LoginRequired(_) => LOGIN_REQUIRED,
            PwError::LoginFailed(_) => LOGIN_FAILED,
            PwError::BadRequest(_) => BAD_REQUEST,
            PwError::Forbidden(_) => FORBIDDEN,
            PwError::NotFound(_) => NOT_FOUND,
            PwError::ReadOnly(_) => READ_ONLY,
            PwError::PersonalNotSet => PERSONAL_NOT_SET,
            PwError::PersonalLocked => PERSONAL_LOCKED,
            PwError::WrongPersonalPassword => WRONG_PERSONAL_PASSWORD,
            PwError::InvalidValue(_) => INVALID_VALUE,
            PwError::Server { .. } => SERVER_ERROR,
            PwError::Decrypt(_) => DECRYPT_FAILED,
            PwError::Storage(_) => crate::api::codes::STORAGE,
        }
    }
}

impl From<PwError> for ApiError {
    fn from(e: PwError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

/// Server or network text made safe for a message: no control characters, bounded.
pub fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_error_has_its_own_code() {
        let errors = [
            PwError::BadRequest("x".into()),
            PwError::TokenRejected("x".into()),
            PwError::Forbidden("x".into()),
            PwError::NotFound("x".into()),
            PwError::ReadOnly("x".into()),
            PwError::PersonalNotSet,
            PwError::PersonalLocked,
            PwError::InvalidValue("x".into()),
            PwError::Server {
                status: 500,
                message: "x".into(),
            },
            PwError::BadReply("x".into()),
        ];
        let mut seen: Vec<&str> = errors.iter().map(PwError::code).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), errors.len());
        for e in &errors {
            // Documented by this backend, or one of the host's shared codes.
            assert!(
                codes::DOCS.iter().any(|d| d.code == e.code())
                    || crate::api::codes::ALL.contains(&e.code()),
                "{}",
                e.code()
            );
        }
    }
}
