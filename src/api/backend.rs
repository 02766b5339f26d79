//! What a backend is to the host: a name, an action table, a summary for `hello`/`status`, the
//! operations a Clarion policy may guard, its error codes, and its config section. The one list
//! of backends is in `src/backends.rs`; everything that enumerates backends derives from it.

use super::context::{Action, Ctx, Registry};
use serde_json::Value;

/// An operation a Clarion policy may guard, with the words shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// Stable snake_case name used in `config.json` and on the wire (`vault_get`).
    pub name: &'static str,
    /// Completes "passbridge: …" on the Clarion page (`unlock the local vault`).
    pub purpose: &'static str,
}

/// One stable error code and what it means (`docs/protocol.md` must list every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: &'static str,
    pub description: &'static str,
}

/// A backend. Implemented by a unit struct in the backend's folder (`vault::Vault`).
pub trait Backend: Send + Sync + 'static {
    /// Its name in `hello`, `status` and the `config.json` section (`vault`).
    fn name(&self) -> &'static str;

    /// Runs once when the process starts: parse its config section
    /// (`reg.config().section::<Settings>(self.name())`), build its state and register it
    /// (`reg.insert(state)`), plus any seam it provides (`reg.insert::<Arc<dyn Trait>>(..)`)
    /// and credential provider. An `Err` is a config problem shown to the user.
    fn start(&self, reg: &mut Registry) -> Result<(), String>;

    /// Its actions; handlers find the backend's state with `ctx.state.expect::<State>()`.
    fn actions(&self) -> Vec<Action>;

    /// A short JSON summary for the host's `status` action. Never fails.
    fn summary(&self, ctx: &Ctx) -> Value;

    /// Operations of this backend a Clarion policy may guard.
    fn operations(&self) -> &'static [Operation] {
        &[]
    }

    /// Every error code this backend returns besides the host's own (append-only).
    fn codes(&self) -> &'static [ErrorCode];
}
