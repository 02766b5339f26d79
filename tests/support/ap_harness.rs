//! In-process harness for ANOTHERpass client tests: a private PASSBRIDGE home, settings that point
//! at a loopback phone, the real dispatcher (so progress events and `cancel` work as in the host),
//! and a recording vault sink.

use super::ap_phone::{Phone, Reply};
use passbridge::anotherpass::Settings;
use passbridge::anotherpass::seam::{ClientKey, Credential, CredentialSink};
use passbridge::api::dispatch::Dispatcher;
use passbridge::api::services::ApprovalGate;
use passbridge::api::{Ctx, Request};
use passbridge::config::{Config, Paths};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Records what the vault would receive.
#[derive(Default)]
pub struct RecordingSink {
    pub received: Mutex<Vec<([u8; 32], Vec<String>)>>,
    pub remembered: Mutex<HashMap<String, String>>,
    pub fail: Mutex<bool>,
}

impl CredentialSink for RecordingSink {
    fn received(
        &self,
        _: &Ctx,
        key: &ClientKey,
        creds: &[Credential],
    ) -> Result<(), passbridge::api::ApiError> {
        if *self.fail.lock().unwrap() {
            return Err(passbridge::api::ApiError::new("vault_locked", "locked"));
        }
        self.received
            .lock()
            .unwrap()
            .push((*key.bytes(), creds.iter().map(|c| c.name.clone()).collect()));
        Ok(())
    }
    fn remembered_uid(&self, _: &Ctx, website: &str) -> Option<String> {
        self.remembered.lock().unwrap().get(website).cloned()
    }
    fn remember_uid(&self, _: &Ctx, website: &str, uid: &str) {
        self.remembered
            .lock()
            .unwrap()
            .insert(website.into(), uid.into());
    }
}

/// Records which operations asked for approval; refuses them all when `deny` is set.
#[derive(Default)]
pub struct RecordingGate {
    pub asked: Mutex<Vec<String>>,
    pub deny: Mutex<bool>,
}

impl ApprovalGate for RecordingGate {
    fn require(&self, _: &Ctx, operation: &str) -> Result<(), passbridge::api::ApiError> {
        self.asked.lock().unwrap().push(operation.into());
        if *self.deny.lock().unwrap() {
            return Err(passbridge::api::ApiError::new(
                "approval_denied",
                "Not approved.",
            ));
        }
        Ok(())
    }
    fn is_required(&self, _: &Ctx, _: &str) -> bool {
        *self.deny.lock().unwrap()
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub paths: Paths,
    pub dispatcher: Arc<Dispatcher>,
    pub phone: Phone,
    pub events: Arc<Mutex<Vec<Value>>>,
    pub sink: Arc<RecordingSink>,
    pub gate: Arc<RecordingGate>,
}

/// Fast polling against the phone; generous overall limits (only there to end hangs).
pub fn test_settings(port: u16) -> Settings {
    Settings {
        server: Some("127.0.0.1".into()),
        port: Some(port),
        rsa_bits: Some(2048),
        poll_interval_ms: Some(100),
        timeout_ms: Some(30_000),
        http_timeout_ms: Some(10_000),
        ..Settings::default()
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let phone = Phone::start();
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        // Link keys stay in the temporary home, never in the keyring of whoever runs the tests.
        Config::update(&paths, |c| {
            c.set_section("secrets", &serde_json::json!({"store": "file"}))
        })
        .unwrap();
        let mut settings = test_settings(phone.port);
        tweak(&mut settings);
        let config = Config::default().with_section("anotherpass", &settings);
        let sink = Arc::new(RecordingSink::default());
        let gate = Arc::new(RecordingGate::default());
        let mut state = passbridge::backends::start(paths.clone(), config).unwrap();
        state.insert::<Arc<dyn CredentialSink>>(sink.clone());
        state.insert::<Arc<dyn ApprovalGate>>(gate.clone());
        Self {
            dir,
            paths,
            dispatcher: Arc::new(Dispatcher::new(Arc::new(state))),
            phone,
            events: Arc::default(),
            sink,
            gate,
        }
    }

    /// Changes the settings of the running state (as an edited config.json would).
    pub fn set(&self, f: impl FnOnce(&mut Settings)) {
        let mut config = self.dispatcher.state.config.write().unwrap();
        let mut settings: Settings = config.section("anotherpass").unwrap();
        f(&mut settings);
        config.set_section("anotherpass", &settings);
    }

    /// Runs one request with progress on; returns the whole reply.
    pub fn call_id(&self, id: &str, action: &str, params: Value) -> Value {
        let events = self.events.clone();
        self.dispatcher.handle(
            Request {
                id: json!(id),
                action: action.into(),
                params,
                progress: true,
            },
            Arc::new(move |e| events.lock().unwrap().push(e)),
        )
    }

    pub fn call(&self, action: &str, params: Value) -> Value {
        self.call_id("t", action, params)
    }

    pub fn ok(&self, action: &str, params: Value) -> Value {
        let r = self.call(action, params);
        assert_eq!(r["ok"], json!(true), "{action}: {r:#}");
        r["result"].clone()
    }

    /// The error code and message of a failing call.
    pub fn err(&self, action: &str, params: Value) -> (String, String) {
        let r = self.call(action, params);
        assert_eq!(r["ok"], json!(false), "{action} should fail: {r:#}");
        (
            r["error"]["code"].as_str().unwrap().to_owned(),
            r["error"]["message"].as_str().unwrap().to_owned(),
        )
    }

    pub fn take_events(&self) -> Vec<Value> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    /// The whole linking dance against the phone; returns the link.complete result.
    pub fn link(&self) -> Value {
        let started = self.ok("anotherpass.link.start", json!({}));
        self.phone.scan(started["qr_payload"].as_str().unwrap());
        self.phone.push(Reply::LinkAccept);
        let done = self.ok(
            "anotherpass.link.complete",
            json!({"server": "192.168.178.39", "port": 8787}),
        );
        self.ok("anotherpass.link.confirm", json!({"matches": true}));
        done
    }
}
