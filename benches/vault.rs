//! Vault benchmarks at 1k, 10k and 100k credentials, each beside a baseline measured in the
//! same run on the same machine:
//!
//! - unlock + first search   vs the floor of any encrypted vault: reading the same number of
//!   files and bytes and decrypting them with AES-256-GCM (aws-lc), one thread;
//! - search after unlock     vs a linear scan comparing every stored website string;
//! - add one and persist     vs writing + fsyncing a plain file as large as the vault
//!   (what any single-file design pays per change, at least).
//!
//! `cargo bench --bench vault` prints a table of means, growth and ratios at the end.
//! Sample sizes are small so the whole run stays within a few minutes on two cores.

use aws_lc_rs::aead;
use criterion::{BenchmarkId, Criterion, SamplingMode, black_box};
use passbridge::anotherpass::seam::{ClientKey, Credential};
use passbridge::api::params::Page;
use passbridge::vault::{self, SystemClock, search::Query};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const GROUPS: [(&str, &str); 3] = [
    ("unlock_first_search", "read_decrypt_floor"),
    ("search_after_unlock", "scan_websites"),
    ("add_one_persist", "write_fsync_plain_file"),
];

fn key() -> ClientKey {
    ClientKey::from_bytes(&[42; 32]).unwrap()
}

fn credential(i: usize) -> Credential {
    let mut c = Credential::default();
    c.uid = Some(format!(
        "{:08x}-4b1d-4c2e-9f3a-{:012x}",
        i * 2_654_435_761 % (1 << 32),
        i
    ));
    c.readable_uid = format!("{:08x}", i);
    c.name = format!("Site number {i}");
    c.user = format!("user{i}@mail.example");
    c.password = format!("Pw!{:016x}{:08x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15), i);
    c.website = if i.is_multiple_of(10) {
        format!("https://login{i}.shared.example/sign-in")
    } else {
        format!("https://site-{i}.example/login")
    };
    if i.is_multiple_of(7) {
        c.otp = format!("otpauth://totp/Site{i}?secret=JBSWY3DPEHPK3PXP&issuer=Site{i}");
    }
    c
}

struct Fixture {
    _home: tempfile::TempDir,
    data_dir: PathBuf,
    vault_bytes: u64,
    plain: PathBuf,
    /// The vault's files, each sealed as one AES-256-GCM message: the decryption floor.
    floor: Vec<PathBuf>,
    websites: Vec<String>,
}

fn floor_key() -> aead::LessSafeKey {
    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &[7; 32]).unwrap())
}

/// Seals a copy of every vault file into `out` (same sizes plus a tag, same file count).
fn make_floor(vault_dir: &Path, out: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(out).unwrap();
    let key = floor_key();
    let mut files = Vec::new();
    for e in std::fs::read_dir(vault_dir).unwrap().flatten() {
        let name = e.file_name();
        if !name.to_str().unwrap().ends_with(".pbv") {
            continue;
        }
        let mut buf = std::fs::read(e.path()).unwrap();
        let nonce = aead::Nonce::assume_unique_for_key([0; 12]);
        key.seal_in_place_append_tag(nonce, aead::Aad::empty(), &mut buf)
            .unwrap();
        let to = out.join(name);
        std::fs::write(&to, &buf).unwrap();
        files.push(to);
    }
    files
}

/// Reads and decrypts every floor file.
fn read_decrypt(files: &[PathBuf], key: &aead::LessSafeKey) -> usize {
    let mut total = 0;
    for f in files {
        let mut buf = std::fs::read(f).unwrap();
        let nonce = aead::Nonce::assume_unique_for_key([0; 12]);
        total += key
            .open_in_place(nonce, aead::Aad::empty(), &mut buf)
            .unwrap()
            .len();
    }
    total
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn fixture(n: usize) -> Fixture {
    let home = tempfile::tempdir().unwrap();
    let data_dir = home.path().join("data");
    let v = open_state(&data_dir);
    v.unlock_with_key(&key(), true).unwrap();
    let creds: Vec<Credential> = (0..n).map(credential).collect();
    v.save(&creds).unwrap();
    let vault_bytes = dir_size(v.dir());
    let plain = home.path().join("plain.bin");
    std::fs::write(&plain, vec![0x5a; vault_bytes as usize]).unwrap();
    let floor = make_floor(v.dir(), &home.path().join("floor"));
    Fixture {
        floor,
        websites: creds.iter().map(|c| c.website.clone()).collect(),
        _home: home,
        data_dir,
        vault_bytes,
        plain,
    }
}

fn open_state(data_dir: &Path) -> vault::State {
    let paths = passbridge::config::Paths {
        config_dir: data_dir.with_file_name("config"),
        data_dir: data_dir.to_path_buf(),
    };
    vault::State::with_clock(
        &paths,
        Duration::from_secs(3600),
        Arc::new(SystemClock::default()),
    )
}

fn page() -> Page {
    Page {
        offset: 0,
        limit: 20,
    }
}

fn benches(c: &mut Criterion) {
    for n in SIZES {
        let f = fixture(n);
        eprintln!(
            "vault with {n} credentials: {} bytes on disk",
            f.vault_bytes
        );
        let query = Query::parse(&format!("https://site-{}.example/account", n / 2 + 1)).unwrap();
        let (samples, secs) = if n >= 100_000 { (10, 4) } else { (10, 2) };

        let mut g = c.benchmark_group(GROUPS[0].0);
        g.sample_size(samples)
            .measurement_time(Duration::from_secs(secs))
            .warm_up_time(Duration::from_millis(500))
            .sampling_mode(SamplingMode::Flat);
        g.bench_function(BenchmarkId::new("vault", n), |b| {
            // Dropping the state (zeroizing every credential) is locking, not unlocking: it
            // happens outside the measurement.
            b.iter_with_large_drop(|| {
                let v = open_state(&f.data_dir);
                v.unlock_with_key(&key(), false).unwrap();
                let found = v.search(&query, page()).unwrap();
                assert_eq!(found.total, 1);
                (v, found)
            })
        });
        let floor = floor_key();
        g.bench_function(BenchmarkId::new(GROUPS[0].1, n), |b| {
            b.iter(|| black_box(read_decrypt(&f.floor, &floor)))
        });
        g.finish();

        let v = open_state(&f.data_dir);
        v.unlock_with_key(&key(), false).unwrap();
        let mut g = c.benchmark_group(GROUPS[1].0);
        g.sample_size(samples)
            .measurement_time(Duration::from_secs(secs))
            .warm_up_time(Duration::from_millis(500));
        g.bench_function(BenchmarkId::new("vault", n), |b| {
            b.iter(|| black_box(v.search(&query, page()).unwrap()))
        });
        let host = format!("site-{}.example", n / 2 + 1);
        g.bench_function(BenchmarkId::new(GROUPS[1].1, n), |b| {
            b.iter(|| {
                black_box(
                    f.websites
                        .iter()
                        .filter(|w| w.contains(host.as_str()))
                        .count(),
                )
            })
        });
        g.finish();

        let mut g = c.benchmark_group(GROUPS[2].0);
        g.sample_size(samples)
            .measurement_time(Duration::from_secs(secs))
            .warm_up_time(Duration::from_millis(500))
            .sampling_mode(SamplingMode::Flat);
        let mut next = n;
        g.bench_function(BenchmarkId::new("vault", n), |b| {
            b.iter(|| {
                next += 1;
                black_box(v.save(&[credential(next)]).unwrap())
            })
        });
        let bytes = vec![0xa5u8; f.vault_bytes as usize];
        let out = f.plain.with_extension("out");
        g.bench_function(BenchmarkId::new(GROUPS[2].1, n), |b| {
            b.iter(|| {
                let mut file = std::fs::File::create(&out).unwrap();
                file.write_all(&bytes).unwrap();
                file.sync_all().unwrap();
            })
        });
        g.finish();
    }
}

/// Mean time of one benchmark from criterion's estimates, in nanoseconds.
fn mean_ns(group: &str, function: &str, n: usize) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let path = target
        .join("criterion")
        .join(group)
        .join(function)
        .join(n.to_string())
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn human(ns: f64) -> String {
    match ns {
        x if x >= 1e9 => format!("{:.2} s", x / 1e9),
        x if x >= 1e6 => format!("{:.2} ms", x / 1e6),
        x if x >= 1e3 => format!("{:.1} µs", x / 1e3),
        x => format!("{x:.0} ns"),
    }
}

fn print_table() {
    println!(
        "\n| operation | n | vault | growth vs previous n | baseline | baseline time | vault / baseline |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|");
    for (group, baseline) in GROUPS {
        let mut prev: Option<f64> = None;
        for n in SIZES {
            let (Some(v), Some(b)) = (mean_ns(group, "vault", n), mean_ns(group, baseline, n))
            else {
                continue;
            };
            let growth = prev.map_or("–".to_owned(), |p| format!("×{:.1} (n ×10)", v / p));
            let ratio = v / b;
            let ratio = if ratio < 0.1 {
                format!("{ratio:.4}")
            } else {
                format!("{ratio:.2}")
            };
            println!(
                "| {group} | {n} | {} | {growth} | {baseline} | {} | {ratio} |",
                human(v),
                human(b),
            );
            prev = Some(v);
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    // `--list` (test runners enumerating benchmarks) and test mode measure nothing: no table.
    if !std::env::args().any(|a| a == "--list" || a == "--test") {
        print_table();
    }
}
