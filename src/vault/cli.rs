//! `passbridge vault ...` for people in a terminal. Each command runs the same action function
//! the extension calls. A vault unlocked in a browser is open here too (through the passbridge
//! agent); otherwise commands that need it open unlock it first: with `--password-stdin`, with
//! the local password typed at the terminal (when one is set), or with the phone.

use super::actions::{
    self, ClearPasswordParams, ConfirmParams, ListParams, SearchParams, SetPasswordParams,
    StatusReply, SyncReply, UidParams, UnlockParams,
};
use super::error::VaultError;
use super::session::Listing;
use crate::api::context::EventSink;
use crate::api::params::{DEFAULT_PAGE_LIMIT, NoParams, Page};
use crate::api::{ApiError, CancelToken, Ctx, Shared, codes};
use serde::Serialize;
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Unlock {
    /// Unlock with the local vault password, read from the first line of stdin, instead of
    /// asking the phone.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Output {
    /// Print the action's JSON result instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Whether the vault exists, is locked, and how many credentials it holds.
    Status {
        #[command(flatten)]
        out: Output,
    },
    /// Credentials by name, without passwords.
    List {
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long, default_value_t = DEFAULT_PAGE_LIMIT)]
        limit: usize,
        #[command(flatten)]
        unlock: Unlock,
        #[command(flatten)]
        out: Output,
    },
    /// Credentials for a web address, best match first, without passwords. A word that is not
    /// an address (`github`) finds the names and websites that contain it.
    Search {
        url: String,
        #[command(flatten)]
        unlock: Unlock,
        #[command(flatten)]
        out: Output,
    },
    /// One credential with its password, by uid or by the readable uid the phone shows.
    Get {
        uid: String,
        #[command(flatten)]
        unlock: Unlock,
        #[command(flatten)]
        out: Output,
    },
    /// Remove a credential from the vault (not from the phone), by uid or readable uid.
    Delete {
        uid: String,
        #[command(flatten)]
        unlock: Unlock,
    },
    /// Refresh the stored credentials from the phone.
    Sync {
        #[command(flatten)]
        unlock: Unlock,
        #[command(flatten)]
        out: Output,
    },
    /// Lock the vault in every running passbridge (both browsers).
    Lock,
    /// Set the local password (read from stdin) that opens the vault without the phone.
    SetPassword {
        /// Unlock with the current local password: stdin holds the current password on the
        /// first line and the new one on the second.
        #[arg(long)]
        current_password_stdin: bool,
    },
    /// Remove the local password.
    ClearPassword {
        #[command(flatten)]
        unlock: Unlock,
    },
    /// Replace the vault's data key and re-seal every credential (after a suspected leak).
    Rekey {
        #[command(flatten)]
        unlock: Unlock,
    },
    /// Accept the vault on disk although it is older than one this computer used: only after
    /// a deliberate restore from a backup.
    AcceptRestore {
        /// Confirm: without it nothing happens.
        #[arg(long)]
        yes: bool,
    },
    /// Move the vault aside (it is kept, not deleted) so a new one can start.
    Reset {
        /// Confirm: without it nothing happens.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs one command against the host's state (`passbridge::backends::load_from_env`).
pub fn run(cmd: Command, state: Arc<Shared>) -> Result<(), ApiError> {
    let last = Mutex::new(String::new());
    let ctx = Ctx {
        state,
        events: EventSink::new(true, Arc::new(move |ev| print_progress(&last, ev))),
        cancel: CancelToken::new(),
        caller: Default::default(),
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let tty = stdin.is_terminal();
    let ask: &Ask<'_> = &ask_on_terminal;
    run_with_prompt(
        &ctx,
        cmd,
        &mut stdin.lock(),
        &mut stdout.lock(),
        tty.then_some(ask),
    )
}

/// What the phone client reports while it waits, each new situation once: "approve on your
/// phone" only after the request reached the phone, "cannot reach the phone" as soon as a
/// connection fails.
fn print_progress(last: &Mutex<String>, ev: Value) {
    if ev["stage"] != "waiting" {
        return;
    }
    let (Some(reason), Some(message)) = (ev["reason"].as_str(), ev["message"].as_str()) else {
        return;
    };
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    if *last != reason {
        eprintln!("passbridge: {message}");
        *last = reason.to_owned();
    }
}

/// Asks for a secret with `prompt`; an empty answer means "use the phone instead".
pub type Ask<'a> = dyn Fn(&str) -> std::io::Result<Zeroizing<String>> + 'a;

/// Reads a line from the terminal on stdin without echoing it.
#[cfg(unix)]
fn ask_on_terminal(prompt: &str) -> std::io::Result<Zeroizing<String>> {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdin().as_raw_fd();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    // SAFETY: termios is plain data, filled by tcgetattr before use.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: a valid termios for a terminal fd.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin().read_line(&mut line);
    // SAFETY: as above; restores what was there.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    read?;
    Ok(Zeroizing::new(
        line.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

#[cfg(not(unix))]
fn ask_on_terminal(_prompt: &str) -> std::io::Result<Zeroizing<String>> {
    Ok(Zeroizing::new(String::new()))
}

fn read_secret_line(input: &mut dyn BufRead, what: &str) -> Result<Zeroizing<String>, ApiError> {
    let mut line = Zeroizing::new(String::new());
    input.read_line(&mut line).map_err(|e| {
        ApiError::invalid_params(format!("Cannot read the {what} from stdin: {e}."))
    })?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
    if trimmed.is_empty() {
        return Err(ApiError::invalid_params(format!(
            "Expected the {what} on a line of stdin."
        )));
    }
    Ok(trimmed)
}

/// Attempts at the local password before giving up.
const PASSWORD_TRIES: usize = 3;

/// Unlocks as asked; returns the password read, for an action that needs it again.
fn unlock(
    ctx: &Ctx,
    how: &Unlock,
    input: &mut dyn BufRead,
    ask: Option<&Ask<'_>>,
) -> Result<Option<Zeroizing<String>>, ApiError> {
    if how.password_stdin {
        let pw = read_secret_line(input, "vault password")?;
        actions::unlock(
            ctx,
            UnlockParams {
                password: Some(pw.clone()),
            },
        )?;
        return Ok(Some(pw));
    }
    // Open already (here or in a browser, through the agent) or no password: as before.
    let status = actions::status(ctx, NoParams {})?.status;
    if let Some(ask) = ask.filter(|_| status.locked && status.password_set) {
        for attempt in 1..=PASSWORD_TRIES {
            let pw = ask("Vault password (Enter to ask the phone instead): ")
                .map_err(|e| ApiError::invalid_params(format!("Cannot read the password: {e}.")))?;
            if pw.is_empty() {
                break;
            }
            let tried = UnlockParams {
                password: Some(pw.clone()),
            };
            match actions::unlock(ctx, tried) {
                Err(VaultError::WrongPassword) if attempt < PASSWORD_TRIES => {
                    eprintln!("passbridge: that password is wrong; try again.");
                }
                Err(e) => return Err(e.into()),
                Ok(_) => return Ok(Some(pw)),
            }
        }
    }
    actions::unlock(ctx, UnlockParams::default())?;
    Ok(None)
}

/// Runs one command against `ctx`, reading secrets from `input` and writing to `out`.
pub fn run_with(
    ctx: &Ctx,
    cmd: Command,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), ApiError> {
    run_with_prompt(ctx, cmd, input, out, None)
}

/// [`run_with`], asking for the local password with `ask` (a terminal) before the phone.
pub fn run_with_prompt(
    ctx: &Ctx,
    cmd: Command,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    ask: Option<&Ask<'_>>,
) -> Result<(), ApiError> {
    let text = match cmd {
        Command::Status { out: o } => show(&actions::status(ctx, NoParams {})?, o, render_status)?,
        Command::List {
            offset,
            limit,
            unlock: u,
            out: o,
        } => {
            unlock(ctx, &u, input, ask)?;
            let page = ListParams {
                offset: Some(offset),
                limit: Some(limit),
            };
            show(&actions::list(ctx, page)?, o, render_list)?
        }
        Command::Search {
            url,
            unlock: u,
            out: o,
        } => {
            unlock(ctx, &u, input, ask)?;
            if is_plain_word(&url) {
                let page = Page::new(0, DEFAULT_PAGE_LIMIT)?;
                show(&actions::find_text(ctx, &url, page)?, o, render_list)?
            } else {
                let params = SearchParams {
                    url: Some(url),
                    ..Default::default()
                };
                show(&actions::search(ctx, params)?, o, |r| {
                    render_list(&r.listing)
                })?
            }
        }
        Command::Get {
            uid,
            unlock: u,
            out: o,
        } => {
            unlock(ctx, &u, input, ask)?;
            show(
                &actions::get(ctx, UidParams::new(uid))?,
                o,
                render_credential,
            )?
        }
        Command::Delete { uid, unlock: u } => {
            unlock(ctx, &u, input, ask)?;
            actions::delete(ctx, UidParams::new(uid))?;
            "Deleted.".into()
        }
        Command::Sync { unlock: u, out: o } => {
            unlock(ctx, &u, input, ask)?;
            show(&actions::sync(ctx, NoParams {})?, o, render_sync)?
        }
        Command::Lock => {
            if !actions::status(ctx, NoParams {})?.status.exists {
                return write_line(out, "There is no vault yet: nothing to lock.");
            }
            actions::lock(ctx, NoParams {})?;
            "Locked in every browser and terminal.".into()
        }
        Command::SetPassword {
            current_password_stdin,
        } => {
            let current = unlock(
                ctx,
                &Unlock {
                    password_stdin: current_password_stdin,
                },
                input,
                ask,
            )?;
            let password = read_secret_line(input, "new vault password")?;
            let params = SetPasswordParams {
                password: Some(password),
                current_password: current,
            };
            actions::set_password(ctx, params)?;
            "The local password is set: the vault now also opens with it.".into()
        }
        Command::ClearPassword { unlock: u } => {
            let current_password = unlock(ctx, &u, input, ask)?;
            actions::clear_password(ctx, ClearPasswordParams { current_password })?;
            "The local password is removed.".into()
        }
        Command::Rekey { unlock: u } => {
            unlock(ctx, &u, input, ask)?;
            let r = actions::rekey(ctx, NoParams {})?;
            format!(
                "The vault has a new data key; {} credential(s) were re-sealed. Running \
                 passbridge hosts take it from the agent (without one they lock and need \
                 to be unlocked again).",
                r.entries
            )
        }
        Command::AcceptRestore { yes } => {
            if !yes {
                return Err(ApiError::invalid_params(
                    "accept-restore accepts a vault older than one this computer used (after a \
                     deliberate restore from a backup); add --yes to do it.",
                ));
            }
            actions::accept_restore(ctx, ConfirmParams::YES)?;
            "The vault on disk is accepted as it is. Unlock it again.".into()
        }
        Command::Reset { yes } => {
            if !yes {
                return Err(ApiError::invalid_params(
                    "reset moves the vault aside and starts an empty one; add --yes to do it.",
                ));
            }
            match actions::reset(ctx, ConfirmParams::YES)?.moved_to {
                Some(p) => {
                    format!("The old vault was moved to {p}. A new one starts with the next fetch.")
                }
                None => "There was no vault.".into(),
            }
        }
    };
    write_line(out, &text)
}

/// A result as text for a person, or with `--json` as the action's JSON result (the same
/// object the extension gets).
fn show<T: Serialize>(r: &T, o: Output, render: impl Fn(&T) -> String) -> Result<String, ApiError> {
    if !o.json {
        return Ok(render(r));
    }
    // Through a `Value`, so the keys come out sorted as in a reply.
    let v = serde_json::to_value(r).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// A word that is not a web address (`github`, not `github.com` or `https://…`): searched as
/// text in names and websites.
fn is_plain_word(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && !s.contains(['.', ':', '/', '[', ' '])
}

fn write_line(out: &mut dyn Write, text: &str) -> Result<(), ApiError> {
    match writeln!(out, "{text}") {
        // `| head` closed the pipe: nothing left to tell anyone.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| ApiError::new(codes::STORAGE, e.to_string())),
    }
}

fn render_sync(r: &SyncReply) -> String {
    let mut out = format!("{} updated, {} unchanged.", r.updated, r.unchanged);
    if r.missing_count == 0 {
        return out;
    }
    out.push_str(&format!(
        "\n{} stored credential(s) were not returned by the phone: deleted there, or hidden (veiled). \
         They are kept here; `passbridge vault delete UID` removes one:",
        r.missing_count
    ));
    for uid in &r.missing {
        out.push_str(&format!("\n  {uid}"));
    }
    let more = r.missing_count.saturating_sub(r.missing.len());
    if more > 0 {
        out.push_str(&format!("\n  … and {more} more"));
    }
    out
}

fn render_status(r: &StatusReply) -> String {
    let s = &r.status;
    if !s.exists {
        return "No vault yet: it is created when credentials first arrive from ANOTHERpass."
            .into();
    }
    let mut text = match (s.locked, s.entries) {
        (false, Some(n)) => format!(
            "Vault unlocked, {n} credential(s), locks after {} min without use.",
            s.ttl_remaining_seconds.unwrap_or(0).div_ceil(60)
        ),
        _ => "Vault locked.".to_owned(),
    };
    text.push_str(if s.password_set {
        " A local password is set."
    } else {
        " No local password: it opens with the phone only."
    });
    text
}

/// The columns a list shows of one item.
trait Row {
    fn cells(&self) -> [String; 4];
}

impl Row for super::session::Summary {
    fn cells(&self) -> [String; 4] {
        [&self.name, &self.user, &self.website, &self.uid].map(String::clone)
    }
}

impl Row for super::session::Hit {
    fn cells(&self) -> [String; 4] {
        self.summary.cells()
    }
}

fn render_list<T: Row>(v: &Listing<T>) -> String {
    if v.items.is_empty() {
        return "No credentials.".into();
    }
    let rows: Vec<[String; 4]> = v.items.iter().map(Row::cells).collect();
    let header = ["NAME", "USER", "WEBSITE", "UID"].map(String::from);
    let widths: Vec<usize> = (0..4)
        .map(|c| {
            rows.iter()
                .chain([&header])
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
                .min(40)
        })
        .collect();
    let line = |r: &[String; 4]| {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{:<w$}", s.chars().take(*w).collect::<String>(), w = *w))
            .collect();
        cells.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(&header)];
    out.extend(rows.iter().map(line));
    if let Some(next) = v.next_offset {
        out.push(format!(
            "… {} in all; next page with --offset {next}",
            v.total
        ));
    }
    out.join("\n")
}

fn render_credential(c: &actions::CredentialReply) -> String {
    [
        ("name", &c.name),
        ("user", &c.user),
        ("password", &c.password),
        ("website", &c.website),
        ("otp", &c.otp),
        ("uid", &c.uid),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}: {v}"))
    .collect::<Vec<_>>()
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_output_names_the_missing_uids_and_how_many_more() {
        let quiet = SyncReply {
            updated: 1,
            unchanged: 2,
            missing: vec![],
            missing_count: 0,
            asked: 3,
        };
        assert_eq!(render_sync(&quiet), "1 updated, 2 unchanged.");
        let v = SyncReply {
            updated: 0,
            unchanged: 1,
            missing: vec!["a-1".into(), "b-2".into()],
            missing_count: 5,
            asked: 6,
        };
        let text = render_sync(&v);
        assert!(
            text.starts_with("0 updated, 1 unchanged.\n5 stored credential(s)"),
            "{text}"
        );
        assert!(text.contains("kept here"), "{text}");
        assert!(text.contains("\n  a-1\n  b-2\n  … and 3 more"), "{text}");
    }
}
