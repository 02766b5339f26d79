//! The `clarion.*` actions: params in, result object out. Policy decisions live in the flows;
//! this file only checks params and shapes results.

use super::approval::{self, Purpose, approve_change};
use super::register::{self, Callback, StartRequest};
use super::settings::{Policy, Settings};
use super::{codes, rfc3339, store};
use crate::api::params::{self, Page};
use crate::api::{Action, ApiError, Ctx};
use serde_json::{Value, json};

pub fn table() -> Vec<Action> {
    vec![
        Action {
            name: "clarion.register.start",
            handler: register_start,
            summary: "Start registering a security key: returns the Clarion /register URL to open.",
        },
        Action {
            name: "clarion.register.finish",
            handler: register_finish,
            summary: "Finish a registration with the state and data the Clarion page posted back.",
        },
        Action {
            name: "clarion.keys",
            handler: keys,
            summary: "List the registered security keys.",
        },
        Action {
            name: "clarion.remove",
            handler: remove,
            summary: "Remove a registered security key (needs an approval while a policy is active).",
        },
        Action {
            name: "clarion.authenticate",
            handler: authenticate,
            summary: "Ask for a verified touch of a registered key (progress event carries html_url).",
        },
        Action {
            name: "clarion.policy",
            handler: policy,
            summary: "Which operations need a Clarion approval, and for how long one counts.",
        },
        Action {
            name: "clarion.policy.set",
            handler: policy_set,
            summary: "Change the approval policy (weakening it needs a fresh approval).",
        },
    ]
}

fn register_start(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let origin = register::js_origin(params::opt_str(p, "origin")?, &ctx.state.config().allowed)?;
    let started = register::start(
        ctx,
        StartRequest {
            server: params::opt_str(p, "server")?.map(str::to_owned),
            name: params::opt_str(p, "name")?
                .unwrap_or(approval::CLIENT_NAME)
                .to_owned(),
            comment: params::opt_str(p, "comment")?.map(str::to_owned),
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

fn register_finish(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let key = register::finish(
        ctx,
        params::req_str(p, "state")?,
        params::req_str(p, "data")?,
    )?;
    Ok(json!({"key": key.summary()}))
}

fn keys(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let page = Page::from_params(p)?;
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
fn check_removable(s: &Settings, handle: &str) -> Result<(), ApiError> {
    if s.key(handle).is_none() {
        return Err(ApiError::new(
            codes::KEY_NOT_FOUND,
            "No registered key has this handle (see clarion.keys).",
        ));
    }
    if s.keys.len() == 1 && !s.policy.require.is_empty() {
        return Err(ApiError::new(
            codes::POLICY_NEEDS_KEY,
            format!(
                "This is the last key, and the policy still requires approvals for {}. Change the policy first (clarion.policy.set).",
                s.policy.require.join(", ")
            ),
        ));
    }
    Ok(())
}

fn remove(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let handle = params::req_str(p, "handle")?;
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

fn changed_meanwhile() -> ApiError {
    ApiError::new(
        codes::APPROVAL_REQUIRED,
        "The policy changed while this request ran and now needs an approval. Try again.",
    )
}

fn authenticate(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let comment = params::opt_str(p, "comment")?;
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

fn policy(ctx: &Ctx, _p: &Value) -> Result<Value, ApiError> {
    Ok(policy_view(ctx, &store::load(ctx)?))
}

fn policy_set(ctx: &Ctx, p: &Value) -> Result<Value, ApiError> {
    let require: Vec<String> = match p.get("require") {
        Some(v @ Value::Array(_)) => serde_json::from_value(v.clone()).map_err(|_| {
            ApiError::invalid_params("\"require\" must be an array of operation names.")
        })?,
        _ => {
            return Err(ApiError::invalid_params(format!(
                "\"require\" is required: an array of operation names from {} (empty for none).",
                operation_names(ctx).join(", ")
            )));
        }
    };
    let current = store::load(ctx)?;
    let ttl =
        params::opt_u64(p, "approval_ttl_seconds")?.unwrap_or(current.policy.approval_ttl_seconds);
    let new = Policy::new(&require, ttl, &operation_names(ctx))
        .map_err(|e| ApiError::invalid_params(e.to_string()))?;
    if !new.require.is_empty() && current.keys.is_empty() {
        return Err(ApiError::new(
            codes::POLICY_NEEDS_KEY,
            "Register a security key before requiring approvals, or nothing could be unlocked.",
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
