//! PassWeaver (steunix/passweaver-api): team folders with group permissions, personal folders
//! and one-time secrets. Facts: /work/shared/specs/passweaver.md.
//!
//! Pure parts: [`envelope`] (the `{status, message?, data}` reply), [`crypto`] (the per-call
//! AES-256-CBC read key), [`data`] (the item data convention), [`site`] (searching by a web
//! address), [`token`] (JWT claims). I/O at the edges: [`client`] (HTTP), [`store`] (the 0600
//! account file). [`session`] keeps the JWT in memory; [`ops`] are the typed operations;
//! [`backend`] is the host glue, [`provider`] the `credentials.*` provider and [`cli`] the
//! command line.

pub mod backend;
pub mod cli;
pub mod client;
pub mod crypto;
pub mod data;
pub mod envelope;
pub mod error;
pub mod ops;
pub mod provider;
pub mod session;
pub mod site;
pub mod store;
pub mod token;

pub use error::{PwError, codes};
pub use session::State;

pub use backend::Passweaver;

/// Every error code of this backend with its meaning.
pub const CODE_DOCS: &[crate::api::ErrorCode] = codes::DOCS;
