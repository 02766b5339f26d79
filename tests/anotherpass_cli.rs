//! `passbridge anotherpass link|get|status|unlink` as a person uses them, against the loopback
//! phone. The test "scans" the QR code by reading the pending link file, as the phone's camera
//! would read the code drawn on the terminal.
use crate::support::ap_phone;
use crate::support::host;

use ap_phone::{Phone, Reply};
use passbridge::anotherpass::rsa::RsaKeyPair;
use passbridge::anotherpass::{b64, ids};
use serde_json::{Value, json};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn home_for(phone: &Phone) -> host::Home {
    let home = host::Home::new();
    home.write_config(&json!({
        "anotherpass": {"server": "127.0.0.1", "port": phone.port, "rsa_bits": 2048,
                        "poll_interval_ms": 100, "timeout_ms": 30000},
    }));
    home
}

/// What the QR code on the terminal says, recovered from the pending link file.
fn qr_from_pending(home: &host::Home) -> String {
    let path = home.path().join("data").join("anotherpass-pending.json");
    let t0 = Instant::now();
    let p: Value = loop {
        if let Ok(bytes) = std::fs::read(&path)
            && let Ok(v) = serde_json::from_slice(&bytes)
        {
            break v;
        }
        assert!(t0.elapsed() < host::TIMEOUT, "no pending link file");
        std::thread::sleep(Duration::from_millis(20));
    };
    let sk = b64::decode(p["session_key"].as_str().unwrap()).unwrap();
    let der = b64::decode(p["client_private_key"].as_str().unwrap()).unwrap();
    let key = RsaKeyPair::from_pkcs8(&der).unwrap();
    ids::qr_payload(p["web_client_id"].as_str().unwrap(), &sk, key.public().n())
}

/// Runs `passbridge anotherpass link`, scans, answers the prompts with `answers`.
fn cli_link(home: &host::Home, phone: &Phone, answers: &str) -> (bool, String) {
    let mut child = home
        .command()
        .args(["anotherpass", "link"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    phone.scan(&qr_from_pending(home));
    phone.push(Reply::LinkAccept);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli(home: &host::Home, args: &[&str]) -> (bool, String, String) {
    let out = home.command().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn link_get_status_unlink_in_a_terminal() {
    let phone = Phone::start();
    let home = home_for(&phone);
    // Address, default port, "yes, the fingerprints match".
    let (ok, stderr) = cli_link(&home, &phone, "192.168.178.39\n\ny\n");
    assert!(ok, "{stderr}");
    let fp = ids::link_fingerprint(&phone.app_n());
    assert!(stderr.contains(&fp), "the fingerprint is shown: {stderr}");
    assert!(stderr.contains("Linked to vault aacofrwj"), "{stderr}");

    let (ok, stdout, _) = cli(&home, &["anotherpass", "status"]);
    assert!(ok);
    assert!(stdout.contains("Linked to 192.168.178.39:8787"), "{stdout}");
    assert!(stdout.contains(&fp), "{stdout}");

    phone.push_all([
        Reply::Status(202, "no user acknowledge"),
        Reply::Answer(
            json!({"credential": {"uid": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "readableUid": "x", "name": "GitHub", "password": "hunter2", "user": "alice",
            "website": "https://github.com",
            "otp": "otpauth://totp/GitHub?secret=GEZDGNBVGY3TQOJQ"},
            "clientKey": "7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n"}),
        ),
    ]);
    let (ok, stdout, stderr) = cli(&home, &["anotherpass", "get", "https://github.com/login"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Password: hunter2"), "{stdout}");
    assert!(stdout.contains("User:     alice"), "{stdout}");
    assert!(stdout.contains("OTP:"), "{stdout}");
    assert!(!stdout.contains("7IkzDzry") && !stderr.contains("7IkzDzry"));
    // Without a terminal the spinner prints each state once, with the request fingerprint.
    assert!(stderr.contains("Approve the request"), "{stderr}");
    let rid = phone.payloads().last().unwrap()["requestIdentifier"].clone();
    let rfp = ids::request_fingerprint(&phone.base_key().unwrap(), rid.as_str().unwrap()).unwrap();
    assert!(stderr.contains(&rfp), "{stderr}");

    let (ok, _, stderr) = cli(&home, &["anotherpass", "unlink"]);
    assert!(ok && stderr.contains("Unlinked"), "{stderr}");
    let (_, stdout, _) = cli(&home, &["anotherpass", "status"]);
    assert!(stdout.contains("No phone is linked"), "{stdout}");
}

#[test]
fn answering_no_saves_nothing_and_a_typo_can_be_corrected() {
    let phone = Phone::start();
    let home = home_for(&phone);
    // A bad address is asked again; then "no, the fingerprints differ".
    let (ok, stderr) = cli_link(&home, &phone, "not an address!\n192.168.1.2\n8787\nn\n");
    assert!(!ok);
    assert!(stderr.contains("is not a phone address"), "{stderr}");
    assert!(stderr.contains("Not linked"), "{stderr}");
    let (_, stdout, _) = cli(&home, &["anotherpass", "status"]);
    assert!(stdout.contains("No phone is linked"), "{stdout}");
    assert!(!stdout.contains("in progress"), "{stdout}");
}
