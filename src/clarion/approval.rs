//! Getting a verified approval: create an authn, hand its page to the user (progress event with
//! `html_url`), poll about once a second until it is decided. Also the policy gate
//! ([`ClarionGate`]) and the per-process memory of recent approvals.

use super::client::{Client, ClientError};
use super::settings::Settings;
use super::wire::{self, Outcome};
use super::{codes, store};
use crate::api::services::ApprovalGate;
use crate::api::{ApiError, Ctx};
use serde_json::json;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// The user name Clarion shows on its page.
pub const CLIENT_NAME: &str = "passbridge";
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Extra wait past the authn's lifetime, for clock steps and a slow last poll.
const EXPIRY_SLACK: Duration = Duration::from_secs(2);
/// We never wait longer than this, whatever the server's lifetime (Clarion's default is 300 s).
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// A verified approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub handle: String,
    pub counter: Option<u64>,
    pub verified_at: Option<i64>,
}

/// Why an approval is asked for: the comment Clarion shows and the progress event's fields.
#[derive(Debug, Clone)]
pub struct Purpose {
    pub operation: Option<String>,
    pub comment: String,
}

impl Purpose {
    /// `purpose`: the operation's wording from its backend ([`crate::api::Operation`]).
    pub fn operation(op: &str, purpose: Option<&str>) -> Self {
        let what = purpose.unwrap_or("perform a protected operation");
        Self {
            operation: Some(op.to_owned()),
            comment: format!("passbridge: {what}"),
        }
    }
    pub fn admin(what: &str) -> Self {
        Self {
            operation: None,
            comment: format!("passbridge: {what}"),
        }
    }
}

/// Runs one authentication with every registered key and waits for its outcome.
/// On success the key's new counter is stored; the approval is not remembered here.
pub fn authenticate(
    ctx: &Ctx,
    settings: &Settings,
    purpose: &Purpose,
) -> Result<Verified, ApiError> {
    let server = settings.server.as_deref().filter(|_| !settings.keys.is_empty()).ok_or_else(|| {
        ApiError::new(
            codes::NOT_CONFIGURED,
            "No security key is registered with Clarion. Register one first (clarion.register.start, or `passbridge clarion register`).",
        )
    })?;
    if !ctx.events.enabled() {
        // The page to open travels in a progress event: without one the user could never approve.
        return Err(ApiError::new(
            codes::APPROVAL_REQUIRED,
            "This needs a security-key approval, and the Clarion page to open is sent as a progress event. Send the request with \"progress\": true.",
        ));
    }
    ctx.cancel.check()?;
    let client = Client::new(server).map_err(client_error)?;
    let body = wire::authn_request(CLIENT_NAME, Some(&purpose.comment), &settings.keys);
    let mut authn = client.create(&body).map_err(client_error)?;
    let lifetime =
        Duration::from_secs((authn.expires_at - authn.created_at).max(1) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + lifetime + EXPIRY_SLACK;
    ctx.events.progress(json!({
        "stage": "approval_pending",
        "html_url": authn.html_url,
        "expires_at": authn.expires_at_text,
        "operation": purpose.operation,
        "comment": purpose.comment,
    }));
    log::info!("waiting for a Clarion approval ({})", purpose.comment);
    loop {
        match wire::judge(&authn, &settings.keys) {
            Outcome::Pending => {}
            Outcome::Verified { handle, counter } => {
                let verified = Verified {
                    handle,
                    counter,
                    verified_at: authn.verified_at,
                };
                store::record_counter(ctx, &verified);
                ctx.events.progress(json!({"stage": "approval_verified"}));
                return Ok(verified);
            }
            Outcome::Cancelled => {
                return Err(ApiError::new(
                    codes::APPROVAL_CANCELLED,
                    "The approval was cancelled on the Clarion page.",
                ));
            }
            Outcome::Expired { late } => return Err(expired(late)),
            Outcome::Denied(why) => {
                return Err(ApiError::new(
                    codes::APPROVAL_DENIED,
                    format!("The approval was refused: {why}."),
                ));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(expired(false));
        }
        ctx.cancel.sleep(POLL_INTERVAL.min(left))?;
        authn = client.poll(&authn.id).map_err(client_error)?;
    }
}

fn expired(late: bool) -> ApiError {
    let msg = if late {
        "The security key was confirmed only after the approval had expired. Try again and touch the key sooner."
    } else {
        "Nobody approved in time: the approval expired. Try again and touch the key on the Clarion page."
    };
    ApiError::new(codes::APPROVAL_EXPIRED, msg)
}

pub fn client_error(e: ClientError) -> ApiError {
    let code = match &e {
        ClientError::InvalidServer(_) => codes::NOT_CONFIGURED,
        ClientError::Unreachable { .. } => codes::UNREACHABLE,
        ClientError::Untrusted { .. } => codes::TLS_UNTRUSTED,
        ClientError::Status { .. } => codes::SERVER_ERROR,
        ClientError::NotFound => codes::APPROVAL_NOT_FOUND,
        ClientError::BadReply(_) => codes::BAD_REPLY,
    };
    let mut msg = e.to_string();
    if let Some(first) = msg.get(..1) {
        msg = first.to_uppercase() + &msg[1..];
    }
    if !msg.ends_with('.') {
        msg.push('.');
    }
    ApiError::new(code, msg)
}

/// Approvals the gate got in this process, and a lock so concurrent requests share one touch.
#[derive(Default)]
pub struct Approvals {
    last: Mutex<Option<Instant>>,
    flight: Mutex<()>,
}

impl Approvals {
    /// Whether an approval given at most `ttl_seconds` ago exists (never when the TTL is 0).
    pub fn still_valid(&self, ttl_seconds: u64) -> bool {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        ttl_seconds > 0 && last.is_some_and(|t| t.elapsed() < Duration::from_secs(ttl_seconds))
    }
    /// Seconds the last approval still counts for under `ttl_seconds`.
    pub fn remaining(&self, ttl_seconds: u64) -> u64 {
        let last = *self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.map_or(0, |t| ttl_seconds.saturating_sub(t.elapsed().as_secs()))
    }
    pub fn record(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }
    /// Waits (cancellably) until no other approval of this process is in progress.
    fn one_at_a_time(&self, ctx: &Ctx) -> Result<MutexGuard<'_, ()>, ApiError> {
        loop {
            match self.flight.try_lock() {
                Ok(g) => return Ok(g),
                Err(TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(TryLockError::WouldBlock) => ctx.cancel.sleep(Duration::from_millis(100))?,
            }
        }
    }
}

/// A fresh approval (remembered ones don't count) when the policy guards anything and a key
/// exists; used before changes that would weaken the protection. Returns whether one was given.
/// It is not remembered for the gate: only approvals the gate asked for count there.
pub fn approve_change(ctx: &Ctx, settings: &Settings, what: &str) -> Result<bool, ApiError> {
    if !settings.guards_admin() {
        return Ok(false);
    }
    let approvals = &super::state(ctx).approvals;
    let _one = approvals.one_at_a_time(ctx)?;
    authenticate(ctx, settings, &Purpose::admin(what))?;
    Ok(true)
}

/// The host's [`ApprovalGate`]: enforces the policy in the settings file.
pub struct ClarionGate;

/// The settings when the policy covers `op` (None: nothing to approve). Read from disk each
/// time: another process (CLI, another browser) may have changed them.
fn covering(ctx: &Ctx, op: &str) -> Result<Option<Settings>, ApiError> {
    let settings = store::load(ctx)?;
    Ok(settings.policy.covers(op).then_some(settings))
}

impl ApprovalGate for ClarionGate {
    fn require(&self, ctx: &Ctx, op: &str) -> Result<(), ApiError> {
        let Some(settings) = covering(ctx, op)? else {
            return Ok(());
        };
        if settings.keys.is_empty() || settings.server.is_none() {
            return Err(ApiError::new(
                codes::APPROVAL_REQUIRED,
                format!(
                    "The Clarion policy requires a security-key approval for {op}, but no key is registered. Register a key, or remove \"{op}\" from the \"clarion\" policy in config.json."
                ),
            ));
        }
        let approvals = &super::state(ctx).approvals;
        let _one = approvals.one_at_a_time(ctx)?;
        if approvals.still_valid(settings.policy.approval_ttl_seconds) {
            return Ok(());
        }
        let purpose = ctx.state.operations().iter().find(|o| o.name == op);
        authenticate(
            ctx,
            &settings,
            &Purpose::operation(op, purpose.map(|o| o.purpose)),
        )?;
        approvals.record();
        Ok(())
    }

    fn is_required(&self, ctx: &Ctx, op: &str) -> bool {
        match covering(ctx, op) {
            Ok(None) => false,
            Ok(Some(settings)) => !super::state(ctx)
                .approvals
                .still_valid(settings.policy.approval_ttl_seconds),
            Err(e) => {
                log::warn!(
                    "the Clarion policy cannot be read ({}); treating {op} as guarded",
                    e.code
                );
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_respects_ttl() {
        let a = Approvals::default();
        assert!(!a.still_valid(60));
        a.record();
        assert!(a.still_valid(60));
        assert!(!a.still_valid(0), "TTL 0 means every time");
        assert!(a.remaining(60) > 0 && a.remaining(60) <= 60);
    }

    #[test]
    fn purposes_name_the_operation() {
        let p = Purpose::operation("vault_get", Some("give a credential"));
        assert_eq!(p.comment, "passbridge: give a credential");
        assert_eq!(p.operation.as_deref(), Some("vault_get"));
        let p = Purpose::operation("unheard_of", None);
        assert!(p.comment.contains("protected operation"), "{}", p.comment);
    }
}
