//! What the integration tests share: drivers for the built binary, the vault test kit, and
//! spec-faithful fakes of the services passbridge talks to.

pub mod anotherpass_sim;
pub mod ap_harness;
pub mod ap_phone;
pub mod browser;
pub mod clarion_fake;
pub mod host;
pub mod machine;
pub mod passman_fake;
pub mod passweaver_fake;
pub mod tls;
pub mod vault;
