//! `passbridge passman ...` for people in a terminal. Each command runs the same action the
//! extension sends. Secrets come from stdin, never from the command line (which other users can
//! see). A terminal process holds no key between commands: the ones that read credentials unlock
//! first with the vault password from stdin.

use crate::api::context::EventSink;
use crate::api::{ApiError, CancelToken, Ctx, Shared};
use serde_json::{Value, json};
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
    /// Credentials for a web address, or containing a text; the vault password is read from stdin.
    Search {
        /// A web address, or with --text any text.
        what: String,
        #[arg(long)]
        text: bool,
        #[command(flatten)]
        vault: Vault,
    },
    /// One credential with its password and one-time code; the vault password is read from stdin.
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

fn call(ctx: &Ctx, action: &str, params: Value) -> Result<Value, ApiError> {
    let a = super::actions()
        .into_iter()
        .find(|a| a.name == action)
        .expect("a passman action");
    (a.handler)(ctx, &params)
}

fn unlock(ctx: &Ctx, vault: &Vault, input: &mut dyn BufRead) -> Result<Value, ApiError> {
    let password = secret_line(input, "the vault password")?;
    call(
        ctx,
        "passman.unlock",
        json!({"vault": vault.vault, "password": &*password}),
    )
}

pub fn run_with(ctx: &Ctx, cmd: Command, input: &mut dyn BufRead) -> Result<Value, ApiError> {
    match cmd {
        Command::Setup {
            server,
            login,
            vault,
            allow_http,
        } => {
            let app_password = secret_line(input, "the app password")?;
            call(
                ctx,
                "passman.setup",
                json!({"server": server, "login": login, "app_password": &*app_password,
                       "vault": vault, "allow_http": allow_http}),
            )
        }
        Command::Vaults => call(ctx, "passman.vaults", json!({})),
        Command::Unlock { vault } => unlock(ctx, &vault, input),
        Command::Lock => call(ctx, "passman.lock", json!({})),
        Command::Search { what, text, vault } => {
            unlock(ctx, &vault, input)?;
            let key = if text { "query" } else { "url" };
            call(ctx, "passman.search", json!({key: what}))
        }
        Command::Get { guid, vault } => {
            unlock(ctx, &vault, input)?;
            call(ctx, "passman.get", json!({"guid": guid}))
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
            call(
                ctx,
                "passman.create",
                json!({"label": label, "username": username, "url": url, "email": email,
                       "password": &*password}),
            )
        }
    }
}
