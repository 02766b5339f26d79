//! Cross-checks against Node.js: whether they can run here, and a script that reads one JSON
//! value on stdin and prints one.

use super::host::output_with_stdin;
use serde_json::Value;
use std::process::Command;

/// Whether `node` runs on this machine.
pub fn installed() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the cross-check `what` runs: `missing` says what it lacks, if anything. A check that
/// cannot run is skipped with a message, except under CI, where it fails.
pub fn ready(what: &str, missing: Option<&str>) -> bool {
    let Some(why) = missing else {
        return true;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} must run in CI: {why}"
    );
    eprintln!("skipping {what}: {why}");
    false
}

/// Runs `node <args>` with `input` on stdin; its output parsed as JSON. Fails the test if node
/// fails.
pub fn json(args: &[&str], input: &Value) -> Value {
    let out = output_with_stdin(
        Command::new("node").args(args),
        input.to_string().as_bytes(),
    );
    assert!(
        out.status.success(),
        "node {} failed: {}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
