//! Carrying out `install` and `uninstall`: the I/O edge around [`super::plan`].
//!
//! Invariant: the install record always lists at least everything passbridge has written, even
//! when a step fails half-way, so a later `uninstall` can clean up.

use super::files::{self, PRIVATE_DIR_MODE, PUBLIC_DIR_MODE, PUBLIC_FILE_MODE};
use super::ids::IdError;
use super::plan::{self, ManifestIds, Plan, SelectError, Skip};
use super::record::{
    self, InstallRecord, RECORD_FILE, RecordError, RecordedKey, RecordedManifest,
    SYSTEM_ALLOWLIST_FILE,
};
use super::registry;
use super::resolve::{self, Env, ResolveError};
use super::table::{Browser, Family, Os, Scope};
use crate::config::{Allowlist, Config, ConfigError, Paths};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot {action} {path}: {source}{}", permission_hint(source))]
    Io {
        action: &'static str,
        path: String,
        source: io::Error,
    },
    #[error("cannot register {path} as the host: {reason}")]
    Binary { path: String, reason: String },
    #[error(
        "--scope system writes to system folders: run it as root, e.g. \
         `sudo passbridge install --scope system ...`"
    )]
    NeedRoot,
    #[error("some registrations could not be removed (they stay in the install record):\n  {}", .0.join("\n  "))]
    Incomplete(Vec<String>),
    #[error("doctor found {0} problem(s): see the FAIL lines above")]
    Unhealthy(usize),
}

fn permission_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::PermissionDenied {
        " (system locations need root or an administrator: use --scope user, or run it elevated)"
    } else {
        ""
    }
}

fn io_err(action: &'static str, path: &str) -> impl FnOnce(io::Error) -> InstallError {
    let path = path.to_string();
    move |source| InstallError::Io {
        action,
        path,
        source,
    }
}

/// Where things are on this machine.
#[derive(Debug, Clone)]
pub struct Context {
    pub os: Os,
    pub env: Env,
    /// passbridge's own directories (config.json, the user install record).
    pub paths: Paths,
    /// `PATH`, where browsers' programs are looked for.
    pub path_dirs: Vec<String>,
}

impl Context {
    pub fn from_process() -> Result<Self, InstallError> {
        let os = Os::current();
        Ok(Self {
            os,
            env: Env::from_process(os)?,
            paths: Paths::from_env()?,
            path_dirs: std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .filter_map(|d| d.to_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    pub fn system_dir(&self) -> Result<PathBuf, InstallError> {
        Ok(PathBuf::from(resolve::system_dir(self.os, &self.env)?))
    }

    pub fn record_path(&self, scope: Scope) -> Result<PathBuf, InstallError> {
        Ok(match scope {
            Scope::User => self.paths.config_dir.join(RECORD_FILE),
            Scope::System => self.system_dir()?.join(RECORD_FILE),
        })
    }

    /// The file holding the allowlist the host checks for this scope.
    pub fn allowlist_path(&self, scope: Scope) -> Result<PathBuf, InstallError> {
        Ok(match scope {
            Scope::User => self.paths.config_file(),
            Scope::System => self.system_dir()?.join(SYSTEM_ALLOWLIST_FILE),
        })
    }

    pub fn load_allowlist(&self, scope: Scope) -> Result<Allowlist, InstallError> {
        Ok(match scope {
            Scope::User => Config::load(&self.paths)?.allowed,
            Scope::System => record::load_system_allowlist(&self.allowlist_path(scope)?)?,
        })
    }

    /// Whether the browser is on this machine: this user has run it (a profile folder), or it
    /// is installed (a program on PATH or in its usual place, an application bundle, a
    /// desktop entry).
    pub fn detected(&self, browser: Browser) -> bool {
        self.find(browser).is_some()
    }

    /// What shows that the browser is here (see [`resolve::find_browser`]).
    pub fn find(&self, browser: Browser) -> Option<resolve::Found> {
        resolve::find_browser(browser, self.os, &self.env, &self.path_dirs, &|p| {
            Path::new(p).exists()
        })
    }
}

/// The host binary to register: canonical, an executable file, UTF-8, without Windows' `\\?\`.
pub fn resolve_binary(given: Option<&Path>) -> Result<String, InstallError> {
    let raw = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe().map_err(|e| InstallError::Binary {
            path: "passbridge".into(),
            reason: format!("cannot find the running program ({e}); pass --binary PATH"),
        })?,
    };
    let bad = |reason: String| InstallError::Binary {
        path: raw.display().to_string(),
        reason,
    };
    let canon = std::fs::canonicalize(&raw).map_err(|e| bad(format!("{e}")))?;
    let meta = std::fs::metadata(&canon).map_err(|e| bad(format!("{e}")))?;
    if !meta.is_file() {
        return Err(bad("it is not a file".into()));
    }
    if !files::is_executable(&meta) {
        return Err(bad("it is not executable (chmod +x it)".into()));
    }
    let s = canon.to_str().ok_or_else(|| {
        bad("its path is not valid UTF-8, which a JSON manifest cannot hold".into())
    })?;
    Ok(strip_verbatim(s))
}

/// `canonicalize` on Windows returns `\\?\C:\...`; browsers want the plain form.
pub fn strip_verbatim(p: &str) -> String {
    if let Some(rest) = p.strip_prefix(r"\\?\UNC\") {
        format!(r"\\{rest}")
    } else if let Some(rest) = p.strip_prefix(r"\\?\") {
        rest.to_string()
    } else {
        p.to_string()
    }
}

fn merge_into(list: &mut Vec<String>, new: &[String], added: &mut Vec<String>) {
    for id in new {
        if !list.contains(id) {
            list.push(id.clone());
            added.push(id.clone());
        }
    }
}

/// What `install` asked for, ids already validated.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    pub scope: Scope,
    pub browsers: Vec<Browser>,
    pub chrome_origins: Vec<String>,
    pub firefox_ids: Vec<String>,
    pub binary: String,
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub struct InstallReport {
    pub plan: Plan,
    pub dry_run: bool,
    pub skipped: Vec<Skip>,
    pub allowlist_path: PathBuf,
    /// Ids new to the allowlist (would be added, in a dry run).
    pub added: Allowlist,
    /// Allowlist entries left out of the manifests because they are not valid ids.
    pub invalid_ids: Vec<String>,
    pub record_path: PathBuf,
    /// Directories created for the manifests.
    pub created_dirs: Vec<String>,
    /// Registrations of an earlier install that this one no longer needs, removed.
    pub removed: Vec<String>,
    /// Earlier files or keys someone changed since; forgotten but left in place.
    pub left: Vec<String>,
    pub notes: Vec<String>,
}

/// Everything decided before writing: computed once to validate (and for `--dry-run`), then
/// again under the record's lock from what is on disk at that moment.
struct Prepared {
    old: Option<InstallRecord>,
    merged: Allowlist,
    added: Allowlist,
    ids: ManifestIds,
    plan: Plan,
    skipped: Vec<Skip>,
}

fn prepare(
    ctx: &Context,
    req: &InstallRequest,
    record_path: &Path,
) -> Result<Prepared, InstallError> {
    let old = InstallRecord::load(record_path)?;
    let mut merged = ctx.load_allowlist(req.scope)?;
    let mut added = Allowlist::default();
    merge_into(
        &mut merged.chrome_origins,
        &req.chrome_origins,
        &mut added.chrome_origins,
    );
    merge_into(
        &mut merged.firefox_ids,
        &req.firefox_ids,
        &mut added.firefox_ids,
    );
    let ids = ManifestIds::from_allowlist(&merged);
    let recorded = old
        .as_ref()
        .map(InstallRecord::browsers)
        .unwrap_or_default();
    let (browsers, skipped) = plan::select(
        &req.browsers,
        &recorded,
        req.scope,
        &|b| ctx.detected(b),
        &ids,
    )?;
    let plan = plan::build(ctx.os, req.scope, &ctx.env, &browsers, &req.binary, &ids)?;
    Ok(Prepared {
        old,
        merged,
        added,
        ids,
        plan,
        skipped,
    })
}

pub fn install(ctx: &Context, req: &InstallRequest) -> Result<InstallReport, InstallError> {
    let scope = req.scope;
    let record_path = ctx.record_path(scope)?;
    let allowlist_path = ctx.allowlist_path(scope)?;
    // Bad input fails here, before anything is written.
    let mut prepared = prepare(ctx, req, &record_path)?;
    // One install at a time: the record is read, extended and written under its lock.
    let mut created_now = Vec::new();
    let lock = if req.dry_run {
        None
    } else {
        match scope {
            Scope::User => ctx.paths.ensure()?,
            Scope::System => {
                require_admin(ctx)?;
                let dir = ctx.system_dir()?;
                files::create_dirs(&dir, PUBLIC_DIR_MODE, &mut created_now)
                    .map_err(io_err("create", &dir.display().to_string()))?;
            }
        }
        let lock = crate::fsutil::lock_exclusive(&record_path)
            .map_err(io_err("lock", &record_path.display().to_string()))?;
        prepared = prepare(ctx, req, &record_path)?;
        Some(lock)
    };
    let Prepared {
        old,
        merged,
        added,
        ids,
        plan,
        skipped,
    } = prepared;

    let mut notes = Vec::new();
    let in_a_home = ["/home", "/Users", "/root", ctx.env.home.as_str()]
        .iter()
        .any(|h| Path::new(&req.binary).starts_with(h));
    if scope == Scope::System && in_a_home {
        notes.push(format!(
            "{} is inside a home folder: other users' browsers may not be able to run it; \
             install the binary to a system folder (e.g. /usr/local/bin) and pass --binary",
            req.binary
        ));
    }
    let mut report = InstallReport {
        plan,
        dry_run: req.dry_run,
        skipped,
        allowlist_path: allowlist_path.clone(),
        added,
        invalid_ids: ids.invalid.clone(),
        record_path: record_path.clone(),
        created_dirs: Vec::new(),
        removed: Vec::new(),
        left: Vec::new(),
        notes,
    };
    if req.dry_run {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if scope == Scope::System {
            dirs.extend(files::missing_dirs(&ctx.system_dir()?));
        }
        for m in &report.plan.manifests {
            if let Some(parent) = Path::new(&m.record.path).parent() {
                dirs.extend(files::missing_dirs(parent));
            }
        }
        let mut seen = Vec::new();
        for d in dirs {
            let d = d.display().to_string();
            if !seen.contains(&d) {
                seen.push(d);
            }
        }
        report.created_dirs = seen;
        return Ok(report);
    }
    report
        .created_dirs
        .extend(created_now.iter().map(|p| p.display().to_string()));

    // The allowlist first: a manifest must never name an extension the host would refuse.
    match scope {
        Scope::User => {
            let (_, added) = Config::update(&ctx.paths, |c| {
                let mut added = Allowlist::default();
                merge_into(
                    &mut c.allowed.chrome_origins,
                    &req.chrome_origins,
                    &mut added.chrome_origins,
                );
                merge_into(
                    &mut c.allowed.firefox_ids,
                    &req.firefox_ids,
                    &mut added.firefox_ids,
                );
                added
            })?;
            report.added = added;
        }
        Scope::System => record::save_system_allowlist(&allowlist_path, &merged)?,
    }

    let mut rec = old
        .clone()
        .unwrap_or_else(|| InstallRecord::new(scope, req.binary.clone()));
    rec.binary = req.binary.clone();
    rec.created_dirs.extend(report.created_dirs.iter().cloned());
    for (mine, new) in [
        (&mut rec.added.chrome_origins, &report.added.chrome_origins),
        (&mut rec.added.firefox_ids, &report.added.firefox_ids),
    ] {
        merge_into(mine, new, &mut Vec::new());
    }

    let result = write_plan(&report.plan, scope, &mut rec, &mut report.created_dirs);
    if let Err(e) = result {
        // Keep what was written on record, then report the failure.
        let _ = rec.save(&record_path);
        return Err(e);
    }

    // Whatever an earlier install wrote that this plan no longer covers is ours to remove.
    if let Some(old) = &old {
        for m in &old.manifests {
            if report
                .plan
                .manifests
                .iter()
                .any(|p| p.record.path == m.path)
            {
                continue;
            }
            match remove_manifest(m) {
                Ok(Removal::Removed) => report.removed.push(m.path.clone()),
                Ok(Removal::Changed) => report.left.push(m.path.clone()),
                Err(e) => report.left.push(format!("{} ({e})", m.path)),
            }
        }
        for k in &old.registry {
            if report.plan.keys.iter().any(|p| {
                p.entry.key == k.entry.key
                    && p.entry.hive == k.entry.hive
                    && p.entry.view == k.entry.view
            }) {
                continue;
            }
            match remove_key(k) {
                Ok(Removal::Removed) => report.removed.push(k.entry.display_key()),
                Ok(Removal::Changed) => report.left.push(k.entry.display_key()),
                Err(e) => report.left.push(format!("{} ({e})", k.entry.display_key())),
            }
        }
    }
    rec.manifests = report
        .plan
        .manifests
        .iter()
        .map(|m| m.record.clone())
        .collect();
    rec.registry = report.plan.keys.clone();
    let mut keep: Vec<String> = rec.manifests.iter().map(|m| m.path.clone()).collect();
    keep.push(record_path.display().to_string());
    rec.created_dirs = files::prune_dirs(&rec.created_dirs, &keep);
    rec.save(&record_path)?;
    drop(lock);
    Ok(report)
}

/// Writes every manifest and key, recording each as soon as it exists.
fn write_plan(
    plan: &Plan,
    scope: Scope,
    rec: &mut InstallRecord,
    created_dirs: &mut Vec<String>,
) -> Result<(), InstallError> {
    let dir_mode = match scope {
        Scope::User => PRIVATE_DIR_MODE,
        Scope::System => PUBLIC_DIR_MODE,
    };
    for m in &plan.manifests {
        let path = Path::new(&m.record.path);
        if let Some(parent) = path.parent() {
            let mut created = Vec::new();
            let made = files::create_dirs(parent, dir_mode, &mut created);
            for d in created {
                let d = d.display().to_string();
                rec.created_dirs.push(d.clone());
                created_dirs.push(d);
            }
            made.map_err(io_err("create the folder", &parent.display().to_string()))?;
        }
        files::write_atomic_mode(path, m.contents.as_bytes(), PUBLIC_FILE_MODE)
            .map_err(io_err("write", &m.record.path))?;
        match rec.manifests.iter_mut().find(|r| r.path == m.record.path) {
            Some(r) => *r = m.record.clone(),
            None => rec.manifests.push(m.record.clone()),
        }
    }
    for k in &plan.keys {
        registry::write(&k.entry).map_err(|source| InstallError::Io {
            action: "set the registry key",
            path: k.entry.display_key(),
            source,
        })?;
        match rec.registry.iter_mut().find(|r| {
            r.entry.key == k.entry.key
                && r.entry.hive == k.entry.hive
                && r.entry.view == k.entry.view
        }) {
            Some(r) => *r = k.clone(),
            None => rec.registry.push(k.clone()),
        }
    }
    Ok(())
}

#[cfg(unix)]
fn require_admin(ctx: &Context) -> Result<(), InstallError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root || !ctx.env.system_root.is_empty() {
        Ok(())
    } else {
        Err(InstallError::NeedRoot)
    }
}

#[cfg(not(unix))]
fn require_admin(_ctx: &Context) -> Result<(), InstallError> {
    // Windows reports "access denied" on the first HKLM write, with the hint attached.
    Ok(())
}

enum Removal {
    Removed,
    /// The file or key no longer holds what passbridge wrote: left alone.
    Changed,
}

/// A manifest file or registry key that install wrote for some browsers.
trait Recorded {
    fn browsers_mut(&mut self) -> &mut Vec<Browser>;
    fn label(&self) -> String;
    fn remove(&self) -> io::Result<Removal>;
}

impl Recorded for RecordedManifest {
    fn browsers_mut(&mut self) -> &mut Vec<Browser> {
        &mut self.browsers
    }
    fn label(&self) -> String {
        self.path.clone()
    }
    fn remove(&self) -> io::Result<Removal> {
        remove_manifest(self)
    }
}

impl Recorded for RecordedKey {
    fn browsers_mut(&mut self) -> &mut Vec<Browser> {
        &mut self.browsers
    }
    fn label(&self) -> String {
        self.entry.display_key()
    }
    fn remove(&self) -> io::Result<Removal> {
        remove_key(self)
    }
}

/// Drops the browsers being uninstalled from each entry, removes the entries no browser needs
/// any more (reporting what went, what was left because someone changed it, and failures), and
/// returns the entries to keep in the record.
fn remove_unneeded<T: Recorded>(
    entries: Vec<T>,
    takes: &dyn Fn(&Browser) -> bool,
    dry_run: bool,
    report: &mut UninstallReport,
    failures: &mut Vec<String>,
) -> Vec<T> {
    let mut kept = Vec::new();
    for mut e in entries {
        e.browsers_mut().retain(|b| !takes(b));
        if !e.browsers_mut().is_empty() {
            kept.push(e);
            continue;
        }
        if dry_run {
            report.removed.push(e.label());
            continue;
        }
        match e.remove() {
            Ok(Removal::Removed) => report.removed.push(e.label()),
            Ok(Removal::Changed) => report.left.push(e.label()),
            Err(err) => {
                failures.push(format!("{}: {err}{}", e.label(), permission_hint(&err)));
                kept.push(e);
            }
        }
    }
    kept
}

fn remove_manifest(m: &RecordedManifest) -> io::Result<Removal> {
    let path = Path::new(&m.path);
    match files::read_optional(path, super::manifest::MAX_MANIFEST_BYTES) {
        Ok(None) => Ok(Removal::Removed),
        Ok(Some(bytes)) if files::sha256_hex(&bytes) == m.sha256 => {
            files::remove_file(path)?;
            Ok(Removal::Removed)
        }
        Ok(Some(_)) => Ok(Removal::Changed),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(Removal::Changed),
        Err(e) => Err(e),
    }
}

fn remove_key(k: &RecordedKey) -> io::Result<Removal> {
    match registry::read(&k.entry)? {
        None => Ok(Removal::Removed),
        Some(v) if v == k.entry.value => {
            registry::delete(&k.entry)?;
            Ok(Removal::Removed)
        }
        Some(_) => Ok(Removal::Changed),
    }
}

#[derive(Debug, Clone)]
pub struct UninstallRequest {
    pub scope: Scope,
    /// Empty: every recorded browser.
    pub browsers: Vec<Browser>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default)]
pub struct UninstallReport {
    pub record_path: PathBuf,
    /// No install record for this scope: nothing to do.
    pub nothing_recorded: bool,
    pub removed: Vec<String>,
    /// Files or keys changed since install: forgotten, left in place.
    pub left: Vec<String>,
    pub removed_ids: Allowlist,
    pub allowlist_path: PathBuf,
    pub record_removed: bool,
    pub remaining_browsers: Vec<Browser>,
    pub dry_run: bool,
}

pub fn uninstall(ctx: &Context, req: &UninstallRequest) -> Result<UninstallReport, InstallError> {
    let scope = req.scope;
    let record_path = ctx.record_path(scope)?;
    let mut report = UninstallReport {
        record_path: record_path.clone(),
        allowlist_path: ctx.allowlist_path(scope)?,
        dry_run: req.dry_run,
        ..Default::default()
    };
    let Some(mut rec) = InstallRecord::load(&record_path)? else {
        report.nothing_recorded = true;
        return Ok(report);
    };
    if !req.dry_run && scope == Scope::System {
        require_admin(ctx)?;
    }
    let lock = if req.dry_run {
        None
    } else {
        Some(
            crate::fsutil::lock_exclusive(&record_path)
                .map_err(io_err("lock", &record_path.display().to_string()))?,
        )
    };
    let takes = |b: &Browser| req.browsers.is_empty() || req.browsers.contains(b);
    let mut failures = Vec::new();

    rec.manifests = remove_unneeded(
        std::mem::take(&mut rec.manifests),
        &takes,
        req.dry_run,
        &mut report,
        &mut failures,
    );
    rec.registry = remove_unneeded(
        std::mem::take(&mut rec.registry),
        &takes,
        req.dry_run,
        &mut report,
        &mut failures,
    );

    // Ids install added go when no browser of their family is registered any more.
    let mut gone = Allowlist::default();
    if !rec.has_family(Family::Chrome) {
        gone.chrome_origins = std::mem::take(&mut rec.added.chrome_origins);
    }
    if !rec.has_family(Family::Firefox) {
        gone.firefox_ids = std::mem::take(&mut rec.added.firefox_ids);
    }
    report.remaining_browsers = rec.browsers();
    report.removed_ids = gone.clone();
    if req.dry_run {
        return Ok(report);
    }
    let strip = |a: &mut Allowlist| {
        a.chrome_origins
            .retain(|o| !gone.chrome_origins.contains(o));
        a.firefox_ids.retain(|i| !gone.firefox_ids.contains(i));
    };
    match scope {
        Scope::User => {
            if !gone.chrome_origins.is_empty() || !gone.firefox_ids.is_empty() {
                Config::update(&ctx.paths, |c| strip(&mut c.allowed))?;
            }
        }
        Scope::System => {
            let mut allow = record::load_system_allowlist(&report.allowlist_path)?;
            strip(&mut allow);
            record::save_system_allowlist(&report.allowlist_path, &allow)?;
        }
    }

    let mut keep: Vec<String> = rec.manifests.iter().map(|m| m.path.clone()).collect();
    if rec.is_empty() && failures.is_empty() {
        files::remove_file(&record_path)
            .map_err(io_err("remove", &record_path.display().to_string()))?;
        // The lock file has no purpose once the record is gone.
        if let Some(l) = lock {
            let path = l.path.clone();
            drop(l);
            let _ = files::remove_file(&path);
        }
        files::prune_dirs(&rec.created_dirs, &keep);
        report.record_removed = true;
    } else {
        keep.push(record_path.display().to_string());
        rec.created_dirs = files::prune_dirs(&rec.created_dirs, &keep);
        rec.save(&record_path)?;
    }
    if failures.is_empty() {
        Ok(report)
    } else {
        Err(InstallError::Incomplete(failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_prefixes_are_stripped() {
        assert_eq!(
            strip_verbatim(r"\\?\C:\p\passbridge.exe"),
            r"C:\p\passbridge.exe"
        );
        assert_eq!(
            strip_verbatim(r"\\?\UNC\srv\share\p.exe"),
            r"\\srv\share\p.exe"
        );
        assert_eq!(strip_verbatim("/usr/bin/passbridge"), "/usr/bin/passbridge");
    }

    #[test]
    fn binary_must_exist_and_be_executable() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve_binary(Some(&d.path().join("missing"))).unwrap_err();
        assert!(e.to_string().contains("cannot register"), "{e}");
        assert!(
            resolve_binary(Some(d.path()))
                .unwrap_err()
                .to_string()
                .contains("not a file")
        );
        #[cfg(unix)]
        {
            let f = d.path().join("plain");
            std::fs::write(&f, b"").unwrap();
            let e = resolve_binary(Some(&f)).unwrap_err().to_string();
            assert!(e.contains("not executable"), "{e}");
            crate::fsutil::set_mode(&f, 0o755).unwrap();
            let link = d.path().join("link");
            std::os::unix::fs::symlink(&f, &link).unwrap();
            let canon = std::fs::canonicalize(&f).unwrap();
            assert_eq!(
                resolve_binary(Some(&link)).unwrap(),
                canon.to_str().unwrap()
            );
        }
    }
}
