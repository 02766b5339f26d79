//! The CLI a person uses to try the host by hand.

#[path = "support/host.rs"]
mod host;

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

fn run_with_stdin(home: &host::Home, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = home
        .command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn frame_host_unframe_pipeline_in_a_shell() {
    let home = host::Home::new();
    let bin = host::BIN;
    let script = format!(
        r#"printf '%s\n' '{{"id":1,"action":"ping","params":{{"a":1}}}}' '' '{{"id":2,"action":"hello"}}' | "{bin}" frame | "{bin}" | "{bin}" unframe"#
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("PASSBRIDGE_HOME", home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.sort_by_key(|v| v["id"].as_i64());
    assert_eq!(lines.len(), 2, "blank lines are skipped");
    assert_eq!(lines[0]["result"]["echo"], json!({"a": 1}));
    assert_eq!(lines[1]["result"]["name"], "passbridge");
}

#[test]
fn frame_writes_native_endian_prefixes() {
    let home = host::Home::new();
    let out = run_with_stdin(&home, &["frame"], b"{\"a\":1}\n");
    assert_eq!(out.stdout, host::frame(b"{\"a\":1}"));
}

#[test]
fn unframe_rejects_a_truncated_stream() {
    let home = host::Home::new();
    let mut input = host::frame(b"{}");
    input.extend_from_slice(&[9, 0]);
    let out = run_with_stdin(&home, &["unframe"], &input);
    assert!(!out.status.success());
    assert_eq!(out.stdout, b"{}\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("length prefix"));
}

#[test]
fn call_prints_the_reply_and_sends_progress_to_stderr() {
    let home = host::Home::new();
    let out = home
        .command()
        .args([
            "call",
            r#"{"id":"x","action":"ping","params":{"delay_ms":1},"progress":true}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["result"]["echo"]["delay_ms"], 1);
    let event: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().next().unwrap()).unwrap();
    assert_eq!(event["event"], "progress");
}

#[test]
fn call_reports_bad_json_and_failed_actions() {
    let home = host::Home::new();
    let out = home.command().args(["call", "{nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    let (reply, ok) = home.call(&json!({"action": "no.such"}));
    assert!(!ok);
    assert_eq!(reply["error"]["code"], "unknown_action");
}

#[test]
fn help_and_version_speak_to_a_newcomer() {
    let home = host::Home::new();
    let help = String::from_utf8(home.command().arg("--help").output().unwrap().stdout).unwrap();
    for needle in [
        "install",
        "doctor",
        "call",
        "frame",
        "unframe",
        "PASSBRIDGE_HOME",
        "Examples",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    let version =
        String::from_utf8(home.command().arg("--version").output().unwrap().stdout).unwrap();
    assert_eq!(
        version.trim(),
        format!("passbridge {}", env!("CARGO_PKG_VERSION"))
    );
}
