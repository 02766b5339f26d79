//! What the backend can do, as typed functions over the stored account and the session. The
//! host glue ([`super::backend`]) and the CLI turn requests into these calls.

use super::client::{self, Client, OneTime, Row};
use super::data::{self, Content};
use super::error::PwError;
use super::session::{SessionInfo, State};
use super::site;
use super::store::{self, Account, Secret};
use super::token::now;
use crate::config::Paths;
use crate::credentials::site::{Match, Query};
use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// Items read to rank a site search by the URL in their data (each is one decrypting call).
pub const MAX_RANKED: usize = 25;
/// The most hours a one-time secret may live by default on the server (`onetimetokens.max_hours`).
pub const DEFAULT_OTS_HOURS: u64 = 24;

/// The text added to every reply while the account talks plain http to another machine.
pub const INSECURE_WARNING: &str = "This PassWeaver account uses plain http to another machine: \
     passwords cross the network unencrypted. Switch the server to https.";

/// The backend bound to its files and session.
pub struct PassWeaver<'a> {
    pub paths: &'a Paths,
    pub state: &'a State,
}

pub enum Login {
    Password {
        username: String,
    },
    ApiKey {
        api_key: String,
        secret: Zeroizing<String>,
    },
}

#[derive(Debug, Serialize)]
pub struct SetupDone {
    pub server: String,
    pub version: String,
    pub user: String,
    pub logged_in: bool,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error: Option<Value>,
    pub logged_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    pub personal_unlocked: bool,
    pub insecure_http: bool,
}

#[derive(Debug, Serialize)]
pub struct Session {
    pub logged_in: bool,
    pub user_id: String,
    pub expires_at: u64,
    pub personal_unlocked: bool,
}

impl From<SessionInfo> for Session {
    fn from(s: SessionInfo) -> Self {
        Self {
            logged_in: true,
            user_id: s.user_id,
            expires_at: s.expires_at,
            personal_unlocked: s.personal_unlocked,
        }
    }
}

/// A search hit: the item without its secrets.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub metadata: String,
    pub folder_id: String,
    pub folder: String,
    pub personal: bool,
    pub favorite: bool,
    pub updated_at: String,
    /// For a site search: `host`, `domain`, `name` or `text`.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matched: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Whether the item's data has an otp secret (known once it was read for ranking).
    pub has_otp: bool,
}

impl From<&Row> for Hit {
    fn from(r: &Row) -> Self {
        Self {
            id: r.id.clone(),
            title: r.title.clone(),
            metadata: r.metadata.clone(),
            folder_id: r.folder_id.clone(),
            folder: r.folder.clone(),
            personal: r.personal,
            favorite: r.favorite,
            updated_at: r.updated_at.clone(),
            matched: None,
            url: None,
            user: None,
            has_otp: false,
        }
    }
}

/// One item with its decrypted data. Holds secrets: serialized only into a reply.
#[derive(Debug, Serialize)]
pub struct ItemView {
    pub id: String,
    pub title: String,
    pub metadata: String,
    pub folder_id: String,
    pub personal: bool,
    pub updated_at: String,
    /// The convention's fields, or `null` when the data is not a JSON object.
    pub data: Value,
    /// The data as text when it is not a JSON object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp: Option<crate::credentials::otp::OtpCode>,
    /// Why no code could be made from the otp field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp_error: Option<String>,
}

impl Drop for ItemView {
    fn drop(&mut self) {
        data::zero_value(&mut self.data);
        if let Some(t) = &mut self.text {
            zeroize::Zeroize::zeroize(t);
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Folder {
    pub id: String,
    pub description: String,
    pub parent: String,
    pub personal: bool,
    pub read: bool,
    pub write: bool,
    pub children: Vec<Folder>,
}

#[derive(Debug, Serialize)]
pub struct Folders {
    pub folders: Vec<Folder>,
    pub personal_folder: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OtsCreated {
    pub token: String,
    /// The page a person opens (needs the web interface address, `gui_url`).
    pub link: Option<String>,
    pub hours: u64,
    pub scope: &'static str,
}

/// What a one-time token held.
#[derive(Debug, Serialize)]
pub struct OtsRead {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<Value>,
}

impl Drop for OtsRead {
    fn drop(&mut self) {
        if let Some(s) = &mut self.secret {
            zeroize::Zeroize::zeroize(s);
        }
        if let Some(v) = &mut self.item {
            data::zero_value(v);
        }
    }
}

/// Who may open a one-time secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Anyone,
    LoggedIn,
    User,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "anyone" => Some(Scope::Anyone),
            "logged_in" => Some(Scope::LoggedIn),
            "user" => Some(Scope::User),
            _ => None,
        }
    }
    fn wire(self) -> u8 {
        match self {
            Scope::Anyone => 0,
            Scope::LoggedIn => 1,
            Scope::User => 2,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Scope::Anyone => "anyone",
            Scope::LoggedIn => "logged_in",
            Scope::User => "user",
        }
    }
}

fn storage(e: store::StoreError) -> PwError {
    PwError::Storage(e.to_string())
}

/// The otp field as an `otpauth://` URI: as it is, or built from a bare base32 secret (TOTP,
/// 6 digits, 30 s). `None` when empty.
pub fn otp_uri(otp: &str) -> Option<Zeroizing<String>> {
    let otp = otp.trim();
    if otp.is_empty() {
        None
    } else if otp.starts_with("otpauth://") {
        Some(Zeroizing::new(otp.to_owned()))
    } else {
        Some(Zeroizing::new(format!(
            "otpauth://totp/PassWeaver?secret={}",
            otp.replace([' ', '-'], "")
        )))
    }
}

/// The current code for the otp field (shared TOTP/HOTP of [`crate::credentials::otp`]).
pub fn otp_code(otp: &str) -> Result<crate::credentials::otp::OtpCode, String> {
    let uri = otp_uri(otp).ok_or("the one-time code secret is empty")?;
    crate::credentials::otp::OtpAuth::parse(&uri)
        .map(|a| a.code_now())
        .map_err(|e| e.to_string())
}

impl<'a> PassWeaver<'a> {
    pub fn new(paths: &'a Paths, state: &'a State) -> Self {
        Self { paths, state }
    }

    /// The stored account (or `passweaver_not_configured`).
    pub fn account(&self) -> Result<Account, PwError> {
        store::load(self.paths)
            .map_err(storage)?
            .ok_or(PwError::NotConfigured)
    }

    fn client(account: &Account) -> Result<Client, PwError> {
        Ok(Client::new(client::server_url(
            &account.server,
            account.allow_insecure_http,
        )?))
    }

    fn bound(&self) -> Result<(Account, Client), PwError> {
        let a = self.account()?;
        let c = Self::client(&a)?;
        Ok((a, c))
    }

    /// Whether replies should carry [`INSECURE_WARNING`].
    pub fn insecure(&self) -> bool {
        self.account().is_ok_and(|a| {
            client::server_url(&a.server, true)
                .is_ok_and(|u| u.scheme() == "http" && !client::is_loopback(&u))
        })
    }

    /// Checks the server (`GET /version`; with an API key, a login) and stores the account.
    pub fn setup(
        &self,
        server: &str,
        login: Login,
        allow_insecure_http: bool,
        gui_url: Option<&str>,
    ) -> Result<SetupDone, PwError> {
        let base = client::server_url(server, allow_insecure_http)?;
        let gui_url = match gui_url {
            Some(g) => Some(
                client::server_url(g, allow_insecure_http)
                    .map_err(|_| {
                        PwError::InvalidParams(
                            "\"gui_url\" must be the https address of the PassWeaver web interface."
                                .into(),
                        )
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let c = Client::new(base.clone());
        let version = c.version()?;
        let mut account = Account {
            server: base.to_string(),
            username: None,
            api_key: None,
            secret: None,
            allow_insecure_http,
            gui_url,
        };
        let token = match login {
            Login::Password { username } => {
                let u = username.trim().to_lowercase();
                if u.is_empty() || u.len() > 256 {
                    return Err(PwError::InvalidParams(
                        "\"username\" must be 1 to 256 characters.".into(),
                    ));
                }
                account.username = Some(u);
                None
            }
            Login::ApiKey { api_key, secret } => {
                let token = c.login_api_key(&api_key, &secret)?;
                account.api_key = Some(api_key);
                account.secret = Some(Secret(secret));
                Some(token)
            }
        };
        store::save(self.paths, &account).map_err(storage)?;
        self.state.clear();
        let logged_in = token.is_some();
        if let Some(t) = token {
            self.state.set(&account, t);
        }
        Ok(SetupDone {
            server: account.server.clone(),
            version,
            user: account.who(),
            logged_in,
        })
    }

    pub fn remove(&self) -> Result<bool, PwError> {
        self.logout();
        store::remove(self.paths).map_err(storage)
    }

    /// The account and session; with `live`, the server's version too.
    pub fn status(&self, live: bool) -> Result<Status, PwError> {
        let account = match store::load(self.paths).map_err(storage)? {
            Some(a) => a,
            None => {
                return Ok(Status {
                    configured: false,
                    server: None,
                    user: None,
                    auth: None,
                    version: None,
                    server_error: None,
                    logged_in: false,
                    expires_at: None,
                    personal_unlocked: false,
                    insecure_http: false,
                });
            }
        };
        let (version, server_error) = if live {
            match Self::client(&account).and_then(|c| c.version()) {
                Ok(v) => (Some(v), None),
                Err(e) => (
                    None,
                    Some(serde_json::json!({"code": e.code(), "message": e.to_string()})),
                ),
            }
        } else {
            (None, None)
        };
        let info = self.state.info(&account);
        Ok(Status {
            configured: true,
            server: Some(account.server.clone()),
            user: Some(account.who()),
            auth: Some(if account.has_api_key() {
                "api_key"
            } else {
                "password"
            }),
            version,
            server_error,
            logged_in: info.is_some(),
            expires_at: info.as_ref().map(|i| i.expires_at),
            personal_unlocked: info.is_some_and(|i| i.personal_unlocked),
            insecure_http: self.insecure(),
        })
    }

    /// Logs in with the password, or (no password) with the stored API key.
    pub fn login(&self, password: Option<&str>) -> Result<Session, PwError> {
        let (account, c) = self.bound()?;
        let token = match (
            password,
            &account.username,
            &account.api_key,
            &account.secret,
        ) {
            (Some(p), Some(u), _, _) => c.login_password(u, p)?,
            (_, _, Some(k), Some(s)) => c.login_api_key(k, &s.0)?,
            (None, _, _, _) => {
                return Err(PwError::InvalidParams(
                    "\"password\" is required: this account logs in with a password.".into(),
                ));
            }
            (Some(_), None, _, _) => {
                return Err(PwError::InvalidParams(
                    "This account logs in with an API key; send no password.".into(),
                ));
            }
        };
        Ok(self.state.set(&account, token).into())
    }

    pub fn logout(&self) {
        match self.account() {
            Ok(a) => self.state.clear_account(&a),
            Err(_) => self.state.clear(),
        }
    }

    /// Whether a call would need the person to log in (no valid session and no API key).
    pub fn locked(&self) -> bool {
        match self.account() {
            Ok(a) => self.state.info(&a).is_none() && !a.has_api_key(),
            Err(_) => true,
        }
    }

    /// A free-text search (every word must prefix-match a term of the title, metadata or folder).
    pub fn search_text(&self, query: &str) -> Result<Vec<Hit>, PwError> {
        let q = site::clean_query(query);
        if q.is_empty() {
            return Err(PwError::InvalidParams(
                "\"query\" has no words to search for.".into(),
            ));
        }
        let (account, c) = self.bound()?;
        let rows = self.state.authed(&account, &c, |jwt| c.search(jwt, &q))?;
        Ok(rows.iter().map(Hit::from).collect())
    }

    /// The items for a web page: searched by host, first label and domain, ranked by the URL in
    /// each item's data (the first [`MAX_RANKED`] are read for that), best first.
    pub fn search_url(&self, url: &str) -> Result<Vec<Hit>, PwError> {
        let page = Query::parse(url).ok_or_else(|| {
            PwError::InvalidParams("\"url\" must be a web address with a host.".into())
        })?;
        let (account, c) = self.bound()?;
        let mut rows: Vec<Row> = Vec::new();
        for q in site::queries(&page.site) {
            let found = self.state.authed(&account, &c, |jwt| c.search(jwt, &q))?;
            for r in found {
                if !rows.iter().any(|x| x.id == r.id) {
                    rows.push(r);
                }
            }
        }
        let mut hits: Vec<(Match, Hit)> = Vec::with_capacity(rows.len());
        for (n, r) in rows.iter().enumerate() {
            let mut hit = Hit::from(r);
            let mut m = site::rank(&page, "", &r.metadata, &r.title);
            if n < MAX_RANKED {
                match self
                    .state
                    .authed(&account, &c, |jwt| c.get_item(jwt, &r.id))
                {
                    Ok(item) => {
                        m = m.min(site::rank(&page, item.content.url(), &r.metadata, &r.title));
                        hit.url = Some(item.content.url().to_owned()).filter(|u| !u.is_empty());
                        hit.user =
                            Some(item.content.field("user").to_owned()).filter(|u| !u.is_empty());
                        hit.has_otp = item.content.otp().is_some();
                    }
                    // A personal item while locked, a vanished item: still listed, ranked by text.
                    Err(
                        PwError::PersonalLocked
                        | PwError::PersonalNotSet
                        | PwError::NotFound(_)
                        | PwError::Forbidden(_)
                        | PwError::Decrypt(_),
                    ) => {}
                    Err(e) => return Err(e),
                }
            }
            hit.matched = Some(m.as_str());
            hits.push((m, hit));
        }
        // Stable: equal ranks keep the server's order.
        hits.sort_by_key(|h| h.0);
        Ok(hits.into_iter().map(|(_, h)| h).collect())
    }

    /// One item with its data decrypted, and the current one-time code when it has an otp secret.
    pub fn get(&self, id: &str) -> Result<ItemView, PwError> {
        let (account, c) = self.bound()?;
        let item = self.state.authed(&account, &c, |jwt| c.get_item(jwt, id))?;
        let (otp, otp_error) = match item.content.otp() {
            Some(o) => match otp_code(o) {
                Ok(code) => (Some(code), None),
                Err(e) => (None, Some(e)),
            },
            None => (None, None),
        };
        Ok(ItemView {
            id: item.row.id.clone(),
            title: item.row.title.clone(),
            metadata: item.row.metadata.clone(),
            folder_id: item.row.folder_id.clone(),
            personal: item.row.personal,
            updated_at: item.row.updated_at.clone(),
            data: item.content.fields_json(),
            text: item.content.text().map(str::to_owned),
            otp,
            otp_error,
        })
    }

    /// The user's folder tree with permissions, and the personal folder's id.
    pub fn folders(&self) -> Result<Folders, PwError> {
        let (account, c) = self.bound()?;
        let tree = self.state.authed(&account, &c, |jwt| {
            let user = self
                .state
                .info(&account)
                .map(|i| i.user_id)
                .ok_or_else(|| PwError::LoginRequired("Log in to PassWeaver first.".into()))?;
            c.user_folders(jwt, &user)
        })?;
        let mut count = 0;
        let folders = match &tree {
            Value::Array(a) => a
                .iter()
                .map(|n| folder_from(n, 0, &mut count))
                .collect::<Result<_, _>>()?,
            Value::Object(_) => vec![folder_from(&tree, 0, &mut count)?],
            _ => return Err(PwError::BadReply("the folder tree is not a list".into())),
        };
        let personal_folder = find_personal(&folders);
        Ok(Folders {
            folders,
            personal_folder,
        })
    }

    /// Creates an item; `metadata` defaults to the host of `data.url` so a site search finds it.
    pub fn create(
        &self,
        folder: &str,
        title: &str,
        data: &Map<String, Value>,
        metadata: Option<&str>,
    ) -> Result<String, PwError> {
        check_title(title)?;
        let metadata = match metadata {
            Some(m) => m.to_owned(),
            None => data
                .get("url")
                .and_then(Value::as_str)
                .and_then(crate::credentials::site::site_of)
                .map(|s| s.host.clone())
                .unwrap_or_default(),
        };
        let wire = data::to_wire(data);
        let (account, c) = self.bound()?;
        self.state.authed(&account, &c, |jwt| {
            c.create_item(jwt, folder, title, &wire, &metadata)
        })
    }

    /// Changes an item. `data` fields are merged over the current data (so `{password}` alone
    /// changes just the password); text data is replaced.
    pub fn update(
        &self,
        id: &str,
        title: Option<&str>,
        data: Option<&Map<String, Value>>,
        metadata: Option<&str>,
        folder: Option<&str>,
    ) -> Result<(), PwError> {
        if let Some(t) = title {
            check_title(t)?;
        }
        if let Some(f) = folder {
            client::check_id("folder", f)?;
        }
        client::check_id("id", id)?;
        let (account, c) = self.bound()?;
        let mut body = Map::new();
        if let Some(t) = title {
            body.insert("title".into(), t.into());
        }
        if let Some(m) = metadata {
            body.insert("metadata".into(), m.into());
        }
        if let Some(f) = folder {
            body.insert("folder".into(), f.into());
        }
        if let Some(d) = data {
            let current = self.state.authed(&account, &c, |jwt| c.get_item(jwt, id))?;
            let mut merged = match &current.content {
                Content::Fields(m) => m.clone(),
                Content::Text(_) => Map::new(),
            };
            for (k, v) in d {
                merged.insert(k.clone(), v.clone());
            }
            let wire = data::to_wire(&merged);
            body.insert("data".into(), Value::String(wire.to_string()));
        }
        if body.is_empty() {
            return Err(PwError::InvalidParams(
                "Nothing to change: give title, data, metadata or folder.".into(),
            ));
        }
        let body = data::SecretValue(Value::Object(body));
        self.state
            .authed(&account, &c, |jwt| c.update_item(jwt, id, &body))
    }

    pub fn delete(&self, id: &str) -> Result<(), PwError> {
        let (account, c) = self.bound()?;
        self.state
            .authed(&account, &c, |jwt| c.delete_item(jwt, id))
    }

    /// Opens the personal folder: the session switches to the unlock JWT.
    pub fn personal_unlock(&self, password: &str) -> Result<Session, PwError> {
        let (account, c) = self.bound()?;
        let token = self
            .state
            .authed(&account, &c, |jwt| c.personal_unlock(jwt, password))?;
        Ok(self.state.set(&account, token).into())
    }

    /// Sets the personal password (first time only), then unlocks with it: the JWT the server
    /// returns when setting it is broken (spec C.5), so it is never used.
    pub fn personal_set(&self, password: &str) -> Result<Session, PwError> {
        if password.is_empty() {
            return Err(PwError::InvalidParams(
                "\"password\" must not be empty.".into(),
            ));
        }
        let (account, c) = self.bound()?;
        self.state
            .authed(&account, &c, |jwt| c.personal_set(jwt, password))?;
        self.personal_unlock(password)
    }

    pub fn ots_create(
        &self,
        secret: &str,
        hours: u64,
        scope: Scope,
        user_id: Option<&str>,
    ) -> Result<OtsCreated, PwError> {
        if secret.is_empty() {
            return Err(PwError::InvalidParams("\"data\" must not be empty.".into()));
        }
        if hours == 0 {
            return Err(PwError::InvalidParams(
                "\"hours\" must be at least 1.".into(),
            ));
        }
        if let Some(u) = user_id {
            client::check_id("user_id", u)?;
        }
        if (scope == Scope::User) != user_id.is_some() {
            return Err(PwError::InvalidParams(
                "\"user_id\" is needed with scope \"user\", and only then.".into(),
            ));
        }
        let (account, c) = self.bound()?;
        // Creating needs no login; a session's JWT is sent when there is one.
        let jwt = self.state.current(&account);
        let token = c.ots_create(
            jwt.as_deref().map(|s| s.as_str()),
            secret,
            hours,
            scope.wire(),
            user_id,
        )?;
        let link = match (&account.gui_url, scope) {
            (Some(g), _) => Some(format!("{g}noauth/onetimesecret/{token}")),
            (None, _) => None,
        };
        Ok(OtsCreated {
            token,
            link,
            hours,
            scope: scope.name(),
        })
    }

    /// Reads a one-time secret; the server deletes it on this first read.
    pub fn ots_read(&self, token: &str) -> Result<OtsRead, PwError> {
        let token = token
            .rsplit('/')
            .next()
            .unwrap_or(token)
            .trim()
            .to_ascii_lowercase();
        let (account, c) = self.bound()?;
        // Scopes 1 and 2 need a JWT; with an API key one is made, otherwise the session's.
        let jwt = match self.state.current(&account) {
            Some(j) => Some(j),
            None if account.has_api_key() => Some(self.state.jwt(&account, &c)?),
            None => None,
        };
        match c.ots_read(jwt.as_deref().map(|s| s.as_str()), &token)? {
            OneTime::Secret(s) => Ok(OtsRead {
                kind: "secret",
                secret: Some(s.to_string()),
                item: None,
            }),
            OneTime::Item { id, title, content } => Ok(OtsRead {
                kind: "item",
                secret: None,
                item: Some(serde_json::json!({
                    "id": id,
                    "title": title,
                    "data": content.fields_json(),
                    "text": content.text(),
                })),
            }),
        }
    }
}

fn check_title(t: &str) -> Result<(), PwError> {
    let n = t.chars().count();
    if !(1..=200).contains(&n) {
        return Err(PwError::InvalidParams(
            "\"title\" must be 1 to 200 characters.".into(),
        ));
    }
    Ok(())
}

const MAX_FOLDER_DEPTH: usize = 32;
const MAX_FOLDERS: usize = 10_000;

fn folder_from(v: &Value, depth: usize, count: &mut usize) -> Result<Folder, PwError> {
    *count += 1;
    if depth > MAX_FOLDER_DEPTH || *count > MAX_FOLDERS {
        return Err(PwError::BadReply(
            "the folder tree is too deep or too large".into(),
        ));
    }
    let text = |k: &str| match v.get(k) {
        Some(Value::String(s)) => super::error::clean(s),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let id = text("id");
    if id.is_empty() {
        return Err(PwError::BadReply("a folder without an id".into()));
    }
    let perm = |k: &str| {
        v.get("permissions")
            .and_then(|p| p.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let children = match v.get("children") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| folder_from(c, depth + 1, count))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok(Folder {
        id,
        description: text("description"),
        parent: text("parent"),
        personal: v.get("personal").and_then(Value::as_bool).unwrap_or(false),
        read: perm("read"),
        write: perm("write"),
        children,
    })
}

fn find_personal(fs: &[Folder]) -> Option<String> {
    fs.iter().find_map(|f| {
        if f.personal && f.parent == "P" {
            Some(f.id.clone())
        } else {
            find_personal(&f.children)
        }
    })
}

/// Seconds left in a session, for people.
pub fn seconds_left(expires_at: u64) -> u64 {
    expires_at.saturating_sub(now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(server: &str, insecure: bool) -> Account {
        Account {
            server: server.into(),
            username: Some("ann".into()),
            api_key: None,
            secret: None,
            allow_insecure_http: insecure,
            gui_url: None,
        }
    }

    #[test]
    fn plain_http_to_another_machine_is_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let state = State::new();
        let pw = PassWeaver::new(&paths, &state);
        assert!(!pw.insecure());
        assert!(pw.locked());
        for (server, insecure, want) in [
            ("http://pw.lan:15000/", true, true),
            ("http://127.0.0.1:15000/", false, false),
            ("https://pw.example/", false, false),
        ] {
            store::save(&paths, &account(server, insecure)).unwrap();
            assert_eq!(pw.insecure(), want, "{server}");
            assert!(pw.locked());
        }
        // Setup refuses it without the explicit opt-in, before any network call.
        let e = pw
            .setup(
                "http://pw.lan:15000",
                Login::Password {
                    username: "ann".into(),
                },
                false,
                None,
            )
            .unwrap_err();
        assert_eq!(e.code(), "invalid_params");
    }

    #[test]
    fn otp_from_a_uri_or_a_bare_secret() {
        let bare = otp_code("JBSW Y3DP EHPK 3PXP").unwrap();
        let uri = otp_code("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(bare.kind, "totp");
        assert_eq!(bare.digits, 6);
        // Same secret, same period: same code unless the 30 s window turned between the calls.
        if bare.seconds_left == uri.seconds_left {
            assert_eq!(bare.code, uri.code);
        }
        assert!(otp_code("not base32 !").is_err());
    }
}
