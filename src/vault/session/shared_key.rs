//! One unlock for every process of this user: the data key goes to the passbridge agent when
//! the vault unlocks here, a process that finds its vault locked asks the agent first, and a
//! process that has it open asks on each use whether the agent still holds it (the agent's
//! sliding timeout and "lock" are then the same for every browser and the terminal).
//!
//! Without an agent (`agent: false`, Windows, a library user) every function here is a no-op
//! and each process keeps its own key, as before.

use super::{Loaded, Opened, State, Unlocked};
use crate::agent::AgentError;
use crate::agent::client::Client;
use crate::vault::error::VaultError;
use crate::vault::format::{self, FormatError};
use crate::vault::store::hex;
use std::sync::Arc;

fn name(vault_id: &[u8; 16]) -> String {
    format!("vault/{}", hex(vault_id))
}

impl State {
    /// Shares unlocks through the agent `client` (`None`: this process only).
    pub fn share_unlocks_with(mut self, client: Option<Arc<Client>>) -> Self {
        self.agent = client;
        self
    }

    /// After an unlock here, or a new data key made here (password change, new phone link,
    /// rekey): the other processes may use it too. They notice a new key id on disk, lock, and
    /// recall the new key from here.
    pub(super) fn offer(&self, v: &Loaded) {
        let Some(a) = &self.agent else { return };
        let put = a.put(&name(&v.header.vault_id), &v.dek[..], self.lock_timeout());
        if let Err(e) = put {
            log::warn!("vault: {e}; this process keeps its unlock to itself");
        }
    }

    /// Locked here: the vault as another process unlocked it, if the agent holds its key.
    pub(super) fn recall(&self, touch: bool) -> Option<Unlocked> {
        let a = self.agent.as_ref()?;
        let bytes = self.store.read_manifest().ok()??;
        let vault_id = format::parse_manifest(&bytes).ok()?.header.vault_id;
        let n = name(&vault_id);
        let secret = match a.get(&n, touch) {
            Ok(s) => s?,
            Err(e) => {
                log::warn!("vault: {e}");
                return None;
            }
        };
        if secret.len() != 32 {
            let _ = a.forget(&n);
            return None;
        }
        let mut dek = zeroize::Zeroizing::new([0u8; 32]);
        dek.copy_from_slice(&secret);
        let epoch = self.store.read_epoch();
        // The slots' public keys come from the header (format 2); a version 1 vault opened
        // this way cannot change its key here until opened with the phone or password.
        let loaded = self.load(|h| match h.vault_id == vault_id {
            true => Ok(Opened {
                dek,
                client_pub: None,
                password_pub: None,
            }),
            false => Err(FormatError::WrongKey),
        });
        match loaded {
            Ok(vault) => Some(Unlocked {
                vault,
                last_used: self.clock.now(),
                epoch,
            }),
            Err(e) => {
                // A key that no longer opens the vault (replaced, re-keyed) is useless to all,
                // unless the process that re-keyed has offered the new one meanwhile.
                log::warn!(
                    "vault: the agent's key does not open the vault ({}); dropping it",
                    e.code()
                );
                if matches!(a.get(&n, false), Ok(Some(now)) if now[..] == secret[..]) {
                    let _ = a.forget(&n);
                }
                None
            }
        }
    }

    /// Open here: whether it is still open for this user. The agent forgot it: locked from
    /// another process or timed out there. The agent is gone (killed): a new one gets the key.
    pub(super) fn still_shared(&self, u: &Unlocked, touch: bool) -> Result<(), VaultError> {
        let Some(a) = &self.agent else { return Ok(()) };
        match a.check(&name(&u.vault.header.vault_id), touch) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(VaultError::LockedBecause(
                "in another browser or terminal, or after the lock timeout",
            )),
            Err(AgentError::NotRunning) => {
                self.offer(&u.vault);
                Ok(())
            }
            Err(e) => {
                log::warn!("vault: {e}; keeping this process's unlock");
                Ok(())
            }
        }
    }

    /// Locked everywhere: the agent forgets the key too.
    pub(super) fn withdraw(&self) {
        let Some(a) = &self.agent else { return };
        let Ok(Some(bytes)) = self.store.read_manifest() else {
            return;
        };
        if let Ok(m) = format::parse_manifest(&bytes)
            && let Err(e) = a.forget(&name(&m.header.vault_id))
        {
            log::warn!("vault: {e}");
        }
    }
}
