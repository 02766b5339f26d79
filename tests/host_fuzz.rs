//! Fuzzing the whole host through the real binary: random and mutated frames (invalid UTF-8,
//! NUL, control and bidi characters in every string, deep nesting, huge numbers, wrong types
//! for every action's params from `hello`'s list, truncated and oversized prefixes).
//!
//! Asserted for every host process: exactly one well-formed final reply per request (the id
//! predicted by the library's own parser), whole frames only, every frame valid per
//! docs/protocol.schema.json, an exit code of 0 (2 after a deliberately broken stream, never
//! 101 or a signal), and resident memory below a bound while it runs.
//!
//! A few seconds by default. To run it for hours: `PASSBRIDGE_FUZZ_FRAMES=5000000
//! PASSBRIDGE_FUZZ_SEED=7 cargo test --release --test integration host_fuzz::`
//! (`PASSBRIDGE_FUZZ_FRAMES`: frames in total, default 2000; `PASSBRIDGE_FUZZ_SEED`: where the
//! generator starts, default random and printed, so a failure can be replayed).

use crate::support::host;

use host::{Home, frame};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// Frames per host process.
const BATCH: usize = 250;
/// The host must stay below this much resident memory whatever it is sent.
const RSS_LIMIT: u64 = 256 << 20;
/// How long to wait for a slow action on its own before cancelling it (not an assertion).
const SETTLE: Duration = Duration::from_millis(500);

/// xorshift64*: deterministic from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Param names the backends read, so wrong types reach real validation code.
const KEYS: &[&str] = &[
    "delay_ms",
    "target",
    "directory",
    "timeout_ms",
    "poll_interval_ms",
    "url",
    "uid",
    "uids",
    "website",
    "query",
    "offset",
    "limit",
    "reveal",
    "password",
    "name",
    "user",
    "id",
    "server",
    "operation",
    "key",
    "remember",
    "otp",
    "filename",
    "x",
];

fn nasty_string(r: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "\u{0}",
        "\u{1b}[31m",
        "\u{202e}",
        "\u{2066}",
        "\u{200f}",
        "\u{61c}",
        "\n",
        "\t",
        "\u{7f}",
        "..",
        "/",
        "/tmp",
        "../../etc",
        "a",
        "ü",
        "😀",
        "\u{feff}",
        "\u{fffd}",
        "%00",
        "\\",
        "\"",
        "chrome-extension://x/",
        "127.0.0.1:1",
        " ",
    ];
    let n = r.below(8);
    (0..n).map(|_| *r.pick(PIECES)).collect()
}

fn nasty_number(r: &mut Rng) -> Value {
    match r.below(8) {
        0 => json!(-1),
        1 => json!(u64::MAX),
        2 => json!(i64::MIN),
        3 => json!(1e308),
        4 => json!(0.5),
        5 => json!(r.below(70_000)),
        6 => json!(0),
        _ => json!(r.next()),
    }
}

fn nasty_value(r: &mut Rng, depth: usize) -> Value {
    match r.below(if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(r.chance(50)),
        2 | 3 => nasty_number(r),
        4 => json!(nasty_string(r)),
        5 => Value::Array((0..r.below(4)).map(|_| nasty_value(r, depth + 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..r.below(4) {
                m.insert(r.pick(KEYS).to_string(), nasty_value(r, depth + 1));
            }
            Value::Object(m)
        }
    }
}

fn nested(depth: usize, open: &str, close: &str) -> Vec<u8> {
    let mut v = open.repeat(depth).into_bytes();
    v.extend(close.repeat(depth).into_bytes());
    v
}

/// One frame body. `next_id` gives fresh ids so every reply can be told apart.
fn body(r: &mut Rng, actions: &[String], next_id: &mut u64) -> Vec<u8> {
    *next_id += 1;
    let id = *next_id;
    let action = if r.chance(90) {
        json!(r.pick(actions))
    } else {
        match r.below(4) {
            0 => json!(format!("{}\u{0}", r.pick(actions))),
            1 => json!(nasty_string(r)),
            2 => nasty_number(r),
            _ => json!(null),
        }
    };
    let params = if r.chance(85) {
        let mut m = serde_json::Map::new();
        for _ in 0..r.below(5) {
            m.insert(r.pick(KEYS).to_string(), nasty_value(r, 0));
        }
        // Keep most pings fast; the slow ones are cancelled.
        if m.get("delay_ms")
            .and_then(Value::as_u64)
            .is_some_and(|d| d > 50)
            && r.chance(95)
        {
            m.insert("delay_ms".into(), json!(r.below(50)));
        }
        Value::Object(m)
    } else {
        nasty_value(r, 0)
    };
    let mut req = json!({"id": id, "action": action, "params": params});
    if r.chance(10) {
        req["progress"] = nasty_value(r, 3);
    }
    if r.chance(5) {
        // A request the test cannot cancel must not be slow.
        req["id"] = nasty_value(r, 3);
        if let Some(p) = req["params"].as_object_mut() {
            p.remove("delay_ms");
        }
    }
    let text = req.to_string().into_bytes();
    match r.below(20) {
        // Mostly well-formed, so the actions themselves are fuzzed.
        0..=11 => text,
        12 => {
            let mut t = text;
            let at = r.below(t.len());
            t.insert(at, *r.pick(&[0xff, 0xc3, 0x80, 0xed, 0xf4]));
            t
        }
        13 => {
            let mut t = text;
            let at = r.below(t.len());
            t[at] ^= 1 << r.below(8);
            t
        }
        14 => {
            let mut t = text;
            t.truncate(r.below(t.len()));
            t
        }
        15 => nested(1 + r.below(100_000), "[", "]"),
        16 => {
            let d = 1 + r.below(5_000);
            let mut v = format!(r#"{{"id":{id},"action":"ping","params":"#).into_bytes();
            v.extend(nested(d, "{\"a\":", "}").iter().take(d * 5));
            v.extend(b"1".iter());
            v.extend("}".repeat(d + 2).into_bytes());
            v
        }
        17 => (0..r.below(64)).map(|_| r.next() as u8).collect(),
        18 => format!(
            r#"{{"id":{id},"action":"ping","params":{{"n":1{}}}}}"#,
            "0".repeat(r.below(2000))
        )
        .into_bytes(),
        _ => format!(
            r#"{{"id":{id},"action":"ping","params":{{"pad":"{}"}}}}"#,
            "x".repeat(r.below(300_000))
        )
        .into_bytes(),
    }
}

/// The id the host will answer with: its own parser decides.
fn expected_id(body: &[u8]) -> String {
    match passbridge::api::parse_request(body) {
        Ok(r) => r.id.to_string(),
        Err((id, _)) => id.to_string(),
    }
}

#[cfg(target_os = "linux")]
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(not(target_os = "linux"))]
fn rss_bytes(_pid: u32) -> Option<u64> {
    None
}

/// How the input of one process ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Clean,
    TruncatedPrefix,
    TruncatedBody,
    Oversized,
}

fn run_batch(r: &mut Rng, home: &Home, actions: &[String], next_id: &mut u64, frames: usize) {
    let ending = match r.below(8) {
        0 => Ending::TruncatedPrefix,
        1 => Ending::TruncatedBody,
        2 => Ending::Oversized,
        _ => Ending::Clean,
    };
    let bodies: Vec<Vec<u8>> = (0..frames).map(|_| body(r, actions, next_id)).collect();
    let mut expected: HashMap<String, usize> = HashMap::new();
    for b in &bodies {
        *expected.entry(expected_id(b)).or_default() += 1;
    }
    let mut child = home
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // The reader: whole frames only, each one checked against the contract.
    let (tx, rx) = mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        loop {
            let mut prefix = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                match stdout.read(&mut prefix[got..]) {
                    Ok(0) => {
                        assert_eq!(got, 0, "the host wrote a cut-off length prefix");
                        return;
                    }
                    Ok(n) => got += n,
                    Err(e) => panic!("reading the host's output: {e}"),
                }
            }
            let len = u32::from_ne_bytes(prefix) as usize;
            assert!(len <= 1024 * 1024, "frame above 1 MiB: {len}");
            let mut body = vec![0; len];
            stdout
                .read_exact(&mut body)
                .expect("the host wrote a cut-off frame");
            let v: Value = serde_json::from_slice(&body).expect("a frame that is not JSON");
            host::assert_protocol_frame(&v);
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let ending_bytes: Vec<u8> = match ending {
        Ending::Clean => Vec::new(),
        Ending::TruncatedPrefix => vec![1, 0, 0][..1 + r.below(3)].to_vec(),
        Ending::TruncatedBody => {
            let mut v = 100u32.to_ne_bytes().to_vec();
            v.extend_from_slice(b"{\"id\":");
            v
        }
        Ending::Oversized => u32::MAX.to_ne_bytes().to_vec(),
    };
    let clean = matches!(ending, Ending::Clean);
    // The writer keeps stdin open after a clean batch, so slow requests can still be cancelled.
    let writer = std::thread::spawn(move || {
        for b in &bodies {
            if stdin.write_all(&frame(b)).is_err() {
                return None;
            }
        }
        let _ = stdin.write_all(&ending_bytes);
        clean.then_some(stdin)
    });
    let mut writer = Some(writer);
    let mut stdin = None;
    let mut replies: HashMap<String, usize> = HashMap::new();
    let (mut peak_rss, mut finals, mut quiet) = (0, 0, Duration::ZERO);
    let mut cancelled = false;
    loop {
        let total: usize = expected.values().sum();
        if finals == total && clean {
            break;
        }
        if let Some(rss) = rss_bytes(pid) {
            peak_rss = peak_rss.max(rss);
        }
        match rx.recv_timeout(SETTLE) {
            Ok(v) => {
                quiet = Duration::ZERO;
                if v.get("event").is_none() {
                    *replies.entry(v["id"].to_string()).or_default() += 1;
                    finals += 1;
                }
            }
            // The host ended (after a broken stream): everything it wrote has been read.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                quiet += SETTLE;
                assert!(
                    quiet < host::TIMEOUT,
                    "the host went quiet: {finals} of {total} replies"
                );
                let written = writer.as_ref().is_some_and(|w| w.is_finished());
                if clean && written && !cancelled {
                    // Something slow still runs (a long ping, a backend waiting on the
                    // network): cancel whatever has no answer yet.
                    stdin = writer.take().unwrap().join().unwrap();
                    let input = stdin.as_mut().expect("stdin kept open");
                    let missing: Vec<String> = expected
                        .iter()
                        .filter(|(id, n)| replies.get(*id).copied().unwrap_or(0) < **n)
                        .map(|(id, _)| id.clone())
                        .collect();
                    for (i, id) in missing.iter().enumerate() {
                        let Ok(target) = serde_json::from_str::<Value>(id) else {
                            continue;
                        };
                        if target.is_null() {
                            continue;
                        }
                        let cid = format!("cancel-{i}");
                        let c =
                            json!({"id": cid, "action": "cancel", "params": {"target": target}});
                        let _ = input.write_all(&frame(c.to_string().as_bytes()));
                        *expected.entry(json!(cid).to_string()).or_default() += 1;
                    }
                    cancelled = true;
                }
            }
        }
    }
    drop(stdin);
    if let Some(w) = writer.take() {
        drop(w.join().unwrap());
    }
    let status = wait(&mut child);
    reader.join().expect("the frame reader failed");
    for v in rx.try_iter() {
        if v.get("event").is_none() {
            *replies.entry(v["id"].to_string()).or_default() += 1;
        }
    }
    check(&expected, &replies, ending, status, peak_rss);
}

fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + host::TIMEOUT;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the host did not exit"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn check(
    expected: &HashMap<String, usize>,
    replies: &HashMap<String, usize>,
    ending: Ending,
    status: std::process::ExitStatus,
    peak_rss: u64,
) {
    assert!(
        peak_rss < RSS_LIMIT,
        "host RSS reached {} MiB",
        peak_rss >> 20
    );
    match ending {
        Ending::Clean => {
            assert_eq!(status.code(), Some(0), "host exit {status:?}");
            for (id, n) in expected {
                assert_eq!(replies.get(id), Some(n), "final replies for id {id}");
            }
            for id in replies.keys() {
                assert!(expected.contains_key(id), "a reply for unknown id {id}");
            }
        }
        _ => {
            // A broken stream ends the host (exit 2) and abandons queued work: at most one
            // reply per request, plus the `too_large` answer to an oversized prefix.
            assert_eq!(
                status.code(),
                Some(2),
                "host exit {status:?} after {ending:?}"
            );
            for (id, n) in replies {
                let allowed = expected.get(id).copied().unwrap_or(0)
                    + usize::from(id == "null" && matches!(ending, Ending::Oversized));
                assert!(*n <= allowed, "{n} final replies for id {id}");
            }
        }
    }
}

#[test]
fn fuzzed_frames_never_crash_the_host_and_every_request_gets_one_reply() {
    let total: usize = std::env::var("PASSBRIDGE_FUZZ_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let seed: u64 = std::env::var("PASSBRIDGE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("fuzz: {total} frames, PASSBRIDGE_FUZZ_SEED={seed}");
    let mut r = Rng(seed | 1);
    let home = Home::new();
    let (frames, _, _) = home.run_once(&[], &frame(br#"{"id":0,"action":"hello"}"#));
    let actions: Vec<String> = frames[0]["result"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let mut next_id = 0;
    let mut sent = 0;
    while sent < total {
        let n = BATCH.min(total - sent);
        run_batch(&mut r, &home, &actions, &mut next_id, n);
        sent += n;
    }
}
