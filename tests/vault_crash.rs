//! Real processes against one vault: kill -9 in the middle of writes, and two writers adding
//! 1,000 entries each. `harness = false`: this test binary is also the child writer it spawns
//! (`vault_crash child <home> <prefix> <commits> <batch>`), so passbridge ships no test mode.
// The integration tests' vault kit, of which this binary uses a part.
#[allow(dead_code)]
#[path = "support/vault.rs"]
mod vault_support;

use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use vault_support::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        return child(&args[2..]);
    }
    let tests: &[(&str, fn())] = &[
        (
            "kill_9_during_writes_leaves_old_or_new_content",
            kill_9_during_writes,
        ),
        ("two_processes_adding_1000_each_keep_2000", two_writers),
    ];
    // The listing half of libtest's interface, which cargo-nextest asks for (`--list --format
    // terse`, once more with `--ignored`): without it nextest silently skips this binary.
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            for (name, _) in tests {
                println!("{name}: test");
            }
        }
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-'));
    let mut ran = 0;
    for (name, test) in tests {
        if filter.is_some_and(|f| {
            if exact {
                name != f
            } else {
                !name.contains(f.as_str())
            }
        }) {
            continue;
        }
        eprintln!("test {name} ...");
        test();
        eprintln!("test {name} ... ok");
        ran += 1;
    }
    eprintln!("test result: ok. {ran} passed");
}

/// Child: commits `commits` times, each adding `batch` credentials, and prints the commit
/// number once it returned (so the parent knows it is durable).
fn child(args: &[String]) {
    let home = Path::new(&args[0]);
    let prefix = &args[1];
    let commits: usize = args[2].parse().unwrap();
    let batch: usize = args[3].parse().unwrap();
    let p = Proc::new(home, Arc::new(FakePhone::new(key(1))));
    p.receive(&key(1), &[]).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..commits {
        let creds: Vec<_> = (0..batch)
            .map(|j| cred(&format!("{prefix}-{i}-{j}"), &format!("{prefix} {i}"), ""))
            .collect();
        p.receive(&key(1), &creds).unwrap();
        if writeln!(out, "{i}").and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

fn spawn_child(
    home: &Path,
    prefix: &str,
    commits: usize,
    batch: usize,
    stdout: Stdio,
) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", home.to_str().unwrap(), prefix])
        .args([commits.to_string(), batch.to_string()])
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// All stored uids, read by a fresh process (as after a reboot).
fn stored_uids(home: &Path) -> Vec<String> {
    let p = Proc::new(home, Arc::new(FakePhone::new(key(1))));
    p.receive(&key(1), &[])
        .unwrap_or_else(|e| panic!("the vault does not open after the crash: {e}"));
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let page = actions::list(&p.ctx, &json!({"offset": offset, "limit": 1000})).unwrap();
        for i in page["items"].as_array().unwrap() {
            all.push(i["uid"].as_str().unwrap().to_owned());
        }
        match page["next_offset"].as_u64() {
            Some(n) => offset = n,
            None => return all,
        }
    }
}

fn kill_9_during_writes() {
    let home = tempfile::tempdir().unwrap();
    let seed = Proc::new(home.path(), Arc::new(FakePhone::new(key(1))));
    let base: Vec<_> = (0..2000)
        .map(|i| cred(&format!("base-{i}"), "Base", ""))
        .collect();
    seed.receive(&key(1), &base).unwrap();
    drop(seed);
    for round in 0..12usize {
        // Single-entry commits touch one segment; batches of 40 touch many at once.
        let batch = if round % 2 == 0 { 1 } else { 40 };
        let prefix = format!("r{round}");
        let mut child = spawn_child(home.path(), &prefix, 1_000_000, batch, Stdio::piped());
        let target = 2 + round;
        let mut acked = 0;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            line.unwrap();
            acked += 1;
            if acked == target {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no flush, mid-write
        child.wait().unwrap();
        assert_eq!(acked, target, "the child stopped early");

        let uids = stored_uids(home.path());
        let mut commits: BTreeMap<usize, usize> = BTreeMap::new();
        for u in &uids {
            if let Some(rest) = u.strip_prefix(&format!("{prefix}-")) {
                let i: usize = rest.split('-').next().unwrap().parse().unwrap();
                *commits.entry(i).or_default() += 1;
            }
        }
        // Every acknowledged commit is there; later ones are all-or-nothing and in order.
        let landed = commits.len();
        assert!(
            landed >= target,
            "round {round}: {landed} commits of {target} acknowledged"
        );
        assert!(
            commits.keys().copied().eq(0..landed),
            "round {round}: a gap in {commits:?}"
        );
        assert!(
            commits.values().all(|&n| n == batch),
            "round {round}: a torn commit {commits:?}"
        );
        assert_eq!(uids.iter().filter(|u| u.starts_with("base-")).count(), 2000);
    }
    // The next commit clears what the killed writers left (orphan segments, temp files).
    let p = Proc::new(home.path(), Arc::new(FakePhone::new(key(1))));
    p.receive(&key(1), &[cred("last", "Last", "")]).unwrap();
    let segs = segment_files(home.path()).len();
    let status = actions::status(&p.ctx, &json!({})).unwrap();
    assert!(segs <= 256, "{segs} segment files for 256 segments");
    let leftovers: Vec<_> = std::fs::read_dir(vault_dir(home.path()))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(status["entries"].as_u64().unwrap() > 2000);
}

fn two_writers() {
    let home = tempfile::tempdir().unwrap();
    let a = spawn_child(home.path(), "firefox", 1000, 1, Stdio::null());
    let b = spawn_child(home.path(), "chrome", 1000, 1, Stdio::null());
    for mut c in [a, b] {
        assert!(c.wait().unwrap().success(), "a writer failed");
    }
    let uids = stored_uids(home.path());
    assert_eq!(uids.len(), 2000);
    for who in ["firefox", "chrome"] {
        for i in 0..1000 {
            let u = format!("{who}-{i}-0");
            assert!(uids.contains(&u), "{u} was lost");
        }
    }
}
