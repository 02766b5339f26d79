//! What the integration tests share: drivers for the built binary, the vault test kit, and
//! spec-faithful fakes of the services passbridge talks to.

// Also the engine of examples/anotherpass-sim.rs: the owner commands only the example uses
// (deny, cancel, save, ...) are dead code in this binary.
#[allow(dead_code)]
pub mod anotherpass_sim;
pub mod ap_harness;
pub mod ap_phone;
pub mod browser;
pub mod clarion_fake;
pub mod host;
pub mod loopback;
pub mod machine;
pub mod node;
pub mod passman_fake;
pub mod passweaver_fake;
pub mod tls;
pub mod vault;
