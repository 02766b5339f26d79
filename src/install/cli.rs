//! `passbridge install | uninstall | doctor`.

#[derive(Debug, clap::Args)]
pub struct InstallArgs {}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("not built yet")]
    NotBuilt,
}

pub fn install(_args: InstallArgs) -> Result<(), InstallError> {
    Err(InstallError::NotBuilt)
}

pub fn uninstall(_args: UninstallArgs) -> Result<(), InstallError> {
    Err(InstallError::NotBuilt)
}

pub fn doctor(_args: DoctorArgs) -> Result<(), InstallError> {
    Err(InstallError::NotBuilt)
}
