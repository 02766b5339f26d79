//! Clarion's errors: one variant per stable code, each with a message that says what to do
//! next (built where the error happens). Mapped to [`ApiError`] at the action boundary.

use super::codes;
use crate::api::{ApiError, codes as host};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    TlsUntrusted(String),
    #[error("{0}")]
    ServerError(String),
    #[error("{0}")]
    BadReply(String),
    #[error("{0}")]
    ApprovalNotFound(String),
    #[error("The approval was cancelled on the Clarion page.")]
    ApprovalCancelled,
    #[error("{0}")]
    ApprovalExpired(String),
    #[error("{0}")]
    ApprovalDenied(String),
    #[error("{0}")]
    ApprovalRequired(String),
    #[error(
        "No registration with this state is in progress (it may have expired after 10 minutes or finished already). Start again."
    )]
    RegistrationNotFound,
    #[error("The registration could not be read: {0}. Start the registration again.")]
    RegistrationInvalid(String),
    #[error(
        "No registration arrived in time. Run the command again and finish the steps on the Clarion page."
    )]
    RegistrationTimeout,
    #[error("No registered key has this handle (see clarion.keys).")]
    KeyNotFound,
    #[error("This security key is already registered.")]
    KeyExists,
    #[error(
        "Your keys are registered with {current}; a key for {new} would not work with them. Remove the existing keys first to switch servers."
    )]
    ServerMismatch { current: String, new: String },
    #[error("{0}")]
    PolicyNeedsKey(String),
    #[error("{0}")]
    InvalidParams(String),
    #[error("{0}")]
    Storage(String),
    #[error("{0}")]
    Internal(String),
    /// An error from another part of passbridge (cancel token, params), passed on unchanged.
    #[error("{}", .0.message)]
    Passthrough(ApiError),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotConfigured(_) => codes::NOT_CONFIGURED,
            Error::Unreachable(_) => codes::UNREACHABLE,
            Error::TlsUntrusted(_) => codes::TLS_UNTRUSTED,
            Error::ServerError(_) => codes::SERVER_ERROR,
            Error::BadReply(_) => codes::BAD_REPLY,
            Error::ApprovalNotFound(_) => codes::APPROVAL_NOT_FOUND,
            Error::ApprovalCancelled => codes::APPROVAL_CANCELLED,
            Error::ApprovalExpired(_) => codes::APPROVAL_EXPIRED,
            Error::ApprovalDenied(_) => codes::APPROVAL_DENIED,
            Error::ApprovalRequired(_) => codes::APPROVAL_REQUIRED,
            Error::RegistrationNotFound => codes::REGISTRATION_NOT_FOUND,
            Error::RegistrationInvalid(_) => codes::REGISTRATION_INVALID,
            Error::RegistrationTimeout => codes::REGISTRATION_TIMEOUT,
            Error::KeyNotFound => codes::KEY_NOT_FOUND,
            Error::KeyExists => codes::KEY_EXISTS,
            Error::ServerMismatch { .. } => codes::SERVER_MISMATCH,
            Error::PolicyNeedsKey(_) => codes::POLICY_NEEDS_KEY,
            Error::InvalidParams(_) => host::INVALID_PARAMS,
            Error::Storage(_) => host::STORAGE,
            Error::Internal(_) => host::INTERNAL,
            Error::Passthrough(e) => e.code,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Passthrough(e) => e,
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

impl From<ApiError> for Error {
    /// Errors of the flows that still speak [`ApiError`] keep their code and message.
    fn from(e: ApiError) -> Self {
        Error::Passthrough(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_documented_code() {
        let all = [
            Error::NotConfigured("x".into()),
            Error::Unreachable("x".into()),
            Error::TlsUntrusted("x".into()),
            Error::ServerError("x".into()),
            Error::BadReply("x".into()),
            Error::ApprovalNotFound("x".into()),
            Error::ApprovalCancelled,
            Error::ApprovalExpired("x".into()),
            Error::ApprovalDenied("x".into()),
            Error::ApprovalRequired("x".into()),
            Error::RegistrationNotFound,
            Error::RegistrationInvalid("x".into()),
            Error::RegistrationTimeout,
            Error::KeyNotFound,
            Error::KeyExists,
            Error::ServerMismatch {
                current: "a".into(),
                new: "b".into(),
            },
            Error::PolicyNeedsKey("x".into()),
        ];
        let mut seen: Vec<&str> = all.iter().map(Error::code).collect();
        seen.sort();
        let mut want = codes::ALL.to_vec();
        want.sort();
        assert_eq!(seen, want);
        let gate = ApiError::new("approval_denied", "Not approved.");
        assert_eq!(ApiError::from(Error::from(gate.clone())), gate);
    }
}
