//! The seam between ANOTHERpass and the local vault, which keeps what the phone sends: the wire
//! [`Credential`], the [`ClientKey`], ANOTHERpass as a [`CredentialSource`] the vault calls and
//! the vault as the [`CredentialSink`] ANOTHERpass hands its results to. Pure types and traits:
//! the vault imports this module only, and each side finds the other through
//! [`Shared::get`](crate::api::Shared::get) as an `Arc<dyn CredentialSource>` /
//! `Arc<dyn CredentialSink>`, so neither names the other's code.

use crate::api::{ApiError, Ctx};
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
