//! Where the agent is not supported yet (Windows): no client, so every process keeps its own
//! keys as before. The same surface as the Unix client, so callers need no `cfg`.

use super::{AgentError, Settings};
use crate::config::{Config, Paths};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

pub fn set_program(_program: PathBuf) {}

pub struct Client {
    dir: PathBuf,
    settings: Settings,
}

impl Client {
    pub fn for_process(_paths: &Paths, _config: &Config) -> Option<Arc<Self>> {
        None
    }
    pub fn new(dir: PathBuf, settings: Settings, _program: Option<PathBuf>) -> Self {
        Self { dir, settings }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn put(&self, _: &str, _: &[u8], _: Duration) -> Result<(), AgentError> {
        Err(AgentError::Unsupported)
    }
    pub fn get(&self, _: &str, _: bool) -> Result<Option<Zeroizing<Vec<u8>>>, AgentError> {
        Ok(None)
    }
    pub fn check(&self, _: &str, _: bool) -> Result<Option<Duration>, AgentError> {
        Err(AgentError::Unsupported)
    }
    pub fn forget(&self, _: &str) -> Result<(), AgentError> {
        Ok(())
    }
    pub fn lock_all(&self) -> Result<bool, AgentError> {
        Ok(false)
    }
    pub fn status(&self) -> Result<Option<(u32, u32)>, AgentError> {
        Ok(None)
    }
    pub fn stop(&self) -> Result<bool, AgentError> {
        Ok(false)
    }
}
