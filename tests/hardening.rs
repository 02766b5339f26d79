//! Process hardening of the built host (issue 16): no core dumps, not dumpable.
use crate::support::host;

#[cfg(target_os = "linux")]
#[test]
fn the_host_disables_core_dumps_and_ptrace() {
    use serde_json::json;
    let home = host::Home::new();
    let mut h = home.spawn(&[]);
    // After a reply, main has run its first line.
    h.request(&json!({"id": 1, "action": "ping"}));
    let pid = h.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core limit line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(fields[4..6], ["0", "0"], "{core}");
    // A non-dumpable process's /proc files belong to root; as root that shows nothing, and
    // the in-process unit test (harden::tests) checks PR_GET_DUMPABLE instead.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(format!("/proc/{pid}/status"))
            .unwrap()
            .uid();
        assert_eq!(owner, 0, "/proc/{pid} is still owned by the user: dumpable");
    }
    assert_eq!(h.close(), Some(0));
}
