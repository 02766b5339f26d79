//! `installer/install.sh` with a prebuilt binary (the cargo build step is the only part not run
//! here): installs into a throwaway HOME, registers, runs doctor and the hello round trip.
#![cfg(all(unix, not(target_os = "macos")))]

use crate::support::machine;

use machine::*;
use std::fs;
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/installer/install.sh");

fn script(m: &Machine, args: &[&str]) -> Run {
    let out = Command::new("sh")
        .arg(SCRIPT)
        .args(args)
        .env("HOME", &m.home)
        .env("PASSBRIDGE_HOME", &m.pb_home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("PASSBRIDGE_SYSTEM_ROOT")
        .env_remove("PASSBRIDGE_CHROME_EXTENSION_ID")
        .env_remove("PASSBRIDGE_BROWSERS")
        .env_remove("PASSBRIDGE_BINDIR")
        .env_remove("PASSBRIDGE_SCOPE")
        .env("PASSBRIDGE_FIREFOX_EXTENSION_ID", FIREFOX_ID)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn script_installs_registers_checks_and_round_trips() {
    let m = Machine::new();
    let r = script(
        &m,
        &[
            "--prebuilt",
            BIN,
            "--browser",
            "chromium",
            "--browser=firefox",
            "--chrome-extension-id",
            CHROME_ID,
        ],
    );
    assert!(r.ok(), "{r:?}");
    let installed = m.home.join(".local/bin/passbridge");
    assert_eq!(fs::read(&installed).unwrap(), fs::read(BIN).unwrap());
    assert_eq!(mode(&fs::metadata(&installed).unwrap()), 0o755);
    let installed = fs::canonicalize(&installed).unwrap();
    // Both manifests name the installed copy, not the build tree.
    for p in [m.chromium_manifest(), m.firefox_manifest()] {
        assert_eq!(read_json(&p)["path"], installed.to_str().unwrap(), "{r:?}");
    }
    assert!(r.stdout.contains("No problems found."), "{r:?}");
    assert!(
        r.stdout.contains(r#""ok":true"#) && r.stdout.contains(r#""name":"passbridge""#),
        "{r:?}"
    );
    assert!(r.stdout.contains("is not on your PATH"), "{r:?}");
    // Issue 12: the banner showed another command than the one it ran. Run the one it shows.
    let shown = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("==> Hello round trip: "))
        .expect("a hello banner");
    let reply = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("==> Hello round trip: "))
        .nth(1)
        .unwrap();
    let again = Command::new("sh")
        .arg("-c")
        .arg(shown)
        .env("HOME", &m.home)
        .env("PASSBRIDGE_HOME", &m.pb_home)
        .output()
        .unwrap();
    assert!(again.status.success(), "{shown}: {again:?}");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        reply,
        "{shown}"
    );

    let r = script(&m, &["--uninstall"]);
    assert!(r.ok(), "{r:?}");
    assert!(!m.home.join(".local/bin/passbridge").exists());
    assert!(!m.chromium_manifest().exists() && !m.firefox_manifest().exists());
}

#[test]
fn script_stops_on_bad_input() {
    let m = Machine::new();
    let r = script(&m, &["--frobnicate"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("unknown option --frobnicate"), "{r:?}");
    let r = script(&m, &["--scope", "planet"]);
    assert!(r.stderr.contains("--scope must be user or system"), "{r:?}");
    let r = script(&m, &["--prebuilt", "/nonexistent"]);
    assert!(r.stderr.contains("not an executable file"), "{r:?}");
    // A bad id stops at registration, with passbridge's own explanation.
    let r = script(
        &m,
        &[
            "--prebuilt",
            BIN,
            "--browser",
            "chromium",
            "--chrome-extension-id",
            "nope",
        ],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("32 letters from a to p"), "{r:?}");
    assert!(!m.chromium_manifest().exists());
}

#[test]
fn script_help_lists_the_options() {
    let m = Machine::new();
    let r = script(&m, &["--help"]);
    assert!(r.ok());
    for opt in [
        "--chrome-extension-id",
        "--firefox-extension-id",
        "--browser",
        "--scope",
        "--uninstall",
        "PASSBRIDGE_CHROME_EXTENSION_ID",
    ] {
        assert!(r.stdout.contains(opt), "{opt}");
    }
}
