//! Round trips between passbridge's Passman crypto and the real `sjcl` library from the npm
//! registry (tests/node, installed by `tests/run.sh deps` with `npm ci --prefix tests/node`):
//! Rust encrypts → sjcl decrypts, sjcl encrypts → Rust decrypts, with 13-byte (short) and 12-byte
//! (≥ 64 KiB) CCM nonces, and a wrong key failing the tag check on both sides. Skipped with a
//! message when node or tests/node/node_modules is missing, except under CI, where it fails.

use crate::support::node;
use passbridge::passman::credential::{decrypt_value, encrypt_value};
use passbridge::passman::sjcl::{Keyring, SjclError, length_bytes};
use serde_json::{Value, json};
use std::path::Path;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");

fn sjcl_ready() -> bool {
    let installed = Path::new(DIR)
        .join("node_modules/sjcl/package.json")
        .exists();
    let missing = if !node::installed() {
        Some("node is not installed")
    } else if !installed {
        Some(
            "tests/node/node_modules is missing (run `npm ci --prefix tests/node`, or tests/run.sh deps)",
        )
    } else {
        None
    };
    node::ready("the sjcl cross-check", missing)
}

fn sjcl(request: Value) -> Value {
    let tool = Path::new(DIR).join("sjcl_tool.js");
    node::json(&[tool.to_str().unwrap()], &request)
}

/// A short plaintext (13-byte nonce) and one of 70,000 bytes (12-byte nonce).
fn plaintexts() -> Vec<String> {
    let long: String = "passman-".repeat(70_000 / 8);
    assert_eq!(
        length_bytes(long.len(), 16),
        3,
        "the long text takes the 12-byte nonce"
    );
    vec!["\"hunter2\"".into(), format!("\"{long}\"")]
}

#[test]
fn rust_encrypts_sjcl_decrypts() {
    if !sjcl_ready() {
        return;
    }
    let k = Keyring::new("vault key with ünïcode");
    for pt in plaintexts() {
        let stored = k.encrypt(pt.as_bytes());
        let r =
            sjcl(json!({"op": "decrypt", "password": "vault key with ünïcode", "stored": stored}));
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["plaintext"].as_str().unwrap(), pt);
        assert_eq!(
            r["params_ok"], true,
            "Passman's sjcl would refuse the parameters"
        );
    }
    // A whole credential field, as the web app reads it.
    let stored = encrypt_value(&k, &json!({"text": "tag"}));
    let r = sjcl(json!({"op": "decrypt", "password": "vault key with ünïcode", "stored": stored}));
    assert_eq!(r["plaintext"], r#"{"text":"tag"}"#);
}

#[test]
fn sjcl_encrypts_rust_decrypts() {
    if !sjcl_ready() {
        return;
    }
    let k = Keyring::new("my vault key");
    for pt in plaintexts() {
        let r = sjcl(json!({"op": "encrypt", "password": "my vault key", "plaintext": pt}));
        let stored = r["stored"].as_str().unwrap();
        assert_eq!(&*k.decrypt(stored).unwrap(), pt.as_bytes());
    }
    let r = sjcl(
        json!({"op": "encrypt", "password": "my vault key", "plaintext": "[{\"text\":\"a\"}]"}),
    );
    assert_eq!(
        decrypt_value(&k, r["stored"].as_str().unwrap()),
        Some(json!([{"text": "a"}]))
    );
}

#[test]
fn a_wrong_key_fails_the_tag_check_on_both_sides() {
    if !sjcl_ready() {
        return;
    }
    for pt in plaintexts() {
        let stored = Keyring::new("right").encrypt(pt.as_bytes());
        let r = sjcl(json!({"op": "decrypt", "password": "wrong", "stored": stored}));
        assert_eq!(r["ok"], false);
        assert!(r["error"].as_str().unwrap().contains("tag"), "{r}");
        let r = sjcl(json!({"op": "encrypt", "password": "right", "plaintext": pt}));
        assert_eq!(
            Keyring::new("wrong")
                .decrypt(r["stored"].as_str().unwrap())
                .unwrap_err(),
            SjclError::WrongKey
        );
    }
}
