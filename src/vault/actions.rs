//! The `vault.*` actions: parameters in, JSON results out. The CLI calls the same functions.

use super::operation;
use super::search::Query;
use super::session::Status;
use crate::api::params::{self, Page};
use crate::api::{Action, ApiError, Ctx};
use serde_json::{Value, json};

/// Shortest local password accepted: it is the only thing between a stolen disk and the vault.
pub const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 1024;

pub fn all() -> Vec<Action> {
    let a = |name, handler, summary| Action {
        name,
        handler,
        summary,
    };
    vec![
        a(
            "vault.status",
            status,
            "Whether the vault exists, is locked, its size and time left.",
        ),
        a(
            "vault.unlock",
            unlock,
            "Unlock with the phone (no params) or the local {password}.",
        ),
        a(
            "vault.lock",
            lock,
            "Lock the vault here and in every other passbridge process.",
        ),
        a(
            "vault.search",
            search,
            "Credentials for {url}, best match first, without passwords.",
        ),
        a(
            "vault.get",
            get,
            "One credential by {uid}, password included (may need approval).",
        ),
        a(
            "vault.list",
            list,
            "All credentials by name, paged {offset, limit}, without passwords.",
        ),
        a(
            "vault.delete",
            delete,
            "Remove the credential {uid} from the vault.",
        ),
        a(
            "vault.sync",
            sync,
            "Refresh stored credentials from the phone.",
        ),
        a(
            "vault.set_password",
            set_password,
            "Let a local {password} open the vault without the phone.",
        ),
        a(
            "vault.clear_password",
            clear_password,
            "Remove the local password.",
        ),
        a(
            "vault.rekey",
            rekey,
            "Replace the data key and re-seal every credential (after a suspected leak).",
        ),
        a(
            "vault.accept_restore",
            accept_restore,
            "Accept a vault older than one seen before, e.g. restored from a backup ({confirm: true}).",
        ),
        a(
            "vault.reset",
            reset,
            "Move the vault aside and start afresh ({confirm: true}).",
        ),
    ]
}

fn status_json(ctx: &Ctx, s: &Status) -> Value {
    let settings = super::settings(ctx);
    json!({
        "exists": s.exists,
        "locked": s.locked,
        "password_set": s.password_set,
        "entries": s.entries,
        "ttl_remaining_seconds": s.ttl_remaining_seconds,
        "lock_timeout_minutes": super::state(ctx).lock_timeout().as_secs() / 60,
        "save_credentials": settings.save_credentials,
    })
}

pub fn status(ctx: &Ctx, _params: &Value) -> Result<Value, ApiError> {
    let s = super::state(ctx).status()?;
    Ok(status_json(ctx, &s))
}

fn password_param(params: &Value, min_chars: usize) -> Result<Option<&str>, ApiError> {
    let Some(pw) = params::opt_str(params, "password")? else {
        return Ok(None);
    };
    if pw.chars().count() < min_chars.max(1) || pw.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid_params(format!(
            "\"password\" must have at least {} characters and at most {MAX_PASSWORD_BYTES} bytes.",
            min_chars.max(1)
        )));
    }
    Ok(Some(pw))
}

pub fn unlock(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let password = password_param(params, 1)?;
    let vault = super::state(ctx);
    let current = vault.status()?;
    if !current.locked {
        // Already open: this counts as use.
        vault.touch()?;
        return status(ctx, params);
    }
    // What cannot succeed fails before anyone is asked to approve it.
    if password.is_some() && !current.exists {
        return Err(super::VaultError::Missing.into());
    }
    if password.is_some() && !current.password_set {
        return Err(super::VaultError::NoPassword.into());
    }
    ctx.state.gate().require(ctx, operation::VAULT_UNLOCK)?;
    match password {
        Some(pw) => vault.unlock_with_password(pw)?,
        None => {
            ctx.events.progress(json!({"stage": "waiting_for_phone"}));
            let key = super::source(ctx)?.get_client_key(ctx)?;
            vault.unlock_with_key(&key, true)?;
        }
    }
    status(ctx, params)
}

pub fn lock(ctx: &Ctx, _params: &Value) -> Result<Value, ApiError> {
    super::state(ctx).lock_everywhere()?;
    Ok(json!({"locked": true}))
}

pub fn search(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let url = params::req_str(params, "url")?;
    let query = Query::parse(url).ok_or_else(|| {
        ApiError::invalid_params("\"url\" must be a web address, like https://example.com/login.")
    })?;
    let page = Page::from_params(params)?;
    let listing = super::state(ctx).search(&query, page)?;
    let mut out = serde_json::to_value(listing).map_err(|e| ApiError::internal(e.to_string()))?;
    out["site"] = json!({"host": query.site.host, "domain": query.site.domain()});
    Ok(out)
}

fn uid_param(params: &Value) -> Result<&str, ApiError> {
    let uid = params::req_str(params, "uid")?;
    if uid.is_empty() || uid.len() > 256 {
        return Err(ApiError::invalid_params(
            "\"uid\" must be a credential uid (1 to 256 bytes).",
        ));
    }
    Ok(uid)
}

pub fn get(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let uid = uid_param(params)?;
    let vault = super::state(ctx);
    // Checked before the approval so nobody is asked to approve what cannot succeed.
    if vault.status()?.locked {
        return Err(super::VaultError::Locked.into());
    }
    ctx.state.gate().require(ctx, operation::VAULT_GET)?;
    let e = vault.get(uid)?;
    let c = &e.credential;
    Ok(json!({
        "uid": e.uid(),
        "readable_uid": c.readable_uid,
        "name": c.name,
        "user": c.user,
        "password": c.password,
        "website": c.website,
        "otp": c.otp,
        "created_at": e.created_ms,
        "updated_at": e.updated_ms,
    }))
}

pub fn list(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let page = Page::from_params(params)?;
    let listing = super::state(ctx).list(page)?;
    serde_json::to_value(listing).map_err(|e| ApiError::internal(e.to_string()))
}

pub fn delete(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let uid = uid_param(params)?;
    super::state(ctx).delete(uid)?;
    Ok(json!({"deleted": uid}))
}

/// At most this many missing uids are listed in a sync result (36-byte UUIDs: about 40 KB),
/// so the reply stays far below the browsers' 1 MiB message limit; `missing_count` has them all.
pub const MAX_MISSING_LISTED: usize = 1000;

/// Refreshes stored entries from the phone. Never deletes: the phone leaves hidden ("veiled")
/// credentials out of its answer just like deleted ones, so the uids it did not return are
/// reported as `missing` for the user to `vault.delete` if they are really gone.
pub fn sync(ctx: &Ctx, _params: &Value) -> Result<Value, ApiError> {
    let vault = super::state(ctx);
    let uids = vault.uids()?;
    if uids.is_empty() {
        return Ok(
            json!({"updated": 0, "unchanged": 0, "missing": [], "missing_count": 0, "asked": 0}),
        );
    }
    ctx.events
        .progress(json!({"stage": "waiting_for_phone", "count": uids.len()}));
    let (fresh, key) = super::source(ctx)?.fetch_by_uids(ctx, &uids)?;
    ctx.cancel.check()?;
    vault.unlock_with_key(&key, false)?;
    let r = vault.apply_sync(&uids, &fresh)?;
    let listed = &r.missing[..r.missing.len().min(MAX_MISSING_LISTED)];
    Ok(json!({
        "updated": r.updated,
        "unchanged": r.unchanged,
        "missing": listed,
        "missing_count": r.missing.len(),
        "asked": uids.len(),
    }))
}

pub fn set_password(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let pw = password_param(params, MIN_PASSWORD_CHARS)?
        .ok_or_else(|| ApiError::invalid_params("\"password\" is required."))?;
    super::state(ctx).set_password(pw, super::settings(ctx).password_kdf())?;
    Ok(json!({"password_set": true}))
}

pub fn clear_password(ctx: &Ctx, _params: &Value) -> Result<Value, ApiError> {
    super::state(ctx).clear_password()?;
    Ok(json!({"password_set": false}))
}

pub fn rekey(ctx: &Ctx, _params: &Value) -> Result<Value, ApiError> {
    let n = super::state(ctx).rekey()?;
    Ok(json!({"rekeyed": true, "entries": n}))
}

pub fn accept_restore(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    if params::opt_bool(params, "confirm")? != Some(true) {
        return Err(ApiError::invalid_params(
            "vault.accept_restore accepts the vault on disk although it is older than one this computer used (only right after a deliberate restore from a backup); send {\"confirm\": true} to do it.",
        ));
    }
    super::state(ctx).accept_restore()?;
    Ok(json!({"accepted": true}))
}

pub fn reset(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    if params::opt_bool(params, "confirm")? != Some(true) {
        return Err(ApiError::invalid_params(
            "vault.reset moves the vault aside and starts an empty one; send {\"confirm\": true} to do it.",
        ));
    }
    let moved = super::state(ctx).reset()?;
    Ok(json!({"moved_to": moved.map(|p| p.display().to_string())}))
}
