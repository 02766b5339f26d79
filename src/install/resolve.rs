//! Pure path resolution: [`table`](super::table) rows + an injected environment → concrete
//! manifest paths and registry keys, for any OS (so Linux tests cover macOS and Windows).
//!
//! Paths are `String`s built with the target OS's separator; manifests are JSON, so a path that
//! is not UTF-8 could not be written into one anyway.

use super::registry::{Hive, RegistryEntry, View};
use super::table::{self, Base, Browser, Family, Loc, Os, Place, Scope};
use crate::config::HOST_NAME;

/// The directories resolution depends on, read once from the process environment (or made up
/// by a test).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    pub home: String,
    pub xdg_config_home: Option<String>,
    pub appdata: Option<String>,
    pub local_appdata: Option<String>,
    pub program_data: Option<String>,
    /// Prefix for system-scope locations on Unix (`PASSBRIDGE_SYSTEM_ROOT`, for tests and image
    /// builds); empty for the real root.
    pub system_root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot find your home directory; set HOME")]
    NoHome,
    #[error("{var} is {value:?}, which is not an absolute path; fix or unset it")]
    NotAbsolute { var: &'static str, value: String },
    #[error("{0} is not set; passbridge needs it to find the browsers' folders")]
    MissingVar(&'static str),
    #[error("{0} is not valid UTF-8; manifests are JSON, so passbridge needs UTF-8 paths")]
    NotUtf8(&'static str),
}

impl Env {
    /// Reads HOME (USERPROFILE on Windows), XDG_CONFIG_HOME, APPDATA, LOCALAPPDATA, ProgramData
    /// and PASSBRIDGE_SYSTEM_ROOT.
    pub fn from_process(os: Os) -> Result<Env, ResolveError> {
        fn var(name: &'static str) -> Result<Option<String>, ResolveError> {
            match std::env::var_os(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(Some)
                    .map_err(|_| ResolveError::NotUtf8(name)),
            }
        }
        let home_var = if os == Os::Windows {
            "USERPROFILE"
        } else {
            "HOME"
        };
        let home = match var(home_var)? {
            Some(h) => h,
            None => directories::BaseDirs::new()
                .ok_or(ResolveError::NoHome)?
                .home_dir()
                .to_str()
                .ok_or(ResolveError::NotUtf8(home_var))?
                .to_string(),
        };
        if !is_absolute(os, &home) {
            return Err(ResolveError::NotAbsolute {
                var: home_var,
                value: home,
            });
        }
        let windows = os == Os::Windows;
        let system_root = match var("PASSBRIDGE_SYSTEM_ROOT")? {
            Some(r) if !windows => {
                if !is_absolute(os, &r) {
                    return Err(ResolveError::NotAbsolute {
                        var: "PASSBRIDGE_SYSTEM_ROOT",
                        value: r,
                    });
                }
                r.trim_end_matches('/').to_string()
            }
            _ => String::new(),
        };
        Ok(Env {
            home,
            xdg_config_home: var("XDG_CONFIG_HOME")?,
            appdata: if windows { var("APPDATA")? } else { None },
            local_appdata: if windows { var("LOCALAPPDATA")? } else { None },
            program_data: if windows { var("ProgramData")? } else { None },
            system_root,
        })
    }

    /// `$XDG_CONFIG_HOME` when set to an absolute path (the XDG spec says to ignore relative
    /// ones), else `$HOME/.config`.
    pub fn xdg_config(&self, os: Os) -> String {
        match &self.xdg_config_home {
            Some(x) if is_absolute(os, x) => x.clone(),
            _ => join(os, &self.home, ".config"),
        }
    }

    fn base(&self, os: Os, base: Base) -> Result<String, ResolveError> {
        let need = |v: &Option<String>, name: &'static str| match v {
            Some(p) if is_absolute(os, p) => Ok(p.clone()),
            Some(p) => Err(ResolveError::NotAbsolute {
                var: name,
                value: p.clone(),
            }),
            None => Err(ResolveError::MissingVar(name)),
        };
        Ok(match base {
            Base::Home => self.home.clone(),
            Base::XdgConfig => self.xdg_config(os),
            Base::AppSupport => join(os, &self.home, "Library/Application Support"),
            Base::AppData => need(&self.appdata, "APPDATA")?,
            Base::LocalAppData => need(&self.local_appdata, "LOCALAPPDATA")?,
            Base::ProgramData => need(&self.program_data, "ProgramData")?,
            Base::Root => self.system_root.clone(),
        })
    }

    pub fn loc(&self, os: Os, loc: Loc) -> Result<String, ResolveError> {
        Ok(join(os, &self.base(os, loc.base)?, loc.rel))
    }
}

/// Absolute for that OS: `/x` on Unix; `C:\x`, `C:/x` or `\\server\share` on Windows.
pub fn is_absolute(os: Os, p: &str) -> bool {
    match os {
        Os::Windows => {
            let b = p.as_bytes();
            (b.len() >= 3
                && b[0].is_ascii_alphabetic()
                && b[1] == b':'
                && matches!(b[2], b'\\' | b'/'))
                || p.starts_with("\\\\")
        }
        _ => p.starts_with('/'),
    }
}

/// Joins a `/`-separated relative path onto `base` with the OS's separator.
pub fn join(os: Os, base: &str, rel: &str) -> String {
    let sep = os.separator();
    let base = base.trim_end_matches(|c| c == '/' || (os == Os::Windows && c == '\\'));
    let rel: String = rel
        .trim_start_matches('/')
        .chars()
        .map(|c| if c == '/' { sep } else { c })
        .collect();
    format!("{base}{sep}{rel}")
}

/// The manifest file name: browsers look up `<host name>.json`.
pub fn manifest_file_name() -> String {
    format!("{HOST_NAME}.json")
}

/// Where passbridge keeps machine-wide files: the system install record and allowlist.
pub fn system_dir(os: Os, env: &Env) -> Result<String, ResolveError> {
    let loc = match os {
        Os::Linux => Loc {
            base: Base::Root,
            rel: "/etc/passbridge",
        },
        Os::Macos => Loc {
            base: Base::Root,
            rel: "/Library/Application Support/passbridge",
        },
        Os::Windows => Loc {
            base: Base::ProgramData,
            rel: "passbridge",
        },
    };
    env.loc(os, loc)
}

/// Windows keeps manifests wherever the registry points: ours live in one folder per family.
pub fn windows_manifest(family: Family, scope: Scope, env: &Env) -> Result<String, ResolveError> {
    let base = match scope {
        Scope::User => Base::LocalAppData,
        Scope::System => Base::ProgramData,
    };
    let dir = env.loc(
        Os::Windows,
        Loc {
            base,
            rel: "passbridge/NativeMessagingHosts",
        },
    )?;
    Ok(join(
        Os::Windows,
        &join(Os::Windows, &dir, family.name()),
        &manifest_file_name(),
    ))
}

/// Everything one browser needs in one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub browser: Browser,
    pub scope: Scope,
    /// Manifest files to write (their content depends only on the family).
    pub manifests: Vec<String>,
    /// Windows: keys pointing at the manifest.
    pub keys: Vec<RegistryEntry>,
}

pub fn resolve(
    browser: Browser,
    os: Os,
    scope: Scope,
    env: &Env,
) -> Result<Registration, ResolveError> {
    let row = table::row(browser, os);
    let mut reg = Registration {
        browser,
        scope,
        manifests: Vec::new(),
        keys: Vec::new(),
    };
    for place in row.places(scope) {
        match *place {
            Place::Dir(loc) => {
                let path = join(os, &env.loc(os, loc)?, &manifest_file_name());
                if !reg.manifests.contains(&path) {
                    reg.manifests.push(path);
                }
            }
            Place::Key(vendor) => {
                let manifest = windows_manifest(browser.family(), scope, env)?;
                if !reg.manifests.contains(&manifest) {
                    reg.manifests.push(manifest.clone());
                }
                let hive = match scope {
                    Scope::User => Hive::CurrentUser,
                    Scope::System => Hive::LocalMachine,
                };
                for &view in View::for_hive(hive) {
                    reg.keys.push(RegistryEntry {
                        hive,
                        view,
                        key: format!("Software\\{vendor}\\NativeMessagingHosts\\{HOST_NAME}"),
                        value: manifest.clone(),
                    });
                }
            }
        }
    }
    Ok(reg)
}

/// Folders whose existence shows that this user has run the browser.
pub fn evidence(browser: Browser, os: Os, env: &Env) -> Result<Vec<String>, ResolveError> {
    table::row(browser, os)
        .evidence
        .iter()
        .map(|l| env.loc(os, *l))
        .collect()
}

/// Why passbridge thinks a browser is on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// This user has run it: its profile folder exists.
    Profile(String),
    /// It is installed (a program, application bundle or desktop entry), maybe never started.
    Installed(String),
}

/// Where each sign of an installed `browser` would be: `PATH` lookups in `path_dirs`, fixed
/// places, and desktop entries in every [`table::DESKTOP_DIRS`].
pub fn install_signs(
    browser: Browser,
    os: Os,
    env: &Env,
    path_dirs: &[String],
) -> Result<Vec<String>, ResolveError> {
    let mut out = Vec::new();
    for sign in table::row(browser, os).installed {
        match *sign {
            table::Sign::Command(name) => {
                let file = if os == Os::Windows {
                    format!("{name}.exe")
                } else {
                    name.to_owned()
                };
                out.extend(
                    path_dirs
                        .iter()
                        .filter(|d| is_absolute(os, d))
                        .map(|d| join(os, d, &file)),
                );
            }
            table::Sign::Path(loc) => out.push(env.loc(os, loc)?),
            table::Sign::Desktop(name) => {
                for dir in table::DESKTOP_DIRS {
                    out.push(join(os, &env.loc(os, *dir)?, &format!("{name}.desktop")));
                }
            }
        }
    }
    Ok(out)
}

/// Whether `browser` is on this machine, and the first sign of it: a profile folder first
/// (this user has run it), then an installed program, bundle or desktop entry. `exists` is the
/// only look at the file system, so tests inject one.
pub fn find_browser(
    browser: Browser,
    os: Os,
    env: &Env,
    path_dirs: &[String],
    exists: &dyn Fn(&str) -> bool,
) -> Option<Found> {
    if let Some(p) = evidence(browser, os, env)
        .unwrap_or_default()
        .into_iter()
        .find(|p| exists(p))
    {
        return Some(Found::Profile(p));
    }
    install_signs(browser, os, env, path_dirs)
        .unwrap_or_default()
        .into_iter()
        .find(|p| exists(p))
        .map(Found::Installed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Browser as B;
    use Scope::{System, User};

    fn linux() -> Env {
        Env {
            home: "/home/u".into(),
            ..Env::default()
        }
    }
    fn mac() -> Env {
        Env {
            home: "/Users/u".into(),
            ..Env::default()
        }
    }
    fn win() -> Env {
        Env {
            home: r"C:\Users\u".into(),
            appdata: Some(r"C:\Users\u\AppData\Roaming".into()),
            local_appdata: Some(r"C:\Users\u\AppData\Local".into()),
            program_data: Some(r"C:\ProgramData".into()),
            ..Env::default()
        }
    }

    /// Every registration as text: manifest paths, then `key = value` lines.
    fn described(b: Browser, os: Os, scope: Scope, env: &Env) -> Vec<String> {
        let r = resolve(b, os, scope, env).unwrap();
        let mut out = r.manifests.clone();
        out.extend(
            r.keys
                .iter()
                .map(|k| format!("{} = {}", k.display_key(), k.value)),
        );
        out
    }

    const M: &str = "org.passbridge.host.json";

    /// Written out by hand from spec §1 and §3, independently of the table.
    fn expected(b: Browser, os: Os, scope: Scope) -> Vec<String> {
        let f = |dirs: &[&str]| dirs.iter().map(|d| format!("{d}/{M}")).collect::<Vec<_>>();
        match (os, scope) {
            (Os::Linux, User) => f(&[match b {
                B::Firefox => "/home/u/.mozilla/native-messaging-hosts",
                B::Librewolf => "/home/u/.librewolf/native-messaging-hosts",
                B::Waterfox => "/home/u/.waterfox/native-messaging-hosts",
                B::Chrome => "/home/u/.config/google-chrome/NativeMessagingHosts",
                B::Chromium => "/home/u/.config/chromium/NativeMessagingHosts",
                B::Brave => "/home/u/.config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
                B::Edge => "/home/u/.config/microsoft-edge/NativeMessagingHosts",
                B::Vivaldi => "/home/u/.config/vivaldi/NativeMessagingHosts",
                B::ChromeForTesting => {
                    "/home/u/.config/google-chrome-for-testing/NativeMessagingHosts"
                }
            }]),
            (Os::Linux, System) => f(match b {
                B::Firefox => &[
                    "/usr/lib/mozilla/native-messaging-hosts",
                    "/usr/lib64/mozilla/native-messaging-hosts",
                ],
                B::Librewolf => &[
                    "/usr/lib/librewolf/native-messaging-hosts",
                    "/usr/lib64/librewolf/native-messaging-hosts",
                ],
                B::Waterfox => &[
                    "/usr/lib/waterfox/native-messaging-hosts",
                    "/usr/lib64/waterfox/native-messaging-hosts",
                ],
                B::Chrome => &["/etc/opt/chrome/native-messaging-hosts"],
                B::Chromium => &["/etc/chromium/native-messaging-hosts"],
                B::Brave => &[
                    "/etc/brave/native-messaging-hosts",
                    "/etc/opt/chrome/native-messaging-hosts",
                ],
                B::Edge => &["/etc/opt/edge/native-messaging-hosts"],
                B::Vivaldi => &[
                    "/etc/opt/vivaldi/native-messaging-hosts",
                    "/etc/vivaldi/native-messaging-hosts",
                    "/etc/opt/chrome/native-messaging-hosts",
                ],
                B::ChromeForTesting => &["/etc/opt/chrome_for_testing/native-messaging-hosts"],
            }),
            (Os::Macos, User) => {
                let s = "/Users/u/Library/Application Support";
                let dirs: &[&str] = match b {
                    B::Firefox => &["Mozilla"],
                    B::Librewolf => &["LibreWolf", "librewolf"],
                    B::Waterfox => &["Waterfox"],
                    B::Chrome => &["Google/Chrome"],
                    B::Chromium => &["Chromium"],
                    B::Brave => &["BraveSoftware/Brave-Browser", "Google/Chrome"],
                    B::Edge => &["Microsoft Edge"],
                    B::Vivaldi => &["Vivaldi"],
                    B::ChromeForTesting => &["Google/ChromeForTesting", "Google/Chrome"],
                };
                dirs.iter()
                    .map(|d| format!("{s}/{d}/NativeMessagingHosts/{M}"))
                    .collect()
            }
            (Os::Macos, System) => f(match b {
                B::Firefox => &["/Library/Application Support/Mozilla/NativeMessagingHosts"],
                B::Librewolf => &[
                    "/Library/Application Support/LibreWolf/NativeMessagingHosts",
                    "/Library/Application Support/librewolf/NativeMessagingHosts",
                ],
                B::Waterfox => &["/Library/Application Support/Waterfox/NativeMessagingHosts"],
                B::Chrome => &["/Library/Google/Chrome/NativeMessagingHosts"],
                B::Chromium => &["/Library/Application Support/Chromium/NativeMessagingHosts"],
                B::Brave => &[
                    "/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
                    "/Library/Google/Chrome/NativeMessagingHosts",
                ],
                B::Edge => &["/Library/Microsoft/Edge/NativeMessagingHosts"],
                B::Vivaldi => &["/Library/Application Support/Vivaldi/NativeMessagingHosts"],
                B::ChromeForTesting => &[
                    "/Library/Google/ChromeForTesting/NativeMessagingHosts",
                    "/Library/Google/Chrome/NativeMessagingHosts",
                ],
            }),
            (Os::Windows, scope) => {
                let fam = if b.family() == Family::Firefox {
                    "firefox"
                } else {
                    "chrome"
                };
                let manifest = match scope {
                    User => format!(
                        r"C:\Users\u\AppData\Local\passbridge\NativeMessagingHosts\{fam}\{M}"
                    ),
                    System => format!(r"C:\ProgramData\passbridge\NativeMessagingHosts\{fam}\{M}"),
                };
                let vendors: &[&str] = match b {
                    B::Firefox => &["Mozilla"],
                    B::Librewolf => &["LibreWolf", "Mozilla"],
                    B::Waterfox => &["Waterfox", "Mozilla"],
                    B::Chrome => &[r"Google\Chrome"],
                    B::Chromium => &["Chromium", r"Google\Chrome"],
                    B::Brave => &[r"BraveSoftware\Brave-Browser", r"Google\Chrome"],
                    B::Edge => &[r"Microsoft\Edge"],
                    B::Vivaldi => &["Vivaldi", r"Google\Chrome"],
                    B::ChromeForTesting => &[r"Google\Chrome for Testing", r"Google\Chrome"],
                };
                let mut out = vec![manifest.clone()];
                for v in vendors {
                    let k = format!(r"Software\{v}\NativeMessagingHosts\org.passbridge.host");
                    match scope {
                        User => out.push(format!(r"HKCU\{k} = {manifest}")),
                        System => {
                            out.push(format!(r"HKLM\{k} (64-bit view) = {manifest}"));
                            let k32 = format!(
                                r"Software\WOW6432Node\{v}\NativeMessagingHosts\org.passbridge.host"
                            );
                            out.push(format!(r"HKLM\{k32} (32-bit view) = {manifest}"));
                        }
                    }
                }
                out
            }
        }
    }

    #[test]
    fn every_browser_os_and_scope_resolves_as_documented() {
        for b in Browser::ALL {
            for (os, env) in [
                (Os::Linux, linux()),
                (Os::Macos, mac()),
                (Os::Windows, win()),
            ] {
                for scope in [User, System] {
                    assert_eq!(
                        described(b, os, scope, &env),
                        expected(b, os, scope),
                        "{b} {os:?} {scope}"
                    );
                }
            }
        }
    }

    #[test]
    fn chrome_family_user_dirs_follow_xdg_config_home_but_firefox_does_not() {
        let env = Env {
            xdg_config_home: Some("/xdg".into()),
            ..linux()
        };
        let one = |b| resolve(b, Os::Linux, User, &env).unwrap().manifests;
        assert_eq!(
            one(B::Chromium),
            [format!("/xdg/chromium/NativeMessagingHosts/{M}")]
        );
        assert_eq!(
            one(B::Brave),
            [format!(
                "/xdg/BraveSoftware/Brave-Browser/NativeMessagingHosts/{M}"
            )]
        );
        assert_eq!(
            one(B::Firefox),
            [format!("/home/u/.mozilla/native-messaging-hosts/{M}")]
        );
        // The XDG spec says to ignore a relative value.
        let rel = Env {
            xdg_config_home: Some("xdg".into()),
            ..linux()
        };
        assert_eq!(
            resolve(B::Chrome, Os::Linux, User, &rel).unwrap().manifests,
            [format!(
                "/home/u/.config/google-chrome/NativeMessagingHosts/{M}"
            )]
        );
    }

    #[test]
    fn system_root_prefixes_unix_system_paths_only() {
        let env = Env {
            system_root: "/tmp/root".into(),
            ..linux()
        };
        assert_eq!(
            resolve(B::Chromium, Os::Linux, System, &env)
                .unwrap()
                .manifests,
            [format!("/tmp/root/etc/chromium/native-messaging-hosts/{M}")]
        );
        assert_eq!(
            resolve(B::Chromium, Os::Linux, User, &env)
                .unwrap()
                .manifests,
            [format!("/home/u/.config/chromium/NativeMessagingHosts/{M}")]
        );
        assert_eq!(
            system_dir(Os::Linux, &env).unwrap(),
            "/tmp/root/etc/passbridge"
        );
        assert_eq!(system_dir(Os::Linux, &linux()).unwrap(), "/etc/passbridge");
        assert_eq!(
            system_dir(Os::Macos, &mac()).unwrap(),
            "/Library/Application Support/passbridge"
        );
        assert_eq!(
            system_dir(Os::Windows, &win()).unwrap(),
            r"C:\ProgramData\passbridge"
        );
    }

    #[test]
    fn windows_needs_its_variables() {
        let env = Env {
            local_appdata: None,
            ..win()
        };
        assert_eq!(
            resolve(B::Chrome, Os::Windows, User, &env).unwrap_err(),
            ResolveError::MissingVar("LOCALAPPDATA")
        );
        let env = Env {
            program_data: Some("ProgramData".into()),
            ..win()
        };
        assert!(matches!(
            resolve(B::Firefox, Os::Windows, System, &env).unwrap_err(),
            ResolveError::NotAbsolute {
                var: "ProgramData",
                ..
            }
        ));
    }

    #[test]
    fn evidence_folders() {
        assert_eq!(
            evidence(B::Firefox, Os::Linux, &linux()).unwrap(),
            ["/home/u/.mozilla", "/home/u/.config/mozilla"]
        );
        assert_eq!(
            evidence(B::Chrome, Os::Windows, &win()).unwrap(),
            [r"C:\Users\u\AppData\Local\Google\Chrome\User Data"]
        );
        assert_eq!(
            evidence(B::Edge, Os::Macos, &mac()).unwrap(),
            ["/Users/u/Library/Application Support/Microsoft Edge"]
        );
    }

    /// Issue 12: Chromium and Firefox ESR installed but never started (no profile folders).
    #[test]
    fn installed_browsers_are_found_without_profiles() {
        let env = linux();
        let files = ["/usr/bin/chromium", "/usr/bin/firefox-esr"];
        let path = vec!["/usr/local/bin".to_owned(), "/usr/bin".to_owned()];
        let exists = |p: &str| files.contains(&p);
        let found: Vec<(Browser, Found)> = Browser::ALL
            .into_iter()
            .filter_map(|b| find_browser(b, Os::Linux, &env, &path, &exists).map(|f| (b, f)))
            .collect();
        assert_eq!(
            found,
            [
                (B::Firefox, Found::Installed("/usr/bin/firefox-esr".into())),
                (B::Chromium, Found::Installed("/usr/bin/chromium".into())),
            ]
        );
        // Not on PATH: the usual absolute places, relocated with the system root.
        let rooted = Env {
            system_root: "/img".into(),
            ..linux()
        };
        let files = ["/img/usr/lib/chromium/chromium"];
        let exists = |p: &str| files.contains(&p);
        assert_eq!(
            find_browser(B::Chromium, Os::Linux, &rooted, &[], &exists),
            Some(Found::Installed("/img/usr/lib/chromium/chromium".into()))
        );
        // A profile folder wins (it says more: this user runs it).
        let files = ["/usr/bin/firefox", "/home/u/.mozilla"];
        let exists = |p: &str| files.contains(&p);
        assert_eq!(
            find_browser(B::Firefox, Os::Linux, &env, &path, &exists),
            Some(Found::Profile("/home/u/.mozilla".into()))
        );
        // Relative PATH entries are ignored (they depend on the current directory).
        let exists = |p: &str| p == "bin/chromium";
        assert_eq!(
            find_browser(B::Chromium, Os::Linux, &env, &["bin".into()], &exists),
            None
        );
    }

    #[test]
    fn desktop_entries_and_bundles_show_installed_browsers() {
        let env = linux();
        for (entry, b) in [
            ("/usr/share/applications/google-chrome.desktop", B::Chrome),
            (
                "/home/u/.local/share/applications/brave-browser.desktop",
                B::Brave,
            ),
            (
                "/var/lib/flatpak/exports/share/applications/org.mozilla.firefox.desktop",
                B::Firefox,
            ),
            (
                "/var/lib/snapd/desktop/applications/chromium_chromium.desktop",
                B::Chromium,
            ),
        ] {
            let exists = |p: &str| p == entry;
            let found: Vec<Browser> = Browser::ALL
                .into_iter()
                .filter(|&x| find_browser(x, Os::Linux, &env, &[], &exists).is_some())
                .collect();
            assert_eq!(found, [b], "{entry}");
        }
        let mac = mac();
        for (bundle, b) in [
            ("/Applications/Firefox.app", B::Firefox),
            ("/Users/u/Applications/Google Chrome.app", B::Chrome),
            ("/Applications/Brave Browser.app", B::Brave),
        ] {
            let exists = |p: &str| p == bundle;
            let found: Vec<Browser> = Browser::ALL
                .into_iter()
                .filter(|&x| find_browser(x, Os::Macos, &mac, &[], &exists).is_some())
                .collect();
            assert_eq!(found, [b], "{bundle}");
        }
        let win = win();
        let chrome = r"C:\Users\u\AppData\Local\Google\Chrome\Application\chrome.exe";
        let exists = |p: &str| p == chrome;
        assert_eq!(
            find_browser(B::Chrome, Os::Windows, &win, &[], &exists),
            Some(Found::Installed(chrome.into()))
        );
    }

    #[test]
    fn joining_and_absoluteness() {
        assert_eq!(join(Os::Linux, "/", "etc/x"), "/etc/x");
        assert_eq!(join(Os::Linux, "", "/etc/x"), "/etc/x");
        assert_eq!(join(Os::Windows, r"C:\", "a/b"), r"C:\a\b");
        assert_eq!(join(Os::Macos, "/Users/u/", "a b/c"), "/Users/u/a b/c");
        assert!(is_absolute(Os::Windows, r"C:\x") && is_absolute(Os::Windows, r"\\srv\share"));
        assert!(!is_absolute(Os::Windows, "x") && !is_absolute(Os::Windows, "/x"));
        assert!(is_absolute(Os::Linux, "/x") && !is_absolute(Os::Linux, "x"));
    }
}
