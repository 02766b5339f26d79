//! Issue 16 for the vault: a new data key on every password change, password removal, new link
//! and `vault.rekey`; rollback detection with a counter remembered outside the vault; the
//! format 2 key slots (Argon2id) and the migration of a vault written by the release before
//! (tests/fixtures/vault-v1); padded segments.
use crate::support::vault as vault_support;

use passbridge::vault::format::{self, DataKeys, Kdf, SegmentSpec};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use vault_support::*;

fn proc(home: &Path, k: u8) -> Proc {
    Proc::new(home, Arc::new(FakePhone::new(key(k))))
}

/// Replaces the whole vault directory with `files` (a restore from a backup).
fn restore(home: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let dir = vault_dir(home);
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if !e.file_name().to_str().unwrap().ends_with(".lock") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// What a thief holding `secret` and an old copy of the manifest can decrypt of the segment
/// files on disk now: the DEK from the old manifest's slot, tried on every current segment.
enum Secret<'a> {
    Password(&'a str),
    Key(u8),
}

fn readable_with_old_manifest(home: &Path, old_manifest: &[u8], secret: &Secret<'_>) -> usize {
    let sealed = format::parse_manifest(old_manifest).unwrap();
    let dek = match secret {
        Secret::Password(pw) => format::unwrap_password(&sealed.header, pw).unwrap().0,
        Secret::Key(k) => format::unwrap_client(&sealed.header, &[*k; 32]).unwrap().0,
    };
    let keys = DataKeys::derive(&dek, &sealed.header.vault_id);
    let mut readable = 0;
    for path in segment_files(home) {
        let mut bytes = std::fs::read(&path).unwrap();
        let spec = SegmentSpec {
            vault_id: &bytes[10..26].try_into().unwrap(),
            index: u16::from_le_bytes([bytes[26], bytes[27]]),
            id: bytes[28..44].try_into().unwrap(),
            count: 0,
        };
        match format::open_segment(&mut bytes, spec, &keys) {
            Err(format::FormatError::Damaged("a segment failed authentication")) => {}
            // Authenticated: only the count (unknown here) can be wrong.
            _ => readable += 1,
        }
    }
    readable
}

fn manifest(home: &Path) -> Vec<u8> {
    std::fs::read(vault_dir(home).join("manifest.pbv")).unwrap()
}

#[test]
fn old_secrets_with_an_old_manifest_open_nothing_written_after_a_key_change() {
    type Change = fn(&Proc) -> Secret<'static>;
    let changes: [(&str, Change); 4] = [
        ("change the password", |p| {
            call(
                p,
                actions::set_password,
                json!({"password": "battery staple", "current_password": "correct horse"}),
            )
            .unwrap();
            Secret::Password("correct horse")
        }),
        ("clear the password", |p| {
            call(
                p,
                actions::clear_password,
                json!({"current_password": "correct horse"}),
            )
            .unwrap();
            Secret::Password("correct horse")
        }),
        ("link the phone again", |p| {
            p.receive(&key(2), &[]).unwrap();
            Secret::Key(1)
        }),
        ("vault.rekey", |p| {
            let r = call(p, actions::rekey, json!({})).unwrap();
            assert_eq!(r, json!({"rekeyed": true, "entries": 1}));
            Secret::Key(1)
        }),
    ];
    for (what, change) in changes {
        let home = tempfile::tempdir().unwrap();
        let p = proc(home.path(), 1);
        p.receive(&key(1), &[cred("u1", "Old", "https://old.example")])
            .unwrap();
        call(
            &p,
            actions::set_password,
            json!({"password": "correct horse"}),
        )
        .unwrap();
        let old = manifest(home.path());
        let key_id = |m: &[u8]| format::parse_manifest(m).unwrap().header.key_id;
        // Before the change the old secrets read everything: the check can fail.
        assert_eq!(
            readable_with_old_manifest(home.path(), &old, &Secret::Password("correct horse")),
            1,
            "{what}"
        );
        let stolen = change(&p);
        let new_key = match stolen {
            Secret::Key(1) if what == "link the phone again" => 2,
            _ => 1,
        };
        p.receive(&key(new_key), &[cred("u2", "New", "https://new.example")])
            .unwrap();
        assert_ne!(key_id(&old), key_id(&manifest(home.path())), "{what}");
        assert_eq!(
            readable_with_old_manifest(home.path(), &old, &stolen),
            0,
            "{what}: the old secret and the old manifest must open no current segment"
        );
        // Restoring the old manifest does not help either (and is refused as a rollback).
        let current = snapshot(home.path());
        let mut files = current.clone();
        files.insert("manifest.pbv".into(), old.clone());
        restore(home.path(), &files);
        let q = proc(home.path(), new_key);
        let err = match &stolen {
            Secret::Password(pw) => code(call(&q, actions::unlock, json!({"password": pw}))),
            Secret::Key(_) => code(call(&q, actions::unlock, json!({}))),
        };
        assert!(
            ["vault_rolled_back", "vault_corrupt", "vault_wrong_key"].contains(&err.as_str()),
            "{what}: {err}"
        );
        // Everything is still there for the current secrets.
        restore(home.path(), &current);
        let r = proc(home.path(), new_key);
        assert_eq!(
            call(&r, actions::unlock, json!({})).unwrap()["entries"],
            2,
            "{what}"
        );
    }
}

#[test]
fn a_key_change_keeps_every_credential_and_the_current_secrets() {
    let home = tempfile::tempdir().unwrap();
    let p = proc(home.path(), 1);
    let creds: Vec<_> = (0..600)
        .map(|i| {
            cred(
                &format!("u{i:03}"),
                &format!("Site {i}"),
                "https://x.example",
            )
        })
        .collect();
    p.receive(&key(1), &creds).unwrap();
    call(
        &p,
        actions::set_password,
        json!({"password": "correct horse"}),
    )
    .unwrap();
    let segments_before = segment_files(home.path());
    assert!(segments_before.len() > 1);
    let r = call(&p, actions::rekey, json!({})).unwrap();
    assert_eq!(r["entries"], 600);
    let after = segment_files(home.path());
    assert_eq!(after.len(), segments_before.len());
    assert!(
        after.iter().all(|s| !segments_before.contains(s)),
        "every segment re-sealed"
    );
    // Another running process held the old key: it locks instead of misreading.
    let q = proc(home.path(), 1);
    q.receive(&key(1), &[]).unwrap();
    call(&p, actions::rekey, json!({})).unwrap();
    assert_eq!(code(call(&q, actions::list, json!({}))), "vault_locked");
    // Both secrets still open it, with everything in it.
    let by_pw = proc(home.path(), 9);
    let s = call(
        &by_pw,
        actions::unlock,
        json!({"password": "correct horse"}),
    )
    .unwrap();
    assert_eq!(s["entries"], 600);
    assert_eq!(
        call(&by_pw, actions::get, json!({"uid": "u599"})).unwrap()["password"],
        "secret-u599"
    );
    let by_key = proc(home.path(), 1);
    assert_eq!(
        call(&by_key, actions::unlock, json!({})).unwrap()["entries"],
        600
    );
}

#[test]
fn a_restored_older_vault_is_refused_until_accepted() {
    let home = tempfile::tempdir().unwrap();
    let a = proc(home.path(), 1);
    a.receive(&key(1), &[cred("u1", "One", "https://one.example")])
        .unwrap();
    call(
        &a,
        actions::set_password,
        json!({"password": "correct horse"}),
    )
    .unwrap();
    let backup = snapshot(home.path());
    a.receive(&key(1), &[cred("u2", "Two", "https://two.example")])
        .unwrap();
    let running = proc(home.path(), 1);
    running.receive(&key(1), &[]).unwrap();
    assert_eq!(
        call(&running, actions::status, json!({})).unwrap()["entries"],
        2
    );

    // A running process refuses the older copy and locks.
    let current = snapshot(home.path());
    restore(home.path(), &backup);
    let (c, msg) = call(&running, actions::list, json!({})).unwrap_err();
    assert_eq!(c, "vault_rolled_back");
    assert!(
        msg.contains("accept-restore") && msg.contains("older"),
        "{msg}"
    );
    assert_eq!(
        call(&running, actions::status, json!({})).unwrap()["locked"],
        true
    );
    assert_eq!(snapshot(home.path()), backup, "nothing written");

    // The password is removed; restoring the copy that still has it is refused by a new
    // process, with that password and with the phone.
    restore(home.path(), &current);
    let b = proc(home.path(), 1);
    b.receive(&key(1), &[]).unwrap();
    call(
        &b,
        actions::clear_password,
        json!({"current_password": "correct horse"}),
    )
    .unwrap();
    restore(home.path(), &backup);
    let fresh = proc(home.path(), 1);
    assert_eq!(
        code(call(
            &fresh,
            actions::unlock,
            json!({"password": "correct horse"})
        )),
        "vault_rolled_back"
    );
    assert_eq!(
        code(call(&fresh, actions::unlock, json!({}))),
        "vault_rolled_back"
    );
    assert_eq!(
        fresh.receive(&key(1), &[]).unwrap_err().code.to_string(),
        "vault_rolled_back"
    );
    assert_eq!(snapshot(home.path()), backup, "nothing written");

    // Accepting needs a confirmation; then the restored vault is the vault.
    assert_eq!(
        code(call(&fresh, actions::accept_restore, json!({}))),
        "invalid_params"
    );
    call(&fresh, actions::accept_restore, json!({"confirm": true})).unwrap();
    let s = call(
        &fresh,
        actions::unlock,
        json!({"password": "correct horse"}),
    )
    .unwrap();
    assert_eq!(s["entries"], 1);
    // Later commits count on from the accepted state.
    fresh
        .receive(&key(1), &[cred("u3", "Three", "https://three.example")])
        .unwrap();
    let later = proc(home.path(), 1);
    assert_eq!(
        call(&later, actions::unlock, json!({})).unwrap()["entries"],
        2
    );
}

#[test]
fn the_rollback_mark_lives_outside_the_vault_directory() {
    let home = tempfile::tempdir().unwrap();
    let a = proc(home.path(), 1);
    a.receive(&key(1), &[cred("u1", "One", "https://one.example")])
        .unwrap();
    let marks = home
        .path()
        .join("config")
        .join(passbridge::vault::seen::DIR_NAME);
    let files: Vec<_> = std::fs::read_dir(&marks).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let sealed = manifest(home.path());
    let id = format::parse_manifest(&sealed).unwrap().header.vault_id;
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(files[0].file_name().to_str().unwrap(), hex);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&marks), 0o700);
        assert_eq!(mode(&files[0].path()), 0o600);
    }
    assert!(!snapshot(home.path()).keys().any(|k| k.contains("seen")));
}

const FIXTURE_PASSWORD: &str = "fixture password v1";
const FIXTURE_KEY: u8 = 0x11;

#[test]
fn a_vault_of_the_previous_release_opens_and_moves_to_format_2() {
    let home = fixture_home("vault-v1");
    let original = snapshot(home.path());
    let header = |h: &Path| format::parse_manifest(&manifest(h)).unwrap().header;
    assert_eq!(header(home.path()).version, 1);

    // Reading changes nothing on disk.
    let p = proc(home.path(), FIXTURE_KEY);
    let s = call(&p, actions::unlock, json!({"password": FIXTURE_PASSWORD})).unwrap();
    assert_eq!(s["entries"], 3);
    let gh = call(
        &p,
        actions::get,
        json!({"uid": "3f2a9c1e-0001-4000-8000-000000000001"}),
    )
    .unwrap();
    assert_eq!(gh["password"], "gh-secret-1");
    assert!(gh["otp"].as_str().unwrap().starts_with("otpauth://"));
    let found = call(&p, actions::search, json!({"url": "https://github.com/x"})).unwrap();
    assert_eq!(found["items"][0]["remembered"], true);
    assert_eq!(found["items"][0]["name"], "GitHub");
    let bank = call(
        &p,
        actions::get,
        json!({"uid": "3f2a9c1e-0002-4000-8000-000000000002"}),
    )
    .unwrap();
    assert_eq!(bank["name"], "Bänk ☃");
    assert_eq!(snapshot(home.path()), original);

    // A password change needs the phone once: the old client slot can only be re-sealed by it.
    assert_eq!(
        code(call(
            &p,
            actions::set_password,
            json!({"password": "new password 2", "current_password": FIXTURE_PASSWORD})
        )),
        "vault_upgrade_needed"
    );
    assert_eq!(snapshot(home.path()), original);
    p.receive(&key(FIXTURE_KEY), &[]).unwrap();
    call(
        &p,
        actions::set_password,
        json!({"password": "new password 2", "current_password": FIXTURE_PASSWORD}),
    )
    .unwrap();

    let h = header(home.path());
    assert_eq!(h.version, format::VERSION);
    assert!(
        h.client.public().is_some(),
        "client slot sealed to its public key"
    );
    let slot = h.password.unwrap();
    assert!(matches!(slot.kdf, Kdf::Argon2id { .. }), "{:?}", slot.kdf);
    assert!(slot.seal.public().is_some());
    for f in segment_files(home.path()) {
        let v = std::fs::read(f).unwrap();
        assert_eq!(u16::from_le_bytes([v[8], v[9]]), format::VERSION);
    }
    let q = proc(home.path(), FIXTURE_KEY);
    assert_eq!(
        code(call(
            &q,
            actions::unlock,
            json!({"password": FIXTURE_PASSWORD})
        )),
        "vault_wrong_password"
    );
    let s = call(&q, actions::unlock, json!({"password": "new password 2"})).unwrap();
    assert_eq!(s["entries"], 3);
    assert_eq!(
        call(
            &q,
            actions::get,
            json!({"uid": "3f2a9c1e-0003-4000-8000-000000000003"})
        )
        .unwrap()["password"],
        "gist-secret-3"
    );
    let by_key = proc(home.path(), FIXTURE_KEY);
    assert_eq!(
        call(&by_key, actions::unlock, json!({})).unwrap()["entries"],
        3
    );
}

#[test]
fn a_plain_save_moves_a_previous_release_vault_to_format_2_with_the_phone() {
    let home = fixture_home("vault-v1");
    let p = proc(home.path(), FIXTURE_KEY);
    p.receive(
        &key(FIXTURE_KEY),
        &[cred("u9", "Nine", "https://nine.example")],
    )
    .unwrap();
    let h = format::parse_manifest(&manifest(home.path()))
        .unwrap()
        .header;
    assert_eq!(h.version, format::VERSION);
    assert!(h.client.public().is_some());
    // The password slot stays as it was (PBKDF2) until the password is used or changed.
    let slot = h.password.unwrap();
    assert_eq!(
        slot.kdf,
        Kdf::Pbkdf2 {
            iterations: 200_361
        }
    );
    let q = proc(home.path(), 5);
    assert_eq!(
        call(&q, actions::unlock, json!({"password": FIXTURE_PASSWORD})).unwrap()["entries"],
        4
    );
    // A key change from this password-only process now works: both public keys are known.
    call(&q, actions::rekey, json!({})).unwrap();
    let by_key = proc(home.path(), FIXTURE_KEY);
    assert_eq!(
        call(&by_key, actions::unlock, json!({})).unwrap()["entries"],
        4
    );
}

#[test]
fn segment_sizes_do_not_follow_field_lengths() {
    let sizes = |password_len: usize| {
        let home = tempfile::tempdir().unwrap();
        let p = proc(home.path(), 1);
        let mut c = cred("u1", "Name", "https://a.example");
        c.password = "x".repeat(password_len);
        p.receive(&key(1), &[c]).unwrap();
        segment_files(home.path())
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .collect::<Vec<_>>()
    };
    let short = sizes(8);
    assert_eq!(short, sizes(300));
    assert_eq!(short.len(), 1);
    assert!(short[0] as usize > format::MIN_PADDED);
    assert_ne!(short, sizes(5000), "a different bucket");
}
