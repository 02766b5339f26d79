//! Native messaging: the frame codec, caller identity, the host loop and stdout protection.

pub mod caller;
pub mod frame;
pub mod hint;
pub mod host;
pub mod stdio;
