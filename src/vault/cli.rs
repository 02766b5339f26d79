//! `passbridge vault ...` for people in a terminal. Each command runs the same action function
//! the extension calls. A terminal process starts locked: commands that need the vault open
//! unlock it first, with the phone or (`--password-stdin`) with the local password.

use super::actions;
use crate::api::context::EventSink;
use crate::api::{ApiError, CancelToken, Ctx, Shared, codes};
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::sync::Arc;
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
        offset: u64,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[command(flatten)]
        unlock: Unlock,
        #[command(flatten)]
        out: Output,
    },
    /// Credentials for a web address, best match first, without passwords.
    Search {
        url: String,
        #[command(flatten)]
        unlock: Unlock,
        #[command(flatten)]
        out: Output,
    },
    /// One credential with its password.
    Get {
        uid: String,
        #[command(flatten)]
        unlock: Unlock,
        #[command(flatten)]
        out: Output,
    },
    /// Remove a credential from the vault (not from the phone).
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
    let ctx = Ctx {
        state,
        events: EventSink::new(true, Arc::new(print_progress)),
        cancel: CancelToken::new(),
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    run_with(&ctx, cmd, &mut stdin.lock(), &mut stdout.lock())
}

fn print_progress(ev: Value) {
    if ev["stage"] == "waiting_for_phone" {
        eprintln!("passbridge: approve the request in ANOTHERpass on your phone…");
    }
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

fn unlock(ctx: &Ctx, how: &Unlock, input: &mut dyn BufRead) -> Result<(), ApiError> {
    if how.password_stdin {
        let pw = read_secret_line(input, "vault password")?;
        actions::unlock(ctx, &json!({"password": pw.as_str()}))?;
    } else {
        actions::unlock(ctx, &json!({}))?;
    }
    Ok(())
}

/// Runs one command against `ctx`, reading secrets from `input` and writing to `out`.
pub fn run_with(
    ctx: &Ctx,
    cmd: Command,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), ApiError> {
    let (value, json, render): (Value, bool, fn(&Value) -> String) = match cmd {
        Command::Status { out: o } => (actions::status(ctx, &json!({}))?, o.json, render_status),
        Command::List {
            offset,
            limit,
            unlock: u,
            out: o,
        } => {
            unlock(ctx, &u, input)?;
            let v = actions::list(ctx, &json!({"offset": offset, "limit": limit}))?;
            (v, o.json, render_list)
        }
        Command::Search {
            url,
            unlock: u,
            out: o,
        } => {
            unlock(ctx, &u, input)?;
            (
                actions::search(ctx, &json!({"url": url}))?,
                o.json,
                render_list,
            )
        }
        Command::Get {
            uid,
            unlock: u,
            out: o,
        } => {
            unlock(ctx, &u, input)?;
            (
                actions::get(ctx, &json!({"uid": uid}))?,
                o.json,
                render_credential,
            )
        }
        Command::Delete { uid, unlock: u } => {
            unlock(ctx, &u, input)?;
            actions::delete(ctx, &json!({"uid": uid}))?;
            (Value::Null, false, |_| "Deleted.".into())
        }
        Command::Sync { unlock: u, out: o } => {
            unlock(ctx, &u, input)?;
            (actions::sync(ctx, &json!({}))?, o.json, render_sync)
        }
        Command::Lock => {
            actions::lock(ctx, &json!({}))?;
            (Value::Null, false, |_| {
                "Locked. Running passbridge hosts lock on their next request.".into()
            })
        }
        Command::SetPassword {
            current_password_stdin,
        } => {
            unlock(
                ctx,
                &Unlock {
                    password_stdin: current_password_stdin,
                },
                input,
            )?;
            let pw = read_secret_line(input, "new vault password")?;
            actions::set_password(ctx, &json!({"password": pw.as_str()}))?;
            (Value::Null, false, |_| {
                "The local password is set: the vault now also opens with it.".into()
            })
        }
        Command::ClearPassword { unlock: u } => {
            unlock(ctx, &u, input)?;
            actions::clear_password(ctx, &json!({}))?;
            (Value::Null, false, |_| {
                "The local password is removed.".into()
            })
        }
        Command::Rekey { unlock: u } => {
            unlock(ctx, &u, input)?;
            let v = actions::rekey(ctx, &json!({}))?;
            (v, false, |v| {
                format!(
                    "The vault has a new data key; {} credential(s) were re-sealed. Other running \
                     passbridge hosts lock and need to be unlocked again.",
                    v["entries"]
                )
            })
        }
        Command::AcceptRestore { yes } => {
            if !yes {
                return Err(ApiError::invalid_params(
                    "accept-restore accepts a vault older than one this computer used (after a \
                     deliberate restore from a backup); add --yes to do it.",
                ));
            }
            actions::accept_restore(ctx, &json!({"confirm": true}))?;
            (Value::Null, false, |_| {
                "The vault on disk is accepted as it is. Unlock it again.".into()
            })
        }
        Command::Reset { yes } => {
            if !yes {
                return Err(ApiError::invalid_params(
                    "reset moves the vault aside and starts an empty one; add --yes to do it.",
                ));
            }
            let v = actions::reset(ctx, &json!({"confirm": true}))?;
            (v, false, |v| match v["moved_to"].as_str() {
                Some(p) => {
                    format!("The old vault was moved to {p}. A new one starts with the next fetch.")
                }
                None => "There was no vault.".into(),
            })
        }
    };
    let text = if json {
        serde_json::to_string_pretty(&value).unwrap_or_default()
    } else {
        render(&value)
    };
    writeln!(out, "{text}").map_err(|e| ApiError::new(codes::STORAGE, e.to_string()))
}

fn render_sync(v: &Value) -> String {
    let mut out = format!("{} updated, {} unchanged.", v["updated"], v["unchanged"]);
    let count = v["missing_count"].as_u64().unwrap_or(0);
    if count == 0 {
        return out;
    }
    let listed = v["missing"].as_array().map_or(&[][..], Vec::as_slice);
    out.push_str(&format!(
        "\n{count} stored credential(s) were not returned by the phone: deleted there, or hidden (veiled). \
         They are kept here; `passbridge vault delete UID` removes one:"
    ));
    for uid in listed {
        out.push_str(&format!("\n  {}", uid.as_str().unwrap_or_default()));
    }
    let more = count.saturating_sub(listed.len() as u64);
    if more > 0 {
        out.push_str(&format!("\n  … and {more} more"));
    }
    out
}

fn render_status(v: &Value) -> String {
    if v["exists"] != true {
        return "No vault yet: it is created when credentials first arrive from ANOTHERpass."
            .into();
    }
    let mut s = match (v["locked"].as_bool(), v["entries"].as_u64()) {
        (Some(false), Some(n)) => format!(
            "Vault unlocked, {n} credential(s), locks after {} min without use.",
            v["ttl_remaining_seconds"]
                .as_u64()
                .unwrap_or(0)
                .div_ceil(60)
        ),
        _ => "Vault locked.".to_owned(),
    };
    s.push_str(if v["password_set"] == true {
        " A local password is set."
    } else {
        " No local password: it opens with the phone only."
    });
    s
}

fn render_list(v: &Value) -> String {
    let items = v["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "No credentials.".into();
    }
    let col = |i: &Value, k: &str| i[k].as_str().unwrap_or("").to_owned();
    let rows: Vec<[String; 4]> = items
        .iter()
        .map(|i| {
            [
                col(i, "name"),
                col(i, "user"),
                col(i, "website"),
                col(i, "uid"),
            ]
        })
        .collect();
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
    if let Some(next) = v["next_offset"].as_u64() {
        out.push(format!(
            "… {} in all; next page with --offset {next}",
            v["total"]
        ));
    }
    out.join("\n")
}

fn render_credential(v: &Value) -> String {
    ["name", "user", "password", "website", "otp", "uid"]
        .iter()
        .filter(|k| v[**k].as_str().is_some_and(|s| !s.is_empty()))
        .map(|k| format!("{k}: {}", v[*k].as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_output_names_the_missing_uids_and_how_many_more() {
        let quiet =
            json!({"updated": 1, "unchanged": 2, "missing": [], "missing_count": 0, "asked": 3});
        assert_eq!(render_sync(&quiet), "1 updated, 2 unchanged.");
        let v = json!({"updated": 0, "unchanged": 1, "missing": ["a-1", "b-2"], "missing_count": 5, "asked": 6});
        let text = render_sync(&v);
        assert!(
            text.starts_with("0 updated, 1 unchanged.\n5 stored credential(s)"),
            "{text}"
        );
        assert!(text.contains("kept here"), "{text}");
        assert!(text.contains("\n  a-1\n  b-2\n  … and 3 more"), "{text}");
    }
}
