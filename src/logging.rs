//! A small `log` backend: stderr (Firefox shows a host's stderr in the browser console) and,
//! optionally, a file. `PASSBRIDGE_LOG` sets the level, `PASSBRIDGE_LOG_FILE` adds the file.
//! Nothing secret is ever passed to the log macros; see the "secrets" tests.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::Mutex;

/// Dependencies log URLs and headers at debug/trace (ureq: request lines carrying Clarion approval
/// ids and backup download keys, which work as one-time tokens). Only their warnings get through.
const DEPENDENCY_MAX_LEVEL: log::Level = log::Level::Warn;

fn is_ours(target: &str) -> bool {
    target == "passbridge" || target.starts_with("passbridge::")
}

struct Logger {
    level: LevelFilter,
    file: Option<Mutex<std::fs::File>>,
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level && (is_ours(m.target()) || m.level() <= DEPENDENCY_MAX_LEVEL)
    }
    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = format!(
            "passbridge[{}] {} {}: {}\n",
            std::process::id(),
            r.level(),
            r.target(),
            r.args()
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        if let Some(f) = &self.file {
            let _ = f
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(line.as_bytes());
        }
    }
    fn flush(&self) {}
}

/// Parses a level name; unknown names fall back to `default`.
pub fn parse_level(s: Option<&str>, default: LevelFilter) -> LevelFilter {
    s.and_then(|s| s.trim().parse().ok()).unwrap_or(default)
}

/// Installs the logger once; later calls are ignored.
pub fn init(default: LevelFilter) {
    let level = parse_level(std::env::var("PASSBRIDGE_LOG").ok().as_deref(), default);
    let file = std::env::var_os("PASSBRIDGE_LOG_FILE").and_then(|p| {
        let mut o = std::fs::OpenOptions::new();
        o.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        o.open(&p)
            .map_err(|e| {
                eprintln!(
                    "passbridge: cannot open log file {}: {e}",
                    p.to_string_lossy()
                )
            })
            .ok()
    });
    if log::set_boxed_logger(Box::new(Logger {
        level,
        file: file.map(Mutex::new),
    }))
    .is_ok()
    {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_only_log_warnings() {
        let logger = Logger {
            level: LevelFilter::Trace,
            file: None,
        };
        let meta = |target, level| Metadata::builder().target(target).level(level).build();
        assert!(logger.enabled(&meta("passbridge::anotherpass::client", log::Level::Trace)));
        assert!(logger.enabled(&meta("passbridge", log::Level::Debug)));
        assert!(!logger.enabled(&meta("ureq::unversioned::transport", log::Level::Trace)));
        assert!(!logger.enabled(&meta("ureq", log::Level::Debug)));
        assert!(!logger.enabled(&meta("passbridgex", log::Level::Debug)));
        assert!(logger.enabled(&meta("rustls::client", log::Level::Warn)));
    }

    #[test]
    fn levels() {
        assert_eq!(
            parse_level(Some("debug"), LevelFilter::Warn),
            LevelFilter::Debug
        );
        assert_eq!(
            parse_level(Some("OFF"), LevelFilter::Warn),
            LevelFilter::Off
        );
        assert_eq!(
            parse_level(Some("loud"), LevelFilter::Warn),
            LevelFilter::Warn
        );
        assert_eq!(parse_level(None, LevelFilter::Info), LevelFilter::Info);
    }
}
