//! Saving the one-time vault backup (spec §4.6): `GET /<downloadKey>` streamed into a new 0600
//! file that never replaces an existing one. The file name comes from the phone, so it is reduced
//! to a plain name first.

use super::background::cancellable;
use super::error::Error;
use super::transport::{Http, NetError};
use crate::api::Ctx;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const FALLBACK_NAME: &str = "anotherpassvault-backup.json";
const MAX_NAME: usize = 120;
const MAX_SUFFIX: u32 = 9999;

/// `<webClientId>_<1–64 letters and digits>`, for our own webClientId only.
pub fn is_download_key(key: &str, web_client_id: &str) -> bool {
    key.strip_prefix(web_client_id)
        .and_then(|r| r.strip_prefix('_'))
        .is_some_and(|r| {
            (1..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// A plain file name: the last path component, only `[A-Za-z0-9._-]`, no leading dot.
pub fn safe_filename(name: Option<&str>) -> String {
    let last = name.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    let cleaned: String = cleaned.chars().take(MAX_NAME).collect();
    if cleaned.is_empty() {
        FALLBACK_NAME.into()
    } else {
        cleaned
    }
}

/// `name`, then `stem-1.ext`, `stem-2.ext`, …
fn candidate(name: &str, n: u32) -> String {
    if n == 0 {
        return name.into();
    }
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{}-{n}{}", &name[..i], &name[i..]),
        _ => format!("{name}-{n}"),
    }
}

/// Creates a new private file in `dir`, adding a suffix while the name is taken.
pub fn create_unique(dir: &Path, name: &str) -> Result<(File, PathBuf), Error> {
    for n in 0..=MAX_SUFFIX {
        let path = dir.join(candidate(name, n));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::Storage(format!(
                    "Cannot create {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Err(Error::Storage(format!(
        "Too many files named like {name} in {}.",
        dir.display()
    )))
}

pub struct Saved {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Downloads `url` into a new file in `dir`. On any failure or cancel the partial file is removed.
pub fn fetch_to_dir(
    ctx: &Ctx,
    http: &Http,
    url: &str,
    dir: &Path,
    name: &str,
    timeout: Duration,
    cap: u64,
) -> Result<Saved, Error> {
    let (mut file, path) = create_unique(dir, name)?;
    let abandoned = Arc::new(AtomicBool::new(false));
    let result = {
        let (http, url, path, abandoned) = (
            http.clone(),
            url.to_owned(),
            path.clone(),
            abandoned.clone(),
        );
        cancellable(&ctx.cancel, move || {
            let r = http.get_into(&url, timeout, cap, &mut file).and_then(|ok| {
                file.flush()
                    .and_then(|()| file.sync_all())
                    .map_err(|e| NetError::Local(e.to_string()))?;
                Ok(ok)
            });
            if abandoned.load(Ordering::SeqCst) {
                let _ = std::fs::remove_file(&path);
            }
            r
        })
    };
    let cleanup = || {
        let _ = std::fs::remove_file(&path);
    };
    let (status, said, bytes) = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            cleanup();
            return Err(match e {
                NetError::Timeout => {
                    Error::DownloadFailed("the phone did not send the file in time".into())
                }
                NetError::TooLarge(cap) => {
                    Error::BadReply(format!("the backup is larger than {} MiB", cap >> 20))
                }
                NetError::Unreachable(d) => {
                    Error::DownloadFailed(format!("the connection failed ({d})"))
                }
                NetError::Local(d) => {
                    Error::Storage(format!("Cannot write {}: {d}", path.display()))
                }
            });
        }
        Err(e) => {
            abandoned.store(true, Ordering::SeqCst);
            cleanup();
            return Err(e);
        }
    };
    if status != 200 {
        cleanup();
        let said = said
            .map(|s| format!(" (the app said: \"{s}\")"))
            .unwrap_or_default();
        return Err(Error::DownloadFailed(match status {
            404 => format!(
                "the phone no longer offers the file{said}; each backup can be downloaded once, so request a new one"
            ),
            s => format!("the phone answered HTTP {s}{said}"),
        }));
    }
    Ok(Saved { path, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_keys() {
        let k = "ABC-DEF_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        assert!(is_download_key(k, "ABC-DEF"));
        assert!(!is_download_key(k, "XYZ-DEF"));
        for bad in [
            "ABC-DEF",
            "ABC-DEF_",
            "ABC-DEF_a/b",
            "ABC-DEF_../x",
            "ABC-DEFx_abc",
        ] {
            assert!(!is_download_key(bad, "ABC-DEF"), "{bad}");
        }
    }

    #[test]
    fn filenames_from_the_phone_are_made_safe() {
        let table = [
            (
                Some("anotherpassvault-aacofrwj-2025-01-31.json"),
                "anotherpassvault-aacofrwj-2025-01-31.json",
            ),
            (Some("../../.bashrc"), "bashrc"),
            (Some("..\\..\\evil.json"), "evil.json"),
            (Some("a b\u{0}c$.json"), "abc.json"),
            (Some(".."), FALLBACK_NAME),
            (Some(""), FALLBACK_NAME),
            (None, FALLBACK_NAME),
        ];
        for (input, want) in table {
            assert_eq!(safe_filename(input), want, "{input:?}");
        }
        assert_eq!(safe_filename(Some(&"x".repeat(500))).len(), MAX_NAME);
    }

    #[test]
    fn a_backup_above_the_cap_leaves_no_file() {
        use super::super::transport::testing::serve;
        use crate::config::{Config, Paths};
        let home = tempfile::tempdir().unwrap();
        let state =
            crate::api::Registry::new(Paths::under(home.path()), Config::default()).finish();
        let ctx = Ctx::new(Arc::new(state));
        let dir = tempfile::tempdir().unwrap();
        let (url, _) = serve(vec![
            (200, vec![b'{'; 200_001], true),
            (200, vec![b'{'; 200_000], true),
        ]);
        let http = Http::new();
        let t = Duration::from_secs(60);
        let e = fetch_to_dir(&ctx, &http, &url, dir.path(), "b.json", t, 200_000)
            .err()
            .unwrap();
        assert_eq!(e.code(), "bad_reply", "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let saved = fetch_to_dir(&ctx, &http, &url, dir.path(), "b.json", t, 200_000).unwrap();
        assert_eq!(saved.bytes, 200_000);
        assert_eq!(std::fs::metadata(&saved.path).unwrap().len(), 200_000);
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), "old").unwrap();
        std::fs::write(dir.path().join("b-1.json"), "old").unwrap();
        let (_f, p) = create_unique(dir.path(), "b.json").unwrap();
        assert_eq!(p.file_name().unwrap(), "b-2.json");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.json")).unwrap(),
            "old"
        );
        let (_f, p) = create_unique(dir.path(), "noext").unwrap();
        assert_eq!(p.file_name().unwrap(), "noext");
        let (_f, p) = create_unique(dir.path(), "noext").unwrap();
        assert_eq!(p.file_name().unwrap(), "noext-1");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
