//! The Passman account on disk: `passman-account.json` in the data directory, 0600, written
//! atomically. The app password goes to the operating system's keyring when one answers (the
//! file then names the entry), else into the file ([`crate::keystore`]); a file that holds it is
//! moved into the keyring when it is next read. Never logged, never echoed back.

use super::error::PassmanError;
use crate::config::Paths;
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use zeroize::Zeroizing;

pub const FILE_NAME: &str = "passman-account.json";
pub const DEFAULT_LOCK_TIMEOUT_MINUTES: u32 = 60;
const MAX_FILE_BYTES: u64 = 64 * 1024;

#[derive(Clone, Serialize, Deserialize)]
pub struct Account {
    /// The Nextcloud address as given (checked and normalised).
    pub server: String,
    pub login: String,
    /// Empty in the file when the keyring holds it.
    #[serde(
        default,
        serialize_with = "ser_secret",
        deserialize_with = "de_secret",
        skip_serializing_if = "is_empty"
    )]
    pub app_password: Zeroizing<String>,
    /// The vault used when a request names none (guid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    #[serde(default)]
    pub allow_http: bool,
    /// Minutes without use after which the vault key is forgotten (1–10080).
    #[serde(default = "default_timeout")]
    pub lock_timeout_minutes: u32,
}

fn default_timeout() -> u32 {
    DEFAULT_LOCK_TIMEOUT_MINUTES
}

fn is_empty(s: &Zeroizing<String>) -> bool {
    s.is_empty()
}

/// The file: the account and, when the keyring holds the app password, its entry id.
#[derive(Serialize, Deserialize)]
struct OnDisk {
    #[serde(flatten)]
    account: Account,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyring: Option<String>,
}

const SECRET: crate::keystore::SecretString = crate::keystore::SecretString {
    kind: "passman-app-password",
};

fn ser_secret<S: serde::Serializer>(s: &Zeroizing<String>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(d).map(Zeroizing::new)
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("server", &self.server)
            .field("login", &self.login)
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl Account {
    pub fn lock_timeout(&self) -> std::time::Duration {
        let m = self.lock_timeout_minutes.clamp(1, 10_080);
        std::time::Duration::from_secs(u64::from(m) * 60)
    }
}

pub fn path(paths: &Paths) -> PathBuf {
    paths.data_dir.join(FILE_NAME)
}

fn storage(what: &str, e: impl std::fmt::Display) -> PassmanError {
    PassmanError::Storage(format!("cannot {what} the Passman account file: {e}"))
}

/// The file as written; `NotConfigured` when there is none.
fn read(paths: &Paths) -> Result<OnDisk, PassmanError> {
    let p = path(paths);
    let file = match std::fs::File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PassmanError::NotConfigured);
        }
        Err(e) => return Err(storage("read", e)),
    };
    let mut bytes = Zeroizing::new(Vec::new());
    use std::io::Read;
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| storage("read", e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(storage("read", "it is too large"));
    }
    serde_json::from_slice(&bytes).map_err(|_| {
        PassmanError::Storage(format!(
            "{} is damaged; run passman.setup again.",
            p.display()
        ))
    })
}

/// The stored account with its app password, or `NotConfigured`.
pub fn load(paths: &Paths) -> Result<Account, PassmanError> {
    let disk = read(paths)?;
    let mut account = disk.account;
    match &disk.keyring {
        Some(id) => {
            account.app_password = SECRET
                .fetch(paths, id)
                .map_err(|e| PassmanError::Storage(format!("the Passman app password: {e}")))?;
        }
        // Written where no keyring answered (or by an older passbridge): move it now if one does.
        None if !account.app_password.is_empty() => {
            if let Err(e) = save(paths, &account) {
                log::warn!("could not move the Passman app password into the keyring: {e}");
            }
        }
        None => {}
    }
    Ok(account)
}

pub fn save(paths: &Paths, account: &Account) -> Result<(), PassmanError> {
    paths.ensure().map_err(|e| storage("write", e))?;
    let previous = read(paths).ok().and_then(|d| d.keyring.clone());
    let keyring = SECRET
        .stash(paths, &account.app_password)
        .map_err(|e| PassmanError::Storage(e.to_string()))?;
    let mut disk = OnDisk {
        account: account.clone(),
        keyring,
    };
    if disk.keyring.is_some() {
        disk.account.app_password = Zeroizing::new(String::new());
    }
    let bytes = Zeroizing::new(serde_json::to_vec_pretty(&disk).expect("JSON serializes"));
    fsutil::write_atomic(&path(paths), &bytes).map_err(|e| storage("write", e))?;
    if let Some(old) = previous.filter(|old| disk.keyring.as_ref() != Some(old)) {
        SECRET.forget(paths, &old);
    }
    Ok(())
}

/// Forgets the account (and its keyring entry); true when there was one.
pub fn remove(paths: &Paths) -> Result<bool, PassmanError> {
    let previous = read(paths).ok().and_then(|d| d.keyring.clone());
    let removed = match std::fs::remove_file(path(paths)) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(storage("remove", e)),
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
    fn saved_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert_eq!(load(&paths).unwrap_err(), PassmanError::NotConfigured);
        let a = Account {
            server: "https://cloud.example/".into(),
            login: "alice".into(),
            app_password: Zeroizing::new("app-secret".into()),
            vault: None,
            allow_http: false,
            lock_timeout_minutes: 5,
        };
        save(&paths, &a).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(&paths))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = load(&paths).unwrap();
        assert_eq!(&*b.app_password, "app-secret");
        assert!(!format!("{b:?}").contains("app-secret"));
        assert!(remove(&paths).unwrap());
        assert!(!remove(&paths).unwrap());
    }
}
