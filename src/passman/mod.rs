//! Passman (Nextcloud).

pub mod sjcl;
