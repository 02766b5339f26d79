//! `passbridge install | uninstall | doctor` end to end: the built binary against a throwaway
//! HOME, PASSBRIDGE_HOME and system root (Linux layout).
#![cfg(all(unix, not(target_os = "macos")))]

use crate::support::machine;

use machine::*;
use serde_json::json;
use std::fs;

/// The project's own extension (extension/manifests/): `passbridge install` always registers it.
const OWN_CHROME_ORIGIN: &str = "chrome-extension://dimjidijnppmaoabgdkmickadcepdapp/";
const OWN_FIREFOX_ID: &str = "extension@passbridge.org";

fn chromium_args() -> Vec<&'static str> {
    vec![
        "install",
        "--browser",
        "chromium",
        "--chrome-extension-id",
        CHROME_ID,
    ]
}

fn firefox_args() -> Vec<&'static str> {
    vec![
        "install",
        "--browser",
        "firefox",
        "--firefox-extension-id",
        FIREFOX_ID,
    ]
}

#[test]
fn chromium_install_writes_the_manifest_allowlist_and_record() {
    let m = Machine::new();
    let out = m.must(&chromium_args());
    let path = m.chromium_manifest();
    assert_eq!(
        path,
        m.home
            .join(".config/chromium/NativeMessagingHosts/org.passbridge.host.json")
    );
    assert!(out.stdout.contains(path.to_str().unwrap()), "{out:?}");
    let manifest = read_json(&path);
    assert_eq!(
        manifest,
        json!({
            "name": "org.passbridge.host",
            "description": manifest["description"],
            "path": bin_canonical(),
            "type": "stdio",
            "allowed_origins": [OWN_CHROME_ORIGIN, CHROME_ORIGIN],
        })
    );
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes[0], b'{', "UTF-8 without BOM");
    assert_eq!(mode(&fs::metadata(&path).unwrap()), 0o644);
    assert_eq!(
        m.config()["allowed"]["chrome_origins"],
        json!([OWN_CHROME_ORIGIN, CHROME_ORIGIN])
    );
    // The own Firefox id is allowed too; no Firefox manifest names it until Firefox is registered.
    assert_eq!(
        m.config()["allowed"]["firefox_ids"],
        json!([OWN_FIREFOX_ID])
    );
    let record = read_json(&m.record_path());
    assert_eq!(record["manifests"][0]["path"], path.to_str().unwrap());
    assert_eq!(record["manifests"][0]["browsers"], json!(["chromium"]));
    assert_eq!(mode(&fs::metadata(m.record_path()).unwrap()), 0o600);
}

#[test]
fn chrome_family_honours_xdg_config_home_and_firefox_keeps_dot_mozilla() {
    let m = Machine::new().with_xdg();
    m.must(&chromium_args());
    m.must(&firefox_args());
    let xdg = m.xdg.clone().unwrap();
    assert!(
        xdg.join("chromium/NativeMessagingHosts")
            .join(MANIFEST)
            .is_file()
    );
    assert!(!m.home.join(".config").exists());
    let ff = m
        .home
        .join(".mozilla/native-messaging-hosts")
        .join(MANIFEST);
    let manifest = read_json(&ff);
    assert_eq!(
        manifest["allowed_extensions"],
        json!([OWN_FIREFOX_ID, FIREFOX_ID])
    );
    assert_eq!(manifest["path"], bin_canonical());
    assert!(manifest.get("allowed_origins").is_none());
    let config = m.config();
    assert_eq!(
        config["allowed"]["chrome_origins"],
        json!([OWN_CHROME_ORIGIN, CHROME_ORIGIN])
    );
    assert_eq!(
        config["allowed"]["firefox_ids"],
        json!([OWN_FIREFOX_ID, FIREFOX_ID])
    );
}

#[test]
fn doctor_passes_and_uninstall_restores_the_home_exactly() {
    let m = Machine::new();
    // A browser that was already used: its profile stays untouched.
    fs::create_dir_all(m.home.join(".config/chromium/Default")).unwrap();
    fs::write(m.home.join(".config/chromium/Default/Preferences"), "{}").unwrap();
    let before = m.snapshot();

    m.must(&chromium_args());
    m.must(&firefox_args());
    let doctor = m.must(&["doctor"]);
    assert_eq!(
        doctor
            .stdout
            .matches("replied to hello with a proper frame")
            .count(),
        2,
        "{doctor:?}"
    );
    assert!(!doctor.stdout.contains("FAIL"), "{doctor:?}");

    let out = m.must(&["uninstall"]);
    assert!(out.stdout.contains("removed the install record"), "{out:?}");
    assert_eq!(without(&m.snapshot(), "pb"), without(&before, "pb"));
    assert_eq!(
        m.config()["allowed"],
        json!({"chrome_origins": [], "firefox_ids": []})
    );
    assert!(!m.record_path().exists());
    // Nothing left to do, and doctor now says so.
    assert!(m.must(&["uninstall"]).stdout.contains("Nothing to remove"));
    let d = m.run(&["doctor"]);
    assert_eq!(d.code, Some(1));
    assert!(
        d.stdout.contains("not registered with any browser"),
        "{d:?}"
    );
}

#[test]
fn uninstall_one_browser_keeps_the_other() {
    let m = Machine::new();
    m.must(&chromium_args());
    m.must(&firefox_args());
    let out = m.must(&["uninstall", "--browser", "firefox"]);
    assert!(out.stdout.contains("Still registered: chromium"), "{out:?}");
    assert!(!m.firefox_manifest().exists() && !m.home.join(".mozilla").exists());
    assert!(m.chromium_manifest().is_file());
    assert_eq!(m.config()["allowed"]["firefox_ids"], json!([]));
    assert_eq!(
        m.config()["allowed"]["chrome_origins"],
        json!([OWN_CHROME_ORIGIN, CHROME_ORIGIN])
    );
    m.must(&["doctor"]);
}

#[test]
fn dry_runs_write_nothing() {
    let m = Machine::new().with_xdg();
    let before = m.snapshot();
    let out = m.must(&[
        "install",
        "--browser",
        "chromium",
        "--browser",
        "firefox",
        "--chrome-extension-id",
        CHROME_ID,
        "--firefox-extension-id",
        FIREFOX_ID,
        "--dry-run",
    ]);
    assert!(out.stdout.contains("Dry run"), "{out:?}");
    assert!(out.stdout.contains(m.chromium_manifest().to_str().unwrap()));
    assert!(out.stdout.contains(m.firefox_manifest().to_str().unwrap()));
    assert!(out.stdout.contains("create folder"), "{out:?}");
    assert_eq!(m.snapshot(), before);

    m.must(&chromium_args());
    let before = m.snapshot();
    let out = m.must(&["uninstall", "--dry-run"]);
    assert!(out.stdout.contains(m.chromium_manifest().to_str().unwrap()));
    assert_eq!(m.snapshot(), before);
}

#[test]
fn bad_ids_are_rejected_before_anything_is_written() {
    let m = Machine::new();
    let before = m.snapshot();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "install",
                "--browser",
                "chromium",
                "--chrome-extension-id",
                "abc",
            ],
            "32 letters from a to p",
        ),
        (
            &[
                "install",
                "--browser",
                "chromium",
                "--chrome-extension-id",
                "ABCDEFGHIJKLMNOPABCDEFGHIJKLMNOP",
            ],
            "32 letters from a to p",
        ),
        (
            &[
                "install",
                "--browser",
                "firefox",
                "--firefox-extension-id",
                "not an id",
            ],
            "Firefox add-on id",
        ),
        (&["install", "--browser", "netscape"], "invalid value"),
        (&["install", "--scope", "galaxy"], "invalid value"),
    ];
    for (args, want) in cases {
        let r = m.run(args);
        assert_eq!(
            r.code,
            Some(if want == &"invalid value" { 2 } else { 1 }),
            "{args:?}: {r:?}"
        );
        assert!(r.stderr.contains(want), "{args:?}: {r:?}");
        assert_eq!(m.snapshot(), before, "{args:?} wrote something");
    }
}

#[test]
fn default_browsers_are_those_this_user_has_run() {
    let m = Machine::new();
    let r = m.run(&["install"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("no browser found") && r.stderr.contains("--browser NAME"),
        "{r:?}"
    );

    fs::create_dir_all(m.home.join(".mozilla/firefox")).unwrap();
    fs::create_dir_all(m.home.join(".config/vivaldi")).unwrap();
    fs::create_dir_all(m.home.join(".config/BraveSoftware/Brave-Browser")).unwrap();
    // No ids given: both families have the own extension's id, so every browser run is registered.
    let r = m.must(&["install"]);
    assert!(r.stdout.contains("for firefox, brave, vivaldi"), "{r:?}");
    assert!(!r.stdout.contains("Skipped"), "{r:?}");
    for dir in [".config/vivaldi", ".config/BraveSoftware/Brave-Browser"] {
        let p = m.home.join(dir).join("NativeMessagingHosts").join(MANIFEST);
        assert_eq!(
            read_json(&p)["allowed_origins"],
            json!([OWN_CHROME_ORIGIN]),
            "{dir}"
        );
    }
    assert_eq!(
        read_json(&m.firefox_manifest())["allowed_extensions"],
        json!([OWN_FIREFOX_ID])
    );
    assert!(!m.home.join(".config/google-chrome").exists());

    // A later install with another Firefox id adds it and refreshes the others.
    let r = m.must(&["install", "--firefox-extension-id", FIREFOX_ID]);
    assert!(r.stdout.contains("for firefox, brave, vivaldi"), "{r:?}");
    assert_eq!(
        read_json(&m.firefox_manifest())["allowed_extensions"],
        json!([OWN_FIREFOX_ID, FIREFOX_ID])
    );
    m.must(&["doctor"]);
}

/// `--browser firefox` with only a Chrome id used to fail ("needs an extension id"): the own
/// Firefox id now makes it a complete registration, with the given Chrome id allowed too.
#[test]
fn install_without_ids_registers_the_own_extension() {
    let m = Machine::new();
    let r = m.must(&[
        "install",
        "--browser",
        "firefox",
        "--chrome-extension-id",
        CHROME_ID,
    ]);
    assert!(r.stdout.contains(OWN_FIREFOX_ID), "{r:?}");
    assert_eq!(
        read_json(&m.firefox_manifest())["allowed_extensions"],
        json!([OWN_FIREFOX_ID])
    );
    assert_eq!(
        m.config()["allowed"]["chrome_origins"],
        json!([OWN_CHROME_ORIGIN, CHROME_ORIGIN])
    );
    let r = m.must(&["install", "--browser", "chromium"]);
    assert_eq!(
        read_json(&m.chromium_manifest())["allowed_origins"],
        json!([OWN_CHROME_ORIGIN, CHROME_ORIGIN]),
        "{r:?}"
    );
    // The host accepts both browsers' calls: doctor's hello round trips go through.
    let d = m.must(&["doctor"]);
    assert_eq!(
        d.stdout
            .matches("replied to hello with a proper frame")
            .count(),
        2,
        "{d:?}"
    );
}

#[test]
fn a_new_id_reaches_every_manifest_of_its_family() {
    let m = Machine::new();
    m.must(&chromium_args());
    let second = "ponmlkjihgfedcbaponmlkjihgfedcba";
    m.must(&[
        "install",
        "--browser",
        "brave",
        "--chrome-extension-id",
        second,
    ]);
    let want = json!([
        OWN_CHROME_ORIGIN,
        CHROME_ORIGIN,
        format!("chrome-extension://{second}/")
    ]);
    assert_eq!(read_json(&m.chromium_manifest())["allowed_origins"], want);
    let brave = m
        .home
        .join(".config/BraveSoftware/Brave-Browser/NativeMessagingHosts")
        .join(MANIFEST);
    assert_eq!(read_json(&brave)["allowed_origins"], want);
    assert_eq!(m.config()["allowed"]["chrome_origins"], want);
    m.must(&["doctor"]);
}

#[test]
fn moving_xdg_config_home_moves_the_registration() {
    let mut m = Machine::new();
    m.must(&chromium_args());
    let old = m.chromium_manifest();
    m = m.with_xdg();
    let r = m.must(&["install"]);
    assert!(
        r.stdout.contains(&format!("removed {}", old.display())),
        "{r:?}"
    );
    assert!(!old.exists() && !m.home.join(".config").exists());
    assert!(m.chromium_manifest().is_file());
    m.must(&["doctor"]);
}

#[test]
fn doctor_finds_broken_manifests() {
    let m = Machine::new();
    m.must(&chromium_args());
    let path = m.chromium_manifest();
    let good = fs::read_to_string(&path).unwrap();

    let fails = |want: &str| {
        let d = m.run(&["doctor"]);
        assert_eq!(d.code, Some(1), "{d:?}");
        assert!(
            d.stdout.contains("FAIL") && d.stdout.contains(want),
            "{want}: {d:?}"
        );
        assert!(d.stderr.contains("doctor found"), "{d:?}");
    };

    fs::write(&path, "{\"name\": ").unwrap();
    fails("not valid JSON");

    fs::write(
        &path,
        good.replace(&bin_canonical(), "/nonexistent/passbridge"),
    )
    .unwrap();
    fails("/nonexistent/passbridge cannot be used");

    fs::write(&path, good.replace("\"stdio\"", "\"pipe\"")).unwrap();
    fails("not \"stdio\"");

    fs::write(&path, good.replace("org.passbridge.host", "org.other.host")).unwrap();
    fails("not \"org.passbridge.host\"");

    fs::write(&path, good.replace("allowed_origins", "allowed_extensions")).unwrap();
    fails("read \"allowed_origins\"");

    fs::write(&path, format!("\u{feff}{good}")).unwrap();
    fails("byte order mark");

    fs::write(&path, &good).unwrap();
    chmod(&path, 0o200);
    fails("not readable by you");
    chmod(&path, 0o644);

    // The manifest lets an extension in that the host refuses.
    let config_path = m.pb_home.join("config/config.json");
    let mut config = m.config();
    config["allowed"]["chrome_origins"] = json!([]);
    fs::write(&config_path, config.to_string()).unwrap();
    fails("the host refuses it");
    fails("forbidden_caller");
    m.must(&chromium_args());
    m.must(&["doctor"]);
}

#[test]
fn doctor_finds_a_host_that_is_not_executable() {
    let m = Machine::new();
    let copy = m.dir.path().join("bin/passbridge");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    fs::copy(BIN, &copy).unwrap();
    let mut args = chromium_args();
    args.extend(["--binary", copy.to_str().unwrap()]);
    m.must(&args);
    let d = m.must(&["doctor"]);
    assert!(
        d.stdout
            .contains(&format!("host {} is executable", copy.display())),
        "{d:?}"
    );
    chmod(&copy, 0o644);
    let d = m.run(&["doctor"]);
    assert_eq!(d.code, Some(1));
    assert!(d.stdout.contains("is not an executable file"), "{d:?}");
    assert!(
        d.stdout.contains(&format!("chmod 755 {}", copy.display())),
        "{d:?}"
    );
    // install itself refuses such a binary.
    let r = m.run(&args);
    assert!(r.stderr.contains("not executable"), "{r:?}");
}

#[test]
fn doctor_catches_a_host_that_prints_to_stdout() {
    let m = Machine::new();
    let script = m.dir.path().join("noisy-host");
    fs::write(
        &script,
        format!("#!/bin/sh\necho \"starting $0\"\nexec {} \"$@\"\n", BIN),
    )
    .unwrap();
    chmod(&script, 0o755);
    let mut args = chromium_args();
    args.extend(["--binary", script.to_str().unwrap()]);
    m.must(&args);
    let d = m.run(&["doctor"]);
    assert_eq!(d.code, Some(1), "{d:?}");
    assert!(
        d.stdout.contains("Something prints text to stdout"),
        "{d:?}"
    );
    assert!(d.stdout.contains("\"star"), "{d:?}");
}

#[test]
fn uninstall_leaves_a_manifest_someone_changed() {
    let m = Machine::new();
    m.must(&chromium_args());
    let path = m.chromium_manifest();
    fs::write(&path, "{\"changed\": true}").unwrap();
    let r = m.must(&["uninstall"]);
    assert!(
        r.stdout.contains("left") && r.stdout.contains("changed since"),
        "{r:?}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "{\"changed\": true}");
    assert!(!m.record_path().exists());
}

#[test]
fn system_scope_writes_every_candidate_and_the_host_honours_the_system_allowlist() {
    let m = Machine::new();
    let before = m.snapshot();
    let r = m.must(&[
        "install",
        "--scope",
        "system",
        "--browser",
        "brave",
        "--chrome-extension-id",
        CHROME_ID,
    ]);
    // ⚠ row: Brave's own folder and Chrome's.
    for dir in [
        "etc/brave/native-messaging-hosts",
        "etc/opt/chrome/native-messaging-hosts",
    ] {
        let p = m.root.join(dir).join(MANIFEST);
        assert_eq!(
            read_json(&p)["allowed_origins"],
            json!([OWN_CHROME_ORIGIN, CHROME_ORIGIN]),
            "{r:?}"
        );
        assert_eq!(mode(&fs::metadata(&p).unwrap()), 0o644);
        assert_eq!(mode(&fs::metadata(p.parent().unwrap()).unwrap()), 0o755);
    }
    let allowed = read_json(&m.root.join("etc/passbridge/allowed.json"));
    assert_eq!(
        allowed["chrome_origins"],
        json!([OWN_CHROME_ORIGIN, CHROME_ORIGIN])
    );
    assert_eq!(
        mode(&fs::metadata(m.root.join("etc/passbridge/installed.json")).unwrap()),
        0o644
    );
    // The user's own config has no ids: the host accepts the caller through the system list.
    assert!(!m.pb_home.join("config/config.json").exists());
    let d = m.must(&["doctor"]);
    assert_eq!(
        d.stdout
            .matches("replied to hello with a proper frame")
            .count(),
        2,
        "{d:?}"
    );
    m.must(&["uninstall", "--scope", "system"]);
    assert_eq!(without(&m.snapshot(), "pb"), without(&before, "pb"));
}

#[test]
fn sandboxed_browsers_get_advice() {
    let m = Machine::new();
    fs::create_dir_all(m.home.join(".var/app/org.mozilla.firefox")).unwrap();
    fs::create_dir_all(m.home.join("snap/firefox/common")).unwrap();
    let r = m.must(&firefox_args());
    assert!(r.stdout.contains("Note: Firefox"), "{r:?}");
    let d = m.must(&["doctor"]);
    assert!(d.stdout.contains("Flatpak Firefox found"), "{d:?}");
    assert!(d.stdout.contains("Snap Firefox found"), "{d:?}");
    assert!(
        d.stdout
            .contains("permission-set webextensions org.passbridge.host snap.firefox")
    );
}

#[test]
fn doctor_warns_about_a_browser_left_out() {
    let m = Machine::new();
    fs::create_dir_all(m.home.join(".config/microsoft-edge")).unwrap();
    m.must(&firefox_args());
    let d = m.must(&["doctor"]);
    assert!(
        d.stdout
            .contains("edge is set up for this user, but passbridge is not registered"),
        "{d:?}"
    );
}

/// Issue 12: Chromium and Firefox ESR installed but never started (no profile folders) made
/// `install` without `--browser` fail with "no browser found". Both are registered now.
#[test]
fn installed_browsers_without_profiles_are_registered() {
    let m = Machine::new();
    m.install_program("/usr/bin/chromium");
    m.install_program("/usr/bin/firefox-esr");
    let r = m.must(&[
        "install",
        "--chrome-extension-id",
        CHROME_ID,
        "--firefox-extension-id",
        FIREFOX_ID,
    ]);
    assert!(r.stdout.contains("for firefox, chromium"), "{r:?}");
    assert!(m.chromium_manifest().is_file() && m.firefox_manifest().is_file());
    let d = m.must(&["doctor"]);
    assert!(d.stdout.contains("No problems found."), "{d:?}");
}

/// Detection also reads desktop entries and the usual absolute places; doctor names what it
/// found for a browser left out. With nothing found at all, install still refuses.
#[test]
fn desktop_entries_and_usual_places_count_and_doctor_names_them() {
    let m = Machine::new();
    let entry = m.root.join("usr/share/applications/google-chrome.desktop");
    fs::create_dir_all(entry.parent().unwrap()).unwrap();
    fs::write(&entry, "[Desktop Entry]\nName=Google Chrome\n").unwrap();
    m.install_program("/opt/brave.com/brave/brave");
    m.must(&firefox_args());
    let d = m.must(&["doctor"]);
    for b in ["chrome", "brave"] {
        assert!(
            d.stdout.contains(&format!("{b} is installed (")),
            "{b}: {d:?}"
        );
    }
    let r = m.must(&["install", "--chrome-extension-id", CHROME_ID]);
    assert!(
        r.stdout.contains("chrome") && r.stdout.contains("brave"),
        "{r:?}"
    );

    let empty = Machine::new();
    let r = empty.run(&["install", "--chrome-extension-id", CHROME_ID]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("no browser found"), "{r:?}");
    assert!(r.stderr.contains("desktop entries"), "{r:?}");
}
