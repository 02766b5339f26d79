//! The `passman.*` actions: the only place where this backend meets the host. Params are checked
//! and turned into typed calls on [`Passman`]; results are shaped into JSON here.

use super::credential::Opened;
use super::operation;
use super::service::{Change, Passman, Setup, VaultInfo};
use super::{PassmanError, otp};
use crate::api::params::{self, Page};
use crate::api::{Action, ApiError, Ctx};
use crate::credentials::{Lookup, Match, Query};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Longest text accepted for one field (Passman's columns are TEXT; this bounds memory).
const MAX_FIELD_CHARS: usize = 64 * 1024;

pub fn table() -> Vec<Action> {
    macro_rules! a {
        ($name:literal, $f:ident, $summary:literal) => {
            Action {
                name: $name,
                handler: |ctx, p| with_warning(ctx, $f(ctx, p)),
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

fn text(p: &Value, key: &str) -> Result<Option<String>, ApiError> {
    let v = params::opt_str(p, key)?;
    if let Some(v) = v {
        check_len(v, key)?;
    }
    Ok(v.map(str::to_owned))
}

fn check_len(v: &str, key: &str) -> Result<(), ApiError> {
    if v.chars().count() > MAX_FIELD_CHARS {
        return Err(ApiError::invalid_params(format!(
            "\"{key}\" is longer than {MAX_FIELD_CHARS} characters."
        )));
    }
    Ok(())
}

fn setup(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let s = Setup {
        server: params::req_str(p, "server")?.to_owned(),
        login: params::req_str(p, "login")?.to_owned(),
        app_password: Zeroizing::new(params::req_str(p, "app_password")?.to_owned()),
        vault: text(p, "vault")?,
        allow_http: params::opt_bool(p, "allow_http")?.unwrap_or(false),
        lock_timeout_minutes: params::opt_u64(p, "lock_timeout_minutes")?
            .map(|m| m.min(u64::from(u32::MAX)) as u32),
    };
    let (account, vaults) = pm(ctx).setup(s)?;
    Ok(setup_reply(&account, &vaults))
}

pub fn setup_reply(account: &super::store::Account, vaults: &[VaultInfo]) -> Value {
    json!({
        "server": account.server,
        "login": account.login,
        "vault": account.vault,
        "allow_http": account.allow_http,
        "lock_timeout_minutes": account.lock_timeout_minutes,
        "vaults": vaults.iter().map(vault_json).collect::<Vec<_>>(),
    })
}

fn remove(ctx: &Ctx, _p: &Value) -> Result<Value, ApiError> {
    Ok(json!({"removed": pm(ctx).remove()?}))
}

fn status(ctx: &Ctx, _p: &Value) -> Result<Value, ApiError> {
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

fn vault_json(v: &VaultInfo) -> Value {
    json!({"guid": v.guid, "name": v.name, "created": v.created, "last_access": v.last_access})
}

fn vaults(ctx: &Ctx, _p: &Value) -> Result<Value, ApiError> {
    Ok(vaults_reply(&pm(ctx).vaults()?))
}

pub fn vaults_reply(list: &[VaultInfo]) -> Value {
    json!({"items": list.iter().map(vault_json).collect::<Vec<_>>(), "total": list.len()})
}

fn unlock(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let vault = text(p, "vault")?;
    let password = Zeroizing::new(params::req_str(p, "password")?.to_owned());
    ctx.state.gate().require(ctx, operation::UNLOCK)?;
    pm(ctx).unlock(vault.as_deref(), &password)?;
    Ok(summary(pm(ctx)))
}

fn lock(ctx: &Ctx, _p: &Value) -> Result<Value, ApiError> {
    Ok(lock_reply(pm(ctx).lock()))
}

pub fn lock_reply(was_unlocked: bool) -> Value {
    json!({"locked": true, "was_unlocked": was_unlocked})
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

fn paged(items: Vec<Value>, page: Page) -> Value {
    let (slice, next) = page.apply(&items);
    json!({
        "items": slice,
        "total": items.len(),
        "offset": page.offset,
        "limit": page.limit,
        "next_offset": next,
    })
}

fn search(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let page = Page::from_params(p)?;
    let (url, query) = (text(p, "url")?, text(p, "query")?);
    let lookup = match (&url, &query) {
        (Some(u), None) => site_lookup(u)?,
        (None, Some(q)) => text_lookup(q)?,
        _ => return Err(neither()),
    };
    let hits = pm(ctx).search(&lookup)?;
    Ok(search_reply(&hits, page))
}

fn neither() -> ApiError {
    ApiError::invalid_params("Give either \"url\" (a web address) or \"query\" (text).")
}

/// A search for the credentials of a web address.
pub fn site_lookup(url: &str) -> Result<Lookup, ApiError> {
    check_len(url, "url")?;
    Query::parse(url)
        .map(Lookup::Site)
        .ok_or_else(|| ApiError::invalid_params("\"url\" is not a web address."))
}

/// A search for credentials containing a text.
pub fn text_lookup(query: &str) -> Result<Lookup, ApiError> {
    check_len(query, "query")?;
    if query.trim().is_empty() {
        return Err(neither());
    }
    Ok(Lookup::Text(query.to_owned()))
}

pub fn search_reply(hits: &[(Opened, Match)], page: Page) -> Value {
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

fn list(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let page = Page::from_params(p)?;
    let (_, all) = pm(ctx).credentials(false)?;
    Ok(paged(all.iter().map(item).collect(), page))
}

fn guid(p: &Value) -> Result<String, ApiError> {
    let g = params::req_str(p, "guid")?;
    check_guid(g)?;
    Ok(g.to_owned())
}

pub fn check_guid(g: &str) -> Result<(), ApiError> {
    if g.is_empty() || g.len() > 64 {
        return Err(ApiError::invalid_params("\"guid\" is not a Passman guid."));
    }
    Ok(())
}

fn get(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let g = guid(p)?;
    ctx.state.gate().require(ctx, operation::GET)?;
    Ok(json!({"credential": full(&pm(ctx).get(&g)?)}))
}

fn change(p: &Value) -> Result<Change, ApiError> {
    let tags = match p.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ApiError::invalid_params("\"tags\" must be an array of strings."))?,
        ),
        Some(_) => {
            return Err(ApiError::invalid_params(
                "\"tags\" must be an array of strings.",
            ));
        }
    };
    Ok(Change {
        label: text(p, "label")?,
        username: text(p, "username")?,
        password: text(p, "password")?.map(Zeroizing::new),
        url: text(p, "url")?,
        email: text(p, "email")?,
        description: text(p, "description")?,
        tags,
        custom_fields: p.get("custom_fields").filter(|v| !v.is_null()).cloned(),
        otp: p.get("otp").cloned(),
    })
}

fn create(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let label = params::req_str(p, "label")?.to_owned();
    let mut ch = change(p)?;
    ch.label = None;
    Ok(json!({"credential": full(&pm(ctx).create(&label, ch)?)}))
}

fn update(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let g = guid(p)?;
    Ok(json!({"credential": full(&pm(ctx).update(&g, change(p)?)?)}))
}

fn delete(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let g = guid(p)?;
    let o = pm(ctx).trash(&g)?;
    Ok(json!({"trashed": g, "delete_time": super::credential::number(o.raw.get("delete_time"))}))
}
