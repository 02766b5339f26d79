//! The unlocked Passman vault key, in memory only, with a sliding timeout like the local vault:
//! each use extends it; a timer thread forgets (and so zeroizes) it when the timeout passes; lock
//! and drop (process exit) forget it at once.
//!
//! With the passbridge agent ([`Session::share_unlocks_with`]) an unlock is shared by every
//! process of the user, as the local vault's is: the key is handed to the agent under a name
//! bound to the data directory and the account; a process that has no key asks the agent, and
//! one that has a key asks on each use whether the agent still holds it (lock anywhere, or the
//! timeout there, locks here too). Without an agent each process keeps its own, as before.

use super::sjcl::Keyring;
use crate::agent::AgentError;
use crate::agent::client::Client;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use zeroize::Zeroizing;

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
    share: Option<Share>,
}

/// The agent's name of the current account's key and its timeout (`None`: no account).
pub type Namer = Box<dyn Fn() -> Option<(String, Duration)> + Send + Sync>;

struct Share {
    agent: Arc<Client>,
    name: Namer,
}

const TIMED_OUT: &str = " (it was not used for the lock timeout)";
const ELSEWHERE: &str = " (locked in another browser or terminal, or after the lock timeout)";

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
    /// The agent's name for it, when shared.
    name: Option<String>,
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
            share: None,
        }
    }

    /// Shares unlocks through `agent` (`None`: this process only); `name` says under which
    /// name the current account's key lives there, and its timeout.
    pub fn share_unlocks_with(
        mut self,
        agent: Option<Arc<Client>>,
        name: impl Fn() -> Option<(String, Duration)> + Send + Sync + 'static,
    ) -> Self {
        self.share = agent.map(|agent| Share {
            agent,
            name: Box::new(name),
        });
        self
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.shared.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn unlock(&self, vault: VaultRef, key: Keyring, ttl: Duration) {
        let name = self.offer(&vault, &key, ttl);
        let mut slot = self.slot();
        slot.open = Some(Open {
            vault,
            key: Arc::new(key),
            last_used: self.clock.now(),
            ttl,
            name,
        });
        if !slot.timer {
            slot.timer = self.start_timer();
        }
        drop(slot);
        self.shared.wake.notify_all();
    }

    /// Hands the key to the agent; returns its name there (`None`: not shared).
    fn offer(&self, vault: &VaultRef, key: &Keyring, ttl: Duration) -> Option<String> {
        let s = self.share.as_ref()?;
        let (name, _) = (s.name)()?;
        if let Err(e) = s.agent.put(&name, &encode(vault, key.password()), ttl) {
            log::warn!("passman: {e}; this process keeps its unlock to itself");
        }
        Some(name)
    }

    /// Forgets the key here and in the agent (so in every process); true when one was held
    /// here or there.
    pub fn lock(&self) -> bool {
        let was = self.slot().open.take();
        self.shared.wake.notify_all();
        let mut held = was.is_some();
        if let Some(s) = &self.share {
            let mut names: Vec<String> = (s.name)().map(|(n, _)| n).into_iter().collect();
            names.extend(was.as_ref().and_then(|o| o.name.clone()));
            names.dedup();
            for n in names {
                held |= matches!(s.agent.check(&n, false), Ok(Some(_)));
                if let Err(e) = s.agent.forget(&n) {
                    log::warn!("passman: {e}");
                }
            }
        }
        held
    }

    /// Brings this process in line with the agent: a key the agent no longer holds is
    /// dropped here (returns why), one it holds and this process lacks is recalled.
    fn sync(&self, s: &Share, slot: &mut Slot, touch: bool) -> Option<&'static str> {
        let Some((name, ttl)) = (s.name)() else {
            // No account any more: nothing of it may stay open.
            return slot.open.take().map(|_| "");
        };
        if slot
            .open
            .as_ref()
            .is_some_and(|o| o.name.as_deref() != Some(name.as_str()))
        {
            slot.open = None;
        }
        if let Some(o) = &slot.open {
            return match s.agent.check(&name, touch) {
                Ok(Some(_)) => None,
                Ok(None) => {
                    slot.open = None;
                    Some(ELSEWHERE)
                }
                Err(AgentError::NotRunning) => {
                    // The agent was stopped or killed: a new one gets the key again.
                    if let Err(e) = s
                        .agent
                        .put(&name, &encode(&o.vault, o.key.password()), o.ttl)
                    {
                        log::warn!("passman: {e}");
                    }
                    None
                }
                Err(e) => {
                    log::warn!("passman: {e}; keeping this process's unlock");
                    None
                }
            };
        }
        let secret = match s.agent.get(&name, touch) {
            Ok(Some(secret)) => secret,
            Ok(None) => return None,
            Err(e) => {
                log::warn!("passman: {e}");
                return None;
            }
        };
        let Some((vault, password)) = decode(&secret) else {
            let _ = s.agent.forget(&name);
            return None;
        };
        slot.open = Some(Open {
            vault,
            key: Arc::new(Keyring::new(&password)),
            last_used: self.clock.now(),
            ttl,
            name: Some(name),
        });
        if !slot.timer {
            slot.timer = self.start_timer();
        }
        None
    }

    /// The key and its vault, extending the timeout; `Err(reason)` when locked.
    pub fn current(&self) -> Result<(VaultRef, Arc<Keyring>), &'static str> {
        let mut slot = self.slot();
        let now = self.clock.now();
        let mut why = "";
        if slot
            .open
            .as_ref()
            .is_some_and(|o| now.saturating_sub(o.last_used) >= o.ttl)
        {
            slot.open = None;
            why = TIMED_OUT;
        }
        if let Some(s) = &self.share
            && let Some(w) = self.sync(s, &mut slot, true)
        {
            why = w;
        }
        match slot.open.as_mut() {
            None => Err(why),
            Some(o) => {
                o.last_used = now;
                Ok((o.vault.clone(), o.key.clone()))
            }
        }
    }

    /// The unlocked vault and the seconds left, without extending the timeout.
    pub fn peek(&self) -> Option<(VaultRef, u64)> {
        let mut slot = self.slot();
        if let Some(s) = &self.share {
            self.sync(s, &mut slot, false);
        }
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

/// What the agent holds for a Passman unlock: the vault (guid, name, numeric id as JSON) and
/// its password, each length-prefixed; the password last.
fn encode(v: &VaultRef, password: &str) -> Zeroizing<Vec<u8>> {
    let id = v.id.to_string();
    let fields = [v.guid.as_str(), v.name.as_str(), id.as_str()];
    let n = fields.iter().map(|f| 2 + f.len()).sum::<usize>() + password.len();
    // Sized once: a growing Vec would leave copies of the password behind.
    let mut out = Zeroizing::new(Vec::with_capacity(n));
    for f in fields {
        let len = u16::try_from(f.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&f.as_bytes()[..usize::from(len)]);
    }
    out.extend_from_slice(password.as_bytes());
    out
}

fn decode(b: &[u8]) -> Option<(VaultRef, Zeroizing<String>)> {
    let mut rest = b;
    let mut field = || -> Option<String> {
        let n = usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?));
        let f = rest.get(2..2 + n)?;
        rest = &rest[2 + n..];
        String::from_utf8(f.to_vec()).ok()
    };
    let (guid, name, id) = (field()?, field()?, field()?);
    let id = serde_json::from_str(&id).ok()?;
    let password = Zeroizing::new(std::str::from_utf8(rest).ok()?.to_owned());
    Some((VaultRef { guid, id, name }, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_copy_round_trips_and_rejects_garbage() {
        let b = encode(&vault(), "pw ü");
        assert_eq!(
            &b[..],
            &[
                0, 1, b'G', 0, 1, b'V', 0, 1, b'1', b'p', b'w', b' ', 0xC3, 0xBC
            ][..]
        );
        let (v, pw) = decode(&b).unwrap();
        assert_eq!((v, pw.as_str()), (vault(), "pw ü"));
        for bad in [
            &b""[..],
            &[0, 9, b'G'],
            &[0, 1, b'G', 0, 1, b'V', 0, 1, b'{'],
        ] {
            assert!(decode(bad).is_none(), "{bad:?}");
        }
    }

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
