//! The passbridge agent through the built binary: two host processes (two browsers) and the
//! terminal share one unlock, lock in one locks all, the agent's timeout, an agent killed
//! mid-use, a client of another uid, file modes, and the agent switched off; the same for
//! Passman unlocks, PassWeaver logins and Clarion approvals.
#![cfg(unix)]

use crate::support::host::{self, err_code, ok, req};
use crate::support::vault as vault_support;
use crate::support::{ap_phone, clarion_fake, passman_fake, passweaver_fake};

use passbridge::agent::client::Client;
use passbridge::agent::proto::{Request, Response};
use passbridge::agent::{SOCKET, Settings};
use passbridge::vault::format;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vault_support::{PASSWORD, cred, key, seed};

/// A home whose vault holds three credentials and opens with PASSWORD (made in-process, so
/// no agent is involved yet).
fn home_with_vault() -> host::Home {
    let home = host::Home::new();
    seed(
        home.path(),
        &[
            cred("u-gh", "GitHub", "https://github.com"),
            cred("u-gist", "Gist", "https://gist.github.com"),
            cred("u-bank", "Bank", "https://bank.example"),
        ],
    );
    home
}

fn agent_dir(home: &host::Home) -> PathBuf {
    home.path().join("data/agent")
}

/// Stops the home's agent when the test ends, pass or fail (a removed socket also stops it).
struct StopAgent<'a>(&'a host::Home);

impl Drop for StopAgent<'_> {
    fn drop(&mut self) {
        let _ = self.0.command().args(["agent", "stop"]).output();
    }
}

/// `passbridge <args>` with empty stdin (not a terminal): (stdout, stderr, success).
fn run(home: &host::Home, args: &[&str]) -> (String, String, bool) {
    let out = home
        .command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

/// The running agent's pid, from `passbridge agent status`.
fn agent_pid(home: &host::Home) -> Option<u32> {
    let (out, err, success) = run(home, &["agent", "status"]);
    assert!(success, "{err}");
    let rest = out.split("(pid ").nth(1)?;
    rest.split(')').next()?.parse().ok()
}

/// Polls `f` until it is true; the deadline only turns a hang into a failure.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + host::TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file of the vault directory with its bytes.
fn vault_files(home: &host::Home) -> BTreeMap<String, Vec<u8>> {
    let dir = home.path().join("data/vault");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn two_browsers_and_the_terminal_share_one_unlock() {
    let home = home_with_vault();
    let _stop = StopAgent(&home);
    let mut firefox = home.spawn(&[]);
    let mut chrome = home.spawn(&[]);
    assert_eq!(
        ok(&req(&mut chrome, 1, "vault.status", json!({})))["locked"],
        true
    );
    assert!(!agent_dir(&home).exists(), "nothing unlocked, no agent yet");

    let r = req(
        &mut firefox,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    );
    assert_eq!(ok(&r)["entries"], 3);
    // The agent's directory, socket and lock file are private.
    let dir = agent_dir(&home);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(SOCKET)), 0o600);
    assert_eq!(mode(&dir.join("agent.lock")), 0o600);

    // Chrome never unlocked: it answers from the same unlock.
    let r = req(
        &mut chrome,
        2,
        "vault.search",
        json!({"url": "https://github.com"}),
    );
    assert_eq!(ok(&r)["items"][0]["uid"], "u-gh");
    // So does the terminal, without a password or the phone.
    let (out, err, success) = run(&home, &["vault", "search", "https://github.com"]);
    assert!(success, "{err}");
    assert!(out.lines().nth(1).unwrap().starts_with("GitHub"), "{out}");
    assert!(!err.contains("phone"), "{err}");
    let (out, err, success) = run(&home, &["vault", "get", "u-bank"]);
    assert!(
        success && out.contains("password: secret-u-bank"),
        "{out}{err}"
    );
    let (out, _, success) = run(&home, &["vault", "list", "--json"]);
    assert!(success);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["total"], 3);
    let (out, _, _) = run(&home, &["vault", "status"]);
    assert!(out.starts_with("Vault unlocked, 3 credential(s)"), "{out}");

    // Lock in Chrome locks Firefox and the terminal.
    ok(&req(&mut chrome, 3, "vault.lock", json!({})));
    let r = req(
        &mut firefox,
        2,
        "vault.search",
        json!({"url": "github.com"}),
    );
    assert_eq!(err_code(&r), "vault_locked");
    let (out, _, _) = run(&home, &["vault", "status"]);
    assert_eq!(out.trim(), "Vault locked. A local password is set.");
    let (_, err, success) = run(&home, &["vault", "search", "https://github.com"]);
    assert!(!success, "locked, no terminal to ask, no phone linked");
    assert!(
        !err.contains("pprove the request"),
        "no request reached a phone: {err}"
    );

    // The terminal unlocks (password on stdin); both browsers use it; `passbridge lock` locks all.
    let mut cli = home
        .command()
        .args(["vault", "list", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(cli.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(cli.wait_with_output().unwrap().status.success());
    for (i, h) in [&mut firefox, &mut chrome].into_iter().enumerate() {
        let r = req(h, 10 + i as u64, "vault.get", json!({"uid": "u-gist"}));
        assert_eq!(ok(&r)["password"], "secret-u-gist");
    }
    let (out, err, success) = run(&home, &["lock"]);
    assert!(success && out.contains("Locked"), "{out}{err}");
    for (i, h) in [&mut firefox, &mut chrome].into_iter().enumerate() {
        let r = req(h, 20 + i as u64, "vault.list", json!({}));
        assert_eq!(err_code(&r), "vault_locked");
    }
    assert!(
        run(&home, &["agent", "status"])
            .0
            .contains("holds 0 unlock(s)")
    );
    assert_eq!(firefox.close(), Some(0));
    assert_eq!(chrome.close(), Some(0));
}

/// A new data key made in one process (rekey, password change or removal, also from the
/// terminal) replaces the old one in the agent: the other processes notice the new key on
/// disk, drop the old one and go on with the new one instead of staying locked.
#[test]
fn a_new_data_key_reaches_every_process_through_the_agent() {
    let home = home_with_vault();
    home.write_config(&json!({"vault": {"argon2_memory_kib": 1024}}));
    let _stop = StopAgent(&home);
    let mut firefox = home.spawn(&[]);
    let mut chrome = home.spawn(&[]);
    let r = req(
        &mut firefox,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    );
    assert_eq!(ok(&r)["entries"], 3);
    assert_eq!(
        ok(&req(&mut chrome, 1, "vault.list", json!({})))["total"],
        3
    );
    let manifest = || vault_files(&home)["manifest.pbv"].clone();
    let rotations = [
        ("vault.rekey", json!({})),
        (
            "vault.set_password",
            json!({"password": "second password", "current_password": PASSWORD}),
        ),
        (
            "vault.clear_password",
            json!({"current_password": "second password"}),
        ),
    ];
    for (i, (action, params)) in rotations.into_iter().enumerate() {
        let id = 10 * (i as u64 + 1);
        let before = manifest();
        ok(&req(&mut firefox, id, action, params));
        assert_ne!(manifest(), before, "{action} rewrote the manifest");
        let r = req(&mut chrome, id, "vault.get", json!({"uid": "u-gist"}));
        assert_eq!(ok(&r)["password"], "secret-u-gist", "after {action}");
        let r = req(&mut firefox, id + 1, "vault.list", json!({}));
        assert_eq!(ok(&r)["total"], 3, "after {action}");
    }
    // From the terminal, which takes the unlock from the agent and gives the new key back.
    let (out, err, success) = run(&home, &["vault", "rekey"]);
    assert!(success && out.contains("3 credential(s)"), "{out}{err}");
    for (i, h) in [&mut firefox, &mut chrome].into_iter().enumerate() {
        let r = req(h, 50 + i as u64, "vault.get", json!({"uid": "u-bank"}));
        assert_eq!(ok(&r)["password"], "secret-u-bank");
    }
    assert!(
        run(&home, &["agent", "status"])
            .0
            .contains("holds 1 unlock(s)")
    );
    // Locking still locks everyone.
    ok(&req(&mut chrome, 60, "vault.lock", json!({})));
    let r = req(&mut firefox, 60, "vault.list", json!({}));
    assert_eq!(err_code(&r), "vault_locked");
    assert_eq!(firefox.close(), Some(0));
    assert_eq!(chrome.close(), Some(0));
}

#[test]
fn the_agents_timeout_locks_every_process() {
    let home = home_with_vault();
    let _stop = StopAgent(&home);
    home.write_config(&json!({"agent": {"test_ttl_ms": 300}}));
    let mut firefox = home.spawn(&[]);
    let mut chrome = home.spawn(&[]);
    ok(&req(
        &mut firefox,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    // Nobody uses it: the agent's timeout passes and every process finds it locked (status
    // does not count as use).
    let mut id = 10;
    eventually("chrome sees the vault locked", || {
        id += 1;
        ok(&req(&mut chrome, id, "vault.status", json!({})))["locked"] == true
    });
    let r = req(
        &mut firefox,
        2,
        "vault.search",
        json!({"url": "github.com"}),
    );
    assert_eq!(err_code(&r), "vault_locked");
    assert!(
        run(&home, &["agent", "status"])
            .0
            .contains("holds 0 unlock(s)")
    );
    assert_eq!(firefox.close(), Some(0));
    assert_eq!(chrome.close(), Some(0));
}

#[test]
fn an_agent_killed_mid_use_is_replaced_and_nothing_is_lost() {
    let home = home_with_vault();
    let _stop = StopAgent(&home);
    let mut firefox = home.spawn(&[]);
    ok(&req(
        &mut firefox,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    let before = vault_files(&home);
    let old = agent_pid(&home).expect("an agent runs after an unlock");
    // SAFETY: sending a signal to a process id.
    assert_eq!(unsafe { libc::kill(old as i32, libc::SIGKILL) }, 0);
    eventually("the killed agent is gone", || agent_pid(&home).is_none());
    // The terminal finds nothing to share (the unlock died with the agent)…
    assert_eq!(
        run(&home, &["vault", "status"]).0.trim(),
        "Vault locked. A local password is set."
    );
    // …until the next use in the browser, which still holds it, starts a new agent.
    let r = req(
        &mut firefox,
        2,
        "vault.search",
        json!({"url": "https://github.com"}),
    );
    assert_eq!(ok(&r)["total"], 2);
    let new = agent_pid(&home).expect("a new agent");
    assert_ne!(new, old);
    let (out, err, success) = run(&home, &["vault", "get", "u-gh"]);
    assert!(
        success && out.contains("password: secret-u-gh"),
        "{out}{err}"
    );
    assert_eq!(vault_files(&home), before, "the vault files are untouched");
    assert_eq!(firefox.close(), Some(0));
}

#[test]
fn switched_off_each_process_keeps_its_own_unlock() {
    for config in [json!({"agent": false}), json!({})] {
        let home = home_with_vault();
        home.write_config(&config);
        let env_off = config == json!({});
        let spawn = || {
            let mut c = home.command();
            if env_off {
                c.env("PASSBRIDGE_AGENT", "off");
            }
            host::Host::start(&mut c)
        };
        let mut firefox = spawn();
        let mut chrome = spawn();
        ok(&req(
            &mut firefox,
            1,
            "vault.unlock",
            json!({"password": PASSWORD}),
        ));
        let r = req(&mut chrome, 1, "vault.list", json!({}));
        assert_eq!(err_code(&r), "vault_locked", "{config}");
        assert!(!agent_dir(&home).exists(), "no agent when it is off");
        // Lock everywhere still works through the vault's own lock epoch.
        ok(&req(&mut chrome, 2, "vault.lock", json!({})));
        let r = req(&mut firefox, 2, "vault.list", json!({}));
        assert_eq!(err_code(&r), "vault_locked");
        assert_eq!(firefox.close(), Some(0));
        assert_eq!(chrome.close(), Some(0));
    }
}

fn client(dir: &Path, test_ttl_ms: Option<u64>, idle_exit_seconds: u64) -> Client {
    let settings = Settings {
        test_ttl_ms,
        idle_exit_seconds,
        ..Settings::default()
    };
    Client::new(dir.to_path_buf(), settings, Some(host::bin_path()))
}

#[test]
fn named_secrets_each_with_their_own_timeout_then_idle_exit() {
    let home = host::Home::new();
    let dir = home.path().join("agent");
    let c = client(&dir, None, 1);
    assert!(c.get("vault/x", false).unwrap().is_none(), "no agent yet");
    assert!(!dir.exists(), "asking starts nothing");
    c.put("vault/x", &[7; 32], Duration::from_secs(3600))
        .unwrap();
    c.put("passman/y", b"short", Duration::from_millis(1))
        .unwrap();
    assert_eq!(&c.get("vault/x", true).unwrap().unwrap()[..], &[7; 32]);
    eventually("the short one expires", || {
        c.check("passman/y", false).unwrap().is_none()
    });
    assert!(c.check("vault/x", false).unwrap().unwrap() > Duration::from_secs(3000));
    c.forget("vault/x").unwrap();
    assert!(c.get("vault/x", false).unwrap().is_none());
    // Holding nothing, it exits by itself and removes its socket.
    eventually("the idle agent exits", || c.status().unwrap().is_none());
    assert!(!dir.join(SOCKET).exists());
}

#[test]
fn only_one_agent_runs_per_directory() {
    let home = host::Home::new();
    let dir = home.path().join("agent");
    let c = client(&dir, None, 600);
    let mut racers: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(host::BIN)
                .args(["agent", "run", "--socket-dir"])
                .arg(&dir)
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    eventually("one agent answers", || c.status().unwrap().is_some());
    // All but one exit at once; the one left is the one that answers.
    eventually("three racers exit", || {
        racers
            .iter_mut()
            .filter_map(|r| r.try_wait().unwrap())
            .count()
            == 3
    });
    let (pid, _) = c.status().unwrap().unwrap();
    let mut last = racers
        .into_iter()
        .find_map(|mut r| r.try_wait().unwrap().is_none().then_some(r))
        .unwrap();
    assert_eq!(last.id(), pid);
    assert!(c.stop().unwrap());
    assert!(last.wait().unwrap().success());
}

/// Sends `req` to the socket as uid/gid `nobody` in a forked child; its exit status says what
/// came back: 0 refused, 1 served, 2 no answer, 3 cannot connect, 4 cannot switch user.
fn ask_as_nobody(socket: &Path, req: &Request) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(socket.as_os_str().as_bytes()).unwrap();
    let frame = req.encode();
    let refused_op = Response::Refused(String::new()).encode()[5];
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(path.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // Only async-signal-safe calls after fork; everything is prepared above.
    // SAFETY: the child makes raw system calls and leaves with _exit.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0);
        if pid == 0 {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                libc::_exit(4);
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
                libc::_exit(3);
            }
            libc::write(fd, frame.as_ptr().cast(), frame.len());
            let mut buf = [0u8; 64];
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            if n < 6 {
                libc::_exit(2);
            }
            libc::_exit(if buf[5] == refused_op { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        libc::WEXITSTATUS(status)
    }
}

#[test]
fn a_process_of_another_user_is_refused() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test as root to cover the uid check"
        );
        eprintln!("skipped: needs root to run a client as nobody");
        return;
    }
    let home = host::Home::new();
    let dir = home.path().join("agent");
    let c = client(&dir, None, 600);
    c.put("vault/x", &[9; 32], Duration::from_secs(3600))
        .unwrap();
    let socket = dir.join(SOCKET);
    let get = Request::Get {
        name: "vault/x".into(),
        touch: false,
    };
    // The agent's private directory alone keeps nobody out.
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(ask_as_nobody(&socket, &get), 3);
    // Loosen the files as a careless admin might: the uid check still refuses.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(ask_as_nobody(&socket, &get), 0, "nobody must be refused");
    // Our own client will not use a directory others can enter.
    let e = c.status().unwrap_err().to_string();
    assert!(e.contains("open to other users"), "{e}");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(&c.get("vault/x", false).unwrap().unwrap()[..], &[9; 32]);
    assert!(c.stop().unwrap());
}

/// The terminal asks for the local password (no echo on a real terminal) before the phone.
#[test]
fn the_terminal_asks_for_the_local_password_before_the_phone() {
    use passbridge::vault::cli::{Command, Output, Unlock, run_with_prompt};
    use std::sync::Mutex;
    let home = host::Home::new();
    let phone = Arc::new(vault_support::FakePhone::new(key(1)));
    let p = vault_support::Proc::new(home.path(), phone.clone());
    p.vault().unlock_with_key(&key(1), true).unwrap();
    p.vault()
        .save(&[cred("u-gh", "GitHub", "https://github.com")])
        .unwrap();
    p.vault().set_password(PASSWORD, format::Kdf::TEST).unwrap();
    let search = || Command::Search {
        url: "https://github.com".into(),
        unlock: Unlock::default(),
        out: Output::default(),
    };
    let answers = Mutex::new(Vec::<String>::new());
    let asked = Mutex::new(0);
    let ask = |_: &str| {
        *asked.lock().unwrap() += 1;
        Ok(zeroize::Zeroizing::new(answers.lock().unwrap().remove(0)))
    };
    let run = |answers_now: &[&str]| {
        *answers.lock().unwrap() = answers_now.iter().map(|s| s.to_string()).collect();
        *asked.lock().unwrap() = 0;
        p.vault().lock();
        let mut out = Vec::new();
        let r = run_with_prompt(&p.ctx, search(), &mut &b""[..], &mut out, Some(&ask));
        (r, String::from_utf8(out).unwrap(), *asked.lock().unwrap())
    };
    // A phone that refuses proves the password alone opened it; a wrong one may be retried.
    *phone.refuse.lock().unwrap() = true;
    let (r, out, n) = run(&["wrong password", PASSWORD]);
    assert!(r.is_ok(), "{r:?}");
    assert!(out.contains("GitHub"), "{out}");
    assert_eq!(n, 2);
    // Three wrong answers: the error, and the phone never asked.
    let (r, _, n) = run(&["a wrong one", "another one", "a third one"]);
    assert_eq!(r.unwrap_err().code, "vault_wrong_password");
    assert_eq!(n, 3);
    // Enter alone means "use the phone".
    let (r, _, n) = run(&[""]);
    assert_eq!(r.unwrap_err().code, "denied", "the phone was asked");
    assert_eq!(n, 1);
    *phone.refuse.lock().unwrap() = false;
    assert!(run(&[""]).0.is_ok());
    // No local password: nothing to ask, straight to the phone.
    p.vault().clear_password().unwrap();
    let (r, _, n) = run(&[]);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(n, 0);
}

/// A locked vault, no local password, the linked phone unreachable: the terminal says so as
/// soon as a connection fails (not after the request's timeout), and never "approve".
#[test]
fn the_terminal_reports_an_unreachable_phone_at_once() {
    use std::io::{BufRead, BufReader, Write};
    let phone = ap_phone::Phone::start();
    let home = host::Home::new();
    let config = |port: u16| {
        json!({"anotherpass": {"server": "127.0.0.1", "port": port, "rsa_bits": 2048,
                               "poll_interval_ms": 100, "timeout_ms": 600000}})
    };
    home.write_config(&config(phone.port));
    let mut link = home
        .command()
        .args(["anotherpass", "link"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pending = home.path().join("data/anotherpass-pending.json");
    eventually("the link is pending", || {
        std::fs::read(&pending)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some()
    });
    let p: Value = serde_json::from_slice(&std::fs::read(&pending).unwrap()).unwrap();
    use passbridge::anotherpass::{b64, ids, rsa::RsaKeyPair};
    let sk = b64::decode(p["session_key"].as_str().unwrap()).unwrap();
    let der = b64::decode(p["client_private_key"].as_str().unwrap()).unwrap();
    let key = RsaKeyPair::from_pkcs8(&der).unwrap();
    phone.scan(&ids::qr_payload(
        p["web_client_id"].as_str().unwrap(),
        &sk,
        key.public().n(),
    ));
    phone.push(ap_phone::Reply::LinkAccept);
    link.stdin
        .take()
        .unwrap()
        .write_all(b"192.168.1.2\n\ny\n")
        .unwrap();
    let out = link.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The phone goes away: its port is closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    home.write_config(&config(port));
    let mut search = home
        .command()
        .args(["vault", "search", "https://github.com"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(search.stderr.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("stderr ended before the report")
            .unwrap();
        assert!(
            !line.contains("pprove"),
            "no request reached a phone: {line}"
        );
        if line.contains("Cannot reach the phone") {
            break;
        }
    }
    assert!(
        search.try_wait().unwrap().is_none(),
        "reported while still trying, not at the end of its 10-minute timeout"
    );
    search.kill().unwrap();
    let _ = search.wait();
}

#[test]
fn sigterm_stops_the_agent_and_removes_its_socket() {
    let home = host::Home::new();
    let dir = home.path().join("agent");
    let c = client(&dir, None, 600);
    c.put("vault/x", &[1; 32], Duration::from_secs(3600))
        .unwrap();
    let (pid, held) = c.status().unwrap().unwrap();
    assert_eq!(held, 1);
    // SAFETY: sending a signal to a process id.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    eventually("the agent stops", || c.status().unwrap().is_none());
    eventually("its socket is removed", || !dir.join(SOCKET).exists());
    // A new put starts a new agent, which holds only what it was given since.
    c.put("vault/y", &[2; 32], Duration::from_secs(3600))
        .unwrap();
    assert!(c.get("vault/x", false).unwrap().is_none());
    assert!(c.stop().unwrap());
}

// ------------------------------------------------------------ Passman, PassWeaver, Clarion

const PASSMAN_KEY: &str = "correct horse vault";
const CLARION_KEY: &str = "a2V5LW9uZS1jcmVkZW50aWFsLWlk";
const FF_ORIGIN: &str = "moz-extension://0123abcd-0123-4567-89ab-0123456789ab";

/// A Passman server with one credential, a PassWeaver server with one item, and a home set up
/// for both (by a CLI-less host that exits at once, so nothing is unlocked yet).
struct Remote {
    passman: passman_fake::FakePassman,
    passweaver: passweaver_fake::FakePassWeaver,
    home: host::Home,
}

impl Remote {
    fn new(config: Value) -> Self {
        let passman = passman_fake::FakePassman::start();
        let vault = passman.add_vault("Personal");
        passman.add_credential(
            &vault,
            PASSMAN_KEY,
            "GitHub",
            json!({"username": "octocat", "password": "gh-s3cret", "url": "https://github.com/login"}),
            json!({"hidden": 0, "delete_time": 0}),
        );
        let passweaver = passweaver_fake::FakePassWeaver::start();
        let user = passweaver.add_user("ann", "ann-password");
        let team = passweaver.add_folder("0", "Team");
        passweaver.grant(&team, &user, true, true);
        passweaver.put_item(
            &team,
            "Intranet",
            r#"{"url":"https://intranet.example.com/login","user":"ann","password":"s3cret","notes":""}"#,
            "intranet.example.com",
        );
        let home = host::Home::new();
        home.write_config(&config);
        let mut setup = home.spawn(&[]);
        ok(&req(
            &mut setup,
            1,
            "passman.setup",
            json!({"server": passman.base, "login": passman_fake::LOGIN,
                   "app_password": passman_fake::APP_PASSWORD}),
        ));
        ok(&req(
            &mut setup,
            2,
            "passweaver.setup",
            json!({"server": passweaver.base, "username": "ann"}),
        ));
        assert_eq!(setup.close(), Some(0));
        Self {
            passman,
            passweaver,
            home,
        }
    }

    /// Unlocks Passman and logs in to PassWeaver in `h`.
    fn unlock(&self, h: &mut host::Host, id: u64) {
        ok(&req(
            h,
            id,
            "passman.unlock",
            json!({"password": PASSMAN_KEY}),
        ));
        ok(&req(
            h,
            id + 1,
            "passweaver.login",
            json!({"password": "ann-password"}),
        ));
    }
}

fn passman_search(h: &mut host::Host, id: u64) -> Value {
    req(
        h,
        id,
        "passman.search",
        json!({"url": "https://github.com"}),
    )
}

fn passweaver_search(h: &mut host::Host, id: u64) -> Value {
    req(
        h,
        id,
        "passweaver.search",
        json!({"url": "https://intranet.example.com/login"}),
    )
}

/// Both backends answer in `h` from an unlock made elsewhere.
fn assert_both_open(h: &mut host::Host, id: u64) {
    let r = passman_search(h, id);
    assert_eq!(ok(&r)["items"][0]["label"], "GitHub", "{r}");
    let r = passweaver_search(h, id + 1);
    assert_eq!(ok(&r)["items"][0]["user"], "ann", "{r}");
}

fn assert_both_locked(h: &mut host::Host, id: u64) {
    assert_eq!(err_code(&passman_search(h, id)), "passman_locked");
    assert_eq!(err_code(&passweaver_search(h, id + 1)), "login_required");
}

#[test]
fn two_hosts_share_a_passman_unlock_and_a_passweaver_login() {
    let w = Remote::new(json!({}));
    let _stop = StopAgent(&w.home);
    let mut firefox = w.home.spawn(&[]);
    let mut chrome = w.home.spawn(&[]);
    assert_both_locked(&mut chrome, 1);
    w.unlock(&mut firefox, 1);
    assert_eq!(w.passweaver.logins(), 1);
    // Chrome never unlocked nor logged in: it answers from the agent.
    assert_both_open(&mut chrome, 3);
    let r = req(&mut chrome, 5, "passman.status", json!({}));
    assert_eq!(ok(&r)["unlocked_vault"]["name"], "Personal");
    let r = req(&mut chrome, 6, "passweaver.status", json!({}));
    assert_eq!(ok(&r)["logged_in"], true);
    assert_eq!(w.passweaver.logins(), 1, "no second login");
    let held = run(&w.home, &["agent", "status"]).0;
    assert!(held.contains("holds 2 unlock(s)"), "{held}");

    // Lock and logout in Chrome end both in Firefox.
    let r = req(&mut chrome, 7, "passman.lock", json!({}));
    assert_eq!(ok(&r)["was_unlocked"], true);
    ok(&req(&mut chrome, 8, "passweaver.logout", json!({})));
    assert_both_locked(&mut firefox, 10);
    let r = req(&mut firefox, 13, "passman.lock", json!({}));
    assert_eq!(ok(&r)["was_unlocked"], false, "locked already, everywhere");
    let r = req(&mut firefox, 12, "passman.status", json!({}));
    assert_eq!(ok(&r)["locked"], true);

    // Unlocked again in Chrome, `passbridge lock` locks both browsers.
    w.unlock(&mut chrome, 20);
    assert_both_open(&mut firefox, 22);
    let (out, err, ok) = run(&w.home, &["lock"]);
    assert!(ok, "{out}{err}");
    assert_both_locked(&mut firefox, 30);
    assert_both_locked(&mut chrome, 32);
    // What the servers saw: every search after the unlock used the one key and two logins.
    assert_eq!(w.passweaver.logins(), 2);
    assert!(!w.passman.requests().is_empty());
    assert_eq!(firefox.close(), Some(0));
    assert_eq!(chrome.close(), Some(0));
}

#[test]
fn passman_cli_reads_from_an_unlock_the_agent_holds_without_asking_for_the_password() {
    let w = Remote::new(json!({}));
    let _stop = StopAgent(&w.home);
    // Locked everywhere: the terminal needs the vault password, and stdin is empty.
    let (out, err, okay) = run(&w.home, &["passman", "search", "https://github.com"]);
    assert!(!okay, "{out}");
    assert!(err.contains("vault password"), "{err}");
    let mut firefox = w.home.spawn(&[]);
    w.unlock(&mut firefox, 1);
    // Unlocked in the browser: search and get answer with stdin empty (never read).
    let (out, err, okay) = run(&w.home, &["passman", "search", "https://github.com"]);
    assert!(okay, "{err}");
    let found: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(found["items"][0]["label"], "GitHub", "{out}");
    let guid = found["items"][0]["guid"].as_str().unwrap().to_owned();
    let (out, err, okay) = run(&w.home, &["passman", "get", &guid, "--vault", "Personal"]);
    assert!(okay, "{err}");
    let got: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["credential"]["password"], "gh-s3cret");
    // Another vault than the one held still needs its password.
    let (_, err, okay) = run(&w.home, &["passman", "get", &guid, "--vault", "Work"]);
    assert!(!okay && err.contains("vault password"), "{err}");
    // Locked in the browser: the terminal asks again.
    ok(&req(&mut firefox, 9, "passman.lock", json!({})));
    let (_, err, okay) = run(&w.home, &["passman", "get", &guid]);
    assert!(!okay && err.contains("vault password"), "{err}");
    assert_eq!(firefox.close(), Some(0));
}

#[test]
fn passman_and_passweaver_unlocks_time_out_in_the_agent() {
    let w = Remote::new(json!({"agent": {"test_ttl_ms": 300}}));
    let _stop = StopAgent(&w.home);
    let mut firefox = w.home.spawn(&[]);
    let mut chrome = w.home.spawn(&[]);
    w.unlock(&mut firefox, 1);
    // Nobody uses them: the agent's timeout passes and every process finds both locked,
    // the one that unlocked included (status is not use).
    let mut id = 10;
    eventually("the agent forgets both", || {
        id += 1;
        run(&w.home, &["agent", "status"])
            .0
            .contains("holds 0 unlock(s)")
    });
    let r = req(&mut chrome, 2, "passman.status", json!({}));
    assert_eq!(ok(&r)["locked"], true);
    let r = req(&mut chrome, 3, "passweaver.status", json!({}));
    assert_eq!(ok(&r)["logged_in"], false);
    assert_both_locked(&mut firefox, 4);
    assert_eq!(firefox.close(), Some(0));
    assert_eq!(chrome.close(), Some(0));
}

#[test]
fn switched_off_passman_and_passweaver_stay_per_process() {
    let w = Remote::new(json!({"agent": false}));
    let mut firefox = w.home.spawn(&[]);
    let mut chrome = w.home.spawn(&[]);
    w.unlock(&mut firefox, 1);
    assert_both_locked(&mut chrome, 3);
    assert_both_open(&mut firefox, 5);
    // Locking in Chrome does not reach Firefox (nothing is shared).
    ok(&req(&mut chrome, 7, "passman.lock", json!({})));
    assert_both_open(&mut firefox, 8);
    assert!(!agent_dir(&w.home).exists(), "no agent when it is off");
    assert_eq!(w.passweaver.logins(), 1);
    assert_eq!(firefox.close(), Some(0));
    assert_eq!(chrome.close(), Some(0));
}

/// Registers a security key with Clarion the way the extension does.
fn register_clarion_key(home: &host::Home, fake: &clarion_fake::FakeClarion) {
    let call = |action: &str, params: Value| {
        home.call(&json!({"id": 1, "action": action, "params": params, "progress": true}))
            .0
    };
    fake.set_allowed_callback("moz-extension://");
    let started = call(
        "clarion.register.start",
        json!({"server": fake.base, "origin": FF_ORIGIN}),
    );
    let url = ok(&started)["url"].as_str().unwrap().to_owned();
    assert_eq!(fake.open(&url).0, 200);
    let done = fake.complete_registration(CLARION_KEY, Some("yubikey"), Some(0));
    ok(&call(
        "clarion.register.finish",
        json!({"state": done.state, "data": done.data}),
    ));
}

/// `vault.get` in `h` with progress events: (the reply, whether an approval was asked for).
fn guarded_get(h: &mut host::Host, id: &str, fake: &clarion_fake::FakeClarion) -> (Value, bool) {
    h.send(&json!({"id": id, "action": "vault.get", "params": {"uid": "u-gh"}, "progress": true}));
    let mut asked = false;
    loop {
        let f = h.recv();
        if f["id"] != json!(id) {
            continue;
        }
        if f["event"] == json!("progress") {
            if let Some(url) = f["html_url"].as_str() {
                asked = true;
                let n = fake.authn_count() as u64;
                fake.verify(url.rsplit('/').next().unwrap(), CLARION_KEY, n);
            }
            continue;
        }
        return (f, asked);
    }
}

#[test]
fn a_clarion_approval_counts_in_every_process_until_lock() {
    let home = home_with_vault();
    let _stop = StopAgent(&home);
    let fake = clarion_fake::FakeClarion::start();
    register_clarion_key(&home, &fake);
    let (r, _) = home.call(&json!({"id": 1, "action": "clarion.policy.set",
        "params": {"require": ["vault_get"], "approval_ttl_seconds": 600}}));
    ok(&r);
    let mut firefox = home.spawn(&[]);
    let mut chrome = home.spawn(&[]);
    ok(&req(
        &mut firefox,
        1,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    let (r, asked) = guarded_get(&mut firefox, "g1", &fake);
    assert!(asked, "the first vault.get needs a touch");
    assert_eq!(ok(&r)["password"], "secret-u-gh");
    // Chrome: the same user, operation, policy and key: the approval counts there too.
    let (r, asked) = guarded_get(&mut chrome, "g2", &fake);
    assert!(!asked, "no second touch: {r}");
    assert_eq!(ok(&r)["password"], "secret-u-gh");
    assert_eq!(fake.authn_count(), 1);

    // `passbridge lock` forgets approvals too: after a new unlock the touch is asked again.
    let (out, err, success) = run(&home, &["lock"]);
    assert!(success, "{out}{err}");
    ok(&req(
        &mut chrome,
        3,
        "vault.unlock",
        json!({"password": PASSWORD}),
    ));
    let (r, asked) = guarded_get(&mut firefox, "g3", &fake);
    assert!(asked, "an approval does not survive `passbridge lock`");
    ok(&r);
    assert_eq!(fake.authn_count(), 2);

    // A changed policy (another TTL) makes earlier approvals count for nothing.
    let (r, _) = home.call(&json!({"id": 1, "action": "clarion.policy.set",
        "params": {"require": ["vault_get"], "approval_ttl_seconds": 300}}));
    ok(&r);
    let (r, asked) = guarded_get(&mut chrome, "g4", &fake);
    assert!(
        asked,
        "an approval is bound to the policy it was given under"
    );
    ok(&r);
    assert_eq!(firefox.close(), Some(0));
    assert_eq!(chrome.close(), Some(0));
}
