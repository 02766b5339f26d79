//! The vault through the built binary: framed requests to host processes (one per browser),
//! `passbridge call`, and the `passbridge vault` commands.
use crate::support::host::{self, err_code, ok, req};
use crate::support::vault as vault_support;

use passbridge::config::Paths;
use serde_json::{Value, json};
use vault_support::{PASSWORD, cred, seed};

/// A home whose vault holds three credentials and opens with PASSWORD.
fn home_with_vault() -> host::Home {
    let home = host::Home::new();
    let mut with_otp = cred("u-gh", "GitHub", "https://github.com");
    with_otp.otp = "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into();
    seed(
        home.path(),
        &[
            with_otp,
            cred("u-gist", "Gist", "https://gist.github.com"),
            cred("u-bank", "Bank", "https://bank.example"),
        ],
    );
    // Password changes through the host and the CLI at the cheapest Argon2id cost.
    home.write_config(&json!({"vault": {"argon2_memory_kib": 1024}}));
    home
}

#[test]
fn actions_through_the_host() {
    let home = home_with_vault();
    let mut h = home.spawn(&[]);
    let hello = req(&mut h, 1, "hello", json!({}));
    for a in [
        "vault.status",
        "vault.unlock",
        "vault.lock",
        "vault.search",
        "vault.get",
        "vault.list",
        "vault.delete",
        "vault.sync",
        "vault.set_password",
        "vault.clear_password",
        "vault.rekey",
        "vault.accept_restore",
    ] {
        assert!(
            ok(&hello)["actions"]
                .as_array()
                .unwrap()
                .contains(&json!(a)),
            "{a}"
        );
    }
    let s = req(&mut h, 2, "vault.status", json!({}));
    assert_eq!(
        *ok(&s),
        json!({"exists": true, "locked": true, "password_set": true, "entries": null,
               "ttl_remaining_seconds": null, "lock_timeout_minutes": 60, "save_credentials": true})
    );
    let r = req(
        &mut h,
        3,
        "vault.search",
        json!({"url": "https://github.com"}),
    );
    assert_eq!(err_code(&r), "vault_locked");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vault.unlock")
    );
    let r = req(
        &mut h,
        4,
        "vault.unlock",
        json!({"password": "wrong password"}),
    );
    assert_eq!(err_code(&r), "vault_wrong_password");
    let r = req(&mut h, 5, "vault.unlock", json!({"password": PASSWORD}));
    assert_eq!(ok(&r)["entries"], 3);
    assert_eq!(ok(&r)["locked"], false);

    let r = req(
        &mut h,
        6,
        "vault.search",
        json!({"url": "https://www.github.com/login"}),
    );
    let items = ok(&r)["items"].as_array().unwrap();
    let got: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["uid"].as_str().unwrap(), i["match"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [("u-gh", "host"), ("u-gist", "domain")]);
    assert_eq!(items[0]["has_otp"], true);
    assert!(
        !r.to_string().contains("secret-"),
        "search must not carry passwords"
    );

    let r = req(&mut h, 7, "vault.get", json!({"uid": "u-gh"}));
    assert_eq!(ok(&r)["password"], "secret-u-gh");
    assert_eq!(ok(&r)["otp"], "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP");

    let r = req(&mut h, 8, "vault.list", json!({"limit": 2}));
    assert_eq!(ok(&r)["total"], 3);
    assert_eq!(ok(&r)["next_offset"], 2);
    assert_eq!(ok(&r)["items"][0]["name"], "Bank");

    assert_eq!(
        ok(&req(&mut h, 9, "vault.delete", json!({"uid": "u-bank"})))["deleted"],
        "u-bank"
    );
    assert_eq!(
        err_code(&req(&mut h, 10, "vault.get", json!({"uid": "u-bank"}))),
        "vault_not_found"
    );
    assert_eq!(
        err_code(&req(&mut h, 11, "vault.search", json!({"url": 7}))),
        "invalid_params"
    );

    let st = req(&mut h, 12, "status", json!({}));
    assert_eq!(
        ok(&st)["vault"],
        json!({"available": true, "exists": true, "locked": false, "entries": 2})
    );

    assert_eq!(
        ok(&req(&mut h, 13, "vault.lock", json!({})))["locked"],
        true
    );
    assert_eq!(
        err_code(&req(&mut h, 14, "vault.list", json!({}))),
        "vault_locked"
    );
    assert_eq!(h.close(), Some(0));
}

#[test]
fn two_browsers_share_one_vault() {
    let home = home_with_vault();
    let mut firefox = home.spawn(&[]);
    let mut chrome = home.spawn(&[]);
    for h in [&mut firefox, &mut chrome] {
        ok(&req(h, 1, "vault.unlock", json!({"password": PASSWORD})));
    }
    ok(&req(
        &mut firefox,
        2,
        "vault.delete",
        json!({"uid": "u-gist"}),
    ));
    let r = req(&mut chrome, 2, "vault.list", json!({}));
    assert_eq!(ok(&r)["total"], 2, "chrome must see firefox's change");
    ok(&req(&mut chrome, 3, "vault.lock", json!({})));
    let r = req(
        &mut firefox,
        3,
        "vault.search",
        json!({"url": "github.com"}),
    );
    assert_eq!(err_code(&r), "vault_locked");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another browser")
    );
    assert_eq!(firefox.close(), Some(0));
    assert_eq!(chrome.close(), Some(0));
}

#[test]
fn damaged_vault_is_an_error_not_a_crash() {
    let home = home_with_vault();
    let manifest = Paths::under(home.path())
        .data_dir
        .join("vault/manifest.pbv");
    let mut bytes = std::fs::read(&manifest).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(&manifest, &bytes).unwrap();
    let mut h = home.spawn(&[]);
    let r = req(&mut h, 1, "vault.unlock", json!({"password": PASSWORD}));
    assert_eq!(err_code(&r), "vault_corrupt");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("untouched")
    );
    let st = req(&mut h, 2, "status", json!({}));
    assert_eq!(ok(&st)["vault"]["available"], true);
    assert_eq!(ok(&req(&mut h, 3, "ping", json!({})))["echo"], json!({}));
    assert_eq!(h.close(), Some(0));
    assert_eq!(
        std::fs::read(&manifest).unwrap(),
        bytes,
        "the damaged file must stay as it was"
    );
}

#[test]
fn call_runs_one_vault_request() {
    let home = home_with_vault();
    let (reply, success) = home.call(&json!({"id": 1, "action": "vault.status"}));
    assert!(success);
    assert_eq!(reply["result"]["password_set"], true);
    let (reply, success) = home.call(&json!({"id": 2, "action": "vault.list"}));
    assert!(!success);
    assert_eq!(reply["error"]["code"], "vault_locked");
}

/// Runs `passbridge vault <args>` with `stdin`; returns (stdout, stderr, success).
fn cli(home: &host::Home, args: &[&str], stdin: &str) -> (String, String, bool) {
    let out = home.run_cli(&[&["vault"], args].concat(), stdin);
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

#[test]
fn cli_for_people() {
    let home = home_with_vault();
    // Each command is its own locked process here (the password checks below need that);
    // tests/agent.rs covers commands that share a browser's unlock.
    home.write_config(&json!({"agent": false, "vault": {"argon2_memory_kib": 1024}}));
    let pw = format!("{PASSWORD}\n");
    let (out, _, success) = cli(&home, &["status"], "");
    assert!(success);
    assert_eq!(out.trim(), "Vault locked. A local password is set.");

    let (out, _, success) = cli(
        &home,
        &["search", "https://github.com/x", "--password-stdin"],
        &pw,
    );
    assert!(success);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("NAME")
            && lines[1].starts_with("GitHub")
            && lines[2].starts_with("Gist"),
        "{out}"
    );
    assert!(!out.contains("secret-"));

    let (out, _, success) = cli(&home, &["get", "u-gh", "--password-stdin"], &pw);
    assert!(success);
    assert!(
        out.contains("password: secret-u-gh") && out.contains("uid: u-gh"),
        "{out}"
    );

    let (out, _, success) = cli(
        &home,
        &["list", "--limit", "1", "--json", "--password-stdin"],
        &pw,
    );
    assert!(success);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["total"].clone(), v["next_offset"].clone()),
        (json!(3), json!(1))
    );

    let (_, err, success) = cli(&home, &["list", "--password-stdin"], "nope\n");
    assert!(!success);
    assert!(err.contains("vault_wrong_password"), "{err}");
    assert!(
        !err.contains("nope"),
        "the password must not be echoed: {err}"
    );

    // Change the password with the current one, then only the new one works.
    let (_, err, success) = cli(
        &home,
        &["set-password", "--current-password-stdin"],
        &format!("{PASSWORD}\nnew password 2\n"),
    );
    assert!(success, "{err}");
    assert!(cli(&home, &["list", "--password-stdin"], "new password 2\n").2);
    assert!(!cli(&home, &["list", "--password-stdin"], &pw).2);

    let (out, _, success) = cli(&home, &["lock"], "");
    assert!(success && out.contains("Locked"), "{out}");
    let (_, err, success) = cli(&home, &["reset"], "");
    assert!(!success && err.contains("--yes"), "{err}");
    assert_eq!(
        cli(&home, &["status"], "").0.trim(),
        "Vault locked. A local password is set."
    );
}

#[test]
fn wrong_passwords_are_counted_on_disk_and_slow_down() {
    let home = home_with_vault();
    let counter = Paths::under(home.path())
        .data_dir
        .join("unlock-failures.json");
    let mut h = home.spawn(&[]);
    let unlock =
        |h: &mut host::Host, id, pw: &str| req(h, id, "vault.unlock", json!({"password": pw}));
    for id in 0..2 {
        assert_eq!(
            err_code(&unlock(&mut h, id, "wrong password")),
            "vault_wrong_password"
        );
    }
    let stored: Value = serde_json::from_slice(&std::fs::read(&counter).unwrap()).unwrap();
    assert_eq!(stored["count"], 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&counter).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // As if ten wrong passwords had just been tried (by this or another process): even the
    // right one must wait, and is not checked.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(&counter, json!({"count": 10, "last_unix": now}).to_string()).unwrap();
    let r = unlock(&mut h, 3, PASSWORD);
    assert_eq!(err_code(&r), "vault_too_many_attempts");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("wait"),
        "{r}"
    );
    assert_eq!(
        ok(&req(&mut h, 4, "vault.status", json!({})))["locked"],
        true
    );
    // The wait has passed (counted from the stored time): the right password works and the
    // count is cleared.
    std::fs::write(
        &counter,
        json!({"count": 10, "last_unix": now - 100_000}).to_string(),
    )
    .unwrap();
    assert_eq!(ok(&unlock(&mut h, 5, PASSWORD))["locked"], false);
    assert!(!counter.exists());
    assert_eq!(h.close(), Some(0));
}

/// Every vault file but the lock, by name.
fn vault_files(home: &host::Home) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = Paths::under(home.path()).data_dir.join("vault");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_str().unwrap().ends_with(".lock"))
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

fn put_back(home: &host::Home, files: &[(std::path::PathBuf, Vec<u8>)]) {
    for (p, _) in vault_files(home) {
        std::fs::remove_file(p).unwrap();
    }
    for (p, b) in files {
        std::fs::write(p, b).unwrap();
    }
}

#[test]
fn a_rolled_back_vault_is_refused_by_a_running_host_and_a_new_one() {
    let home = home_with_vault();
    let backup = vault_files(&home);
    let mut h = home.spawn(&[]);
    let r = req(&mut h, 1, "vault.unlock", json!({"password": PASSWORD}));
    assert_eq!(ok(&r)["entries"], 3);
    let r = req(&mut h, 2, "vault.delete", json!({"uid": "u-bank"}));
    ok(&r);
    // The older copy comes back: the running host refuses it and locks.
    put_back(&home, &backup);
    let r = req(&mut h, 3, "vault.list", json!({}));
    assert_eq!(err_code(&r), "vault_rolled_back");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("accept-restore"),
        "{r}"
    );
    let r = req(&mut h, 4, "vault.status", json!({}));
    assert_eq!(ok(&r)["locked"], true);
    // A new host refuses it too.
    let mut fresh = home.spawn(&[]);
    let r = req(&mut fresh, 1, "vault.unlock", json!({"password": PASSWORD}));
    assert_eq!(err_code(&r), "vault_rolled_back");
    // Accepted deliberately from the command line, it opens again, with the restored entry.
    let (_, err, success) = cli(&home, &["accept-restore"], "");
    assert!(!success && err.contains("--yes"), "{err}");
    let (out, err, success) = cli(&home, &["accept-restore", "--yes"], "");
    assert!(success, "{err}");
    assert!(out.contains("accepted"), "{out}");
    let r = req(&mut fresh, 2, "vault.unlock", json!({"password": PASSWORD}));
    assert_eq!(ok(&r)["entries"], 3);
    let r = req(&mut fresh, 3, "vault.accept_restore", json!({}));
    assert_eq!(err_code(&r), "invalid_params");
}

#[test]
fn rekey_through_the_host_and_the_cli() {
    let home = home_with_vault();
    // Without the agent, a process holding the old key locks (tests/agent.rs: with it, the
    // new key reaches every process).
    home.write_config(&json!({"agent": false, "vault": {"argon2_memory_kib": 1024}}));
    let before = vault_files(&home);
    let mut h = home.spawn(&[]);
    let r = req(&mut h, 1, "vault.rekey", json!({}));
    assert_eq!(err_code(&r), "vault_locked");
    req(&mut h, 2, "vault.unlock", json!({"password": PASSWORD}));
    let r = req(&mut h, 3, "vault.rekey", json!({}));
    assert_eq!(*ok(&r), json!({"rekeyed": true, "entries": 3}));
    let after = vault_files(&home);
    assert!(
        after.iter().all(
            |(p, b)| !before.iter().any(|(q, c)| p == q && b == c) || p.ends_with("lock-epoch")
        ),
        "every file was rewritten"
    );
    let pw = format!("{PASSWORD}\n");
    let (out, err, success) = cli(&home, &["rekey", "--password-stdin"], &pw);
    assert!(success, "{err}");
    assert!(out.contains("3 credential(s) were re-sealed"), "{out}");
    // The host held the previous key: it locks and unlocks again with the same password.
    let r = req(&mut h, 4, "vault.list", json!({}));
    assert_eq!(err_code(&r), "vault_locked");
    let r = req(&mut h, 5, "vault.unlock", json!({"password": PASSWORD}));
    assert_eq!(ok(&r)["entries"], 3);
}

/// `vault.settings.set`: bounded, saved in config.json (0600, the rest of the section kept),
/// applied to the open session and to the next process; a longer timeout passes the approval
/// gate when the policy guards unlocking, a shorter one never needs it.
#[test]
fn lock_timeout_is_changed_through_the_host() {
    let home = home_with_vault();
    let cfg_file = home.path().join("config/config.json");
    let on_disk =
        || -> Value { serde_json::from_slice(&std::fs::read(&cfg_file).unwrap()).unwrap() };
    let mut h = home.spawn(&[]);
    let r = req(&mut h, 1, "vault.settings", json!({}));
    host::assert_schema("vaultSettings", ok(&r));
    assert_eq!(
        *ok(&r),
        json!({"lock_timeout_minutes": 60, "min_lock_timeout_minutes": 1,
               "max_lock_timeout_minutes": 10080, "save_credentials": true,
               "ttl_remaining_seconds": null})
    );
    for bad in [
        json!({"lock_timeout_minutes": 0}),
        json!({"lock_timeout_minutes": 10081}),
        json!({"lock_timeout_minutes": 4294967356u64}),
        json!({"lock_timeout_minutes": -5}),
        json!({"lock_timeout_minutes": "30"}),
        json!({"lock_timeout_secs": 1800}),
        json!({}),
    ] {
        let r = req(&mut h, 2, "vault.settings.set", bad.clone());
        assert_eq!(err_code(&r), "invalid_params", "{bad}");
    }
    let r = req(
        &mut h,
        3,
        "vault.settings.set",
        json!({"lock_timeout_minutes": 0}),
    );
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from 1 to 10080"),
        "{r}"
    );
    assert_eq!(
        on_disk()["vault"]["lock_timeout_minutes"],
        json!(null),
        "nothing saved"
    );

    let r = req(&mut h, 4, "vault.unlock", json!({"password": PASSWORD}));
    let before = ok(&r)["ttl_remaining_seconds"].as_u64().unwrap();
    assert!(before > 300 && before <= 3600, "{before}");
    let r = req(
        &mut h,
        5,
        "vault.settings.set",
        json!({"lock_timeout_minutes": 5}),
    );
    host::assert_schema("vaultSettings", ok(&r));
    assert_eq!(ok(&r)["lock_timeout_minutes"], json!(5));
    assert_eq!(ok(&r)["approval_used"], json!(false));
    let left = ok(&r)["ttl_remaining_seconds"].as_u64().unwrap();
    assert!(
        left <= 300 && left > 0,
        "the open session now locks within 5 minutes: {left}"
    );
    let s = req(&mut h, 6, "vault.status", json!({}));
    assert_eq!(ok(&s)["lock_timeout_minutes"], json!(5));
    assert!(ok(&s)["ttl_remaining_seconds"].as_u64().unwrap() <= 300);
    // Saved beside what was there, private to the user.
    let cfg = on_disk();
    assert_eq!(
        cfg["vault"],
        json!({"argon2_memory_kib": 1024, "lock_timeout_minutes": 5})
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cfg_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(h.close(), Some(0));
    let mut h = home.spawn(&[]);
    let s = req(&mut h, 1, "vault.status", json!({}));
    assert_eq!(
        ok(&s)["lock_timeout_minutes"],
        json!(5),
        "a new process reads it"
    );
    assert_eq!(h.close(), Some(0));

    // A policy guarding the unlock (no key registered, so no approval can be given): shorter
    // still works, longer is refused and nothing changes.
    let mut cfg = on_disk();
    cfg["clarion"] = json!({"policy": {"require": ["vault_unlock"]}});
    home.write_config(&cfg);
    let mut h = home.spawn(&[]);
    let r = req(
        &mut h,
        1,
        "vault.settings.set",
        json!({"lock_timeout_minutes": 3}),
    );
    assert_eq!(ok(&r)["lock_timeout_minutes"], json!(3));
    let r = req(
        &mut h,
        2,
        "vault.settings.set",
        json!({"lock_timeout_minutes": 120}),
    );
    assert_eq!(err_code(&r), "approval_required");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vault_settings"),
        "{r}"
    );
    assert_eq!(on_disk()["vault"]["lock_timeout_minutes"], json!(3));
    assert_eq!(
        ok(&req(&mut h, 3, "vault.settings", json!({})))["lock_timeout_minutes"],
        json!(3)
    );
    assert_eq!(h.close(), Some(0));
}
