//! The app behind the HTTP server: linking (spec §3, `AddWebExtensionActivity`), the single
//! global request state machine and its UI flows (spec §4, `HttpCredentialRequestHandler`), and
//! the scripted owner who answers sheets, picks credentials and saves new ones.

use super::android::{self, J};
use super::model::{
    Answer, Create, Credential, HeldBackup, Link, LinkInfo, Pick, RequestState, Script,
};
use super::proto;
use super::rsa::AppKey;
use serde_json::{Map, Value};
use std::sync::Arc;

/// A handler's non-200 answer: status and the `error` text.
pub type Refusal = (u16, String);

fn refuse(status: u16, msg: impl Into<String>) -> Refusal {
    (status, msg.into())
}

/// `"Unexpected error during handling post request: …"` (an exception escaped the handler).
pub fn unexpected(detail: impl std::fmt::Display) -> Refusal {
    (
        500,
        format!("Unexpected error during handling post request: {detail}"),
    )
}

/// `FetchCredentialCommand`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    ForUrl,
    ForUid,
    ForUids,
    Single,
    Multiple,
    All,
    Create,
    ClientKey,
    Cancel,
    DownloadBackup,
}

impl Command {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "fetch_credential_for_url" => Self::ForUrl,
            "fetch_credential_for_uid" => Self::ForUid,
            "fetch_credentials_for_uids" => Self::ForUids,
            "fetch_single_credential" => Self::Single,
            "fetch_multiple_credentials" => Self::Multiple,
            "fetch_all_credentials" => Self::All,
            "create_credential_for_url" => Self::Create,
            "get_client_key" => Self::ClientKey,
            "cancel_request" => Self::Cancel,
            "download_vault_backup" => Self::DownloadBackup,
            _ => return None,
        })
    }
}

/// What accepting a sheet leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Flow {
    /// The credential is preselected: accepting is enough.
    Uid(usize),
    /// The list searches the domain; the owner taps a credential.
    Website { domain: String },
    /// The owner taps any credential.
    Any,
    /// Multi-select mode; the owner commits a selection.
    Multiple,
    /// The edit screen opens prefilled.
    Create {
        name: String,
        domain: String,
        user: String,
    },
    /// Nothing more to do (uids, all, client key, backup).
    Plain,
}

/// Which screen the owner is looking at for the current request.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ui {
    Idle,
    Sheet {
        flow: Flow,
        waited: u32,
    },
    Selecting {
        flow: Flow,
        waited: u32,
    },
    Editing {
        name: String,
        domain: String,
        user: String,
        waited: u32,
    },
}

pub struct Phone {
    pub device_locked: bool,
    /// `activity.masterSecretKey == null`.
    pub vault_locked: bool,
    /// `Session.isDenied()` (logged out).
    pub session_denied: bool,
    /// The credential list activity is in the foreground (when no edit screen covers it).
    pub list_in_foreground: bool,
    /// "Link new device" is open, so `linkHttpCallback` is registered.
    pub link_screen_open: bool,
    /// BK and one-time key length: 32 (Android ≥ 8) or 16.
    pub key_len: usize,
    pub app_key_bits: usize,
    pub salt: Vec<u8>,
    pub master_key: Vec<u8>,
    pub credentials: Vec<Credential>,
    pub links: Vec<Link>,
    next_link_id: u64,
    pub state: RequestState,
    pub identifier: Option<String>,
    ui: Ui,
    /// `AutofillCredentialHolder.currentCredential`.
    current: Option<usize>,
    /// Multi-select: the chosen credentials once committed (`USER_COMMITTED`).
    committed: Option<Vec<usize>>,
    /// The link whose request the sheet shows (its bypass flag is what the checkbox sets).
    sheet_link: Option<u64>,
    pub script: Script,
    /// The link whose accept/deny sheet is open.
    pub pending_link: Option<u64>,
    pub backup: Option<HeldBackup>,
    pub last_link_fingerprint: Option<String>,
    pub last_request_fingerprint: Option<String>,
    pub verbose: bool,
}

impl Phone {
    pub fn new(salt: Vec<u8>, master_key: Vec<u8>, script: Script) -> Self {
        Self {
            device_locked: false,
            vault_locked: false,
            session_denied: false,
            list_in_foreground: true,
            link_screen_open: false,
            key_len: 32,
            app_key_bits: 4096,
            salt,
            master_key,
            credentials: Vec::new(),
            links: Vec::new(),
            next_link_id: 1,
            state: RequestState::None,
            identifier: None,
            ui: Ui::Idle,
            current: None,
            committed: None,
            sheet_link: None,
            script,
            pending_link: None,
            backup: None,
            last_link_fingerprint: None,
            last_request_fingerprint: None,
            verbose: false,
        }
    }

    fn note(&self, msg: &str) {
        if self.verbose {
            eprintln!("[phone] {msg}");
        }
    }

    pub fn vault_id(&self) -> String {
        proto::vault_id(&self.salt)
    }

    pub fn client_key_b64(&self, web_client_id: &str) -> String {
        proto::client_key_b64(&self.salt, web_client_id, &self.master_key)
    }

    pub fn link_index(&self, web_client_id: &str) -> Option<usize> {
        self.links
            .iter()
            .position(|l| l.web_client_id == web_client_id)
    }

    pub fn link_info(&self, web_client_id: &str) -> Option<LinkInfo> {
        self.link_index(web_client_id).map(|i| self.links[i].info())
    }

    /// The list is in front unless something covers it (the create flow's edit screen).
    pub fn in_foreground(&self) -> bool {
        self.list_in_foreground && !matches!(self.ui, Ui::Editing { .. })
    }

    // ---------------------------------------------------------------- linking (spec §3)

    /// `handleScannedData`: `wcid:b64(SK):fingerprintHex`. An unlinked entry with the same id is
    /// overwritten in place; a linked one must be deleted first.
    pub fn scan_qr(&mut self, payload: &str) -> Result<(), String> {
        let parts: Vec<&str> = payload.trim().split(':').collect();
        if parts.len() != 3 || !proto::is_valid_web_client_id(parts[0]) {
            return Err(
                "Invalid QR code: expected <webClientId>:<sessionKey>:<fingerprint>".into(),
            );
        }
        let sk = android::b64_decode(parts[1], false)
            .map_err(|_| "Invalid QR code: the session key is not base64".to_string())?;
        let wcid = parts[0].to_string();
        match self.link_index(&wcid) {
            Some(i) if self.links[i].linked => {
                Err("This device link already exists. Delete it first.".into())
            }
            Some(i) => {
                let l = &mut self.links[i];
                l.shared_key = sk;
                l.qr_fingerprint = parts[2].to_string();
                l.client_jwk = None;
                l.app_key = None;
                self.link_screen_open = true;
                Ok(())
            }
            None => {
                let id = self.next_link_id;
                self.next_link_id += 1;
                self.links.push(Link {
                    id,
                    web_client_id: wcid.clone(),
                    title: format!("Browser {wcid}"),
                    linked: false,
                    blocked: false,
                    bypass: false,
                    shared_key: sk,
                    qr_fingerprint: parts[2].to_string(),
                    client_jwk: None,
                    app_key: None,
                });
                self.link_screen_open = true;
                self.note(&format!("scanned QR of {wcid}; waiting for link_app"));
                Ok(())
            }
        }
    }

    /// The link screen's `handleHttpRequest` for `link_app` (spec §3.2 step 5).
    pub fn handle_link(&mut self, idx: usize, msg: &Map<String, Value>) -> Result<J, Refusal> {
        if self.links[idx].linked {
            return Err(refuse(500, "invalid action or unexpected web client"));
        }
        let jwk = match msg.get("clientPubKey") {
            Some(Value::Object(o)) => o,
            Some(other) => {
                return Err(unexpected(format!(
                    "Value {other} at clientPubKey cannot be converted to JSONObject"
                )));
            }
            None => return Err(unexpected("No value for clientPubKey")),
        };
        let n = android::get_string(jwk, "n").map_err(unexpected)?;
        android::get_string(jwk, "e").map_err(unexpected)?;
        if proto::qr_fingerprint_hex(&n) != self.links[idx].qr_fingerprint {
            return Err(refuse(400, "fingerprint mismatch"));
        }
        let vault_id = self.vault_id();
        let relink_vault_id = android::opt_string(msg, "vaultId");
        if !relink_vault_id.is_empty() && relink_vault_id != vault_id {
            return Err(refuse(400, "relink vault id mismatch"));
        }
        let bk = proto::random_bytes(self.key_len);
        let app_key = AppKey::generate(self.app_key_bits).map_err(unexpected)?;
        let server_n = app_key.n_b64url();
        let reply = J::O(vec![
            (
                "serverPubKey",
                J::O(vec![
                    ("n", J::s(&server_n)),
                    ("e", J::s(app_key.e_b64url())),
                ]),
            ),
            ("sharedBaseKey", J::s(android::b64_url_nopad(&bk))),
            ("linkedVaultId", J::s(vault_id)),
        ]);
        let link = &mut self.links[idx];
        link.shared_key = bk;
        link.client_jwk = Some(Value::Object(jwk.clone()).to_string());
        link.app_key = Some(Arc::new(app_key));
        self.pending_link = Some(link.id);
        self.last_link_fingerprint = proto::link_fingerprint(&server_n);
        self.note(&format!(
            "link request from {}: compare fingerprint {}",
            self.links[idx].web_client_id,
            self.last_link_fingerprint.as_deref().unwrap_or("?")
        ));
        Ok(reply)
    }

    /// The owner answers the link sheet as scripted, after the reply went out.
    pub fn after_link_reply(&mut self) {
        match self.script.answer {
            Answer::Accept => {
                let _ = self.answer_link(true, self.script.tick_bypass);
            }
            Answer::Deny => {
                let _ = self.answer_link(false, false);
            }
            Answer::Never => {}
        }
    }

    /// Accept: `linked = true`. Deny: the entry is deleted.
    pub fn answer_link(&mut self, accept: bool, bypass: bool) -> Result<(), String> {
        let id = self
            .pending_link
            .take()
            .ok_or("no link waiting for an answer")?;
        // Either answer finishes the "link new device" screen.
        self.link_screen_open = false;
        let idx = self
            .links
            .iter()
            .position(|l| l.id == id)
            .ok_or("the pending link was deleted")?;
        if accept {
            self.links[idx].linked = true;
            self.links[idx].bypass = bypass;
            self.note(&format!(
                "link with {} accepted",
                self.links[idx].web_client_id
            ));
        } else {
            let l = self.links.remove(idx);
            self.note(&format!("link with {} denied and deleted", l.web_client_id));
        }
        Ok(())
    }

    pub fn delete_link(&mut self, web_client_id: &str) -> bool {
        let before = self.links.len();
        self.links.retain(|l| l.web_client_id != web_client_id);
        before != self.links.len()
    }

    // ------------------------------------------------------ request_credential (spec §4)

    /// `HttpCredentialRequestHandler.handleIncomingRequest`.
    pub fn handle_request(&mut self, idx: usize, msg: &Map<String, Value>) -> Result<J, Refusal> {
        let command = android::get_string(msg, "command")
            .ok()
            .and_then(|c| Command::parse(&c))
            .ok_or_else(|| refuse(400, "unknown command"))?;
        let rid = android::get_string(msg, "requestIdentifier").map_err(unexpected)?;
        let website = android::opt_string(msg, "website");
        let user = android::opt_string(msg, "user");
        let uid = android::opt_string(msg, "uid");
        let uids = match msg.get("uids") {
            Some(Value::Array(a)) => Some(a.clone()),
            _ => None,
        };

        // Time passes between two polls: the owner acts on whatever is on screen.
        self.tick_owner();

        if self.identifier.as_deref() != Some(rid.as_str()) {
            if self.state.is_progressing() {
                return Err(refuse(409, "waiting for concurrent request"));
            }
            self.set_state(RequestState::Incoming);
            self.identifier = Some(rid.clone());
        }
        if !self.in_foreground() {
            return Err(refuse(401, "not in foreground"));
        }
        if command == Command::Cancel {
            self.set_state(RequestState::Denied);
            self.ui = Ui::Idle;
            self.committed = None;
        }
        match self.state {
            RequestState::Incoming => {
                let bk = self.links[idx].shared_key.clone();
                let fingerprint = proto::request_fingerprint(&bk, &rid)
                    .map_err(unexpected)?
                    .ok_or_else(|| unexpected("begin 0, end 7, length 6"))?;
                self.note(&format!(
                    "request {command:?} from {}, fingerprint {fingerprint}",
                    self.links[idx].web_client_id
                ));
                self.last_request_fingerprint = Some(fingerprint);
                self.start_flow(idx, command, &website, &user, &uid, uids.is_some());
                Err(refuse(202, "no user acknowledge"))
            }
            RequestState::AwaitingAcceptance => Err(refuse(202, "pending request")),
            RequestState::Denied => {
                self.identifier = None;
                self.set_state(RequestState::Fulfilled);
                Err(refuse(403, "denied by user"))
            }
            RequestState::Accepted => {
                let wcid = self.links[idx].web_client_id.clone();
                self.produce(command, &wcid, uids.as_deref())
            }
            RequestState::Fulfilled => {
                self.identifier = None;
                Err(refuse(204, "still provided"))
            }
            RequestState::None => Err(refuse(500, "unhandled request state: None")),
        }
    }

    fn set_state(&mut self, s: RequestState) {
        if self.state != s {
            self.note(&format!("request state {:?} -> {s:?}", self.state));
        }
        self.state = s;
    }

    fn find_uid(&self, uid: &[u8; 16]) -> Option<usize> {
        self.credentials
            .iter()
            .position(|c| c.uid_bytes().as_ref() == Some(uid))
    }

    /// The Incoming branch's UI launch. A missing or invalid extra field starts nothing, so the
    /// request stays Incoming and every poll gets 202 (spec §4.3 edge case).
    fn start_flow(
        &mut self,
        idx: usize,
        command: Command,
        website: &str,
        user: &str,
        uid: &str,
        has_uids: bool,
    ) {
        self.current = None;
        self.committed = None;
        self.ui = Ui::Idle;
        self.sheet_link = Some(self.links[idx].id);
        let uuid = proto::parse_uuid(uid);
        let website_flow = |w: &str| Flow::Website {
            domain: proto::extract_domain(w, true),
        };
        let flow = match command {
            Command::ForUrl | Command::ForUid if uuid.is_some() => {
                match self.find_uid(&uuid.expect("checked")) {
                    Some(i) => Flow::Uid(i),
                    // A known-format but unknown uid falls back to the website flow, even with a
                    // blank website (errata §10.6); for_uid has no website and is denied.
                    None if command == Command::ForUrl => website_flow(website),
                    None => {
                        self.note("requested credential not found");
                        self.set_state(RequestState::Denied);
                        return;
                    }
                }
            }
            Command::ForUrl if !website.trim().is_empty() => website_flow(website),
            Command::ForUids if has_uids => Flow::Plain,
            Command::ClientKey | Command::All | Command::DownloadBackup => Flow::Plain,
            Command::Single => Flow::Any,
            Command::Multiple => Flow::Multiple,
            Command::Create if !website.trim().is_empty() => Flow::Create {
                name: proto::capitalize(&proto::extract_domain(website, false)),
                domain: proto::extract_domain(website, true),
                user: user.to_string(),
            },
            _ => {
                self.note(&format!("unhandled command: {command:?}"));
                return;
            }
        };
        if self.links[idx].bypass {
            self.set_state(RequestState::Accepted);
            self.on_accept(flow);
        } else {
            self.ui = Ui::Sheet { flow, waited: 0 };
            self.set_state(RequestState::AwaitingAcceptance);
        }
    }

    fn on_accept(&mut self, flow: Flow) {
        self.ui = match flow {
            Flow::Uid(i) => {
                self.current = Some(i);
                Ui::Idle
            }
            Flow::Plain => Ui::Idle,
            Flow::Create { name, domain, user } => Ui::Editing {
                name,
                domain,
                user,
                waited: 0,
            },
            flow @ (Flow::Website { .. } | Flow::Any | Flow::Multiple) => {
                Ui::Selecting { flow, waited: 0 }
            }
        };
    }

    /// The Accepted branch: the result of the *current* poll's command (errata §10.6).
    fn produce(
        &mut self,
        command: Command,
        wcid: &str,
        uids: Option<&[Value]>,
    ) -> Result<J, Refusal> {
        let client_key = J::s(self.client_key_b64(wcid));
        let reply = match command {
            Command::ClientKey => J::O(vec![("clientKey", client_key)]),
            Command::Multiple => match self.committed.take() {
                Some(sel) => J::O(vec![
                    (
                        "credentials",
                        J::A(sel.iter().filter_map(|&i| self.map_credential(i)).collect()),
                    ),
                    ("clientKey", client_key),
                ]),
                None => return Err(refuse(202, "no user selection")),
            },
            Command::All => {
                let all = (0..self.credentials.len())
                    .filter(|&i| !self.credentials[i].veiled)
                    .filter_map(|i| self.map_credential(i))
                    .collect();
                J::O(vec![("credentials", J::A(all)), ("clientKey", client_key)])
            }
            Command::ForUids => {
                let wanted: Vec<[u8; 16]> = uids
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| proto::parse_uuid(&value_text(v)))
                    .collect();
                let found = (0..self.credentials.len())
                    .filter(|&i| !self.credentials[i].veiled)
                    .filter(|&i| {
                        self.credentials[i]
                            .uid_bytes()
                            .is_some_and(|u| wanted.contains(&u))
                    })
                    .filter_map(|i| self.map_credential(i))
                    .collect();
                J::O(vec![
                    ("credentials", J::A(found)),
                    ("clientKey", client_key),
                ])
            }
            Command::DownloadBackup => {
                let backup = self.make_backup(wcid);
                let reply = J::O(vec![
                    ("clientKey", client_key),
                    ("downloadKey", J::s(&backup.download_key)),
                    ("filename", J::s(&backup.filename)),
                ]);
                self.note(&format!("backup ready at /{}", backup.download_key));
                self.backup = Some(backup);
                reply
            }
            _ => match self.current.and_then(|i| self.map_credential(i)) {
                Some(c) => J::O(vec![("credential", c), ("clientKey", client_key)]),
                None => return Err(refuse(202, "no user selection")),
            },
        };
        self.identifier = None;
        self.set_state(RequestState::Fulfilled);
        self.ui = Ui::Idle;
        Ok(reply)
    }

    /// `mapCredential` (spec §4.3).
    fn map_credential(&self, i: usize) -> Option<J> {
        let c = self.credentials.get(i)?;
        let mut fields = Vec::new();
        if let (Some(uid), Some(bytes)) = (&c.uid, c.uid_bytes()) {
            fields.push(("uid", J::s(uid)));
            fields.push(("readableUid", J::s(proto::readable_uid(&bytes))));
        }
        fields.push(("name", J::s(&c.name)));
        fields.push(("password", J::s(&c.password)));
        fields.push(("user", J::s(&c.user)));
        fields.push(("website", J::s(proto::ensure_http(&c.website))));
        fields.push(("otp", J::s(c.otp.clone().unwrap_or_default())));
        Some(J::O(fields))
    }

    fn make_backup(&self, wcid: &str) -> HeldBackup {
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| (d.as_secs() / 86_400) as i64);
        let date = proto::civil_from_days(days);
        let vault_id = self.vault_id();
        // Like the app's backup: metadata in clear, every credential sealed under the vault key.
        let sealed: Vec<J> = self
            .credentials
            .iter()
            .filter_map(|c| {
                let plain = J::O(vec![
                    ("name", J::s(&c.name)),
                    ("user", J::s(&c.user)),
                    ("password", J::s(&c.password)),
                    ("website", J::s(&c.website)),
                ])
                .compact();
                let iv: [u8; 12] = proto::random_bytes(12).try_into().ok()?;
                proto::seal_envelope(&self.master_key, &iv, plain.as_bytes()).map(J::S)
            })
            .collect();
        let body = J::O(vec![
            ("app", J::s("ANOTHERpass (simulated)")),
            ("vaultId", J::s(&vault_id)),
            (
                "created",
                J::s(format!("{:04}-{:02}-{:02}", date.0, date.1, date.2)),
            ),
            ("credentials", J::A(sealed)),
        ]);
        HeldBackup {
            download_key: proto::download_key(wcid, &proto::random_bytes(32)),
            filename: proto::backup_filename(&vault_id, date),
            bytes: body.compact().into_bytes(),
        }
    }

    // ------------------------------------------------------------------ the owner

    /// One step of the scripted owner.
    fn tick_owner(&mut self) {
        match std::mem::replace(&mut self.ui, Ui::Idle) {
            Ui::Idle => {}
            Ui::Sheet { flow, waited } if self.state == RequestState::AwaitingAcceptance => {
                if waited < self.script.answer_after {
                    self.ui = Ui::Sheet {
                        flow,
                        waited: waited + 1,
                    };
                    return;
                }
                match self.script.answer {
                    Answer::Accept => self.accept_sheet(flow, self.script.tick_bypass),
                    Answer::Deny => self.deny_sheet(self.script.tick_bypass),
                    Answer::Never => self.ui = Ui::Sheet { flow, waited },
                }
            }
            Ui::Selecting { flow, waited } if self.state == RequestState::Accepted => {
                if waited < self.script.pick_after {
                    self.ui = Ui::Selecting {
                        flow,
                        waited: waited + 1,
                    };
                    return;
                }
                match self.script.pick.clone() {
                    Pick::Never => self.ui = Ui::Selecting { flow, waited },
                    Pick::Cancel => self.cancel_selection(),
                    Pick::Auto => {
                        let choice = self.auto_choice(&flow);
                        if self.select(&flow, choice).is_err() {
                            self.ui = Ui::Selecting { flow, waited };
                        }
                    }
                    Pick::Uids(uids) => {
                        let idx = self.indices_of(&uids);
                        if self.select(&flow, idx).is_err() {
                            self.ui = Ui::Selecting { flow, waited };
                        }
                    }
                }
            }
            Ui::Editing {
                name,
                domain,
                user,
                waited,
            } if self.state == RequestState::Accepted => {
                if waited < self.script.create_after {
                    self.ui = Ui::Editing {
                        name,
                        domain,
                        user,
                        waited: waited + 1,
                    };
                    return;
                }
                match self.script.create.clone() {
                    Create::Save { password } => {
                        self.save_created(&name, &domain, &user, &password)
                    }
                    Create::Discard => self.note("edit screen left without saving"),
                    Create::Never => {
                        self.ui = Ui::Editing {
                            name,
                            domain,
                            user,
                            waited,
                        }
                    }
                }
            }
            // The request ended (cancelled, fulfilled) while a screen was up: it is gone.
            _ => {}
        }
    }

    fn accept_sheet(&mut self, flow: Flow, bypass: bool) {
        if let Some(l) = self.identifier_link_mut() {
            l.bypass = bypass;
        }
        self.set_state(RequestState::Accepted);
        self.on_accept(flow);
    }

    fn deny_sheet(&mut self, bypass: bool) {
        // The deny handler stores the checkbox too (errata §10.6).
        if let Some(l) = self.identifier_link_mut() {
            l.bypass = bypass;
        }
        self.set_state(RequestState::Denied);
        self.ui = Ui::Idle;
    }

    fn identifier_link_mut(&mut self) -> Option<&mut Link> {
        let id = self.sheet_link?;
        self.links.iter_mut().find(|l| l.id == id)
    }

    fn cancel_selection(&mut self) {
        self.note("owner tapped \"cancel request\"");
        self.committed = None;
        self.ui = Ui::Idle;
        self.set_state(RequestState::Denied);
    }

    fn indices_of(&self, uids: &[String]) -> Vec<usize> {
        uids.iter()
            .filter_map(|u| proto::parse_uuid(u))
            .filter_map(|u| self.find_uid(&u))
            .collect()
    }

    fn auto_choice(&self, flow: &Flow) -> Vec<usize> {
        match flow {
            Flow::Website { domain } => self
                .credentials
                .iter()
                .position(|c| &proto::extract_domain(&c.website, true) == domain)
                .into_iter()
                .collect(),
            _ => (!self.credentials.is_empty())
                .then_some(0)
                .into_iter()
                .collect(),
        }
    }

    fn select(&mut self, flow: &Flow, chosen: Vec<usize>) -> Result<(), String> {
        if chosen.is_empty() {
            return Err("no such credential".into());
        }
        if *flow == Flow::Multiple {
            self.committed = Some(chosen);
        } else {
            self.current = Some(chosen[0]);
        }
        self.ui = Ui::Idle;
        Ok(())
    }

    fn save_created(&mut self, name: &str, domain: &str, user: &str, password: &str) {
        self.credentials
            .push(Credential::new(name, user, password, domain));
        self.current = Some(self.credentials.len() - 1);
        self.note(&format!("owner saved new credential {name}"));
    }

    // --------------------------------------------------- manual owner actions (tests, example)

    pub fn user_accept(&mut self, bypass: bool) -> Result<(), String> {
        if self.pending_link.is_some() {
            return self.answer_link(true, bypass);
        }
        match std::mem::replace(&mut self.ui, Ui::Idle) {
            Ui::Sheet { flow, .. } if self.state == RequestState::AwaitingAcceptance => {
                self.accept_sheet(flow, bypass);
                Ok(())
            }
            other => {
                self.ui = other;
                Err("no sheet to accept".into())
            }
        }
    }

    pub fn user_deny(&mut self, bypass: bool) -> Result<(), String> {
        if self.pending_link.is_some() {
            return self.answer_link(false, false);
        }
        match std::mem::replace(&mut self.ui, Ui::Idle) {
            Ui::Sheet { .. } if self.state == RequestState::AwaitingAcceptance => {
                self.deny_sheet(bypass);
                Ok(())
            }
            other => {
                self.ui = other;
                Err("no sheet to deny".into())
            }
        }
    }

    pub fn user_pick(&mut self, uids: &[&str]) -> Result<(), String> {
        match std::mem::replace(&mut self.ui, Ui::Idle) {
            Ui::Selecting { flow, waited } if self.state == RequestState::Accepted => {
                let idx = self.indices_of(&uids.iter().map(|s| s.to_string()).collect::<Vec<_>>());
                self.select(&flow, idx).inspect_err(|_| {
                    self.ui = Ui::Selecting {
                        flow: flow.clone(),
                        waited,
                    };
                })
            }
            other => {
                self.ui = other;
                Err("nothing to pick for".into())
            }
        }
    }

    /// "Cancel request" on the snackbar (or swiping it away).
    pub fn user_cancel(&mut self) -> Result<(), String> {
        if !self.state.is_progressing() {
            return Err("no request in progress".into());
        }
        self.cancel_selection();
        Ok(())
    }

    pub fn user_save(&mut self, password: &str) -> Result<(), String> {
        match std::mem::replace(&mut self.ui, Ui::Idle) {
            Ui::Editing {
                name, domain, user, ..
            } if self.state == RequestState::Accepted => {
                self.save_created(&name, &domain, &user, password);
                Ok(())
            }
            other => {
                self.ui = other;
                Err("no edit screen open".into())
            }
        }
    }

    /// What the owner sees, for people and assertions.
    pub fn screen(&self) -> String {
        match &self.ui {
            Ui::Idle if self.pending_link.is_some() => "link sheet (accept or deny)".into(),
            Ui::Idle if self.link_screen_open => "link new device".into(),
            Ui::Idle => "credential list".into(),
            Ui::Sheet { flow, .. } => format!("acceptance sheet ({})", flow_name(flow)),
            Ui::Selecting { flow, .. } => format!("selecting ({})", flow_name(flow)),
            Ui::Editing { name, .. } => format!("edit screen (new credential {name})"),
        }
    }
}

fn flow_name(flow: &Flow) -> String {
    match flow {
        Flow::Uid(_) => "preselected credential".into(),
        Flow::Website { domain } => format!("search {domain}"),
        Flow::Any => "any credential".into(),
        Flow::Multiple => "multiple credentials".into(),
        Flow::Create { domain, .. } => format!("create for {domain}"),
        Flow::Plain => "no selection needed".into(),
    }
}

/// `JSONArray.optString(i)`: the element as text.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
