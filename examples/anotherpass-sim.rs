//! A simulated ANOTHERpass phone app, for trying passbridge without a phone.
//!
//! ```text
//! cargo run --example anotherpass-sim -- --port 8787
//! cargo run --example anotherpass-sim -- --port 8787 --auto --qr 'ABC-DEF:<base64 SK>:<hex>'
//! ```
//!
//! 1. Start it. It prints its address (and the app's `@handle` when bound to a 10/8, 172.16/12
//!    or 192.168/16 address with `--bind`). The vault holds a few demo credentials.
//! 2. Start linking in passbridge. There is no camera: paste the QR code's text
//!    (`<webClientId>:<base64 session key>:<hex fingerprint>`) at the prompt, or pass `--qr`.
//! 3. Give passbridge the address and port. The simulator answers `link_app`, prints the
//!    fingerprint to compare, and waits for `accept` or `deny` (`--auto` accepts).
//! 4. Requests from passbridge then show up on stderr; act as the phone owner with the
//!    commands below (`--auto`: accept every request and pick the first matching credential).
//!
//! Owner commands (type `help`): `accept [bypass]`, `deny`, `pick <uid>...`, `cancel`,
//! `save <password>`, `status`, `list`, `add <name> <user> <password> <website> [otpauth-uri]`, `scan <qr>`,
//! `delete <wcid>`, `lock`/`unlock` (device), `applock`/`appunlock` (vault), `bg`/`fg`
//! (credential list), `block <wcid>`/`unblock <wcid>`, `bypass <wcid> on|off`, `offline`/`online`,
//! `log`, `quit`. Everything the phone does is narrated on stderr.

// The simulator the integration tests use, of which this example drives a part.
#[allow(dead_code, unused_imports)]
#[path = "../tests/support/anotherpass_sim/mod.rs"]
mod anotherpass_sim;

use anotherpass_sim::{Credential, Script, Sim, SimConfig};
use clap::Parser;
use std::io::{BufRead, Write};
use std::net::IpAddr;

#[derive(Parser)]
#[command(about = "A simulated ANOTHERpass phone app (credential server) for trying passbridge")]
struct Args {
    /// Port to listen on (the app's default is 8787; 0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The QR code's text, instead of pasting it at the prompt.
    #[arg(long)]
    qr: Option<String>,
    /// Accept every link and request, pick the first matching credential, save created ones.
    #[arg(long)]
    auto: bool,
    /// RSA size of the app key made while linking (the app uses 4096).
    #[arg(long, default_value_t = 4096)]
    key_bits: usize,
    /// Base/one-time key length: 32, or 16 like Android < 8.
    #[arg(long, default_value_t = 32)]
    key_len: usize,
    /// Start with an empty vault instead of demo credentials.
    #[arg(long)]
    empty: bool,
}

fn main() {
    let args = Args::parse();
    let script = if args.auto {
        Script::accept()
    } else {
        Script::never()
    };
    let sim = match Sim::try_start(SimConfig {
        bind: args.bind,
        port: args.port,
        app_key_bits: args.key_bits,
        key_len: args.key_len,
        script,
        verbose: true,
        ..SimConfig::default()
    }) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!(
                "Cannot listen on {}:{}: {e}. Try another --port.",
                args.bind, args.port
            );
            std::process::exit(1);
        }
    };
    if !args.empty {
        for (name, user, password, site) in [
            ("GitHub", "octocat", "correct horse battery", "github.com"),
            ("Example", "alice", "s3cret!", "https://example.com/login"),
            ("Mail", "alice@example.org", "mail-pass", "mail.example.org"),
        ] {
            sim.add_credential(Credential::new(name, user, password, site));
        }
    }
    println!("ANOTHERpass simulator listening on {}", sim.addr());
    match sim.handle() {
        Some(h) => println!("Handle: {h}   Port: {}", sim.port()),
        None => println!("Server: {}   Port: {}", sim.addr().ip(), sim.port()),
    }
    println!("Vault id: {}", sim.vault_id());

    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    match &args.qr {
        Some(qr) => scan(&sim, qr),
        None => {
            print!("Paste the QR code text from passbridge (Enter to skip): ");
            let _ = std::io::stdout().flush();
            if let Some(Ok(line)) = lines.next()
                && !line.trim().is_empty()
            {
                scan(&sim, line.trim());
            }
        }
    }
    println!("Type `help` for the phone owner's commands.");
    loop {
        print!("phone> ");
        let _ = std::io::stdout().flush();
        let Some(Ok(line)) = lines.next() else {
            println!("\nstdin closed; serving until interrupted (Ctrl-C).");
            loop {
                std::thread::park();
            }
        };
        if !run(&sim, line.trim()) {
            break;
        }
    }
}

fn scan(sim: &Sim, qr: &str) {
    match sim.scan_qr(qr) {
        Ok(()) => println!(
            "Scanned. The \"link new device\" screen is open: start linking in passbridge."
        ),
        Err(e) => println!("Not scanned: {e}"),
    }
}

fn report(result: Result<(), String>) {
    match result {
        Ok(()) => println!("ok"),
        Err(e) => println!("not possible: {e}"),
    }
}

/// One owner command; `false` to quit.
fn run(sim: &Sim, line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => {}
        ["help"] => println!(
            "accept [bypass] | deny | pick <uid>... | cancel | save <password> | status | list | \
             add <name> <user> <password> <website> [otpauth-uri] | scan <qr> | delete <wcid> | lock | unlock | \
             applock | appunlock | bg | fg | block <wcid> | unblock <wcid> | bypass <wcid> on|off | \
             offline | online | log | quit"
        ),
        ["accept"] => report(sim.user_accept()),
        ["accept", "bypass"] => report(sim.user_accept_with_bypass()),
        ["deny"] => report(sim.user_deny()),
        ["pick", uids @ ..] => report(sim.user_pick(uids)),
        ["cancel"] => report(sim.user_cancel()),
        ["save", password] => report(sim.user_save(password)),
        ["status"] => {
            let (state, id) = sim.request_state();
            println!(
                "screen: {}; request {state:?} {}",
                sim.screen(),
                id.unwrap_or_default()
            );
            if let Some(fp) = sim.last_request_fingerprint() {
                println!("last request fingerprint: {fp}");
            }
            if let Some(fp) = sim.last_link_fingerprint() {
                println!("last link fingerprint: {fp}");
            }
        }
        ["list"] => {
            for c in sim.credentials() {
                let veiled = if c.veiled { " (veiled)" } else { "" };
                println!(
                    "{}  {} / {} @ {}{veiled}",
                    c.uid.as_deref().unwrap_or("-"),
                    c.name,
                    c.user,
                    c.website
                );
            }
        }
        ["add", name, user, password, website, otp @ ..] if otp.len() <= 1 => {
            let mut c = Credential::new(name, user, password, website);
            // An optional `otpauth://` URI: the credential's one-time code secret.
            c.otp = otp.first().map(|s| s.to_string());
            let uid = sim.add_credential(c);
            println!("added {}", uid.unwrap_or_default());
        }
        ["scan", qr] => scan(sim, qr),
        ["delete", wcid] => println!(
            "{}",
            if sim.delete_link(wcid) {
                "deleted"
            } else {
                "no such link"
            }
        ),
        ["lock"] => sim.set_device_locked(true),
        ["unlock"] => sim.set_device_locked(false),
        ["applock"] => sim.set_vault_locked(true),
        ["appunlock"] => sim.set_vault_locked(false),
        ["bg"] => sim.set_in_foreground(false),
        ["fg"] => sim.set_in_foreground(true),
        ["block", wcid] => println!("{}", sim.set_blocked(wcid, true)),
        ["unblock", wcid] => println!("{}", sim.set_blocked(wcid, false)),
        ["bypass", wcid, on] => println!("{}", sim.set_bypass(wcid, *on == "on")),
        ["offline"] => report(sim.set_listening(false).map_err(|e| e.to_string())),
        ["online"] => report(sim.set_listening(true).map_err(|e| e.to_string())),
        ["log"] => {
            for r in sim.requests() {
                println!(
                    "#{} {} {} {} -> {} {}",
                    r.seq,
                    r.method,
                    r.path,
                    r.command().or(r.action()).unwrap_or(""),
                    r.status,
                    r.error.as_deref().unwrap_or("")
                );
            }
        }
        ["quit" | "exit"] => return false,
        _ => println!("unknown command; type `help`"),
    }
    true
}
