//! The PassWeaver account: `passweaver.json` in the config directory, 0600, written atomically.
//! It holds the server and the user name, or an API key and its secret. A password is never
//! stored. The API key secret goes to the operating system's keyring when one answers (the file
//! then names the entry), else into the file ([`crate::keystore`]); a file that holds it is moved
//! into the keyring when it is next read. Never logged or returned.

use crate::config::Paths;
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use zeroize::Zeroizing;

pub const FILE: &str = "passweaver.json";
/// Larger files are not ours.
const MAX_FILE_BYTES: u64 = 64 * 1024;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The API root, canonical (`https://host[:port]/…/`), without `api/v1`.
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Plain http to a host that is not this machine, explicitly allowed at setup.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// The PassWeaver web interface, for one-time secret links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gui_url: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("api_key", &self.api_key)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Account {
    /// Who logs in: the user name, or `API key <id>`.
    pub fn who(&self) -> String {
        match (&self.username, &self.api_key) {
            (Some(u), _) => u.clone(),
            (None, Some(k)) => format!("API key {k}"),
            (None, None) => "nobody".into(),
        }
    }

    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some() && self.secret.is_some()
    }
}

/// An API key secret: zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Zeroizing<String>);

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Secret(Zeroizing::new(s)))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The file: the account and, when the keyring holds the secret, its entry id.
#[derive(Serialize, Deserialize)]
struct OnDisk {
    #[serde(flatten)]
    account: Account,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyring: Option<String>,
}

const SECRET: crate::keystore::SecretString = crate::keystore::SecretString {
    kind: "passweaver-api-key-secret",
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read or write {path}: {why}")]
    Io { path: PathBuf, why: String },
    #[error("{path} is not a valid PassWeaver account file ({why}). Run passweaver.setup again.")]
    Corrupt { path: PathBuf, why: String },
    #[error("the PassWeaver API key secret: {0}")]
    Keyring(String),
}

pub fn path(paths: &Paths) -> PathBuf {
    paths.config_dir.join(FILE)
}

/// The file as written, or `None` when there is none.
fn read(paths: &Paths) -> Result<Option<OnDisk>, StoreError> {
    let p = path(paths);
    let io = |e: std::io::Error| StoreError::Io {
        path: p.clone(),
        why: e.kind().to_string(),
    };
    let meta = match std::fs::metadata(&p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(StoreError::Corrupt {
            path: p,
            why: "too large".into(),
        });
    }
    let bytes = Zeroizing::new(std::fs::read(&p).map_err(io)?);
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            path: p.clone(),
            // serde's text can quote the input: give only where it failed.
            why: format!("line {} column {}", e.line(), e.column()),
        })
}

/// The stored account with its secret, or `None` when there is none.
pub fn load(paths: &Paths) -> Result<Option<Account>, StoreError> {
    let Some(disk) = read(paths)? else {
        return Ok(None);
    };
    let mut account = disk.account;
    match &disk.keyring {
        Some(id) => {
            let secret = SECRET
                .fetch(paths, id)
                .map_err(|e| StoreError::Keyring(e.to_string()))?;
            account.secret = Some(Secret(secret));
        }
        // Written where no keyring answered (or by an older passbridge): move it now if one does.
        None if account.secret.is_some() => {
            if let Err(e) = save(paths, &account) {
                log::warn!("could not move the PassWeaver API key secret into the keyring: {e}");
            }
        }
        None => {}
    }
    Ok(Some(account))
}

/// Writes the account (0600, directory 0700), replacing any other.
pub fn save(paths: &Paths, account: &Account) -> Result<(), StoreError> {
    let p = path(paths);
    let io = |e: std::io::Error| StoreError::Io {
        path: p.clone(),
        why: e.kind().to_string(),
    };
    fsutil::ensure_private_dir(&paths.config_dir).map_err(io)?;
    let previous = read(paths).ok().flatten().and_then(|d| d.keyring);
    let keyring = match &account.secret {
        Some(s) => SECRET
            .stash(paths, &s.0)
            .map_err(|e| StoreError::Keyring(e.to_string()))?,
        None => None,
    };
    let mut disk = OnDisk {
        account: account.clone(),
        keyring,
    };
    if disk.keyring.is_some() {
        disk.account.secret = None;
    }
    let bytes = Zeroizing::new(serde_json::to_vec_pretty(&disk).expect("account serializes"));
    fsutil::write_atomic(&p, &bytes).map_err(io)?;
    if let Some(old) = previous.filter(|old| disk.keyring.as_ref() != Some(old)) {
        SECRET.forget(paths, &old);
    }
    Ok(())
}

/// Removes the account (and its keyring entry); true if there was one.
pub fn remove(paths: &Paths) -> Result<bool, StoreError> {
    let p = path(paths);
    let previous = read(paths).ok().flatten().and_then(|d| d.keyring);
    let removed = match std::fs::remove_file(&p) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(StoreError::Io {
                path: p,
                why: e.kind().to_string(),
            });
        }
    };
    if let Some(id) = previous {
        SECRET.forget(paths, &id);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_private_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(load(&paths).unwrap().is_none());
        let a = Account {
            server: "https://pw.example/".into(),
            username: None,
            api_key: Some("0b6e7c1e-aaaa-bbbb-cccc-000000000001".into()),
            secret: Some(Secret(Zeroizing::new("top-secret-value".into()))),
            allow_insecure_http: false,
            gui_url: None,
        };
        save(&paths, &a).unwrap();
        assert_eq!(load(&paths).unwrap().unwrap(), a);
        assert!(!format!("{a:?}").contains("top-secret-value"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(&paths))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(remove(&paths).unwrap());
        assert!(!remove(&paths).unwrap());
    }

    #[test]
    fn a_corrupt_file_is_an_error_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        std::fs::write(
            path(&paths),
            b"{\"server\": \"x\", \"secret\": 12 SECRETSTUFF",
        )
        .unwrap();
        let e = load(&paths).unwrap_err().to_string();
        assert!(e.contains("setup") && !e.contains("SECRETSTUFF"), "{e}");
    }
}
