//! Host benchmarks, reported as ratios against two baselines measured in the same run:
//! - a minimal echo host (benches/baseline/echo_host.rs) compiled here with `rustc -O`;
//! - a minimal Rust serde host: this bench binary itself, started with
//!   `PASSBRIDGE_BENCH_SERDE_HOST=1`; it reads a frame, parses it with serde_json and answers
//!   `{"id", "ok", "result": {"echo": params}}` like passbridge's `ping` (see [`serde_host`]).
//!
//! - cold start: spawn, one `hello` frame, read the reply, wait for exit (one-shot `sendNativeMessage`);
//! - round trips: request/reply in lockstep on one persistent connection (`connectNative`);
//! - pipelined: many requests written at once, all replies read; replies that are not `ok`
//!   (e.g. `busy`) are counted as refused and must be 0.
//!
//! Run: `cargo bench --bench host` (`PASSBRIDGE_BENCH_BIN=path` to measure another build).
//! Numbers go to stdout and target/bench-host.json.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_ne_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn read_frame(r: &mut impl Read) -> Vec<u8> {
    let mut p = [0u8; 4];
    r.read_exact(&mut p).expect("prefix");
    let mut b = vec![0; u32::from_ne_bytes(p) as usize];
    r.read_exact(&mut b).expect("body");
    b
}

fn build_baseline(out_dir: &Path) -> PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/baseline/echo_host.rs");
    let exe = out_dir.join("echo_host");
    let status = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["-C", "opt-level=3", "--edition", "2021", "-o"])
        .arg(&exe)
        .arg(src)
        .status()
        .expect("run rustc");
    assert!(status.success(), "baseline build failed");
    exe
}

const SERDE_HOST_ENV: &str = "PASSBRIDGE_BENCH_SERDE_HOST";

/// The second baseline: the least a Rust host with serde_json does per message.
fn serde_host() {
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    let mut prefix = [0u8; 4];
    while input.read_exact(&mut prefix).is_ok() {
        let mut body = vec![0u8; u32::from_ne_bytes(prefix) as usize];
        if input.read_exact(&mut body).is_err() {
            break;
        }
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let reply =
            serde_json::json!({"id": req["id"], "ok": true, "result": {"echo": req["params"]}});
        let mut frame = vec![0u8; 4];
        serde_json::to_writer(&mut frame, &reply).unwrap();
        let len = (frame.len() - 4) as u32;
        frame[..4].copy_from_slice(&len.to_ne_bytes());
        if output
            .write_all(&frame)
            .and_then(|_| output.flush())
            .is_err()
        {
            break;
        }
    }
}

fn spawn(exe: &Path, home: &Path) -> Child {
    Command::new(exe)
        .arg("host")
        .env(SERDE_HOST_ENV, "1")
        .env("PASSBRIDGE_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn host")
}

fn cold_start(exe: &Path, home: &Path) -> Duration {
    let t = Instant::now();
    let mut c = spawn(exe, home);
    let mut stdin = c.stdin.take().unwrap();
    stdin
        .write_all(&frame(br#"{"id":1,"action":"hello"}"#))
        .unwrap();
    drop(stdin);
    let reply = read_frame(c.stdout.as_mut().unwrap());
    assert!(!reply.is_empty());
    c.wait().unwrap();
    t.elapsed()
}

fn round_trips(exe: &Path, home: &Path, n: usize) -> Duration {
    let mut c = spawn(exe, home);
    let mut stdin = c.stdin.take().unwrap();
    let mut stdout = c.stdout.take().unwrap();
    let req = frame(br#"{"id":1,"action":"ping","params":{"site":"example.org"}}"#);
    // One warm-up exchange so process start is not counted.
    stdin.write_all(&req).unwrap();
    read_frame(&mut stdout);
    let t = Instant::now();
    for _ in 0..n {
        stdin.write_all(&req).unwrap();
        read_frame(&mut stdout);
    }
    let d = t.elapsed();
    drop(stdin);
    c.wait().unwrap();
    d
}

/// Time to answer `n` pipelined pings, and how many replies were not `ok`.
fn pipelined(exe: &Path, home: &Path, n: usize) -> (Duration, usize) {
    let mut c = spawn(exe, home);
    let mut stdin = c.stdin.take().unwrap();
    let mut stdout = c.stdout.take().unwrap();
    let mut all = Vec::new();
    for i in 0..n {
        all.extend(frame(format!(r#"{{"id":{i},"action":"ping"}}"#).as_bytes()));
    }
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&all).unwrap();
        stdin
    });
    let replies: Vec<Vec<u8>> = (0..n).map(|_| read_frame(&mut stdout)).collect();
    let d = t.elapsed();
    drop(writer.join().unwrap());
    c.wait().unwrap();
    let refused = replies
        .iter()
        .filter(|r| {
            serde_json::from_slice::<serde_json::Value>(r)
                .is_ok_and(|v| v.get("ok").is_some_and(|ok| ok != true))
        })
        .count();
    (d, refused)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::var_os(SERDE_HOST_ENV).is_some() {
        return serde_host();
    }
    // `cargo bench` passes harness flags such as --bench; a filter that excludes us means skip.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "host".contains(a.as_str())) {
        return;
    }
    // PASSBRIDGE_BENCH_BIN measures another build (e.g. the previous release) against the
    // same baselines.
    let passbridge = std::env::var_os("PASSBRIDGE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_passbridge")));
    let serde = std::env::current_exe().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let echo = build_baseline(tmp.path());
    let home = tmp.path().join("home");
    let hosts = [&passbridge, &echo, &serde];

    let (runs, n_rt, n_pipe) = (41, 2000, 10_000);
    let mut cold = [vec![], vec![], vec![]];
    for _ in 0..runs {
        // Interleaved, so background load hits every host alike.
        for (i, h) in hosts.iter().enumerate() {
            cold[i].push(cold_start(h, &home));
        }
    }
    let (mut rt, mut pl) = ([vec![], vec![], vec![]], [vec![], vec![], vec![]]);
    let mut refused = 0;
    for _ in 0..5 {
        for (i, h) in hosts.iter().enumerate() {
            rt[i].push(round_trips(h, &home, n_rt));
            let (d, r) = pipelined(h, &home, n_pipe);
            pl[i].push(d);
            if i == 0 {
                refused += r;
            }
        }
    }
    let rate = |d: Duration, n: usize| n as f64 / d.as_secs_f64();
    let c: Vec<Duration> = cold.into_iter().map(median).collect();
    let r: Vec<f64> = rt.into_iter().map(|v| rate(median(v), n_rt)).collect();
    let p: Vec<f64> = pl.into_iter().map(|v| rate(median(v), n_pipe)).collect();

    println!("host benchmark (medians; baselines built and measured in this run)");
    println!(
        "{:<32} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "measure", "passbridge", "echo host", "serde host", "vs echo", "vs serde"
    );
    println!(
        "{:<32} {:>9.2} ms {:>9.2} ms {:>9.2} ms {:>8.2}x {:>8.2}x",
        "cold start + hello (one-shot)",
        ms(c[0]),
        ms(c[1]),
        ms(c[2]),
        c[0].as_secs_f64() / c[1].as_secs_f64(),
        c[0].as_secs_f64() / c[2].as_secs_f64()
    );
    for (name, v) in [
        ("lockstep round trips (ping)", &r),
        ("pipelined requests (ping)", &p),
    ] {
        println!(
            "{:<32} {:>9.0} /s {:>9.0} /s {:>9.0} /s {:>8.2}x {:>8.2}x",
            name,
            v[0],
            v[1],
            v[2],
            v[1] / v[0],
            v[2] / v[0]
        );
    }
    println!(
        "refused (not ok) replies in passbridge's pipelined runs: {refused} of {}",
        5 * n_pipe
    );
    println!("(ratio = how many times the baseline's cost passbridge pays; lower is better)");
    let json = serde_json::json!({
        "cold_start_ms": {"passbridge": ms(c[0]), "echo": ms(c[1]), "serde": ms(c[2])},
        "round_trips_per_s": {"passbridge": r[0], "echo": r[1], "serde": r[2]},
        "pipelined_per_s": {"passbridge": p[0], "echo": p[1], "serde": p[2]},
        "pipelined_refused": refused,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-host.json");
    let _ = std::fs::write(out, serde_json::to_vec_pretty(&json).unwrap());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
