//! `passbridge doctor`: checks every registration passbridge recorded or can find, the way a
//! browser would use it, and says what to fix (spec §4.6).

use super::apply::Context;
use super::files;
use super::manifest::{self, MAX_MANIFEST_BYTES};
use super::plan::{ManifestIds, id_flag};
use super::probe::{self, Outcome};
use super::record::{self, InstallRecord, RecordedManifest};
use super::registry;
use super::resolve::{self, is_absolute};
use super::sandbox;
use super::table::{Browser, Family, Os, Scope};
use crate::config::{Allowlist, Config, HOST_NAME};
use crate::nm::caller::normalize_origin;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
    pub fix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub sections: Vec<Section>,
}

impl Report {
    pub fn count(&self, level: Level) -> usize {
        self.sections
            .iter()
            .flat_map(|s| &s.findings)
            .filter(|f| f.level == level)
            .count()
    }
}

fn ok(text: impl Into<String>) -> Finding {
    Finding {
        level: Level::Ok,
        text: text.into(),
        fix: None,
    }
}
fn warn(text: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        level: Level::Warn,
        text: text.into(),
        fix: Some(fix.into()),
    }
}
fn fail(text: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        level: Level::Fail,
        text: text.into(),
        fix: Some(fix.into()),
    }
}

/// A manifest to check, with what we know about it.
#[derive(Debug, Clone)]
struct Site {
    path: String,
    scope: Scope,
    family: Family,
    browsers: Vec<Browser>,
    recorded: Option<RecordedManifest>,
    recorded_binary: Option<String>,
}

fn browsers_text(list: &[Browser]) -> String {
    list.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn run(ctx: &Context) -> Report {
    let mut report = Report::default();
    let mut general = Vec::new();

    // The host's allowlist: the user's config.json plus the system allowlist.
    let config_path = ctx.paths.config_file();
    let mut effective = Allowlist::default();
    match Config::load(&ctx.paths) {
        Ok(c) => {
            general.push(ok(format!(
                "host allowlist {}: {}, {}",
                config_path.display(),
                plural(
                    c.allowed.chrome_origins.len(),
                    "Chrome origin",
                    "Chrome origins"
                ),
                plural(c.allowed.firefox_ids.len(), "Firefox id", "Firefox ids"),
            )));
            effective = c.allowed;
        }
        Err(e) => general.push(fail(
            e.to_string(),
            "fix the file (it is JSON) or delete it and run `passbridge install` again",
        )),
    }
    let system_allow_path = ctx.allowlist_path(Scope::System).ok();
    if let Some(p) = system_allow_path.as_ref().filter(|p| p.exists()) {
        match record::load_system_allowlist(p) {
            Ok(a) => {
                general.push(ok(format!(
                    "system allowlist {}: {}, {}",
                    p.display(),
                    plural(a.chrome_origins.len(), "Chrome origin", "Chrome origins"),
                    plural(a.firefox_ids.len(), "Firefox id", "Firefox ids"),
                )));
                for o in a.chrome_origins {
                    if !effective.chrome_origins.contains(&o) {
                        effective.chrome_origins.push(o);
                    }
                }
                for i in a.firefox_ids {
                    if !effective.firefox_ids.contains(&i) {
                        effective.firefox_ids.push(i);
                    }
                }
            }
            Err(e) => general.push(fail(
                e.to_string(),
                "fix it, or run `sudo passbridge install --scope system ...` again",
            )),
        }
    }
    for bad in ManifestIds::from_allowlist(&effective).invalid {
        general.push(warn(
            format!("allowlist entry {bad:?} is not a valid extension id or origin"),
            "remove it from config.json; valid entries look like chrome-extension://<32 letters a-p>/ or name@example.org",
        ));
    }

    // Recorded registrations.
    let mut sites: Vec<Site> = Vec::new();
    let mut recorded_keys = Vec::new();
    for scope in [Scope::User, Scope::System] {
        let Ok(path) = ctx.record_path(scope) else {
            continue;
        };
        match InstallRecord::load(&path) {
            Ok(Some(rec)) => {
                general.push(ok(format!(
                    "{scope} install record {}: {}",
                    path.display(),
                    browsers_text(&rec.browsers())
                )));
                for m in &rec.manifests {
                    sites.push(Site {
                        path: m.path.clone(),
                        scope,
                        family: m.family,
                        browsers: m.browsers.clone(),
                        recorded: Some(m.clone()),
                        recorded_binary: Some(rec.binary.clone()),
                    });
                }
                recorded_keys.extend(rec.registry.iter().map(|k| (scope, k.clone())));
            }
            Ok(None) => {}
            Err(record::RecordError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                general.push(warn(
                    format!("cannot read the {scope} install record {}", path.display()),
                    "run doctor as the user who installed it (or root) to check it exactly",
                ));
            }
            Err(e) => general.push(fail(
                e.to_string(),
                "fix it, or delete it and remove the registrations by hand (see docs/install.md)",
            )),
        }
    }

    // Manifests passbridge did not record (installed by hand, a package or an older version).
    let mut key_sites = Vec::new();
    for scope in [Scope::User, Scope::System] {
        for b in Browser::ALL {
            let Ok(reg) = resolve::resolve(b, ctx.os, scope, &ctx.env) else {
                continue;
            };
            for path in reg.manifests {
                if ctx.os == Os::Windows || std::fs::symlink_metadata(&path).is_err() {
                    continue;
                }
                add_site(&mut sites, path, scope, b);
            }
            if ctx.os == Os::Windows {
                key_sites.extend(reg.keys.into_iter().map(|k| (scope, b, k)));
            }
        }
    }
    report.sections.push(Section {
        title: "passbridge".into(),
        findings: general,
    });
    report.sections.push(Section {
        title: "secrets".into(),
        findings: check_secrets(&ctx.paths),
    });

    if ctx.os == Os::Windows {
        let (findings, pointed) = check_registry(&recorded_keys, &key_sites);
        for (scope, b, path) in pointed {
            add_site(&mut sites, path, scope, b);
        }
        if !findings.is_empty() {
            report.sections.push(Section {
                title: "Windows registry".into(),
                findings,
            });
        }
    }

    let mut probes: HashMap<(String, Vec<String>), Outcome> = HashMap::new();
    for site in &sites {
        report.sections.push(Section {
            title: format!(
                "{} ({}): {}",
                browsers_text(&site.browsers),
                site.scope,
                site.path
            ),
            findings: check_site(ctx.os, site, &effective, &config_path, &mut probes),
        });
    }

    let mut other = Vec::new();
    if sites.is_empty() {
        other.push(fail(
            "passbridge is not registered with any browser",
            "run `passbridge install --browser NAME --chrome-extension-id ID` or `--firefox-extension-id ID`",
        ));
    }
    for b in Browser::ALL {
        let registered = sites.iter().any(|s| s.browsers.contains(&b));
        let found = if registered { None } else { ctx.find(b) };
        if let Some(found) = found {
            let what = match found {
                resolve::Found::Profile(_) => "is set up for this user".to_owned(),
                resolve::Found::Installed(p) => format!("is installed ({p})"),
            };
            other.push(warn(
                format!("{b} {what}, but passbridge is not registered with it"),
                format!(
                    "if you use passbridge there: passbridge install --browser {b} --{} ID",
                    id_flag(b.family())
                ),
            ));
        }
    }
    if ctx.os == Os::Linux {
        let found = sandbox::detect(&ctx.env.home, &|p| Path::new(p).is_dir());
        for s in found {
            let kind = match s.kind {
                sandbox::Kind::Flatpak => "Flatpak",
                sandbox::Kind::Snap => "Snap",
            };
            other.push(warn(
                format!("{kind} {} found ({})", s.name, s.path),
                s.advice,
            ));
        }
    }
    if !other.is_empty() {
        report.sections.push(Section {
            title: "other browsers".into(),
            findings: other,
        });
    }
    report
}

/// Where the link's keys are kept: the keyring, or the 0600 file and why (issue 16: a fallback
/// is never silent).
fn check_secrets(paths: &crate::config::Paths) -> Vec<Finding> {
    use crate::anotherpass::store;
    use crate::keystore::{Keystore, Location};
    let link_file = store::link_path(paths);
    let keystore = match Keystore::open(paths) {
        Ok(k) => k,
        Err(e) => {
            return vec![fail(
                e.to_string(),
                "set PASSBRIDGE_SECRET_STORE or secrets.store in config.json to auto, keyring or file",
            )];
        }
    };
    let linked = store::link_location(paths);
    let keys_in_file = matches!(linked, Ok(Some("file")));
    let mut out = vec![match keystore.location() {
        Location::Keyring(name) => ok(format!("secrets are kept in the {name}")),
        // A warning once keys actually sit in the file; before any link, a note.
        Location::File(reason) if keys_in_file => warn(
            format!(
                "no keyring is used ({reason}): the ANOTHERpass link's keys are kept in {} (0600)",
                link_file.display()
            ),
            "start a Secret Service in your session (GNOME Keyring, KWallet, KeePassXC), or accept the file; see README.md (Keyring)",
        ),
        Location::File(reason) => ok(format!(
            "no keyring is used ({reason}): a link made now keeps its keys in {} (0600)",
            link_file.display()
        )),
    }];
    match linked {
        Ok(Some("file")) if keystore.is_keyring() => out.push(ok(format!(
            "the link's keys are still in {}; they move into the keyring the next time the link is used",
            link_file.display()
        ))),
        Ok(Some("keyring")) if !keystore.is_keyring() => out.push(fail(
            "the link's keys are in a keyring that cannot be reached now",
            "unlock or start the keyring, or unlink and link again",
        )),
        Ok(_) => {}
        Err(e) => out.push(fail(
            e.to_string(),
            "run `passbridge anotherpass unlink` and link again",
        )),
    }
    out
}

fn add_site(sites: &mut Vec<Site>, path: String, scope: Scope, b: Browser) {
    match sites.iter_mut().find(|s| s.path == path) {
        Some(s) => {
            if !s.browsers.contains(&b) {
                s.browsers.push(b);
            }
        }
        None => sites.push(Site {
            path,
            scope,
            family: b.family(),
            browsers: vec![b],
            recorded: None,
            recorded_binary: None,
        }),
    }
}

/// Windows: recorded keys must exist and point at their manifest; keys found elsewhere are
/// followed to the manifest they name.
fn check_registry(
    recorded: &[(Scope, super::record::RecordedKey)],
    table: &[(Scope, Browser, registry::RegistryEntry)],
) -> (Vec<Finding>, Vec<(Scope, Browser, String)>) {
    let mut findings = Vec::new();
    let mut pointed = Vec::new();
    for (_, k) in recorded {
        let name = k.entry.display_key();
        match registry::read(&k.entry) {
            Ok(Some(v)) if v == k.entry.value => {
                findings.push(ok(format!("{name} = {v}")));
            }
            Ok(Some(v)) => findings.push(fail(
                format!("{name} points to {v:?}, not to {}", k.entry.value),
                "run `passbridge install` again to rewrite it",
            )),
            Ok(None) => findings.push(fail(
                format!("{name} is missing"),
                "run `passbridge install` again",
            )),
            Err(e) => findings.push(fail(
                format!("cannot read {name}: {e}"),
                "check the registry permissions",
            )),
        }
    }
    for (scope, b, entry) in table {
        if recorded.iter().any(|(_, k)| {
            k.entry.hive == entry.hive && k.entry.view == entry.view && k.entry.key == entry.key
        }) {
            continue;
        }
        if let Ok(Some(v)) = registry::read(entry) {
            findings.push(warn(
                format!("{} = {v} (not in the install record)", entry.display_key()),
                "if this is an old registration, run `passbridge install` to take it over",
            ));
            if !v.is_empty() {
                pointed.push((*scope, *b, v));
            }
        }
    }
    (findings, pointed)
}

fn check_site(
    os: Os,
    site: &Site,
    allow: &Allowlist,
    config_path: &Path,
    probes: &mut HashMap<(String, Vec<String>), Outcome>,
) -> Vec<Finding> {
    let reinstall = "run `passbridge install` again to rewrite it";
    let path = Path::new(&site.path);
    let bytes = match files::read_optional(path, MAX_MANIFEST_BYTES) {
        Ok(Some(b)) => b,
        Ok(None) => return vec![fail("the manifest is missing", reinstall)],
        Err(e) => return vec![fail(format!("cannot read the manifest: {e}"), reinstall)],
    };
    let m = match manifest::parse(&bytes) {
        Ok(m) => m,
        Err(e) => return vec![fail(format!("the manifest {e}"), reinstall)],
    };
    let mut out = Vec::new();
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let expected_key = site.family.allowlist_key();
    if m.name != HOST_NAME {
        out.push(fail(
            format!("the manifest's name is {:?}, not {HOST_NAME:?}", m.name),
            reinstall,
        ));
    } else if os != Os::Windows && file_name != format!("{}.json", m.name) {
        out.push(fail(
            format!(
                "the file is named {file_name:?}, but browsers look for \"{}.json\"",
                m.name
            ),
            reinstall,
        ));
    } else if m.kind != "stdio" {
        out.push(fail(
            format!("\"type\" is {:?}, not \"stdio\"", m.kind),
            reinstall,
        ));
    } else if m.family != site.family {
        out.push(fail(
            format!(
                "the manifest has \"{}\", but {} read \"{expected_key}\"",
                m.family.allowlist_key(),
                browsers_text(&site.browsers)
            ),
            reinstall,
        ));
    } else {
        out.push(ok(format!(
            "valid manifest for {HOST_NAME} (stdio, \"{expected_key}\")"
        )));
    }
    if site
        .recorded
        .as_ref()
        .is_some_and(|r| files::sha256_hex(&bytes) != r.sha256)
    {
        out.push(warn(
            "the manifest changed since passbridge wrote it",
            "run `passbridge install` again if the change was not intended",
        ));
    }
    out.extend(check_readable(path, site.scope));

    let binary = if os == Os::Windows && !is_absolute(os, &m.path) {
        // Windows allows a path relative to the manifest's folder.
        path.parent().unwrap_or(Path::new("")).join(&m.path)
    } else {
        PathBuf::from(&m.path)
    };
    let runnable = if !is_absolute(os, &m.path) && os != Os::Windows {
        out.push(fail(
            format!(
                "the host path {:?} is not absolute; browsers refuse it",
                m.path
            ),
            reinstall,
        ));
        false
    } else {
        match std::fs::metadata(&binary) {
            Err(e) => {
                out.push(fail(
                    format!("the host {} cannot be used: {e}", binary.display()),
                    "reinstall passbridge (installer/install.sh) or run `passbridge install --binary PATH`",
                ));
                false
            }
            Ok(meta) if !files::is_executable(&meta) => {
                out.push(fail(
                    format!("the host {} is not an executable file", binary.display()),
                    format!("chmod 755 {}", binary.display()),
                ));
                false
            }
            Ok(meta) => {
                out.push(ok(format!("host {} is executable", binary.display())));
                out.extend(check_other_users_can_run(&meta, site.scope, &binary));
                true
            }
        }
    };
    if let Some(b) = site.recorded_binary.as_ref().filter(|b| **b != m.path) {
        out.push(warn(
            format!("the install record names {b}, the manifest {}", m.path),
            "run `passbridge install` with the binary you use",
        ));
    }

    // Allowlists: every extension the browser lets start the host must be one the host accepts.
    let flag = id_flag(site.family);
    let normalize = |s: &str| match site.family {
        Family::Chrome => normalize_origin(s),
        Family::Firefox => s.to_string(),
    };
    let host_list: Vec<String> = match site.family {
        Family::Chrome => allow.chrome_origins.iter().map(|o| normalize(o)).collect(),
        Family::Firefox => allow.firefox_ids.clone(),
    };
    let listed: Vec<String> = m.allowed.iter().map(|s| normalize(s)).collect();
    if listed.is_empty() {
        out.push(fail(
            format!("\"{expected_key}\" is empty: no extension may start the host"),
            format!("passbridge install --{flag} ID"),
        ));
    }
    let mut all_good = !listed.is_empty();
    for entry in &listed {
        let valid = match site.family {
            Family::Chrome => super::ids::chrome_origin(entry).is_ok(),
            Family::Firefox => super::ids::firefox_id(entry).is_ok(),
        };
        if !valid {
            all_good = false;
            out.push(fail(
                format!("{entry:?} is not a valid entry for \"{expected_key}\"; the browser rejects the manifest"),
                reinstall,
            ));
        } else if !host_list.contains(entry) {
            all_good = false;
            out.push(fail(
                format!(
                    "{entry} may start the host, but the host refuses it: it is not in {}",
                    config_path.display()
                ),
                format!(
                    "passbridge install --{flag} {}",
                    entry
                        .trim_start_matches(crate::nm::caller::CHROME_SCHEME)
                        .trim_end_matches('/')
                ),
            ));
        }
    }
    if all_good {
        out.push(ok(format!(
            "allows {}; the host accepts {}",
            listed.join(", "),
            if listed.len() == 1 { "it" } else { "them all" }
        )));
    }
    for h in &host_list {
        if !listed.contains(h) {
            out.push(warn(
                format!("the host accepts {h}, but this manifest does not list it"),
                "run `passbridge install` to refresh every manifest",
            ));
        }
    }

    // Launch it as the browser would and check the reply frame.
    if runnable && !listed.is_empty() {
        let args = match site.family {
            Family::Chrome => vec![listed[0].clone()],
            Family::Firefox => vec![site.path.clone(), listed[0].clone()],
        };
        let key = (binary.display().to_string(), args.clone());
        let outcome = probes
            .entry(key)
            .or_insert_with(|| probe::run(&binary, &args))
            .clone();
        match outcome {
            Outcome::Hello { version, protocol } => out.push(ok(format!(
                "launched like {} does ({}): replied to hello with a proper frame (passbridge {version}, protocol {protocol})",
                match site.family { Family::Chrome => "a Chrome-family browser", Family::Firefox => "Firefox" },
                args.join(" ")
            ))),
            Outcome::Refused { code, message } => out.push(fail(
                format!("the host refused a hello from {}: {code}: {message}", listed[0]),
                format!("passbridge install --{flag} ID (with that extension's id)"),
            )),
            Outcome::Broken(why) => out.push(fail(
                format!("launching the host as a browser would failed: {why}"),
                format!(
                    "make sure nothing writes to stdout (wrapper scripts, shell start-up files); \
                     see the raw output with: echo '{{\"action\":\"hello\"}}' | passbridge frame | {} | passbridge unframe",
                    binary.display()
                ),
            )),
        }
    }
    out
}

#[cfg(unix)]
fn check_readable(path: &Path, scope: Scope) -> Vec<Finding> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return vec![];
    };
    let mode = meta.permissions().mode();
    let (bit, who) = match scope {
        Scope::User => (0o400, "you"),
        Scope::System => (0o004, "every user"),
    };
    if mode & bit == 0 {
        vec![fail(
            format!(
                "the manifest is not readable by {who} (mode {:o})",
                mode & 0o777
            ),
            format!("chmod 644 {}", path.display()),
        )]
    } else {
        vec![]
    }
}

#[cfg(not(unix))]
fn check_readable(_path: &Path, _scope: Scope) -> Vec<Finding> {
    vec![]
}

#[cfg(unix)]
fn check_other_users_can_run(
    meta: &std::fs::Metadata,
    scope: Scope,
    binary: &Path,
) -> Vec<Finding> {
    use std::os::unix::fs::PermissionsExt;
    if scope == Scope::System && meta.permissions().mode() & 0o001 == 0 {
        vec![warn(
            format!("{} is not executable by other users", binary.display()),
            format!(
                "chmod 755 {} (and make sure its folders are reachable)",
                binary.display()
            ),
        )]
    } else {
        vec![]
    }
}

#[cfg(not(unix))]
fn check_other_users_can_run(_: &std::fs::Metadata, _: Scope, _: &Path) -> Vec<Finding> {
    vec![]
}
