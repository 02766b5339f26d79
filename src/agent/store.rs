//! What the agent holds: named secrets, each with its own sliding timeout. Time is passed in,
//! so the rules are tested without waiting. Every secret lives in its own buffer, locked
//! against swap where the OS allows, and is zeroized when dropped.

use std::collections::BTreeMap;
use std::time::Duration;
use zeroize::Zeroize;

/// A secret's bytes in a buffer of their own: `mlock`ed (best effort), zeroized on drop.
pub struct Secret {
    bytes: Box<[u8]>,
    locked: bool,
}

impl Secret {
    pub fn new(bytes: &[u8]) -> Self {
        let bytes: Box<[u8]> = bytes.into();
        let locked = super::sys::mlock(&bytes);
        Self { bytes, locked }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Whether the OS locked it in memory.
    pub fn is_locked(&self) -> bool {
        self.locked
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.zeroize();
        if self.locked {
            super::sys::munlock(&self.bytes);
        }
    }
}

struct Entry {
    secret: Secret,
    ttl: Duration,
    last_used: Duration,
}

impl Entry {
    fn deadline(&self) -> Duration {
        self.last_used.saturating_add(self.ttl)
    }
}

#[derive(Default)]
pub struct Store {
    entries: BTreeMap<String, Entry>,
}

impl Store {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Holds `secret` under `name` (replacing what was there) for `ttl` without use.
    pub fn put(&mut self, name: &str, secret: &[u8], ttl: Duration, now: Duration) {
        self.entries.insert(
            name.to_owned(),
            Entry {
                secret: Secret::new(secret),
                ttl,
                last_used: now,
            },
        );
    }

    /// The live entry `name` and the time it has left; `touch` restarts its timeout.
    pub fn get(&mut self, name: &str, touch: bool, now: Duration) -> Option<(&Secret, Duration)> {
        self.expire(now);
        let e = self.entries.get_mut(name)?;
        if touch {
            e.last_used = now;
        }
        let left = e.deadline().saturating_sub(now);
        Some((&e.secret, left))
    }

    pub fn forget(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// Drops everything; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        n
    }

    /// Drops the entries whose timeout passed; returns how many.
    pub fn expire(&mut self, now: Duration) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.deadline() > now);
        before - self.entries.len()
    }

    /// When the next entry expires.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.entries.values().map(Entry::deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn sliding_timeout_per_entry() {
        let mut st = Store::default();
        st.put("vault/a", b"key-a", s(60), s(0));
        st.put("passman/b", b"key-b", s(10), s(0));
        assert_eq!(st.next_deadline(), Some(s(10)));
        // Use at 50 s restarts a's timeout; b expires at 10 s.
        let (sec, left) = st.get("vault/a", true, s(50)).unwrap();
        assert_eq!((sec.bytes(), left), (&b"key-a"[..], s(60)));
        assert!(st.get("passman/b", false, s(50)).is_none());
        assert_eq!(st.len(), 1);
        // Looking without touching does not extend it.
        assert_eq!(st.get("vault/a", false, s(100)).unwrap().1, s(10));
        assert!(st.get("vault/a", false, s(110)).is_none());
        assert!(st.is_empty());
    }

    #[test]
    fn put_replaces_and_forget_and_clear_drop() {
        let mut st = Store::default();
        st.put("a", b"1", s(5), s(0));
        st.put("a", b"2", s(5), s(3));
        assert_eq!(st.get("a", false, s(7)).unwrap().0.bytes(), b"2");
        assert!(st.forget("a"));
        assert!(!st.forget("a"));
        st.put("a", b"1", s(5), s(0));
        st.put("b", b"1", s(5), s(0));
        assert_eq!(st.clear(), 2);
        assert_eq!(st.next_deadline(), None);
    }

    #[test]
    fn expire_counts() {
        let mut st = Store::default();
        st.put("a", b"1", s(1), s(0));
        st.put("b", b"1", s(2), s(0));
        assert_eq!(st.expire(s(1)), 1);
        assert_eq!(st.expire(s(1)), 0);
        assert_eq!(st.expire(s(9)), 1);
    }
}
