//! What the Passman backend does, as typed functions on [`Passman`]: set up the account, unlock
//! a vault, read, search, create, change and trash credentials. No JSON protocol here (that is
//! [`super::backend`]); HTTP through [`super::client`], crypto through [`super::credential`].

use super::client::{self, Client};
use super::credential::{self, Opened};
use super::error::PassmanError;
use super::session::{Session, VaultRef};
use super::sjcl::Keyring;
use super::store::{self, Account};
use crate::config::Paths;
use crate::credentials::site::Parsed;
use crate::credentials::{Lookup, Match};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The warning every reply carries while the account uses plain http with `allow_http`.
pub const HTTP_WARNING: &str = "This Passman account uses plain http://: the app password and every request travel unencrypted.";

/// The backend's state for the life of the process.
pub struct Passman {
    paths: Paths,
    pub session: Session,
}

/// `passman.setup` input.
pub struct Setup {
    pub server: String,
    pub login: String,
    pub app_password: Zeroizing<String>,
    pub vault: Option<String>,
    pub allow_http: bool,
    pub lock_timeout_minutes: Option<u32>,
}

/// A vault as listed by the server.
#[derive(Debug, Clone)]
pub struct VaultInfo {
    pub guid: String,
    pub id: Value,
    pub name: String,
    pub created: Option<i64>,
    pub last_access: Option<i64>,
    pub challenge: Option<String>,
}

/// Changes to a credential; `None` leaves a field as it is.
#[derive(Default)]
pub struct Change {
    pub label: Option<String>,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    pub url: Option<String>,
    pub email: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub custom_fields: Option<Value>,
    pub otp: Option<Value>,
}

impl Passman {
    pub fn new(paths: &Paths) -> Self {
        Self {
            paths: paths.clone(),
            session: Session::default(),
        }
    }

    /// Shares vault unlocks with this user's other processes through the passbridge agent
    /// (`None`: this process only). The agent's name binds the key to the data directory, the
    /// server and the login, so two accounts never share one.
    pub fn share_unlocks_with(mut self, agent: Option<Arc<crate::agent::client::Client>>) -> Self {
        let paths = self.paths.clone();
        self.session = Session::default().share_unlocks_with(agent, move || {
            let a = store::load(&paths).ok()?;
            let dir = paths.data_dir.as_os_str().as_encoded_bytes();
            let name =
                crate::agent::item_name("passman", &[dir, a.server.as_bytes(), a.login.as_bytes()]);
            Some((name, a.lock_timeout()))
        });
        self
    }

    pub fn account(&self) -> Result<Account, PassmanError> {
        store::load(&self.paths)
    }

    /// The warning to attach to replies, if the account is on plain http by choice.
    pub fn warning(&self) -> Option<&'static str> {
        let a = self.account().ok()?;
        (a.allow_http
            && a.server
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("http:"))
        .then_some(HTTP_WARNING)
    }

    fn client(&self) -> Result<(Account, Client), PassmanError> {
        let a = self.account()?;
        let c = Client::new(&a)?;
        Ok((a, c))
    }

    /// Checks the account against the server (`GET /vaults`), then stores it.
    pub fn setup(&self, s: Setup) -> Result<(Account, Vec<VaultInfo>), PassmanError> {
        if s.login.trim().is_empty() || s.app_password.is_empty() {
            return Err(PassmanError::invalid(
                "\"login\" and \"app_password\" are required.",
            ));
        }
        let server = client::server_url(&s.server, s.allow_http)?.to_string();
        let account = Account {
            server,
            login: s.login.trim().to_owned(),
            app_password: s.app_password,
            vault: None,
            allow_http: s.allow_http,
            lock_timeout_minutes: s
                .lock_timeout_minutes
                .unwrap_or(store::DEFAULT_LOCK_TIMEOUT_MINUTES)
                .clamp(1, 10_080),
        };
        let c = Client::new(&account)?;
        let vaults = parse_vaults(c.vaults()?);
        let mut account = account;
        if let Some(v) = s.vault.as_deref() {
            let found = match find_listed(&vaults, v) {
                Some(f) => f.guid.clone(),
                // Not listed: maybe empty (spec B.4); it must exist all the same.
                None => vault_ref(&c.vault(v)?, v).guid,
            };
            account.vault = Some(found);
        }
        // The old account's key, here and in the agent.
        self.session.lock();
        store::save(&self.paths, &account)?;
        self.session.lock();
        Ok((account, vaults))
    }

    pub fn remove(&self) -> Result<bool, PassmanError> {
        self.session.lock();
        store::remove(&self.paths)
    }

    pub fn vaults(&self) -> Result<Vec<VaultInfo>, PassmanError> {
        let (_, c) = self.client()?;
        Ok(parse_vaults(c.vaults()?))
    }

    /// Checks `password` against the vault's `challenge_password` and keeps it in memory.
    pub fn unlock(&self, vault: Option<&str>, password: &str) -> Result<VaultRef, PassmanError> {
        let (account, c) = self.client()?;
        let vaults = parse_vaults(c.vaults()?);
        let wanted = vault.or(account.vault.as_deref());
        let info = match wanted {
            Some(w) => match find_listed(&vaults, w) {
                Some(v) => v.clone(),
                None => {
                    // Unlisted: unknown (404) or without any credential.
                    let v = c.vault(w)?;
                    return Err(PassmanError::EmptyVault(vault_ref(&v, w).name));
                }
            },
            None => match vaults.as_slice() {
                [only] => only.clone(),
                [] => {
                    return Err(PassmanError::NotFound(
                        "This Nextcloud account has no Passman vault with a credential in it. Create one in Passman's web app first.".into(),
                    ));
                }
                _ => {
                    return Err(PassmanError::invalid(format!(
                        "This account has several vaults ({}): say which one with \"vault\".",
                        vaults
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            },
        };
        let key = Keyring::new(password);
        let challenge = info
            .challenge
            .as_deref()
            .ok_or_else(|| PassmanError::EmptyVault(info.name.clone()))?;
        if key.decrypt(challenge).is_err() {
            return Err(PassmanError::WrongPassword(info.name));
        }
        let r = VaultRef {
            guid: info.guid,
            id: info.id,
            name: info.name,
        };
        self.session.unlock(r.clone(), key, account.lock_timeout());
        Ok(r)
    }

    pub fn lock(&self) -> bool {
        self.session.lock()
    }

    fn unlocked(&self) -> Result<(VaultRef, Arc<Keyring>), PassmanError> {
        self.session.current().map_err(PassmanError::Locked)
    }

    /// Every credential of the unlocked vault, own and shared with us, decrypted as far as
    /// possible. Hidden and trashed ones are left out unless asked for.
    pub fn credentials(
        &self,
        include_hidden: bool,
    ) -> Result<(VaultRef, Vec<Opened>), PassmanError> {
        let (vault, key) = self.unlocked()?;
        let (_, c) = self.client()?;
        let mut v = c.vault(&vault.guid)?;
        let own = match v.remove("credentials") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let mut out: Vec<Opened> = own
            .into_iter()
            .filter_map(|x| match x {
                Value::Object(m) => Some(credential::open_own(m, &key)),
                _ => None,
            })
            .collect();
        for acl in c.shared(&vault.guid)? {
            if let Some(o) = credential::open_shared(&acl, &key) {
                out.push(o);
            }
        }
        if !include_hidden {
            out.retain(|o| !o.hidden() && !o.trashed());
        }
        out.sort_by_key(|o| o.label().to_lowercase());
        Ok((vault, out))
    }

    /// Visible credentials that fit a web page (host, registrable domain, or the site's name
    /// in the label) or contain a text, best first.
    pub fn search(&self, lookup: &Lookup) -> Result<Vec<(Opened, Match)>, PassmanError> {
        let (_, all) = self.credentials(false)?;
        let mut hits: Vec<(Opened, Match)> = match lookup {
            Lookup::Site(q) => all
                .into_iter()
                .filter_map(|o| {
                    let m = q.rank(&Parsed::new(&o.label(), &o.text("url")))?;
                    Some((o, m))
                })
                .collect(),
            Lookup::Text(t) => {
                let t = t.to_lowercase();
                all.into_iter()
                    .filter(|o| {
                        let urls = [o.text("url")];
                        crate::credentials::text_matches(&t, &o.label(), &o.text("username"), &urls)
                            || o.text("email").to_lowercase().contains(&t)
                            || o.tags().iter().any(|g| g.to_lowercase().contains(&t))
                    })
                    .map(|o| (o, Match::Text))
                    .collect()
            }
        };
        // Stable: equal matches keep the label order.
        hits.sort_by_key(|(_, m)| *m);
        Ok(hits)
    }

    /// One credential by guid (own, or shared with us).
    pub fn get(&self, guid: &str) -> Result<Opened, PassmanError> {
        let (vault, key) = self.unlocked()?;
        let (_, c) = self.client()?;
        match c.credential(guid) {
            Ok(raw) => {
                let o = credential::open_own(raw, &key);
                if o.raw
                    .get("vault_id")
                    .is_some_and(|id| !same_id(id, &vault.id))
                {
                    return Err(PassmanError::NotFound(format!(
                        "The credential {guid} is not in the unlocked vault \"{}\".",
                        vault.name
                    )));
                }
                Ok(o)
            }
            // GET of a credential shared with us is a 500 (spec B.7): look among the shares.
            Err(e @ (PassmanError::Server(_) | PassmanError::NotFound(_))) => {
                let shared = c.shared(&vault.guid)?;
                shared
                    .iter()
                    .filter_map(|acl| credential::open_shared(acl, &key))
                    .find(|o| o.guid() == guid)
                    .ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    pub fn create(&self, label: &str, change: Change) -> Result<Opened, PassmanError> {
        if label.trim().is_empty() {
            return Err(PassmanError::invalid("\"label\" is required."));
        }
        let (vault, key) = self.unlocked()?;
        let (_, c) = self.client()?;
        let mut o = credential::new_credential(&vault.id, label);
        apply(&mut o, change)?;
        let body = o
            .sealed(&key)
            .expect("a new credential has no unreadable field");
        let saved = c.create(&body)?;
        Ok(credential::open_own(saved, &key))
    }

    /// Fetches the credential, applies `change`, sends the whole credential back.
    pub fn update(&self, guid: &str, change: Change) -> Result<Opened, PassmanError> {
        let (vault, key) = self.unlocked()?;
        let (_, c) = self.client()?;
        let current = self.get(guid)?;
        if current.shared_with_me {
            return Err(PassmanError::SharedReadOnly(guid.to_owned()));
        }
        let _ = vault;
        let mut o = current;
        apply(&mut o, change)?;
        self.write(&c, &key, o)
    }

    /// Moves the credential to the trash as the web app does: `delete_time` = now, then a
    /// whole-credential update.
    pub fn trash(&self, guid: &str) -> Result<Opened, PassmanError> {
        let (_, key) = self.unlocked()?;
        let (_, c) = self.client()?;
        let mut o = self.get(guid)?;
        if o.shared_with_me {
            return Err(PassmanError::SharedReadOnly(guid.to_owned()));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1);
        o.raw.insert("delete_time".into(), json!(now));
        self.write(&c, &key, o)
    }

    fn write(&self, c: &Client, key: &Keyring, o: Opened) -> Result<Opened, PassmanError> {
        let guid = o.guid();
        if o.label().is_empty() {
            // Without a label the server would corrupt the credential (spec B.7).
            return Err(PassmanError::BadReply {
                server: c.server().to_string(),
                why: format!("the credential {guid} came without a label"),
            });
        }
        let shared;
        let fields_key = match o
            .raw
            .get("shared_key")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(sk) => {
                shared =
                    credential::shared_keyring(key, sk).map_err(|_| PassmanError::Unreadable {
                        guid: guid.clone(),
                        fields: "shared_key".into(),
                    })?;
                &shared
            }
            None => key,
        };
        let body = o
            .sealed(fields_key)
            .map_err(|lost| PassmanError::Unreadable {
                guid: guid.clone(),
                fields: lost.join(", "),
            })?;
        let saved = c.update(&guid, &body)?;
        Ok(credential::open_own(saved, key))
    }
}

/// Applies a change to the decrypted values (and the plain label).
fn apply(o: &mut Opened, ch: Change) -> Result<(), PassmanError> {
    if let Some(l) = ch.label {
        if l.trim().is_empty() {
            return Err(PassmanError::invalid("\"label\" cannot be empty."));
        }
        o.raw.insert("label".into(), Value::String(l));
    }
    let mut set = |f: &'static str, v: Value| {
        o.values.insert(f, v);
    };
    if let Some(v) = ch.username {
        set("username", Value::String(v));
    }
    if let Some(v) = ch.password {
        set("password", Value::String(v.to_string()));
    }
    if let Some(v) = ch.url {
        set("url", Value::String(v));
    }
    if let Some(v) = ch.email {
        set("email", Value::String(v));
    }
    if let Some(v) = ch.description {
        set("description", Value::String(v));
    }
    if let Some(tags) = ch.tags {
        set(
            "tags",
            Value::Array(tags.into_iter().map(|t| json!({"text": t})).collect()),
        );
    }
    if let Some(v) = ch.custom_fields {
        if !v.is_array() {
            return Err(PassmanError::invalid("\"custom_fields\" must be an array."));
        }
        set("custom_fields", v);
    }
    if let Some(v) = ch.otp {
        set("otp", super::otp::to_passman(&v)?);
    }
    Ok(())
}

fn same_id(a: &Value, b: &Value) -> bool {
    credential::number(Some(a)).is_some()
        && credential::number(Some(a)) == credential::number(Some(b))
        || a == b
}

fn parse_vaults(list: Vec<Map<String, Value>>) -> Vec<VaultInfo> {
    list.into_iter()
        .filter_map(|m| {
            let guid = m.get("guid")?.as_str()?.to_owned();
            Some(VaultInfo {
                name: m
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(&guid)
                    .to_owned(),
                id: m.get("vault_id").cloned().unwrap_or(Value::Null),
                created: credential::number(m.get("created")),
                last_access: credential::number(m.get("last_access")),
                challenge: m
                    .get("challenge_password")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                guid,
            })
        })
        .collect()
}

/// A vault by guid, or by name when exactly one has it.
fn find_listed<'a>(vaults: &'a [VaultInfo], wanted: &str) -> Option<&'a VaultInfo> {
    vaults
        .iter()
        .find(|v| v.guid.eq_ignore_ascii_case(wanted))
        .or_else(|| {
            let mut named = vaults.iter().filter(|v| v.name == wanted);
            match (named.next(), named.next()) {
                (Some(v), None) => Some(v),
                _ => None,
            }
        })
}

fn vault_ref(v: &Map<String, Value>, asked: &str) -> VaultRef {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    VaultRef {
        guid: s("guid").unwrap_or_else(|| asked.to_owned()),
        id: v.get("vault_id").cloned().unwrap_or(Value::Null),
        name: s("name").unwrap_or_else(|| asked.to_owned()),
    }
}
