//! The `clarion.*` actions: typed params in, result out, [`Error`] for what goes wrong. Policy
//! decisions live in the flows; this file only checks params and shapes results. The terminal
//! commands ([`super::cli`]) call these functions directly.

use super::approval::{self, Purpose, approve_change};
use super::error::Error;
use super::register::{self, Callback, StartRequest};
use super::settings::{Policy, Settings};
use super::{rfc3339, store};
use crate::api::params::{DEFAULT_PAGE_LIMIT, Page};
use crate::api::{Action, Ctx};
use crate::typed;
use serde::Deserialize;
use serde_json::{Value, json};

pub fn table() -> Vec<Action> {
    vec![
        Action {
            name: "clarion.register.start",
            handler: typed!(register_start),
            summary: "Start registering a security key: returns the Clarion /register URL to open.",
        },
        Action {
            name: "clarion.register.finish",
            handler: typed!(register_finish),
            summary: "Finish a registration with the state and data the Clarion page posted back.",
        },
        Action {
            name: "clarion.keys",
            handler: typed!(keys),
            summary: "List the registered security keys.",
        },
        Action {
            name: "clarion.remove",
            handler: typed!(remove),
            summary: "Remove a registered security key (needs an approval while a policy is active).",
        },
        Action {
            name: "clarion.authenticate",
            handler: typed!(authenticate),
            summary: "Ask for a verified touch of a registered key (progress event carries html_url).",
        },
        Action {
            name: "clarion.policy",
            handler: typed!(policy),
            summary: "Which operations need a Clarion approval, and for how long one counts.",
        },
        Action {
            name: "clarion.policy.set",
            handler: typed!(policy_set),
            summary: "Change the approval policy (weakening it needs a fresh approval).",
        },
    ]
}

/// Params of actions that take none (anything is accepted, as before).
#[derive(Debug, Default, Deserialize)]
pub struct NoParams {}

#[derive(Debug, Default, Deserialize)]
pub struct RegisterStart {
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

pub fn register_start(ctx: &Ctx, p: RegisterStart) -> Result<Value, Error> {
    let origin = register::js_origin(p.origin.as_deref(), &ctx.state.config().allowed)?;
    let started = register::start(
        ctx,
        StartRequest {
            server: p.server,
            name: p.name.unwrap_or_else(|| approval::CLIENT_NAME.to_owned()),
            comment: p.comment,
            callback: Callback::Js(origin),
        },
    )?;
    Ok(json!({
        "url": started.url,
        "state": started.state,
        "server": started.server,
        "callback": started.callback,
        "expires_at": rfc3339::format_utc(started.expires_at),
    }))
}

#[derive(Debug, Deserialize)]
pub struct RegisterFinish {
    pub state: String,
    pub data: String,
}

pub fn register_finish(ctx: &Ctx, p: RegisterFinish) -> Result<Value, Error> {
    let key = register::finish(ctx, &p.state, &p.data)?;
    Ok(json!({"key": key.summary()}))
}

#[derive(Debug, Deserialize)]
pub struct Keys {
    #[serde(default)]
    pub offset: usize,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    DEFAULT_PAGE_LIMIT
}

pub fn keys(ctx: &Ctx, p: Keys) -> Result<Value, Error> {
    let page = Page::new(p.offset, p.limit)?;
    let s = store::load(ctx)?;
    let all: Vec<Value> = s.keys.iter().map(|k| k.summary()).collect();
    let (items, next_offset) = page.apply(&all);
    Ok(json!({
        "items": items,
        "total": all.len(),
        "offset": page.offset,
        "limit": page.limit,
        "next_offset": next_offset,
        "server": s.server,
    }))
}

/// Removing the last key would leave a policy nobody can satisfy.
fn check_removable(s: &Settings, handle: &str) -> Result<(), Error> {
    if s.key(handle).is_none() {
        return Err(Error::KeyNotFound);
    }
    if s.keys.len() == 1 && !s.policy.require.is_empty() {
        return Err(Error::PolicyNeedsKey(format!(
            "This is the last key, and the policy still requires approvals for {}. Change the policy first (clarion.policy.set).",
            s.policy.require.join(", ")
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct Remove {
    pub handle: String,
}

pub fn remove(ctx: &Ctx, p: Remove) -> Result<Value, Error> {
    let handle = p.handle.as_str();
    let settings = store::load(ctx)?;
    check_removable(&settings, handle)?;
    let approved = approve_change(ctx, &settings, "remove a registered security key")?;
    let (removed, remaining) = store::update(ctx, |s| {
        check_removable(s, handle)?;
        if s.guards_admin() && !approved {
            return Err(changed_meanwhile());
        }
        let i = s
            .keys
            .iter()
            .position(|k| k.handle == handle)
            .expect("checked");
        let removed = s.keys.remove(i);
        Ok((removed, s.keys.len()))
    })?;
    Ok(json!({"removed": removed.summary(), "remaining": remaining, "approval_used": approved}))
}

fn changed_meanwhile() -> Error {
    Error::ApprovalRequired(
        "The policy changed while this request ran and now needs an approval. Try again.".into(),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct Authenticate {
    #[serde(default)]
    pub comment: Option<String>,
}

pub fn authenticate(ctx: &Ctx, p: Authenticate) -> Result<Value, Error> {
    let comment = p.comment.as_deref();
    super::check_length("comment", comment, super::MAX_COMMENT_CHARS)?;
    let settings = store::load(ctx)?;
    let purpose = Purpose {
        operation: None,
        comment: comment.map_or_else(|| "passbridge: check a security key".into(), str::to_owned),
    };
    // Not remembered for the gate: the caller chose the comment the user saw.
    let v = approval::authenticate(ctx, &settings, &purpose)?;
    let name = settings.key(&v.handle).and_then(|k| k.name.clone());
    Ok(json!({
        "verified": true,
        "handle": v.handle,
        "name": name,
        "counter": v.counter,
        "verified_at": v.verified_at.map(rfc3339::format_utc),
    }))
}

/// Every operation a policy can guard, as the backends declare them.
fn operation_names(ctx: &Ctx) -> Vec<&'static str> {
    ctx.state.operations().iter().map(|o| o.name).collect()
}

fn policy_view(ctx: &Ctx, s: &Settings) -> Value {
    let ttl = s.policy.approval_ttl_seconds;
    json!({
        "require": s.policy.require,
        "approval_ttl_seconds": ttl,
        "operations": operation_names(ctx),
        "keys": s.keys.len(),
        "approval_remaining_seconds": super::state(ctx).approvals.remaining(ttl),
        "unknown": s.policy.unknown(&operation_names(ctx)),
    })
}

pub fn policy(ctx: &Ctx, _p: NoParams) -> Result<Value, Error> {
    Ok(policy_view(ctx, &store::load(ctx)?))
}

#[derive(Debug, Deserialize)]
pub struct PolicySet {
    /// Operation names; `None` when missing, so the error can list the names.
    #[serde(default)]
    pub require: Option<Vec<String>>,
    #[serde(default)]
    pub approval_ttl_seconds: Option<u64>,
}

pub fn policy_set(ctx: &Ctx, p: PolicySet) -> Result<Value, Error> {
    let Some(require) = p.require else {
        return Err(Error::InvalidParams(format!(
            "\"require\" is required: an array of operation names from {} (empty for none).",
            operation_names(ctx).join(", ")
        )));
    };
    let current = store::load(ctx)?;
    let ttl = p
        .approval_ttl_seconds
        .unwrap_or(current.policy.approval_ttl_seconds);
    let new = Policy::new(&require, ttl, &operation_names(ctx))
        .map_err(|e| Error::InvalidParams(e.to_string()))?;
    if !new.require.is_empty() && current.keys.is_empty() {
        return Err(Error::PolicyNeedsKey(
            "Register a security key before requiring approvals, or nothing could be unlocked."
                .into(),
        ));
    }
    let approved = if current.policy.is_weakened_by(&new) {
        approve_change(ctx, &current, "weaken the approval policy")?
    } else {
        false
    };
    let saved = store::update(ctx, |s| {
        if !new.require.is_empty() && s.keys.is_empty() {
            return Err(changed_meanwhile());
        }
        if s.guards_admin() && s.policy.is_weakened_by(&new) && !approved {
            return Err(changed_meanwhile());
        }
        s.policy = new;
        Ok(s.clone())
    })?;
    let mut view = policy_view(ctx, &saved);
    view["approval_used"] = json!(approved);
    Ok(view)
}
