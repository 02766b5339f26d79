//! The unlocked Passman vault key, in memory only, with a sliding timeout like the local vault:
//! each use extends it; a timer thread forgets (and so zeroizes) it when the timeout passes; lock
//! and drop (process exit) forget it at once.

use super::sjcl::Keyring;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// The vault a key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultRef {
    pub guid: String,
    /// The numeric id credentials carry (`vault_id`).
    pub id: serde_json::Value,
    pub name: String,
}

pub struct Session {
    clock: Arc<dyn Clock>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
}

#[derive(Default)]
struct Slot {
    open: Option<Open>,
    closed: bool,
    timer: bool,
}

struct Open {
    vault: VaultRef,
    key: Arc<Keyring>,
    last_used: Duration,
    ttl: Duration,
}

impl Default for Session {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock::default()))
    }
}

impl Session {
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            shared: Arc::default(),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.shared.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn unlock(&self, vault: VaultRef, key: Keyring, ttl: Duration) {
        let mut slot = self.slot();
        slot.open = Some(Open {
            vault,
            key: Arc::new(key),
            last_used: self.clock.now(),
            ttl,
        });
        if !slot.timer {
            slot.timer = self.start_timer();
        }
        drop(slot);
        self.shared.wake.notify_all();
    }

    /// Forgets the key; true when one was held.
    pub fn lock(&self) -> bool {
        let was = self.slot().open.take().is_some();
        self.shared.wake.notify_all();
        was
    }

    /// The key and its vault, extending the timeout; `Err(reason)` when locked.
    pub fn current(&self) -> Result<(VaultRef, Arc<Keyring>), &'static str> {
        let mut slot = self.slot();
        let now = self.clock.now();
        match slot.open.as_mut() {
            None => Err(""),
            Some(o) if now.saturating_sub(o.last_used) >= o.ttl => {
                slot.open = None;
                Err(" (it was not used for the lock timeout)")
            }
            Some(o) => {
                o.last_used = now;
                Ok((o.vault.clone(), o.key.clone()))
            }
        }
    }

    /// The unlocked vault and the seconds left, without extending the timeout.
    pub fn peek(&self) -> Option<(VaultRef, u64)> {
        let slot = self.slot();
        let o = slot.open.as_ref()?;
        let left = (o.last_used + o.ttl).checked_sub(self.clock.now())?;
        Some((o.vault.clone(), left.as_secs()))
    }

    /// Whether a key is held right now (no expiry check): for zeroization tests.
    pub fn holds_key(&self) -> bool {
        self.slot().open.is_some()
    }

    /// Wakes the timer, e.g. after a test moved a manual clock.
    pub fn wake_timer(&self) {
        self.shared.wake.notify_all();
    }

    fn start_timer(&self) -> bool {
        let shared = self.shared.clone();
        let clock = self.clock.clone();
        let spawned = std::thread::Builder::new()
            .name("passman-timer".into())
            .spawn(move || {
                let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if slot.closed {
                        return;
                    }
                    let wait = slot.open.as_ref().map(|o| {
                        (o.last_used + o.ttl)
                            .checked_sub(clock.now())
                            .unwrap_or_default()
                    });
                    if wait.is_some_and(|d| d.is_zero()) {
                        slot.open = None;
                        log::info!("Passman vault key forgotten after the lock timeout");
                        continue;
                    }
                    slot = match wait {
                        None => shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner()),
                        Some(d) => {
                            shared
                                .wake
                                .wait_timeout(slot, d)
                                .unwrap_or_else(|e| e.into_inner())
                                .0
                        }
                    };
                }
            });
        match spawned {
            Ok(_) => true,
            Err(e) => {
                log::warn!("cannot start the Passman timer ({e}); the timeout applies on next use");
                false
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut slot = self.slot();
        slot.closed = true;
        slot.open = None;
        drop(slot);
        self.shared.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> VaultRef {
        VaultRef {
            guid: "G".into(),
            id: 1.into(),
            name: "V".into(),
        }
    }

    #[test]
    fn sliding_timeout_and_lock() {
        let clock = Arc::new(ManualClock::default());
        let s = Session::with_clock(clock.clone());
        assert!(s.current().is_err());
        s.unlock(vault(), Keyring::new("pw"), Duration::from_secs(60));
        clock.advance(Duration::from_secs(50));
        assert!(s.current().is_ok(), "use extends the timeout");
        clock.advance(Duration::from_secs(50));
        assert_eq!(s.peek().unwrap().1, 10);
        assert!(s.current().is_ok());
        clock.advance(Duration::from_secs(60));
        assert!(s.current().unwrap_err().contains("lock timeout"));
        assert!(!s.holds_key());
        s.unlock(vault(), Keyring::new("pw"), Duration::from_secs(60));
        assert!(s.lock());
        assert!(!s.holds_key() && !s.lock());
    }

    #[test]
    fn the_timer_forgets_an_unused_key() {
        let clock = Arc::new(ManualClock::default());
        let s = Session::with_clock(clock.clone());
        s.unlock(vault(), Keyring::new("pw"), Duration::from_secs(1));
        clock.advance(Duration::from_secs(2));
        s.wake_timer();
        // The timer runs on its own thread: wait for it (bounded), never for a duration.
        for _ in 0..2000 {
            if !s.holds_key() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
            s.wake_timer();
        }
        panic!("the timer did not forget the key");
    }
}
