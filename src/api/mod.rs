//! The extension-facing protocol v1 and the ground floor every backend builds on: requests,
//! replies, errors, the context, the [`Backend`] trait and the seams. No backend is named here.

pub mod backend;
pub mod context;
pub mod core_actions;
pub mod dispatch;
pub mod error;
pub mod params;
pub mod request;
pub mod services;

pub use backend::{Backend, ErrorCode, Operation};
pub use context::{Action, CancelToken, Ctx, EventSink, Registry, Shared};
pub use error::{ApiError, codes};
pub use request::{Request, parse_request};
