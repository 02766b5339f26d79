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
