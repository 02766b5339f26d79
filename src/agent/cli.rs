//! `passbridge agent [run|status|stop]`.

use super::{AgentError, Settings, client::Client, socket_dir_from_env};
use crate::config::{Config, Paths};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Run the agent in the foreground (what passbridge starts by itself when needed).
    Run {
        /// The socket directory (set by the process that starts the agent, so both agree).
        #[arg(long, hide = true)]
        socket_dir: Option<PathBuf>,
        /// Exit after holding nothing for this many seconds (default: config.json).
        #[arg(long, hide = true)]
        idle_exit_seconds: Option<u64>,
    },
    /// Whether an agent runs and how many unlocks it holds.
    Status,
    /// Zeroize everything the agent holds and stop it.
    Stop,
}

fn client(paths: &Paths, settings: Settings) -> Client {
    Client::new(socket_dir_from_env(paths), settings, None)
}

/// Runs one `agent` command; `out` gets what a person reads.
pub fn run(args: Args, out: &mut dyn std::io::Write) -> Result<(), AgentError> {
    let paths = Paths::from_env()?;
    let config = Config::load(&paths)?;
    let settings = Settings::from_config(&config);
    let say =
        |out: &mut dyn std::io::Write, s: String| writeln!(out, "{s}").map_err(AgentError::Io);
    let run = Command::Run {
        socket_dir: None,
        idle_exit_seconds: None,
    };
    match args.command.unwrap_or(run) {
        Command::Run {
            socket_dir,
            idle_exit_seconds,
        } => {
            let mut settings = settings;
            if let Some(s) = idle_exit_seconds {
                settings.idle_exit_seconds = s.max(1);
            }
            let dir = socket_dir.unwrap_or_else(|| socket_dir_from_env(&paths));
            serve(&dir, &settings)
        }
        Command::Status => {
            let c = client(&paths, settings.clone());
            let off = if settings.enabled {
                ""
            } else {
                " (sharing is off in config.json: `\"agent\": false`)"
            };
            match c.status()? {
                Some((pid, n)) => say(
                    out,
                    format!(
                        "The passbridge agent runs (pid {pid}) and holds {n} unlock(s){off}. Socket: {}",
                        c.dir().join(super::SOCKET).display()
                    ),
                ),
                None => say(
                    out,
                    format!(
                        "No passbridge agent is running{off}. It starts when something is unlocked."
                    ),
                ),
            }
        }
        Command::Stop => {
            let stopped = client(&paths, settings).stop()?;
            say(
                out,
                if stopped {
                    "The passbridge agent zeroized what it held and stopped.".into()
                } else {
                    "No passbridge agent was running.".into()
                },
            )
        }
    }
}

#[cfg(unix)]
fn serve(dir: &Path, settings: &Settings) -> Result<(), AgentError> {
    super::server::run(dir, settings)
}

#[cfg(not(unix))]
fn serve(_dir: &Path, _settings: &Settings) -> Result<(), AgentError> {
    Err(AgentError::Unsupported)
}

/// `passbridge lock`: empties the agent (every process that shared an unlock locks on its next
/// use). The backends' own "lock everywhere" runs before this. False when none was running.
pub fn lock_all(paths: &Paths, config: &Config) -> Result<bool, AgentError> {
    client(paths, Settings::from_config(config)).lock_all()
}
