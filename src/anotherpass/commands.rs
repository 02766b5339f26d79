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
use crate::api::params;
use crate::config::Paths;
use crate::credentials::otp::OtpAuth;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MAX_TEXT: usize = 4096;
const MAX_UIDS: usize = 10_000;
/// Vault backups are JSON of the whole vault; far below this in practice.
pub const BACKUP_CAP: u64 = 256 * 1024 * 1024;
/// The one-time download may be large on slow Wi-Fi.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

fn settings(ctx: &Ctx) -> Settings {
    super::settings(ctx)
}

/// Poll timing from the settings, overridden by `poll_interval_ms` / `timeout_ms` params.
pub fn poll_options(s: &Settings, p: &Value) -> Result<PollOptions, Error> {
    let ms = |key: &str, min: u64, max: u64| -> Result<Option<Duration>, Error> {
        match params::opt_u64(p, key)? {
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
            limits::POLL_INTERVAL_MIN,
            limits::POLL_INTERVAL_MAX,
        )?
        .unwrap_or_else(|| s.poll_interval()),
        timeout: ms("timeout_ms", limits::TIMEOUT_MIN, limits::TIMEOUT_MAX)?
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
fn fetch(ctx: &Ctx, p: &Value, command: Command) -> Result<(Link, Outcome, ClientKey), Error> {
    let opts = poll_options(&settings(ctx), p)?;
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

/// A credential as the app sent it, plus `otp_code` for an `otpauth://` URI.
pub fn credential_json(c: &Credential) -> Value {
    let mut v = serde_json::to_value(c).expect("credentials serialize");
    if !c.otp.trim().is_empty() {
        v["otp_code"] = match OtpAuth::parse(&c.otp) {
            Ok(o) => serde_json::to_value(o.code_now()).expect("codes serialize"),
            Err(e) => json!({"error": e.to_string()}),
        };
    }
    v
}

/// Completes a result with the common fields: the request's fingerprint, and what the vault made
/// of the result (handed over here; reported, never fatal: the user has the data).
fn finish(
    ctx: &Ctx,
    outcome: &Outcome,
    key: &ClientKey,
    creds: &[Credential],
    mut out: Map<String, Value>,
) -> Value {
    out.insert("request_fingerprint".into(), json!(outcome.fingerprint));
    match super::sink(ctx).received(ctx, key, creds) {
        Ok(()) => {
            out.insert("vault_updated".into(), json!(true));
        }
        Err(e) => {
            log::warn!(
                "the local vault did not take the ANOTHERpass result: {}",
                e.code
            );
            out.insert("vault_updated".into(), json!(false));
            out.insert("vault_error".into(), e.to_json());
        }
    }
    Value::Object(out)
}

fn text_param(p: &Value, key: &str, required: bool) -> Result<Option<String>, Error> {
    let v = params::opt_str(p, key)?
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match v {
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

fn uid_param(p: &Value, key: &str, required: bool) -> Result<Option<String>, Error> {
    let uid = text_param(p, key, required)?;
    if let Some(u) = &uid
        && !is_uuid(u)
    {
        return Err(Error::InvalidParams(format!(
            "\"{key}\" must be a credential uid (a UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e)."
        )));
    }
    Ok(uid.map(|u| u.to_ascii_lowercase()))
}

fn single_result(
    ctx: &Ctx,
    p: &Value,
    command: Command,
    remember_for: Option<&str>,
) -> Result<Value, Error> {
    let (_link, mut outcome, key) = fetch(ctx, p, command)?;
    let cred = outcome
        .answer
        .credential
        .take()
        .ok_or_else(|| Error::BadReply("the answer has no credential".into()))?;
    let mut out = Map::new();
    out.insert("credential".into(), credential_json(&cred));
    let out = finish(ctx, &outcome, &key, std::slice::from_ref(&cred), out);
    // After `finish`: the result's key is what unlocks (or creates) the vault that remembers.
    if let (Some(site), Some(uid)) = (remember_for, &cred.uid) {
        super::sink(ctx).remember_uid(ctx, site, uid);
    }
    Ok(out)
}

fn list_result(ctx: &Ctx, p: &Value, command: Command) -> Result<Value, Error> {
    let (_link, mut outcome, key) = fetch(ctx, p, command)?;
    let creds = outcome
        .answer
        .credentials
        .take()
        .ok_or_else(|| Error::BadReply("the answer has no credential list".into()))?;
    let mut out = Map::new();
    out.insert(
        "credentials".into(),
        Value::Array(creds.iter().map(credential_json).collect()),
    );
    Ok(finish(ctx, &outcome, &key, &creds, out))
}

/// `{website, user?, uid?}` → `{credential, request_fingerprint, vault_updated}`. Without `uid`,
/// the uid the user chose for this site last time (from the vault) is sent, and the result's uid
/// is remembered.
pub fn fetch_credential_for_url(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    let website = text_param(p, "website", true)?.expect("required");
    let user = text_param(p, "user", false)?;
    let uid = match uid_param(p, "uid", false)? {
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
    single_result(ctx, p, command, Some(&website))
}

/// `{uid}` → `{credential, …}`. An unknown uid ends as `denied_by_user` (the app answers 403).
pub fn fetch_credential_for_uid(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    let uid = uid_param(p, "uid", true)?.expect("required");
    single_result(ctx, p, Command::FetchCredentialForUid { uid }, None)
}

/// `{uids: [..]}` → `{credentials, …}` (unknown and veiled credentials are left out by the app).
pub fn fetch_credentials_for_uids(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    let uids = uids_param(p)?;
    list_result(ctx, p, Command::FetchCredentialsForUids { uids })
}

fn uids_param(p: &Value) -> Result<Vec<String>, Error> {
    let bad = || {
        Error::InvalidParams(format!(
            "\"uids\" must be a list of 1 to {MAX_UIDS} credential uids (UUIDs)."
        ))
    };
    let list = p.get("uids").and_then(Value::as_array).ok_or_else(bad)?;
    if list.is_empty() || list.len() > MAX_UIDS {
        return Err(bad());
    }
    list.iter()
        .map(|u| {
            u.as_str()
                .filter(|u| is_uuid(u))
                .map(str::to_ascii_lowercase)
                .ok_or_else(bad)
        })
        .collect()
}

/// `{}` → `{credential, …}`: the user picks one on the phone.
pub fn fetch_single_credential(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    single_result(ctx, p, Command::FetchSingleCredential, None)
}

/// `{}` → `{credentials, …}`: the user picks several on the phone.
pub fn fetch_multiple_credentials(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    list_result(ctx, p, Command::FetchMultipleCredentials)
}

/// `{}` → `{credentials, …}`: the whole vault (veiled credentials excluded by the app).
pub fn fetch_all_credentials(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    list_result(ctx, p, Command::FetchAllCredentials)
}

/// `{website, user?}` → `{credential, …}`: the user creates it on the phone.
pub fn create_credential_for_url(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    let website = text_param(p, "website", true)?.expect("required");
    let user = text_param(p, "user", false)?;
    single_result(
        ctx,
        p,
        Command::CreateCredentialForUrl { website, user },
        None,
    )
}

/// `{reveal?: bool}` → `{client_key_received: true, request_fingerprint, vault_updated,
/// client_key?}`. The key unlocks every local copy, so it stays in passbridge unless the
/// extension explicitly asks (`reveal: true`, for an extension that keeps its own store);
/// revealed as padded standard base64 without the app's trailing newline.
pub fn get_client_key(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    let reveal = params::opt_bool(p, "reveal")?.unwrap_or(false);
    if reveal {
        // The key opens the vault: handing it out is guarded like unlocking (see
        // `Operation::implied_by` in `operation::ALL`), before the phone is asked.
        ctx.state
            .gate()
            .require(ctx, operation::ANOTHERPASS_REVEAL_KEY)?;
    }
    let (_link, outcome, key) = fetch(ctx, p, Command::GetClientKey)?;
    let mut out = Map::new();
    out.insert("client_key_received".into(), json!(true));
    if reveal {
        out.insert("client_key".into(), json!(b64::std_padded(key.bytes())));
    }
    Ok(finish(ctx, &outcome, &key, &[], out))
}

/// `{directory?}` → `{path, filename, bytes, request_fingerprint, vault_updated}`.
///
/// The app prepares the backup and a one-time key; the file is then fetched with
/// `GET /<downloadKey>` and saved under the app's file name (never overwriting: `-1`, `-2`, …
/// are added), 0600. Default directory: the `download_dir` setting, else the user's downloads.
pub fn download_vault_backup(ctx: &Ctx, p: &Value) -> Result<Value, Error> {
    // `timeout_ms` bounds the whole request, approval and download: a phone that trickles
    // the file must not hold it longer.
    let deadline = params::opt_u64(p, "timeout_ms")?
        .map(|ms| std::time::Instant::now() + Duration::from_millis(ms));
    let dir = match params::opt_str(p, "directory")? {
        Some(d) => std::path::PathBuf::from(d),
        None => default_download_dir(&settings(ctx))?,
    };
    let dir = backup_dir(&dir, &ctx.state.paths)?;
    let (link, mut outcome, key) = fetch(ctx, p, Command::DownloadVaultBackup)?;
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
            params::opt_u64(p, "timeout_ms").ok().flatten().unwrap_or(0)
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
    let mut out = Map::new();
    out.insert("path".into(), json!(saved.path.display().to_string()));
    out.insert(
        "filename".into(),
        json!(
            saved
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        ),
    );
    out.insert("bytes".into(), json!(saved.bytes));
    Ok(finish(ctx, &outcome, &key, &[], out))
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

    #[test]
    fn params_are_checked() {
        let s = Settings::default();
        let o = poll_options(&s, &json!({})).unwrap();
        assert_eq!(
            (o.interval, o.timeout),
            (Duration::from_secs(2), Duration::from_secs(60))
        );
        let o = poll_options(&s, &json!({"poll_interval_ms": 100, "timeout_ms": 500})).unwrap();
        assert_eq!(
            (o.interval, o.timeout),
            (Duration::from_millis(100), Duration::from_millis(500))
        );
        for bad in [
            json!({"poll_interval_ms": 5}),
            json!({"timeout_ms": 10_000_000}),
            json!({"timeout_ms": "1"}),
        ] {
            assert_eq!(
                poll_options(&s, &bad).unwrap_err().code(),
                "invalid_params",
                "{bad}"
            );
        }
        assert!(uids_param(&json!({"uids": []})).is_err());
        assert!(uids_param(&json!({"uids": ["x"]})).is_err());
        assert!(uids_param(&json!({"uids": "0f8fad5b-d9cb-469f-a165-70867728950e"})).is_err());
        assert_eq!(
            uids_param(&json!({"uids": ["0F8FAD5B-D9CB-469F-A165-70867728950E"]})).unwrap(),
            ["0f8fad5b-d9cb-469f-a165-70867728950e"]
        );
        assert!(text_param(&json!({"website": "  "}), "website", true).is_err());
        assert!(text_param(&json!({"website": "x".repeat(5000)}), "website", true).is_err());
    }

    #[test]
    fn otp_code_is_added_for_otpauth_only() {
        let mut c = Credential::default();
        c.name = "n".into();
        c.password = "p".into();
        let v = credential_json(&c);
        assert!(v.get("otp_code").is_none());
        assert!(v.get("uid").is_none());
        assert_eq!(v["readableUid"], "");
        c.otp = "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ&digits=8".into();
        let v = credential_json(&c);
        assert_eq!(v["otp_code"]["kind"], "totp");
        assert_eq!(v["otp_code"]["code"].as_str().unwrap().len(), 8);
        c.otp = "otpauth://totp/x".into();
        assert!(credential_json(&c)["otp_code"]["error"].is_string());
    }
}
