//! Reading and changing this backend's settings in `config.json`. Always from disk, under the
//! config lock: the policy is security-relevant and other processes may change it.

use super::approval::Verified;
use super::error::Error;
use super::settings::Settings;
use crate::api::Ctx;
use crate::config::{Config, ConfigError};

/// The section of `config.json` this backend owns.
pub const SECTION: &str = "clarion";

fn storage(e: ConfigError) -> Error {
    Error::Storage(e.to_string())
}

/// The current settings on disk.
pub fn load(ctx: &Ctx) -> Result<Settings, Error> {
    Config::load(&ctx.state.paths)
        .and_then(|c| c.section::<Settings>(SECTION))
        .map_err(storage)
}

/// Locked read-modify-write of the settings; `f` may refuse the change with an error, and
/// then nothing is written. The process's copy of the config is refreshed after a write.
pub fn update<T>(ctx: &Ctx, f: impl FnOnce(&mut Settings) -> Result<T, Error>) -> Result<T, Error> {
    let paths = &ctx.state.paths;
    // Config::update always writes; run `f` on a copy first so a refusal writes nothing.
    let mut refused = None;
    let (cfg, out) = Config::update(paths, |c| {
        let mut s = match c.section::<Settings>(SECTION) {
            Ok(s) => s,
            Err(e) => {
                refused = Some(storage(e));
                return None;
            }
        };
        match f(&mut s) {
            Ok(v) => {
                c.set_section(SECTION, &s);
                Some(v)
            }
            Err(e) => {
                refused = Some(e);
                None
            }
        }
    })
    .map_err(storage)?;
    if let Some(e) = refused {
        return Err(e);
    }
    *ctx.state.config.write().unwrap_or_else(|e| e.into_inner()) = cfg;
    Ok(out.expect("set when not refused"))
}

/// Stores the counter a verification reported. A failure is logged, not fatal: Clarion
/// checks counters against what we send, and a stale one only weakens clone detection.
pub fn record_counter(ctx: &Ctx, v: &Verified) {
    let Some(counter) = v.counter else { return };
    let r = update(ctx, |s| {
        if let Some(k) = s.keys.iter_mut().find(|k| k.handle == v.handle) {
            k.counter = Some(k.counter.map_or(counter, |c| c.max(counter)));
        }
        Ok(())
    });
    if let Err(e) = r {
        log::warn!("cannot store the key's new signature counter: {e}");
    }
}
