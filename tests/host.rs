//! The host binary end to end: framed JSON in, framed JSON out, every kind of bad input,
//! concurrency, cancel, caller checks and the 1 MiB boundary.

use crate::support::host;

use host::{Home, frame};
use serde_json::{Value, json};

const CHROME_ID: &str = "abcdefghijklmnopabcdefghijklmnop";
const FIREFOX_ID: &str = "passbridge-test@example.org";

fn allowlisted_home() -> Home {
    let home = Home::new();
    home.write_config(&json!({"allowed": {"chrome_origins": [format!("chrome-extension://{CHROME_ID}/")], "firefox_ids": [FIREFOX_ID]}}));
    home
}

fn framed_json(v: &Value) -> Vec<u8> {
    frame(v.to_string().as_bytes())
}

#[test]
fn hello_lists_actions_and_versions() {
    let (frames, code, _) =
        Home::new().run_once(&[], &framed_json(&json!({"id": 1, "action": "hello"})));
    assert_eq!(code, Some(0));
    let r = &frames[0]["result"];
    assert_eq!(r["name"], "passbridge");
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["protocol"], 1);
    for a in ["hello", "ping", "status", "cancel"] {
        assert!(
            r["actions"].as_array().unwrap().contains(&json!(a)),
            "{a} missing"
        );
    }
    host::assert_valid_reply(&frames[0]);
}

#[test]
fn bad_messages_get_error_frames_and_the_stream_continues() {
    let cases: Vec<(Vec<u8>, &str, Value)> = vec![
        (b"\xff\xfe".to_vec(), "invalid_utf8", Value::Null),
        (b"{\"action\":".to_vec(), "invalid_json", Value::Null),
        (b"[]".to_vec(), "invalid_request", Value::Null),
        (b"42".to_vec(), "invalid_request", Value::Null),
        (br#"{"id":"x"}"#.to_vec(), "invalid_request", json!("x")),
        (
            br#"{"id":"x","action":"ping","params":"p"}"#.to_vec(),
            "invalid_request",
            json!("x"),
        ),
        (
            br#"{"id":true,"action":"ping"}"#.to_vec(),
            "invalid_request",
            Value::Null,
        ),
        (
            br#"{"id":5,"action":"no.such"}"#.to_vec(),
            "unknown_action",
            json!(5),
        ),
        (
            br#"{"id":6,"action":"ping","params":{"delay_ms":"soon"}}"#.to_vec(),
            "invalid_params",
            json!(6),
        ),
        (
            br#"{"id":7,"action":"cancel","params":{}}"#.to_vec(),
            "invalid_params",
            json!(7),
        ),
        (b"".to_vec(), "invalid_json", Value::Null),
    ];
    let mut input = Vec::new();
    for (body, _, _) in &cases {
        input.extend(frame(body));
    }
    input.extend(framed_json(&json!({"id": "last", "action": "ping"})));
    let (frames, code, stderr) = Home::new().run_once(&[], &input);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(frames.len(), cases.len() + 1);
    // Well-formed requests run on workers, so match by id; id-less errors come in input order.
    let mut anonymous = frames.iter().filter(|f| f["id"].is_null());
    for (body, want_code, want_id) in &cases {
        let got = if want_id.is_null() {
            anonymous.next().unwrap()
        } else {
            frames.iter().find(|f| &f["id"] == want_id).unwrap()
        };
        assert_eq!(got["ok"], false, "{}", String::from_utf8_lossy(body));
        assert_eq!(
            got["error"]["code"],
            *want_code,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(!got["error"]["message"].as_str().unwrap().is_empty());
        host::assert_valid_reply(got);
    }
    assert!(frames.iter().any(|f| f["id"] == "last" && f["ok"] == true));
}

#[test]
fn truncated_streams_exit_non_zero_without_partial_output() {
    let good = framed_json(&json!({"id": 1, "action": "ping"}));
    for (name, tail) in [
        ("partial prefix", vec![5u8, 0]),
        ("partial body", {
            let mut v = 10u32.to_ne_bytes().to_vec();
            v.extend_from_slice(b"{\"a\"");
            v
        }),
    ] {
        let mut input = good.clone();
        input.extend(tail);
        let (frames, code, stderr) = Home::new().run_once(&[], &input);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert_eq!(
            frames.len(),
            1,
            "{name}: the good request is still answered"
        );
        assert_eq!(frames[0]["ok"], true);
        assert!(stderr.contains("ended inside"), "{name}: {stderr}");
    }
}

#[test]
fn empty_input_is_a_clean_exit() {
    let (frames, code, _) = Home::new().run_once(&[], b"");
    assert_eq!((frames.len(), code), (0, Some(0)));
}

#[test]
fn inbound_cap_is_checked_before_reading() {
    let home = Home::new();
    home.write_config(&json!({"max_message_bytes": 100}));
    // Declare 4 GiB but send almost nothing: must be refused at once, not awaited or allocated.
    let (frames, code, stderr) = home.run_once(&[], &u32::MAX.to_ne_bytes());
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(frames[0]["error"]["code"], "too_large");
    let exactly = {
        let mut body = br#"{"action":"ping","params":{"p":""#.to_vec();
        let fill = 100 - body.len() - 3;
        body.extend(std::iter::repeat_n(b'a', fill));
        body.extend_from_slice(b"\"}}");
        body
    };
    assert_eq!(exactly.len(), 100);
    let (frames, code, _) = home.run_once(&[], &frame(&exactly));
    assert_eq!((frames[0]["ok"].clone(), code), (json!(true), Some(0)));
}

/// A ping whose reply is exactly `target` bytes long.
fn ping_with_reply_size(target: usize) -> Value {
    let probe = |n: usize| {
        json!({"id": 1, "ok": true, "result": {"echo": {"s": "a".repeat(n)}}})
            .to_string()
            .len()
    };
    let n = target - probe(0);
    assert_eq!(probe(n), target);
    json!({"id": 1, "action": "ping", "params": {"s": "a".repeat(n)}})
}

#[test]
fn replies_stop_at_exactly_one_mib() {
    let home = Home::new();
    let mut h = home.spawn(&[]);
    let at_limit = h.request(&ping_with_reply_size(1024 * 1024));
    assert_eq!(at_limit["ok"], true);
    assert_eq!(serde_json::to_vec(&at_limit).unwrap().len(), 1024 * 1024);
    let over = h.request(&ping_with_reply_size(1024 * 1024 + 1));
    assert_eq!(over["error"]["code"], "too_large");
    // The connection is still healthy.
    assert_eq!(h.request(&json!({"id": 2, "action": "ping"}))["ok"], true);
    assert_eq!(h.close(), Some(0));
}

#[test]
fn slow_requests_do_not_block_fast_ones() {
    let home = Home::new();
    let mut h = home.spawn(&[]);
    // The slow request only ends when cancelled, so the order below cannot depend on timing.
    h.send(
        &json!({"id": "slow", "action": "ping", "params": {"delay_ms": 60000}, "progress": true}),
    );
    assert_eq!(h.recv()["event"], "progress");
    let fast = h.request(&json!({"id": "fast", "action": "ping", "params": {"n": 2}}));
    assert_eq!(fast["result"]["echo"]["n"], 2);
    h.send(&json!({"id": "c", "action": "cancel", "params": {"target": "slow"}}));
    let mut ids = vec![h.recv()["id"].clone(), h.recv()["id"].clone()];
    ids.sort_by_key(|v| v.to_string());
    assert_eq!(ids, vec![json!("c"), json!("slow")]);
    assert_eq!(h.close(), Some(0));
}

#[test]
fn cancel_stops_an_in_flight_request() {
    let home = Home::new();
    let mut h = home.spawn(&[]);
    h.send(&json!({"id": 9, "action": "ping", "params": {"delay_ms": 60000}, "progress": true}));
    // Wait until it is running (its progress event), then cancel it.
    let ev = h.recv();
    assert_eq!(
        ev,
        json!({"id": 9, "event": "progress", "stage": "sleeping", "delay_ms": 60000})
    );
    host::assert_valid_event(&ev);
    h.send(&json!({"id": "c", "action": "cancel", "params": {"target": 9}}));
    // Both replies come, in either order.
    let (a, b) = (h.recv(), h.recv());
    let (c, reply) = if a["id"] == "c" { (a, b) } else { (b, a) };
    assert_eq!(c["result"], json!({"cancelled": true}));
    assert_eq!(reply["id"], 9);
    assert_eq!(reply["error"]["code"], "cancelled");
    host::assert_valid_reply(&reply);
    let again = h.request(&json!({"id": "c2", "action": "cancel", "params": {"target": 9}}));
    assert_eq!(again["result"], json!({"cancelled": false}));
    assert_eq!(h.close(), Some(0));
}

#[test]
fn progress_events_only_when_asked() {
    let (frames, _, _) = Home::new().run_once(
        &[],
        &framed_json(&json!({"id": 1, "action": "ping", "params": {"delay_ms": 1}})),
    );
    assert_eq!(
        frames.len(),
        1,
        "a sendNativeMessage caller takes the first frame as the answer"
    );
    assert_eq!(frames[0]["ok"], true);
}

#[test]
fn duplicate_in_flight_ids_are_refused() {
    let home = Home::new();
    let mut h = home.spawn(&[]);
    h.send(&json!({"id": "d", "action": "ping", "params": {"delay_ms": 60000}, "progress": true}));
    h.recv(); // running
    h.send(&json!({"id": "d", "action": "ping"}));
    assert_eq!(h.recv()["error"]["code"], "duplicate_id");
    h.request(&json!({"id": "c", "action": "cancel", "params": {"target": "d"}}));
}

#[test]
fn allowed_browser_callers_are_served() {
    let home = allowlisted_home();
    let req = framed_json(&json!({"id": 1, "action": "ping"}));
    for args in [
        vec![format!("chrome-extension://{CHROME_ID}/")],
        vec![
            format!("chrome-extension://{CHROME_ID}/"),
            "--parent-window=0".into(),
        ],
        vec!["/tmp/org.passbridge.host.json".into(), FIREFOX_ID.into()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (frames, code, _) = home.run_once(&args, &req);
        assert_eq!(
            (frames[0]["ok"].clone(), code),
            (json!(true), Some(0)),
            "{args:?}"
        );
    }
}

#[test]
fn unknown_browser_callers_are_refused_with_a_clear_frame() {
    let home = allowlisted_home();
    let mut input = framed_json(&json!({"id": 1, "action": "hello"}));
    input.extend(framed_json(&json!({"id": 2, "action": "ping"})));
    for args in [
        vec!["chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba/"],
        vec!["/tmp/org.passbridge.host.json", "evil@example.org"],
        vec!["/tmp/org.passbridge.host.json"],
    ] {
        let (frames, code, stderr) = home.run_once(&args, &input);
        assert_eq!(code, Some(0));
        assert_eq!(frames.len(), 2);
        for f in &frames {
            assert_eq!(f["error"]["code"], "forbidden_caller", "{args:?}");
            assert!(
                f["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("passbridge install")
            );
        }
        assert!(stderr.contains("allowlist"), "{stderr}");
    }
}

#[test]
fn a_one_shot_caller_that_closes_stdin_still_gets_its_answer() {
    let home = allowlisted_home();
    let origin = format!("chrome-extension://{CHROME_ID}/");
    let (frames, code, _) = home.run_once(
        &[&origin],
        &framed_json(&json!({"id": 1, "action": "ping", "params": {"delay_ms": 300}})),
    );
    assert_eq!(code, Some(0));
    assert_eq!(
        frames,
        vec![json!({"id": 1, "ok": true, "result": {"echo": {"delay_ms": 300}}})]
    );
}

#[test]
fn closing_the_port_cancels_in_flight_work_and_exits() {
    use std::io::{Read, Write};
    let home = allowlisted_home();
    let log = home.path().join("host.log");
    let mut child = home
        .command()
        .arg(format!("chrome-extension://{CHROME_ID}/"))
        .env("PASSBRIDGE_LOG", "info")
        .env("PASSBRIDGE_LOG_FILE", &log)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    stdin
        .write_all(&framed_json(
            &json!({"id": 1, "action": "ping", "params": {"delay_ms": 60000}, "progress": true}),
        ))
        .unwrap();
    let mut prefix = [0u8; 4];
    stdout.read_exact(&mut prefix).unwrap(); // the progress event: the request is running
    // The browser destroys the port: both pipes close.
    drop(stdin);
    drop(stdout);
    let status = child.wait().unwrap();
    assert!(status.success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("cancelling 1 request"),
        "the minute-long request was not cancelled: {log}"
    );
}

#[test]
fn a_piped_file_gets_every_answer_before_exit() {
    let mut input = framed_json(&json!({"id": 1, "action": "ping", "params": {"delay_ms": 300}}));
    input.extend(framed_json(&json!({"id": 2, "action": "ping"})));
    let (frames, code, _) = Home::new().run_once(&[], &input);
    assert_eq!(code, Some(0));
    let mut ids: Vec<_> = frames.iter().map(|f| f["id"].clone()).collect();
    ids.sort_by_key(|v| v.as_i64());
    assert_eq!(ids, vec![json!(1), json!(2)]);
}

#[test]
fn logs_never_reach_stdout() {
    let home = Home::new();
    let mut cmd = home.command();
    cmd.env("PASSBRIDGE_LOG", "trace");
    let mut h = host::Host::start(&mut cmd);
    assert_eq!(h.request(&json!({"id": 1, "action": "status"}))["ok"], true);
    // Host::start's reader asserts every byte of stdout is a whole JSON frame.
    assert_eq!(h.close(), Some(0));
}

#[test]
fn unexpected_launch_arguments_get_a_typed_error_frame() {
    // Before: exit 1 with nothing on stdout, so the extension saw only "native host has exited".
    let home = Home::new();
    let input = framed_json(&json!({"id": 1, "action": "hello"}));
    let (frames, code, stderr) = home.run_once(&["chrome-extension://abc/", "--bogus"], &input);
    assert_eq!(code, Some(1));
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0]["id"].clone(), frames[0]["error"]["code"].clone()),
        (json!(1), json!("forbidden_caller"))
    );
    assert!(stderr.contains("unexpected launch arguments"), "{stderr}");
}

#[test]
fn the_schema_check_rejects_malformed_frames() {
    let bad = [
        json!({"id": 1, "ok": true}),
        json!({"id": 1, "ok": false, "error": {"code": "Bad Code", "message": "x"}}),
        json!({"id": 1, "ok": false, "error": {"code": "x"}}),
        json!({"id": {"a": 1}, "ok": true, "result": {}}),
        json!({"id": 1, "event": "progress", "ok": true}),
        json!({"id": 1, "ok": true, "result": []}),
    ];
    for v in bad {
        let rejected = std::panic::catch_unwind(|| host::assert_protocol_frame(&v)).is_err();
        assert!(rejected, "the schema accepted {v}");
    }
    host::assert_protocol_frame(&json!({"id": null, "ok": true, "result": {}}));
}

#[test]
fn a_nul_in_an_action_name_is_an_unknown_action_and_no_frame_is_cut() {
    // Before: the worker thread was named after the action and a NUL made the host panic
    // (exit 101), cutting the 900 KB reply being written at that moment.
    let pad = "p".repeat(900 * 1024);
    let mut input = framed_json(&json!({"id": 1, "action": "ping", "params": {"pad": pad}}));
    input.extend(framed_json(&json!({"id": 2, "action": "pi\u{0}ng"})));
    input.extend(framed_json(&json!({"id": 3, "action": "ping"})));
    let (frames, code, _) = Home::new().run_once(&[], &input);
    assert_eq!(code, Some(0));
    let by_id = |id: i64| frames.iter().find(|f| f["id"] == id).cloned().unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(
        by_id(1)["result"]["echo"]["pad"].as_str().unwrap().len(),
        pad.len()
    );
    assert_eq!(by_id(2)["error"]["code"], "unknown_action");
    assert_eq!(by_id(3)["ok"], true);
}

#[test]
fn ping_refuses_a_delay_above_the_documented_minute() {
    let mut input = framed_json(&json!({"id": 1, "action": "ping", "params": {"delay_ms": 60001}}));
    input.extend(framed_json(
        &json!({"id": 2, "action": "ping", "params": {"delay_ms": 0}}),
    ));
    let (frames, code, _) = Home::new().run_once(&[], &input);
    assert_eq!(code, Some(0));
    let f1 = frames.iter().find(|f| f["id"] == 1).unwrap();
    assert_eq!(f1["error"]["code"], "invalid_params");
    assert!(f1["error"]["message"].as_str().unwrap().contains("60000"));
    assert_eq!(frames.iter().find(|f| f["id"] == 2).unwrap()["ok"], true);
}

#[test]
fn a_refused_caller_gets_forbidden_caller_for_every_frame() {
    let home = allowlisted_home();
    let mut input = frame(b"\xff\xfe");
    input.extend(frame(b"{\"id\":"));
    input.extend(frame(b"[]"));
    input.extend(framed_json(&json!({"id": 4, "action": "hello"})));
    let (frames, code, _) = home.run_once(
        &["chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba/"],
        &input,
    );
    assert_eq!(code, Some(0));
    assert_eq!(frames.len(), 4);
    for f in &frames {
        assert_eq!(f["error"]["code"], "forbidden_caller", "{f}");
    }
    assert_eq!(frames[3]["id"], 4);
}

#[test]
fn pipelined_requests_beyond_the_in_flight_limit_are_queued_not_refused() {
    // 200 slow requests at once: before, everything past 64 got `busy`.
    let mut input = Vec::new();
    for i in 0..200 {
        input.extend(framed_json(
            &json!({"id": i, "action": "ping", "params": {"delay_ms": 20}}),
        ));
    }
    let (frames, code, _) = Home::new().run_once(&[], &input);
    assert_eq!(code, Some(0));
    assert_eq!(frames.len(), 200);
    assert!(frames.iter().all(|f| f["ok"] == true), "{frames:?}");
}

#[test]
fn cancel_reaches_a_request_still_waiting_for_a_worker() {
    let mut h = Home::new().spawn(&[]);
    for i in 0..64 {
        h.send(&json!({"id": i, "action": "ping", "params": {"delay_ms": 60000}}));
    }
    h.send(&json!({"id": "queued", "action": "ping", "params": {"delay_ms": 60000}}));
    let r = h.request(&json!({"id": "c", "action": "cancel", "params": {"target": "queued"}}));
    assert_eq!(r["result"]["cancelled"], true);
    assert_eq!(
        h.reply_for(&json!("queued")).0["error"]["code"],
        "cancelled"
    );
    for i in 0..64 {
        h.send(&json!({"id": format!("c{i}"), "action": "cancel", "params": {"target": i}}));
    }
    for i in 0..64 {
        assert_eq!(h.reply_for(&json!(i)).0["error"]["code"], "cancelled");
    }
    assert_eq!(h.close(), Some(0));
}

/// Resident memory of a process, from /proc (Linux only).
#[cfg(target_os = "linux")]
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[cfg(target_os = "linux")]
#[test]
fn memory_stays_bounded_when_the_browser_stops_reading() {
    // Before: 1,000 pings of 256 KB grew the host by 258 MB while nobody read its output
    // (256 of them here: 64 MiB of replies if they were queued).
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let home = Home::new();
    let mut child = home
        .command()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let n = 256;
    let one =
        framed_json(&json!({"id": 1, "action": "ping", "params": {"pad": "x".repeat(256 * 1024)}}));
    let written = std::sync::Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    let writer = std::thread::spawn(move || {
        for _ in 0..n {
            if stdin.write_all(&one).is_err() {
                return;
            }
            w.fetch_add(1, Ordering::SeqCst);
        }
    });
    // Wait until the host stops taking input (or took all of it), without reading its output.
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = written.load(Ordering::SeqCst);
        if now == last || now == n {
            break;
        }
        last = now;
    }
    let rss = rss_bytes(child.id());
    assert!(
        written.load(Ordering::SeqCst) < n,
        "the host kept reading while nobody read its replies"
    );
    assert!(rss < 40 << 20, "host RSS {} MiB while blocked", rss >> 20);
    // Reading resumes: every request is answered.
    let mut got = 0;
    let mut prefix = [0u8; 4];
    while got < n {
        stdout.read_exact(&mut prefix).unwrap();
        let mut body = vec![0; u32::from_ne_bytes(prefix) as usize];
        stdout.read_exact(&mut body).unwrap();
        got += 1;
    }
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
}
