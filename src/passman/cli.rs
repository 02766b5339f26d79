//! `passbridge passman ...` for people in a terminal. Each command runs the same action the
//! extension sends. Secrets come from stdin, never from the command line (which other users can
//! see). A terminal process holds no key between commands: the ones that read credentials unlock
//! first with the vault password from stdin, unless the passbridge agent holds the vault's key
//! (unlocked in a browser), in which case stdin is not read.

use super::backend::{self, CredentialReply};
use super::operation;
use super::service::{Change, Passman, Setup};
use crate::api::context::EventSink;
use crate::api::params::{DEFAULT_PAGE_LIMIT, Page};
use crate::api::{ApiError, CancelToken, Ctx, Shared};
use serde_json::Value;
use std::io::BufRead;
use std::sync::Arc;
use zeroize::Zeroizing;

#[derive(Debug, Clone, clap::Args)]
pub struct Vault {
    /// The vault (guid or name); default: the one chosen at setup, or the only one.
    #[arg(long)]
    pub vault: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a Nextcloud account against Passman and store it. The app password (Nextcloud →
    /// Settings → Security → Devices & sessions) is read from the first line of stdin.
    Setup {
        /// The Nextcloud address, as in the browser (https://cloud.example/nextcloud).
        #[arg(long)]
        server: String,
        #[arg(long)]
        login: String,
        /// Default vault (guid or name).
        #[arg(long)]
        vault: Option<String>,
        /// Accept plain http:// to another machine (the app password then travels unencrypted).
        #[arg(long)]
        allow_http: bool,
    },
    /// List the vaults.
    Vaults,
    /// Check a vault password (first line of stdin).
    Unlock {
        #[command(flatten)]
        vault: Vault,
    },
    /// Forget the vault key (a terminal process keeps none; running hosts lock on their timeout).
    Lock,
    /// Credentials for a web address, or containing a text; the vault password is read from stdin
    /// unless the agent holds the vault unlocked (in a browser).
    Search {
        /// A web address, or with --text any text.
        what: String,
        #[arg(long)]
        text: bool,
        #[command(flatten)]
        vault: Vault,
    },
    /// One credential with its password and one-time code; the vault password is read from stdin
    /// unless the agent holds the vault unlocked (in a browser).
    Get {
        guid: String,
        #[command(flatten)]
        vault: Vault,
    },
    /// Create a credential. Stdin: the vault password, then the new credential's password.
    Add {
        #[arg(long)]
        label: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        vault: Vault,
    },
}

pub fn run(cmd: Command, state: Arc<Shared>) -> Result<(), ApiError> {
    let ctx = Ctx {
        state,
        events: EventSink::disabled(),
        cancel: CancelToken::new(),
        caller: Default::default(),
    };
    let stdin = std::io::stdin();
    let out = run_with(&ctx, cmd, &mut stdin.lock())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("JSON prints")
    );
    Ok(())
}

fn secret_line(input: &mut dyn BufRead, what: &str) -> Result<Zeroizing<String>, ApiError> {
    let mut line = Zeroizing::new(String::new());
    input
        .read_line(&mut line)
        .map_err(|e| ApiError::invalid_params(format!("cannot read {what} from stdin: {e}")))?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if trimmed.is_empty() {
        return Err(ApiError::invalid_params(format!(
            "give {what} on the first line of stdin"
        )));
    }
    Ok(trimmed)
}

fn pm(ctx: &Ctx) -> &Passman {
    ctx.state.expect::<Passman>()
}

/// Unlocks with the vault password from the next line of stdin.
fn unlock(ctx: &Ctx, vault: &Vault, input: &mut dyn BufRead) -> Result<(), ApiError> {
    let password = secret_line(input, "the vault password")?;
    ctx.state.gate().require(ctx, operation::UNLOCK)?;
    pm(ctx).unlock(vault.vault.as_deref(), &password)?;
    Ok(())
}

/// Whether the asked vault is open already: unlocked in a browser and held by the agent
/// (a terminal process keeps no key of its own between commands).
fn held(ctx: &Ctx, vault: &Vault) -> bool {
    pm(ctx)
        .session
        .peek()
        .is_some_and(|(open, _)| match &vault.vault {
            None => true,
            Some(v) => open.guid == *v || open.name == *v,
        })
}

/// Unlocks for a command that reads credentials, unless the agent holds the key already (then
/// stdin is not read).
fn open(ctx: &Ctx, vault: &Vault, input: &mut dyn BufRead) -> Result<(), ApiError> {
    if held(ctx, vault) {
        return Ok(());
    }
    unlock(ctx, vault, input)
}

fn reply(r: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(r).map_err(|e| ApiError::internal(format!("cannot encode a reply: {e}")))
}

pub fn run_with(ctx: &Ctx, cmd: Command, input: &mut dyn BufRead) -> Result<Value, ApiError> {
    backend::with_warning(ctx, run_command(ctx, cmd, input))
}

fn run_command(ctx: &Ctx, cmd: Command, input: &mut dyn BufRead) -> Result<Value, ApiError> {
    match cmd {
        Command::Setup {
            server,
            login,
            vault,
            allow_http,
        } => {
            let app_password = secret_line(input, "the app password")?;
            let (account, vaults) = pm(ctx).setup(Setup {
                server,
                login,
                app_password,
                vault,
                allow_http,
                lock_timeout_minutes: None,
            })?;
            reply(backend::setup_reply(&account, &vaults))
        }
        Command::Vaults => reply(backend::vaults_reply(&pm(ctx).vaults()?)),
        Command::Unlock { vault } => {
            unlock(ctx, &vault, input)?;
            Ok(backend::summary(pm(ctx)))
        }
        Command::Lock => reply(backend::lock_reply(pm(ctx).lock())),
        Command::Search { what, text, vault } => {
            open(ctx, &vault, input)?;
            let lookup = if text {
                backend::text_lookup(&what)?
            } else {
                backend::site_lookup(&what)?
            };
            let hits = pm(ctx).search(&lookup)?;
            reply(backend::search_reply(
                &hits,
                Page::new(0, DEFAULT_PAGE_LIMIT)?,
            ))
        }
        Command::Get { guid, vault } => {
            backend::check_guid(&guid)?;
            open(ctx, &vault, input)?;
            ctx.state.gate().require(ctx, operation::GET)?;
            reply(CredentialReply::from(&pm(ctx).get(&guid)?))
        }
        Command::Add {
            label,
            username,
            url,
            email,
            vault,
        } => {
            unlock(ctx, &vault, input)?;
            let password = secret_line(input, "the new credential's password (second line)")?;
            let change = Change {
                username,
                url,
                email,
                password: Some(password),
                ..Change::default()
            };
            reply(CredentialReply::from(&pm(ctx).create(&label, change)?))
        }
    }
}
