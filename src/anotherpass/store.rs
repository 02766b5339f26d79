//! The link on disk: one 0600 JSON file with the link secrets (client private key, BK, app key,
//! webClientId, server, port, vault id) and one 0600 file for a linking in progress.
//!
//! The pending link lives in a file, not only in memory, because a browser's `sendNativeMessage`
//! starts a new host process per message: `link.start`, `link.complete` and `link.confirm` may run
//! in three processes. It expires after [`PENDING_LIFETIME`] without progress.
//! Both files are read with a size cap and zeroized in memory.

use super::address::Server;
use super::b64;
use super::rsa::{RsaKeyPair, RsaPublicKey};
use crate::config::Paths;
use crate::fsutil;
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
}

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
    /// PKCS#8 DER of the client key, standard base64.
    pub client_private_key: String,
    pub app_n: String,
    pub app_e: String,
    /// BK, standard base64 (its length, 16 or 32 bytes, is the OTK length).
    pub base_key: String,
    pub linked_at: u64,
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

/// The current link, decoded; `None` when not linked.
pub fn load_link(paths: &Paths) -> Result<Option<Link>, StoreError> {
    let Some(f) = load_link_file(paths)? else {
        return Ok(None);
    };
    let Some(s) = &f.link else {
        return Ok(None);
    };
    let path = link_path(paths);
    let bad = |what: &str| corrupt(&path, what);
    let der = b64::decode(&s.client_private_key).map_err(|_| bad("bad client key"))?;
    let client = RsaKeyPair::from_pkcs8(&der).map_err(|_| bad("bad client key"))?;
    let app_key = RsaPublicKey::from_jwk(&s.app_n, &s.app_e).map_err(|_| bad("bad app key"))?;
    let base_key = b64::decode(&s.base_key).map_err(|_| bad("bad base key"))?;
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
