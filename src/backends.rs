//! The one list of backends. `hello`, `status`, the action table, the Clarion policy's
//! operations, the CLI help for policies and the documentation check all derive from it.
//!
//! # How to add a backend
//! 1. Make a folder `src/<name>/` with a unit struct implementing [`crate::api::Backend`]:
//!    - `name()`: its name in `hello`, `status` and `config.json`;
//!    - `start(reg)`: parse its section (`reg.config().section::<Settings>(self.name())`,
//!      `Err(message)` for an invalid one), build its state and `reg.insert(state)`; if it
//!      holds credentials, `crate::credentials::register_provider(reg, Arc::new(provider))`
//!      with a [`crate::credentials::CredentialProvider`];
//!    - `actions()`: its table; a handler finds its state with
//!      `ctx.state.expect::<State>()`, the gate with `ctx.state.gate()`. Typed handlers:
//!      `handler: crate::typed!(my_action)` for `fn(&Ctx, Params) -> Result<Reply, MyError>`
//!      where `Params: Deserialize`, `Reply: Serialize` and `ApiError: From<MyError>`;
//!    - `summary(ctx)` for `status`, `operations()` a policy may guard (with the words shown
//!      on the Clarion page), `codes()` with descriptions (each must be in docs/protocol.md).
//! 2. Add `pub mod <name>;` to `src/lib.rs` and one line to [`all`] below.
//!
//! A backend never imports another one; the seams are traits in `crate::api` (the approval
//! gate) and `crate::credentials` (providers), found at run time through [`Shared::get`].

use crate::api::dispatch::Dispatcher;
use crate::api::{Backend, ErrorCode, Registry, Shared, codes};
use crate::config::{Config, ConfigError, Paths};
use std::sync::Arc;

/// Every backend, in the order `hello` and `status` list them.
pub fn all() -> Vec<Arc<dyn Backend>> {
    vec![
        Arc::new(crate::anotherpass::Anotherpass),
        Arc::new(crate::vault::Vault),
        Arc::new(crate::clarion::Clarion),
        Arc::new(crate::passman::PassmanBackend),
        Arc::new(crate::passweaver::Passweaver),
    ]
}

/// Starts every backend, then the layers above them (`credentials.*`).
pub fn start(paths: Paths, config: Config) -> Result<Shared, ConfigError> {
    let mut reg = Registry::new(paths, config);
    for b in all() {
        reg.start(b)?;
    }
    crate::credentials::search::start(&mut reg).map_err(|message| ConfigError::Section {
        section: "credentials".into(),
        message,
    })?;
    Ok(reg.finish())
}

/// Loads `config.json` from `paths` and starts everything.
pub fn load(paths: Paths) -> Result<Arc<Shared>, ConfigError> {
    let config = Config::load(&paths)?;
    Ok(Arc::new(start(paths, config)?))
}

/// The host's state for this user (`PASSBRIDGE_HOME` or the platform directories).
pub fn load_from_env() -> Result<Arc<Shared>, ConfigError> {
    load(Paths::from_env()?)
}

/// The dispatcher over a started state.
pub fn dispatcher(shared: Arc<Shared>) -> Dispatcher {
    Dispatcher::new(shared)
}

/// `passbridge lock`: every backend locks here and in every other process, then the agent
/// zeroizes every unlock it holds. Returns whether an agent was running.
pub fn lock_all(shared: &Shared) -> Result<bool, crate::api::ApiError> {
    shared.expect::<crate::vault::State>().lock_everywhere()?;
    crate::agent::cli::lock_all(&shared.paths, &shared.config())
        .map_err(|e| crate::api::ApiError::internal(e.to_string()))
}

/// Every error code the host can answer with: its own, each backend's and the layers'.
pub fn all_codes() -> Vec<&'static str> {
    let mut v: Vec<&str> = codes::ALL.to_vec();
    for b in all() {
        v.extend(b.codes().iter().map(|c: &ErrorCode| c.code));
    }
    v.extend(crate::credentials::search::CODES.iter().map(|c| c.code));
    v
}

/// Every operation a Clarion policy may guard, with its wording, in a fresh default state.
pub fn operations() -> Vec<crate::api::Operation> {
    let mut v: Vec<_> = all()
        .iter()
        .flat_map(|b| b.operations().iter().copied())
        .collect();
    v.push(crate::credentials::search::CREDENTIAL_GET);
    v
}

/// The help text of the CLI's `--require` (policy operations).
pub fn policy_help() -> String {
    let names: Vec<&str> = operations().iter().map(|o| o.name).collect();
    format!(
        "Operations that need an approval (comma-separated): {}. Give `--require \"\"` for none.",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_codes_and_operations_are_unique() {
        let mut names: Vec<_> = all().iter().map(|b| b.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all().len());
        let mut c = all_codes();
        let n = c.len();
        c.sort();
        c.dedup();
        assert_eq!(c.len(), n, "an error code is defined twice");
        let mut ops: Vec<_> = operations().iter().map(|o| o.name).collect();
        let n = ops.len();
        ops.sort();
        ops.dedup();
        assert_eq!(ops.len(), n, "an operation is defined twice");
        for o in operations() {
            for b in o.implied_by {
                assert!(
                    ops.contains(b),
                    "{} is implied by {b}, which is no operation",
                    o.name
                );
            }
        }
    }

    #[test]
    fn the_started_state_lists_the_same_operations() {
        let s = start(
            Paths::under(std::path::Path::new("/nonexistent")),
            Config::default(),
        )
        .unwrap();
        let a: Vec<_> = s.operations().iter().map(|o| o.name).collect();
        let b: Vec<_> = operations().iter().map(|o| o.name).collect();
        assert_eq!(a, b);
    }
}
