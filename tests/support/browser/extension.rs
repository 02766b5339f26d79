//! The test extensions in tests/browser/: their ids, and a per-run copy with its config.json
//! (a directory for Chromium's --load-extension, an .xpi for Firefox).

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
/// Shared by both extensions.
const PROBE: &str = "probe.js";

pub fn manifest(browser_dir: &str) -> Value {
    let path = Path::new(FIXTURES).join(browser_dir).join("manifest.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Chromium's id for an extension whose manifest has `"key"` (base64 DER of its RSA public key):
/// the first 32 hex digits of SHA-256(DER), each digit 0-f written as a letter a-p.
pub fn chromium_id(key_b64: &str) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .expect("manifest key is base64");
    Sha256::digest(der)[..16]
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .map(|nibble| char::from(b'a' + nibble))
        .collect()
}

/// The three files of a run: the browser's manifest, the shared probe, and `config`.
fn files(browser_dir: &str, config: &Value) -> Vec<(&'static str, Vec<u8>)> {
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    vec![
        (
            "manifest.json",
            read(Path::new(FIXTURES).join(browser_dir).join("manifest.json")),
        ),
        (PROBE, read(Path::new(FIXTURES).join(PROBE))),
        ("config.json", serde_json::to_vec_pretty(config).unwrap()),
    ]
}

/// Writes the unpacked extension into `dir` (created).
pub fn stage_dir(browser_dir: &str, config: &Value, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files(browser_dir, config) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Writes the extension as an .xpi (a plain zip; Firefox accepts stored entries).
pub fn stage_xpi(browser_dir: &str, config: &Value, xpi: &Path) {
    std::fs::create_dir_all(xpi.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(xpi).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files(browser_dir, config) {
        zip.start_file(name, opts).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
}
