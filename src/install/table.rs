//! The one table of where each browser looks for native messaging hosts, per OS and scope.
//!
//! Sources are in spec §1 and §3. Where projects disagree (the ⚠ rows of §3), a row lists every
//! candidate and the installer writes all of them; the install record makes uninstall exact.
//! Nothing here touches the system: [`super::resolve`] turns rows into concrete paths and keys.

use serde::{Deserialize, Serialize};

/// A browser the installer knows. The CLI names are the kebab-case variant names.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Browser {
    Firefox,
    Librewolf,
    Waterfox,
    Chrome,
    Chromium,
    Brave,
    Edge,
    Vivaldi,
    ChromeForTesting,
}

impl Browser {
    pub const ALL: [Browser; 9] = [
        Browser::Firefox,
        Browser::Librewolf,
        Browser::Waterfox,
        Browser::Chrome,
        Browser::Chromium,
        Browser::Brave,
        Browser::Edge,
        Browser::Vivaldi,
        Browser::ChromeForTesting,
    ];

    /// The name used on the command line and in the install record.
    pub fn name(self) -> &'static str {
        match self {
            Browser::Firefox => "firefox",
            Browser::Librewolf => "librewolf",
            Browser::Waterfox => "waterfox",
            Browser::Chrome => "chrome",
            Browser::Chromium => "chromium",
            Browser::Brave => "brave",
            Browser::Edge => "edge",
            Browser::Vivaldi => "vivaldi",
            Browser::ChromeForTesting => "chrome-for-testing",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Browser::Firefox | Browser::Librewolf | Browser::Waterfox => Family::Firefox,
            _ => Family::Chrome,
        }
    }
}

impl std::fmt::Display for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Manifests of the two families differ only in the allowlist key (spec §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Chrome,
    Firefox,
}

impl Family {
    /// The manifest key that lists who may launch the host.
    pub fn allowlist_key(self) -> &'static str {
        match self {
            Family::Chrome => "allowed_origins",
            Family::Firefox => "allowed_extensions",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Chrome => "chrome",
            Family::Firefox => "firefox",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    Linux,
    Macos,
    Windows,
}

impl Os {
    /// The layout this build uses. Other Unix systems follow the Linux layout.
    pub fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Macos
        } else {
            Os::Linux
        }
    }

    pub fn separator(self) -> char {
        match self {
            Os::Windows => '\\',
            _ => '/',
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Only the user running the command.
    User,
    /// Every user of the machine (needs root or an administrator).
    System,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::System => "system",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a relative location hangs off. Resolved against an injected environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// `$HOME`.
    Home,
    /// `$XDG_CONFIG_HOME`, or `$HOME/.config` when unset (Chromium's rule for its user-data-dir).
    XdgConfig,
    /// `~/Library/Application Support` (macOS).
    AppSupport,
    /// `%APPDATA%` (Windows, roaming).
    AppData,
    /// `%LOCALAPPDATA%` (Windows).
    LocalAppData,
    /// `%ProgramData%` (Windows).
    ProgramData,
    /// The file system root (`rel` starts with `/`); tests may relocate it.
    Root,
}

/// A directory: `base` joined with `rel` (`/`-separated in the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub base: Base,
    pub rel: &'static str,
}

/// One place a browser reads host registrations from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A directory holding `<host name>.json`.
    Dir(Loc),
    /// Windows: `HKCU|HKLM\Software\<vendor>\NativeMessagingHosts\<host name>`, whose default
    /// value is the manifest path.
    Key(&'static str),
}

/// A sign that a browser is installed, even one never started (no profile folder yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// A program name looked up in the directories of `PATH` (`.exe` added on Windows).
    Command(&'static str),
    /// A program, application bundle or folder at a fixed place.
    Path(Loc),
    /// A desktop entry `<name>.desktop` in any of [`DESKTOP_DIRS`] (Linux; Flatpak and Snap
    /// export theirs there too).
    Desktop(&'static str),
}

/// Where Linux desktops find applications' desktop entries: the system's and the user's, and
/// the folders Flatpak and Snap export theirs to.
pub const DESKTOP_DIRS: &[Loc] = &[
    root("/usr/share/applications"),
    root("/usr/local/share/applications"),
    home(".local/share/applications"),
    root("/var/lib/flatpak/exports/share/applications"),
    home(".local/share/flatpak/exports/share/applications"),
    root("/var/lib/snapd/desktop/applications"),
];

/// Browser × OS, with the places for each scope, the folders whose existence shows that this
/// user has run the browser, and the signs that it is installed (both pick default browsers).
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub browser: Browser,
    pub os: Os,
    pub user: &'static [Place],
    pub system: &'static [Place],
    pub evidence: &'static [Loc],
    pub installed: &'static [Sign],
}

impl Row {
    pub fn places(&self, scope: Scope) -> &'static [Place] {
        match scope {
            Scope::User => self.user,
            Scope::System => self.system,
        }
    }
}

const fn home(rel: &'static str) -> Loc {
    Loc {
        base: Base::Home,
        rel,
    }
}
const fn xdg(rel: &'static str) -> Loc {
    Loc {
        base: Base::XdgConfig,
        rel,
    }
}
const fn support(rel: &'static str) -> Loc {
    Loc {
        base: Base::AppSupport,
        rel,
    }
}
const fn appdata(rel: &'static str) -> Loc {
    Loc {
        base: Base::AppData,
        rel,
    }
}
const fn local(rel: &'static str) -> Loc {
    Loc {
        base: Base::LocalAppData,
        rel,
    }
}
const fn root(rel: &'static str) -> Loc {
    Loc {
        base: Base::Root,
        rel,
    }
}
const fn dir(loc: Loc) -> Place {
    Place::Dir(loc)
}
const fn at(loc: Loc) -> Sign {
    Sign::Path(loc)
}

use Browser as B;
use Os::{Linux, Macos, Windows};
use Place::Key;
use Sign::{Command as Cmd, Desktop};

/// THE table. Comments name the spec row; "⚠" marks locations projects disagree on.
pub const TABLE: &[Row] = &[
    // ---- Linux (spec §1.1, §1.2, §3 Linux) ----
    // Chrome for Testing is unpacked wherever a tool puts it: nothing installed to look for.
    Row {
        browser: B::Firefox,
        os: Linux,
        // Still ~/.mozilla even with Firefox 147's XDG profiles (spec §1.2).
        user: &[dir(home(".mozilla/native-messaging-hosts"))],
        system: &[
            dir(root("/usr/lib/mozilla/native-messaging-hosts")),
            dir(root("/usr/lib64/mozilla/native-messaging-hosts")),
        ],
        evidence: &[home(".mozilla"), xdg("mozilla")],
        installed: &[
            Cmd("firefox"),
            Cmd("firefox-esr"),
            at(root("/usr/lib/firefox/firefox")),
            at(root("/usr/lib/firefox-esr/firefox-esr")),
            at(root("/usr/lib64/firefox/firefox")),
            at(root("/opt/firefox/firefox")),
            at(root("/snap/bin/firefox")),
            Desktop("firefox"),
            Desktop("firefox-esr"),
            Desktop("org.mozilla.firefox"),
            Desktop("firefox_firefox"),
        ],
    },
    Row {
        browser: B::Librewolf,
        os: Linux,
        user: &[dir(home(".librewolf/native-messaging-hosts"))],
        system: &[
            dir(root("/usr/lib/librewolf/native-messaging-hosts")),
            dir(root("/usr/lib64/librewolf/native-messaging-hosts")),
        ],
        evidence: &[home(".librewolf")],
        installed: &[
            Cmd("librewolf"),
            at(root("/usr/lib/librewolf/librewolf")),
            at(root("/opt/librewolf/librewolf")),
            Desktop("librewolf"),
            Desktop("io.gitlab.librewolf-community"),
        ],
    },
    Row {
        browser: B::Waterfox,
        os: Linux,
        user: &[dir(home(".waterfox/native-messaging-hosts"))],
        system: &[
            dir(root("/usr/lib/waterfox/native-messaging-hosts")),
            dir(root("/usr/lib64/waterfox/native-messaging-hosts")),
        ],
        evidence: &[home(".waterfox")],
        installed: &[
            Cmd("waterfox"),
            at(root("/usr/lib/waterfox/waterfox")),
            at(root("/opt/waterfox/waterfox")),
            Desktop("waterfox"),
            Desktop("net.waterfox.waterfox"),
        ],
    },
    Row {
        browser: B::Chrome,
        os: Linux,
        user: &[dir(xdg("google-chrome/NativeMessagingHosts"))],
        system: &[dir(root("/etc/opt/chrome/native-messaging-hosts"))],
        evidence: &[xdg("google-chrome")],
        installed: &[
            Cmd("google-chrome"),
            Cmd("google-chrome-stable"),
            at(root("/opt/google/chrome/chrome")),
            Desktop("google-chrome"),
            Desktop("com.google.Chrome"),
        ],
    },
    Row {
        browser: B::Chromium,
        os: Linux,
        user: &[dir(xdg("chromium/NativeMessagingHosts"))],
        system: &[dir(root("/etc/chromium/native-messaging-hosts"))],
        evidence: &[xdg("chromium")],
        installed: &[
            Cmd("chromium"),
            Cmd("chromium-browser"),
            at(root("/usr/lib/chromium/chromium")),
            at(root("/usr/lib/chromium-browser/chromium-browser")),
            at(root("/snap/bin/chromium")),
            Desktop("chromium"),
            Desktop("chromium-browser"),
            Desktop("org.chromium.Chromium"),
            Desktop("chromium_chromium"),
        ],
    },
    Row {
        browser: B::Brave,
        os: Linux,
        user: &[dir(xdg("BraveSoftware/Brave-Browser/NativeMessagingHosts"))],
        // ⚠ /etc/brave (crate) vs Chrome's dir (browserpass, gopass).
        system: &[
            dir(root("/etc/brave/native-messaging-hosts")),
            dir(root("/etc/opt/chrome/native-messaging-hosts")),
        ],
        evidence: &[xdg("BraveSoftware/Brave-Browser")],
        installed: &[
            Cmd("brave-browser"),
            Cmd("brave"),
            at(root("/opt/brave.com/brave/brave")),
            Desktop("brave-browser"),
            Desktop("com.brave.Browser"),
            Desktop("brave_brave"),
        ],
    },
    Row {
        browser: B::Edge,
        os: Linux,
        user: &[dir(xdg("microsoft-edge/NativeMessagingHosts"))],
        system: &[dir(root("/etc/opt/edge/native-messaging-hosts"))],
        evidence: &[xdg("microsoft-edge")],
        installed: &[
            Cmd("microsoft-edge"),
            Cmd("microsoft-edge-stable"),
            at(root("/opt/microsoft/msedge/msedge")),
            Desktop("microsoft-edge"),
            Desktop("com.microsoft.Edge"),
        ],
    },
    Row {
        browser: B::Vivaldi,
        os: Linux,
        user: &[dir(xdg("vivaldi/NativeMessagingHosts"))],
        // ⚠ /etc/opt/vivaldi (browserpass, gopass) vs /etc/vivaldi (passff); plus Chrome's dir.
        system: &[
            dir(root("/etc/opt/vivaldi/native-messaging-hosts")),
            dir(root("/etc/vivaldi/native-messaging-hosts")),
            dir(root("/etc/opt/chrome/native-messaging-hosts")),
        ],
        evidence: &[xdg("vivaldi")],
        installed: &[
            Cmd("vivaldi"),
            Cmd("vivaldi-stable"),
            at(root("/opt/vivaldi/vivaldi")),
            Desktop("vivaldi-stable"),
            Desktop("com.vivaldi.Vivaldi"),
        ],
    },
    Row {
        browser: B::ChromeForTesting,
        os: Linux,
        user: &[dir(xdg("google-chrome-for-testing/NativeMessagingHosts"))],
        system: &[dir(root(
            "/etc/opt/chrome_for_testing/native-messaging-hosts",
        ))],
        evidence: &[xdg("google-chrome-for-testing")],
        installed: &[],
    },
    // ---- macOS (spec §3 macOS) ----
    Row {
        browser: B::Firefox,
        os: Macos,
        user: &[dir(support("Mozilla/NativeMessagingHosts"))],
        system: &[dir(root(
            "/Library/Application Support/Mozilla/NativeMessagingHosts",
        ))],
        evidence: &[support("Firefox")],
        installed: &[
            at(root("/Applications/Firefox.app")),
            at(home("Applications/Firefox.app")),
        ],
    },
    Row {
        browser: B::Librewolf,
        os: Macos,
        // ⚠ LibreWolf (passff, crate) vs librewolf (browserpass); one folder on case-insensitive APFS.
        user: &[
            dir(support("LibreWolf/NativeMessagingHosts")),
            dir(support("librewolf/NativeMessagingHosts")),
        ],
        system: &[
            dir(root(
                "/Library/Application Support/LibreWolf/NativeMessagingHosts",
            )),
            dir(root(
                "/Library/Application Support/librewolf/NativeMessagingHosts",
            )),
        ],
        evidence: &[support("LibreWolf"), support("librewolf")],
        installed: &[
            at(root("/Applications/LibreWolf.app")),
            at(home("Applications/LibreWolf.app")),
        ],
    },
    Row {
        browser: B::Waterfox,
        os: Macos,
        user: &[dir(support("Waterfox/NativeMessagingHosts"))],
        system: &[dir(root(
            "/Library/Application Support/Waterfox/NativeMessagingHosts",
        ))],
        evidence: &[support("Waterfox")],
        installed: &[
            at(root("/Applications/Waterfox.app")),
            at(home("Applications/Waterfox.app")),
        ],
    },
    Row {
        browser: B::Chrome,
        os: Macos,
        user: &[dir(support("Google/Chrome/NativeMessagingHosts"))],
        system: &[dir(root("/Library/Google/Chrome/NativeMessagingHosts"))],
        evidence: &[support("Google/Chrome")],
        installed: &[
            at(root("/Applications/Google Chrome.app")),
            at(home("Applications/Google Chrome.app")),
        ],
    },
    Row {
        browser: B::Chromium,
        os: Macos,
        user: &[dir(support("Chromium/NativeMessagingHosts"))],
        system: &[dir(root(
            "/Library/Application Support/Chromium/NativeMessagingHosts",
        ))],
        evidence: &[support("Chromium")],
        installed: &[
            at(root("/Applications/Chromium.app")),
            at(home("Applications/Chromium.app")),
        ],
    },
    Row {
        browser: B::Brave,
        os: Macos,
        // ⚠ BraveSoftware/Brave-Browser (KeePassXC, crate) vs Chrome's dir (browserpass-native#43).
        user: &[
            dir(support("BraveSoftware/Brave-Browser/NativeMessagingHosts")),
            dir(support("Google/Chrome/NativeMessagingHosts")),
        ],
        system: &[
            dir(root(
                "/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
            )),
            dir(root("/Library/Google/Chrome/NativeMessagingHosts")),
        ],
        evidence: &[support("BraveSoftware/Brave-Browser")],
        installed: &[
            at(root("/Applications/Brave Browser.app")),
            at(home("Applications/Brave Browser.app")),
        ],
    },
    Row {
        browser: B::Edge,
        os: Macos,
        user: &[dir(support("Microsoft Edge/NativeMessagingHosts"))],
        system: &[dir(root("/Library/Microsoft/Edge/NativeMessagingHosts"))],
        evidence: &[support("Microsoft Edge")],
        installed: &[
            at(root("/Applications/Microsoft Edge.app")),
            at(home("Applications/Microsoft Edge.app")),
        ],
    },
    Row {
        browser: B::Vivaldi,
        os: Macos,
        user: &[dir(support("Vivaldi/NativeMessagingHosts"))],
        system: &[dir(root(
            "/Library/Application Support/Vivaldi/NativeMessagingHosts",
        ))],
        evidence: &[support("Vivaldi")],
        installed: &[
            at(root("/Applications/Vivaldi.app")),
            at(home("Applications/Vivaldi.app")),
        ],
    },
    Row {
        browser: B::ChromeForTesting,
        os: Macos,
        // ⚠ Its own folder since Chrome for Testing 146, Chrome's folder before.
        user: &[
            dir(support("Google/ChromeForTesting/NativeMessagingHosts")),
            dir(support("Google/Chrome/NativeMessagingHosts")),
        ],
        system: &[
            dir(root(
                "/Library/Google/ChromeForTesting/NativeMessagingHosts",
            )),
            dir(root("/Library/Google/Chrome/NativeMessagingHosts")),
        ],
        evidence: &[support("Google/ChromeForTesting")],
        installed: &[
            at(root("/Applications/Google Chrome for Testing.app")),
            at(home("Applications/Google Chrome for Testing.app")),
        ],
    },
    // ---- Windows (spec §1, §3 Windows): HKCU for user scope, HKLM for system scope ----
    // Installed signs: per-user installs under %LOCALAPPDATA% only; a system-wide install
    // (Program Files) shows once the browser has made its profile folder.
    Row {
        browser: B::Firefox,
        os: Windows,
        user: &[Key("Mozilla")],
        system: &[Key("Mozilla")],
        evidence: &[appdata("Mozilla/Firefox")],
        installed: &[at(local("Mozilla Firefox/firefox.exe"))],
    },
    Row {
        browser: B::Librewolf,
        os: Windows,
        // ⚠ LibreWolf (passff) vs Mozilla (crate).
        user: &[Key("LibreWolf"), Key("Mozilla")],
        system: &[Key("LibreWolf"), Key("Mozilla")],
        evidence: &[appdata("librewolf")],
        installed: &[at(local("LibreWolf/librewolf.exe"))],
    },
    Row {
        browser: B::Waterfox,
        os: Windows,
        // No project documents it: Waterfox's own key and the Mozilla key it inherits.
        user: &[Key("Waterfox"), Key("Mozilla")],
        system: &[Key("Waterfox"), Key("Mozilla")],
        evidence: &[appdata("Waterfox")],
        installed: &[at(local("Waterfox/waterfox.exe"))],
    },
    Row {
        browser: B::Chrome,
        os: Windows,
        user: &[Key("Google\\Chrome")],
        system: &[Key("Google\\Chrome")],
        evidence: &[local("Google/Chrome/User Data")],
        installed: &[at(local("Google/Chrome/Application/chrome.exe"))],
    },
    Row {
        browser: B::Chromium,
        os: Windows,
        // ⚠ Chromium (KeePassXC, crate) vs Google\Chrome (gopass, passff).
        user: &[Key("Chromium"), Key("Google\\Chrome")],
        system: &[Key("Chromium"), Key("Google\\Chrome")],
        evidence: &[local("Chromium/User Data")],
        installed: &[at(local("Chromium/Application/chrome.exe"))],
    },
    Row {
        browser: B::Brave,
        os: Windows,
        // ⚠ BraveSoftware\Brave-Browser (crate) vs Google\Chrome (KeePassXC, gopass).
        user: &[Key("BraveSoftware\\Brave-Browser"), Key("Google\\Chrome")],
        system: &[Key("BraveSoftware\\Brave-Browser"), Key("Google\\Chrome")],
        evidence: &[local("BraveSoftware/Brave-Browser/User Data")],
        installed: &[at(local(
            "BraveSoftware/Brave-Browser/Application/brave.exe",
        ))],
    },
    Row {
        browser: B::Edge,
        os: Windows,
        user: &[Key("Microsoft\\Edge")],
        system: &[Key("Microsoft\\Edge")],
        evidence: &[local("Microsoft/Edge/User Data")],
        installed: &[at(local("Microsoft/Edge/Application/msedge.exe"))],
    },
    Row {
        browser: B::Vivaldi,
        os: Windows,
        // Vivaldi (crate) vs Google\Chrome in practice (keepassxc-browser#48).
        user: &[Key("Vivaldi"), Key("Google\\Chrome")],
        system: &[Key("Vivaldi"), Key("Google\\Chrome")],
        evidence: &[local("Vivaldi/User Data")],
        installed: &[at(local("Vivaldi/Application/vivaldi.exe"))],
    },
    Row {
        browser: B::ChromeForTesting,
        os: Windows,
        user: &[Key("Google\\Chrome for Testing"), Key("Google\\Chrome")],
        system: &[Key("Google\\Chrome for Testing"), Key("Google\\Chrome")],
        evidence: &[local("Google/Chrome for Testing/User Data")],
        installed: &[],
    },
];

/// The row for a browser on an OS. Every pair has one (checked by a test).
pub fn row(browser: Browser, os: Os) -> &'static Row {
    TABLE
        .iter()
        .find(|r| r.browser == browser && r.os == os)
        .expect("every browser has a row for every OS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_browser_has_exactly_one_row_per_os() {
        for b in Browser::ALL {
            for os in [Linux, Macos, Windows] {
                let n = TABLE
                    .iter()
                    .filter(|r| r.browser == b && r.os == os)
                    .count();
                assert_eq!(n, 1, "{b} on {os:?}");
                let r = row(b, os);
                assert!(!r.user.is_empty() && !r.system.is_empty() && !r.evidence.is_empty());
            }
        }
        assert_eq!(TABLE.len(), Browser::ALL.len() * 3);
    }

    #[test]
    fn installed_signs_fit_the_os() {
        for r in TABLE {
            if r.browser != Browser::ChromeForTesting {
                assert!(!r.installed.is_empty(), "{:?} on {:?}", r.browser, r.os);
            }
            for sign in r.installed {
                match (r.os, sign) {
                    (Linux, _) => {}
                    (Macos, Sign::Path(l)) => assert!(l.rel.ends_with(".app"), "{l:?}"),
                    (Windows, Sign::Path(l)) => assert!(l.rel.ends_with(".exe"), "{l:?}"),
                    (os, s) => panic!("{:?} on {os:?}: {s:?}", r.browser),
                }
            }
        }
    }

    #[test]
    fn places_fit_the_os() {
        for r in TABLE {
            for p in r.user.iter().chain(r.system) {
                match (r.os, p) {
                    (Windows, Place::Key(k)) => assert!(!k.contains('/'), "{k}"),
                    (Windows, Place::Dir(_)) => {
                        panic!("{:?}: Windows uses registry keys", r.browser)
                    }
                    (_, Place::Key(_)) => panic!("{:?}: keys exist only on Windows", r.browser),
                    (_, Place::Dir(l)) => {
                        let system = r.system.contains(p);
                        assert_eq!(l.base == Base::Root, system, "{:?} {l:?}", r.browser);
                        if l.base == Base::Root {
                            assert!(l.rel.starts_with('/'));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn no_place_is_shared_between_families() {
        // A shared directory would need one file with both allowlist keys.
        for a in TABLE {
            for b in TABLE {
                if a.os != b.os || a.browser.family() == b.browser.family() {
                    continue;
                }
                for p in a.user.iter().chain(a.system) {
                    assert!(
                        !b.user.contains(p) && !b.system.contains(p),
                        "{:?} and {:?} share {p:?}",
                        a.browser,
                        b.browser
                    );
                }
            }
        }
    }

    #[test]
    fn cli_names_match_value_enum() {
        use clap::ValueEnum;
        for b in Browser::ALL {
            let pv = b.to_possible_value().unwrap();
            assert_eq!(pv.get_name(), b.name());
            assert_eq!(Browser::from_str(b.name(), false).unwrap(), b);
        }
        assert_eq!(
            serde_json::to_string(&Browser::ChromeForTesting).unwrap(),
            "\"chrome-for-testing\""
        );
    }
}
