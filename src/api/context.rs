//! What an action handler gets: the process-wide [`Shared`] state, a progress sink and a cancel
//! token. [`Shared`] names no backend: each backend puts its own state into it when the host
//! starts (see [`super::backend`]) and finds it again by type.

use super::backend::{Backend, Operation};
use super::error::ApiError;
use super::services::{ApprovalGate, OpenGate};
use crate::config::{Config, ConfigError, Paths};
use serde_json::Value;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::RwLock;
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

/// Process-wide state shared by all requests: paths, settings, the backends, and each backend's
/// own state and services, stored by type.
pub struct Shared {
    pub paths: Paths,
    pub config: RwLock<Config>,
    backends: Vec<Arc<dyn Backend>>,
    actions: Vec<Action>,
    operations: Vec<Operation>,
    services: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Shared {
    /// A snapshot of the current settings.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The backends, in the composition's order.
    pub fn backends(&self) -> &[Arc<dyn Backend>] {
        &self.backends
    }

    /// Every action of every backend and layer (not the dispatcher's built-ins).
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Every operation a Clarion policy may guard.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The registered service of type `T` (a backend's state, a seam like `Arc<dyn Trait>`).
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.services
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
    }

    /// Like [`get`](Self::get) for a service its own backend registered at start: a missing one
    /// is a wiring bug, not a user error.
    pub fn expect<T: Any + Send + Sync>(&self) -> &T {
        self.get::<T>().unwrap_or_else(|| {
            panic!(
                "{} is not registered: its backend is missing from src/backends.rs",
                std::any::type_name::<T>()
            )
        })
    }

    /// Replaces (or adds) a service. Tests use it to plug in fakes before sharing the state.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.services.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The approval gate (Clarion when registered; else one that requires nothing).
    pub fn gate(&self) -> &dyn ApprovalGate {
        match self.get::<Arc<dyn ApprovalGate>>() {
            Some(g) => g.as_ref(),
            None => &OpenGate,
        }
    }
}

/// What a backend gets while the host starts: the paths and settings, and a place to put its
/// state, its services and extra actions. The composition (`src/backends.rs`) drives it.
pub struct Registry {
    shared: Shared,
}

impl Registry {
    pub fn new(paths: Paths, config: Config) -> Self {
        Self {
            shared: Shared {
                paths,
                config: RwLock::new(config),
                backends: Vec::new(),
                actions: Vec::new(),
                operations: Vec::new(),
                services: HashMap::new(),
            },
        }
    }

    /// Starts one backend: it parses its config section and registers its state; its actions
    /// and operations join the tables.
    pub fn start(&mut self, b: Arc<dyn Backend>) -> Result<(), ConfigError> {
        b.start(self).map_err(|message| ConfigError::Section {
            section: b.name().to_owned(),
            message,
        })?;
        self.shared.actions.extend(b.actions());
        self.shared.operations.extend_from_slice(b.operations());
        self.shared.backends.push(b);
        Ok(())
    }

    /// The finished state; afterwards only tests change it ([`Shared::insert`]).
    pub fn finish(self) -> Shared {
        self.shared
    }

    pub fn paths(&self) -> &Paths {
        &self.shared.paths
    }
    /// The settings as loaded (each backend parses its own section).
    pub fn config(&self) -> Config {
        self.shared.config()
    }
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.shared.insert(value);
    }
    /// The service of type `T`, created empty first if needed (lists several backends add to).
    pub fn entry<T: Any + Send + Sync + Default>(&mut self) -> &mut T {
        self.shared
            .services
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
            .expect("stored under its own TypeId")
    }
    pub fn add_actions(&mut self, actions: Vec<Action>) {
        self.shared.actions.extend(actions);
    }
    pub fn add_operations(&mut self, operations: &[Operation]) {
        self.shared.operations.extend_from_slice(operations);
    }
}

/// Per-request context handed to every action handler.
#[derive(Clone)]
pub struct Ctx {
    pub state: Arc<Shared>,
    pub events: EventSink,
    pub cancel: CancelToken,
}

impl Ctx {
    pub fn new(state: Arc<Shared>) -> Self {
        Self {
            state,
            events: EventSink::disabled(),
            cancel: CancelToken::new(),
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
