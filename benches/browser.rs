//! passbridge through a real browser (issue 14): headless Chromium loads the test extension
//! (tests/browser/), which opens one `connectNative` port to passbridge and one to a minimal C
//! echo host (benches/baseline/echo_host.c, built here with `cc -O2`) registered under another
//! name, and times lockstep round trips (`ping`; the echo host sends the request back) on both,
//! the hosts taking turns in one browser session. It then times one-shot `sendNativeMessage`
//! calls (`hello`: a host process per message), also in turns. Both hosts are registered in a
//! temporary HOME: passbridge by `passbridge install`, the echo host by a copy of that manifest
//! with its own name and path.
//!
//! Round trips are timed per batch (a service worker's clock moves in 0.1 ms steps): each
//! sample is the mean of one batch; the median of those is reported.
//!
//! Run: `cargo bench --bench browser` (Chromium from Debian's `chromium` package). Reported,
//! never asserted; not part of the test suite. Environment: PASSBRIDGE_BENCH_ROUNDS (default
//! 40) batches of PASSBRIDGE_BENCH_PER_ROUND (default 50) round trips per host, and
//! PASSBRIDGE_BENCH_COLD (default 30) one-shot calls per host.
#![cfg(target_os = "linux")]

#[allow(dead_code)]
#[path = "../tests/support/browser/mod.rs"]
mod browser;

use browser::{Kind, Sandbox};
use passbridge::config::HOST_NAME;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The echo host's name in the browser (native messaging names: lowercase, digits, `.`, `_`).
const ECHO_NAME: &str = "org.passbridge.bench_echo";

fn build_echo(out_dir: &Path) -> PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/baseline/echo_host.c");
    let exe = out_dir.join("echo_host_c");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(src)
        .status()
        .expect("run cc");
    assert!(status.success(), "C baseline build failed");
    exe
}

/// Registers `exe` as [`ECHO_NAME`] next to the manifest `passbridge install` wrote, admitting
/// the same extensions.
fn register_echo(sb: &Sandbox, exe: &Path) {
    let dir = sb.home().join(".config/chromium/NativeMessagingHosts");
    let ours = dir.join(format!("{HOST_NAME}.json"));
    let mut m: Value = serde_json::from_slice(
        &std::fs::read(&ours).unwrap_or_else(|e| panic!("{}: {e}", ours.display())),
    )
    .unwrap();
    m["name"] = json!(ECHO_NAME);
    m["path"] = json!(exe);
    m["description"] = json!("passbridge benchmark baseline: a C echo host");
    std::fs::write(
        dir.join(format!("{ECHO_NAME}.json")),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn samples(report: &Value, key: &str, i: usize) -> Vec<f64> {
    let mut v: Vec<f64> = report[key][i]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} samples in {report}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    // `cargo bench` passes harness flags such as --bench; a filter that excludes us means skip.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "browser".contains(a.as_str())) {
        return;
    }
    let Some(chromium) = browser::require(Kind::Chromium) else {
        return;
    };
    // The host logs as by default (warnings), not at the tests' debug level.
    let sb = Sandbox::quiet();
    let echo = build_echo(sb.home());
    browser::register(Kind::Chromium, &sb, &browser::extension_id(Kind::Chromium));
    register_echo(&sb, &echo);
    let (rounds, per_round, cold_rounds) = (
        env_usize("PASSBRIDGE_BENCH_ROUNDS", 40),
        env_usize("PASSBRIDGE_BENCH_PER_ROUND", 50),
        env_usize("PASSBRIDGE_BENCH_COLD", 30),
    );
    // `Launched::start` adds the host name and the report server's port.
    let config = json!({
        "mode": "bench",
        "bench": {
            "hosts": [HOST_NAME, ECHO_NAME],
            "rounds": rounds,
            "per_round": per_round,
            "cold_rounds": cold_rounds,
        },
    });
    let report = browser::Launched::start(Kind::Chromium, &chromium, &sb, config)
        .report()
        .unwrap_or_else(|why| panic!("benchmark: {why}"));
    let bench = &report["bench"];
    if let Some(e) = bench.get("probe_error") {
        panic!("the benchmark failed in the browser: {e}");
    }
    println!(
        "through headless Chromium ({}), per host: {rounds} batches of {per_round} lockstep round \
         trips (median of the batch means) and {cold_rounds} one-shot calls (median)",
        bench["user_agent"].as_str().unwrap_or("?"),
    );
    println!(
        "{:<40} {:>12} {:>12} {:>8}",
        "measure", "passbridge", "C echo", "ratio"
    );
    let mut json = serde_json::Map::new();
    for (key, name) in [
        ("rtt_ms", "connectNative round trip (ping)"),
        ("cold_ms", "sendNativeMessage (hello, new process)"),
    ] {
        let (pb, ec) = (samples(bench, key, 0), samples(bench, key, 1));
        let (m0, m1) = (quantile(&pb, 0.5), quantile(&ec, 0.5));
        println!("{name:<40} {m0:>9.3} ms {m1:>9.3} ms {:>7.2}x", m0 / m1);
        println!(
            "{:<40} {:>9.3} ms {:>9.3} ms",
            "  (p10 / p90)",
            quantile(&pb, 0.1),
            quantile(&ec, 0.1)
        );
        println!(
            "{:<40} {:>9.3} ms {:>9.3} ms",
            "",
            quantile(&pb, 0.9),
            quantile(&ec, 0.9)
        );
        json.insert(
            key.into(),
            json!({"passbridge_median": m0, "echo_median": m1, "ratio": m0 / m1}),
        );
    }
    println!("(ratio = passbridge's median over the echo host's; lower is better)");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-browser.json");
    let _ = std::fs::write(
        out,
        serde_json::to_vec_pretty(&Value::Object(json)).unwrap(),
    );
}
