//! Passman (Nextcloud): read, search, create and change credentials with Passman's own
//! client-side encryption, so what passbridge writes opens in Passman's web app and the other
//! way round. Facts: /work/shared/specs/passman.md (section B.7 corrects the earlier ones).
//!
//! Pure: [`sjcl`] (the field envelope), [`credential`] (which fields are encrypted, reading and
//! re-sealing whole credentials), [`otp`]. Edges: [`client`] (HTTP), [`store`] (the account
//! file), [`session`] (the vault key in memory). [`service`] holds the typed operations;
//! [`backend`] is the one file that speaks the host's JSON protocol; [`cli`] the terminal.

pub mod backend;
pub mod cli;
pub mod client;
pub mod credential;
pub mod error;
pub mod otp;
pub mod service;
pub mod session;
pub mod sjcl;
pub mod store;

pub use error::{PassmanError, codes};
pub use service::Passman;

/// Every error code of this backend, for the documentation test.
pub const CODES: &[&str] = codes::ALL;

/// This backend's actions.
pub fn actions() -> Vec<crate::api::Action> {
    backend::table()
}
