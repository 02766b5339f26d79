//! `passbridge clarion ...` for people in a terminal. Same flows and checks as the actions.

use super::actions;
use super::loopback::{CallbackServer, Handled};
use super::pending::PENDING_TTL_SECONDS;
use super::register::{self, Callback, StartRequest};
use crate::api::{ApiError, Ctx, EventSink, Shared};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the server, the number of keys and the policy.
    Status,
    /// Register a security key: prints a URL to open in a browser, then waits for the Clarion
    /// page to post the result back to a one-shot loopback server.
    Register {
        /// The Clarion server, e.g. https://clarion.example (default: the one already configured).
        #[arg(long)]
        server: Option<String>,
        /// The user name Clarion shows.
        #[arg(long, default_value = super::approval::CLIENT_NAME)]
        name: String,
        /// A note Clarion shows on its page.
        #[arg(long)]
        comment: Option<String>,
        /// Give up after this many seconds (at most 600).
        #[arg(long, default_value_t = 600)]
        timeout_seconds: u64,
    },
    /// List the registered keys.
    Keys,
    /// Remove a registered key by its handle.
    Remove { handle: String },
    /// Ask for a verified touch of a registered key.
    Authenticate {
        #[arg(long)]
        comment: Option<String>,
    },
    /// Show the approval policy.
    Policy,
    /// Set the approval policy (weakening it asks for a touch first).
    SetPolicy {
        /// Operations that need an approval (comma-separated; the list is in `passbridge
        /// clarion policy`). Give `--require ""` for none.
        #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
        require: Vec<String>,
        /// How long one approval counts, in seconds (0: every time; at most 3600).
        #[arg(long)]
        ttl_seconds: Option<u64>,
    },
}

fn context(state: Arc<Shared>) -> Ctx {
    let mut ctx = Ctx::new(state);
    // Approvals: tell the person which page to open.
    ctx.events = EventSink::new(
        true,
        Arc::new(|ev: Value| {
            if let Some(url) = ev.get("html_url").and_then(Value::as_str) {
                let why = ev.get("comment").and_then(Value::as_str).unwrap_or("");
                eprintln!(
                    "Approval needed ({why}). Open this page and touch your security key:\n  {url}"
                );
            }
        }),
    );
    ctx
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("JSON prints"));
}

/// Runs one command against the host's state (`passbridge::backends::load_from_env`).
pub fn run(cmd: Command, state: Arc<Shared>) -> Result<(), ApiError> {
    let ctx = context(state);
    match cmd {
        Command::Status => print(&super::summary(&ctx)),
        Command::Register {
            server,
            name,
            comment,
            timeout_seconds,
        } => register_via_loopback(&ctx, server, name, comment, timeout_seconds)?,
        Command::Keys => {
            let r = actions::keys(
                &ctx,
                actions::Keys {
                    offset: 0,
                    limit: 1000,
                },
            )?;
            let items = r["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("No security key is registered.");
            }
            for k in items {
                println!(
                    "{}  {}  counter {}  registered {}",
                    k["handle"].as_str().unwrap_or(""),
                    k["name"].as_str().unwrap_or("(no name)"),
                    k["counter"],
                    k["registered_at"].as_str().unwrap_or("")
                );
            }
        }
        Command::Remove { handle } => print(&actions::remove(&ctx, actions::Remove { handle })?),
        Command::Authenticate { comment } => print(&actions::authenticate(
            &ctx,
            actions::Authenticate { comment },
        )?),
        Command::Policy => print(&actions::policy(&ctx, actions::NoParams {})?),
        Command::SetPolicy {
            require,
            ttl_seconds,
        } => {
            let require: Vec<String> = require.into_iter().filter(|r| !r.is_empty()).collect();
            print(&actions::policy_set(
                &ctx,
                actions::PolicySet {
                    require: Some(require),
                    approval_ttl_seconds: ttl_seconds,
                },
            )?)
        }
    }
    Ok(())
}

fn register_via_loopback(
    ctx: &Ctx,
    server: Option<String>,
    name: String,
    comment: Option<String>,
    timeout_seconds: u64,
) -> Result<(), ApiError> {
    let listener = CallbackServer::bind()
        .map_err(|e| ApiError::internal(format!("cannot listen on 127.0.0.1: {e}")))?;
    let started = register::start(
        ctx,
        StartRequest {
            server,
            name,
            comment,
            callback: Callback::Url(listener.url().to_owned()),
        },
    )?;
    println!(
        "Open this URL in a browser and follow the Clarion page to register your security key:\n  {}",
        started.url
    );
    println!(
        "Waiting for the result on {} (Clarion's CLARION_REGISTRATION_ALLOWED_URL must allow it)...",
        listener.url()
    );
    let wait = Duration::from_secs(timeout_seconds.min(PENDING_TTL_SECONDS as u64));
    let ours = started.state.as_bytes().to_vec();
    let key = listener.serve(Instant::now() + wait, |state, data| {
        if aws_lc_rs::constant_time::verify_slices_are_equal(state.as_bytes(), &ours).is_err() {
            return Handled::NotOurs;
        }
        match register::finish(ctx, state, data) {
            Ok(k) => Handled::Done(k),
            Err(e) => Handled::Failed(e.into()),
        }
    })?;
    match key {
        Some(k) => {
            println!(
                "Registered security key {} ({}).",
                k.handle,
                k.name.as_deref().unwrap_or("no name")
            );
            Ok(())
        }
        None => Err(super::Error::RegistrationTimeout.into()),
    }
}
