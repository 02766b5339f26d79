//! `passbridge clarion ...` for people in a terminal.

use crate::api::ApiError;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the state of this backend.
    Status,
}

pub fn run(_cmd: Command) -> Result<(), ApiError> {
    Err(ApiError::new("not_available", "not built yet"))
}
