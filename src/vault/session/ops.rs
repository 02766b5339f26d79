//! What the vault does for its callers: status, unlock and lock, save and delete, get, list
//! and search, sync, remembered choices, the local password and reset.

use super::memory::{Draft, Opened};
use super::{State, wall_ms};
use crate::anotherpass::seam::{ClientKey, Credential};
use crate::api::params::Page;
use crate::vault::crypto;
use crate::vault::error::VaultError;
use crate::vault::format::{self, Entry, FormatError, Kdf};
use crate::vault::search::{Indexed, Match, Query};
use serde::Serialize;
use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;

/// Longest uid accepted from the phone (real ones are 36-character UUIDs).
const MAX_UID_BYTES: usize = 256;

/// What `vault.status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub exists: bool,
    pub locked: bool,
    pub password_set: bool,
    pub entries: Option<u64>,
    pub ttl_remaining_seconds: Option<u64>,
}

/// A credential without its secrets, for lists and search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub uid: String,
    pub readable_uid: String,
    pub name: String,
    pub user: String,
    pub website: String,
    pub has_otp: bool,
    pub created_at: u64,
    pub updated_at: u64,
}

impl Summary {
    fn of(e: &Indexed) -> Self {
        Self {
            uid: e.uid().to_owned(),
            readable_uid: e.readable_uid().to_owned(),
            name: e.name().to_owned(),
            user: e.user().to_owned(),
            website: e.website().to_owned(),
            has_otp: !e.otp().is_empty(),
            created_at: e.created_ms(),
            updated_at: e.updated_ms(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    #[serde(flatten)]
    pub summary: Summary,
    #[serde(rename = "match")]
    pub matched: &'static str,
    /// The user chose this credential for this site last time.
    pub remembered: bool,
}

/// One page of a longer list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub offset: usize,
    pub limit: usize,
    pub total: usize,
    pub next_offset: Option<usize>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SaveReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Credentials without a uid or with oversized fields (not stored).
    pub skipped: usize,
}

/// What a sync did. Sync never deletes: the phone's bulk answer leaves out credentials it
/// hides ("veiled") as well as deleted ones, so an absent uid proves nothing.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub updated: usize,
    pub unchanged: usize,
    /// Stored uids the phone did not return (sorted); they stay in the vault.
    pub missing: Vec<String>,
}

/// Checks a credential from the phone before it is stored.
fn storable(c: &Credential) -> bool {
    let uid_ok = c
        .uid
        .as_deref()
        .is_some_and(|u| !u.is_empty() && u.len() <= MAX_UID_BYTES);
    uid_ok
        && format::text_fields(c)
            .iter()
            .all(|f| f.len() <= format::MAX_FIELD_BYTES)
}

/// Inserts or updates credentials from the phone by uid.
fn put_all(d: &mut Draft<'_>, credentials: &[Credential], now: u64) -> SaveReport {
    let mut r = SaveReport::default();
    for c in credentials {
        if !storable(c) {
            r.skipped += 1;
            continue;
        }
        let created_ms = match d.get(c.uid.as_deref().unwrap_or_default()) {
            Some(old) if old.stores(c) => {
                r.unchanged += 1;
                continue;
            }
            Some(old) => {
                r.updated += 1;
                old.created_ms()
            }
            None => {
                r.added += 1;
                now
            }
        };
        d.put(Entry {
            credential: c.clone(),
            created_ms,
            updated_ms: now,
        });
    }
    r
}

fn by_name(a: &&Indexed, b: &&Indexed) -> CmpOrdering {
    a.name_lc()
        .cmp(b.name_lc())
        .then_with(|| a.uid().cmp(b.uid()))
}

impl State {
    // ---- operations ----

    /// Counts as use: restarts the timeout.
    pub fn touch(&self) -> Result<(), VaultError> {
        self.with(|_| ())
    }

    /// The vault's state; does not count as use (the timeout keeps running).
    pub fn status(&self) -> Result<Status, VaultError> {
        {
            let mut slot = self.slot();
            match self.live(&mut slot, false) {
                Ok(u) => {
                    let left = (u.last_used + self.lock_timeout()).saturating_sub(self.clock.now());
                    return Ok(Status {
                        exists: true,
                        locked: false,
                        password_set: u.vault.header.password.is_some(),
                        entries: Some(u.vault.count()),
                        ttl_remaining_seconds: Some(left.as_secs()),
                    });
                }
                Err(VaultError::Locked | VaultError::LockedBecause(_) | VaultError::Missing) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(bytes) = self.store.read_manifest()? else {
            return Ok(Status {
                exists: false,
                locked: true,
                password_set: false,
                entries: None,
                ttl_remaining_seconds: None,
            });
        };
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        Ok(Status {
            exists: true,
            locked: true,
            password_set: sealed.header.password.is_some(),
            entries: None,
            ttl_remaining_seconds: None,
        })
    }

    /// Unlocks with the ANOTHERpass clientKey. With `create`, a missing vault is created.
    /// When the vault is already open and `key` is a new one (the phone was linked again),
    /// the vault gets a new data key sealed for the new link (and the local password).
    pub fn unlock_with_key(&self, key: &ClientKey, create: bool) -> Result<(), VaultError> {
        {
            let mut slot = self.slot();
            match self.live(&mut slot, true) {
                Ok(u) => {
                    return match format::unwrap_client(&u.vault.header, key.bytes()) {
                        Ok((_, public)) => {
                            u.vault.client_pub = Some(public);
                            Ok(())
                        }
                        Err(FormatError::WrongKey) => {
                            let public =
                                format::client_public(&u.vault.header.vault_id, key.bytes())
                                    .map_err(|e| self.fmt(e))?;
                            self.commit_shared(u, |d| {
                                d.client = Some(public);
                                d.rekey = true;
                                Ok(())
                            })?;
                            log::info!("vault re-keyed for a new ANOTHERpass link");
                            Ok(())
                        }
                        Err(e) => Err(self.fmt(e)),
                    };
                }
                Err(VaultError::Locked | VaultError::LockedBecause(_) | VaultError::Missing) => {}
                Err(e) => return Err(e),
            }
        }
        let epoch = self.store.read_epoch();
        let vault = self.open_with_key(key, create)?;
        self.install(vault, epoch);
        Ok(())
    }

    /// Unlocks with the local password (no phone needed). A no-op when already unlocked.
    pub fn unlock_with_password(&self, password: &str) -> Result<(), VaultError> {
        {
            let mut slot = self.slot();
            if self.live(&mut slot, true).is_ok() {
                return Ok(());
            }
        }
        let epoch = self.store.read_epoch();
        let vault = self.load(|h| {
            let (dek, public) = format::unwrap_password(h, password)?;
            Ok(Opened {
                dek,
                client_pub: None,
                password_pub: Some(public),
            })
        })?;
        self.install(vault, epoch);
        Ok(())
    }

    /// Locks in this process: the keys and every decrypted credential are zeroized.
    pub fn lock(&self) {
        self.slot().open = None;
    }

    /// Locks here and tells every other process with this vault open to lock on its next use.
    pub fn lock_everywhere(&self) -> Result<(), VaultError> {
        self.lock();
        self.withdraw();
        let epoch = crypto::random::<16>()?;
        self.store.bump_epoch(epoch)
    }

    /// Stores credentials from the phone (insert or update by uid).
    pub fn save(&self, credentials: &[Credential]) -> Result<SaveReport, VaultError> {
        let now = wall_ms();
        self.change(|d| Ok(put_all(d, credentials, now)))
    }

    /// Stores credentials from the phone with its `key` (creating a missing vault), leaving
    /// this process locked: for when unlocking needs an approval nobody has given yet.
    pub fn save_with_key(
        &self,
        key: &ClientKey,
        credentials: &[Credential],
    ) -> Result<SaveReport, VaultError> {
        let now = wall_ms();
        self.change_with_key(key, |d| Ok(put_all(d, credentials, now)))
    }

    /// Whether this process holds the vault unlocked (after the timeout and lock checks).
    pub fn is_unlocked(&self) -> bool {
        self.live(&mut self.slot(), false).is_ok()
    }

    pub fn delete(&self, uid: &str) -> Result<(), VaultError> {
        self.change(|d| match d.remove(uid) {
            true => Ok(()),
            false => Err(VaultError::NotFound(uid.to_owned())),
        })
    }

    /// The full credential, password included.
    pub fn get(&self, uid: &str) -> Result<Entry, VaultError> {
        self.with(|v| v.get(uid).map(Indexed::to_entry))?
            .ok_or_else(|| VaultError::NotFound(uid.to_owned()))
    }

    /// The uid a person means: a uid, or the short `readableUid` the phone shows in every
    /// result (`p5psp5kc`, any case). Two credentials with that readable uid: an error that
    /// lists them.
    pub fn resolve_uid(&self, id: &str) -> Result<String, VaultError> {
        self.with(|v| {
            if v.get(id).is_some() {
                return Ok(id.to_owned());
            }
            let mut found: Vec<&Indexed> = v
                .entries()
                .filter(|x| {
                    let r = x.readable_uid();
                    !r.is_empty() && r.eq_ignore_ascii_case(id)
                })
                .collect();
            found.sort_unstable_by(by_name);
            match found.as_slice() {
                [] => Err(VaultError::NotFound(id.to_owned())),
                [one] => Ok(one.uid().to_owned()),
                many => {
                    let listed: Vec<String> = many
                        .iter()
                        .map(|x| format!("{} ({})", x.uid(), x.name()))
                        .collect();
                    Err(VaultError::Invalid(format!(
                        "{} credentials have the readable uid {id:?}: {}. Give the full uid of the one you mean.",
                        many.len(),
                        listed.join(", ")
                    )))
                }
            }
        })?
    }

    /// Entries whose name or website contains `text` (any case), by name: for a word that is
    /// not a web address (`github`), typed in a terminal.
    pub fn find_text(&self, text: &str, page: Page) -> Result<Listing<Summary>, VaultError> {
        let needle = text.to_lowercase();
        self.with(|v| {
            let mut hits: Vec<&Indexed> = v
                .entries()
                .filter(|x| {
                    x.name_lc().contains(&needle) || x.website().to_lowercase().contains(&needle)
                })
                .collect();
            hits.sort_unstable_by(by_name);
            let total = hits.len();
            let start = page.offset.min(total);
            let end = page.offset.saturating_add(page.limit).min(total);
            Listing {
                items: hits[start..end].iter().map(|x| Summary::of(x)).collect(),
                offset: page.offset,
                limit: page.limit,
                total,
                next_offset: (end < total).then_some(end),
            }
        })
    }

    /// Every stored uid (for a sync with the phone).
    pub fn uids(&self) -> Result<Vec<String>, VaultError> {
        self.with(|v| v.entries().map(|x| x.uid().to_owned()).collect())
    }

    /// All entries by name, one page at a time.
    pub fn list(&self, page: Page) -> Result<Listing<Summary>, VaultError> {
        self.with(|v| {
            let mut all: Vec<&Indexed> = v.entries().collect();
            let total = all.len();
            let end = page.offset.saturating_add(page.limit).min(total);
            // Only the first `end` need sorting: select them in linear time first.
            if end < total {
                all.select_nth_unstable_by(end, by_name);
                all.truncate(end);
            }
            all.sort_unstable_by(by_name);
            let items = all[page.offset.min(end)..end]
                .iter()
                .map(|x| Summary::of(x))
                .collect();
            Listing {
                items,
                offset: page.offset,
                limit: page.limit,
                total,
                next_offset: (end < total).then_some(end),
            }
        })
    }

    /// Entries that fit the page `query` describes, best match first.
    pub fn search(&self, query: &Query, page: Page) -> Result<Listing<Hit>, VaultError> {
        self.with(|v| {
            let chosen = v.body.remembered.get(query.site.domain());
            let mut found = Vec::new();
            for seg in &v.segments {
                seg.matches(query, &mut found);
            }
            let mut hits: Vec<(Match, bool, &Indexed)> = found
                .into_iter()
                .map(|(m, x)| (m, chosen.is_some_and(|c| c == x.uid()), x))
                .collect();
            hits.sort_unstable_by(|a, b| {
                (a.0, !a.1)
                    .cmp(&(b.0, !b.1))
                    .then_with(|| by_name(&a.2, &b.2))
            });
            let total = hits.len();
            let start = page.offset.min(total);
            let end = page.offset.saturating_add(page.limit).min(total);
            Listing {
                items: hits[start..end]
                    .iter()
                    .map(|(m, r, x)| Hit {
                        summary: Summary::of(x),
                        matched: m.as_str(),
                        remembered: *r,
                    })
                    .collect(),
                offset: page.offset,
                limit: page.limit,
                total,
                next_offset: (end < total).then_some(end),
            }
        })
    }

    /// Entries whose name, user or website contains `text_lc` (lowercase), by name: the best
    /// `limit` and how many there are.
    pub fn search_text(
        &self,
        text_lc: &str,
        limit: usize,
    ) -> Result<(Vec<Summary>, usize), VaultError> {
        self.with(|v| {
            let mut found: Vec<&Indexed> = v
                .entries()
                .filter(|x| {
                    x.name_lc().contains(text_lc)
                        || x.user().to_lowercase().contains(text_lc)
                        || x.website().to_lowercase().contains(text_lc)
                })
                .collect();
            let total = found.len();
            found.sort_unstable_by(by_name);
            let items = found.iter().take(limit).map(|x| Summary::of(x)).collect();
            (items, total)
        })
    }

    /// Applies what the phone returned for `asked`: changed entries are updated; entries the
    /// phone did not return are reported in `missing` and kept. Entries added or deleted
    /// meanwhile are left as they are.
    pub fn apply_sync(
        &self,
        asked: &[String],
        returned: &[Credential],
    ) -> Result<SyncReport, VaultError> {
        let now = wall_ms();
        let fresh: HashMap<&str, &Credential> = returned
            .iter()
            .filter(|c| storable(c))
            .filter_map(|c| Some((c.uid.as_deref()?, c)))
            .collect();
        let mut r = self.change(|d| {
            let mut r = SyncReport::default();
            for uid in asked {
                let Some(old) = d.get(uid) else { continue };
                match fresh.get(uid.as_str()) {
                    Some(c) if old.stores(c) => r.unchanged += 1,
                    Some(c) => {
                        let created_ms = old.created_ms();
                        d.put(Entry {
                            credential: (*c).clone(),
                            created_ms,
                            updated_ms: now,
                        });
                        r.updated += 1;
                    }
                    None => r.missing.push(uid.clone()),
                }
            }
            Ok(r)
        })?;
        r.missing.sort_unstable();
        Ok(r)
    }

    /// Remembers the user's choice for a site (keyed by registrable domain).
    pub fn remember(&self, site: &str, uid: &str) -> Result<(), VaultError> {
        self.change(|d| {
            if d.base.body.remembered.get(site).map(String::as_str) != Some(uid) {
                d.remembered_mut().insert(site.to_owned(), uid.to_owned());
            }
            Ok(())
        })
    }

    pub fn remembered(&self, site: &str) -> Result<Option<String>, VaultError> {
        self.with(|v| v.body.remembered.get(site).cloned())
    }

    /// Whether `password` is the vault's local password, read from the header on disk (another
    /// process may have changed it). Opens nothing and changes nothing.
    pub fn check_password(&self, password: &str) -> Result<(), VaultError> {
        let bytes = self.store.read_manifest()?.ok_or(VaultError::Missing)?;
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        format::unwrap_password(&sealed.header, password)
            .map(drop)
            .map_err(|e| self.fmt(e))
    }

    /// Seals the data key under a local password too, so the vault opens without the phone.
    /// Replacing a password also replaces the data key: the old password and an old copy of
    /// the manifest together open nothing written afterwards.
    pub fn set_password(&self, password: &str, kdf: Kdf) -> Result<(), VaultError> {
        let vault_id = self.with(|v| v.header.vault_id)?;
        // The key derivation runs outside the lock: other requests need not wait for it.
        let public = format::password_public(password, kdf).map_err(|e| self.fmt(e))?;
        self.change(|d| {
            if d.base.header.vault_id != vault_id {
                return Err(VaultError::LockedBecause(
                    "because the vault on disk was replaced",
                ));
            }
            d.rekey = d.base.header.password.is_some();
            d.password = Some(Some(public));
            Ok(())
        })
    }

    /// Removes the local password, and with it the data key it opened.
    pub fn clear_password(&self) -> Result<(), VaultError> {
        self.change(|d| {
            if d.base.header.password.is_some() {
                d.password = Some(None);
                d.rekey = true;
            }
            Ok(())
        })
    }

    /// Replaces the data key and re-seals every credential with the new one (for a person
    /// who suspects a leak). Returns how many credentials were re-sealed.
    pub fn rekey(&self) -> Result<u64, VaultError> {
        self.change(|d| {
            d.rekey = true;
            Ok(d.base.count())
        })
    }

    /// Accepts the vault on disk as it is, although it is older than one seen before (a
    /// deliberate restore from a backup). Locks this process; the next unlock adopts it.
    /// Whether there was a mark to forget.
    pub fn accept_restore(&self) -> Result<bool, VaultError> {
        self.lock();
        let Some(bytes) = self.store.read_manifest()? else {
            return Err(VaultError::Missing);
        };
        let sealed = format::parse_manifest(&bytes).map_err(|e| self.fmt(e))?;
        let forgot = self.seen.forget(&sealed.header.vault_id)?;
        log::warn!("the vault on disk was accepted as restored; its rollback mark was reset");
        Ok(forgot)
    }

    /// Locks and moves the vault directory aside (never deletes it); returns where it went.
    pub fn reset(&self) -> Result<Option<std::path::PathBuf>, VaultError> {
        self.lock();
        self.withdraw();
        if !self.store.dir().exists() {
            return Ok(None);
        }
        let _guard = self.store.lock_exclusive()?;
        let secs = wall_ms() / 1000;
        self.store.retire(secs).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field limit is 64 KiB (a literal here, so a slip in the constant fails), inclusive.
    #[test]
    fn storable_limits() {
        let c = |uid: &str, password: String| {
            let mut c = Credential::default();
            c.uid = Some(uid.into());
            c.password = password;
            c
        };
        assert!(storable(&c("u", "p".repeat(64 * 1024))));
        assert!(!storable(&c("u", "p".repeat(64 * 1024 + 1))));
        assert!(storable(&c(&"u".repeat(MAX_UID_BYTES), String::new())));
        assert!(!storable(&c(&"u".repeat(MAX_UID_BYTES + 1), String::new())));
        assert!(!storable(&c("", String::new())));
        assert!(!storable(&Credential::default()));
    }
}
