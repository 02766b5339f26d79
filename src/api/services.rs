//! The seams between backends, so each one is built and tested on its own:
//! ANOTHERpass is a [`CredentialSource`], the local vault a [`CredentialSink`], Clarion an [`ApprovalGate`].
//! [`crate::state::State`] wires the real implementations; tests can plug in fakes.

use super::context::Ctx;
use super::error::ApiError;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A credential exactly as the ANOTHERpass app sends it (field names as on the wire).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default)]
    pub readable_uid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub website: String,
    /// An `otpauth://` URI, or empty for none.
    #[serde(default)]
    pub otp: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password or OTP secret, not even in a test failure.
        f.debug_struct("Credential")
            .field("uid", &self.uid)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The 32-byte ANOTHERpass clientKey that encrypts the local vault. Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey(pub Zeroizing<[u8; 32]>);

impl ClientKey {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(arr)))
    }
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey(<redacted>)")
    }
}

/// Something that can ask the phone for credentials (ANOTHERpass).
pub trait CredentialSource: Send + Sync {
    /// Asks the phone for the clientKey (the user approves there).
    fn get_client_key(&self, ctx: &Ctx) -> Result<ClientKey, ApiError>;
    /// Fetches current versions of these credentials (unknown ones are left out by the phone).
    fn fetch_by_uids(
        &self,
        ctx: &Ctx,
        uids: &[String],
    ) -> Result<(Vec<Credential>, ClientKey), ApiError>;
}

/// Something that keeps credentials received from the phone (the local vault).
pub trait CredentialSink: Send + Sync {
    /// Every ANOTHERpass result passes here: the key unlocks the vault, the credentials are stored.
    fn received(
        &self,
        ctx: &Ctx,
        key: &ClientKey,
        credentials: &[Credential],
    ) -> Result<(), ApiError>;
    /// The credential the user chose for this site last time (None when unknown or locked).
    fn remembered_uid(&self, ctx: &Ctx, website: &str) -> Option<String>;
    /// Records the user's choice for this site.
    fn remember_uid(&self, ctx: &Ctx, website: &str, uid: &str);
}

/// Operations a policy may guard with a Clarion approval.
pub mod operation {
    pub const VAULT_UNLOCK: &str = "vault_unlock";
    pub const VAULT_GET: &str = "vault_get";
    pub const ANOTHERPASS_LINK: &str = "anotherpass_link";
    pub const ANOTHERPASS_FETCH: &str = "anotherpass_fetch";
    pub const PASSMAN_UNLOCK: &str = "passman_unlock";
    pub const PASSMAN_GET: &str = "passman_get";
    pub const ALL: &[&str] = &[
        VAULT_UNLOCK,
        VAULT_GET,
        ANOTHERPASS_LINK,
        ANOTHERPASS_FETCH,
        PASSMAN_UNLOCK,
        PASSMAN_GET,
    ];
}

/// Something that can require a verified approval before an operation (Clarion).
pub trait ApprovalGate: Send + Sync {
    /// Returns once the policy for `operation` is satisfied, or the reason it is not.
    fn require(&self, ctx: &Ctx, operation: &str) -> Result<(), ApiError>;
    /// Whether [`require`](Self::require) would need a new approval right now: the policy
    /// covers `operation` and no still-valid approval is remembered. Asks nobody; true when
    /// the policy cannot be read (fail closed).
    fn is_required(&self, ctx: &Ctx, operation: &str) -> bool;
}
