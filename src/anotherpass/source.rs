//! ANOTHERpass as the [`CredentialSource`] other backends (the local vault) call.
//!
//! These calls return the clientKey to their caller instead of handing it to the
//! [`CredentialSink`](super::seam::CredentialSink): the caller *is* the vault, and
//! calling back into it from inside its own call would re-enter it. They do not ask the approval
//! gate either: the calling operation carries its own policy. Timing comes from the settings.

use super::commands::{Timing, load_link, poll_options, run_command};
use super::error::Error;
use super::seam::{ClientKey, Credential, CredentialSource};
use super::wire::Command;
use crate::api::{ApiError, Ctx};

pub struct AnotherpassSource;

fn run(ctx: &Ctx, command: Command) -> Result<super::wire::CommandAnswer, Error> {
    let opts = poll_options(&super::settings(ctx), Timing::default())?;
    let link = load_link(ctx)?;
    Ok(run_command(ctx, &link, &command, &opts)?.answer)
}

impl CredentialSource for AnotherpassSource {
    fn get_client_key(&self, ctx: &Ctx) -> Result<ClientKey, ApiError> {
        let mut answer = run(ctx, Command::GetClientKey)?;
        Ok(answer
            .client_key
            .take()
            .ok_or_else(|| Error::BadReply("the answer has no clientKey".into()))?)
    }

    fn fetch_by_uids(
        &self,
        ctx: &Ctx,
        uids: &[String],
    ) -> Result<(Vec<Credential>, ClientKey), ApiError> {
        let uids: Vec<String> = uids
            .iter()
            .filter(|u| super::commands::is_uuid(u))
            .map(|u| u.to_ascii_lowercase())
            .collect();
        if uids.is_empty() {
            // Nothing to refresh; the key is still what the caller needs.
            return Ok((Vec::new(), self.get_client_key(ctx)?));
        }
        let mut answer = run(ctx, Command::FetchCredentialsForUids { uids })?;
        let key = answer
            .client_key
            .take()
            .ok_or_else(|| Error::BadReply("the answer has no clientKey".into()))?;
        Ok((answer.credentials.take().unwrap_or_default(), key))
    }
}
