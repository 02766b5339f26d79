//! The credential commands, one action each (spec §4.3). Every result's clientKey goes to the
//! local vault through [`CredentialSink::received`](super::seam::CredentialSink) and is
//! not returned to the extension unless `get_client_key` is called with `reveal: true`.
//!
//! Common params: `poll_interval_ms` (100–60000) and `timeout_ms` (100–600000) override the
//! settings for this call. Common result fields: `request_fingerprint` (what the phone showed)
//! and `vault_updated` (false, with `vault_error`, if the local vault could not take the result).

use super::b64;
use super::client::{self, Connection, Outcome, PollOptions};
use super::error::Error;
use super::link::storage;
use super::operation;
use super::seam::{ClientKey, Credential};
use super::store::{self, Link};
use super::wire::Command;
use super::{Settings, limits};
use crate::api::Ctx;
use crate::config::Paths;
use crate::credentials::otp::{OtpAuth, OtpCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::{Zeroize, ZeroizeOnDrop};

const MAX_TEXT: usize = 4096;
const MAX_UIDS: usize = 10_000;
/// Vault backups are JSON of the whole vault; far below this in practice.
pub const BACKUP_CAP: u64 = 256 * 1024 * 1024;
/// The one-time download may be large on slow Wi-Fi.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

fn settings(ctx: &Ctx) -> Settings {
    super::settings(ctx)
}

/// The poll timing a request may override (every credential command takes these params).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Timing {
    /// Pause between polls, 100–60000 ms.
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// How long to wait for the phone, 100–600000 ms.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// The [`Timing`] fields of a params struct that repeats them (a flattened struct would lose
/// the field's name in `invalid_params` messages).
macro_rules! timing_of {
    ($($params:ty),*) => {$(
        impl $params {
            fn timing(&self) -> Timing {
                Timing {
                    poll_interval_ms: self.poll_interval_ms,
                    timeout_ms: self.timeout_ms,
                }
            }
        }
    )*};
}

/// Poll timing from the settings, overridden by the request's [`Timing`].
pub fn poll_options(s: &Settings, t: Timing) -> Result<PollOptions, Error> {
    let ms = |key: &str, v: Option<u64>, min: u64, max: u64| -> Result<Option<Duration>, Error> {
        match v {
            None => Ok(None),
            Some(v) if (min..=max).contains(&v) => Ok(Some(Duration::from_millis(v))),
            Some(_) => Err(Error::InvalidParams(format!(
                "\"{key}\" must be between {min} and {max} milliseconds."
            ))),
        }
    };
    Ok(PollOptions {
        interval: ms(
            "poll_interval_ms",
            t.poll_interval_ms,
            limits::POLL_INTERVAL_MIN,
            limits::POLL_INTERVAL_MAX,
        )?
        .unwrap_or_else(|| s.poll_interval()),
        timeout: ms(
            "timeout_ms",
            t.timeout_ms,
            limits::TIMEOUT_MIN,
            limits::TIMEOUT_MAX,
        )?
        .unwrap_or_else(|| s.timeout()),
        http_timeout: s.http_timeout(),
    })
}

pub(crate) fn load_link(ctx: &Ctx) -> Result<Link, Error> {
    store::load_link(&ctx.state.paths)
        .map_err(storage)?
        .ok_or(Error::NotLinked)
}

/// Runs a command against the linked phone with the given timing.
pub(crate) fn run_command(
    ctx: &Ctx,
    link: &Link,
    command: &Command,
    opts: &PollOptions,
) -> Result<Outcome, Error> {
    let s = settings(ctx);
    let conn = Connection::new(link, &s)?;
    client::run(ctx, &super::state(ctx).http, &conn, command, opts)
}

/// Check params and link, ask the approval gate, run, require a clientKey: the shared start of
/// every action (the gate comes after the cheap checks, so nobody approves a request that fails).
fn fetch(ctx: &Ctx, t: Timing, command: Command) -> Result<(Link, Outcome, ClientKey), Error> {
    let opts = poll_options(&settings(ctx), t)?;
    let link = load_link(ctx)?;
    ctx.state
        .gate()
        .require(ctx, operation::ANOTHERPASS_FETCH)?;
    let mut outcome = run_command(ctx, &link, &command, &opts)?;
    let key = outcome
        .answer
        .client_key
        .take()
        .ok_or_else(|| Error::BadReply("the answer has no clientKey".into()))?;
    Ok((link, outcome, key))
}

/// A credential as the app sent it, plus `otp_code` for an `otpauth://` URI. The credential
/// (secrets included) is wiped from memory when dropped.
#[derive(Serialize)]
pub struct CredentialOut {
    #[serde(flatten)]
    pub credential: Credential,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp_code: Option<OtpResult>,
}

/// The current one-time code, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OtpResult {
    Code(OtpCode),
    Error { error: String },
}

impl CredentialOut {
    pub fn new(credential: Credential) -> Self {
        let otp_code =
            (!credential.otp.trim().is_empty()).then(|| match OtpAuth::parse(&credential.otp) {
                Ok(o) => OtpResult::Code(o.code_now()),
                Err(e) => OtpResult::Error {
                    error: e.to_string(),
                },
            });
        Self {
            credential,
            otp_code,
        }
    }
}

/// The fields every command's result has: the request's fingerprint, and what the local vault
/// made of the result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// What the phone showed for this request.
    pub request_fingerprint: String,
    /// Whether the local vault took the result.
    pub vault_updated: bool,
    /// Why not (`{code, message}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_error: Option<Value>,
}

/// Hands the result to the vault (reported, never fatal: the user has the data) and says how
/// that went.
fn finish(ctx: &Ctx, outcome: &Outcome, key: &ClientKey, creds: &[Credential]) -> Delivery {
    let (vault_updated, vault_error) = match super::sink(ctx).received(ctx, key, creds) {
        Ok(()) => (true, None),
        Err(e) => {
            log::warn!(
                "the local vault did not take the ANOTHERpass result: {}",
                e.code
            );
            (false, Some(e.to_json()))
        }
    };
    Delivery {
        request_fingerprint: outcome.fingerprint.clone(),
        vault_updated,
        vault_error,
    }
}

/// A text param: trimmed, empty counts as absent, at most [`MAX_TEXT`] bytes.
fn text_param(v: Option<&str>, key: &str, required: bool) -> Result<Option<String>, Error> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None if required => Err(Error::InvalidParams(format!(
            "\"{key}\" is required and must not be empty."
        ))),
        Some(s) if s.len() > MAX_TEXT => Err(Error::InvalidParams(format!(
            "\"{key}\" is longer than {MAX_TEXT} bytes."
        ))),
        v => Ok(v.map(str::to_owned)),
    }
}

/// The app ignores malformed uids silently (and then waits forever); refuse them here.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn uid_param(v: Option<&str>, key: &str, required: bool) -> Result<Option<String>, Error> {
    let uid = text_param(v, key, required)?;
    if let Some(u) = &uid
        && !is_uuid(u)
    {
        return Err(Error::InvalidParams(format!(
            "\"{key}\" must be a credential uid (a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e)."
        )));
    }
    Ok(uid.map(|u| u.to_ascii_lowercase()))
}

/// One credential and how it was delivered.
#[derive(Serialize)]
pub struct CredentialReply {
    pub credential: CredentialOut,
    #[serde(flatten)]
    pub delivery: Delivery,
}

/// Several credentials and how they were delivered.
#[derive(Serialize)]
pub struct CredentialsReply {
    pub credentials: Vec<CredentialOut>,
    #[serde(flatten)]
    pub delivery: Delivery,
}

fn single_result(
    ctx: &Ctx,
    t: Timing,
    command: Command,
    remember_for: Option<&str>,
) -> Result<CredentialReply, Error> {
    let (_link, mut outcome, key) = fetch(ctx, t, command)?;
    let cred = outcome
        .answer
        .credential
        .take()
        .ok_or_else(|| Error::BadReply("the answer has no credential".into()))?;
    let delivery = finish(ctx, &outcome, &key, std::slice::from_ref(&cred));
    // After `finish`: the result's key is what unlocks (or creates) the vault that remembers.
    if let (Some(site), Some(uid)) = (remember_for, &cred.uid) {
        super::sink(ctx).remember_uid(ctx, site, uid);
    }
    Ok(CredentialReply {
        credential: CredentialOut::new(cred),
        delivery,
    })
}

fn list_result(ctx: &Ctx, t: Timing, command: Command) -> Result<CredentialsReply, Error> {
    let (_link, mut outcome, key) = fetch(ctx, t, command)?;
    let creds = outcome
        .answer
        .credentials
        .take()
        .ok_or_else(|| Error::BadReply("the answer has no credential list".into()))?;
    let delivery = finish(ctx, &outcome, &key, &creds);
    Ok(CredentialsReply {
        credentials: creds.into_iter().map(CredentialOut::new).collect(),
        delivery,
    })
}

/// `anotherpass.fetch_credential_for_url` and `anotherpass.create_credential_for_url`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UrlParams {
    /// The website (required).
    #[serde(default)]
    pub website: Option<String>,
    /// Preferred user name.
    #[serde(default)]
    pub user: Option<String>,
    /// The credential to send (fetch only; default: the one chosen for this site last time).
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `{website, user?, uid?}` → `{credential, request_fingerprint, vault_updated}`. Without `uid`,
/// the uid the user chose for this site last time (from the vault) is sent, and the result's uid
/// is remembered.
pub fn fetch_credential_for_url(ctx: &Ctx, p: UrlParams) -> Result<CredentialReply, Error> {
    let website = text_param(p.website.as_deref(), "website", true)?.expect("required");
    let user = text_param(p.user.as_deref(), "user", false)?;
    let uid = match uid_param(p.uid.as_deref(), "uid", false)? {
        Some(u) => Some(u),
        None => super::sink(ctx)
            .remembered_uid(ctx, &website)
            .filter(|u| is_uuid(u)),
    };
    let command = Command::FetchCredentialForUrl {
        website: website.clone(),
        user,
        uid,
    };
    single_result(ctx, p.timing(), command, Some(&website))
}

/// `anotherpass.fetch_credential_for_uid {uid}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UidParams {
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `{uid}` → `{credential, …}`. An unknown uid ends as `denied_by_user` (the app answers 403).
pub fn fetch_credential_for_uid(ctx: &Ctx, p: UidParams) -> Result<CredentialReply, Error> {
    let uid = uid_param(p.uid.as_deref(), "uid", true)?.expect("required");
    single_result(
        ctx,
        p.timing(),
        Command::FetchCredentialForUid { uid },
        None,
    )
}

/// `anotherpass.fetch_credentials_for_uids {uids}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UidsParams {
    #[serde(default)]
    pub uids: Option<Vec<String>>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `{uids: [..]}` → `{credentials, …}` (unknown and veiled credentials are left out by the app).
pub fn fetch_credentials_for_uids(ctx: &Ctx, p: UidsParams) -> Result<CredentialsReply, Error> {
    let uids = uids_param(p.uids.as_deref())?;
    list_result(ctx, p.timing(), Command::FetchCredentialsForUids { uids })
}

fn uids_param(uids: Option<&[String]>) -> Result<Vec<String>, Error> {
    let bad = || {
        Error::InvalidParams(format!(
            "\"uids\" must be a list of 1 to {MAX_UIDS} credential uids (UUIDs)."
        ))
    };
    let list = uids.ok_or_else(bad)?;
    if list.is_empty() || list.len() > MAX_UIDS {
        return Err(bad());
    }
    list.iter()
        .map(|u| is_uuid(u).then(|| u.to_ascii_lowercase()).ok_or_else(bad))
        .collect()
}

/// `{}` → `{credential, …}`: the user picks one on the phone.
pub fn fetch_single_credential(ctx: &Ctx, t: Timing) -> Result<CredentialReply, Error> {
    single_result(ctx, t, Command::FetchSingleCredential, None)
}

/// `{}` → `{credentials, …}`: the user picks several on the phone.
pub fn fetch_multiple_credentials(ctx: &Ctx, t: Timing) -> Result<CredentialsReply, Error> {
    list_result(ctx, t, Command::FetchMultipleCredentials)
}

/// `{}` → `{credentials, …}`: the whole vault (veiled credentials excluded by the app).
pub fn fetch_all_credentials(ctx: &Ctx, t: Timing) -> Result<CredentialsReply, Error> {
    list_result(ctx, t, Command::FetchAllCredentials)
}

/// `{website, user?}` → `{credential, …}`: the user creates it on the phone. (`uid` is not
/// used.)
pub fn create_credential_for_url(ctx: &Ctx, p: UrlParams) -> Result<CredentialReply, Error> {
    let website = text_param(p.website.as_deref(), "website", true)?.expect("required");
    let user = text_param(p.user.as_deref(), "user", false)?;
    single_result(
        ctx,
        p.timing(),
        Command::CreateCredentialForUrl { website, user },
        None,
    )
}

/// `anotherpass.get_client_key {reveal?}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientKeyParams {
    /// Hand the key itself to the caller.
    #[serde(default)]
    pub reveal: Option<bool>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// The clientKey went to the vault, and to the caller only when revealed (then wiped from
/// memory when dropped).
#[derive(Serialize, Zeroize, ZeroizeOnDrop)]
pub struct ClientKeyReply {
    pub client_key_received: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(flatten)]
    #[zeroize(skip)]
    pub delivery: Delivery,
}

/// `{reveal?: bool}` → `{client_key_received: true, request_fingerprint, vault_updated,
/// client_key?}`. The key unlocks every local copy, so it stays in passbridge unless the
/// extension explicitly asks (`reveal: true`, for an extension that keeps its own store);
/// revealed as padded standard base64 without the app's trailing newline.
pub fn get_client_key(ctx: &Ctx, p: ClientKeyParams) -> Result<ClientKeyReply, Error> {
    let reveal = p.reveal.unwrap_or(false);
    if reveal {
        // The key opens the vault: handing it out is guarded like unlocking (see
        // `Operation::implied_by` in `operation::ALL`), before the phone is asked.
        ctx.state
            .gate()
            .require(ctx, operation::ANOTHERPASS_REVEAL_KEY)?;
    }
    let (_link, outcome, key) = fetch(ctx, p.timing(), Command::GetClientKey)?;
    Ok(ClientKeyReply {
        client_key_received: true,
        client_key: reveal.then(|| b64::std_padded(key.bytes())),
        delivery: finish(ctx, &outcome, &key, &[]),
    })
}

/// `anotherpass.download_vault_backup {directory?}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BackupParams {
    /// An absolute path to an existing directory.
    #[serde(default)]
    pub directory: Option<String>,
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// Bounds the whole request here: approval and download.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

timing_of!(
    UrlParams,
    UidParams,
    UidsParams,
    ClientKeyParams,
    BackupParams
);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupReply {
    /// Where the backup was saved.
    pub path: String,
    pub filename: Option<String>,
    pub bytes: u64,
    #[serde(flatten)]
    pub delivery: Delivery,
}

/// `{directory?}` → `{path, filename, bytes, request_fingerprint, vault_updated}`.
///
/// The app prepares the backup and a one-time key; the file is then fetched with
/// `GET /<downloadKey>` and saved under the app's file name (never overwriting: `-1`, `-2`, …
/// are added), 0600. Default directory: the `download_dir` setting, else the user's downloads.
pub fn download_vault_backup(ctx: &Ctx, p: BackupParams) -> Result<BackupReply, Error> {
    // `timeout_ms` bounds the whole request, approval and download: a phone that trickles
    // the file must not hold it longer.
    let deadline = p
        .timeout_ms
        .map(|ms| std::time::Instant::now() + Duration::from_millis(ms));
    let dir = match &p.directory {
        Some(d) => std::path::PathBuf::from(d),
        None => default_download_dir(&settings(ctx))?,
    };
    let dir = backup_dir(&dir, &ctx.state.paths)?;
    let (link, mut outcome, key) = fetch(ctx, p.timing(), Command::DownloadVaultBackup)?;
    let download_key = outcome
        .answer
        .download_key
        .take()
        .filter(|k| super::download::is_download_key(k, &link.web_client_id))
        .ok_or_else(|| Error::BadReply("the answer has no valid download key".into()))?;
    let filename = super::download::safe_filename(outcome.answer.filename.as_deref());
    let s = settings(ctx);
    let conn = Connection::new(&link, &s)?;
    let url = format!("{}{download_key}", conn.url);
    let timeout = match deadline {
        Some(d) => d.saturating_duration_since(std::time::Instant::now()),
        None => DOWNLOAD_TIMEOUT.max(s.http_timeout()),
    };
    let out_of_time = || {
        Error::Timeout(format!(
            "The backup did not arrive within the {} ms of \"timeout_ms\". Raise it, or keep the phone close to the Wi-Fi access point.",
            p.timeout_ms.unwrap_or(0)
        ))
    };
    if timeout.is_zero() {
        return Err(out_of_time());
    }
    let saved = super::download::fetch_to_dir(
        ctx,
        &super::state(ctx).http,
        &url,
        &dir,
        &filename,
        timeout,
        BACKUP_CAP,
    )
    .map_err(|e| match e {
        Error::DownloadFailed(_) if deadline.is_some_and(|d| std::time::Instant::now() >= d) => {
            out_of_time()
        }
        e => e,
    })?;
    Ok(BackupReply {
        path: saved.path.display().to_string(),
        filename: saved
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        bytes: saved.bytes,
        delivery: finish(ctx, &outcome, &key, &[]),
    })
}

/// Where a backup may be written: an absolute path (the host's working directory is wherever
/// the browser started it) to an existing directory that, symlinks resolved, is not inside
/// passbridge's own config or data directory (a backup must not land beside the vault).
/// Returns the resolved directory.
pub fn backup_dir(dir: &Path, paths: &Paths) -> Result<PathBuf, Error> {
    let shown = dir.display();
    if !dir.is_absolute() {
        return Err(Error::InvalidParams(format!(
            "\"directory\" must be an absolute path, not {shown}."
        )));
    }
    let meta = std::fs::metadata(dir).map_err(|e| {
        Error::InvalidParams(match e.kind() {
            std::io::ErrorKind::NotFound => format!("The directory {shown} does not exist."),
            _ => format!("Cannot use the directory {shown}: {e}."),
        })
    })?;
    if meta.is_file() {
        return Err(Error::InvalidParams(format!(
            "{shown} is a file, not a directory."
        )));
    }
    if !meta.is_dir() {
        return Err(Error::InvalidParams(format!("{shown} is not a directory.")));
    }
    let resolved = std::fs::canonicalize(dir)
        .map_err(|e| Error::InvalidParams(format!("Cannot resolve the directory {shown}: {e}.")))?;
    for own in [&paths.config_dir, &paths.data_dir] {
        let own = std::fs::canonicalize(own).unwrap_or_else(|_| own.clone());
        if resolved.starts_with(&own) {
            return Err(Error::InvalidParams(format!(
                "{shown} is inside passbridge's own directory {}; choose another directory for backups.",
                own.display()
            )));
        }
    }
    Ok(resolved)
}

fn default_download_dir(s: &Settings) -> Result<std::path::PathBuf, Error> {
    if let Some(d) = &s.download_dir {
        return Ok(d.clone());
    }
    let dirs = directories::UserDirs::new().ok_or_else(|| {
        Error::InvalidParams("No home directory found; pass \"directory\".".into())
    })?;
    Ok(dirs
        .download_dir()
        .unwrap_or_else(|| dirs.home_dir())
        .to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::assert_names_field as names_field;
    use serde_json::json;

    #[cfg(unix)]
    #[test]
    fn backup_directory_rules() {
        // Before: a relative path resolved against the browser's working directory, and
        // passbridge's own data directory was accepted (the backup landed beside the vault).
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::under(&tmp.path().join("home"));
        std::fs::create_dir_all(&paths.data_dir).unwrap();
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        let elsewhere = tmp.path().join("backups");
        std::fs::create_dir(&elsewhere).unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let link = tmp.path().join("sneaky");
        std::os::unix::fs::symlink(&paths.data_dir, &link).unwrap();
        let msg = |d: &Path| match backup_dir(d, &paths) {
            Err(Error::InvalidParams(m)) => m,
            other => panic!("{d:?}: {other:?}"),
        };
        assert!(msg(Path::new("backups")).contains("absolute"));
        assert!(msg(&tmp.path().join("missing")).contains("does not exist"));
        assert!(msg(&file).contains("is a file, not a directory"));
        assert!(msg(&paths.data_dir).contains("passbridge's own directory"));
        assert!(msg(&paths.config_dir.join("..").join("data")).contains("passbridge's own"));
        assert!(msg(&link).contains("passbridge's own directory"));
        let ok = backup_dir(&elsewhere, &paths).unwrap();
        assert_eq!(ok, std::fs::canonicalize(&elsewhere).unwrap());
    }

    #[test]
    fn uuid_check() {
        assert!(is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
        for bad in [
            "",
            "0f8fad5b",
            "0f8fad5bxd9cb-469f-a165-70867728950e",
            "0f8fad5b-d9cb-469f-a165-70867728950g",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    /// What the dispatcher does with a request's params: [`crate::api::params::parse`].
    fn parse<P: serde::de::DeserializeOwned>(v: Value) -> Result<P, crate::api::ApiError> {
        crate::api::params::parse(&v)
    }

    #[test]
    fn params_are_checked() {
        let s = Settings::default();
        let o = poll_options(&s, Timing::default()).unwrap();
        assert_eq!(
            (o.interval, o.timeout),
            (Duration::from_secs(2), Duration::from_secs(60))
        );
        let t: Timing = parse(json!({"poll_interval_ms": 100, "timeout_ms": 500})).unwrap();
        let o = poll_options(&s, t).unwrap();
        assert_eq!(
            (o.interval, o.timeout),
            (Duration::from_millis(100), Duration::from_millis(500))
        );
        for bad in [
            json!({"poll_interval_ms": 5}),
            json!({"timeout_ms": 10_000_000}),
        ] {
            assert_eq!(
                poll_options(&s, parse(bad.clone()).unwrap())
                    .unwrap_err()
                    .code(),
                "invalid_params",
                "{bad}"
            );
        }
        let uids = |v: Value| uids_param(parse::<UidsParams>(v).unwrap().uids.as_deref());
        assert!(uids(json!({})).is_err());
        assert!(uids(json!({"uids": null})).is_err());
        assert!(uids(json!({"uids": []})).is_err());
        assert!(uids(json!({"uids": ["x"]})).is_err());
        assert_eq!(
            uids(json!({"uids": ["0F8FAD5B-D9CB-469F-A165-70867728950E"]})).unwrap(),
            ["0f8fad5b-d9cb-469f-a165-70867728950e"]
        );
        assert!(text_param(Some("  "), "website", true).is_err());
        assert!(text_param(Some(&"x".repeat(5000)), "website", true).is_err());
        assert_eq!(
            text_param(Some(" github.com "), "website", true).unwrap(),
            Some("github.com".into())
        );
        assert_eq!(text_param(None, "user", false).unwrap(), None);
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        names_field::<Timing>(json!({"timeout_ms": "1"}), "timeout_ms");
        names_field::<Timing>(json!({"poll_interval_ms": -1}), "poll_interval_ms");
        names_field::<UrlParams>(json!({"website": 5}), "website");
        names_field::<UrlParams>(json!({"website": "a.b", "user": ["x"]}), "user");
        names_field::<UrlParams>(json!({"website": "a.b", "uid": true}), "uid");
        names_field::<UrlParams>(json!({"website": "a.b", "timeout_ms": "1"}), "timeout_ms");
        names_field::<UidParams>(json!({"uid": 1}), "uid");
        names_field::<UidParams>(
            json!({"uid": "u", "poll_interval_ms": "x"}),
            "poll_interval_ms",
        );
        names_field::<UidsParams>(
            json!({"uids": "0f8fad5b-d9cb-469f-a165-70867728950e"}),
            "uids",
        );
        names_field::<UidsParams>(
            json!({"uids": ["0f8fad5b-d9cb-469f-a165-70867728950e", 7]}),
            "uids[1]",
        );
        names_field::<ClientKeyParams>(json!({"reveal": "yes"}), "reveal");
        names_field::<BackupParams>(json!({"directory": 1}), "directory");
        names_field::<BackupParams>(json!({"timeout_ms": 1.5}), "timeout_ms");
        // Null means absent, and fields no action knows are ignored, as before.
        let p: UrlParams =
            parse(json!({"website": "a.b", "user": null, "uid": null, "extra": 1})).unwrap();
        assert_eq!((p.user, p.uid), (None, None));
        let p: ClientKeyParams = parse(json!({"reveal": null})).unwrap();
        assert_eq!(p.reveal, None);
    }

    #[test]
    fn otp_code_is_added_for_otpauth_only() {
        let json = |c: &Credential| serde_json::to_value(CredentialOut::new(c.clone())).unwrap();
        let mut c = Credential::default();
        c.name = "n".into();
        c.password = "p".into();
        let v = json(&c);
        assert!(v.get("otp_code").is_none());
        assert!(v.get("uid").is_none());
        assert_eq!(v["readableUid"], "");
        assert_eq!(v["password"], "p");
        c.otp = "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&digits=8".into();
        let v = json(&c);
        assert_eq!(v["otp_code"]["kind"], "totp");
        assert_eq!(v["otp_code"]["code"].as_str().unwrap().len(), 8);
        c.otp = "otpauth://totp/x".into();
        assert!(json(&c)["otp_code"]["error"].is_string());
    }
}
