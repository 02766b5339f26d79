//! The `vault.*` actions: parameters in, JSON results out. The CLI calls the same functions.

use super::error::VaultError;
use super::operation;
use super::search::Query;
use super::session::{Listing, Status, Summary};
use super::throttle::{self, Throttle};
use crate::api::params::{self, Page};
use crate::api::{Action, ApiError, Ctx};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Shortest local password accepted: it is the only thing between a stolen disk and the vault.
pub const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 1024;

pub fn all() -> Vec<Action> {
    let a = |name, handler, summary| Action {
        name,
        handler,
        summary,
    };
    let mut all = vec![
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
    ];
    all.extend(super::lock_timeout::actions());
    all
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

/// A password param, copied into a zeroizing string (the request's JSON is scrubbed by the
/// dispatcher once the action returns).
fn password_param(
    params: &Value,
    name: &str,
    min_chars: usize,
) -> Result<Option<Zeroizing<String>>, ApiError> {
    let Some(pw) = params::opt_str(params, name)? else {
        return Ok(None);
    };
    if pw.chars().count() < min_chars.max(1) || pw.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid_params(format!(
            "\"{name}\" must have at least {} characters and at most {MAX_PASSWORD_BYTES} bytes.",
            min_chars.max(1)
        )));
    }
    Ok(Some(Zeroizing::new(pw.to_owned())))
}

/// Runs a check of the local password through the guessing throttle (one at a time, growing
/// waits after repeated failures; see [`throttle`]).
fn throttled<T>(ctx: &Ctx, check: impl FnOnce() -> Result<T, VaultError>) -> Result<T, ApiError> {
    Throttle::new(&ctx.state.paths.data_dir)
        .check(throttle::unix_now, check)
        .map_err(Into::into)
}

/// Changing or removing a set local password needs the current one: otherwise any permitted
/// extension could replace it with one of its own choosing.
fn require_current_password(ctx: &Ctx, params: &Value, what: &str) -> Result<(), ApiError> {
    if !super::state(ctx).status()?.password_set {
        return Ok(());
    }
    let current = password_param(params, "current_password", 1)?.ok_or_else(|| {
        ApiError::invalid_params(format!(
            "A local password is set: {what} needs it as \"current_password\". If it is forgotten, unlock with the phone and use vault.reset, then fetch again (the phone keeps every credential)."
        ))
    })?;
    throttled(ctx, || super::state(ctx).check_password(&current))
}

pub fn unlock(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let password = password_param(params, "password", 1)?;
    let vault = super::state(ctx);
    let current = vault.status()?;
    if !current.locked {
        // Already open. A password given is still checked: "ok" must mean it is right.
        if let Some(pw) = &password {
            throttled(ctx, || vault.check_password(pw))?;
        }
        // This counts as use.
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
        Some(pw) => throttled(ctx, || vault.unlock_with_password(&pw))?,
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

/// Asks the gate for `op` on an open vault. A locked one fails first, with its reason, so
/// nobody approves what cannot succeed (this counts as use, as the operation itself would).
fn gate_open(ctx: &Ctx, op: &str) -> Result<(), ApiError> {
    super::state(ctx).touch()?;
    ctx.state.gate().require(ctx, op)
}

pub fn search(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let url = params::req_str(params, "url")?;
    let query = Query::parse(url).ok_or_else(|| {
        ApiError::invalid_params("\"url\" must be a web address, like https://example.com/login.")
    })?;
    let page = Page::from_params(params)?;
    gate_open(ctx, operation::VAULT_READ)?;
    let listing = super::state(ctx).search(&query, page)?;
    let mut out = serde_json::to_value(listing).map_err(|e| ApiError::internal(e.to_string()))?;
    out["site"] = json!({"host": query.site.host, "domain": query.site.domain()});
    Ok(out)
}

fn uid_param(params: &Value) -> Result<&str, ApiError> {
    let uid = params::req_str(params, "uid")?;
    if uid.is_empty() || uid.len() > 256 {
        return Err(ApiError::invalid_params(
            "\"uid\" must be a credential uid or readable uid (1 to 256 bytes).",
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
    let uid = vault.resolve_uid(uid)?;
    ctx.state.gate().require(ctx, operation::VAULT_GET)?;
    let e = vault.get(&uid)?;
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

/// Entries whose name or website contains a plain word (the terminal's `vault search github`):
/// the same gate as `vault.search`.
pub fn find_text(ctx: &Ctx, text: &str, page: Page) -> Result<Listing<Summary>, ApiError> {
    gate_open(ctx, operation::VAULT_READ)?;
    Ok(super::state(ctx).find_text(text, page)?)
}

pub fn list(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let page = Page::from_params(params)?;
    gate_open(ctx, operation::VAULT_READ)?;
    let listing = super::state(ctx).list(page)?;
    serde_json::to_value(listing).map_err(|e| ApiError::internal(e.to_string()))
}

pub fn delete(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    let uid = super::state(ctx).resolve_uid(uid_param(params)?)?;
    gate_open(ctx, operation::VAULT_DELETE)?;
    super::state(ctx).delete(&uid)?;
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
    let pw = password_param(params, "password", MIN_PASSWORD_CHARS)?
        .ok_or_else(|| ApiError::invalid_params("\"password\" is required."))?;
    // Open, or the reason it is not (before anyone is asked for a password).
    super::state(ctx).touch()?;
    require_current_password(ctx, params, "changing it")?;
    super::state(ctx).set_password(&pw, super::settings(ctx).password_kdf())?;
    Ok(json!({"password_set": true}))
}

pub fn clear_password(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    // Open, or the reason it is not (before anyone is asked for a password).
    super::state(ctx).touch()?;
    require_current_password(ctx, params, "removing it")?;
    super::state(ctx).clear_password()?;
    Ok(json!({"password_set": false}))
}

pub fn rekey(ctx: &Ctx, _params: &Value) -> Result<Value, ApiError> {
    // Vault-wide like a reset: every process must unlock again without an agent.
    gate_open(ctx, operation::VAULT_RESET)?;
    let n = super::state(ctx).rekey()?;
    Ok(json!({"rekeyed": true, "entries": n}))
}

pub fn accept_restore(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    if params::opt_bool(params, "confirm")? != Some(true) {
        return Err(ApiError::invalid_params(
            "vault.accept_restore accepts the vault on disk although it is older than one this computer used (only right after a deliberate restore from a backup); send {\"confirm\": true} to do it.",
        ));
    }
    // Trusting an older vault again undoes the rollback check: as guarded as moving it aside.
    ctx.state.gate().require(ctx, operation::VAULT_RESET)?;
    super::state(ctx).accept_restore()?;
    Ok(json!({"accepted": true}))
}

pub fn reset(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    if params::opt_bool(params, "confirm")? != Some(true) {
        return Err(ApiError::invalid_params(
            "vault.reset moves the vault aside and starts an empty one; send {\"confirm\": true} to do it.",
        ));
    }
    ctx.state.gate().require(ctx, operation::VAULT_RESET)?;
    let moved = super::state(ctx).reset()?;
    Ok(json!({"moved_to": moved.map(|p| p.display().to_string())}))
}
