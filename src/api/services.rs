//! The seam every backend may use: the [`ApprovalGate`] (Clarion registers the real one as an
//! `Arc<dyn ApprovalGate>` in [`Shared`](super::Shared); tests plug in fakes). Operation names
//! and their wording come from each backend's [`Backend::operations`](super::Backend::operations).

use super::context::Ctx;
use super::error::ApiError;

/// Something that can require a verified approval before an operation (Clarion).
pub trait ApprovalGate: Send + Sync {
    /// Returns once the policy for `operation` is satisfied, or the reason it is not.
    fn require(&self, ctx: &Ctx, operation: &str) -> Result<(), ApiError>;
    /// Whether [`require`](Self::require) would need a new approval right now: the policy
    /// covers `operation` and no still-valid approval is remembered. Asks nobody; true when
    /// the policy cannot be read (fail closed).
    fn is_required(&self, ctx: &Ctx, operation: &str) -> bool;
}

/// The gate when no approval backend is registered: nothing needs an approval.
pub struct OpenGate;

impl ApprovalGate for OpenGate {
    fn require(&self, _ctx: &Ctx, _operation: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn is_required(&self, _ctx: &Ctx, _operation: &str) -> bool {
        false
    }
}
