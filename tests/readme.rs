//! The README's shell blocks, run exactly as written (issue 12: the ANOTHERpass walkthrough
//! failed when pasted, and nothing noticed). Each block is taken from README.md at test time,
//! run with bash `-e` from the source folder, with the built `passbridge` first on PATH and a
//! private PASSBRIDGE_HOME, so the README cannot drift from what works.
#![cfg(unix)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_passbridge");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Only ends a hung block; a cold build of the simulator takes minutes on a slow machine.
const DEADLINE: Duration = Duration::from_secs(30 * 60);

/// The body of every ```sh block of README.md.
fn sh_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(b), "```") => {
                blocks.push(b.join("\n") + "\n");
                current = None;
            }
            (Some(b), l) => b.push(l),
            (None, _) => {}
        }
    }
    blocks
}

/// The one block that contains `needle`.
fn block_with(needle: &str) -> String {
    let found: Vec<String> = sh_blocks()
        .into_iter()
        .filter(|b| b.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "README.md: one ```sh block with {needle:?}");
    found.into_iter().next().unwrap()
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `block` with `bash -e` in its own process group (killed afterwards, so a background
/// job it leaves behind dies with it).
fn run_block(block: &str, envs: &[(&str, &Path)]) -> Ran {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg("-e")
        .arg("-c")
        .arg(block)
        .current_dir(ROOT)
        .env("PATH", path)
        .env_remove("PASSBRIDGE_LOG")
        .env_remove("PASSBRIDGE_LOG_FILE")
        .env_remove("PASSBRIDGE_SYSTEM_ROOT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let group = child.id() as i32;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > DEADLINE {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: signals our own child's process group.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.wait();
    Ran {
        code: status.and_then(|s| s.code()),
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn temp() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let pb = d.path().join("pb");
    let home = d.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    (d, pb, home)
}

/// "Try it by hand", after the README's install step registered passbridge (here: with
/// Chromium, in a throwaway HOME and system root).
#[test]
fn readme_try_it_by_hand_works_as_written() {
    let block = block_with("passbridge call '{\"action\":\"hello\"}'");
    let (d, pb, home) = temp();
    let root = d.path().join("root");
    let setup = Command::new(BIN)
        .args([
            "install",
            "--browser",
            "chromium",
            "--chrome-extension-id",
            "joaajilehcaffhenpoolbcihlhoookie",
        ])
        .env("HOME", &home)
        .env("PASSBRIDGE_HOME", &pb)
        .env("PASSBRIDGE_SYSTEM_ROOT", &root)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(setup.status.success(), "{setup:?}");
    let ran = run_block(
        &block,
        &[
            ("HOME", &home),
            ("PASSBRIDGE_HOME", &pb),
            ("PASSBRIDGE_SYSTEM_ROOT", &root),
            ("XDG_CONFIG_HOME", &home.join(".config")),
        ],
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("\"name\": \"passbridge\""), "{ran:?}");
    assert!(ran.stdout.contains(r#""echo":{"x":1}"#), "{ran:?}");
    assert!(ran.stdout.contains("No problems found"), "{ran:?}");
}

/// The ANOTHERpass walkthrough: build the simulator, start it, wait for it, link, confirm and
/// fetch a credential — as pasted.
#[test]
fn readme_anotherpass_walkthrough_works_as_written() {
    let block = block_with("anotherpass-sim");
    let (_d, pb, _home) = temp();
    let ran = run_block(&block, &[("PASSBRIDGE_HOME", &pb)]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let replies: Vec<&str> = ran.stdout.split("\n}\n").collect();
    assert!(replies.len() >= 3, "{ran:?}");
    for r in &replies[..3] {
        assert!(r.contains("\"ok\": true"), "{r}\n{ran:?}");
    }
    assert!(
        ran.stdout
            .contains("\"password\": \"correct horse battery\""),
        "{ran:?}"
    );
}
