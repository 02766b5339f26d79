//! The Clarion test server (tests/support/clarion_fake.rs) as a program, so the extension's
//! browser tests can use the same spec-faithful fake as the Rust tests.
//!
//! ```text
//! cargo run --example clarion-fake
//! ```
//!
//! Prints `listening on <base URL>`, then `authn <id>` for each approval request a passbridge
//! host creates. Commands on stdin (one per line) act as the person at the Clarion page:
//! `verify <id> <key handle> <counter>` (the key was touched), `cancel <id>`, `quit`.
//! The server stops at `quit` or when stdin closes.

// The fake and the loopback server it stands on, as in the test crate's `support` module.
// The test-only parts of the fake (registration pages, sealing helpers) go unused here.
#[allow(dead_code)]
#[path = "../tests/support/clarion_fake.rs"]
mod clarion_fake;
#[path = "../tests/support/loopback.rs"]
mod loopback;

use clarion_fake::FakeClarion;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let fake = Arc::new(FakeClarion::start());
    println!("listening on {}", fake.base);
    let watch = fake.clone();
    std::thread::spawn(move || {
        let mut seen = 0;
        loop {
            // Polled: the fake's own wait gives up after a minute, and this runs for as long as
            // the test does.
            let n = watch.authn_count();
            while seen < n {
                seen += 1;
                println!("authn {}", watch.wait_for_authn(seen));
                let _ = std::io::stdout().flush();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["verify", id, handle, counter] => match counter.parse() {
                Ok(c) => {
                    fake.verify(id, handle, c);
                    println!("verified {id}");
                }
                Err(_) => eprintln!("the counter is a number: {line}"),
            },
            ["cancel", id] => {
                fake.cancel(id);
                println!("cancelled {id}");
            }
            ["quit"] => break,
            [] => {}
            _ => eprintln!("commands: verify <id> <handle> <counter>, cancel <id>, quit"),
        }
        let _ = std::io::stdout().flush();
    }
}
