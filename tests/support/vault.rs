//! Fakes and builders for vault tests: a phone (CredentialSource) holding credentials and a
//! clientKey, an approval gate that records and can refuse, and a State wired with them.

use passbridge::anotherpass::seam::{ClientKey, Credential, CredentialSink, CredentialSource};
use passbridge::api::context::Handler;
use passbridge::api::services::ApprovalGate;
use passbridge::api::{ApiError, Ctx};
use passbridge::config::{Config, Paths};
use passbridge::vault::{self, ManualClock};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The password of the vaults [`seed`] writes.
pub const PASSWORD: &str = "correct horse battery";

/// Writes a vault under `home` holding `creds`, opened by `key(1)` or [`PASSWORD`] (test-cost
/// KDF). Made in-process, so no host or agent is involved.
pub fn seed(home: &Path, creds: &[Credential]) {
    let v = vault::State::with_clock(
        &Paths::under(home),
        Duration::from_secs(3600),
        Arc::new(ManualClock::default()),
    );
    v.unlock_with_key(&key(1), true).unwrap();
    v.save(creds).unwrap();
    v.set_password(PASSWORD, vault::format::Kdf::TEST).unwrap();
}

pub fn key(byte: u8) -> ClientKey {
    ClientKey::from_bytes(&[byte; 32]).unwrap()
}

pub fn cred(uid: &str, name: &str, website: &str) -> Credential {
    let mut c = Credential::default();
    c.uid = Some(uid.into());
    c.readable_uid = uid.chars().take(8).collect();
    c.name = name.into();
    c.password = format!("secret-{uid}");
    c.user = format!("user-{uid}");
    c.website = website.into();
    c
}

/// A phone: answers get_client_key and fetch_by_uids from what it holds.
pub struct FakePhone {
    pub key: Mutex<ClientKey>,
    pub credentials: Mutex<BTreeMap<String, Credential>>,
    pub asked: Mutex<Vec<Vec<String>>>,
    pub refuse: Mutex<bool>,
}

impl FakePhone {
    pub fn new(key: ClientKey) -> Self {
        Self {
            key: Mutex::new(key),
            credentials: Mutex::default(),
            asked: Mutex::default(),
            refuse: Mutex::new(false),
        }
    }
    pub fn holds(&self, c: Credential) {
        let uid = c.uid.clone().unwrap();
        self.credentials.lock().unwrap().insert(uid, c);
    }
}

impl CredentialSource for FakePhone {
    fn get_client_key(&self, _ctx: &Ctx) -> Result<ClientKey, ApiError> {
        if *self.refuse.lock().unwrap() {
            return Err(ApiError::new(
                "denied",
                "The request was denied on the phone.",
            ));
        }
        Ok(self.key.lock().unwrap().clone())
    }
    fn fetch_by_uids(
        &self,
        ctx: &Ctx,
        uids: &[String],
    ) -> Result<(Vec<Credential>, ClientKey), ApiError> {
        let key = self.get_client_key(ctx)?;
        self.asked.lock().unwrap().push(uids.to_vec());
        let held = self.credentials.lock().unwrap();
        Ok((
            uids.iter().filter_map(|u| held.get(u).cloned()).collect(),
            key,
        ))
    }
}

/// Records every operation it is asked about; refuses the ones in `deny`.
#[derive(Default)]
pub struct Gate {
    pub asked: Mutex<Vec<String>>,
    pub deny: Mutex<HashSet<String>>,
}

impl ApprovalGate for Gate {
    fn require(&self, _ctx: &Ctx, operation: &str) -> Result<(), ApiError> {
        self.asked.lock().unwrap().push(operation.into());
        if self.deny.lock().unwrap().contains(operation) {
            return Err(ApiError::new("approval_denied", "Not approved."));
        }
        Ok(())
    }
    /// A denied operation is one that would need an approval nobody gives.
    fn is_required(&self, _ctx: &Ctx, operation: &str) -> bool {
        self.deny.lock().unwrap().contains(operation)
    }
}

/// One simulated passbridge process: its own State over a shared data directory.
pub struct Proc {
    pub ctx: Ctx,
    pub phone: Arc<FakePhone>,
    pub gate: Arc<Gate>,
    pub clock: Arc<ManualClock>,
}

impl Proc {
    pub fn new(home: &Path, phone: Arc<FakePhone>) -> Self {
        Self::with_config(home, phone, Config::default())
    }
    pub fn with_config(home: &Path, phone: Arc<FakePhone>, mut config: Config) -> Self {
        // New password slots at the cheapest Argon2id cost (the real one has its own test).
        let section = config
            .sections
            .entry("vault".into())
            .or_insert_with(|| serde_json::json!({}));
        if let Some(o) = section.as_object_mut() {
            o.entry("argon2_memory_kib").or_insert(1024.into());
        }
        let paths = Paths::under(home);
        let clock = Arc::new(ManualClock::default());
        let gate = Arc::new(Gate::default());
        let settings: vault::Settings = config.section("vault").unwrap();
        let vault = vault::State::with_clock(&paths, settings.lock_timeout(), clock.clone());
        let mut state = passbridge::backends::start(paths, config).unwrap();
        state.insert::<Arc<dyn CredentialSource>>(phone.clone());
        state.insert::<Arc<dyn ApprovalGate>>(gate.clone());
        state.insert(vault);
        Self {
            ctx: Ctx::new(Arc::new(state)),
            phone,
            gate,
            clock,
        }
    }
    pub fn vault(&self) -> &vault::State {
        vault::state(&self.ctx)
    }
    pub fn receive(&self, key: &ClientKey, creds: &[Credential]) -> Result<(), ApiError> {
        self.sink().received(&self.ctx, key, creds)
    }
    pub fn sink(&self) -> &dyn CredentialSink {
        self.ctx
            .state
            .get::<Arc<dyn CredentialSink>>()
            .unwrap()
            .as_ref()
    }
    pub fn advance(&self, minutes: u64) {
        self.clock.advance(Duration::from_secs(minutes * 60));
    }
}

/// Calls the action handler `f` in `p`: its result, or its error's (code, message).
pub fn call(p: &Proc, f: Handler, params: Value) -> Result<Value, (String, String)> {
    f(&p.ctx, &params).map_err(|e| (e.code.to_string(), e.message))
}

/// The code of an action's error.
#[track_caller]
pub fn code(r: Result<Value, (String, String)>) -> String {
    r.expect_err("expected an error").0
}

pub fn vault_dir(home: &Path) -> PathBuf {
    Paths::under(home).data_dir.join("vault")
}

/// Every file of the vault with its bytes, to prove nothing was rewritten.
pub fn snapshot(home: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(vault_dir(home)) {
        for e in rd.flatten() {
            let name = e.file_name().into_string().unwrap();
            if !name.ends_with(".lock") {
                out.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// A new home holding a copy of the vault in `tests/fixtures/<name>` (its `.pbv` files).
pub fn fixture_home(name: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let dir = vault_dir(home.path());
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let name = e.file_name().into_string().unwrap();
        if name.ends_with(".pbv") {
            std::fs::copy(e.path(), dir.join(name)).unwrap();
        }
    }
    home
}

pub fn segment_files(home: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(vault_dir(home))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("seg-"))
        .collect();
    v.sort();
    v
}

/// The `vault.*` actions as the host runs them, taken from the vault's own action table: JSON
/// params in, JSON result out, so these tests check them on the wire's terms. (The terminal
/// calls the typed functions in `passbridge::vault::actions` directly.)
pub mod actions {
    use passbridge::api::{ApiError, Ctx};
    use serde_json::Value;

    #[allow(unused_imports)]
    pub use passbridge::vault::actions::MAX_MISSING_LISTED;

    fn run(name: &str, ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
        let action = passbridge::vault::actions::all()
            .into_iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("the vault has no action {name}"));
        (action.handler)(ctx, params)
    }

    macro_rules! wire {
        ($($f:ident),*) => {$(
            pub fn $f(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
                run(concat!("vault.", stringify!($f)), ctx, params)
            }
        )*};
    }

    wire!(
        status,
        unlock,
        lock,
        search,
        get,
        list,
        delete,
        sync,
        set_password,
        clear_password,
        rekey,
        accept_restore,
        reset
    );
}
