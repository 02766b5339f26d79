//! What `install` will do, decided without touching anything: which browsers, which files with
//! which bytes, which registry keys. `--dry-run` prints this; [`super::apply`] executes it.

use super::files::sha256_hex;
use super::manifest;
use super::record::{RecordedKey, RecordedManifest};
use super::resolve::{self, Env, ResolveError};
use super::table::{Browser, Family, Os, Scope};
use crate::config::Allowlist;

/// Ids usable in manifests, per family (invalid hand-edited config entries are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestIds {
    pub chrome: Vec<String>,
    pub firefox: Vec<String>,
    /// Allowlist entries that are not valid ids and were left out of the manifests.
    pub invalid: Vec<String>,
}

impl ManifestIds {
    pub fn from_allowlist(allow: &Allowlist) -> Self {
        let mut out = Self::default();
        for o in &allow.chrome_origins {
            match super::ids::chrome_origin(o) {
                Ok(v) if !out.chrome.contains(&v) => out.chrome.push(v),
                Ok(_) => {}
                Err(_) => out.invalid.push(o.clone()),
            }
        }
        for i in &allow.firefox_ids {
            match super::ids::firefox_id(i) {
                Ok(v) if !out.firefox.contains(&v) => out.firefox.push(v),
                Ok(_) => {}
                Err(_) => out.invalid.push(i.clone()),
            }
        }
        out
    }

    pub fn of(&self, family: Family) -> &[String] {
        match family {
            Family::Chrome => &self.chrome,
            Family::Firefox => &self.firefox,
        }
    }
}

/// A browser left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub browser: Browser,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error(
        "{browser} needs an extension id: pass --{flag} ID (or install for a browser of the other family)"
    )]
    NeedId {
        browser: Browser,
        flag: &'static str,
    },
    #[error(
        "no browser found for this user (looked for: {looked}). Pass --browser NAME \
         (one of: {names}) to register anyway"
    )]
    NoBrowser { looked: String, names: String },
    #[error(
        "found {found}, but no extension id for it: pass --chrome-extension-id ID or --firefox-extension-id ID"
    )]
    NoIds { found: String },
}

pub fn id_flag(family: Family) -> &'static str {
    match family {
        Family::Chrome => "chrome-extension-id",
        Family::Firefox => "firefox-extension-id",
    }
}

/// Picks the browsers to register.
///
/// Explicit `--browser` names must have ids for their family. Without them: in user scope the
/// browsers found on this machine (installed or with a profile folder), in system scope every browser of
/// the table; either way only those whose family has ids. Browsers already in the install record
/// are always kept, so one `install` refreshes every registration of that scope.
pub fn select(
    requested: &[Browser],
    recorded: &[Browser],
    scope: Scope,
    detected: &dyn Fn(Browser) -> bool,
    ids: &ManifestIds,
) -> Result<(Vec<Browser>, Vec<Skip>), SelectError> {
    let has_ids = |b: Browser| !ids.of(b.family()).is_empty();
    let mut chosen: Vec<Browser> = Vec::new();
    let mut skipped = Vec::new();
    if !requested.is_empty() {
        for &b in requested {
            if !has_ids(b) {
                return Err(SelectError::NeedId {
                    browser: b,
                    flag: id_flag(b.family()),
                });
            }
            chosen.push(b);
        }
    } else {
        let candidates: Vec<Browser> = Browser::ALL
            .into_iter()
            .filter(|&b| scope == Scope::System || detected(b))
            .collect();
        if candidates.is_empty() && recorded.is_empty() {
            let names: Vec<&str> = Browser::ALL.iter().map(|b| b.name()).collect();
            return Err(SelectError::NoBrowser {
                looked: "every supported browser's programs on PATH and in their usual places, \
                         application bundles, desktop entries and profile folders"
                    .into(),
                names: names.join(", "),
            });
        }
        for &b in &candidates {
            if has_ids(b) {
                chosen.push(b);
            } else if scope == Scope::User {
                skipped.push(Skip {
                    browser: b,
                    reason: format!(
                        "no {} extension id (pass --{})",
                        b.family().name(),
                        id_flag(b.family())
                    ),
                });
            }
        }
        if chosen.is_empty() && recorded.is_empty() {
            let found: Vec<&str> = candidates.iter().map(|b| b.name()).collect();
            return Err(SelectError::NoIds {
                found: found.join(", "),
            });
        }
    }
    for &b in recorded {
        if chosen.contains(&b) {
            continue;
        }
        if has_ids(b) {
            chosen.push(b);
        } else {
            skipped.push(Skip {
                browser: b,
                reason: format!(
                    "registered before, but the allowlist has no {} id now",
                    b.family().name()
                ),
            });
        }
    }
    chosen.sort();
    chosen.dedup();
    Ok((chosen, skipped))
}

/// A manifest file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedManifest {
    pub record: RecordedManifest,
    pub contents: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub os: Os,
    pub scope: Scope,
    pub binary: String,
    pub browsers: Vec<Browser>,
    pub manifests: Vec<PlannedManifest>,
    pub keys: Vec<RecordedKey>,
}

/// Resolves every browser and renders each manifest once (several browsers may share a path
/// or a registry key; the record lists all of them for that item).
pub fn build(
    os: Os,
    scope: Scope,
    env: &Env,
    browsers: &[Browser],
    binary: &str,
    ids: &ManifestIds,
) -> Result<Plan, ResolveError> {
    let mut plan = Plan {
        os,
        scope,
        binary: binary.to_string(),
        browsers: browsers.to_vec(),
        manifests: Vec::new(),
        keys: Vec::new(),
    };
    for &b in browsers {
        let family = b.family();
        let reg = resolve::resolve(b, os, scope, env)?;
        for path in reg.manifests {
            if let Some(m) = plan.manifests.iter_mut().find(|m| m.record.path == path) {
                debug_assert_eq!(m.record.family, family, "the table test forbids sharing");
                m.record.browsers.push(b);
                continue;
            }
            let contents = manifest::render(family, binary, ids.of(family));
            plan.manifests.push(PlannedManifest {
                record: RecordedManifest {
                    path,
                    family,
                    sha256: sha256_hex(contents.as_bytes()),
                    browsers: vec![b],
                },
                contents,
            });
        }
        for entry in reg.keys {
            match plan.keys.iter_mut().find(|k| k.entry == entry) {
                Some(k) => k.browsers.push(b),
                None => plan.keys.push(RecordedKey {
                    entry,
                    browsers: vec![b],
                }),
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Browser as B;

    const ORIGIN: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop/";

    fn ids(chrome: bool, firefox: bool) -> ManifestIds {
        ManifestIds {
            chrome: if chrome { vec![ORIGIN.into()] } else { vec![] },
            firefox: if firefox { vec!["a@b".into()] } else { vec![] },
            invalid: vec![],
        }
    }

    #[test]
    fn explicit_browsers_need_ids_of_their_family() {
        let none = |_| false;
        let (b, s) = select(&[B::Chromium], &[], Scope::User, &none, &ids(true, false)).unwrap();
        assert_eq!((b, s), (vec![B::Chromium], vec![]));
        let e = select(&[B::Firefox], &[], Scope::User, &none, &ids(true, false)).unwrap_err();
        assert_eq!(
            e,
            SelectError::NeedId {
                browser: B::Firefox,
                flag: "firefox-extension-id"
            }
        );
        assert!(e.to_string().contains("--firefox-extension-id"));
    }

    #[test]
    fn default_is_the_detected_browsers_with_ids() {
        let detected = |b| matches!(b, B::Firefox | B::Chrome | B::Brave);
        let (b, s) = select(&[], &[], Scope::User, &detected, &ids(true, false)).unwrap();
        assert_eq!(b, vec![B::Chrome, B::Brave]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].browser, B::Firefox);
        assert!(s[0].reason.contains("--firefox-extension-id"));
    }

    #[test]
    fn default_system_scope_is_every_browser_of_the_families_with_ids() {
        let none = |_| false;
        let (b, s) = select(&[], &[], Scope::System, &none, &ids(false, true)).unwrap();
        assert_eq!(b, vec![B::Firefox, B::Librewolf, B::Waterfox]);
        assert!(s.is_empty());
    }

    #[test]
    fn nothing_found_or_no_ids_are_clear_errors() {
        let none = |_| false;
        let e = select(&[], &[], Scope::User, &none, &ids(true, true)).unwrap_err();
        assert!(e.to_string().contains("--browser NAME"), "{e}");
        assert!(e.to_string().contains("chrome-for-testing"), "{e}");
        let edge = |b| b == B::Edge;
        let e = select(&[], &[], Scope::User, &edge, &ids(false, true)).unwrap_err();
        assert_eq!(
            e,
            SelectError::NoIds {
                found: "edge".into()
            }
        );
    }

    #[test]
    fn recorded_browsers_are_kept() {
        let none = |_| false;
        let (b, s) = select(
            &[B::Firefox],
            &[B::Chromium, B::Vivaldi],
            Scope::User,
            &none,
            &ids(true, true),
        )
        .unwrap();
        assert_eq!(b, vec![B::Firefox, B::Chromium, B::Vivaldi]);
        assert!(s.is_empty());
        let (b, s) = select(
            &[B::Firefox],
            &[B::Chromium],
            Scope::User,
            &none,
            &ids(false, true),
        )
        .unwrap();
        assert_eq!(b, vec![B::Firefox]);
        assert_eq!(s[0].browser, B::Chromium);
    }

    #[test]
    fn invalid_allowlist_entries_stay_out_of_manifests() {
        let allow = Allowlist {
            chrome_origins: vec![
                "chrome-extension://abcdefghijklmnopabcdefghijklmnop".into(),
                ORIGIN.into(),
                "bogus".into(),
            ],
            firefox_ids: vec!["a@b".into(), "nope".into()],
        };
        let m = ManifestIds::from_allowlist(&allow);
        assert_eq!(m.chrome, vec![ORIGIN.to_string()]);
        assert_eq!(m.firefox, vec!["a@b".to_string()]);
        assert_eq!(m.invalid, vec!["bogus".to_string(), "nope".to_string()]);
    }

    #[test]
    fn shared_locations_are_written_once_for_all_their_browsers() {
        let env = Env {
            home: "/home/u".into(),
            ..Env::default()
        };
        let plan = build(
            Os::Linux,
            Scope::System,
            &env,
            &[B::Chrome, B::Brave, B::Vivaldi],
            "/usr/local/bin/passbridge",
            &ids(true, false),
        )
        .unwrap();
        let chrome_dir = plan
            .manifests
            .iter()
            .find(|m| {
                m.record.path == "/etc/opt/chrome/native-messaging-hosts/org.passbridge.host.json"
            })
            .unwrap();
        assert_eq!(
            chrome_dir.record.browsers,
            vec![B::Chrome, B::Brave, B::Vivaldi]
        );
        assert_eq!(plan.manifests.len(), 4, "chrome, brave, 2 vivaldi dirs");
        assert!(
            plan.manifests.iter().all(|m| m.contents.contains(ORIGIN)
                && m.record.sha256 == sha256_hex(m.contents.as_bytes()))
        );
    }

    #[test]
    fn windows_plan_shares_one_manifest_per_family() {
        let env = Env {
            home: r"C:\Users\u".into(),
            local_appdata: Some(r"C:\Users\u\AppData\Local".into()),
            ..Env::default()
        };
        let plan = build(
            Os::Windows,
            Scope::User,
            &env,
            &[B::Chrome, B::Chromium, B::Firefox],
            r"C:\passbridge.exe",
            &ids(true, true),
        )
        .unwrap();
        assert_eq!(plan.manifests.len(), 2);
        // Google\Chrome is written once, for both browsers; plus Chromium and Mozilla.
        assert_eq!(plan.keys.len(), 3);
        let chrome_key = plan
            .keys
            .iter()
            .find(|k| k.entry.key.starts_with(r"Software\Google\Chrome\"))
            .unwrap();
        assert_eq!(chrome_key.browsers, vec![B::Chrome, B::Chromium]);
    }
}
