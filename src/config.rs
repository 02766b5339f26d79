//! Where passbridge keeps its files, and the settings file (`config.json`).
//!
//! `PASSBRIDGE_HOME` puts everything under one directory (tests, portable installs);
//! otherwise the platform's config and data directories are used.

use crate::fsutil;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The host name registered with browsers: valid for Chrome (`[a-z0-9_.]`) and Firefox (`^\w+(\.\w+)*$`).
pub const HOST_NAME: &str = "org.passbridge.host";
pub const CONFIG_FILE: &str = "config.json";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot find a home directory; set PASSBRIDGE_HOME")]
    NoHome,
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid passbridge config: {source}. Fix or remove it.")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the \"{section}\" section of config.json is not valid: {message}. Fix or remove it.")]
    Section { section: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    /// From `PASSBRIDGE_HOME`, else the platform directories.
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var_os("PASSBRIDGE_HOME").filter(|v| !v.is_empty()) {
            Some(home) => Ok(Self::under(Path::new(&home))),
            None => {
                let dirs = directories::ProjectDirs::from("org", "passbridge", "passbridge")
                    .ok_or(ConfigError::NoHome)?;
                Ok(Self {
                    config_dir: dirs.config_dir().to_path_buf(),
                    data_dir: dirs.data_dir().to_path_buf(),
                })
            }
        }
    }

    pub fn under(home: &Path) -> Self {
        Self {
            config_dir: home.join("config"),
            data_dir: home.join("data"),
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join(CONFIG_FILE)
    }

    /// Creates both directories, private to the user.
    pub fn ensure(&self) -> Result<(), ConfigError> {
        for d in [&self.config_dir, &self.data_dir] {
            fsutil::ensure_private_dir(d).map_err(|source| ConfigError::Io {
                path: d.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Which browser extensions may use the host. Filled by `passbridge install`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Allowlist {
    /// Chrome-family origins, `chrome-extension://<id>/`.
    pub chrome_origins: Vec<String>,
    /// Firefox-family add-on ids.
    pub firefox_ids: Vec<String>,
}

/// The whole settings file. Each backend owns its section, named after it, and parses it itself
/// ([`Config::section`]); this module knows no backend.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub allowed: Allowlist,
    /// Inbound frame cap in bytes (at most 64 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<u32>,
    /// Every other top-level key: one section per backend, kept as written.
    #[serde(flatten)]
    pub sections: BTreeMap<String, Value>,
}

impl Config {
    /// The section `name` as `T`; a missing (or null) section is `T::default()`.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> Result<T, ConfigError> {
        match self.sections.get(name) {
            None | Some(Value::Null) => Ok(T::default()),
            Some(v) => serde_path_to_error::deserialize(v).map_err(|e| ConfigError::Section {
                section: name.to_owned(),
                message: format!("{} (at {})", e.inner(), e.path()),
            }),
        }
    }

    /// Replaces the section `name` with `value`.
    pub fn set_section<T: Serialize>(&mut self, name: &str, value: &T) {
        let v = serde_json::to_value(value).expect("settings serialize");
        self.sections.insert(name.to_owned(), v);
    }

    /// This config with the section `name` set (tests and defaults).
    pub fn with_section<T: Serialize>(mut self, name: &str, value: &T) -> Self {
        self.set_section(name, value);
        self
    }

    /// Loads `config.json`; a missing file is the default config.
    pub fn load(paths: &Paths) -> Result<Self, ConfigError> {
        let path = paths.config_file();
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| ConfigError::Parse { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Io { path, source }),
        }
    }

    /// Read-modify-write of `config.json` under its lock, written atomically (0600).
    pub fn update<T>(
        paths: &Paths,
        f: impl FnOnce(&mut Config) -> T,
    ) -> Result<(Config, T), ConfigError> {
        paths.ensure()?;
        let path = paths.config_file();
        let io = |source| ConfigError::Io {
            path: path.clone(),
            source,
        };
        let _lock = fsutil::lock_exclusive(&path).map_err(io)?;
        let mut cfg = Self::load(paths)?;
        let out = f(&mut cfg);
        let bytes = serde_json::to_vec_pretty(&cfg).expect("config serializes");
        fsutil::write_atomic(&path, &bytes).map_err(io)?;
        Ok((cfg, out))
    }

    pub fn max_inbound(&self) -> u32 {
        self.max_message_bytes
            .unwrap_or(crate::nm::frame::DEFAULT_MAX_INBOUND)
            .min(crate::nm::frame::DEFAULT_MAX_INBOUND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_config_is_default_and_update_persists() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(Config::load(&paths).unwrap().allowed.firefox_ids.is_empty());
        Config::update(&paths, |c| c.allowed.firefox_ids.push("a@b".into())).unwrap();
        assert_eq!(
            Config::load(&paths).unwrap().allowed.firefox_ids,
            vec!["a@b"]
        );
    }

    #[test]
    fn broken_config_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        paths.ensure().unwrap();
        std::fs::write(paths.config_file(), "{nope").unwrap();
        let err = Config::load(&paths).unwrap_err().to_string();
        assert!(err.contains("not a valid passbridge config"), "{err}");
    }

    #[test]
    fn sections_are_kept_and_parsed_by_their_owner() {
        #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        struct S {
            n: u32,
        }
        let c: Config = serde_json::from_str(r#"{"x": {"n": 3}, "y": {"n": "z"}}"#).unwrap();
        assert_eq!(c.section::<S>("x").unwrap(), S { n: 3 });
        assert_eq!(c.section::<S>("missing").unwrap(), S::default());
        let e = c.section::<S>("y").unwrap_err().to_string();
        assert!(e.contains("\"y\" section") && e.contains("n"), "{e}");
        let c = c.with_section("x", &S { n: 4 });
        let back: Config = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back.section::<S>("x").unwrap(), S { n: 4 });
    }

    #[test]
    fn inbound_cap_never_exceeds_64_mib() {
        let c = Config {
            max_message_bytes: Some(u32::MAX),
            ..Default::default()
        };
        assert_eq!(c.max_inbound(), crate::nm::frame::DEFAULT_MAX_INBOUND);
    }
}
