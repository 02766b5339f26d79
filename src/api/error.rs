//! The one error type that crosses the wire: a stable snake_case `code` and a human `message`.

use serde_json::{Value, json};

/// An error reply. Codes are append-only; every code is listed in `docs/protocol.md`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMS, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL, message)
    }
    pub fn cancelled() -> Self {
        Self::new(codes::CANCELLED, "The request was cancelled.")
    }
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

/// Error codes of the host itself. Backends define theirs next to their code.
pub mod codes {
    pub const INVALID_UTF8: &str = "invalid_utf8";
    pub const INVALID_JSON: &str = "invalid_json";
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const UNKNOWN_ACTION: &str = "unknown_action";
    pub const INVALID_PARAMS: &str = "invalid_params";
    pub const FORBIDDEN_CALLER: &str = "forbidden_caller";
    pub const TOO_LARGE: &str = "too_large";
    pub const CANCELLED: &str = "cancelled";
    pub const BUSY: &str = "busy";
    pub const DUPLICATE_ID: &str = "duplicate_id";
    pub const INTERNAL: &str = "internal";
    pub const STORAGE: &str = "storage_error";
    /// Shared by the backends that ask a server for a named thing (Passman, PassWeaver).
    pub const NOT_FOUND: &str = "not_found";

    /// Every code this module defines, for the documentation test.
    pub const ALL: &[&str] = &[
        INVALID_UTF8,
        INVALID_JSON,
        INVALID_REQUEST,
        UNKNOWN_ACTION,
        INVALID_PARAMS,
        FORBIDDEN_CALLER,
        TOO_LARGE,
        CANCELLED,
        BUSY,
        DUPLICATE_ID,
        INTERNAL,
        STORAGE,
        NOT_FOUND,
    ];
}
