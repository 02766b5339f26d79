//! The vault's errors, their stable codes, and messages that say what to do next.

use super::format::FormatError;
use crate::api::{ApiError, codes};
use std::path::PathBuf;

pub const VAULT_LOCKED: &str = "vault_locked";
pub const VAULT_MISSING: &str = "vault_missing";
pub const VAULT_WRONG_KEY: &str = "vault_wrong_key";
pub const VAULT_WRONG_PASSWORD: &str = "vault_wrong_password";
pub const VAULT_NO_PASSWORD: &str = "vault_no_password";
pub const VAULT_NOT_FOUND: &str = "vault_not_found";
pub const VAULT_CORRUPT: &str = "vault_corrupt";
pub const VAULT_UNSUPPORTED_VERSION: &str = "vault_unsupported_version";
pub const VAULT_TOO_MANY_ATTEMPTS: &str = "vault_too_many_attempts";
pub const VAULT_ROLLED_BACK: &str = "vault_rolled_back";
pub const VAULT_UPGRADE_NEEDED: &str = "vault_upgrade_needed";

/// Every code the vault returns besides the host's own (append-only).
pub const CODES: &[&str] = &[
    VAULT_LOCKED,
    VAULT_MISSING,
    VAULT_WRONG_KEY,
    VAULT_WRONG_PASSWORD,
    VAULT_NO_PASSWORD,
    VAULT_NOT_FOUND,
    VAULT_CORRUPT,
    VAULT_UNSUPPORTED_VERSION,
    VAULT_TOO_MANY_ATTEMPTS,
    VAULT_ROLLED_BACK,
    VAULT_UPGRADE_NEEDED,
];

const HOW_TO_UNLOCK: &str = "Unlock it with vault.unlock (approve on your phone), or with \
     vault.unlock {\"password\": ...} if a local password is set \
     (`passbridge vault ... --password-stdin` in a terminal).";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("The vault is locked. {HOW_TO_UNLOCK}")]
    Locked,
    #[error("The vault was locked {0}. {HOW_TO_UNLOCK}")]
    LockedBecause(&'static str),
    #[error(
        "There is no vault yet. It is created the first time credentials arrive from ANOTHERpass, \
         or by vault.unlock with the phone."
    )]
    Missing,
    #[error(
        "This key does not open the vault in {dir}: it was sealed for another ANOTHERpass link. \
         If the phone was linked again, unlock the vault with its local password first and fetch \
         once more to move it to the new link, or run `passbridge vault reset` to start a new \
         vault (the old one is kept aside)."
    )]
    WrongKey { dir: PathBuf },
    #[error("The local vault password is wrong. Try again, or unlock with the phone.")]
    WrongPassword,
    #[error(
        "Too many wrong passwords in a row: wait {wait_seconds} s before the next try (each \
         wrong one doubles the wait, up to 5 minutes), or unlock with the phone."
    )]
    TooManyAttempts { wait_seconds: u64 },
    #[error(
        "No local password is set for the vault. Unlock it with the phone, then set one with \
         vault.set_password."
    )]
    NoPassword,
    #[error("There is no credential with uid {0:?} in the vault.")]
    NotFound(String),
    #[error(
        "The vault in {dir} cannot be read: {what}. passbridge left it untouched. Restore it \
         from a backup, or run `passbridge vault reset` to keep it aside and start a new one."
    )]
    Corrupt { dir: PathBuf, what: String },
    #[error(
        "The vault in {dir} was written by a newer passbridge (vault format {found}; this one \
         reads up to {}). It was left untouched: update passbridge.",
        super::format::VERSION
    )]
    UnsupportedVersion { dir: PathBuf, found: u16 },
    #[error(
        "The vault in {dir} is older than a version this computer already used (commit {found}, \
         but commit {seen} was seen): its files were replaced by an older copy, by a restore from \
         a backup or by someone undoing changes such as a new or removed password. passbridge \
         refuses to use it. If you restored it on purpose, accept it with \
         `passbridge vault accept-restore --yes` (or vault.accept_restore {{\"confirm\": true}}) \
         and unlock again; otherwise restore the newer files."
    )]
    RolledBack { dir: PathBuf, found: u64, seen: u64 },
    #[error(
        "The vault was written by an older passbridge and its key cannot change yet: unlock it \
         once with {0} so it moves to the current format, then try again."
    )]
    UpgradeNeeded(&'static str),
    #[error(
        "Cannot read or write {path}: {source}. Check the permissions and free space of that directory."
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "The lock timeout must be a whole number of minutes from {} to {} (a week); {given} is not.",
        super::MIN_LOCK_TIMEOUT_MINUTES,
        super::MAX_LOCK_TIMEOUT_MINUTES
    )]
    LockTimeoutOutOfRange { given: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("passbridge hit an internal error in the vault: {0}. Nothing was changed.")]
    Internal(String),
    /// An error from another part of passbridge (the approval gate, the phone, a cancel, the
    /// paging params), passed on unchanged.
    #[error("{}", .0.message)]
    Passthrough(ApiError),
}

impl VaultError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Locked | Self::LockedBecause(_) => VAULT_LOCKED,
            Self::Missing => VAULT_MISSING,
            Self::WrongKey { .. } => VAULT_WRONG_KEY,
            Self::WrongPassword => VAULT_WRONG_PASSWORD,
            Self::TooManyAttempts { .. } => VAULT_TOO_MANY_ATTEMPTS,
            Self::NoPassword => VAULT_NO_PASSWORD,
            Self::NotFound(_) => VAULT_NOT_FOUND,
            Self::Corrupt { .. } => VAULT_CORRUPT,
            Self::UnsupportedVersion { .. } => VAULT_UNSUPPORTED_VERSION,
            Self::RolledBack { .. } => VAULT_ROLLED_BACK,
            Self::UpgradeNeeded(_) => VAULT_UPGRADE_NEEDED,
            Self::Io { .. } => codes::STORAGE,
            Self::Invalid(_) | Self::LockTimeoutOutOfRange { .. } => codes::INVALID_PARAMS,
            Self::Internal(_) => codes::INTERNAL,
            Self::Passthrough(e) => e.code,
        }
    }

    /// Maps a format error for the vault stored in `dir`.
    pub fn from_format(e: FormatError, dir: &std::path::Path) -> Self {
        let dir = dir.to_path_buf();
        match e {
            FormatError::UnsupportedVersion(found) => Self::UnsupportedVersion { dir, found },
            FormatError::WrongKey => Self::WrongKey { dir },
            FormatError::WrongPassword => Self::WrongPassword,
            FormatError::NoPassword => Self::NoPassword,
            FormatError::Crypto(c) => c.into(),
            FormatError::NotAVault | FormatError::Damaged(_) => Self::Corrupt {
                dir,
                what: e.to_string(),
            },
        }
    }
}

/// Randomness or AES failing is not something the user can act on.
impl From<super::crypto::CryptoError> for VaultError {
    fn from(e: super::crypto::CryptoError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Passthrough(e) => e,
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

impl From<ApiError> for VaultError {
    fn from(e: ApiError) -> Self {
        Self::Passthrough(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_listed_and_snake_case() {
        let all = [
            VaultError::Locked,
            VaultError::LockedBecause("elsewhere"),
            VaultError::Missing,
            VaultError::WrongKey { dir: "/v".into() },
            VaultError::WrongPassword,
            VaultError::NoPassword,
            VaultError::TooManyAttempts { wait_seconds: 1 },
            VaultError::NotFound("u".into()),
            VaultError::Corrupt {
                dir: "/v".into(),
                what: "x".into(),
            },
            VaultError::UnsupportedVersion {
                dir: "/v".into(),
                found: 2,
            },
            VaultError::RolledBack {
                dir: "/v".into(),
                found: 1,
                seen: 2,
            },
            VaultError::UpgradeNeeded("the phone"),
        ];
        for e in &all {
            assert!(CODES.contains(&e.code()), "{}", e.code());
            assert!(
                e.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
        let locked = ApiError::from(VaultError::Locked);
        assert_eq!(locked.code, "vault_locked");
        assert!(
            locked.message.contains("vault.unlock"),
            "{}",
            locked.message
        );
        let gate = ApiError::new("approval_required", "Touch your key");
        let passed = VaultError::from(gate.clone());
        assert_eq!(passed.code(), "approval_required");
        assert_eq!(ApiError::from(passed), gate);
    }
}
