//! The `passbridge` binary: argument parsing, logging, wiring, exit codes. Nothing else.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use passbridge::api::dispatch::Dispatcher;
use passbridge::api::{ApiError, codes, parse_request};
use passbridge::backends;
use passbridge::nm::{caller, frame, hint, host, stdio};
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "passbridge",
    version,
    about = "Native messaging host: lets a browser extension use ANOTHERpass, a local encrypted vault and Clarion.",
    long_about = "passbridge is started by Firefox or Chrome when an allowed extension connects to it.\n\
                  Run `passbridge install --firefox-extension-id ID` or `--chrome-extension-id ID` once to register it,\n\
                  `passbridge doctor` to check the registration, and `passbridge call '{\"action\":\"hello\"}'` to try a request.",
    after_help = "Examples:\n  \
                  passbridge call '{\"action\":\"hello\"}'\n  \
                  echo '{\"action\":\"ping\"}' | passbridge frame | passbridge | passbridge unframe\n  \
                  passbridge install --firefox-extension-id passbridge@example.org && passbridge doctor\n\n\
                  Browsers start passbridge with their own arguments (a chrome-extension:// origin, or a manifest path and\n\
                  add-on id); with no arguments and piped input it serves framed requests as the local user.\n\n\
                  Environment: PASSBRIDGE_HOME (keep all files under one directory), PASSBRIDGE_LOG (error|warn|info|debug|trace),\n\
                  PASSBRIDGE_LOG_FILE (also log to this file)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve framed requests on stdin/stdout (what a browser launches).
    Host,
    /// Run one JSON request in-process and print the reply (progress events go to stderr).
    Call {
        /// The request, e.g. '{"action":"ping","params":{"x":1}}'.
        request: String,
    },
    /// Turn newline-delimited JSON on stdin into framed messages on stdout.
    Frame,
    /// Turn framed messages on stdin into one JSON line each on stdout.
    Unframe,
    /// Register passbridge with the browsers on this machine.
    Install(passbridge::install::cli::InstallArgs),
    /// Remove every registration `install` wrote.
    Uninstall(passbridge::install::cli::UninstallArgs),
    /// Check each browser registration and say what to fix.
    Doctor(passbridge::install::cli::DoctorArgs),
    /// Link the ANOTHERpass phone app and fetch credentials from it.
    #[command(subcommand)]
    Anotherpass(passbridge::anotherpass::cli::Command),
    /// The local encrypted vault.
    #[command(subcommand)]
    Vault(passbridge::vault::cli::Command),
    /// Clarion security-key approvals.
    #[command(subcommand)]
    Clarion(passbridge::clarion::cli::Command),
    /// Passman on a Nextcloud server.
    #[command(subcommand)]
    Passman(passbridge::passman::cli::Command),
    /// PassWeaver team folders, personal folders and one-time secrets.
    #[command(subcommand)]
    Passweaver(passbridge::passweaver::cli::Command),
    /// The per-user agent that shares one unlock between browsers and the terminal.
    Agent(passbridge::agent::cli::Args),
    /// Lock everything, in every browser and terminal.
    Lock,
}

fn main() -> ExitCode {
    passbridge::harden::process();
    passbridge::agent::allow_starting_from_this_binary();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let as_host = caller::looks_like_browser_launch(&args)
        || (args.is_empty() && !std::io::stdin().is_terminal());
    if as_host {
        return run_host(&args);
    }
    // `passbridge host` skips building the CLI (every subcommand's clap tree and the policy
    // help): that was a third of a one-shot host's start-up time (issue 14).
    if args.len() == 1 && args[0] == "host" {
        return run_host(&[]);
    }
    quiet_on_broken_pipe();
    let cli = parse_cli();
    passbridge::logging::init(log::LevelFilter::Warn);
    let result = match cli.command {
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            return ExitCode::SUCCESS;
        }
        Some(Command::Host) => return run_host(&[]),
        Some(Command::Call { request }) => call(&request),
        Some(Command::Frame) => frame_lines(),
        Some(Command::Unframe) => unframe(),
        Some(Command::Install(a)) => passbridge::install::cli::install(a).map_err(Into::into),
        Some(Command::Uninstall(a)) => passbridge::install::cli::uninstall(a).map_err(Into::into),
        Some(Command::Doctor(a)) => passbridge::install::cli::doctor(a).map_err(Into::into),
        Some(Command::Anotherpass(c)) => backends::load_from_env()
            .map_err(anyhow::Error::from)
            .and_then(|s| passbridge::anotherpass::cli::run(c, s).map_err(Into::into)),
        Some(Command::Vault(c)) => backends::load_from_env()
            .map_err(anyhow::Error::from)
            .and_then(|s| passbridge::vault::cli::run(c, s).map_err(Into::into)),
        Some(Command::Clarion(c)) => backends::load_from_env()
            .map_err(anyhow::Error::from)
            .and_then(|s| passbridge::clarion::cli::run(c, s).map_err(Into::into)),
        Some(Command::Passman(c)) => backends::load_from_env()
            .map_err(anyhow::Error::from)
            .and_then(|s| passbridge::passman::cli::run(c, s).map_err(Into::into)),
        Some(Command::Passweaver(c)) => passbridge::passweaver::cli::run(c).map_err(Into::into),
        Some(Command::Agent(a)) => {
            passbridge::agent::cli::run(a, &mut std::io::stdout().lock()).map_err(Into::into)
        }
        Some(Command::Lock) => backends::load_from_env()
            .map_err(anyhow::Error::from)
            .and_then(|s| backends::lock_all(&s).map_err(Into::into))
            .map(|_| println!("Locked in every browser and terminal.")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        // Already said on stdout (`call` prints the error reply).
        Err(e) if e.is::<Failed>() => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "passbridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A failure already reported to the user: exit 1 without another message.
#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

/// `passbridge … | head` closes the pipe early: as ripgrep does, that is a quiet exit 0. Our
/// own writes return the error (see [`is_broken_pipe`]); this catches the print macros, which
/// panic on a closed stdout or stderr, wherever they are (progress lines, prompts, QR codes).
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_print_to_closed_pipe(text) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// std's print macros panic with "failed printing to stdout: <io error>".
fn is_print_to_closed_pipe(panic_text: &str) -> bool {
    let broken = std::io::Error::from(std::io::ErrorKind::BrokenPipe).to_string();
    panic_text.starts_with("failed printing to std")
        && (panic_text.contains(&broken)
            || panic_text.contains("Broken pipe")
            || panic_text.contains("os error 32")
            || panic_text.contains("os error 232"))
}

/// Parses the command line; the policy help lists the operations the backends declare.
fn parse_cli() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let cmd = Cli::command().mut_subcommand("clarion", |c| {
        c.mut_subcommand("set-policy", |c| {
            c.mut_arg("require", |a| a.help(backends::policy_help()))
        })
    });
    Cli::from_arg_matches(&cmd.get_matches()).unwrap_or_else(|e| e.exit())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Host mode. Exit 0 on a clean EOF, 2 when the stream broke, 1 when we could not start.
fn run_host(args: &[OsString]) -> ExitCode {
    if args.is_empty() && std::io::stdout().is_terminal() {
        return refuse_terminal_output();
    }
    // First, before any thread or log line: frames get a private stdout, fd 1 becomes stderr.
    let out = match stdio::take_protocol_stdout() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("passbridge: cannot set up stdout: {e}");
            return ExitCode::FAILURE;
        }
    };
    passbridge::logging::init(log::LevelFilter::Warn);
    log::debug!("host started with argv {args:?}");
    let caller = match caller::parse_caller(args) {
        Ok(c) => c,
        Err(e) => {
            // The browser still gets a typed answer to every message, then we exit 1.
            log::error!("{e}");
            let err = ApiError::new(
                codes::FORBIDDEN_CALLER,
                "passbridge was started with launch arguments it does not recognise (not a Chrome \
                 origin, nor a Firefox manifest path and add-on id). Re-run `passbridge install`.",
            );
            let max = frame::DEFAULT_MAX_INBOUND;
            let _ = host::refuse_all(std::io::stdin().lock(), out.writer, max, &err);
            return ExitCode::FAILURE;
        }
    };
    let state = match backends::load_from_env() {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let config = state.config();
    let max_inbound = config.max_inbound();
    let served = if caller.is_allowed(&passbridge::install::host_allowlist(&config.allowed)) {
        let opts = host::HostOptions {
            max_inbound,
            peer_gone: out.peer_gone,
        };
        let dispatcher = Arc::new(Dispatcher::new(state).with_caller((&caller).into()));
        host::serve(std::io::stdin().lock(), out.writer, dispatcher, opts)
    } else {
        log::warn!(
            "refusing requests from {}: not in the allowlist (run `passbridge install` with its id)",
            caller.describe()
        );
        let err = ApiError::new(
            codes::FORBIDDEN_CALLER,
            format!(
                "{} may not use passbridge. Re-run `passbridge install` with this extension's id.",
                caller.describe()
            ),
        );
        host::refuse_all(std::io::stdin().lock(), out.writer, max_inbound, &err)
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(2)
        }
    }
}

/// Frames are binary: never write them to a terminal. Says what the person most likely meant.
fn refuse_terminal_output() -> ExitCode {
    let stdin = std::io::stdin();
    let mut prefix = [0u8; 4];
    let json_text = !stdin.is_terminal()
        && stdin.lock().read_exact(&mut prefix).is_ok()
        && hint::looks_like_json_text(prefix);
    let text = if json_text {
        hint::JSON_TEXT_HINT
    } else {
        hint::TERMINAL_OUTPUT_HINT
    };
    let _ = writeln!(std::io::stderr(), "passbridge: {text}");
    ExitCode::from(2)
}

fn call(request: &str) -> Result<()> {
    let req = match parse_request(request.as_bytes()) {
        Ok(r) => r,
        Err((_, e)) => match suggest_request(request) {
            Some(s) => bail!("{} Did you mean: passbridge call '{s}'", e.message),
            None => bail!("{}", e.message),
        },
    };
    let dispatcher = Dispatcher::new(backends::load_from_env()?);
    let reply = dispatcher.handle(req, Arc::new(|ev| eprintln!("{ev}")));
    // writeln!, not println!: a closed pipe (`| head`) is an error to report, not a panic.
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&reply)?
    )?;
    if reply["ok"] == serde_json::Value::Bool(true) {
        Ok(())
    } else {
        Err(Failed.into())
    }
}

/// `passbridge call hello` or `call 'vault.status'`: a bare action name, meant as a request.
fn suggest_request(text: &str) -> Option<String> {
    let word = text.trim();
    let name_like = !word.is_empty()
        && word.len() <= 64
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    name_like.then(|| serde_json::json!({ "action": word }).to_string())
}

fn frame_lines() -> Result<()> {
    if std::io::stdout().is_terminal() {
        bail!(
            "stdout is a terminal and frames are binary: pipe them on, e.g. \
             echo '{{\"action\":\"hello\"}}' | passbridge frame | passbridge | passbridge unframe"
        );
    }
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    for (n, line) in stdin.lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        // A frame the host would only reject: say so here, where the line number still helps.
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&line) {
            let why = e.to_string();
            let why = why.split(" at line ").next().unwrap_or_default();
            bail!(
                "line {} is not valid JSON ({why}, column {}); each line must be one JSON request, like {{\"action\":\"hello\"}}",
                n + 1,
                e.column()
            );
        }
        frame::write_frame(&mut out, line.as_bytes()).with_context(|| format!("line {}", n + 1))?;
    }
    Ok(())
}

fn unframe() -> Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    loop {
        let body = match frame::read_frame(&mut stdin, frame::DEFAULT_MAX_INBOUND) {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(frame::FrameError::TooLarge { len, .. })
                if hint::length_looks_like_json_text(len) =>
            {
                bail!("{}", hint::JSON_TEXT_HINT)
            }
            Err(e) => return Err(e.into()),
        };
        let text = String::from_utf8(body).context("a frame is not UTF-8")?;
        writeln!(out, "{text}")?;
        out.flush()?;
    }
    let mut rest = Vec::new();
    stdin.read_to_end(&mut rest)?;
    Ok(())
}
