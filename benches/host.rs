//! Host benchmarks, reported as ratios against a baseline measured in the same run:
//! a minimal echo host (benches/baseline/echo_host.rs) compiled here with `rustc -O`.
//!
//! - cold start: spawn, one `hello` frame, read the reply, wait for exit (one-shot `sendNativeMessage`);
//! - round trips: request/reply in lockstep on one persistent connection (`connectNative`);
//! - pipelined: many requests written at once, all replies read (the host serves them concurrently).
//!
//! Run: `cargo bench --bench host`. Numbers go to stdout and target/bench-host.json.

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

fn spawn(exe: &Path, home: &Path) -> Child {
    Command::new(exe)
        .arg("host")
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

fn pipelined(exe: &Path, home: &Path, n: usize) -> Duration {
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
    for _ in 0..n {
        read_frame(&mut stdout);
    }
    let d = t.elapsed();
    drop(writer.join().unwrap());
    c.wait().unwrap();
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes harness flags such as --bench; a filter that excludes us means skip.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "host".contains(a.as_str())) {
        return;
    }
    let passbridge = PathBuf::from(env!("CARGO_BIN_EXE_passbridge"));
    let tmp = tempfile::tempdir().unwrap();
    let baseline = build_baseline(tmp.path());
    let home = tmp.path().join("home");

    let (runs, n_rt, n_pipe) = (41, 2000, 2000);
    let (mut cold_p, mut cold_b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        // Interleaved, so background load hits both sides alike.
        cold_p.push(cold_start(&passbridge, &home));
        cold_b.push(cold_start(&baseline, &home));
    }
    let (mut rt_p, mut rt_b, mut pl_p, mut pl_b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        rt_p.push(round_trips(&passbridge, &home, n_rt));
        rt_b.push(round_trips(&baseline, &home, n_rt));
        pl_p.push(pipelined(&passbridge, &home, n_pipe));
        pl_b.push(pipelined(&baseline, &home, n_pipe));
    }
    let (cp, cb) = (median(cold_p), median(cold_b));
    let rate = |d: Duration, n: usize| n as f64 / d.as_secs_f64();
    let (rp, rb) = (rate(median(rt_p), n_rt), rate(median(rt_b), n_rt));
    let (pp, pb) = (rate(median(pl_p), n_pipe), rate(median(pl_b), n_pipe));

    println!("host benchmark (medians; baseline = minimal echo host built in this run)");
    println!(
        "{:<34} {:>14} {:>14} {:>8}",
        "measure", "passbridge", "baseline", "ratio"
    );
    println!(
        "{:<34} {:>11.2} ms {:>11.2} ms {:>7.2}x",
        "cold start + hello (one-shot)",
        ms(cp),
        ms(cb),
        cp.as_secs_f64() / cb.as_secs_f64()
    );
    println!(
        "{:<34} {:>10.0} /s {:>10.0} /s {:>7.2}x",
        "lockstep round trips (ping)",
        rp,
        rb,
        rb / rp
    );
    println!(
        "{:<34} {:>10.0} /s {:>10.0} /s {:>7.2}x",
        "pipelined requests (ping)",
        pp,
        pb,
        pb / pp
    );
    println!("(ratio = how many times the baseline's cost passbridge pays; lower is better)");
    let json = serde_json::json!({
        "cold_start_ms": {"passbridge": ms(cp), "baseline": ms(cb)},
        "round_trips_per_s": {"passbridge": rp, "baseline": rb},
        "pipelined_per_s": {"passbridge": pp, "baseline": pb},
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-host.json");
    let _ = std::fs::write(out, serde_json::to_vec_pretty(&json).unwrap());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
