//! Vault format 3 (issue 14): a vault written by the format 2 release (tests/fixtures/vault-v2)
//! opens as it is, finds the same credentials the same way, and moves to format 3 at its first
//! change, every segment at once, with nothing lost.
use crate::support::vault as vault_support;

use passbridge::vault::format::{self, Entry};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use vault_support::*;

const V2_KEY: u8 = 0x22;
const V2_PASSWORD: &str = "fixture password v2";

fn proc(home: &Path) -> Proc {
    Proc::new(home, Arc::new(FakePhone::new(key(V2_KEY))))
}

/// The format version of every vault file: the manifest's, then each segment's.
fn versions(home: &Path) -> (u16, Vec<u16>) {
    let v = |b: &[u8]| u16::from_le_bytes([b[8], b[9]]);
    let manifest = std::fs::read(vault_dir(home).join("manifest.pbv")).unwrap();
    let segments = segment_files(home)
        .iter()
        .map(|p| v(&std::fs::read(p).unwrap()))
        .collect();
    (v(&manifest), segments)
}

/// The 600 generated credentials of the fixture (its README): uid → (name, user, password,
/// website).
fn generated() -> BTreeMap<String, [String; 4]> {
    (0..600u64)
        .map(|i| {
            let uid = format!(
                "{:08x}-7000-4000-8000-{i:012x}",
                (i * 2_654_435_761) % (1 << 32)
            );
            let fields = [
                format!("Site number {i}"),
                format!("user{i}@mail.example"),
                format!("pw-{i:04}"),
                format!("https://site-{i}.example/login"),
            ];
            (uid, fields)
        })
        .collect()
}

/// Every stored entry, times included.
fn contents(p: &Proc) -> BTreeMap<String, Entry> {
    let v = p.vault();
    v.uids()
        .unwrap()
        .into_iter()
        .map(|u| (u.clone(), v.get(&u).unwrap()))
        .collect()
}

/// What `vault.search` answers for a few pages: each hit's name, match and remembered flag.
fn searches(p: &Proc) -> Vec<Vec<(String, String, bool)>> {
    let pages = [
        "https://github.com/settings",
        "https://gist.github.com/x",
        "https://xn--bcher-kva.example/",
        "http://192.168.1.1/",
        "https://mybank.com/",
        "https://shop.bbc.co.uk/",
        "https://site-421.example/account",
        "https://nowhere.example/",
    ];
    pages
        .iter()
        .map(|url| {
            let r = call(p, actions::search, json!({"url": url})).unwrap();
            r["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h: &Value| {
                    (
                        h["name"].as_str().unwrap().to_owned(),
                        h["match"].as_str().unwrap().to_owned(),
                        h["remembered"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_format_2_vault_reads_unchanged_and_moves_to_format_3_at_its_first_change() {
    let home = fixture_home("vault-v2");
    let original = snapshot(home.path());
    assert_eq!(versions(home.path()), (2, vec![2; 4]));

    let p = proc(home.path());
    let s = call(&p, actions::unlock, json!({"password": V2_PASSWORD})).unwrap();
    assert_eq!(s["entries"], 606);
    let gh = call(
        &p,
        actions::get,
        json!({"uid": "5a1e0000-0001-4000-8000-000000000001"}),
    )
    .unwrap();
    assert_eq!(gh["password"], "gh-secret-1");
    assert!(
        gh["otp"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/GitHub")
    );
    let before = contents(&p);
    assert_eq!(before.len(), 606);
    assert_eq!(
        before["5a1e0000-0002-4000-8000-000000000002"]
            .credential
            .name,
        "Bänk ☃ ΣΊΣΥΦΟΣ"
    );
    for (uid, [name, user, password, website]) in generated() {
        let c = &before[&uid].credential;
        assert_eq!(
            [&c.name, &c.user, &c.password, &c.website],
            [&name, &user, &password, &website]
        );
        assert_eq!(c.readable_uid, uid[..8]);
    }
    let found = searches(&p);
    let hit = |n: &str, m: &str, r: bool| (n.to_owned(), m.to_owned(), r);
    assert_eq!(
        found[0],
        [hit("GitHub", "host", true), hit("Gist", "domain", false)]
    );
    assert_eq!(found[2], [hit("Bänk ☃ ΣΊΣΥΦΟΣ", "host", false)]);
    assert_eq!(found[3], [hit("Router admin", "host", false)]);
    assert_eq!(found[4], [hit("My bank-login", "name", false)]);
    assert_eq!(found[5], [hit("BBC", "domain", false)]);
    assert_eq!(found[6], [hit("Site number 421", "host", false)]);
    assert!(found[7].is_empty());
    // Reading writes nothing.
    assert_eq!(snapshot(home.path()), original);

    // The first change rewrites every segment in format 3, not only the one it touches.
    let new = cred(
        "5a1e0000-0007-4000-8000-000000000007",
        "New",
        "https://new.example",
    );
    p.receive(&key(V2_KEY), std::slice::from_ref(&new)).unwrap();
    assert_eq!(
        versions(home.path()),
        (format::VERSION, vec![format::VERSION; 4])
    );
    assert_eq!(format::VERSION, 3);

    // A new process (the password slot came along unchanged) reads the same entries, times
    // included, and finds the same.
    let q = proc(home.path());
    let s = call(&q, actions::unlock, json!({"password": V2_PASSWORD})).unwrap();
    assert_eq!(s["entries"], 607);
    let mut after = contents(&q);
    assert_eq!(after, contents(&p));
    let added = after.remove(new.uid.as_deref().unwrap()).unwrap();
    assert_eq!(added.credential.password, new.password);
    assert_eq!(after, before);
    assert_eq!(searches(&q), found);
    assert_eq!(searches(&p), found);
    // A later change rewrites only what it touches.
    let files: Vec<_> = segment_files(home.path());
    q.receive(
        &key(V2_KEY),
        &[cred("5a1e0000-0008-4000-8000-000000000008", "N2", "")],
    )
    .unwrap();
    let kept = segment_files(home.path())
        .iter()
        .filter(|f| files.contains(f))
        .count();
    assert_eq!(kept, 3);
}
