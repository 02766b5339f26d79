//! The link on disk: one 0600 JSON file with the link secrets (client private key, BK, app key,
//! webClientId, server, port, vault id) and one 0600 file for a linking in progress.
//!
//! The pending link lives in a file, not only in memory, because a browser's `sendNativeMessage`
//! starts a new host process per message: `link.start`, `link.complete` and `link.confirm` may run
//! in three processes. It expires after [`PENDING_LIFETIME`] without progress.
//! Both files are read with a size cap and zeroized in memory.
//!
//! The link's two secrets (the client's private key and BK) go to the operating system's keyring
//! when one answers ([`crate::keystore`]): the file then names the keyring entry instead. A file
//! written before (or on a computer without a keyring) holds them itself; it is moved into the
//! keyring the first time the link is used where a keyring answers.

use super::address::Server;
use super::b64;
use super::rsa::{RsaKeyPair, RsaPublicKey};
use crate::config::Paths;
use crate::fsutil;
use crate::keystore::{self, Keystore, Location};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub const LINK_FILE: &str = "anotherpass-link.json";
pub const PENDING_FILE: &str = "anotherpass-pending.json";
/// A linking in progress is dropped after this long without a step.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(15 * 60);
const FILE_CAP: u64 = 256 * 1024;
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({detail}). Unlink ANOTHERpass and link it again.")]
    Corrupt { path: PathBuf, detail: String },
    #[error("The link's keys are in the keyring, which cannot be used now: {0}")]
    Keyring(String),
}

/// The kind part of the keyring entry's name (`anotherpass-link/<id>`).
pub const KEYRING_KIND: &str = "anotherpass-link";

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The identity that survives an unlink (so a relink gives the same clientKey) and the link.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Default)]
pub struct LinkFile {
    pub version: u32,
    pub web_client_id: String,
    /// The linked vault; sent as `vaultId` on relink so the app refuses another vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkSecrets>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Default, Clone)]
pub struct LinkSecrets {
    pub server: String,
    pub port: u16,
    /// PKCS#8 DER of the client key, standard base64; empty when the keyring holds it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_private_key: String,
    pub app_n: String,
    pub app_e: String,
    /// BK, standard base64 (its length, 16 or 32 bytes, is the OTK length); empty when the keyring
    /// holds it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_key: String,
    pub linked_at: u64,
    /// The id of the keyring entry that holds the client key and BK ([`KEYRING_KIND`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
}

impl LinkSecrets {
    fn in_file(&self) -> bool {
        self.keyring.is_none()
    }
}

/// The keyring entry's content: `1`, the DER's length (u16, big-endian), the DER, BK. Binary, not
/// base64: Windows' Credential Manager holds at most 2560 bytes, and an RSA-4096 key is ~2.4 KB.
fn encode_secret(s: &LinkSecrets) -> Option<Zeroizing<Vec<u8>>> {
    let der = b64::decode(&s.client_private_key).ok()?;
    let bk = b64::decode(&s.base_key).ok()?;
    let len = u16::try_from(der.len()).ok()?;
    let mut out = Zeroizing::new(Vec::with_capacity(3 + der.len() + bk.len()));
    out.push(1);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&der);
    out.extend_from_slice(&bk);
    Some(out)
}

type Bytes = Zeroizing<Vec<u8>>;

/// (DER, BK) from a keyring entry's content.
fn decode_secret(b: &[u8]) -> Option<(Bytes, Bytes)> {
    let (&[1, hi, lo], rest) = b.split_first_chunk::<3>()? else {
        return None;
    };
    let len = u16::from_be_bytes([hi, lo]) as usize;
    (rest.len() > len).then(|| {
        (
            Zeroizing::new(rest[..len].to_vec()),
            Zeroizing::new(rest[len..].to_vec()),
        )
    })
}

/// A linking in progress.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Default)]
pub struct PendingFile {
    pub version: u32,
    pub created_at: u64,
    pub updated_at: u64,
    pub web_client_id: String,
    /// Set when relinking: the vault the app must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relink_vault_id: Option<String>,
    /// SK, standard base64 (16 bytes).
    pub session_key: String,
    pub client_private_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<PendingAnswer>,
}

/// The app's link answer, kept until the user confirms the fingerprints match.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Default, Clone)]
pub struct PendingAnswer {
    pub server: String,
    pub port: u16,
    pub app_n: String,
    pub app_e: String,
    pub base_key: String,
    pub vault_id: String,
}

impl PendingFile {
    pub fn expired(&self, now: u64) -> bool {
        now < self.updated_at || now - self.updated_at > PENDING_LIFETIME.as_secs()
    }
    pub fn expires_in(&self, now: u64) -> u64 {
        (self.updated_at + PENDING_LIFETIME.as_secs()).saturating_sub(now)
    }
}

/// A usable link: everything decoded and checked.
pub struct Link {
    pub web_client_id: String,
    pub vault_id: Option<String>,
    pub server: Server,
    pub port: u16,
    pub client: RsaKeyPair,
    pub app_key: RsaPublicKey,
    pub base_key: Zeroizing<Vec<u8>>,
    pub linked_at: u64,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("web_client_id", &self.web_client_id)
            .field("server", &self.server.as_str())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

pub fn link_path(paths: &Paths) -> PathBuf {
    paths.data_dir.join(LINK_FILE)
}

pub fn pending_path(paths: &Paths) -> PathBuf {
    paths.data_dir.join(PENDING_FILE)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Reads a small JSON file into `T`; `None` when absent.
fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StoreError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(FILE_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    if bytes.len() as u64 > FILE_CAP {
        return Err(corrupt(path, "too large"));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| corrupt(path, format!("not valid JSON: line {}", e.line())))
}

fn write_json<T: Serialize>(paths: &Paths, path: &Path, value: &T) -> Result<(), StoreError> {
    paths.ensure().map_err(|e| StoreError::Io {
        path: paths.data_dir.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    // Pre-sized so serialization never reallocates (a reallocation would leave a copy behind).
    let mut bytes = Zeroizing::new(Vec::with_capacity(FILE_CAP as usize));
    serde_json::to_writer_pretty(&mut *bytes, value).expect("link files serialize");
    fsutil::write_atomic(path, &bytes).map_err(io(path))
}

fn remove(path: &Path) -> Result<bool, StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(path)(e)),
    }
}

/// Serializes link changes between processes (the host and the CLI).
pub fn lock(paths: &Paths) -> Result<fsutil::LockGuard, StoreError> {
    let path = link_path(paths);
    paths.ensure().map_err(|e| StoreError::Io {
        path: paths.data_dir.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    fsutil::lock_exclusive(&path).map_err(io(&path))
}

pub fn load_link_file(paths: &Paths) -> Result<Option<LinkFile>, StoreError> {
    let path = link_path(paths);
    let f: Option<LinkFile> = read_json(&path)?;
    if let Some(f) = &f {
        if f.version != VERSION {
            return Err(corrupt(&path, format!("unknown version {}", f.version)));
        }
        if !super::ids::is_web_client_id(&f.web_client_id) {
            return Err(corrupt(&path, "bad webClientId"));
        }
    }
    Ok(f)
}

pub fn save_link_file(paths: &Paths, f: &LinkFile) -> Result<(), StoreError> {
    write_json(paths, &link_path(paths), f)
}

pub fn remove_link_file(paths: &Paths) -> Result<bool, StoreError> {
    remove(&link_path(paths))
}

/// Saves `file`, its link's secrets in the keyring when `ks` is one; returns where they went.
///
/// A keyring that refuses them (too long, locked, gone) is not fatal: they go to the file and the
/// returned location says why. A keyring entry of the link this one replaces is deleted.
pub fn save_link(
    paths: &Paths,
    file: &mut LinkFile,
    ks: &Keystore,
) -> Result<Location, StoreError> {
    let mut location = ks.location().clone();
    if let Some(s) = file.link.as_mut().filter(|s| s.in_file())
        && ks.is_keyring()
    {
        let id = keystore::new_entry_id();
        let user = keystore::entry_user(KEYRING_KIND, &id).expect("a fresh id is valid");
        let blob = encode_secret(s).ok_or_else(|| corrupt(&link_path(paths), "bad keys"))?;
        match ks.set(&user, &blob) {
            Ok(()) => {
                // Zeroize also empties them, so the file no longer carries them.
                s.client_private_key.zeroize();
                s.base_key.zeroize();
                s.keyring = Some(id);
            }
            Err(e) => location = Location::File(format!("the keyring refused them ({e})")),
        }
    }
    let previous = load_link_file(paths)
        .ok()
        .flatten()
        .and_then(|f| f.link.as_ref().and_then(|l| l.keyring.clone()));
    save_link_file(paths, file)?;
    let current = file.link.as_ref().and_then(|l| l.keyring.as_deref());
    if let Some(old) = previous.filter(|old| Some(old.as_str()) != current) {
        forget_secrets(paths, &old);
    }
    if file.link.as_ref().is_some_and(|s| !s.in_file()) {
        location = ks.location().clone();
    }
    Ok(location)
}

/// Deletes the keyring entry `id` (unlink, relink). Best effort: a keyring that cannot be reached
/// now keeps an entry nothing refers to any more, which is logged.
pub fn forget_secrets(paths: &Paths, id: &str) {
    let Some(user) = keystore::entry_user(KEYRING_KIND, id) else {
        return;
    };
    let result = Keystore::open(paths).and_then(|ks| {
        if ks.is_keyring() {
            ks.delete(&user)
        } else {
            Ok(false)
        }
    });
    match result {
        Ok(true) => log::info!("deleted the old link's keyring entry"),
        Ok(false) => log::warn!(
            "the old link's keyring entry {user} was not found or the keyring cannot be reached"
        ),
        Err(e) => log::warn!("could not delete the old link's keyring entry {user}: {e}"),
    }
}

/// Where the current link's secrets are: `None` when not linked.
pub fn link_location(paths: &Paths) -> Result<Option<&'static str>, StoreError> {
    Ok(load_link_file(paths)?.and_then(|f| {
        f.link
            .as_ref()
            .map(|l| if l.in_file() { "file" } else { "keyring" })
    }))
}

/// The current link, decoded; `None` when not linked. A link whose secrets are still in the file
/// is moved into the keyring first when one answers (see the module comment).
pub fn load_link(paths: &Paths) -> Result<Option<Link>, StoreError> {
    let Some(f) = load_link_file(paths)? else {
        return Ok(None);
    };
    let Some(s) = &f.link else {
        return Ok(None);
    };
    let path = link_path(paths);
    let bad = |what: &str| corrupt(&path, what);
    let (der, base_key) = match &s.keyring {
        None => {
            let keys = (
                b64::decode(&s.client_private_key).map_err(|_| bad("bad client key"))?,
                b64::decode(&s.base_key).map_err(|_| bad("bad base key"))?,
            );
            migrate(paths, &f);
            keys
        }
        Some(id) => {
            let user =
                keystore::entry_user(KEYRING_KIND, id).ok_or_else(|| bad("bad keyring id"))?;
            let ks = Keystore::open(paths).map_err(|e| StoreError::Keyring(e.to_string()))?;
            if let Location::File(reason) = ks.location() {
                return Err(StoreError::Keyring(reason.clone()));
            }
            let blob = ks
                .get(&user)
                .map_err(|e| StoreError::Keyring(e.to_string()))?
                .ok_or_else(|| bad("its keys are missing from the keyring"))?;
            decode_secret(&blob).ok_or_else(|| bad("the keyring entry is not a link's keys"))?
        }
    };
    let s = f.link.as_ref().expect("checked above");
    let client = RsaKeyPair::from_pkcs8(&der).map_err(|_| bad("bad client key"))?;
    let app_key = RsaPublicKey::from_jwk(&s.app_n, &s.app_e).map_err(|_| bad("bad app key"))?;
    if base_key.len() != 16 && base_key.len() != 32 {
        return Err(bad("bad base key length"));
    }
    let server = Server::parse(&s.server).map_err(|_| bad("bad server address"))?;
    Ok(Some(Link {
        web_client_id: f.web_client_id.clone(),
        vault_id: f.vault_id.clone(),
        server,
        port: s.port,
        client,
        app_key,
        base_key,
        linked_at: s.linked_at,
    }))
}

/// Moves a link's secrets from the file into the keyring, when one answers. Failures leave the
/// file as it was (the link keeps working from it) and are logged.
fn migrate(paths: &Paths, seen: &LinkFile) {
    let ks = match Keystore::open(paths) {
        Ok(ks) if ks.is_keyring() => ks,
        _ => return,
    };
    let moved = lock(paths).and_then(|_lock| {
        // Another process may have moved them since `seen` was read.
        let Some(mut f) = load_link_file(paths)? else {
            return Ok(None);
        };
        if f.web_client_id != seen.web_client_id || !f.link.as_ref().is_some_and(|l| l.in_file()) {
            return Ok(None);
        }
        save_link(paths, &mut f, &ks).map(Some)
    });
    match moved {
        Ok(Some(Location::Keyring(_))) => log::info!("moved the link's keys into the keyring"),
        Ok(Some(Location::File(reason))) => {
            log::warn!("the link's keys stay in the file: {reason}")
        }
        Ok(None) => {}
        Err(e) => log::warn!("could not move the link's keys into the keyring: {e}"),
    }
}

pub fn load_pending(paths: &Paths) -> Result<Option<PendingFile>, StoreError> {
    let path = pending_path(paths);
    let p: Option<PendingFile> = match read_json(&path) {
        Ok(p) => p,
        // A damaged pending file only costs a new QR code.
        Err(StoreError::Corrupt { .. }) => {
            remove(&path)?;
            None
        }
        Err(e) => return Err(e),
    };
    match p {
        Some(p) if p.version == VERSION && !p.expired(now_secs()) => Ok(Some(p)),
        Some(_) => {
            remove(&path)?;
            Ok(None)
        }
        None => Ok(None),
    }
}

pub fn save_pending(paths: &Paths, p: &PendingFile) -> Result<(), StoreError> {
    write_json(paths, &pending_path(paths), p)
}

pub fn remove_pending(paths: &Paths) -> Result<bool, StoreError> {
    remove(&pending_path(paths))
}

pub const CURRENT_VERSION: u32 = VERSION;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anotherpass::rsa::tests::small_key;

    fn sample() -> LinkFile {
        let k = small_key();
        LinkFile {
            version: VERSION,
            web_client_id: "ABC-DEF".into(),
            vault_id: Some("aacofrwj".into()),
            link: Some(LinkSecrets {
                server: "@icpmd".into(),
                port: 8787,
                client_private_key: b64::std_padded(&k.pkcs8().unwrap()),
                app_n: k.public().n().into(),
                app_e: k.public().e().into(),
                base_key: b64::std_padded(&[1u8; 32]),
                linked_at: 1,
                keyring: None,
            }),
        }
    }

    #[test]
    fn link_round_trip_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(load_link(&paths).unwrap().is_none());
        save_link_file(&paths, &sample()).unwrap();
        let l = load_link(&paths).unwrap().unwrap();
        assert_eq!(l.web_client_id, "ABC-DEF");
        assert_eq!(l.server.base_url(l.port), "http://192.168.178.39:8787/");
        assert_eq!(*l.base_key, [1u8; 32]);
        assert!(!format!("{l:?}").contains("AQAB"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(link_path(&paths))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(remove_link_file(&paths).unwrap());
        assert!(!remove_link_file(&paths).unwrap());
    }

    #[test]
    fn keyring_entry_round_trip_and_damage() {
        let f = sample();
        let s = f.link.as_ref().unwrap();
        let blob = encode_secret(s).unwrap();
        let (der, bk) = decode_secret(&blob).unwrap();
        assert_eq!(b64::std_padded(&der), s.client_private_key);
        assert_eq!(*bk, [1u8; 32]);
        assert!(decode_secret(&blob[..3 + der.len()]).is_none(), "no BK");
        assert!(decode_secret(&[2, 0, 0, 1]).is_none(), "unknown version");
        assert!(decode_secret(&[]).is_none());
    }

    #[test]
    fn a_file_store_keeps_the_keys_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let mut f = sample();
        let ks = Keystore::file("test".into());
        let at = save_link(&paths, &mut f, &ks).unwrap();
        assert_eq!(at, Location::File("test".into()));
        assert_eq!(link_location(&paths).unwrap(), Some("file"));
        let text = std::fs::read_to_string(link_path(&paths)).unwrap();
        assert!(text.contains("client_private_key") && !text.contains("keyring"));
        // A file that points into a keyring nobody can reach is an error that says so.
        let mut f = sample();
        f.link.as_mut().unwrap().client_private_key.clear();
        f.link.as_mut().unwrap().base_key.clear();
        f.link.as_mut().unwrap().keyring = Some(keystore::new_entry_id());
        save_link_file(&paths, &f).unwrap();
        assert_eq!(link_location(&paths).unwrap(), Some("keyring"));
    }

    #[test]
    fn identity_without_link_is_not_linked() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let mut f = sample();
        f.link = None;
        save_link_file(&paths, &f).unwrap();
        assert!(load_link(&paths).unwrap().is_none());
        assert_eq!(
            load_link_file(&paths).unwrap().unwrap().web_client_id,
            "ABC-DEF"
        );
    }

    #[test]
    fn damaged_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        paths.ensure().unwrap();
        for (content, want) in [
            ("{nope", "not valid JSON"),
            (
                r#"{"version":9,"web_client_id":"ABC-DEF"}"#,
                "unknown version",
            ),
            (r#"{"version":1,"web_client_id":"abc"}"#, "bad webClientId"),
        ] {
            std::fs::write(link_path(&paths), content).unwrap();
            let e = load_link(&paths).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("link it again"), "{e}");
        }
        let mut f = sample();
        f.link.as_mut().unwrap().base_key = "AAAA".into();
        save_link_file(&paths, &f).unwrap();
        assert!(
            load_link(&paths)
                .unwrap_err()
                .to_string()
                .contains("base key")
        );
        std::fs::write(link_path(&paths), vec![b' '; FILE_CAP as usize + 10]).unwrap();
        assert!(
            load_link(&paths)
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
    }

    #[test]
    fn pending_expires_and_damaged_pending_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let now = now_secs();
        let mut p = PendingFile::default();
        p.version = VERSION;
        p.created_at = now;
        p.updated_at = now;
        p.web_client_id = "ABC-DEF".into();
        save_pending(&paths, &p).unwrap();
        assert!(load_pending(&paths).unwrap().is_some());
        p.updated_at = now - PENDING_LIFETIME.as_secs() - 1;
        save_pending(&paths, &p).unwrap();
        assert!(load_pending(&paths).unwrap().is_none());
        assert!(!pending_path(&paths).exists());
        std::fs::write(pending_path(&paths), "{").unwrap();
        assert!(load_pending(&paths).unwrap().is_none());
        assert!(!pending_path(&paths).exists());
    }
}
