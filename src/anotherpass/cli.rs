//! `passbridge anotherpass ...` for people in a terminal. The same action functions as the
//! extension uses; this file only talks to the person (prompts and spinner on stderr, results on
//! stdout). Ctrl-C cancels a waiting request, which also withdraws it on the phone.

use super::commands::{self, OtpResult, UrlParams};
use super::link::{self, CompleteParams, ConfirmParams, ConfirmReply, StartParams, UnlinkParams};
use crate::api::params::NoParams;
use crate::api::{ApiError, CancelToken, Ctx, EventSink, Shared};
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Link the ANOTHERpass app: scan the QR code, enter the phone's address, compare fingerprints.
    Link {
        /// Make a new identity instead of relinking (the old clientKey is no longer produced).
        #[arg(long)]
        fresh: bool,
        /// The phone's address as ANOTHERpass shows it (IP, host name or @handle); asked if absent.
        #[arg(long)]
        server: Option<String>,
        /// The app's server port (default 8787); asked if absent.
        #[arg(long)]
        port: Option<u16>,
        /// Draw the QR code for a terminal with a light background.
        #[arg(long)]
        light_terminal: bool,
    },
    /// Ask the phone for the credential of a website and print it.
    Get {
        /// The website, e.g. https://github.com/login.
        url: String,
        /// Preferred user name.
        #[arg(long)]
        user: Option<String>,
        /// Print the raw JSON result.
        #[arg(long)]
        json: bool,
    },
    /// Show whether a phone is linked.
    Status,
    /// Forget the link (delete it in ANOTHERpass too).
    Unlink {
        /// Also forget this computer's identity (a later link gets a new clientKey).
        #[arg(long)]
        forget: bool,
    },
}

/// Runs one command against the host's state (`passbridge::backends::load_from_env`).
pub fn run(cmd: Command, state: Arc<Shared>) -> Result<(), ApiError> {
    let spinner = Spinner::new();
    let cancel = CancelToken::new();
    interrupt::forward_to(&cancel);
    let ctx = Ctx {
        state,
        events: spinner.sink(),
        cancel,
        caller: Default::default(),
    };
    let r = match cmd {
        Command::Link {
            fresh,
            server,
            port,
            light_terminal,
        } => link_flow(&ctx, &spinner, fresh, server, port, !light_terminal),
        Command::Get { url, user, json } => get(&ctx, &spinner, &url, user, json),
        Command::Status => status(&ctx),
        Command::Unlink { forget } => {
            let forget = Some(forget);
            if link::unlink(&ctx, UnlinkParams { forget })?.unlinked {
                eprintln!("Unlinked. Also delete this computer's link in ANOTHERpass.");
            } else {
                eprintln!("No phone was linked.");
            }
            Ok(())
        }
    };
    spinner.stop();
    r
}

fn get(
    ctx: &Ctx,
    spinner: &Spinner,
    url: &str,
    user: Option<String>,
    raw: bool,
) -> Result<(), ApiError> {
    spinner.start("Asking the phone…");
    let params = UrlParams {
        website: Some(url.to_owned()),
        user,
        ..Default::default()
    };
    let r = commands::fetch_credential_for_url(ctx, params);
    spinner.stop();
    let r = r?;
    let mut out = std::io::stdout().lock();
    if raw {
        // Through a `Value`, so the keys come out sorted as in a reply.
        let v = serde_json::to_value(&r).map_err(|e| ApiError::internal(e.to_string()))?;
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
        return Ok(());
    }
    let c = &r.credential.credential;
    let line = |out: &mut dyn Write, label: &str, s: &str| {
        if !s.is_empty() {
            let _ = writeln!(out, "{label:<9} {s}");
        }
    };
    line(&mut out, "Name:", &c.name);
    line(&mut out, "User:", &c.user);
    line(&mut out, "Website:", &c.website);
    line(&mut out, "Password:", &c.password);
    if let Some(OtpResult::Code(code)) = &r.credential.otp_code {
        let left = code
            .seconds_left
            .map(|s| format!(" ({s} s left)"))
            .unwrap_or_default();
        let _ = writeln!(out, "{:<9} {}{left}", "OTP:", code.code);
    }
    Ok(())
}

fn status(ctx: &Ctx) -> Result<(), ApiError> {
    let s = link::status(ctx, NoParams {})?;
    let mut out = std::io::stdout().lock();
    if s.linked {
        let port = s.port.map_or("?".to_owned(), |p| p.to_string());
        let _ = writeln!(
            out,
            "Linked to {}:{port} (vault {}, this computer is {}).\nApp key fingerprint: {}",
            s.server.as_deref().unwrap_or("?"),
            s.vault_id
                .as_ref()
                .and_then(Option::as_deref)
                .unwrap_or("?"),
            s.web_client_id.as_deref().unwrap_or("?"),
            s.app_key_fingerprint.as_deref().unwrap_or("?"),
        );
        match s.secrets {
            Some("keyring") => {
                let _ = writeln!(out, "Its keys are in the operating system's keyring.");
            }
            Some(_) => {
                let _ = writeln!(
                    out,
                    "Its keys are in the file {} (0600), not in a keyring.",
                    crate::anotherpass::store::link_path(&ctx.state.paths).display()
                );
            }
            None => {}
        }
        if let Some(p) = &s.problem {
            let _ = writeln!(out, "Problem: {p}");
        }
    } else {
        let _ = writeln!(
            out,
            "No phone is linked. Run `passbridge anotherpass link`."
        );
    }
    if let Some(l) = &s.linking {
        let _ = writeln!(
            out,
            "A linking is in progress ({}, {} s left).",
            l.stage, l.expires_in_s
        );
    }
    Ok(())
}

fn link_flow(
    ctx: &Ctx,
    spinner: &Spinner,
    fresh: bool,
    server: Option<String>,
    port: Option<u16>,
    dark_terminal: bool,
) -> Result<(), ApiError> {
    // No text of its own: the `generating_key` event says it, once, when a key is made.
    spinner.start("");
    let started = link::start(ctx, StartParams { fresh: Some(fresh) });
    spinner.stop();
    let started = started?;
    let qr = super::qr::terminal(&started.qr_payload, dark_terminal)
        .map_err(|e| ApiError::internal(format!("cannot draw the QR code: {e}")))?;
    eprintln!("{qr}");
    eprintln!(
        "In ANOTHERpass on your phone, open the screen to link a new device, give this computer a name\n\
         and scan the code above. {}",
        if started.relink {
            "(Relinking: delete the old link in the app first.)"
        } else {
            ""
        }
    );
    let mut lines = std::io::stdin().lock().lines();
    let mut ask = |prompt: &str| -> Option<String> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        lines
            .next()
            .and_then(Result::ok)
            .map(|l| l.trim().to_owned())
    };
    let abort = |ctx: &Ctx| {
        let _ = link::confirm(
            ctx,
            ConfirmParams {
                matches: Some(false),
            },
        );
    };
    let mut server = server;
    let completed = loop {
        let Some(addr) = server.take().or_else(|| {
            ask("Phone address shown in ANOTHERpass (IP, host name or @handle; empty to stop): ")
        }) else {
            abort(ctx);
            return Err(ApiError::cancelled());
        };
        if addr.is_empty() {
            abort(ctx);
            return Err(ApiError::cancelled());
        }
        // Check each answer at once, so a typo is asked again right away.
        if let Err(e) = super::address::Server::parse(&addr) {
            eprintln!("{e}");
            continue;
        }
        let port = match port {
            Some(p) => u64::from(p),
            None => loop {
                let answer = ask("Port [8787]: ").unwrap_or_default();
                if answer.is_empty() {
                    break u64::from(super::address::DEFAULT_PORT);
                }
                match answer.parse::<u64>().map_err(|_| ()).and_then(|p| {
                    super::address::check_port(p)
                        .map(u64::from)
                        .map_err(|e| eprintln!("{e}"))
                }) {
                    Ok(p) => break p,
                    Err(()) => eprintln!("Enter the port number ANOTHERpass shows (1024–49151)."),
                }
            },
        };
        spinner.start("Waiting for ANOTHERpass (it creates its own key now)…");
        let target = CompleteParams {
            server: Some(addr),
            port: Some(port),
        };
        let r = link::complete(ctx, target);
        spinner.stop();
        match r {
            Ok(v) => break v,
            Err(e) if e.code() == "phone_unreachable" => eprintln!("{e}"),
            Err(e) => {
                abort(ctx);
                return Err(e.into());
            }
        }
    };
    let fp = &completed.fingerprint;
    eprintln!("\nANOTHERpass now shows a fingerprint for this link.\n\n    {fp}\n");
    let yes = loop {
        match ask("Does the phone show exactly this fingerprint? [y/n] ")
            .map(|a| a.to_ascii_lowercase())
            .as_deref()
        {
            Some("y" | "yes") => break true,
            Some("n" | "no") | None => break false,
            _ => {}
        }
    };
    let r = link::confirm(ctx, ConfirmParams { matches: Some(yes) })?;
    if let ConfirmReply::Linked {
        vault_id, warning, ..
    } = &r
    {
        eprintln!(
            "Linked to vault {vault_id}. Tap accept in ANOTHERpass too, if you have not yet."
        );
        if let Some(w) = warning {
            eprintln!("Warning: {w}");
        }
        Ok(())
    } else {
        eprintln!(
            "Not linked. Deny the link in ANOTHERpass; someone may be interfering with your network."
        );
        Err(ApiError::new(
            super::error::codes::LINK_FINGERPRINT,
            "The fingerprints did not match; nothing was saved.",
        ))
    }
}

/// A one-line spinner on stderr that shows the latest progress message and the request
/// fingerprint. Without a terminal it prints each new message once instead of animating.
#[derive(Clone)]
struct Spinner {
    inner: Arc<Mutex<SpinState>>,
    tty: bool,
}

#[derive(Default)]
struct SpinState {
    text: String,
    printed: String,
    running: bool,
    generation: u64,
}

impl Spinner {
    fn new() -> Self {
        Self {
            inner: Arc::default(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn set(&self, text: String) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !self.tty && !text.is_empty() && s.printed != text {
            eprintln!("{text}");
            s.printed = text.clone();
        }
        s.text = text;
    }

    fn start(&self, text: &str) {
        self.set(text.to_owned());
        if !self.tty {
            return;
        }
        let generation = {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            s.running = true;
            s.generation += 1;
            s.generation
        };
        let inner = self.inner.clone();
        std::thread::spawn(move || {
            const FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            for i in 0.. {
                {
                    let s = inner.lock().unwrap_or_else(|e| e.into_inner());
                    if !s.running || s.generation != generation {
                        return;
                    }
                    eprint!("\r\x1b[2K{} {}", FRAMES[i % FRAMES.len()], s.text);
                    let _ = std::io::stderr().flush();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }

    fn stop(&self) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.running && self.tty {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
        s.running = false;
    }

    /// Progress events become the spinner's text.
    fn sink(&self) -> EventSink {
        let me = self.clone();
        EventSink::new(
            true,
            Arc::new(move |ev: Value| {
                let fp = ev["fingerprint"]
                    .as_str()
                    .map(|f| format!(" [{f}]"))
                    .unwrap_or_default();
                let text = match ev["stage"].as_str() {
                    Some("generating_key") => {
                        format!("Creating this computer's RSA-{} key…", ev["bits"])
                    }
                    Some("requesting") => format!("Asking the phone… compare the fingerprint{fp}"),
                    Some(_) => match ev["message"].as_str() {
                        Some(m) => format!("{m}{fp}"),
                        None => return,
                    },
                    None => return,
                };
                me.set(text);
            }),
        )
    }
}

/// Ctrl-C → cancel token (Unix). The handler only sets a flag; a watcher thread does the rest.
mod interrupt {
    use super::*;

    static INTERRUPTED: AtomicBool = AtomicBool::new(false);

    #[cfg(unix)]
    extern "C" fn on_sigint(_: libc::c_int) {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }

    pub fn forward_to(cancel: &CancelToken) {
        #[cfg(unix)]
        {
            // SAFETY: the handler is async-signal-safe (one atomic store) and lives for the
            // whole program.
            unsafe {
                libc::signal(
                    libc::SIGINT,
                    on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                loop {
                    if INTERRUPTED.swap(false, Ordering::SeqCst) {
                        eprintln!("\nCancelling…");
                        cancel.cancel();
                        // A second Ctrl-C ends the program at once.
                        // SAFETY: restores the default action.
                        unsafe {
                            libc::signal(libc::SIGINT, libc::SIG_DFL);
                        }
                        // A waiting request withdraws itself within about a second; a prompt
                        // blocked on the keyboard never returns, so end the program then.
                        std::thread::sleep(Duration::from_secs(3));
                        std::process::exit(130);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        #[cfg(not(unix))]
        let _ = cancel;
    }
}
