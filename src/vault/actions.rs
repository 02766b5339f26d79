//! The `vault.*` actions: typed params in, typed results out, [`VaultError`] for what goes
//! wrong (the action table runs them through [`typed!`]). The terminal ([`super::cli`]) calls
//! the same functions.

use super::error::VaultError;
use super::operation;
use super::search::Query;
use super::session::{Hit, Listing, Status, Summary};
use super::throttle::{self, Throttle};
use crate::api::context::Handler;
use crate::api::params::{self, DEFAULT_PAGE_LIMIT, NoParams, Page};
use crate::api::{Action, Ctx};
use crate::credentials::search::SiteView;
use crate::typed;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Shortest local password accepted: it is the only thing between a stolen disk and the vault.
pub const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 1024;

pub fn all() -> Vec<Action> {
    let a = |name, handler: Handler, summary| Action {
        name,
        handler,
        summary,
    };
    let mut all = vec![
        a(
            "vault.status",
            typed!(status),
            "Whether the vault exists, is locked, its size and time left.",
        ),
        a(
            "vault.unlock",
            typed!(unlock),
            "Unlock with the phone (no params) or the local {password}.",
        ),
        a(
            "vault.lock",
            typed!(lock),
            "Lock the vault here and in every other passbridge process.",
        ),
        a(
            "vault.search",
            typed!(search),
            "Credentials for {url}, best match first, without passwords.",
        ),
        a(
            "vault.get",
            typed!(get),
            "One credential by {uid}, password included (may need approval).",
        ),
        a(
            "vault.list",
            typed!(list),
            "All credentials by name, paged {offset, limit}, without passwords.",
        ),
        a(
            "vault.delete",
            typed!(delete),
            "Remove the credential {uid} from the vault.",
        ),
        a(
            "vault.sync",
            typed!(sync),
            "Refresh stored credentials from the phone.",
        ),
        a(
            "vault.set_password",
            typed!(set_password),
            "Let a local {password} open the vault without the phone.",
        ),
        a(
            "vault.clear_password",
            typed!(clear_password),
            "Remove the local password.",
        ),
        a(
            "vault.rekey",
            typed!(rekey),
            "Replace the data key and re-seal every credential (after a suspected leak).",
        ),
        a(
            "vault.accept_restore",
            typed!(accept_restore),
            "Accept a vault older than one seen before, e.g. restored from a backup ({confirm: true}).",
        ),
        a(
            "vault.reset",
            typed!(reset),
            "Move the vault aside and start afresh ({confirm: true}).",
        ),
    ];
    all.extend(super::lock_timeout::actions());
    all
}

/// What `vault.status` and `vault.unlock` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReply {
    #[serde(flatten)]
    pub status: Status,
    pub lock_timeout_minutes: u64,
    pub save_credentials: bool,
}

pub fn status(ctx: &Ctx, _: NoParams) -> Result<StatusReply, VaultError> {
    let status = super::state(ctx).status()?;
    Ok(StatusReply {
        status,
        lock_timeout_minutes: super::state(ctx).lock_timeout().as_secs() / 60,
        save_credentials: super::settings(ctx).save_credentials,
    })
}

/// Checks a password param's length; `name` is its field. The params keep it in a zeroizing
/// string (the request's JSON is scrubbed by the dispatcher once the action returns).
fn check_password(
    pw: Option<&Zeroizing<String>>,
    name: &str,
    min_chars: usize,
) -> Result<(), VaultError> {
    match pw {
        Some(pw) if pw.chars().count() < min_chars.max(1) || pw.len() > MAX_PASSWORD_BYTES => {
            Err(VaultError::Invalid(format!(
                "\"{name}\" must have at least {} characters and at most {MAX_PASSWORD_BYTES} bytes.",
                min_chars.max(1)
            )))
        }
        _ => Ok(()),
    }
}

/// Runs a check of the local password through the guessing throttle (one at a time, growing
/// waits after repeated failures; see [`throttle`]).
fn throttled<T>(ctx: &Ctx, check: impl FnOnce() -> Result<T, VaultError>) -> Result<T, VaultError> {
    Throttle::new(&ctx.state.paths.data_dir).check(throttle::unix_now, check)
}

/// Changing or removing a set local password needs the current one: otherwise any permitted
/// extension could replace it with one of its own choosing.
fn require_current_password(
    ctx: &Ctx,
    current: Option<&Zeroizing<String>>,
    what: &str,
) -> Result<(), VaultError> {
    if !super::state(ctx).status()?.password_set {
        return Ok(());
    }
    check_password(current, "current_password", 1)?;
    let current = current.ok_or_else(|| {
        VaultError::Invalid(format!(
            "A local password is set: {what} needs it as \"current_password\". If it is forgotten, unlock with the phone and use vault.reset, then fetch again (the phone keeps every credential)."
        ))
    })?;
    throttled(ctx, || super::state(ctx).check_password(current))
}

/// `vault.unlock {password?}`: without a password, the phone is asked.
#[derive(Default, Deserialize)]
pub struct UnlockParams {
    #[serde(default, deserialize_with = "params::secret")]
    pub password: Option<Zeroizing<String>>,
}

pub fn unlock(ctx: &Ctx, p: UnlockParams) -> Result<StatusReply, VaultError> {
    check_password(p.password.as_ref(), "password", 1)?;
    let vault = super::state(ctx);
    let current = vault.status()?;
    if !current.locked {
        // Already open. A password given is still checked: "ok" must mean it is right.
        if let Some(pw) = &p.password {
            throttled(ctx, || vault.check_password(pw))?;
        }
        // This counts as use.
        vault.touch()?;
        return status(ctx, NoParams {});
    }
    // What cannot succeed fails before anyone is asked to approve it.
    if p.password.is_some() && !current.exists {
        return Err(VaultError::Missing);
    }
    if p.password.is_some() && !current.password_set {
        return Err(VaultError::NoPassword);
    }
    ctx.state.gate().require(ctx, operation::VAULT_UNLOCK)?;
    match &p.password {
        Some(pw) => throttled(ctx, || vault.unlock_with_password(pw))?,
        None => {
            ctx.events.progress(json!({"stage": "waiting_for_phone"}));
            let key = super::source(ctx)?.get_client_key(ctx)?;
            vault.unlock_with_key(&key, true)?;
        }
    }
    status(ctx, NoParams {})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LockReply {
    pub locked: bool,
}

pub fn lock(ctx: &Ctx, _: NoParams) -> Result<LockReply, VaultError> {
    super::state(ctx).lock_everywhere()?;
    Ok(LockReply { locked: true })
}

/// Asks the gate for `op` on an open vault. A locked one fails first, with its reason, so
/// nobody approves what cannot succeed (this counts as use, as the operation itself would).
fn gate_open(ctx: &Ctx, op: &str) -> Result<(), VaultError> {
    super::state(ctx).touch()?;
    Ok(ctx.state.gate().require(ctx, op)?)
}

/// `offset`/`limit` of the list actions.
fn page(offset: Option<usize>, limit: Option<usize>) -> Result<Page, VaultError> {
    Ok(Page::new(
        offset.unwrap_or(0),
        limit.unwrap_or(DEFAULT_PAGE_LIMIT),
    )?)
}

/// `vault.search {url, offset?, limit?}`.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One page of matches and the site they were matched against.
#[derive(Debug, Serialize)]
pub struct SearchReply {
    #[serde(flatten)]
    pub listing: Listing<Hit>,
    pub site: SiteView,
}

pub fn search(ctx: &Ctx, p: SearchParams) -> Result<SearchReply, VaultError> {
    let url = p
        .url
        .ok_or_else(|| VaultError::Invalid("\"url\" is required.".into()))?;
    let query = Query::parse(&url).ok_or_else(|| {
        VaultError::Invalid("\"url\" must be a web address, like https://example.com/login.".into())
    })?;
    let page = page(p.offset, p.limit)?;
    gate_open(ctx, operation::VAULT_READ)?;
    let listing = super::state(ctx).search(&query, page)?;
    Ok(SearchReply {
        listing,
        site: SiteView {
            domain: query.site.domain().to_owned(),
            host: query.site.host.clone(),
        },
    })
}

/// `vault.get` and `vault.delete`: `{uid}`, a uid or the readable uid the phone shows.
#[derive(Debug, Default, Deserialize)]
pub struct UidParams {
    #[serde(default)]
    pub uid: Option<String>,
}

impl UidParams {
    pub fn new(uid: impl Into<String>) -> Self {
        Self {
            uid: Some(uid.into()),
        }
    }

    fn uid(&self) -> Result<&str, VaultError> {
        let uid = self
            .uid
            .as_deref()
            .ok_or_else(|| VaultError::Invalid("\"uid\" is required.".into()))?;
        if uid.is_empty() || uid.len() > 256 {
            return Err(VaultError::Invalid(
                "\"uid\" must be a credential uid or readable uid (1 to 256 bytes).".into(),
            ));
        }
        Ok(uid)
    }
}

/// One credential with its secrets, wiped from memory when dropped.
#[derive(Serialize, Zeroize, ZeroizeOnDrop)]
pub struct CredentialReply {
    pub uid: String,
    pub readable_uid: String,
    pub name: String,
    pub user: String,
    pub password: String,
    pub website: String,
    pub otp: String,
    pub created_at: u64,
    pub updated_at: u64,
}

pub fn get(ctx: &Ctx, p: UidParams) -> Result<CredentialReply, VaultError> {
    let uid = p.uid()?;
    let vault = super::state(ctx);
    // Checked before the approval so nobody is asked to approve what cannot succeed.
    if vault.status()?.locked {
        return Err(VaultError::Locked);
    }
    let uid = vault.resolve_uid(uid)?;
    ctx.state.gate().require(ctx, operation::VAULT_GET)?;
    let e = vault.get(&uid)?;
    let c = &e.credential;
    Ok(CredentialReply {
        uid: e.uid().to_owned(),
        readable_uid: c.readable_uid.clone(),
        name: c.name.clone(),
        user: c.user.clone(),
        password: c.password.clone(),
        website: c.website.clone(),
        otp: c.otp.clone(),
        created_at: e.created_ms,
        updated_at: e.updated_ms,
    })
}

/// Entries whose name or website contains a plain word (the terminal's `vault search github`):
/// the same gate as `vault.search`.
pub fn find_text(ctx: &Ctx, text: &str, page: Page) -> Result<Listing<Summary>, VaultError> {
    gate_open(ctx, operation::VAULT_READ)?;
    super::state(ctx).find_text(text, page)
}

/// `vault.list {offset?, limit?}`.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub limit: Option<usize>,
}

pub fn list(ctx: &Ctx, p: ListParams) -> Result<Listing<Summary>, VaultError> {
    let page = page(p.offset, p.limit)?;
    gate_open(ctx, operation::VAULT_READ)?;
    super::state(ctx).list(page)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteReply {
    /// The full uid of the credential removed.
    pub deleted: String,
}

pub fn delete(ctx: &Ctx, p: UidParams) -> Result<DeleteReply, VaultError> {
    let uid = super::state(ctx).resolve_uid(p.uid()?)?;
    gate_open(ctx, operation::VAULT_DELETE)?;
    super::state(ctx).delete(&uid)?;
    Ok(DeleteReply { deleted: uid })
}

/// At most this many missing uids are listed in a sync result (36-byte UUIDs: about 40 KB),
/// so the reply stays far below the browsers' 1 MiB message limit; `missing_count` has them all.
pub const MAX_MISSING_LISTED: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReply {
    pub updated: usize,
    pub unchanged: usize,
    /// The first [`MAX_MISSING_LISTED`] stored uids the phone did not return.
    pub missing: Vec<String>,
    pub missing_count: usize,
    /// How many uids the phone was asked for.
    pub asked: usize,
}

/// Refreshes stored entries from the phone. Never deletes: the phone leaves hidden ("veiled")
/// credentials out of its answer just like deleted ones, so the uids it did not return are
/// reported as `missing` for the user to `vault.delete` if they are really gone.
pub fn sync(ctx: &Ctx, _: NoParams) -> Result<SyncReply, VaultError> {
    let vault = super::state(ctx);
    let uids = vault.uids()?;
    if uids.is_empty() {
        return Ok(SyncReply::default());
    }
    ctx.events
        .progress(json!({"stage": "waiting_for_phone", "count": uids.len()}));
    let (fresh, key) = super::source(ctx)?.fetch_by_uids(ctx, &uids)?;
    ctx.cancel.check()?;
    vault.unlock_with_key(&key, false)?;
    let mut r = vault.apply_sync(&uids, &fresh)?;
    let missing_count = r.missing.len();
    r.missing.truncate(MAX_MISSING_LISTED);
    Ok(SyncReply {
        updated: r.updated,
        unchanged: r.unchanged,
        missing: r.missing,
        missing_count,
        asked: uids.len(),
    })
}

/// `vault.set_password {password, current_password?}`.
#[derive(Default, Deserialize)]
pub struct SetPasswordParams {
    #[serde(default, deserialize_with = "params::secret")]
    pub password: Option<Zeroizing<String>>,
    /// Required when a local password is set already.
    #[serde(default, deserialize_with = "params::secret")]
    pub current_password: Option<Zeroizing<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PasswordReply {
    pub password_set: bool,
}

pub fn set_password(ctx: &Ctx, p: SetPasswordParams) -> Result<PasswordReply, VaultError> {
    check_password(p.password.as_ref(), "password", MIN_PASSWORD_CHARS)?;
    let pw = p
        .password
        .as_ref()
        .ok_or_else(|| VaultError::Invalid("\"password\" is required.".into()))?;
    // Open, or the reason it is not (before anyone is asked for a password).
    super::state(ctx).touch()?;
    require_current_password(ctx, p.current_password.as_ref(), "changing it")?;
    super::state(ctx).set_password(pw, super::settings(ctx).password_kdf())?;
    Ok(PasswordReply { password_set: true })
}

/// `vault.clear_password {current_password?}`.
#[derive(Default, Deserialize)]
pub struct ClearPasswordParams {
    /// Required when a local password is set (it is, unless clearing is a no-op).
    #[serde(default, deserialize_with = "params::secret")]
    pub current_password: Option<Zeroizing<String>>,
}

pub fn clear_password(ctx: &Ctx, p: ClearPasswordParams) -> Result<PasswordReply, VaultError> {
    // Open, or the reason it is not (before anyone is asked for a password).
    super::state(ctx).touch()?;
    require_current_password(ctx, p.current_password.as_ref(), "removing it")?;
    super::state(ctx).clear_password()?;
    Ok(PasswordReply {
        password_set: false,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RekeyReply {
    pub rekeyed: bool,
    /// How many credentials were re-sealed.
    pub entries: u64,
}

pub fn rekey(ctx: &Ctx, _: NoParams) -> Result<RekeyReply, VaultError> {
    // Vault-wide like a reset: every process must unlock again without an agent.
    gate_open(ctx, operation::VAULT_RESET)?;
    let entries = super::state(ctx).rekey()?;
    Ok(RekeyReply {
        rekeyed: true,
        entries,
    })
}

/// `{confirm: true}`: the vault-wide changes do nothing without it.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct ConfirmParams {
    #[serde(default)]
    pub confirm: Option<bool>,
}

impl ConfirmParams {
    pub const YES: Self = Self {
        confirm: Some(true),
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AcceptReply {
    pub accepted: bool,
}

pub fn accept_restore(ctx: &Ctx, p: ConfirmParams) -> Result<AcceptReply, VaultError> {
    if p.confirm != Some(true) {
        return Err(VaultError::Invalid(
            "vault.accept_restore accepts the vault on disk although it is older than one this computer used (only right after a deliberate restore from a backup); send {\"confirm\": true} to do it.".into(),
        ));
    }
    // Trusting an older vault again undoes the rollback check: as guarded as moving it aside.
    ctx.state.gate().require(ctx, operation::VAULT_RESET)?;
    super::state(ctx).accept_restore()?;
    Ok(AcceptReply { accepted: true })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResetReply {
    /// Where the old vault directory went; `None` when there was none.
    pub moved_to: Option<String>,
}

pub fn reset(ctx: &Ctx, p: ConfirmParams) -> Result<ResetReply, VaultError> {
    if p.confirm != Some(true) {
        return Err(VaultError::Invalid(
            "vault.reset moves the vault aside and starts an empty one; send {\"confirm\": true} to do it.".into(),
        ));
    }
    ctx.state.gate().require(ctx, operation::VAULT_RESET)?;
    let moved = super::state(ctx).reset()?;
    Ok(ResetReply {
        moved_to: moved.map(|p| p.display().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::{assert_names_field as names_field, parse};

    #[test]
    fn a_wrong_type_names_the_field() {
        names_field::<SearchParams>(json!({"url": 5}), "url");
        names_field::<SearchParams>(json!({"url": "a.b", "offset": "2"}), "offset");
        names_field::<SearchParams>(json!({"url": "a.b", "limit": -1}), "limit");
        names_field::<ListParams>(json!({"offset": 1.5}), "offset");
        names_field::<ListParams>(json!({"limit": [1]}), "limit");
        names_field::<UidParams>(json!({"uid": 7}), "uid");
        names_field::<UnlockParams>(json!({"password": 12}), "password");
        names_field::<SetPasswordParams>(json!({"password": true}), "password");
        names_field::<SetPasswordParams>(
            json!({"password": "long enough", "current_password": 1}),
            "current_password",
        );
        names_field::<ClearPasswordParams>(json!({"current_password": {}}), "current_password");
        names_field::<ConfirmParams>(json!({"confirm": "yes"}), "confirm");
    }

    #[test]
    fn null_is_absent_and_unknown_fields_are_ignored() {
        let p: SearchParams =
            parse(&json!({"url": "a.b", "offset": null, "limit": null, "x": 1})).unwrap();
        assert_eq!(
            (p.url.as_deref(), p.offset, p.limit),
            (Some("a.b"), None, None)
        );
        let p: SetPasswordParams =
            parse(&json!({"password": null, "current_password": null})).unwrap();
        assert!(p.password.is_none() && p.current_password.is_none());
        let p: ConfirmParams = parse(&json!({"confirm": null, "force": true})).unwrap();
        assert_eq!(p.confirm, None);
        parse::<NoParams>(&json!({"anything": [1, 2]})).unwrap();
    }

    #[test]
    fn a_password_of_the_wrong_type_is_not_echoed() {
        let e = parse::<UnlockParams>(&json!({"password": 12345678}))
            .err()
            .unwrap();
        assert_eq!(
            e.message,
            "\"password\": invalid type: number, expected a string."
        );
    }

    #[test]
    fn password_and_uid_rules() {
        let pw = |s: &str| Some(Zeroizing::new(s.to_owned()));
        assert!(check_password(None, "password", MIN_PASSWORD_CHARS).is_ok());
        assert!(check_password(pw("12345678").as_ref(), "password", MIN_PASSWORD_CHARS).is_ok());
        let short = check_password(pw("1234567").as_ref(), "password", MIN_PASSWORD_CHARS);
        assert_eq!(short.unwrap_err().code(), "invalid_params");
        // Characters, not bytes: eight accented letters are enough.
        assert!(check_password(pw("éééééééé").as_ref(), "password", MIN_PASSWORD_CHARS).is_ok());
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(check_password(pw(&long).as_ref(), "password", 1).is_err());
        assert!(check_password(pw("").as_ref(), "current_password", 0).is_err());
        assert!(UidParams::default().uid().is_err());
        assert!(UidParams::new("").uid().is_err());
        assert!(UidParams::new("u".repeat(257)).uid().is_err());
        assert_eq!(UidParams::new("p5psp5kc").uid().unwrap(), "p5psp5kc");
    }
}
