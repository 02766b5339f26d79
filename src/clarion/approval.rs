//! Getting a verified approval: create an authn, hand its page to the user (progress event with
//! `html_url`), poll about once a second until it is decided. Also the policy gate
//! ([`ClarionGate`]) and the memory of recent approvals (per process, shared through the agent).

use super::client::{Client, ClientError};
use super::settings::Settings;
use super::wire::{self, Outcome};
use super::{codes, store};
use crate::api::services::ApprovalGate;
use crate::api::{ApiError, Ctx};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    // An approval only ever comes from a poll: the user has not seen the page yet.
    wire::check_created(&authn).map_err(|why| {
        ApiError::new(
            codes::BAD_REPLY,
            format!("The Clarion server sent a reply passbridge cannot use: {why}. Nothing was approved."),
        )
    })?;
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
                // The stored counter must advance, or a replayed reply would pass next time.
                store::record_counter(ctx, &verified)?;
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
        ClientError::Insecure(_) => codes::INSECURE_SERVER,
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

/// Approvals the gate got, per operation (the person approved what the Clarion page named,
/// nothing else) and per policy they were given under, and a lock so concurrent requests of
/// this process share one touch. With the passbridge agent they are shared by every process of
/// the user ([`Approvals::share_with`]; docs/security.md says why that is safe).
#[derive(Default)]
pub struct Approvals {
    last: Mutex<HashMap<String, Instant>>,
    flight: Mutex<()>,
    share: Option<Share>,
}

struct Share {
    agent: Arc<crate::agent::client::Client>,
    /// Part of every name: another home's policy and keys are others.
    config_dir: PathBuf,
}

/// Unix milliseconds (an approval's age across processes; monotonic time is per process).
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Approvals {
    /// Shares approvals through `agent` (`None`: this process only).
    pub fn share_with(
        agent: Option<Arc<crate::agent::client::Client>>,
        config_dir: PathBuf,
    ) -> Self {
        Self {
            share: agent.map(|agent| Share { agent, config_dir }),
            ..Self::default()
        }
    }

    /// What an approval of `op` is bound to: the operation, the server, every registered
    /// key (handle and public key, not the counter that moves with each touch) and the policy.
    /// Any change to these makes earlier approvals count for nothing.
    fn name(&self, op: &str, settings: &Settings) -> String {
        let dir = self
            .share
            .as_ref()
            .map(|s| s.config_dir.as_os_str().as_encoded_bytes())
            .unwrap_or_default();
        let ttl = settings.policy.approval_ttl_seconds.to_string();
        let mut parts: Vec<&[u8]> = vec![
            dir,
            op.as_bytes(),
            settings.server.as_deref().unwrap_or_default().as_bytes(),
            ttl.as_bytes(),
        ];
        parts.extend(settings.policy.require.iter().map(|r| r.as_bytes()));
        parts.push(b"--keys--");
        for k in &settings.keys {
            parts.extend([k.handle.as_bytes(), k.public_key.as_bytes()]);
        }
        crate::agent::item_name("clarion", &parts)
    }

    /// Whether an approval of `op` under `settings` was given less than the policy's
    /// `approval_ttl_seconds` ago (never when that is 0): in this process, or with the agent in
    /// any process of this user. The agent never extends an approval: its age counts from the
    /// touch.
    pub fn still_valid(&self, op: &str, settings: &Settings) -> bool {
        let ttl = Duration::from_secs(settings.policy.approval_ttl_seconds);
        if ttl.is_zero() {
            return false;
        }
        let name = self.name(op, settings);
        let mut map = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let here = map.get(&name).is_some_and(|t| t.elapsed() < ttl);
        let Some(sh) = &self.share else { return here };
        match sh.agent.check(&name, false) {
            Ok(Some(_)) => match sh.agent.get(&name, false) {
                Ok(Some(at)) => {
                    let at = <[u8; 8]>::try_from(&at[..]).map(u64::from_be_bytes);
                    at.is_ok_and(|at| {
                        Duration::from_millis(wall_ms().saturating_sub(at)) < ttl && at <= wall_ms()
                    })
                }
                Ok(None) => false,
                Err(_) => here,
            },
            Ok(None) => {
                // Locked everywhere (`passbridge lock`) or expired: not here either.
                map.remove(&name);
                false
            }
            Err(crate::agent::AgentError::NotRunning) => here,
            Err(e) => {
                log::warn!("clarion: {e}; using this process's approvals only");
                here
            }
        }
    }

    /// Seconds the most recent approval of any operation given in this process still counts
    /// for under `ttl_seconds`.
    pub fn remaining(&self, ttl_seconds: u64) -> u64 {
        let map = self.last.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .map(|t| ttl_seconds.saturating_sub(t.elapsed().as_secs()))
            .max()
            .unwrap_or(0)
    }

    /// Remembers an approval of `op` just given under `settings`, here and in the agent.
    pub fn record(&self, op: &str, settings: &Settings) {
        let name = self.name(op, settings);
        let mut map = self.last.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(name.clone(), Instant::now());
        let ttl = Duration::from_secs(settings.policy.approval_ttl_seconds);
        if let Some(sh) = &self.share
            && !ttl.is_zero()
            && let Err(e) = sh.agent.put(&name, &wall_ms().to_be_bytes(), ttl)
        {
            log::warn!("clarion: {e}; the approval counts in this process only");
        }
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
    Ok(settings
        .policy
        .covers(op, ctx.state.operations())
        .then_some(settings))
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
        if approvals.still_valid(op, &settings) {
            return Ok(());
        }
        let purpose = ctx.state.operations().iter().find(|o| o.name == op);
        authenticate(
            ctx,
            &settings,
            &Purpose::operation(op, purpose.map(|o| o.purpose)),
        )?;
        approvals.record(op, &settings);
        Ok(())
    }

    fn is_required(&self, ctx: &Ctx, op: &str) -> bool {
        match covering(ctx, op) {
            Ok(None) => false,
            Ok(Some(settings)) => !super::state(ctx).approvals.still_valid(op, &settings),
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

    fn policy(ttl: u64) -> Settings {
        Settings {
            server: Some("http://127.0.0.1:1".into()),
            keys: vec![super::super::settings::StoredKey {
                kind: "webauthn".into(),
                handle: "h1".into(),
                name: None,
                counter: Some(1),
                public_key: "pk1".into(),
                registered_at: 0,
            }],
            policy: super::super::settings::Policy {
                require: vec!["vault_get".into()],
                approval_ttl_seconds: ttl,
            },
        }
    }

    #[test]
    fn memory_respects_ttl() {
        let a = Approvals::default();
        assert!(!a.still_valid("vault_get", &policy(60)));
        a.record("vault_get", &policy(60));
        assert!(a.still_valid("vault_get", &policy(60)));
        assert!(a.remaining(60) > 0 && a.remaining(60) <= 60);
        let zero = policy(0);
        a.record("vault_get", &zero);
        assert!(!a.still_valid("vault_get", &zero), "TTL 0 means every time");
    }

    #[test]
    fn an_approval_covers_only_its_operation() {
        let a = Approvals::default();
        a.record("vault_get", &policy(600));
        for op in crate::backends::operations() {
            let op = op.name;
            assert_eq!(a.still_valid(op, &policy(600)), op == "vault_get", "{op}");
        }
    }

    #[test]
    fn an_approval_is_bound_to_the_policy_and_keys_it_was_given_under() {
        let a = Approvals::default();
        let given = policy(600);
        a.record("vault_get", &given);
        assert!(a.still_valid("vault_get", &given));
        let mut counter_moved = given.clone();
        counter_moved.keys[0].counter = Some(9);
        assert!(
            a.still_valid("vault_get", &counter_moved),
            "a touch moves the counter"
        );
        let mut other_key = given.clone();
        other_key.keys[0].public_key = "pk2".into();
        let mut other_server = given.clone();
        other_server.server = Some("http://127.0.0.1:2".into());
        let mut wider = given.clone();
        wider.policy.require.push("vault_unlock".into());
        let mut longer = given.clone();
        longer.policy.approval_ttl_seconds = 3600;
        for changed in [other_key, other_server, wider, longer] {
            assert!(!a.still_valid("vault_get", &changed), "{changed:?}");
        }
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
