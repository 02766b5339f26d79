//! passbridge: a native messaging host that lets a browser extension use ANOTHERpass (a phone
//! app on the local network), a local encrypted vault and Clarion security-key approvals.
//!
//! A request travels one way: [`nm::frame`] decodes a frame, [`api::request`] parses it,
//! [`api::dispatch`] runs the action's handler on a worker thread, the handler calls a backend
//! ([`anotherpass`], [`vault`], [`clarion`], [`passman`]), and the single writer in [`nm::host`] frames the reply.
//! [`backends`] is the one list of backends; [`credentials`] searches all of them at once.

pub mod agent;
pub mod anotherpass;
pub mod api;
pub mod backends;
pub mod clarion;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod fsutil;
pub mod harden;
pub mod http;
pub mod install;
pub mod keystore;
pub mod logging;
pub mod nm;
pub mod passman;
pub mod passweaver;
pub mod vault;
