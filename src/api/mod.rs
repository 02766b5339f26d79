//! The extension-facing protocol v1: requests, replies, errors, the action table and its context.

pub mod context;
pub mod core_actions;
pub mod dispatch;
pub mod error;
pub mod params;
pub mod request;
pub mod services;

pub use context::{Action, CallerOrigin, CancelToken, Ctx, EventSink};
pub use error::{ApiError, codes};
pub use request::{Request, parse_request};
