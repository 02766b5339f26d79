//! The CLI a person uses to try the host by hand.

use crate::support::host;

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

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
    let out = home.run_cli(&["frame"], b"{\"a\":1}\n");
    assert_eq!(out.stdout, host::frame(b"{\"a\":1}"));
}

#[test]
fn unframe_rejects_a_truncated_stream() {
    let home = host::Home::new();
    let mut input = host::frame(b"{}");
    input.extend_from_slice(&[9, 0]);
    let out = home.run_cli(&["unframe"], &input);
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

// ---- issue 12: what a person at a terminal trips over ----

/// `echo '{"action":"hello"}' | passbridge … | cat`: the error reply (stdout is no terminal
/// here) and stderr both say to use `passbridge frame`, not "a message of 1667310203 bytes".
#[test]
fn json_text_piped_into_the_host_gets_the_frame_hint() {
    let home = host::Home::new();
    let out = home.run_cli(&[], b"{\"action\":\"hello\"}\n");
    let replies = host::unframe_all(&out.stdout);
    assert_eq!(replies.len(), 1, "{replies:?}");
    host::assert_valid_reply(&replies[0]);
    let message = replies[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("pipe it through `passbridge frame`"),
        "{message}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("this looks like JSON text"), "{stderr}");
}

/// `passbridge unframe` fed plain JSON says the same.
#[test]
fn unframe_of_json_text_gets_the_frame_hint() {
    let home = host::Home::new();
    let out = home.run_cli(&["unframe"], b"{\"id\":1,\"ok\":true}\n");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pipe it through `passbridge frame`"),
        "{stderr}"
    );
}

/// `passbridge frame` refuses a line that is not JSON and names it, after framing the lines
/// before it.
#[test]
fn frame_rejects_invalid_json_with_its_line_number() {
    let home = host::Home::new();
    let out = home.run_cli(&["frame"], b"{\"a\":1}\n\n{nope}\n{\"b\":2}\n");
    assert!(!out.status.success());
    assert_eq!(out.stdout, host::frame(b"{\"a\":1}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3 is not valid JSON"), "{stderr}");
}

/// A pseudo-terminal for a child's stdout: (master, slave path).
#[cfg(target_os = "linux")]
fn pty() -> (std::fs::File, std::path::PathBuf) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc pty calls; the master fd is owned by the returned File.
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK);
        assert!(fd >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(fd), 0);
        assert_eq!(libc::unlockpt(fd), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_str()
            .unwrap()
            .to_owned();
        (std::fs::File::from_raw_fd(fd), path.into())
    }
}

/// Never a binary frame to a terminal: with stdout a terminal the host writes nothing there
/// and says what to do instead (JSON text → `passbridge frame`; frames → `passbridge unframe`).
#[cfg(target_os = "linux")]
#[test]
fn the_host_never_writes_frames_to_a_terminal() {
    let home = host::Home::new();
    for (input, want) in [
        (
            b"{\"action\":\"hello\"}\n".to_vec(),
            "pipe it through `passbridge frame`",
        ),
        (host::frame(b"{\"action\":\"hello\"}"), "passbridge unframe"),
    ] {
        let (mut master, slave) = pty();
        let tty = std::fs::OpenOptions::new()
            .write(true)
            .open(&slave)
            .unwrap();
        let mut child = home
            .command()
            .stdin(Stdio::piped())
            .stdout(tty)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{stderr}");
        assert_terminal_untouched(&mut master);
    }
    // `passbridge frame` to a terminal: refused too.
    let (mut master, slave) = pty();
    let tty = std::fs::OpenOptions::new()
        .write(true)
        .open(&slave)
        .unwrap();
    let mut child = home
        .command()
        .arg("frame")
        .stdin(Stdio::piped())
        .stdout(tty)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"action\":\"hello\"}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdout is a terminal"), "{stderr}");
    assert_terminal_untouched(&mut master);
}

#[cfg(target_os = "linux")]
fn assert_terminal_untouched(master: &mut std::fs::File) {
    use std::io::Read;
    let mut buf = [0u8; 64];
    match master.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "wrote to the terminal: {:?}", &buf[..n]),
        Err(e) => assert!(
            matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EIO)),
            "{e}"
        ),
    }
}

/// `passbridge … 2>&1 | head -3` once panicked (exit 101): a closed stdout or stderr is a quiet
/// exit 0, in every command. The pipes here are closed before the child starts.
#[cfg(unix)]
#[test]
fn a_closed_pipe_is_a_quiet_exit_zero() {
    let home = host::Home::new();
    home.write_config(&json!({"anotherpass": {"rsa_bits": 2048}}));
    let cases: [&[&str]; 5] = [
        &["anotherpass", "link"],
        &["call", r#"{"action":"hello"}"#],
        &["clarion", "status"],
        &["vault", "status"],
        &["doctor"],
    ];
    for args in cases {
        for closed_stderr_too in [false, true] {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let mut cmd = home.command();
            cmd.args(args)
                .stdin(Stdio::null())
                .stdout(writer.try_clone().unwrap());
            if closed_stderr_too {
                cmd.stderr(writer);
            } else {
                cmd.stderr(Stdio::piped());
            }
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
            if closed_stderr_too || args[0] != "anotherpass" {
                assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
            }
        }
    }
}

#[test]
fn call_suggests_json_for_a_bare_action_and_does_not_repeat_a_failure() {
    let home = host::Home::new();
    let out = home.command().args(["call", "hello"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"Did you mean: passbridge call '{"action":"hello"}'"#),
        "{stderr}"
    );
    let out = home
        .command()
        .args(["call", r#"{"action":"no.such"}"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["error"]["code"], "unknown_action");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `anotherpass link` said "Creating this computer's key" twice (its own line and the
/// progress event's).
#[test]
fn anotherpass_link_announces_the_key_once() {
    let home = host::Home::new();
    home.write_config(&json!({"anotherpass": {"rsa_bits": 2048}}));
    let out = home
        .command()
        .args(["anotherpass", "link"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let announcements = stderr
        .lines()
        .filter(|l| l.contains("Creating this computer"))
        .count();
    assert_eq!(announcements, 1, "{stderr}");
}

/// Issue 12: `"server": "no-such-host.invalid"` reported "network error (uncategorized error)".
/// Uses the system's real resolver; `.invalid` never resolves (RFC 6761).
#[test]
fn a_host_name_that_does_not_resolve_says_so() {
    let home = host::Home::new();
    home.write_config(&json!({"anotherpass": {"rsa_bits": 2048}}));
    let (_, ok) = home.call(&json!({"action": "anotherpass.link.start"}));
    assert!(ok);
    let (reply, ok) = home.call(&json!({"action": "anotherpass.link.complete",
        "params": {"server": "no-such-host.invalid", "port": 8787}}));
    assert!(!ok);
    assert_eq!(reply["error"]["code"], "phone_unreachable");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no-such-host.invalid:8787: the host name could not be resolved"),
        "{message}"
    );
}
