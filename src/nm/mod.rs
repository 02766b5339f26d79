//! Native messaging: the frame codec, caller identity, the host loop (its worker pool and
//! shared output) and stdout protection.

pub mod caller;
pub mod frame;
pub mod hint;
pub mod host;
pub mod output;
pub mod pool;
pub mod stdio;
