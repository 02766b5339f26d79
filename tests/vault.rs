//! The vault through its actions and the CredentialSink seam, with a fake phone and gate,
//! several simulated processes over one data directory, and a manual clock.
use crate::support::vault as vault_support;

use passbridge::config::Config;
use passbridge::vault::operation;
use serde_json::{Value, json};
use std::sync::Arc;
use vault_support::*;

fn setup() -> (tempfile::TempDir, Proc) {
    let home = tempfile::tempdir().unwrap();
    let p = Proc::new(home.path(), Arc::new(FakePhone::new(key(1))));
    (home, p)
}

fn uids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uid"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn received_credentials_are_stored_and_found() {
    let (_home, p) = setup();
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap(),
        json!({"exists": false, "locked": true, "password_set": false, "entries": null,
               "ttl_remaining_seconds": null, "lock_timeout_minutes": 60, "save_credentials": true})
    );
    p.receive(
        &key(1),
        &[
            cred("u1", "GitHub", "https://github.com"),
            cred("u2", "Gist", "https://gist.github.com"),
            cred("u3", "Bank", "https://bank.example"),
        ],
    )
    .unwrap();
    let s = call(&p, actions::status, json!({})).unwrap();
    assert_eq!(
        (
            s["exists"].clone(),
            s["locked"].clone(),
            s["entries"].clone()
        ),
        (json!(true), json!(false), json!(3))
    );
    assert_eq!(s["ttl_remaining_seconds"], 3600);

    let got = call(&p, actions::get, json!({"uid": "u1"})).unwrap();
    assert_eq!(got["password"], "secret-u1");
    assert_eq!(got["user"], "user-u1");
    assert_eq!(got["website"], "https://github.com");
    assert_eq!(*p.gate.asked.lock().unwrap(), vec![operation::VAULT_GET]);

    let list = call(&p, actions::list, json!({})).unwrap();
    assert_eq!(uids(&list), ["u3", "u2", "u1"]); // Bank, Gist, GitHub
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.get("password").is_none())
    );

    // Saving the same again changes nothing; a changed one is updated, keeping created_at.
    let before = call(&p, actions::get, json!({"uid": "u3"})).unwrap();
    let mut changed = cred("u3", "Bank", "https://bank.example");
    changed.password = "new".into();
    p.receive(
        &key(1),
        &[cred("u1", "GitHub", "https://github.com"), changed],
    )
    .unwrap();
    let after = call(&p, actions::get, json!({"uid": "u3"})).unwrap();
    assert_eq!(after["password"], "new");
    assert_eq!(after["created_at"], before["created_at"]);
    assert_eq!(call(&p, actions::status, json!({})).unwrap()["entries"], 3);

    // A credential without a uid cannot be stored (nothing to key it by).
    let mut nouid = cred("x", "No uid", "");
    nouid.uid = None;
    p.receive(&key(1), &[nouid]).unwrap();
    assert_eq!(call(&p, actions::status, json!({})).unwrap()["entries"], 3);

    call(&p, actions::delete, json!({"uid": "u2"})).unwrap();
    assert_eq!(
        code(call(&p, actions::get, json!({"uid": "u2"}))),
        "vault_not_found"
    );
    assert_eq!(
        code(call(&p, actions::delete, json!({"uid": "u2"}))),
        "vault_not_found"
    );
    assert_eq!(call(&p, actions::status, json!({})).unwrap()["entries"], 2);
}

#[test]
fn search_ranks_host_then_domain_then_name_and_hides_passwords() {
    let (_home, p) = setup();
    p.receive(
        &key(1),
        &[
            cred("name", "GitHub (old)", ""),
            cred("sub", "Gist", "https://gist.github.com"),
            cred("host-b", "b personal", "github.com"),
            cred("host-a", "a work", "https://www.github.com/login"),
            cred("other", "Other", "https://gitlab.com"),
            cred("io", "Pages", "https://github.io"),
        ],
    )
    .unwrap();
    let r = call(
        &p,
        actions::search,
        json!({"url": "https://github.com/features"}),
    )
    .unwrap();
    assert_eq!(uids(&r), ["host-a", "host-b", "sub", "name"]);
    let matches: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["match"].as_str().unwrap())
        .collect();
    assert_eq!(matches, ["host", "host", "domain", "name"]);
    assert_eq!(
        r["site"],
        json!({"host": "github.com", "domain": "github.com"})
    );
    assert_eq!(r["total"], 4);
    for item in r["items"].as_array().unwrap() {
        assert!(
            item.get("password").is_none() && item.get("otp").is_none(),
            "{item}"
        );
        assert!(!item.to_string().contains("secret-"));
    }
    // The remembered choice goes first within its tier.
    p.sink()
        .remember_uid(&p.ctx, "https://github.com/login", "host-b");
    let r = call(&p, actions::search, json!({"url": "github.com"})).unwrap();
    assert_eq!(uids(&r), ["host-b", "host-a", "sub", "name"]);
    assert_eq!(r["items"][0]["remembered"], true);
    assert_eq!(r["items"][1]["remembered"], false);
    // Paging through results.
    let r = call(
        &p,
        actions::search,
        json!({"url": "github.com", "offset": 1, "limit": 2}),
    )
    .unwrap();
    assert_eq!(uids(&r), ["host-a", "sub"]);
    assert_eq!(r["next_offset"], 3);
    let r = call(
        &p,
        actions::search,
        json!({"url": "https://nothing.example"}),
    )
    .unwrap();
    assert_eq!(
        (r["total"].clone(), r["next_offset"].clone()),
        (json!(0), Value::Null)
    );
}

#[test]
fn list_pages_cover_everything_once_in_name_order() {
    let (_home, p) = setup();
    let creds: Vec<_> = (0..257)
        .map(|i| {
            cred(
                &format!("u{i:03}"),
                &format!("Name {:03}", (i * 37) % 257),
                "",
            )
        })
        .collect();
    p.receive(&key(1), &creds).unwrap();
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = call(&p, actions::list, json!({"offset": offset, "limit": 50})).unwrap();
        assert_eq!(page["total"], 257);
        let names: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect();
        seen.extend(names);
        match page["next_offset"].as_u64() {
            Some(n) => offset = n,
            None => break,
        }
    }
    let want: Vec<String> = (0..257).map(|i| format!("Name {i:03}")).collect();
    assert_eq!(seen, want);
    let past = call(&p, actions::list, json!({"offset": 1000})).unwrap();
    assert_eq!(past["items"], json!([]));
    assert_eq!(
        code(call(&p, actions::list, json!({"limit": 0}))),
        "invalid_params"
    );
    assert_eq!(
        code(call(&p, actions::list, json!({"limit": 1001}))),
        "invalid_params"
    );
}

#[test]
fn bad_params_are_invalid_params() {
    let (_home, p) = setup();
    p.receive(&key(1), &[]).unwrap();
    for (f, params) in [
        (
            actions::search as passbridge::api::context::Handler,
            json!({}),
        ),
        (actions::search, json!({"url": 5})),
        (actions::search, json!({"url": "not a url"})),
        (actions::search, json!({"url": ""})),
        (actions::get, json!({})),
        (actions::get, json!({"uid": ""})),
        (actions::get, json!({"uid": "x".repeat(300)})),
        (actions::delete, json!({"uid": null})),
        (actions::unlock, json!({"password": ""})),
        (actions::unlock, json!({"password": 12})),
        (actions::set_password, json!({})),
        (actions::set_password, json!({"password": "short"})),
        (actions::set_password, json!({"password": "x".repeat(2000)})),
        (actions::reset, json!({})),
        (actions::reset, json!({"confirm": "yes"})),
    ] {
        assert_eq!(
            code(call(&p, f, params.clone())),
            "invalid_params",
            "{params}"
        );
    }
}

#[test]
fn locked_vault_says_how_to_unlock() {
    let (home, p) = setup();
    // No vault at all: reads are locked, a password unlock has nothing to open.
    let (c, msg) = call(&p, actions::search, json!({"url": "github.com"})).unwrap_err();
    assert_eq!(c, "vault_locked");
    assert!(msg.contains("vault.unlock"), "{msg}");
    assert_eq!(
        code(call(&p, actions::unlock, json!({"password": "whatever1"}))),
        "vault_missing"
    );

    p.receive(&key(1), &[cred("u1", "GitHub", "github.com")])
        .unwrap();
    call(&p, actions::lock, json!({})).unwrap();
    assert!(!p.vault().holds_key());
    for (f, params) in [
        (
            actions::search as passbridge::api::context::Handler,
            json!({"url": "github.com"}),
        ),
        (actions::list, json!({})),
        (actions::get, json!({"uid": "u1"})),
        (actions::delete, json!({"uid": "u1"})),
        (actions::sync, json!({})),
        (actions::set_password, json!({"password": "long enough"})),
        (actions::clear_password, json!({})),
    ] {
        assert_eq!(code(call(&p, f, params)), "vault_locked");
    }
    // get is refused before anyone is asked to approve.
    assert!(p.gate.asked.lock().unwrap().is_empty());
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["locked"],
        true
    );
    assert!(p.sink().remembered_uid(&p.ctx, "github.com").is_none());

    // Unlocking with the phone goes through the gate, then the phone.
    let s = call(&p, actions::unlock, json!({})).unwrap();
    assert_eq!(
        (s["locked"].clone(), s["entries"].clone()),
        (json!(false), json!(1))
    );
    assert_eq!(*p.gate.asked.lock().unwrap(), vec![operation::VAULT_UNLOCK]);
    drop(home);
}

#[test]
fn unlock_needs_approval_and_the_phone() {
    let (_home, p) = setup();
    p.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    call(&p, actions::lock, json!({})).unwrap();
    p.gate
        .deny
        .lock()
        .unwrap()
        .insert(operation::VAULT_UNLOCK.into());
    assert_eq!(
        code(call(&p, actions::unlock, json!({}))),
        "approval_denied"
    );
    p.gate.deny.lock().unwrap().clear();
    *p.phone.refuse.lock().unwrap() = true;
    assert_eq!(code(call(&p, actions::unlock, json!({}))), "denied");
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["locked"],
        true
    );
    *p.phone.refuse.lock().unwrap() = false;
    call(&p, actions::unlock, json!({})).unwrap();
    // A refused approval for get returns no credential.
    p.gate
        .deny
        .lock()
        .unwrap()
        .insert(operation::VAULT_GET.into());
    assert_eq!(
        code(call(&p, actions::get, json!({"uid": "u1"}))),
        "approval_denied"
    );
}

#[test]
fn unlock_with_the_phone_creates_an_empty_vault() {
    let (home, p) = setup();
    let s = call(&p, actions::unlock, json!({})).unwrap();
    assert_eq!(
        (s["exists"].clone(), s["entries"].clone()),
        (json!(true), json!(0))
    );
    assert!(vault_dir(home.path()).join("manifest.pbv").exists());
}

#[test]
fn sliding_timeout_locks_and_zeroizes() {
    let (_home, p) = setup();
    p.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    p.advance(59);
    // Status does not count as use; search does.
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["ttl_remaining_seconds"],
        60
    );
    call(&p, actions::search, json!({"url": "a.example"})).unwrap();
    p.advance(59);
    call(&p, actions::list, json!({})).unwrap();
    p.advance(59);
    assert!(p.vault().holds_key());
    p.advance(1);
    let (c, msg) = call(&p, actions::search, json!({"url": "a.example"})).unwrap_err();
    assert_eq!(c, "vault_locked");
    assert!(msg.contains("lock timeout"), "{msg}");
    assert!(!p.vault().holds_key(), "the key must be gone from memory");
    // A clientKey from the phone unlocks it again.
    p.receive(&key(1), &[]).unwrap();
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["locked"],
        false
    );
}

#[test]
fn lock_timeout_setting_is_used() {
    let home = tempfile::tempdir().unwrap();
    let config = Config::default().with_section(
        "vault",
        &passbridge::vault::Settings {
            lock_timeout_minutes: 5,
            ..Default::default()
        },
    );
    let p = Proc::with_config(home.path(), Arc::new(FakePhone::new(key(1))), config);
    p.receive(&key(1), &[]).unwrap();
    let s = call(&p, actions::status, json!({})).unwrap();
    assert_eq!(
        (
            s["lock_timeout_minutes"].clone(),
            s["ttl_remaining_seconds"].clone()
        ),
        (json!(5), json!(300))
    );
    p.advance(5);
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["locked"],
        true
    );
    assert!(!p.vault().holds_key());
}

#[test]
fn timer_thread_zeroizes_an_idle_vault() {
    let (_home, p) = setup();
    p.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    p.advance(61);
    p.vault().wake_timer();
    // Nothing touches the vault here: only the timer thread can drop the key.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while p.vault().holds_key() {
        assert!(
            std::time::Instant::now() < deadline,
            "the timer never locked the vault"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn wrong_key_is_refused_and_nothing_is_written() {
    let home = tempfile::tempdir().unwrap();
    let phone = Arc::new(FakePhone::new(key(1)));
    let a = Proc::new(home.path(), phone.clone());
    a.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    let before = snapshot(home.path());
    // Another process (a browser started later) gets a different key.
    let b = Proc::new(home.path(), phone);
    let err = b
        .receive(&key(2), &[cred("u2", "B", "b.example")])
        .unwrap_err();
    assert_eq!(err.code, "vault_wrong_key");
    assert!(
        err.message.contains("passbridge vault reset"),
        "{}",
        err.message
    );
    assert_eq!(snapshot(home.path()), before);
    assert!(!b.vault().holds_key());
}

#[test]
fn new_link_key_reseals_an_open_vault() {
    let home = tempfile::tempdir().unwrap();
    let phone = Arc::new(FakePhone::new(key(1)));
    let a = Proc::new(home.path(), phone.clone());
    a.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    // The phone was linked again: a new clientKey arrives while the vault is open.
    a.receive(&key(2), &[cred("u2", "B", "b.example")]).unwrap();
    let fresh = Proc::new(home.path(), phone.clone());
    assert_eq!(
        fresh.receive(&key(1), &[]).unwrap_err().code,
        "vault_wrong_key"
    );
    fresh.receive(&key(2), &[]).unwrap();
    assert_eq!(
        call(&fresh, actions::status, json!({})).unwrap()["entries"],
        2
    );
}

#[test]
fn local_password_opens_without_the_phone() {
    let home = tempfile::tempdir().unwrap();
    let phone = Arc::new(FakePhone::new(key(1)));
    let a = Proc::new(home.path(), phone.clone());
    a.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    call(
        &a,
        actions::set_password,
        json!({"password": "correct horse"}),
    )
    .unwrap();
    assert_eq!(
        call(&a, actions::status, json!({})).unwrap()["password_set"],
        true
    );

    let b = Proc::new(home.path(), Arc::new(FakePhone::new(key(9))));
    assert_eq!(
        call(&b, actions::status, json!({})).unwrap()["password_set"],
        true
    );
    let before = snapshot(home.path());
    assert_eq!(
        code(call(
            &b,
            actions::unlock,
            json!({"password": "correct hors"})
        )),
        "vault_wrong_password"
    );
    assert_eq!(snapshot(home.path()), before);
    let s = call(&b, actions::unlock, json!({"password": "correct horse"})).unwrap();
    assert_eq!(
        (s["locked"].clone(), s["entries"].clone()),
        (json!(false), json!(1))
    );
    // Both attempts, the wrong one too, went through the approval gate.
    assert_eq!(
        *b.gate.asked.lock().unwrap(),
        vec![operation::VAULT_UNLOCK; 2]
    );
    assert_eq!(
        call(&b, actions::get, json!({"uid": "u1"})).unwrap()["password"],
        "secret-u1"
    );
    // The phone's key still opens it too.
    let c = Proc::new(home.path(), phone.clone());
    c.receive(&key(1), &[]).unwrap();

    call(
        &b,
        actions::clear_password,
        json!({"current_password": "correct horse"}),
    )
    .unwrap();
    let d = Proc::new(home.path(), phone);
    assert_eq!(
        code(call(
            &d,
            actions::unlock,
            json!({"password": "correct horse"})
        )),
        "vault_no_password"
    );
    // The password slot never held the password itself.
    assert!(
        !snapshot(home.path())
            .values()
            .any(|b| b.windows(13).any(|w| w == b"correct horse"))
    );
}

#[test]
fn password_survives_a_new_link_key() {
    let home = tempfile::tempdir().unwrap();
    let phone = Arc::new(FakePhone::new(key(1)));
    let a = Proc::new(home.path(), phone.clone());
    a.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    call(
        &a,
        actions::set_password,
        json!({"password": "correct horse"}),
    )
    .unwrap();
    // Relinked phone, new process: open with the password, then the new key re-seals.
    let b = Proc::new(home.path(), phone.clone());
    call(&b, actions::unlock, json!({"password": "correct horse"})).unwrap();
    b.receive(&key(7), &[]).unwrap();
    let c = Proc::new(home.path(), phone);
    c.receive(&key(7), &[]).unwrap();
    assert_eq!(
        call(&c, actions::status, json!({})).unwrap()["password_set"],
        true
    );
}

#[test]
fn sync_updates_and_keeps_what_the_phone_did_not_return() {
    let (_home, p) = setup();
    let stored: Vec<_> = (0..5)
        .map(|i| cred(&format!("u{i}"), &format!("N{i}"), ""))
        .collect();
    p.receive(&key(1), &stored).unwrap();
    // The phone: u0-u2 unchanged, u3 changed, u4 deleted or hidden there (the answer is the same).
    for c in &stored[..3] {
        p.phone.holds(c.clone());
    }
    let mut changed = stored[3].clone();
    changed.password = "rotated".into();
    p.phone.holds(changed);
    let r = call(&p, actions::sync, json!({})).unwrap();
    assert_eq!(
        r,
        json!({"updated": 1, "unchanged": 3, "missing": ["u4"], "missing_count": 1, "asked": 5})
    );
    let mut asked = p.phone.asked.lock().unwrap()[0].clone();
    asked.sort();
    assert_eq!(asked, ["u0", "u1", "u2", "u3", "u4"]);
    assert_eq!(
        call(&p, actions::get, json!({"uid": "u3"})).unwrap()["password"],
        "rotated"
    );
    // Kept, untouched, until the user deletes it.
    assert_eq!(
        call(&p, actions::get, json!({"uid": "u4"})).unwrap()["password"],
        stored[4].password
    );
    assert_eq!(
        call(&p, actions::sync, json!({})).unwrap(),
        json!({"updated": 0, "unchanged": 4, "missing": ["u4"], "missing_count": 1, "asked": 5})
    );
    call(&p, actions::delete, json!({"uid": "u4"})).unwrap();
    assert_eq!(
        call(&p, actions::sync, json!({})).unwrap(),
        json!({"updated": 0, "unchanged": 4, "missing": [], "missing_count": 0, "asked": 4})
    );
}

#[test]
fn sync_lists_a_bounded_number_of_missing_uids() {
    let (_home, p) = setup();
    let total = actions::MAX_MISSING_LISTED + 5;
    let stored: Vec<_> = (0..total)
        .map(|i| cred(&format!("u{i:05}"), "N", ""))
        .collect();
    p.receive(&key(1), &stored).unwrap();
    let r = call(&p, actions::sync, json!({})).unwrap();
    assert_eq!(r["missing_count"], total);
    assert_eq!(r["asked"], total);
    let listed: Vec<&str> = r["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..actions::MAX_MISSING_LISTED)
        .map(|i| format!("u{i:05}"))
        .collect();
    assert_eq!(listed, expected, "the first ones, sorted");
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["entries"],
        total
    );
}

#[test]
fn sync_with_another_phone_vault_removes_nothing() {
    let (_home, p) = setup();
    p.receive(&key(1), &[cred("u1", "A", ""), cred("u2", "B", "")])
        .unwrap();
    *p.phone.key.lock().unwrap() = key(3);
    let r = call(&p, actions::sync, json!({})).unwrap();
    assert_eq!(
        r,
        json!({"updated": 0, "unchanged": 0, "missing": ["u1", "u2"], "missing_count": 2, "asked": 2})
    );
    assert_eq!(call(&p, actions::status, json!({})).unwrap()["entries"], 2);
}

#[test]
fn remembered_choice_per_registrable_domain_is_encrypted() {
    let (home, p) = setup();
    let sink = p.sink();
    p.receive(&key(1), &[cred("7a1c-uid", "GitHub", "https://github.com")])
        .unwrap();
    sink.remember_uid(&p.ctx, "https://login.github.com/session", "7a1c-uid");
    assert_eq!(
        sink.remembered_uid(&p.ctx, "https://github.com/")
            .as_deref(),
        Some("7a1c-uid")
    );
    assert_eq!(sink.remembered_uid(&p.ctx, "https://gitlab.com/"), None);
    assert_eq!(sink.remembered_uid(&p.ctx, "not a url"), None);
    // Another process sees it; nothing about the site or uid is readable on disk.
    let other = Proc::new(home.path(), p.phone.clone());
    other.receive(&key(1), &[]).unwrap();
    assert_eq!(
        other
            .sink()
            .remembered_uid(&other.ctx, "github.com")
            .as_deref(),
        Some("7a1c-uid")
    );
    for (name, bytes) in snapshot(home.path()) {
        for needle in [&b"github"[..], b"7a1c-uid", b"GitHub", b"secret-"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{name} leaks {needle:?}"
            );
        }
    }
    // Deleting the credential forgets the choice.
    call(&p, actions::delete, json!({"uid": "7a1c-uid"})).unwrap();
    assert_eq!(sink.remembered_uid(&p.ctx, "github.com"), None);
}

#[test]
fn save_credentials_off_keeps_only_the_key() {
    let home = tempfile::tempdir().unwrap();
    let config = Config::default().with_section(
        "vault",
        &passbridge::vault::Settings {
            save_credentials: false,
            ..Default::default()
        },
    );
    let p = Proc::with_config(home.path(), Arc::new(FakePhone::new(key(1))), config);
    p.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    let s = call(&p, actions::status, json!({})).unwrap();
    assert_eq!(
        (
            s["locked"].clone(),
            s["entries"].clone(),
            s["save_credentials"].clone()
        ),
        (json!(false), json!(0), json!(false))
    );
}

#[test]
fn other_processes_see_changes_without_unlocking_again() {
    let home = tempfile::tempdir().unwrap();
    let phone = Arc::new(FakePhone::new(key(1)));
    let firefox = Proc::new(home.path(), phone.clone());
    let chrome = Proc::new(home.path(), phone);
    firefox
        .receive(&key(1), &[cred("u1", "A", "a.example")])
        .unwrap();
    chrome.receive(&key(1), &[]).unwrap();
    firefox
        .receive(&key(1), &[cred("u2", "B", "b.example")])
        .unwrap();
    assert_eq!(
        uids(&call(&chrome, actions::search, json!({"url": "b.example"})).unwrap()),
        ["u2"]
    );
    call(&chrome, actions::delete, json!({"uid": "u1"})).unwrap();
    assert_eq!(
        call(&firefox, actions::status, json!({})).unwrap()["entries"],
        1
    );
    // Locking in one locks the other on its next use.
    call(&chrome, actions::lock, json!({})).unwrap();
    let (c, msg) = call(&firefox, actions::list, json!({})).unwrap_err();
    assert_eq!(c, "vault_locked");
    assert!(msg.contains("another browser"), "{msg}");
    assert!(!firefox.vault().holds_key());
    // And it can be unlocked again afterwards.
    firefox.receive(&key(1), &[]).unwrap();
    call(&firefox, actions::list, json!({})).unwrap();
}

#[test]
fn concurrent_writers_in_threads_lose_nothing() {
    let home = tempfile::tempdir().unwrap();
    let phone = Arc::new(FakePhone::new(key(1)));
    let procs: Vec<Proc> = (0..3)
        .map(|_| Proc::new(home.path(), phone.clone()))
        .collect();
    for p in &procs {
        p.receive(&key(1), &[]).unwrap();
    }
    std::thread::scope(|s| {
        for (n, p) in procs.iter().enumerate() {
            s.spawn(move || {
                for i in 0..60 {
                    p.receive(&key(1), &[cred(&format!("p{n}-{i}"), "x", "")])
                        .unwrap();
                }
            });
        }
    });
    for p in &procs {
        assert_eq!(call(p, actions::status, json!({})).unwrap()["entries"], 180);
    }
}

#[test]
fn reset_keeps_the_old_vault_aside() {
    let (home, p) = setup();
    p.receive(&key(1), &[cred("u1", "A", "")]).unwrap();
    let before = snapshot(home.path());
    let r = call(&p, actions::reset, json!({"confirm": true})).unwrap();
    let moved = std::path::PathBuf::from(r["moved_to"].as_str().unwrap());
    assert!(moved.join("manifest.pbv").exists());
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["exists"],
        false
    );
    // A new link key starts a new vault; the old files are untouched.
    p.receive(&key(2), &[]).unwrap();
    assert_eq!(call(&p, actions::status, json!({})).unwrap()["entries"], 0);
    for (name, bytes) in before {
        assert_eq!(std::fs::read(moved.join(&name)).unwrap(), bytes, "{name}");
    }
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let (_home, p) = setup();
    p.receive(&key(0xab), &[cred("u1", "A", "")]).unwrap();
    let dbg = format!("{:?} {:?}", key(0xab), cred("u1", "A", ""));
    assert!(
        !dbg.contains("secret-u1") && !dbg.contains("171") && !dbg.contains("ab, ab"),
        "{dbg}"
    );
    // Already unlocked, and still the password is checked (none is set here).
    let (c, msg) = call(&p, actions::unlock, json!({"password": "hunter22"})).unwrap_err();
    assert_eq!(c, "vault_no_password");
    assert!(!msg.contains("hunter22"), "{msg}");
    call(&p, actions::lock, json!({})).unwrap();
    let (_, msg) = call(&p, actions::unlock, json!({"password": "hunter22"})).unwrap_err();
    assert!(!msg.contains("hunter22"), "{msg}");
}

#[test]
fn growing_vault_is_resharded_and_other_processes_follow() {
    let home = tempfile::tempdir().unwrap();
    let phone = Arc::new(FakePhone::new(key(1)));
    let a = Proc::new(home.path(), phone.clone());
    let b = Proc::new(home.path(), phone);
    a.receive(&key(1), &[cred("first", "First", "https://first.example")])
        .unwrap();
    b.receive(&key(1), &[]).unwrap();
    assert_eq!(segment_files(home.path()).len(), 1);
    for batch in 0..3 {
        let creds: Vec<_> = (0..400)
            .map(|i| {
                cred(
                    &format!("b{batch}-{i}"),
                    &format!("N{batch} {i}"),
                    &format!("https://s{i}.example"),
                )
            })
            .collect();
        a.receive(&key(1), &creds).unwrap();
    }
    // 1201 entries: more than 512 in one segment, so they were spread over more files.
    let files = segment_files(home.path()).len();
    assert!(files > 1, "{files}");
    // b cached the old layout and follows the new one without unlocking again.
    assert_eq!(
        call(&b, actions::status, json!({})).unwrap()["entries"],
        1201
    );
    let r = call(&b, actions::search, json!({"url": "https://s7.example"})).unwrap();
    assert_eq!(uids(&r), ["b0-7", "b1-7", "b2-7"]);
    assert_eq!(
        call(&b, actions::get, json!({"uid": "first"})).unwrap()["name"],
        "First"
    );
    call(&b, actions::delete, json!({"uid": "b1-7"})).unwrap();
    let fresh = Proc::new(home.path(), a.phone.clone());
    fresh.receive(&key(1), &[]).unwrap();
    assert_eq!(
        call(&fresh, actions::list, json!({"limit": 1000})).unwrap()["total"],
        1200
    );
}

#[test]
fn a_large_vault_opens_with_every_entry_in_place() {
    let home = tempfile::tempdir().unwrap();
    let phone = Arc::new(FakePhone::new(key(1)));
    let a = Proc::new(home.path(), phone.clone());
    let creds: Vec<_> = (0..3000)
        .map(|i| {
            cred(
                &format!("u{i}"),
                &format!("Name {i}"),
                &format!("https://s{}.example", i % 1000),
            )
        })
        .collect();
    a.receive(&key(1), &creds).unwrap();
    // 3000 entries: 16 segments, read on several threads by a fresh process.
    assert_eq!(segment_files(home.path()).len(), 16);
    let b = Proc::new(home.path(), phone);
    b.receive(&key(1), &[]).unwrap();
    for i in (0..3000).step_by(97) {
        let got = call(&b, actions::get, json!({"uid": format!("u{i}")})).unwrap();
        assert_eq!(got["name"], format!("Name {i}"));
    }
    let r = call(&b, actions::search, json!({"url": "https://s5.example/x"})).unwrap();
    assert_eq!(uids(&r), ["u1005", "u2005", "u5"]);
    assert_eq!(call(&b, actions::list, json!({})).unwrap()["total"], 3000);
}

#[test]
fn a_phone_result_does_not_unlock_when_unlocking_needs_an_approval() {
    let (_home, p) = setup();
    p.gate.deny.lock().unwrap().insert("vault_unlock".into());
    // The first result creates the vault and is saved in it, but the vault stays locked.
    p.receive(&key(1), &[cred("u1", "A", "https://a.example")])
        .unwrap();
    assert!(!p.vault().holds_key(), "the key must not stay in memory");
    let s = call(&p, actions::status, json!({})).unwrap();
    assert_eq!(
        (s["exists"].clone(), s["locked"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        code(call(&p, actions::get, json!({"uid": "u1"}))),
        "vault_locked"
    );
    // Later results while locked: updates and additions are saved too.
    let mut changed = cred("u1", "A", "https://a.example");
    changed.password = "rotated".into();
    p.receive(&key(1), &[changed, cred("u2", "B", "")]).unwrap();
    assert!(!p.vault().holds_key());
    assert_eq!(
        code(call(&p, actions::unlock, json!({}))),
        "approval_denied"
    );

    // Approved: everything received while locked is there.
    p.gate.deny.lock().unwrap().clear();
    call(&p, actions::unlock, json!({})).unwrap();
    assert_eq!(call(&p, actions::status, json!({})).unwrap()["entries"], 2);
    assert_eq!(
        call(&p, actions::get, json!({"uid": "u1"})).unwrap()["password"],
        "rotated"
    );

    // Already unlocked: a result is taken as before and the vault stays open.
    p.gate.deny.lock().unwrap().insert("vault_unlock".into());
    p.receive(&key(1), &[cred("u3", "C", "")]).unwrap();
    assert!(p.vault().holds_key());
    assert_eq!(call(&p, actions::status, json!({})).unwrap()["entries"], 3);
}

/// Issue 12: `passbridge vault get p5psp5kc` failed although `p5psp5kc` is the readable uid
/// shown in every result. A readable uid works wherever a uid is taken; two credentials
/// sharing one are an error that lists both.
#[test]
fn readable_uids_are_accepted_wherever_a_uid_is() {
    let (_home, p) = setup();
    let mut a = cred("0b2c6a51-aaaa", "GitHub", "https://github.com");
    a.readable_uid = "p5psp5kc".into();
    let mut b = cred("77d1e0c2-bbbb", "Bank", "https://bank.example");
    b.readable_uid = "twin0001".into();
    let mut c = cred("91aa0f3e-cccc", "Bank (old)", "https://old.bank.example");
    c.readable_uid = "twin0001".into();
    p.receive(&key(1), &[a, b, c]).unwrap();

    let got = call(&p, actions::get, json!({"uid": "p5psp5kc"})).unwrap();
    assert_eq!(got["uid"], "0b2c6a51-aaaa");
    assert_eq!(got["password"], "secret-0b2c6a51-aaaa");
    let got = call(&p, actions::get, json!({"uid": "P5PSP5KC"})).unwrap();
    assert_eq!(got["uid"], "0b2c6a51-aaaa");

    let (code, message) = call(&p, actions::get, json!({"uid": "twin0001"})).unwrap_err();
    assert_eq!(code, "invalid_params");
    assert!(
        message.contains("77d1e0c2-bbbb (Bank)") && message.contains("91aa0f3e-cccc (Bank (old))"),
        "{message}"
    );
    assert_eq!(
        call(&p, actions::get, json!({"uid": "nothere1"}))
            .unwrap_err()
            .0,
        "vault_not_found"
    );

    let deleted = call(&p, actions::delete, json!({"uid": "p5psp5kc"})).unwrap();
    assert_eq!(deleted["deleted"], "0b2c6a51-aaaa");
    assert_eq!(call(&p, actions::status, json!({})).unwrap()["entries"], 2);
}

fn cli(p: &Proc, cmd: passbridge::vault::cli::Command) -> String {
    let mut out = Vec::new();
    passbridge::vault::cli::run_with(&p.ctx, cmd, &mut std::io::empty(), &mut out)
        .map_err(|e| e.message)
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// Issue 12: `passbridge vault search github` said "No credentials." while `github.com` found
/// the entry: a word that is not an address searches names and websites as text.
#[test]
fn cli_search_for_a_plain_word_searches_names_and_websites() {
    use passbridge::vault::cli::{Command, Output, Unlock};
    let (_home, p) = setup();
    p.receive(
        &key(1),
        &[
            cred("u1", "Work account", "https://github.com/login"),
            cred("u2", "My GitHub", ""),
            cred("u3", "Bank", "https://bank.example"),
        ],
    )
    .unwrap();
    let search = |url: &str| {
        cli(
            &p,
            Command::Search {
                url: url.into(),
                unlock: Unlock::default(),
                out: Output { json: false },
            },
        )
    };
    let text = search("github");
    assert!(
        text.contains("Work account") && text.contains("My GitHub"),
        "{text}"
    );
    assert!(!text.contains("Bank"), "{text}");
    assert!(search("GITHUB").contains("Work account"));
    assert_eq!(search("nothing").trim(), "No credentials.");
    // An address still goes through site matching.
    let text = search("https://bank.example/login");
    assert!(text.contains("Bank") && !text.contains("GitHub"), "{text}");
}

/// Issue 12: `vault lock` with no vault said "Locked.".
#[test]
fn cli_lock_without_a_vault_says_there_is_none() {
    let (_home, p) = setup();
    let text = cli(&p, passbridge::vault::cli::Command::Lock);
    assert_eq!(text.trim(), "There is no vault yet: nothing to lock.");
    p.receive(&key(1), &[cred("u1", "GitHub", "https://github.com")])
        .unwrap();
    let text = cli(&p, passbridge::vault::cli::Command::Lock);
    assert_eq!(text.trim(), "Locked in every browser and terminal.");
}

#[test]
fn changing_or_clearing_the_password_needs_the_current_one() {
    let (home, p) = setup();
    p.receive(&key(1), &[cred("u1", "A", "a.example")]).unwrap();
    // The first password needs none.
    call(
        &p,
        actions::set_password,
        json!({"password": "first password"}),
    )
    .unwrap();
    let before = snapshot(home.path());
    assert_eq!(
        code(call(
            &p,
            actions::set_password,
            json!({"password": "attacker chosen"})
        )),
        "invalid_params"
    );
    assert_eq!(
        code(call(
            &p,
            actions::set_password,
            json!({"password": "attacker chosen", "current_password": "a guess!"})
        )),
        "vault_wrong_password"
    );
    assert_eq!(
        code(call(&p, actions::clear_password, json!({}))),
        "invalid_params"
    );
    assert_eq!(snapshot(home.path()), before, "nothing changed");
    call(
        &p,
        actions::set_password,
        json!({"password": "second password", "current_password": "first password"}),
    )
    .unwrap();
    // Open already, and still the password given is checked.
    call(&p, actions::unlock, json!({"password": "second password"})).unwrap();
    assert_eq!(
        code(call(
            &p,
            actions::unlock,
            json!({"password": "first password"})
        )),
        "vault_wrong_password"
    );
    assert_eq!(
        code(call(
            &p,
            actions::clear_password,
            json!({"current_password": "first password"})
        )),
        "vault_wrong_password"
    );
    call(
        &p,
        actions::clear_password,
        json!({"current_password": "second password"}),
    )
    .unwrap();
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["password_set"],
        false
    );
    // No password set: setting one needs nothing again.
    call(
        &p,
        actions::set_password,
        json!({"password": "third password"}),
    )
    .unwrap();
}

#[test]
fn reading_deleting_resetting_and_revealing_ask_the_gate() {
    let (_home, p) = setup();
    p.receive(&key(1), &[cred("u1", "A", "https://a.example")])
        .unwrap();
    p.gate.asked.lock().unwrap().clear();
    call(&p, actions::list, json!({})).unwrap();
    call(&p, actions::search, json!({"url": "https://a.example"})).unwrap();
    p.gate
        .deny
        .lock()
        .unwrap()
        .insert(operation::VAULT_DELETE.into());
    assert_eq!(
        code(call(&p, actions::delete, json!({"uid": "u1"}))),
        "approval_denied"
    );
    assert_eq!(uids(&call(&p, actions::list, json!({})).unwrap()), ["u1"]);
    p.gate
        .deny
        .lock()
        .unwrap()
        .insert(operation::VAULT_RESET.into());
    assert_eq!(
        code(call(&p, actions::reset, json!({"confirm": true}))),
        "approval_denied"
    );
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["exists"],
        true
    );
    // Re-keying and accepting a restored vault are vault-wide changes too.
    let manifest = || std::fs::read(p.vault().dir().join("manifest.pbv")).unwrap();
    let before = manifest();
    assert_eq!(code(call(&p, actions::rekey, json!({}))), "approval_denied");
    assert_eq!(
        code(call(&p, actions::accept_restore, json!({"confirm": true}))),
        "approval_denied"
    );
    assert_eq!(manifest(), before, "nothing changed");
    assert_eq!(
        call(&p, actions::status, json!({})).unwrap()["locked"],
        false,
        "a refused accept_restore does not lock"
    );
    p.gate
        .deny
        .lock()
        .unwrap()
        .insert(operation::VAULT_READ.into());
    assert_eq!(code(call(&p, actions::list, json!({}))), "approval_denied");
    assert_eq!(
        *p.gate.asked.lock().unwrap(),
        [
            operation::VAULT_READ,
            operation::VAULT_READ,
            operation::VAULT_DELETE,
            operation::VAULT_READ,
            operation::VAULT_RESET,
            operation::VAULT_RESET,
            operation::VAULT_RESET,
            operation::VAULT_READ,
        ]
    );
}
