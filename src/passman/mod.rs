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
pub mod provider;
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

/// Operations of this backend a Clarion policy may guard.
pub mod operation {
    use crate::api::Operation;
    pub const UNLOCK: &str = "passman_unlock";
    pub const GET: &str = "passman_get";
    pub const ALL: &[Operation] = &[
        Operation {
            name: UNLOCK,
            purpose: "unlock the Passman vault",
            implied_by: &[],
        },
        Operation {
            name: GET,
            purpose: "give a Passman password to the browser",
            implied_by: &[],
        },
    ];
}

/// Passman as one of the host's backends (listed in `src/backends.rs`).
pub struct PassmanBackend;

impl crate::api::Backend for PassmanBackend {
    fn name(&self) -> &'static str {
        "passman"
    }
    fn start(&self, reg: &mut crate::api::Registry) -> Result<(), String> {
        let agent = crate::agent::link(reg);
        reg.insert(Passman::new(reg.paths()).share_unlocks_with(agent));
        crate::credentials::register_provider(reg, std::sync::Arc::new(provider::PassmanProvider));
        Ok(())
    }
    fn actions(&self) -> Vec<crate::api::Action> {
        backend::table()
    }
    fn summary(&self, ctx: &crate::api::Ctx) -> serde_json::Value {
        backend::summary(ctx.state.expect::<Passman>())
    }
    fn operations(&self) -> &'static [crate::api::Operation] {
        operation::ALL
    }
    fn codes(&self) -> &'static [crate::api::ErrorCode] {
        codes::DOCS
    }
}
