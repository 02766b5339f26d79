//! A simulated ANOTHERpass phone app: the app's credential server (spec
//! /work/shared/specs/anotherpass.md §1–§4, §10) written from the spec, independently of
//! passbridge's client, for tests and for trying passbridge without a phone.
//!
//! ```ignore
//! use crate::support::anotherpass_sim::{Credential, Script, Sim, SimConfig};
//!
//! let sim = Sim::start(SimConfig::fast());          // 127.0.0.1, free port, RSA-2048 app keys
//! let uid = sim.add_credential(Credential::new("GitHub", "octo", "pw", "github.com"));
//! sim.scan_qr(&qr_payload_from_client).unwrap();   // the owner scans the QR (opens "link new device")
//! // ... the client POSTs link_app to sim.url() ...
//! sim.set_user(Script::accept().pick(&[&uid]));     // the owner accepts and taps that credential
//! sim.set_device_locked(true);                      // any switch, any time
//! let log = sim.requests();                         // decrypted payloads, statuses, faults
//! sim.fault_next(Fault::CloseWithoutReply);         // shape the next reply
//! sim.fault_next_success(Fault::BadTag);           // or the next 200 only
//! ```
//!
//! Layout: `proto` (pure server-side computations, §7.3 vectors), `android` (platform base64 and
//! org.json behaviour), `rsa` (aws-lc-rs), `phone` (linking, request state machine, scripted
//! owner), `api` (`POST /` processing order, download), `http` (routing, rendering, faults),
//! `front` (the listening socket and relay), `model` (data types).

pub mod android;
pub mod api;
pub mod front;
pub mod http;
pub mod model;
pub mod phone;
pub mod proto;
pub mod rsa;

pub use model::{Credential, Fault, HeldBackup, LinkInfo, LoggedRequest, RequestState, Script};

use front::Front;
use http::Shared;
use phone::Phone;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, MutexGuard};
use std::thread::JoinHandle;

/// How to start a simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// 127.0.0.1 unless a person wants the example reachable from elsewhere.
    pub bind: IpAddr,
    /// 0 picks a free port; see [`Sim::port`].
    pub port: u16,
    /// The app generates RSA-4096 keys; 2048 keeps tests fast.
    pub app_key_bits: usize,
    /// BK and one-time key length: 32 (Android ≥ 8) or 16 (older phones).
    pub key_len: usize,
    /// The vault's 128-byte salt (random when `None`).
    pub salt: Option<Vec<u8>>,
    /// The vault's 32-byte master key (random when `None`).
    pub master_key: Option<Vec<u8>>,
    pub script: Script,
    pub link_screen_open: bool,
    /// Narrate requests and phone events on stderr (for the example).
    pub verbose: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            app_key_bits: 4096,
            key_len: 32,
            salt: None,
            master_key: None,
            script: Script::accept(),
            link_screen_open: false,
            verbose: false,
        }
    }
}

impl SimConfig {
    /// The defaults with RSA-2048 app keys.
    pub fn fast() -> Self {
        Self {
            app_key_bits: 2048,
            ..Self::default()
        }
    }
}

/// A running simulator. Stops (and closes every connection) on drop.
pub struct Sim {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Sim {
    pub fn start(cfg: SimConfig) -> Sim {
        Self::try_start(cfg).expect("start the ANOTHERpass simulator")
    }

    pub fn try_start(cfg: SimConfig) -> std::io::Result<Sim> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let inner = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("tiny_http is not on TCP"))?;
        let front = Front::start(SocketAddr::new(cfg.bind, cfg.port), inner)?;
        let salt = cfg.salt.unwrap_or_else(|| proto::random_bytes(128));
        let master_key = cfg.master_key.unwrap_or_else(|| proto::random_bytes(32));
        let mut phone = Phone::new(salt, master_key, cfg.script);
        phone.key_len = cfg.key_len;
        phone.app_key_bits = cfg.app_key_bits;
        phone.link_screen_open = cfg.link_screen_open;
        phone.verbose = cfg.verbose;
        let shared = Arc::new(Shared::new(phone, front, cfg.verbose));
        let server = Arc::new(server);
        let thread = {
            let (server, shared) = (server.clone(), shared.clone());
            std::thread::spawn(move || http::serve(server, shared))
        };
        Ok(Sim {
            shared,
            server,
            thread: Some(thread),
        })
    }

    fn phone(&self) -> MutexGuard<'_, Phone> {
        self.shared.phone.lock().expect("phone lock")
    }

    // ------------------------------------------------------------------ where

    pub fn addr(&self) -> SocketAddr {
        self.shared.front.addr()
    }
    pub fn port(&self) -> u16 {
        self.addr().port()
    }
    /// `http://<ip>:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr())
    }
    /// The app's `@handle` for the bound address; `None` outside 10/8, 172.16/12, 192.168/16
    /// (loopback has none).
    pub fn handle(&self) -> Option<String> {
        match self.addr().ip() {
            IpAddr::V4(v4) => proto::handle_for_ipv4(v4),
            IpAddr::V6(_) => None,
        }
    }

    // ------------------------------------------------------------------ the vault

    pub fn vault_id(&self) -> String {
        self.phone().vault_id()
    }
    /// The clientKey the app derives for this webClientId (padded base64 with `\n`).
    pub fn client_key_for(&self, web_client_id: &str) -> String {
        self.phone().client_key_b64(web_client_id)
    }
    /// Adds a credential; returns its uid.
    pub fn add_credential(&self, c: Credential) -> Option<String> {
        let uid = c.uid.clone();
        self.phone().credentials.push(c);
        uid
    }
    pub fn credentials(&self) -> Vec<Credential> {
        self.phone().credentials.clone()
    }
    /// The owner edits the credential `uid` in the app; false when there is none.
    pub fn update_credential(&self, uid: &str, edit: impl FnOnce(&mut Credential)) -> bool {
        let mut p = self.phone();
        match p
            .credentials
            .iter_mut()
            .find(|c| c.uid.as_deref() == Some(uid))
        {
            Some(c) => {
                edit(c);
                true
            }
            None => false,
        }
    }
    /// The owner deletes the credential `uid` in the app; false when there is none. Call it
    /// between requests (a running request refers to credentials by position).
    pub fn remove_credential(&self, uid: &str) -> bool {
        let mut p = self.phone();
        let before = p.credentials.len();
        p.credentials.retain(|c| c.uid.as_deref() != Some(uid));
        p.credentials.len() != before
    }
    /// Another vault is restored on the phone: its vault id and every clientKey change.
    pub fn set_vault_salt(&self, salt: &[u8]) {
        self.phone().salt = salt.to_vec();
    }
    /// The vault's master key changes (the clientKey of every link changes with it).
    pub fn set_master_key(&self, key: &[u8]) {
        self.phone().master_key = key.to_vec();
    }

    // ------------------------------------------------------------------ linking

    /// The owner opens "link new device" and scans the QR payload `wcid:b64(SK):hexFingerprint`.
    pub fn scan_qr(&self, payload: &str) -> Result<(), String> {
        self.phone().scan_qr(payload)
    }
    pub fn set_link_screen_open(&self, open: bool) {
        self.phone().link_screen_open = open;
    }
    pub fn link(&self, web_client_id: &str) -> Option<LinkInfo> {
        self.phone().link_info(web_client_id)
    }
    /// The owner deletes a link in the app (needed before relinking).
    pub fn delete_link(&self, web_client_id: &str) -> bool {
        self.phone().delete_link(web_client_id)
    }
    /// The short fingerprint the link sheet shows (`XX-XXX-XX`).
    pub fn last_link_fingerprint(&self) -> Option<String> {
        self.phone().last_link_fingerprint.clone()
    }
    /// True while a link sheet waits for the owner (script `Answer::Never`).
    pub fn link_pending(&self) -> bool {
        self.phone().pending_link.is_some()
    }

    // ------------------------------------------------------------------ the owner

    pub fn set_user(&self, script: Script) {
        self.phone().script = script;
    }
    pub fn user_accept(&self) -> Result<(), String> {
        self.phone().user_accept(false)
    }
    pub fn user_accept_with_bypass(&self) -> Result<(), String> {
        self.phone().user_accept(true)
    }
    pub fn user_deny(&self) -> Result<(), String> {
        self.phone().user_deny(false)
    }
    pub fn user_pick(&self, uids: &[&str]) -> Result<(), String> {
        self.phone().user_pick(uids)
    }
    pub fn user_cancel(&self) -> Result<(), String> {
        self.phone().user_cancel()
    }
    pub fn user_save(&self, password: &str) -> Result<(), String> {
        self.phone().user_save(password)
    }
    /// What the owner is looking at ("acceptance sheet (…)", "edit screen (…)", …).
    pub fn screen(&self) -> String {
        self.phone().screen()
    }
    /// The global request slot: state and identifier.
    pub fn request_state(&self) -> (RequestState, Option<String>) {
        let p = self.phone();
        (p.state, p.identifier.clone())
    }
    /// The short fingerprint the last acceptance sheet showed.
    pub fn last_request_fingerprint(&self) -> Option<String> {
        self.phone().last_request_fingerprint.clone()
    }
    /// The backup held for download, if any.
    pub fn backup(&self) -> Option<HeldBackup> {
        self.phone().backup.clone()
    }

    // ------------------------------------------------------------------ switches

    pub fn set_device_locked(&self, locked: bool) {
        self.phone().device_locked = locked;
    }
    /// The app is locked (no master key in memory): 401 "Locked".
    pub fn set_vault_locked(&self, locked: bool) {
        self.phone().vault_locked = locked;
    }
    pub fn set_in_foreground(&self, foreground: bool) {
        self.phone().list_in_foreground = foreground;
    }
    /// Logged out: the next POST gets 401 "no active session" and the server stops listening.
    /// `false` logs in again and restarts the server on the same port.
    pub fn set_session_denied(&self, denied: bool) {
        self.phone().session_denied = denied;
        if !denied {
            let _ = self.shared.front.go_up();
        }
    }
    /// The phone leaves (`false`: connections refused, open ones closed) or rejoins the network.
    pub fn set_listening(&self, listening: bool) -> std::io::Result<()> {
        if listening {
            self.shared.front.go_up()
        } else {
            self.shared.front.go_down(true);
            Ok(())
        }
    }
    pub fn is_listening(&self) -> bool {
        self.shared.front.is_listening()
    }
    pub fn set_blocked(&self, web_client_id: &str, blocked: bool) -> bool {
        self.with_link(web_client_id, |l| l.blocked = blocked)
    }
    pub fn set_bypass(&self, web_client_id: &str, bypass: bool) -> bool {
        self.with_link(web_client_id, |l| l.bypass = bypass)
    }
    /// 32 (default) or 16 (old Android): length of new BKs and of every OTKrs.
    pub fn set_key_len(&self, len: usize) {
        self.phone().key_len = len;
    }
    pub fn set_app_key_bits(&self, bits: usize) {
        self.phone().app_key_bits = bits;
    }
    fn with_link(&self, web_client_id: &str, f: impl FnOnce(&mut model::Link)) -> bool {
        let mut p = self.phone();
        match p.link_index(web_client_id) {
            Some(i) => {
                f(&mut p.links[i]);
                true
            }
            None => false,
        }
    }

    // ------------------------------------------------------------------ log and faults

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.lock().expect("log lock").clone()
    }
    /// `POST /` requests only.
    pub fn api_requests(&self) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/")
            .collect()
    }
    pub fn clear_requests(&self) {
        self.shared.log.lock().expect("log lock").clear();
    }
    /// Queues a one-shot fault (see [`Fault`] for which reply it hits).
    pub fn fault_next(&self, fault: Fault) {
        self.queue_fault(fault, false);
    }
    /// Queues a one-shot fault for the next 200 reply, whatever its kind: the phone has then
    /// finished the request, so breaking the reply does not leave its request slot taken.
    pub fn fault_next_success(&self, fault: Fault) {
        self.queue_fault(fault, true);
    }
    fn queue_fault(&self, fault: Fault, only_success: bool) {
        let mut faults = self.shared.faults.lock().expect("fault lock");
        faults.queue.push_back((fault, only_success));
    }
    /// A fault for every fitting reply until set to `None`.
    pub fn fault_always(&self, fault: Option<Fault>) {
        self.shared.faults.lock().expect("fault lock").always = fault;
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shared.stop();
        self.shared.front.go_down(true);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
