//! One credential model for every backend, and one search for the extension.
//!
//! - [`Credential`]: the neutral shape (source, id, name, user, password, urls, notes, otp);
//!   secrets are zeroized on drop and never printed.
//! - [`site`]: which credentials fit a web page (registrable domain from the Public Suffix
//!   List, subdomains, ports, IP hosts); [`otp`]: TOTP/HOTP codes. Shared, pure pieces.
//! - [`CredentialProvider`]: what a backend implements to take part in `credentials.search` and
//!   `credentials.get`; it registers with [`register_provider`] in its `Backend::start`.
//! - [`search`]: the two actions, across every provider concurrently, each bounded by a timeout.

use crate::api::{ApiError, Ctx, Registry};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub mod fixture;
pub mod otp;
pub mod search;
pub mod site;

pub use site::{Match, Query, Site};

/// A credential from any source. `source` and `id` together name it (`credentials.get`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Credential {
    /// The provider it comes from (`vault`, `passman`, …).
    #[serde(default)]
    pub source: String,
    /// Its id within that source (a vault uid, a Passman entry id, …).
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: String,
    /// Web addresses it is for, the main one first.
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub notes: String,
    /// An `otpauth://` URI, or empty for none.
    #[serde(default)]
    pub otp: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, notes or OTP secret, not even in a test failure.
        f.debug_struct("Credential")
            .field("source", &self.source)
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a search lists about a credential: no password, notes or OTP secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub source: String,
    pub id: String,
    pub name: String,
    pub user: String,
    pub urls: Vec<String>,
    /// Whether `credentials.get` will return a one-time code.
    pub has_otp: bool,
    /// `host`, `domain`, `name` (site searches) or `text`.
    #[serde(rename = "match")]
    pub matched: Match,
}

impl Listed {
    /// The listing of `c` (which a provider may drop right after).
    pub fn of(c: &Credential, matched: Match) -> Self {
        Self {
            source: c.source.clone(),
            id: c.id.clone(),
            name: c.name.clone(),
            user: c.user.clone(),
            urls: c.urls.clone(),
            has_otp: !c.otp.is_empty(),
            matched,
        }
    }
}

/// What to look for: the credentials of a web page, or a text in name, user or address.
pub enum Lookup {
    Site(Query),
    Text(String),
}

/// One provider's answer: the best `limit` matches, best first, and how many there are in all.
#[derive(Debug, Default)]
pub struct Found {
    pub items: Vec<Listed>,
    pub total: usize,
}

/// The state of a source as `credentials.search` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    Ok,
    Locked,
    NotConfigured,
    Unreachable,
    Error,
}

/// Why a source cannot answer: its state and the backend's own error (code and message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub state: SourceState,
    pub error: ApiError,
}

impl SourceError {
    pub fn new(state: SourceState, error: ApiError) -> Self {
        Self { state, error }
    }
}

impl From<SourceError> for ApiError {
    fn from(e: SourceError) -> Self {
        e.error
    }
}

/// A backend that holds credentials. Calls may block (HTTP, disk); `credentials.search` runs
/// every provider on its own thread and stops waiting after the timeout, cancelling
/// `ctx.cancel`, so a slow provider should check it.
pub trait CredentialProvider: Send + Sync {
    /// The `source` tag of its credentials; unique (usually the backend's name).
    fn source(&self) -> &str;

    /// Whether it can answer now: `Err` with `Locked`, `NotConfigured`, … when not. Asks
    /// nobody. `credentials.get` checks it before asking for an approval.
    fn ready(&self, ctx: &Ctx) -> Result<(), SourceError>;

    /// The best `limit` matches for `lookup`, best first (rank with [`site::Query::rank`] or
    /// [`Match::Text`]), and the total number of matches.
    fn search(&self, ctx: &Ctx, lookup: &Lookup, limit: usize) -> Result<Found, SourceError>;

    /// One credential with its secrets, by its id in this source.
    fn get(&self, ctx: &Ctx, id: &str) -> Result<Credential, SourceError>;
}

/// Every registered provider, in registration order.
#[derive(Default, Clone)]
pub struct Providers(pub Vec<Arc<dyn CredentialProvider>>);

impl Providers {
    pub fn find(&self, source: &str) -> Option<&Arc<dyn CredentialProvider>> {
        self.0.iter().find(|p| p.source() == source)
    }
}

/// Adds a provider; backends call this from `Backend::start`.
pub fn register_provider(reg: &mut Registry, provider: Arc<dyn CredentialProvider>) {
    reg.entry::<Providers>().0.push(provider);
}

/// Whether `text` (already lowercase) occurs in the name, user or one of the addresses.
pub fn text_matches(text_lc: &str, name: &str, user: &str, urls: &[String]) -> bool {
    let has = |s: &str| s.to_lowercase().contains(text_lc);
    has(name) || has(user) || urls.iter().any(|u| has(u))
}
