//! What an action handler gets: shared state, its params helpers, a progress sink and a cancel token.

use super::error::ApiError;
use crate::state::State;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Cooperative cancellation that also wakes sleepers at once.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<(AtomicBool, Mutex<()>, Condvar)>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        let (flag, lock, cvar) = &*self.0;
        flag.store(true, Ordering::SeqCst);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        cvar.notify_all();
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.0.load(Ordering::SeqCst)
    }
    /// `Err(cancelled)` if the token is (or becomes) cancelled.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.is_cancelled() {
            Err(ApiError::cancelled())
        } else {
            Ok(())
        }
    }
    /// Sleeps up to `d`, returning early with `Err(cancelled)` on cancel.
    pub fn sleep(&self, d: Duration) -> Result<(), ApiError> {
        let (flag, lock, cvar) = &*self.0;
        let deadline = Instant::now() + d;
        let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if flag.load(Ordering::SeqCst) {
                return Err(ApiError::cancelled());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            guard = cvar
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Where progress events go. Events are dropped unless the request asked for them.
pub type EventFn = Arc<dyn Fn(Value) + Send + Sync>;

#[derive(Clone)]
pub struct EventSink {
    enabled: bool,
    send: EventFn,
}

impl EventSink {
    pub fn new(enabled: bool, send: EventFn) -> Self {
        Self { enabled, send }
    }
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            send: Arc::new(|_| {}),
        }
    }
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    /// Sends `{"event":"progress", ...fields}` for this request (fields must be an object).
    pub fn progress(&self, fields: Value) {
        if self.enabled {
            (self.send)(fields);
        }
    }
}

/// Who sent a request, as far as the browser's launch arguments tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CallerOrigin {
    /// A person at this computer: the CLI, `passbridge call`, frames piped in by hand.
    #[default]
    Local,
    /// An extension whose origin the browser named (Chrome: `chrome-extension://<id>`).
    Extension(String),
    /// An extension whose origin the host cannot learn (Firefox: a per-profile UUID).
    Unknown,
}

impl From<&crate::nm::caller::Caller> for CallerOrigin {
    fn from(c: &crate::nm::caller::Caller) -> Self {
        use crate::nm::caller::Caller;
        match c {
            Caller::Local => CallerOrigin::Local,
            Caller::Chrome { origin, .. } => {
                CallerOrigin::Extension(origin.trim_end_matches('/').to_owned())
            }
            Caller::Firefox { .. } => CallerOrigin::Unknown,
        }
    }
}

/// Per-request context handed to every action handler.
#[derive(Clone)]
pub struct Ctx {
    pub state: Arc<State>,
    pub events: EventSink,
    pub cancel: CancelToken,
    pub caller: CallerOrigin,
}

impl Ctx {
    pub fn new(state: Arc<State>) -> Self {
        Self {
            state,
            events: EventSink::disabled(),
            cancel: CancelToken::new(),
            caller: CallerOrigin::Local,
        }
    }
}

/// A handler: params in, result object out.
pub type Handler = fn(&Ctx, &Value) -> Result<Value, ApiError>;

/// One entry of the action table.
#[derive(Clone, Copy)]
pub struct Action {
    pub name: &'static str,
    pub handler: Handler,
    /// One line for `hello` and `--help`.
    pub summary: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_wakes_a_sleeper() {
        let t = CancelToken::new();
        let t2 = t.clone();
        let h = std::thread::spawn(move || t2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        t.cancel();
        assert_eq!(h.join().unwrap().unwrap_err().code, "cancelled");
    }

    #[test]
    fn sleep_without_cancel_returns_ok() {
        assert!(CancelToken::new().sleep(Duration::from_millis(1)).is_ok());
    }
}
