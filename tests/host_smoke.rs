//! Smoke test of the driver itself against the built host.
use crate::support::host;
use serde_json::json;

#[test]
fn ping_round_trip_through_the_binary() {
    let home = host::Home::new();
    let mut h = home.spawn(&[]);
    let r = h.request(&json!({"id": "a", "action": "ping", "params": {"n": 1}}));
    assert_eq!(
        r,
        json!({"id": "a", "ok": true, "result": {"echo": {"n": 1}}})
    );
    assert_eq!(h.close(), Some(0));
}

/// `passbridge host` (the subcommand, which skips building the CLI) serves frames like a
/// launch by the browser.
#[test]
fn host_subcommand_serves_frames() {
    let home = host::Home::new();
    let mut h = home.spawn(&["host"]);
    let r = h.request(&json!({"id": 7, "action": "ping", "params": {"x": "y"}}));
    assert_eq!(
        r,
        json!({"id": 7, "ok": true, "result": {"echo": {"x": "y"}}})
    );
    assert_eq!(h.close(), Some(0));
}
