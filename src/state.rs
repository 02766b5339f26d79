//! Process-wide state shared by all requests: paths, settings, each backend's state, and the seams
//! ([`crate::api::services`]) that connect the backends.

use crate::api::services::{ApprovalGate, CredentialSink, CredentialSource};
use crate::config::{Config, ConfigError, Paths};
use std::sync::{Arc, RwLock};

pub struct State {
    pub paths: Paths,
    pub config: RwLock<Config>,
    pub anotherpass: crate::anotherpass::State,
    pub vault: crate::vault::State,
    pub clarion: crate::clarion::State,
    pub passweaver: crate::passweaver::State,
    pub source: Arc<dyn CredentialSource>,
    pub sink: Arc<dyn CredentialSink>,
    pub gate: Arc<dyn ApprovalGate>,
}

impl State {
    /// Loads the settings and builds every backend's state.
    pub fn load(paths: Paths) -> Result<Self, ConfigError> {
        let config = Config::load(&paths)?;
        Ok(Self::new(paths, config))
    }

    pub fn new(paths: Paths, config: Config) -> Self {
        Self {
            anotherpass: crate::anotherpass::State::new(&paths, &config),
            vault: crate::vault::State::new(&paths, &config),
            clarion: crate::clarion::State::new(&paths, &config),
            passweaver: crate::passweaver::State::new(),
            source: Arc::new(crate::anotherpass::source::AnotherpassSource),
            sink: Arc::new(crate::vault::VaultSink),
            gate: Arc::new(crate::clarion::ClarionGate),
            config: RwLock::new(config),
            paths,
        }
    }

    /// A snapshot of the current settings.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
