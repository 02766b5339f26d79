//! Flatpak and Snap browsers (Linux): a manifest in the usual place does not reach them, and
//! the host binary cannot run inside their sandbox (spec §3 "Sandboxed browsers", §5.1).
//! Detection only: passbridge says what works instead of writing into the sandbox.

use super::resolve::join;
use super::table::Os;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Flatpak,
    Snap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandboxed {
    pub kind: Kind,
    pub name: &'static str,
    pub path: String,
    pub advice: &'static str,
}

const FLATPAK_ADVICE: &str = "a Flatpak browser cannot start programs outside its sandbox, so it \
    does not see passbridge. Use the browser from your distribution's packages or the vendor's \
    .deb/.rpm instead. (Flatpak Firefox with xdg-native-messaging-proxy reads ~/.mozilla \
    registrations, but that proxy is new and lets the sandbox start host programs by design.)";

const SNAP_FIREFOX_ADVICE: &str = "Snap Firefox starts hosts only through the WebExtensions \
    portal. Users report it works with the manifest copied to \
    ~/snap/firefox/common/.mozilla/native-messaging-hosts/ and \
    `flatpak permission-set webextensions org.passbridge.host snap.firefox yes` (passff-host#56); \
    the reliable fix is Firefox from Mozilla's .deb repository.";

const SNAP_ADVICE: &str = "a Snap browser cannot start programs outside its confinement, so it \
    does not see passbridge. Use a non-Snap build of the browser.";

/// (Flatpak app id, name).
const FLATPAKS: &[(&str, &str)] = &[
    ("org.mozilla.firefox", "Firefox"),
    ("io.gitlab.librewolf-community", "LibreWolf"),
    ("net.waterfox.waterfox", "Waterfox"),
    ("com.google.Chrome", "Chrome"),
    ("org.chromium.Chromium", "Chromium"),
    (
        "io.github.ungoogled_software.ungoogled_chromium",
        "ungoogled Chromium",
    ),
    ("com.brave.Browser", "Brave"),
    ("com.microsoft.Edge", "Edge"),
    ("com.vivaldi.Vivaldi", "Vivaldi"),
];

/// (snap name, name).
const SNAPS: &[(&str, &str)] = &[
    ("firefox", "Firefox"),
    ("chromium", "Chromium"),
    ("brave", "Brave"),
];

/// Sandboxed browsers this user has run: `~/.var/app/<id>` and `~/snap/<name>`.
pub fn detect(home: &str, exists: &dyn Fn(&str) -> bool) -> Vec<Sandboxed> {
    let mut out = Vec::new();
    for (id, name) in FLATPAKS {
        let path = join(Os::Linux, home, &format!(".var/app/{id}"));
        if exists(&path) {
            out.push(Sandboxed {
                kind: Kind::Flatpak,
                name,
                path,
                advice: FLATPAK_ADVICE,
            });
        }
    }
    for (snap, name) in SNAPS {
        let path = join(Os::Linux, home, &format!("snap/{snap}"));
        if exists(&path) {
            out.push(Sandboxed {
                kind: Kind::Snap,
                name,
                path,
                advice: if *snap == "firefox" {
                    SNAP_FIREFOX_ADVICE
                } else {
                    SNAP_ADVICE
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_flatpak_and_snap_browsers_by_their_folders() {
        let present = [
            "/home/u/.var/app/org.mozilla.firefox",
            "/home/u/snap/firefox",
            "/home/u/snap/chromium",
        ];
        let found = detect("/home/u", &|p| present.contains(&p));
        let got: Vec<(Kind, &str)> = found.iter().map(|s| (s.kind, s.name)).collect();
        assert_eq!(
            got,
            vec![
                (Kind::Flatpak, "Firefox"),
                (Kind::Snap, "Firefox"),
                (Kind::Snap, "Chromium")
            ]
        );
        assert!(found[1].advice.contains("permission-set webextensions"));
        assert!(found[2].advice.contains("non-Snap"));
        assert!(detect("/home/u", &|_| false).is_empty());
    }
}
