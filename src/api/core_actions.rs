//! Host actions every backend shares: `ping` (echo, for tests and benchmarks) and `status`.

use super::context::{Action, Ctx};
use super::error::ApiError;
use serde_json::{Value, json};

/// The documented upper bound of `ping`'s `delay_ms`.
pub const MAX_PING_DELAY_MS: u64 = 60_000;

pub fn actions() -> Vec<Action> {
    vec![
        Action {
            name: "ping",
            handler: ping,
            summary: "Echo params back (for tests and benchmarks).",
        },
        Action {
            name: "status",
            handler: status,
            summary: "State of every backend.",
        },
    ]
}

fn ping(ctx: &Ctx, params: &Value) -> Result<Value, ApiError> {
    // Optional delay, so tests can observe concurrency and cancel on a slow request.
    if let Some(ms) = super::params::opt_u64(params, "delay_ms")? {
        if ms > MAX_PING_DELAY_MS {
            return Err(ApiError::invalid_params(format!(
                "\"delay_ms\" must be at most {MAX_PING_DELAY_MS} (got {ms})."
            )));
        }
        ctx.events
            .progress(json!({"stage": "sleeping", "delay_ms": ms}));
        ctx.cancel.sleep(std::time::Duration::from_millis(ms))?;
    }
    Ok(json!({"echo": params}))
}

fn status(ctx: &Ctx, _params: &Value) -> Result<Value, ApiError> {
    let mut out = json!({"version": env!("CARGO_PKG_VERSION")});
    // Where long-lived secrets are kept (issue 16: a fallback to the file is never silent).
    out["secret_store"] = match crate::keystore::Keystore::open(&ctx.state.paths) {
        Ok(ks) => ks.location().to_json(),
        Err(e) => json!({"kind": "error", "reason": e.to_string()}),
    };
    for b in ctx.state.backends() {
        out[b.name()] = b.summary(ctx);
    }
    Ok(out)
}
