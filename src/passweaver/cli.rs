//! `passbridge passweaver ...` for people in a terminal, over the same typed operations as the
//! actions. Each command is its own process, so the session lives only for that command: with a
//! password account, `--password-stdin` logs in first (an API key account logs in by itself).

use super::data;
use super::ops::{Login, PassWeaver, Scope};
use super::session::State;
use crate::api::ApiError;
use crate::config::Paths;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::io::BufRead;
use zeroize::Zeroizing;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a PassWeaver server and store the account (a password is never stored).
    Setup {
        /// The API address, e.g. https://passweaver.example:15000
        #[arg(long)]
        server: String,
        /// Log in as this user (the password is asked at each login).
        #[arg(long, conflicts_with = "api_key")]
        username: Option<String>,
        /// Log in with this API key; its secret is read from the first line of stdin.
        #[arg(long)]
        api_key: Option<String>,
        /// Allow plain http to another machine (passwords would cross the network unencrypted).
        #[arg(long)]
        allow_insecure_http: bool,
        /// The PassWeaver web interface, for one-time secret links.
        #[arg(long)]
        gui_url: Option<String>,
    },
    /// Show the account, the server's version and the session.
    Status,
    /// Forget the account.
    Remove,
    /// Check the password (read from stdin) or the API key.
    Login {
        #[arg(long)]
        password_stdin: bool,
    },
    /// Search items by words, or by a web page with --url.
    Search {
        query: Option<String>,
        #[arg(long, conflicts_with = "query")]
        url: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// One item with its password and one-time code.
    Get {
        id: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Add an item; its password is read from stdin (after the login password, if any).
    Add {
        #[arg(long)]
        folder: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        url: String,
        #[arg(long, default_value = "")]
        user: String,
        #[arg(long, default_value = "")]
        notes: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// One-time secrets.
    #[command(subcommand)]
    Ots(Ots),
}

#[derive(Debug, clap::Subcommand)]
pub enum Ots {
    /// Share a secret read from the first line of stdin; prints the token and the link.
    Create {
        #[arg(long, default_value_t = super::ops::DEFAULT_OTS_HOURS)]
        hours: u64,
        /// anyone, logged_in or user
        #[arg(long, default_value = "anyone")]
        scope: String,
        #[arg(long)]
        user_id: Option<String>,
    },
    /// Read a one-time secret (this consumes it).
    Read { token: String },
}

fn read_line(input: &mut dyn BufRead, what: &str) -> Result<Zeroizing<String>, ApiError> {
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

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("results serialize")
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("JSON prints"));
}

fn login_first(
    pw: &PassWeaver,
    password_stdin: bool,
    input: &mut dyn BufRead,
) -> Result<(), ApiError> {
    if password_stdin {
        let p = read_line(input, "PassWeaver password")?;
        pw.login(Some(&p))?;
    }
    Ok(())
}

pub fn run(cmd: Command) -> Result<(), ApiError> {
    let storage =
        |e: crate::config::ConfigError| ApiError::new(crate::api::codes::STORAGE, e.to_string());
    let paths = Paths::from_env().map_err(storage)?;
    let state = State::new();
    let stdin = std::io::stdin();
    let out = run_with(&PassWeaver::new(&paths, &state), cmd, &mut stdin.lock())?;
    print(&out);
    Ok(())
}

/// Runs one command, reading secrets from `input`; returns what to print.
pub fn run_with(pw: &PassWeaver, cmd: Command, input: &mut dyn BufRead) -> Result<Value, ApiError> {
    Ok(match cmd {
        Command::Setup {
            server,
            username,
            api_key,
            allow_insecure_http,
            gui_url,
        } => {
            let login = match (username, api_key) {
                (Some(u), None) => Login::Password { username: u },
                (None, Some(k)) => Login::ApiKey {
                    api_key: k,
                    secret: read_line(input, "API key secret")?,
                },
                _ => {
                    return Err(ApiError::invalid_params(
                        "Give --username, or --api-key (with the secret on stdin).",
                    ));
                }
            };
            json(&pw.setup(&server, login, allow_insecure_http, gui_url.as_deref())?)
        }
        Command::Status => json(&pw.status(true)?),
        Command::Remove => json!({"removed": pw.remove()?}),
        Command::Login { password_stdin } => {
            let p = if password_stdin {
                Some(read_line(input, "PassWeaver password")?)
            } else {
                None
            };
            json(&pw.login(p.as_deref().map(|s| s.as_str()))?)
        }
        Command::Search {
            query,
            url,
            password_stdin,
        } => {
            login_first(pw, password_stdin, input)?;
            let hits = match (query, url) {
                (Some(q), None) => pw.search_text(&q)?,
                (None, Some(u)) => pw.search_url(&u)?,
                _ => {
                    return Err(ApiError::invalid_params(
                        "Give words to search for, or --url.",
                    ));
                }
            };
            json!({"items": serde_json::to_value(&hits).expect("serializes")})
        }
        Command::Get { id, password_stdin } => {
            login_first(pw, password_stdin, input)?;
            json(&pw.get(&id)?)
        }
        Command::Add {
            folder,
            title,
            url,
            user,
            notes,
            password_stdin,
        } => {
            login_first(pw, password_stdin, input)?;
            let secret = read_line(input, "item password")?;
            let mut m = Map::new();
            m.insert("url".into(), url.into());
            m.insert("user".into(), user.into());
            m.insert("password".into(), secret.as_str().into());
            m.insert("notes".into(), notes.into());
            let m = data::from_params(&Value::Object(m)).map_err(ApiError::invalid_params)?;
            json!({"id": pw.create(&folder, &title, &m, None)?})
        }
        Command::Ots(Ots::Create {
            hours,
            scope,
            user_id,
        }) => {
            let scope = Scope::parse(&scope).ok_or_else(|| {
                ApiError::invalid_params("--scope must be anyone, logged_in or user.")
            })?;
            let secret = read_line(input, "secret")?;
            json(&pw.ots_create(&secret, hours, scope, user_id.as_deref())?)
        }
        Command::Ots(Ots::Read { token }) => json(&pw.ots_read(&token)?),
    })
}
