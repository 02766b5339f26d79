//! Damaged, truncated and future vault files: a clear error every time, and the files are
//! never rewritten or removed.
use crate::support::vault as vault_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use vault_support::*;

fn make_vault(home: &Path) {
    let p = Proc::new(home, Arc::new(FakePhone::new(key(1))));
    let creds: Vec<_> = (0..40)
        .map(|i| {
            cred(
                &format!("uid-{i}"),
                &format!("Site {i}"),
                &format!("https://s{i}.example"),
            )
        })
        .collect();
    p.receive(&key(1), &creds).unwrap();
}

fn restore(home: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (name, bytes) in files {
        std::fs::write(vault_dir(home).join(name), bytes).unwrap();
    }
}

/// Opens the vault in a fresh process and tries to add a credential; returns the error code.
fn open_and_write(home: &Path) -> Result<(), String> {
    let p = Proc::new(home, Arc::new(FakePhone::new(key(1))));
    p.receive(&key(1), &[cred("new", "New", "https://new.example")])
        .map_err(|e| {
            assert!(
                e.message.contains("left it untouched") || e.message.contains("left untouched"),
                "{}",
                e.message
            );
            e.code.to_string()
        })
}

fn offsets(len: usize, dense_prefix: usize, stride: usize) -> impl Iterator<Item = usize> {
    (0..len.min(dense_prefix)).chain((dense_prefix..len).step_by(stride))
}

#[test]
fn bit_flips_anywhere_are_detected_and_never_overwritten() {
    let home = tempfile::tempdir().unwrap();
    make_vault(home.path());
    let original = snapshot(home.path());
    assert!(original.len() >= 2, "expected a manifest and a segment");
    let mut checked = 0;
    let targets: Vec<(String, Vec<u8>)> = original
        .iter()
        .filter(|(n, _)| n.as_str() == "manifest.pbv" || n.starts_with("seg-"))
        .take(3)
        .map(|(n, b)| (n.clone(), b.clone()))
        .collect();
    for (name, bytes) in &targets {
        // Every byte of the headers (a manifest header is 137 bytes), then a sample.
        for at in offsets(bytes.len(), 144, 11) {
            {
                let bit = (at % 8) as u8;
                let mut bad = bytes.clone();
                bad[at] ^= 1 << bit;
                std::fs::write(vault_dir(home.path()).join(name), &bad).unwrap();
                let damaged = snapshot(home.path());
                let code = open_and_write(home.path())
                    .expect_err(&format!("flip in {name} at {at} bit {bit} went unnoticed"));
                // Bytes 8..10 of every vault file are its format version.
                let version_field = (8..10).contains(&at);
                assert!(
                    code == "vault_corrupt"
                        || (version_field && code == "vault_unsupported_version"),
                    "{name} at {at}: {code}"
                );
                assert_eq!(
                    snapshot(home.path()),
                    damaged,
                    "{name} at {at}: files changed"
                );
                checked += 1;
            }
        }
        restore(home.path(), &original);
    }
    assert!(checked > 400, "{checked}");
    // Once repaired, the vault opens and takes the write.
    open_and_write(home.path()).unwrap();
}

#[test]
fn truncated_and_missing_files_are_detected() {
    let home = tempfile::tempdir().unwrap();
    make_vault(home.path());
    let original = snapshot(home.path());
    let seg = original
        .keys()
        .find(|n| n.starts_with("seg-"))
        .unwrap()
        .clone();
    for name in ["manifest.pbv", seg.as_str()] {
        let bytes = &original[name];
        for len in offsets(bytes.len(), 100, 7).chain([bytes.len() - 1]) {
            std::fs::write(vault_dir(home.path()).join(name), &bytes[..len]).unwrap();
            let damaged = snapshot(home.path());
            assert_eq!(
                open_and_write(home.path()).unwrap_err(),
                "vault_corrupt",
                "{name} cut to {len}"
            );
            assert_eq!(snapshot(home.path()), damaged);
        }
        // Extra bytes at the end are damage too.
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"tail");
        std::fs::write(vault_dir(home.path()).join(name), &longer).unwrap();
        assert_eq!(open_and_write(home.path()).unwrap_err(), "vault_corrupt");
        restore(home.path(), &original);
    }
    std::fs::remove_file(vault_dir(home.path()).join(&seg)).unwrap();
    let p = Proc::new(home.path(), Arc::new(FakePhone::new(key(1))));
    let e = p.receive(&key(1), &[]).unwrap_err();
    assert_eq!(e.code, "vault_corrupt");
    assert!(e.message.contains("missing"), "{}", e.message);
    restore(home.path(), &original);
    open_and_write(home.path()).unwrap();
}

#[test]
fn a_newer_format_is_refused_and_left_alone() {
    let home = tempfile::tempdir().unwrap();
    make_vault(home.path());
    // This process has the vault open when a newer passbridge rewrites it.
    let open = Proc::new(home.path(), Arc::new(FakePhone::new(key(1))));
    open.receive(&key(1), &[]).unwrap();
    let manifest = vault_dir(home.path()).join("manifest.pbv");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[8..10].copy_from_slice(&(passbridge::vault::format::VERSION + 1).to_le_bytes());
    std::fs::write(&manifest, &bytes).unwrap();
    let before = snapshot(home.path());

    let fresh = Proc::new(home.path(), Arc::new(FakePhone::new(key(1))));
    let e = fresh.receive(&key(1), &[cred("x", "X", "")]).unwrap_err();
    assert_eq!(e.code, "vault_unsupported_version");
    assert!(
        e.message.contains("newer passbridge")
            && e.message.contains(&format!(
                "format {}",
                passbridge::vault::format::VERSION + 1
            )),
        "{}",
        e.message
    );
    let e = open.receive(&key(1), &[cred("y", "Y", "")]).unwrap_err();
    assert_eq!(e.code, "vault_unsupported_version");
    assert_eq!(
        passbridge::vault::actions::status(&fresh.ctx, passbridge::api::params::NoParams {})
            .unwrap_err()
            .code(),
        "vault_unsupported_version"
    );
    assert_eq!(snapshot(home.path()), before);
}

#[test]
fn not_a_vault_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let dir = vault_dir(home.path());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.pbv"), b"{\"credentials\": []}").unwrap();
    assert_eq!(open_and_write(home.path()).unwrap_err(), "vault_corrupt");
    assert_eq!(
        std::fs::read(dir.join("manifest.pbv")).unwrap(),
        b"{\"credentials\": []}"
    );
}

#[cfg(unix)]
#[test]
fn files_and_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    make_vault(home.path());
    let dir = vault_dir(home.path());
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?}", e.file_name());
    }
}
