//! The install record (`installed.json`): every manifest, registry key and directory that
//! `install` wrote, so `uninstall` removes exactly those and `doctor` checks exactly those.
//!
//! User scope: `<config dir>/installed.json` (0600). System scope: `<system dir>/installed.json`
//! (0644, so `doctor` run by any user can read it) next to `allowed.json`, the allowlist every
//! user's host also honours.

use super::files;
use super::registry::RegistryEntry;
use super::table::{Browser, Family, Scope};
use crate::config::{Allowlist, HOST_NAME};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const RECORD_FILE: &str = "installed.json";
/// The system-wide allowlist (system scope only).
pub const SYSTEM_ALLOWLIST_FILE: &str = "allowed.json";
pub const RECORD_VERSION: u32 = 1;
/// Records and allowlists are small; bound what we read.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedManifest {
    pub path: String,
    pub family: Family,
    /// SHA-256 of the bytes written: uninstall leaves a file someone changed since.
    pub sha256: String,
    pub browsers: Vec<Browser>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedKey {
    #[serde(flatten)]
    pub entry: RegistryEntry,
    pub browsers: Vec<Browser>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    pub version: u32,
    pub host_name: String,
    pub scope: Scope,
    pub binary: String,
    #[serde(default)]
    pub manifests: Vec<RecordedManifest>,
    #[serde(default)]
    pub registry: Vec<RecordedKey>,
    /// Directories install created (outermost first); removed again when empty.
    #[serde(default)]
    pub created_dirs: Vec<String>,
    /// Ids install added to the allowlist; removed when the last browser of their family goes.
    #[serde(default)]
    pub added: Allowlist,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a valid passbridge file: {source}. Fix or delete it \
         (deleting an install record makes passbridge forget what it registered)."
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{path} was written by a newer passbridge (record version {version}); use that version"
    )]
    Newer { path: PathBuf, version: u32 },
}

impl InstallRecord {
    pub fn new(scope: Scope, binary: String) -> Self {
        Self {
            version: RECORD_VERSION,
            host_name: HOST_NAME.to_string(),
            scope,
            binary,
            manifests: Vec::new(),
            registry: Vec::new(),
            created_dirs: Vec::new(),
            added: Allowlist::default(),
        }
    }

    /// Every browser with at least one recorded registration, sorted.
    pub fn browsers(&self) -> Vec<Browser> {
        let mut out: Vec<Browser> = self
            .manifests
            .iter()
            .flat_map(|m| m.browsers.iter().copied())
            .chain(
                self.registry
                    .iter()
                    .flat_map(|k| k.browsers.iter().copied()),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn has_family(&self, family: Family) -> bool {
        self.browsers().iter().any(|b| b.family() == family)
    }

    pub fn is_empty(&self) -> bool {
        self.manifests.is_empty() && self.registry.is_empty()
    }

    pub fn load(path: &Path) -> Result<Option<Self>, RecordError> {
        let Some(bytes) =
            files::read_optional(path, MAX_RECORD_BYTES).map_err(|source| RecordError::Read {
                path: path.into(),
                source,
            })?
        else {
            return Ok(None);
        };
        // Check the version first so a newer format gets the right message.
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let parse = |source| RecordError::Parse {
            path: path.into(),
            source,
        };
        let v: Version = serde_json::from_slice(&bytes).map_err(parse)?;
        if v.version > RECORD_VERSION {
            return Err(RecordError::Newer {
                path: path.into(),
                version: v.version,
            });
        }
        serde_json::from_slice(&bytes).map(Some).map_err(parse)
    }

    /// User scope: private (0600 in a 0700 dir). System scope: world-readable.
    pub fn save(&self, path: &Path) -> Result<(), RecordError> {
        let bytes = serde_json::to_vec_pretty(self).expect("record serializes");
        write_json(path, &bytes, self.scope).map_err(|source| RecordError::Write {
            path: path.into(),
            source,
        })
    }
}

fn write_json(path: &Path, bytes: &[u8], scope: Scope) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    match scope {
        Scope::User => {
            crate::fsutil::ensure_private_dir(dir)?;
            crate::fsutil::write_atomic(path, bytes)
        }
        Scope::System => {
            std::fs::create_dir_all(dir)?;
            crate::fsutil::set_mode(dir, files::PUBLIC_DIR_MODE)?;
            files::write_atomic_mode(path, bytes, files::PUBLIC_FILE_MODE)
        }
    }
}

/// Reads the system allowlist (`allowed.json`); a missing file is an empty list.
pub fn load_system_allowlist(path: &Path) -> Result<Allowlist, RecordError> {
    match files::read_optional(path, MAX_RECORD_BYTES) {
        Ok(None) => Ok(Allowlist::default()),
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).map_err(|source| RecordError::Parse {
            path: path.into(),
            source,
        }),
        Err(source) => Err(RecordError::Read {
            path: path.into(),
            source,
        }),
    }
}

/// Writes the system allowlist world-readable, or removes it when it is empty.
pub fn save_system_allowlist(path: &Path, allow: &Allowlist) -> Result<(), RecordError> {
    let err = |source| RecordError::Write {
        path: path.into(),
        source,
    };
    if allow.chrome_origins.is_empty() && allow.firefox_ids.is_empty() {
        return files::remove_file(path).map_err(err);
    }
    let bytes = serde_json::to_vec_pretty(allow).expect("allowlist serializes");
    write_json(path, &bytes, Scope::System).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::registry::{Hive, View};

    fn sample() -> InstallRecord {
        let mut r = InstallRecord::new(Scope::User, "/bin/passbridge".into());
        r.manifests.push(RecordedManifest {
            path: "/h/.mozilla/native-messaging-hosts/org.passbridge.host.json".into(),
            family: Family::Firefox,
            sha256: "00".into(),
            browsers: vec![Browser::Firefox],
        });
        r.registry.push(RecordedKey {
            entry: RegistryEntry {
                hive: Hive::CurrentUser,
                view: View::Shared,
                key: r"Software\Google\Chrome\NativeMessagingHosts\org.passbridge.host".into(),
                value: r"C:\m.json".into(),
            },
            browsers: vec![Browser::Brave, Browser::Chrome],
        });
        r.added.firefox_ids.push("a@b".into());
        r
    }

    #[test]
    fn round_trip_and_browsers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c/installed.json");
        assert_eq!(InstallRecord::load(&p).unwrap(), None);
        let r = sample();
        r.save(&p).unwrap();
        assert_eq!(InstallRecord::load(&p).unwrap(), Some(r.clone()));
        assert_eq!(
            r.browsers(),
            vec![Browser::Firefox, Browser::Chrome, Browser::Brave]
        );
        assert!(r.has_family(Family::Chrome) && r.has_family(Family::Firefox));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn broken_and_newer_records_are_explained() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("installed.json");
        std::fs::write(&p, "{oops").unwrap();
        let e = InstallRecord::load(&p).unwrap_err().to_string();
        assert!(e.contains("not a valid passbridge file"), "{e}");
        std::fs::write(&p, r#"{"version": 9}"#).unwrap();
        let e = InstallRecord::load(&p).unwrap_err().to_string();
        assert!(e.contains("newer passbridge"), "{e}");
    }

    #[test]
    fn system_allowlist_file_is_public_and_vanishes_when_empty() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("etc/passbridge/allowed.json");
        assert_eq!(load_system_allowlist(&p).unwrap(), Allowlist::default());
        let allow = Allowlist {
            chrome_origins: vec!["chrome-extension://x/".into()],
            firefox_ids: vec![],
        };
        save_system_allowlist(&p, &allow).unwrap();
        assert_eq!(load_system_allowlist(&p).unwrap(), allow);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
        save_system_allowlist(&p, &Allowlist::default()).unwrap();
        assert!(!p.exists());
    }
}
