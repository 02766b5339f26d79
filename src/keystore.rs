//! Where long-lived secrets are kept: the operating system's keyring (Secret Service on Linux and
//! the BSDs, the Keychain on macOS, the Credential Manager on Windows) or, where none can be
//! reached, the 0600 file that names them. See docs/security.md for what each protects.
//!
//! The choice is `PASSBRIDGE_SECRET_STORE` (`auto`, `file`, `keyring`), else the `secrets.store`
//! setting of config.json, else `auto`: the keyring when one answers, the file otherwise. The
//! fallback is never silent: [`Location::File`] carries the reason, which `status`, `doctor` and
//! the link confirmation report. `keyring` makes an unreachable keyring an error instead.
//!
//! Entries are named service [`SERVICE`], user `<kind>/<id>`, where the id is random and kept in
//! the file that refers to the entry: two data directories (or two test homes) never collide, and
//! a data directory can be moved without losing its secrets.
//!
//! Every keyring call runs on a helper thread and is abandoned after [`TIMEOUT`]: a locked
//! collection may wait for a password prompt nobody sees, and the host must answer anyway.

use crate::config::{Config, Paths};
use keyring_core::CredentialStore;
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use zeroize::Zeroizing;

pub const SERVICE: &str = "passbridge";
pub const ENV: &str = "PASSBRIDGE_SECRET_STORE";
/// How long one keyring call may take before passbridge gives up on it.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error(
        "the keyring did not answer within {} s (a locked keyring may be waiting for its password). Unlock it and try again.",
        TIMEOUT.as_secs()
    )]
    Timeout,
    #[error("the keyring failed: {0}")]
    Failed(String),
    #[error(
        "{ENV} or secrets.store is {0:?}; use \"auto\", \"keyring\" or \"file\" (see README.md)"
    )]
    BadSetting(String),
    #[error("no keyring can be reached ({0}), and the setting requires one")]
    Required(String),
}

/// The `secrets` section of config.json.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    File,
    Keyring,
}

impl Mode {
    fn parse(s: &str) -> Result<Self, KeystoreError> {
        match s {
            "" | "auto" => Ok(Self::Auto),
            "file" => Ok(Self::File),
            "keyring" => Ok(Self::Keyring),
            other => Err(KeystoreError::BadSetting(other.to_owned())),
        }
    }

    /// The environment wins over config.json, so a test or a headless session can choose.
    pub fn from_env_and_config(paths: &Paths) -> Result<(Self, &'static str), KeystoreError> {
        if let Some(v) = std::env::var_os(ENV) {
            return Ok((Self::parse(&v.to_string_lossy())?, ENV));
        }
        let settings: Settings = Config::load(paths)
            .ok()
            .and_then(|c| c.section("secrets").ok())
            .unwrap_or_default();
        Ok((
            Self::parse(settings.store.as_deref().unwrap_or(""))?,
            "secrets.store in config.json",
        ))
    }
}

/// Where secrets are (or would be) kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The operating system's keyring, named for people ("Secret Service", ...).
    Keyring(&'static str),
    /// The 0600 file, and why.
    File(String),
}

impl Location {
    /// `"keyring"` or `"file"`: the stable word in `status`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Keyring(_) => "keyring",
            Self::File(_) => "file",
        }
    }

    /// `{kind, backend?, reason?}` for `status`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Keyring(name) => serde_json::json!({"kind": "keyring", "backend": name}),
            Self::File(reason) => serde_json::json!({"kind": "file", "reason": reason}),
        }
    }

    /// The sentence a person reads when secrets fall back to the file.
    pub fn file_warning(&self, file: &std::path::Path) -> Option<String> {
        match self {
            Self::Keyring(_) => None,
            Self::File(reason) => Some(format!(
                "The link's keys are kept in the file {} (readable only by you, 0600), not in a \
                 keyring: {reason}.",
                file.display()
            )),
        }
    }
}

/// The keyring, or the file fallback.
#[derive(Clone)]
pub struct Keystore {
    store: Option<Arc<CredentialStore>>,
    location: Location,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// The platform's keyring, connected once per process (a Secret Service connection is a D-Bus
/// session and a key exchange; a host answers many requests).
fn os_store() -> Result<Arc<CredentialStore>, String> {
    static STORE: OnceLock<Result<Arc<CredentialStore>, String>> = OnceLock::new();
    STORE
        .get_or_init(|| match with_timeout(connect) {
            Ok(r) => r,
            Err(e) => Err(e.to_string()),
        })
        .clone()
}

#[cfg(all(unix, not(target_os = "macos")))]
pub const BACKEND: &str = "Secret Service";
#[cfg(target_os = "macos")]
pub const BACKEND: &str = "macOS Keychain";
#[cfg(windows)]
pub const BACKEND: &str = "Windows Credential Manager";

#[cfg(all(unix, not(target_os = "macos")))]
fn connect() -> Result<Arc<CredentialStore>, String> {
    // zbus would otherwise fall back to $XDG_RUNTIME_DIR/bus; without an address there is no
    // session to speak of, and the message says so plainly.
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && std::env::var_os("XDG_RUNTIME_DIR")
            .is_none_or(|d| !std::path::Path::new(&d).join("bus").exists())
    {
        return Err("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)".into());
    }
    match zbus_secret_service_keyring_store::Store::new() {
        Ok(s) => Ok(s as Arc<CredentialStore>),
        Err(e) => Err(format!("no Secret Service answers on the session bus: {e}")),
    }
}

#[cfg(target_os = "macos")]
fn connect() -> Result<Arc<CredentialStore>, String> {
    apple_native_keyring_store::keychain::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| format!("the Keychain cannot be opened: {e}"))
}

#[cfg(windows)]
fn connect() -> Result<Arc<CredentialStore>, String> {
    windows_native_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| format!("the Credential Manager cannot be opened: {e}"))
}

/// Runs `f` on a helper thread; gives up after [`TIMEOUT`] and leaves the thread to finish alone.
fn with_timeout<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, KeystoreError> {
    with_timeout_of(TIMEOUT, f)
}

fn with_timeout_of<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, KeystoreError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| KeystoreError::Failed(format!("cannot start a thread: {e}")))?;
    rx.recv_timeout(limit).map_err(|_| KeystoreError::Timeout)
}

/// A keyring error without its payload: some variants carry the secret's bytes.
fn describe(e: keyring_core::Error) -> KeystoreError {
    use keyring_core::Error as E;
    KeystoreError::Failed(match e {
        E::PlatformFailure(p) | E::NoStorageAccess(p) => p.to_string(),
        E::BadEncoding(mut bytes) | E::BadDataFormat(mut bytes, _) => {
            zeroize::Zeroize::zeroize(&mut bytes);
            "the stored secret has an unexpected format".into()
        }
        E::TooLong(what, max) => format!("the {what} is longer than the keyring allows ({max})"),
        E::Ambiguous(_) => "more than one keyring entry has this name".into(),
        other => other.to_string(),
    })
}

impl Keystore {
    /// Decides where secrets go for this data directory (see the module comment).
    pub fn open(paths: &Paths) -> Result<Self, KeystoreError> {
        let (mode, source) = Mode::from_env_and_config(paths)?;
        match mode {
            Mode::File => Ok(Self::file(format!("{source} says \"file\""))),
            Mode::Auto => Ok(match os_store() {
                Ok(store) => Self::keyring(store),
                Err(reason) => Self::file(reason),
            }),
            Mode::Keyring => os_store()
                .map(Self::keyring)
                .map_err(KeystoreError::Required),
        }
    }

    fn keyring(store: Arc<CredentialStore>) -> Self {
        Self {
            store: Some(store),
            location: Location::Keyring(BACKEND),
        }
    }

    /// The file fallback, with the reason people will read.
    pub fn file(reason: String) -> Self {
        Self {
            store: None,
            location: Location::File(reason),
        }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn is_keyring(&self) -> bool {
        self.store.is_some()
    }

    fn entry(
        store: &Arc<CredentialStore>,
        user: &str,
    ) -> Result<keyring_core::Entry, KeystoreError> {
        keyring_core::Entry::new_in_store(store, SERVICE, user).map_err(describe)
    }

    fn store(&self) -> Result<Arc<CredentialStore>, KeystoreError> {
        self.store
            .clone()
            .ok_or_else(|| KeystoreError::Failed("no keyring is in use".into()))
    }

    /// Saves `secret` as the entry `user` (replacing it).
    pub fn set(&self, user: &str, secret: &[u8]) -> Result<(), KeystoreError> {
        let store = self.store()?;
        let user = user.to_owned();
        let secret = Zeroizing::new(secret.to_vec());
        with_timeout(move || {
            Self::entry(&store, &user)?
                .set_secret(&secret)
                .map_err(describe)
        })?
    }

    /// The entry `user`; `None` when there is none.
    pub fn get(&self, user: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeystoreError> {
        let store = self.store()?;
        let user = user.to_owned();
        with_timeout(move || match Self::entry(&store, &user)?.get_secret() {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(e)),
        })?
    }

    /// Deletes the entry `user`; `false` when there was none.
    pub fn delete(&self, user: &str) -> Result<bool, KeystoreError> {
        let store = self.store()?;
        let user = user.to_owned();
        with_timeout(
            move || match Self::entry(&store, &user)?.delete_credential() {
                Ok(()) => Ok(true),
                Err(keyring_core::Error::NoEntry) => Ok(false),
                Err(e) => Err(describe(e)),
            },
        )?
    }
}

/// A settings file's one secret string (the Passman app password, the PassWeaver API key
/// secret) in the keyring, as the entry `<kind>/<id>`; the file keeps the id.
pub struct SecretString {
    pub kind: &'static str,
}

impl SecretString {
    /// Puts `secret` into a new entry when the keyring is in use and takes it; `None` (keep it in
    /// the file) otherwise, with the reason logged.
    pub fn stash(&self, paths: &Paths, secret: &str) -> Result<Option<String>, KeystoreError> {
        let ks = Keystore::open(paths)?;
        if !ks.is_keyring() {
            return Ok(None);
        }
        let id = new_entry_id();
        let user = entry_user(self.kind, &id).expect("a fresh id is valid");
        match ks.set(&user, secret.as_bytes()) {
            Ok(()) => Ok(Some(id)),
            Err(e) => {
                log::warn!(
                    "the {} stays in its file: the keyring refused it ({e})",
                    self.kind
                );
                Ok(None)
            }
        }
    }

    /// The secret kept as entry `id`.
    pub fn fetch(&self, paths: &Paths, id: &str) -> Result<Zeroizing<String>, KeystoreError> {
        let user = entry_user(self.kind, id)
            .ok_or_else(|| KeystoreError::Failed("the file names no valid keyring entry".into()))?;
        let ks = Keystore::open(paths)?;
        if let Location::File(reason) = ks.location() {
            return Err(KeystoreError::Failed(format!(
                "the {} is in the keyring, which cannot be used now: {reason}",
                self.kind
            )));
        }
        let bytes = ks.get(&user)?.ok_or_else(|| {
            KeystoreError::Failed(format!("the {} is missing from the keyring", self.kind))
        })?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|e| {
                let mut b = e.into_bytes();
                zeroize::Zeroize::zeroize(&mut b);
                KeystoreError::Failed("the keyring entry is not text".into())
            })
    }

    /// Deletes entry `id`; best effort (logged), like the link's.
    pub fn forget(&self, paths: &Paths, id: &str) {
        let Some(user) = entry_user(self.kind, id) else {
            return;
        };
        match Keystore::open(paths).and_then(|ks| {
            if ks.is_keyring() {
                ks.delete(&user)
            } else {
                Ok(false)
            }
        }) {
            Ok(true) => {}
            Ok(false) => log::warn!("the keyring entry {user} was not found or cannot be reached"),
            Err(e) => log::warn!("could not delete the keyring entry {user}: {e}"),
        }
    }
}

/// A new entry id: 128 random bits, hex.
pub fn new_entry_id() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("the system random generator failed");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `<kind>/<id>`, the entry's user name; the id must be one [`new_entry_id`] made.
pub fn entry_user(kind: &str, id: &str) -> Option<String> {
    (id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then(|| format!("{kind}/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_that_hangs_is_abandoned_with_a_clear_error() {
        let (_keep, rx) = mpsc::channel::<()>();
        // Blocks until the test ends: stands for a keyring waiting on an unseen prompt.
        let e = with_timeout_of(Duration::from_millis(1), move || rx.recv().is_ok()).unwrap_err();
        assert!(matches!(e, KeystoreError::Timeout));
        assert!(e.to_string().contains("did not answer"), "{e}");
        assert_eq!(with_timeout_of(TIMEOUT, || 7).unwrap(), 7);
    }

    #[test]
    fn modes_and_entry_names() {
        assert_eq!(Mode::parse("auto").unwrap(), Mode::Auto);
        assert_eq!(Mode::parse("").unwrap(), Mode::Auto);
        assert_eq!(Mode::parse("file").unwrap(), Mode::File);
        assert_eq!(Mode::parse("keyring").unwrap(), Mode::Keyring);
        assert!(Mode::parse("plaintext").is_err());
        let id = new_entry_id();
        assert_ne!(id, new_entry_id());
        assert_eq!(
            entry_user("anotherpass-link", &id).unwrap(),
            format!("anotherpass-link/{id}")
        );
        assert!(entry_user("x", "../etc").is_none());
        assert!(entry_user("x", &id.to_uppercase()).is_none());
    }

    #[test]
    fn file_location_says_why() {
        let ks = Keystore::file("no D-Bus session bus".into());
        assert!(!ks.is_keyring());
        assert_eq!(ks.location().kind(), "file");
        let w = ks
            .location()
            .file_warning(std::path::Path::new("/x/link.json"))
            .unwrap();
        assert!(
            w.contains("/x/link.json") && w.contains("no D-Bus session bus"),
            "{w}"
        );
        assert!(ks.set("a/b", b"s").is_err());
        assert_eq!(
            Location::Keyring(BACKEND).to_json()["kind"],
            serde_json::json!("keyring")
        );
    }
}
