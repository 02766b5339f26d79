//! The `passman.*` actions: the only place where this backend meets the host. Params are
//! deserialized into a struct per action (a wrong type is an `invalid_params` error naming the
//! field), turned into typed calls on [`Passman`], and answered with Serialize replies;
//! [`PassmanError`] carries the stable codes.

use super::credential::Opened;
use super::operation;
use super::service::{Change, Passman, Setup, VaultInfo};
use super::{PassmanError, otp};
use crate::api::params::{self, DEFAULT_PAGE_LIMIT, NoParams, Page};
use crate::api::{Action, ApiError, Ctx};
use crate::credentials::{Lookup, Match, Query};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Longest text accepted for one field (Passman's columns are TEXT; this bounds memory).
const MAX_FIELD_CHARS: usize = 64 * 1024;

pub fn table() -> Vec<Action> {
    macro_rules! a {
        ($name:literal, $f:ident, $summary:literal) => {
            Action {
                name: $name,
                handler: |ctx, p| with_warning(ctx, params::run_typed(ctx, p, $f)),
                summary: $summary,
            }
        };
    }
    vec![
        a!(
            "passman.setup",
            setup,
            "Check a Nextcloud account (login + app password) against Passman and store it."
        ),
        a!(
            "passman.remove",
            remove,
            "Forget the Passman account and lock."
        ),
        a!(
            "passman.status",
            status,
            "Whether an account is set up and which vault is unlocked."
        ),
        a!(
            "passman.vaults",
            vaults,
            "List the Passman vaults (a vault without any credential is not listed)."
        ),
        a!(
            "passman.unlock",
            unlock,
            "Check a vault password and keep the key in memory for the lock timeout."
        ),
        a!("passman.lock", lock, "Forget the vault key now."),
        a!(
            "passman.search",
            search,
            "Credentials for a web address (url) or containing a text (query), without passwords."
        ),
        a!(
            "passman.list",
            list,
            "All visible credentials, without passwords (hidden and trashed ones skipped)."
        ),
        a!(
            "passman.get",
            get,
            "One credential with its password and current one-time code."
        ),
        a!(
            "passman.create",
            create,
            "Create a credential in the unlocked vault, encrypted as Passman's web app does."
        ),
        a!(
            "passman.update",
            update,
            "Change fields of a credential; everything else is kept as the server has it."
        ),
        a!(
            "passman.delete",
            delete,
            "Move a credential to Passman's trash, as the web app does."
        ),
    ]
}

fn pm(ctx: &Ctx) -> &Passman {
    ctx.state.expect::<Passman>()
}

/// Every reply while the account is on plain http says so.
pub fn with_warning(ctx: &Ctx, r: Result<Value, ApiError>) -> Result<Value, ApiError> {
    let mut v = r?;
    if let (Some(w), Some(obj)) = (pm(ctx).warning(), v.as_object_mut()) {
        obj.insert("warning".into(), json!(w));
    }
    Ok(v)
}

/// A text param's length check (`None` passes).
fn text(v: Option<String>, key: &str) -> Result<Option<String>, PassmanError> {
    if let Some(v) = &v {
        check_len(v, key)?;
    }
    Ok(v)
}

/// A param that must be there.
fn required<T>(v: Option<T>, key: &str) -> Result<T, PassmanError> {
    v.ok_or_else(|| PassmanError::invalid(format!("\"{key}\" is required.")))
}

/// Keeps an explicit `null` as `Some(Value::Null)` (for `otp`, null clears it); absent is `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn check_len(v: &str, key: &str) -> Result<(), PassmanError> {
    if v.chars().count() > MAX_FIELD_CHARS {
        return Err(PassmanError::invalid(format!(
            "\"{key}\" is longer than {MAX_FIELD_CHARS} characters."
        )));
    }
    Ok(())
}

/// `passman.setup {server, login, app_password, vault?, allow_http?, lock_timeout_minutes?}`.
#[derive(Default, Deserialize)]
pub struct SetupParams {
    pub server: Option<String>,
    pub login: Option<String>,
    #[serde(default, deserialize_with = "params::secret")]
    pub app_password: Option<Zeroizing<String>>,
    pub vault: Option<String>,
    pub allow_http: Option<bool>,
    pub lock_timeout_minutes: Option<u64>,
}

pub fn setup(ctx: &Ctx, p: SetupParams) -> Result<SetupReply, PassmanError> {
    let (account, vaults) = pm(ctx).setup(p.into_setup()?)?;
    Ok(setup_reply(&account, &vaults))
}

impl SetupParams {
    fn into_setup(self) -> Result<Setup, PassmanError> {
        let p = self;
        Ok(Setup {
            server: required(p.server, "server")?,
            login: required(p.login, "login")?,
            app_password: required(p.app_password, "app_password")?,
            vault: text(p.vault, "vault")?,
            allow_http: p.allow_http.unwrap_or(false),
            lock_timeout_minutes: p
                .lock_timeout_minutes
                .map(|m| m.min(u64::from(u32::MAX)) as u32),
        })
    }
}

/// What `passman.setup` answers: the stored account (never its app password) and its vaults.
#[derive(Debug, Serialize)]
pub struct SetupReply {
    pub server: String,
    pub login: String,
    pub vault: Option<String>,
    pub allow_http: bool,
    pub lock_timeout_minutes: u32,
    pub vaults: Vec<VaultItem>,
}

pub fn setup_reply(account: &super::store::Account, vaults: &[VaultInfo]) -> SetupReply {
    SetupReply {
        server: account.server.clone(),
        login: account.login.clone(),
        vault: account.vault.clone(),
        allow_http: account.allow_http,
        lock_timeout_minutes: account.lock_timeout_minutes,
        vaults: vaults.iter().map(VaultItem::from).collect(),
    }
}

#[derive(Debug, Serialize)]
pub struct RemoveReply {
    pub removed: bool,
}

pub fn remove(ctx: &Ctx, _: NoParams) -> Result<RemoveReply, PassmanError> {
    Ok(RemoveReply {
        removed: pm(ctx).remove()?,
    })
}

pub fn status(ctx: &Ctx, _: NoParams) -> Result<Value, PassmanError> {
    Ok(summary(pm(ctx)))
}

/// Also the `passman` part of the host's `status`. Never fails and never asks the server.
pub fn summary(pm: &Passman) -> Value {
    let account = match pm.account() {
        Ok(a) => a,
        Err(PassmanError::NotConfigured) => return json!({"configured": false, "locked": true}),
        Err(e) => return json!({"configured": false, "locked": true, "problem": e.code()}),
    };
    let open = pm.session.peek();
    json!({
        "configured": true,
        "server": account.server,
        "login": account.login,
        "vault": account.vault,
        "allow_http": account.allow_http,
        "lock_timeout_minutes": account.lock_timeout_minutes,
        "locked": open.is_none(),
        "unlocked_vault": open.as_ref().map(|(v, _)| json!({"guid": v.guid, "name": v.name})),
        "ttl_remaining_seconds": open.map(|(_, s)| s),
    })
}

/// A vault as listed.
#[derive(Debug, Serialize)]
pub struct VaultItem {
    pub guid: String,
    pub name: String,
    pub created: Option<i64>,
    pub last_access: Option<i64>,
}

impl From<&VaultInfo> for VaultItem {
    fn from(v: &VaultInfo) -> Self {
        Self {
            guid: v.guid.clone(),
            name: v.name.clone(),
            created: v.created,
            last_access: v.last_access,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct VaultsReply {
    pub items: Vec<VaultItem>,
    pub total: usize,
}

pub fn vaults(ctx: &Ctx, _: NoParams) -> Result<VaultsReply, PassmanError> {
    Ok(vaults_reply(&pm(ctx).vaults()?))
}

pub fn vaults_reply(list: &[VaultInfo]) -> VaultsReply {
    VaultsReply {
        items: list.iter().map(VaultItem::from).collect(),
        total: list.len(),
    }
}

/// `passman.unlock {vault?, password}`.
#[derive(Default, Deserialize)]
pub struct UnlockParams {
    pub vault: Option<String>,
    #[serde(default, deserialize_with = "params::secret")]
    pub password: Option<Zeroizing<String>>,
}

pub fn unlock(ctx: &Ctx, p: UnlockParams) -> Result<Value, ApiError> {
    let vault = text(p.vault, "vault")?;
    let password = required(p.password, "password")?;
    ctx.state.gate().require(ctx, operation::UNLOCK)?;
    pm(ctx).unlock(vault.as_deref(), &password)?;
    Ok(summary(pm(ctx)))
}

#[derive(Debug, Serialize)]
pub struct LockReply {
    pub locked: bool,
    pub was_unlocked: bool,
}

pub fn lock(ctx: &Ctx, _: NoParams) -> Result<LockReply, PassmanError> {
    Ok(lock_reply(pm(ctx).lock()))
}

pub fn lock_reply(was_unlocked: bool) -> LockReply {
    LockReply {
        locked: true,
        was_unlocked,
    }
}

/// A credential without its secrets.
pub fn item(o: &Opened) -> Value {
    let mut v = json!({
        "guid": o.guid(),
        "label": o.label(),
        "username": o.text("username"),
        "email": o.text("email"),
        "url": o.text("url"),
        "tags": o.tags(),
        "has_otp": o.field("otp").and_then(otp::uri_of).is_some(),
        "shared": o.shared_with_me,
        "hidden": o.hidden(),
        "created": super::credential::number(o.raw.get("created")),
        "changed": super::credential::number(o.raw.get("changed")),
    });
    if !o.unreadable.is_empty() {
        v["unreadable_fields"] = json!(o.unreadable);
    }
    v
}

/// A credential with its secrets and the current one-time code.
pub fn full(o: &Opened) -> Value {
    let mut v = item(o);
    v["password"] = json!(o.text("password"));
    v["description"] = json!(o.text("description"));
    v["custom_fields"] = o.field("custom_fields").cloned().unwrap_or(json!([]));
    v["files"] = o.field("files").cloned().unwrap_or(json!([]));
    v["otp"] = o.field("otp").cloned().unwrap_or(json!({}));
    v["compromised"] = json!(super::credential::truthy(o.field("compromised")));
    match o.field("otp").and_then(otp::code) {
        Some(Ok(code)) => v["otp_code"] = json!(code),
        Some(Err(why)) => v["otp_error"] = json!(why),
        None => {}
    }
    v
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Paged {
    pub items: Vec<Value>,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub next_offset: Option<usize>,
}

fn paged(items: Vec<Value>, page: Page) -> Paged {
    let (slice, next) = page.apply(&items);
    Paged {
        items: slice,
        total: items.len(),
        offset: page.offset,
        limit: page.limit,
        next_offset: next,
    }
}

/// `offset`/`limit` of a list action.
#[derive(Default, Deserialize)]
pub struct PageParams {
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

impl PageParams {
    fn page(&self) -> Result<Page, ApiError> {
        page(self.offset, self.limit)
    }
}

fn page(offset: Option<u64>, limit: Option<u64>) -> Result<Page, ApiError> {
    Page::new(
        offset.unwrap_or(0) as usize,
        limit.unwrap_or(DEFAULT_PAGE_LIMIT as u64) as usize,
    )
}

/// `passman.search {url | query, offset?, limit?}`.
#[derive(Default, Deserialize)]
pub struct SearchParams {
    pub url: Option<String>,
    pub query: Option<String>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

pub fn search(ctx: &Ctx, p: SearchParams) -> Result<Paged, ApiError> {
    let page = page(p.offset, p.limit)?;
    let lookup = match (&p.url, &p.query) {
        (Some(u), None) => site_lookup(u)?,
        (None, Some(q)) => text_lookup(q)?,
        _ => return Err(neither().into()),
    };
    let hits = pm(ctx).search(&lookup)?;
    Ok(search_reply(&hits, page))
}

fn neither() -> PassmanError {
    PassmanError::invalid("Give either \"url\" (a web address) or \"query\" (text).")
}

/// A search for the credentials of a web address.
pub fn site_lookup(url: &str) -> Result<Lookup, PassmanError> {
    check_len(url, "url")?;
    Query::parse(url)
        .map(Lookup::Site)
        .ok_or_else(|| PassmanError::invalid("\"url\" is not a web address."))
}

/// A search for credentials containing a text.
pub fn text_lookup(query: &str) -> Result<Lookup, PassmanError> {
    check_len(query, "query")?;
    if query.trim().is_empty() {
        return Err(neither());
    }
    Ok(Lookup::Text(query.to_owned()))
}

pub fn search_reply(hits: &[(Opened, Match)], page: Page) -> Paged {
    let items = hits
        .iter()
        .map(|(o, m)| {
            let mut v = item(o);
            v["match"] = json!(m.as_str());
            v
        })
        .collect();
    paged(items, page)
}

pub fn list(ctx: &Ctx, p: PageParams) -> Result<Paged, ApiError> {
    let page = p.page()?;
    let (_, all) = pm(ctx).credentials(false)?;
    Ok(paged(all.iter().map(item).collect(), page))
}

pub fn check_guid(g: &str) -> Result<(), PassmanError> {
    if g.is_empty() || g.len() > 64 {
        return Err(PassmanError::invalid("\"guid\" is not a Passman guid."));
    }
    Ok(())
}

/// `passman.get {guid}`, `passman.delete {guid}`.
#[derive(Default, Deserialize)]
pub struct GuidParams {
    pub guid: Option<String>,
}

impl GuidParams {
    fn guid(self) -> Result<String, PassmanError> {
        let g = required(self.guid, "guid")?;
        check_guid(&g)?;
        Ok(g)
    }
}

/// A credential with its secrets (`passman.get`, `create`, `update`).
#[derive(Debug, Serialize)]
pub struct CredentialReply {
    pub credential: Value,
}

impl From<&Opened> for CredentialReply {
    fn from(o: &Opened) -> Self {
        Self {
            credential: full(o),
        }
    }
}

pub fn get(ctx: &Ctx, p: GuidParams) -> Result<CredentialReply, ApiError> {
    let g = p.guid()?;
    ctx.state.gate().require(ctx, operation::GET)?;
    Ok((&pm(ctx).get(&g)?).into())
}

/// `passman.create {label, ...}` and `passman.update {guid, ...}`: the fields to set; an
/// absent one is left as it is.
#[derive(Default, Deserialize)]
pub struct ChangeParams {
    pub guid: Option<String>,
    pub label: Option<String>,
    pub username: Option<String>,
    #[serde(default, deserialize_with = "params::secret")]
    pub password: Option<Zeroizing<String>>,
    pub url: Option<String>,
    pub email: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub custom_fields: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub otp: Option<Value>,
}

impl ChangeParams {
    fn change(self) -> Result<Change, PassmanError> {
        if let Some(pw) = &self.password {
            check_len(pw, "password")?;
        }
        Ok(Change {
            label: text(self.label, "label")?,
            username: text(self.username, "username")?,
            password: self.password,
            url: text(self.url, "url")?,
            email: text(self.email, "email")?,
            description: text(self.description, "description")?,
            tags: self.tags,
            custom_fields: self.custom_fields,
            otp: self.otp,
        })
    }
}

pub fn create(ctx: &Ctx, mut p: ChangeParams) -> Result<CredentialReply, PassmanError> {
    let label = required(p.label.take(), "label")?;
    let ch = p.change()?;
    Ok((&pm(ctx).create(&label, ch)?).into())
}

pub fn update(ctx: &Ctx, mut p: ChangeParams) -> Result<CredentialReply, PassmanError> {
    let g = GuidParams {
        guid: p.guid.take(),
    }
    .guid()?;
    Ok((&pm(ctx).update(&g, p.change()?)?).into())
}

#[derive(Debug, Serialize)]
pub struct DeleteReply {
    pub trashed: String,
    pub delete_time: Option<i64>,
}

pub fn delete(ctx: &Ctx, p: GuidParams) -> Result<DeleteReply, PassmanError> {
    let g = p.guid()?;
    let o = pm(ctx).trash(&g)?;
    Ok(DeleteReply {
        delete_time: super::credential::number(o.raw.get("delete_time")),
        trashed: g,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::assert_names_field;
    use serde_json::json;

    #[test]
    fn a_wrong_type_names_the_field() {
        assert_names_field::<SetupParams>(json!({"server": 1}), "server");
        assert_names_field::<SetupParams>(json!({"server": "s", "login": ["x"]}), "login");
        assert_names_field::<SetupParams>(json!({"allow_http": "yes"}), "allow_http");
        assert_names_field::<SetupParams>(
            json!({"lock_timeout_minutes": -5}),
            "lock_timeout_minutes",
        );
        assert_names_field::<UnlockParams>(json!({"vault": false}), "vault");
        assert_names_field::<SearchParams>(json!({"url": 7}), "url");
        assert_names_field::<SearchParams>(json!({"limit": "x"}), "limit");
        assert_names_field::<PageParams>(json!({"offset": -1}), "offset");
        assert_names_field::<GuidParams>(json!({"guid": 42}), "guid");
        assert_names_field::<ChangeParams>(json!({"tags": "dev"}), "tags");
        assert_names_field::<ChangeParams>(json!({"tags": ["dev", 1]}), "tags[1]");
        assert_names_field::<ChangeParams>(json!({"label": {}}), "label");
    }

    #[test]
    fn passwords_of_the_wrong_type_are_never_echoed() {
        for (p, field) in [
            (json!({"app_password": 31337}), "app_password"),
            (json!({"password": 31337}), "password"),
        ] {
            let msg = match field {
                "app_password" => params::parse::<SetupParams>(&p).err(),
                _ => params::parse::<UnlockParams>(&p).err(),
            }
            .expect("rejected")
            .message;
            assert_eq!(
                msg,
                format!("\"{field}\": invalid type: number, expected a string.")
            );
        }
        let e = params::parse::<ChangeParams>(&json!({"password": 31337}))
            .err()
            .unwrap();
        assert!(!e.message.contains("31337"), "{}", e.message);
    }

    #[test]
    fn missing_fields_and_limits_keep_their_messages() {
        let missing = |p: Value| {
            let p: SetupParams = params::parse(&p).unwrap();
            p.into_setup().err().map(|e| e.to_string())
        };
        assert_eq!(
            missing(json!({"login": "a", "app_password": "b"})).as_deref(),
            Some("\"server\" is required.")
        );
        assert_eq!(
            missing(json!({"server": "s", "login": "a"})).as_deref(),
            Some("\"app_password\" is required.")
        );
        let g = |v: Value| {
            params::parse::<GuidParams>(&v)
                .unwrap()
                .guid()
                .map_err(|e| e.to_string())
        };
        assert_eq!(g(json!({})).unwrap_err(), "\"guid\" is required.");
        assert_eq!(
            g(json!({"guid": ""})).unwrap_err(),
            "\"guid\" is not a Passman guid."
        );
        assert_eq!(g(json!({"guid": "abc"})).unwrap(), "abc");
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let ch = params::parse::<ChangeParams>(&json!({"username": long})).unwrap();
        assert_eq!(
            ch.change().err().unwrap().to_string(),
            format!("\"username\" is longer than {MAX_FIELD_CHARS} characters.")
        );
        assert_eq!(
            page(None, Some(0)).unwrap_err().message,
            "\"limit\" must be between 1 and 1000."
        );
    }

    #[test]
    fn otp_null_clears_and_absent_keeps() {
        let ch = |v: Value| params::parse::<ChangeParams>(&v).unwrap().otp;
        assert_eq!(ch(json!({})), None);
        assert_eq!(ch(json!({"otp": null})), Some(Value::Null));
        assert_eq!(
            ch(json!({"otp": "otpauth://x"})),
            Some(json!("otpauth://x"))
        );
    }
}
