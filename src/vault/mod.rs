//! Local encrypted vault (credentials from the phone, AES-256-GCM under the clientKey).

use crate::api::{Action, Ctx};
use crate::config::{Config, Paths};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub mod cli;

/// This backend's section of `config.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {}

/// In-memory state of this backend for the life of the process.
pub struct State {}

impl State {
    pub fn new(_paths: &Paths, _config: &Config) -> Self {
        Self {}
    }
}

/// This backend's actions.
pub fn actions() -> Vec<Action> {
    Vec::new()
}

/// A short summary for the host's `status` action.
pub fn summary(_ctx: &Ctx) -> Value {
    json!({"available": false})
}
