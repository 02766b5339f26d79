//! The action table and the life of one request: register for cancel, run the handler,
//! turn panics into `internal`, build the final reply. Shared by the host loop and `passbridge call`.

use super::context::Shared;
use super::context::{Action, CallerOrigin, CancelToken, Ctx, EventFn, EventSink};
use super::error::{ApiError, codes};
use super::request::{Request, error_reply, ok_reply, progress_event};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

/// How many requests may be in flight at once on one connection.
pub const MAX_IN_FLIGHT: usize = 64;

pub struct Dispatcher {
    pub state: Arc<Shared>,
    actions: BTreeMap<&'static str, Action>,
    in_flight: Mutex<HashMap<String, CancelToken>>,
    /// Who this connection's requests come from (one caller per host process).
    caller: CallerOrigin,
}

/// Host-level actions handled by the dispatcher itself (they need the table or the in-flight set).
const BUILTIN: &[(&str, &str)] = &[
    (
        "hello",
        "Name, version, protocol version, actions and backends.",
    ),
    (
        "cancel",
        "Cancel the in-flight request whose id is params.target.",
    ),
];

impl Dispatcher {
    pub fn new(state: Arc<Shared>) -> Self {
        let mut actions = BTreeMap::new();
        let table = super::core_actions::actions()
            .into_iter()
            .chain(state.actions().iter().copied());
        for a in table {
            let dup = actions.insert(a.name, a);
            assert!(dup.is_none(), "action {} defined twice", a.name);
        }
        Self {
            state,
            actions,
            in_flight: Mutex::new(HashMap::new()),
            caller: CallerOrigin::Local,
        }
    }

    /// The caller the browser named at launch (default: a local user).
    pub fn with_caller(mut self, caller: CallerOrigin) -> Self {
        self.caller = caller;
        self
    }

    /// Who this connection's requests come from.
    pub fn caller(&self) -> &CallerOrigin {
        &self.caller
    }

    /// Every action name with its summary, built-ins included.
    pub fn action_list(&self) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = BUILTIN
            .iter()
            .copied()
            .chain(self.actions.values().map(|a| (a.name, a.summary)))
            .collect();
        v.sort();
        v
    }

    /// Runs `req` to completion on the calling thread and returns the final reply.
    /// Progress events (if the request asked for them) go to `emit`, already wrapped with the id.
    pub fn handle(&self, req: Request, emit: EventFn) -> Value {
        let id = req.id.clone();
        match self.run(req, emit) {
            Ok(result) => ok_reply(&id, result),
            Err(e) => error_reply(&id, &e),
        }
    }

    fn run(&self, mut req: Request, emit: EventFn) -> Result<Value, ApiError> {
        let out = self.run_action(&req, emit);
        // Params may carry passwords: wipe them now rather than leave them in freed memory.
        super::request::scrub(&mut req.params);
        out
    }

    fn run_action(&self, req: &Request, emit: EventFn) -> Result<Value, ApiError> {
        match req.action.as_str() {
            "hello" => return Ok(self.hello()),
            "cancel" => return self.cancel(&req.params),
            _ => {}
        }
        let action = *self.actions.get(req.action.as_str()).ok_or_else(|| {
            ApiError::new(
                codes::UNKNOWN_ACTION,
                format!(
                    "Unknown action \"{}\". Send \"hello\" for the list.",
                    req.action
                ),
            )
        })?;
        let cancel = CancelToken::new();
        let key = id_key(&req.id);
        if let Some(k) = &key {
            let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if map.contains_key(k) {
                return Err(ApiError::new(
                    codes::DUPLICATE_ID,
                    format!("A request with id {k} is still running."),
                ));
            }
            map.insert(k.clone(), cancel.clone());
        }
        let _unregister = Unregister {
            dispatcher: self,
            key,
        };
        let id = req.id.clone();
        let events = EventSink::new(
            req.progress,
            Arc::new(move |fields| emit(progress_event(&id, fields))),
        );
        let ctx = Ctx {
            state: self.state.clone(),
            events,
            cancel,
            caller: self.caller.clone(),
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| (action.handler)(&ctx, &req.params))) {
            Ok(r) => r,
            Err(_) => {
                log::error!("action {} panicked", action.name);
                Err(ApiError::internal(
                    "passbridge hit an internal error. Details are in its log.",
                ))
            }
        }
    }

    /// Cancels every in-flight request (the browser went away).
    pub fn cancel_all(&self) {
        for t in self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            t.cancel();
        }
    }

    fn cancel(&self, params: &Value) -> Result<Value, ApiError> {
        let target = params
            .get("target")
            .filter(|t| t.is_string() || t.is_number());
        let key = target.and_then(id_key).ok_or_else(|| {
            ApiError::invalid_params("\"target\" must be the id (string or number) of a request.")
        })?;
        let token = self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(t) = &token {
            t.cancel();
        }
        Ok(json!({"cancelled": token.is_some()}))
    }

    fn hello(&self) -> Value {
        let actions: Vec<_> = self.action_list().into_iter().map(|(n, _)| n).collect();
        json!({
            "name": "passbridge",
            "version": env!("CARGO_PKG_VERSION"),
            "protocol": super::request::PROTOCOL_VERSION,
            "actions": actions,
            "backends": self.state.backends().iter().map(|b| b.name()).collect::<Vec<_>>(),
        })
    }
}

/// Ids are matched by their JSON text, so `1` and `"1"` are different requests.
fn id_key(id: &Value) -> Option<String> {
    (!id.is_null()).then(|| id.to_string())
}

struct Unregister<'a> {
    dispatcher: &'a Dispatcher,
    key: Option<String>,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        if let Some(k) = &self.key {
            self.dispatcher
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(k);
        }
    }
}
