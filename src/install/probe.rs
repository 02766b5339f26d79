//! Runs a registered host the way a browser does (same argv, one framed `hello`) and judges
//! the reply. Catches the most common real failure: text on stdout that the browser reads as
//! an absurd length prefix (spec §5.3).

use crate::nm::frame::MAX_OUTBOUND;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Only turns a hung host into a failure; a healthy one answers in milliseconds.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);
const REQUEST: &str = r#"{"id":"passbridge-doctor","action":"hello"}"#;
const MAX_STDERR: u64 = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A proper frame with a successful `hello` reply.
    Hello { version: String, protocol: u64 },
    /// A proper frame with an error reply (e.g. `forbidden_caller`).
    Refused { code: String, message: String },
    /// Anything a browser would choke on, explained.
    Broken(String),
}

/// Judges everything the host wrote to stdout for one `hello`. Pure.
pub fn judge(stdout: &[u8]) -> Outcome {
    let broken = |s: String| Outcome::Broken(s);
    if stdout.is_empty() {
        return broken("the host wrote nothing to stdout".into());
    }
    if stdout.len() < 4 {
        return broken(format!(
            "the host wrote only {} byte(s) to stdout, not even a length prefix ({})",
            stdout.len(),
            preview(stdout)
        ));
    }
    let len = u32::from_ne_bytes(stdout[..4].try_into().expect("4 bytes")) as usize;
    if len > MAX_OUTBOUND {
        return broken(format!(
            "stdout starts with {}, which a browser reads as a message of {len} bytes \
             (over the 1 MiB limit: \"message too large\"). Something prints text to stdout",
            preview(stdout)
        ));
    }
    let rest = &stdout[4..];
    if rest.len() < len {
        return broken(format!(
            "the reply frame is cut short: {} of {len} bytes",
            rest.len()
        ));
    }
    let (body, extra) = rest.split_at(len);
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return broken(format!(
                "the reply frame is not JSON ({e}): {}",
                preview(body)
            ));
        }
    };
    if !extra.is_empty() {
        return broken(format!(
            "{} unexpected byte(s) on stdout after the reply ({}): something else writes to stdout",
            extra.len(),
            preview(extra)
        ));
    }
    match value.get("ok") {
        Some(Value::Bool(true)) if value["result"]["name"] == "passbridge" => Outcome::Hello {
            version: value["result"]["version"]
                .as_str()
                .unwrap_or("?")
                .to_string(),
            protocol: value["result"]["protocol"].as_u64().unwrap_or(0),
        },
        Some(Value::Bool(false)) => Outcome::Refused {
            code: value["error"]["code"].as_str().unwrap_or("?").to_string(),
            message: value["error"]["message"].as_str().unwrap_or("").to_string(),
        },
        _ => broken(format!(
            "the reply is not a passbridge hello: {}",
            preview(body)
        )),
    }
}

/// Up to 32 bytes, printable, quoted.
fn preview(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(32)];
    let text: String = String::from_utf8_lossy(cut).escape_debug().collect();
    if bytes.len() > cut.len() {
        format!("\"{text}\"…")
    } else {
        format!("\"{text}\"")
    }
}

/// The framed request a doctor run sends.
pub fn request_frame() -> Vec<u8> {
    let mut v = (REQUEST.len() as u32).to_ne_bytes().to_vec();
    v.extend_from_slice(REQUEST.as_bytes());
    v
}

/// Starts `binary args...` in the binary's folder (as Chrome does), sends one framed `hello`,
/// closes stdin and judges the output. Never inherits our stdout.
pub fn run(binary: &Path, args: &[String]) -> Outcome {
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = binary.parent().filter(|d| !d.as_os_str().is_empty()) {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::Broken(format!("cannot start {}: {e}", binary.display())),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A host that exits early closes the pipe: judged by its output below.
        let _ = stdin.write_all(&request_frame());
    }
    let (out_tx, out_rx) = mpsc::channel();
    let mut stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout)
            .take(MAX_OUTBOUND as u64 + 4 + 4096)
            .read_to_end(&mut buf);
        let _ = out_tx.send(buf);
    });
    let (err_tx, err_rx) = mpsc::channel();
    let mut stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(MAX_STDERR).read_to_end(&mut buf);
        let _ = err_tx.send(buf);
    });

    let deadline = Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let grace = Duration::from_secs(2);
    let out = out_rx.recv_timeout(grace).unwrap_or_default();
    let err = err_rx.recv_timeout(grace).unwrap_or_default();
    let Some(status) = status else {
        return Outcome::Broken(format!(
            "the host did not exit within {} s after its stdin closed",
            PROBE_TIMEOUT.as_secs()
        ));
    };
    match judge(&out) {
        Outcome::Broken(why) => {
            let stderr = String::from_utf8_lossy(&err);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let mut msg = format!("{why}; it exited with {status}");
            if !tail.is_empty() {
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                msg.push_str(&format!("; its stderr ends with: {}", tail.join(" | ")));
            }
            Outcome::Broken(msg)
        }
        ok => ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> Vec<u8> {
        let mut v = (body.len() as u32).to_ne_bytes().to_vec();
        v.extend_from_slice(body.as_bytes());
        v
    }

    #[test]
    fn a_good_hello() {
        let out = frame(
            r#"{"id":"passbridge-doctor","ok":true,"result":{"name":"passbridge","version":"0.1.0","protocol":1}}"#,
        );
        assert_eq!(
            judge(&out),
            Outcome::Hello {
                version: "0.1.0".into(),
                protocol: 1
            }
        );
    }

    #[test]
    fn a_refusal_is_reported_with_its_code() {
        let out =
            frame(r#"{"id":null,"ok":false,"error":{"code":"forbidden_caller","message":"no"}}"#);
        assert_eq!(
            judge(&out),
            Outcome::Refused {
                code: "forbidden_caller".into(),
                message: "no".into()
            }
        );
    }

    /// The lengths users reported, decoded (spec §5.3) — on a little-endian machine.
    #[test]
    fn text_on_stdout_is_recognised() {
        for text in ["/home/u/.local/bin", "NAME=x", "[DEBUG] hi", "data: {}"] {
            let Outcome::Broken(why) = judge(text.as_bytes()) else {
                panic!("{text} accepted");
            };
            assert!(why.contains("Something prints text to stdout"), "{why}");
            assert!(why.contains(&text[..4]), "{why}");
        }
        if cfg!(target_endian = "little") {
            let Outcome::Broken(why) = judge(b"/home") else {
                panic!()
            };
            assert!(why.contains("1836017711 bytes"), "{why}");
        }
    }

    #[test]
    fn other_breakage() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "nothing"),
            (vec![1, 0], "only 2 byte(s)"),
            (frame("{\"ok\":true}")[..8].to_vec(), "cut short"),
            (frame("not json"), "not JSON"),
            (
                frame("{\"ok\":true,\"result\":{}}"),
                "not a passbridge hello",
            ),
            (
                [
                    frame(r#"{"ok":true,"result":{"name":"passbridge"}}"#),
                    b"log line".to_vec(),
                ]
                .concat(),
                "after the reply",
            ),
        ];
        for (bytes, want) in cases {
            match judge(&bytes) {
                Outcome::Broken(why) => assert!(why.contains(want), "{why} / {want}"),
                other => panic!("{want}: {other:?}"),
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn running_a_program_that_prints_instead_of_framing() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("noisy");
        std::fs::write(&script, "#!/bin/sh\necho 'starting host'\ncat >/dev/null\n").unwrap();
        crate::fsutil::set_mode(&script, 0o755).unwrap();
        match run(&script, &[]) {
            Outcome::Broken(why) => {
                assert!(why.contains("\"star"), "{why}");
                assert!(why.contains("exited with"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        match run(&d.path().join("absent"), &[]) {
            Outcome::Broken(why) => assert!(why.contains("cannot start"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
