//! Registering a security key (spec A.6): `start` makes an RSA key pair and the `/register`
//! URL, `finish` decrypts what the page posted back and stores the key.

use super::approval::approve_change;
use super::callback::{self, RegistrationKey};
use super::client::{self, ClientError};
use super::error::Error;
use super::pending::{PENDING_TTL_SECONDS, Pending, PendingError, PendingStore};
use super::settings::StoredKey;
use super::{rfc3339, store};
use crate::api::{ApiError, Ctx};
use crate::config::Allowlist;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

const MAX_NAME_CHARS: usize = 128;
const MAX_STATE_LEN: usize = 128;

/// Where Clarion sends the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// `js:<origin>`: the page posts `{clarion_key: {state, name, data}}` to its opener, the
    /// extension page at this origin, which passes `state` and `data` to `clarion.register.finish`.
    Js(String),
    /// A URL the page POSTs the form to (the CLI's loopback server).
    Url(String),
}

impl Callback {
    fn param(&self) -> String {
        match self {
            Callback::Js(origin) => format!("js:{origin}"),
            Callback::Url(u) => u.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StartRequest {
    pub server: Option<String>,
    pub name: String,
    pub comment: Option<String>,
    pub callback: Callback,
}

#[derive(Debug, Clone)]
pub struct Started {
    pub url: String,
    pub state: String,
    pub server: String,
    pub callback: String,
    pub expires_at: i64,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidParams(message.into())
}

fn internal(message: impl Into<String>) -> Error {
    Error::Internal(message.into())
}

fn pending_error(e: PendingError) -> Error {
    Error::Storage(e.to_string())
}

fn callback_error(e: callback::CallbackError) -> Error {
    Error::RegistrationInvalid(e.to_string())
}

/// The origin for a `js:` callback. The extension should say it (Firefox's `moz-extension://`
/// origin is a per-profile UUID the host cannot know); without it, the only allowed Chrome
/// extension is assumed. Chrome origins must be in the allowlist.
pub fn js_origin(param: Option<&str>, allowed: &Allowlist) -> Result<String, ApiError> {
    let Some(origin) = param else {
        return match (
            allowed.chrome_origins.as_slice(),
            allowed.firefox_ids.is_empty(),
        ) {
            ([only], true) => Ok(only.trim_end_matches('/').to_owned()),
            _ => Err(ApiError::invalid_params(
                "\"origin\" is required: the extension's own origin (location.origin), which receives the result from the Clarion page.",
            )),
        };
    };
    let bad = |why: &str| {
        ApiError::invalid_params(format!(
            "\"origin\" {why}: give the extension's origin, like chrome-extension://<id> or moz-extension://<uuid>."
        ))
    };
    let origin = origin.strip_suffix('/').unwrap_or(origin);
    let (scheme, host) = origin
        .split_once("://")
        .ok_or_else(|| bad("is not an origin"))?;
    match scheme {
        "chrome-extension" => {
            if host.len() != 32 || !host.bytes().all(|b| (b'a'..=b'p').contains(&b)) {
                return Err(bad("is not a Chrome extension origin"));
            }
            let listed = allowed
                .chrome_origins
                .iter()
                .any(|o| o.trim_end_matches('/') == origin);
            if !listed {
                return Err(bad(&format!(
                    "is not an extension allowed to use passbridge (allowed: {})",
                    allowed.chrome_origins.join(", ")
                )));
            }
        }
        "moz-extension" => {
            let uuid_like = host.len() == 36
                && host.bytes().enumerate().all(|(i, b)| match i {
                    8 | 13 | 18 | 23 => b == b'-',
                    _ => b.is_ascii_hexdigit(),
                });
            if !uuid_like {
                return Err(bad("is not a Firefox extension origin"));
            }
        }
        _ => return Err(bad("has an unsupported scheme")),
    }
    Ok(origin.to_owned())
}

/// Starts a registration. Asks for a fresh approval first when the policy is active, so a
/// compromised extension cannot quietly add its own key.
pub fn start(ctx: &Ctx, req: StartRequest) -> Result<Started, Error> {
    super::check_length("name", Some(&req.name), MAX_NAME_CHARS)?;
    super::check_length("comment", req.comment.as_deref(), super::MAX_COMMENT_CHARS)?;
    let settings = store::load(ctx)?;
    let server_text = req
        .server
        .as_deref()
        .or(settings.server.as_deref())
        .ok_or_else(|| {
            invalid(
                "\"server\" is required: the Clarion server's URL, like https://clarion.example.",
            )
        })?;
    let base =
        client::server_url(server_text).map_err(|e: ClientError| invalid(format!("{e}.")))?;
    let server = base.to_string();
    check_same_server(settings.server.as_deref(), &server, settings.keys.len())?;
    let approved = approve_change(ctx, &settings, "register another security key")?;

    let key = RegistrationKey::generate().map_err(|e| internal(e.to_string()))?;
    let public_key = key
        .public_key_base64()
        .map_err(|e| internal(e.to_string()))?;
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| internal("no randomness available"))?;
    let state = URL_SAFE_NO_PAD.encode(raw);
    let callback = req.callback.param();

    let mut url = base
        .join("register")
        .map_err(|_| invalid("bad server URL"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("name", &req.name)
            .append_pair("callback", &callback)
            .append_pair("public_key", &public_key)
            .append_pair("state", &state);
        if let Some(c) = &req.comment {
            q.append_pair("comment", c);
        }
    }
    let now = rfc3339::now();
    let pkcs8 = key.to_pkcs8().map_err(|e| internal(e.to_string()))?;
    let private_key = Zeroizing::new(STANDARD.encode(pkcs8.as_slice()));
    PendingStore::new(&ctx.state.paths)
        .add(
            Pending {
                state: state.clone(),
                server: server.clone(),
                callback: callback.clone(),
                created_at: now,
                expires_at: now + PENDING_TTL_SECONDS,
                approved,
                private_key: private_key.to_string(),
            },
            now,
        )
        .map_err(pending_error)?;
    Ok(Started {
        url: url.to_string(),
        state,
        server,
        callback,
        expires_at: now + PENDING_TTL_SECONDS,
    })
}

/// Keys are bound to the server's host name (WebAuthn rp id): one server for all keys.
fn check_same_server(current: Option<&str>, new: &str, keys: usize) -> Result<(), Error> {
    match current {
        Some(cur) if keys > 0 && cur != new => Err(Error::ServerMismatch {
            current: cur.to_owned(),
            new: new.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Finishes a registration with the `state` and `data` the Clarion page produced.
pub fn finish(ctx: &Ctx, state: &str, data: &str) -> Result<StoredKey, Error> {
    if state.is_empty() || state.len() > MAX_STATE_LEN {
        return Err(Error::InvalidParams(
            "\"state\" is not a registration state.".into(),
        ));
    }
    if data.len() > callback::MAX_DATA_LEN {
        return Err(callback_error(callback::CallbackError::TooLarge));
    }
    let now = rfc3339::now();
    let pending_store = PendingStore::new(&ctx.state.paths);
    let pending = pending_store
        .find(state, now)
        .map_err(pending_error)?
        .ok_or(Error::RegistrationNotFound)?;
    let der = Zeroizing::new(
        STANDARD
            .decode(pending.private_key.as_bytes())
            .map_err(|_| callback_error(callback::CallbackError::BadPrivateKey))?,
    );
    let key = RegistrationKey::from_pkcs8(&der).map_err(callback_error)?;
    let reg = key.decrypt(data).map_err(callback_error)?;
    let stored = StoredKey {
        kind: reg.kind,
        handle: reg.handle,
        name: reg.name,
        counter: reg.counter,
        public_key: reg.public_key,
        registered_at: now,
    };
    let added = stored.clone();
    store::update(ctx, move |s| {
        check_same_server(s.server.as_deref(), &pending.server, s.keys.len())?;
        if s.guards_admin() && !pending.approved {
            return Err(Error::ApprovalRequired(
                "The policy started requiring approvals after this registration began. Start the registration again.".into(),
            ));
        }
        if s.key(&added.handle).is_some() {
            return Err(Error::KeyExists);
        }
        s.server = Some(pending.server.clone());
        s.keys.push(added);
        Ok(())
    })?;
    if let Err(e) = pending_store.remove(state, now) {
        // The key is stored; a leftover entry just expires.
        log::warn!("cannot clear the finished registration: {e}");
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(chrome: &[&str], firefox: &[&str]) -> Allowlist {
        Allowlist {
            chrome_origins: chrome.iter().map(|s| s.to_string()).collect(),
            firefox_ids: firefox.iter().map(|s| s.to_string()).collect(),
        }
    }

    const CHROME: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop";

    #[test]
    fn js_origins() {
        let only_chrome = allow(&[&format!("{CHROME}/")], &[]);
        assert_eq!(js_origin(None, &only_chrome).unwrap(), CHROME);
        assert_eq!(
            js_origin(Some(&format!("{CHROME}/")), &only_chrome).unwrap(),
            CHROME
        );
        let both = allow(&[&format!("{CHROME}/")], &["a@b"]);
        assert_eq!(js_origin(None, &both).unwrap_err().code, "invalid_params");
        let ff = "moz-extension://0123abcd-0123-4567-89ab-0123456789ab";
        assert_eq!(js_origin(Some(ff), &both).unwrap(), ff);
        for bad in [
            "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba",
            "chrome-extension://abc",
            "moz-extension://not-a-uuid",
            "moz-extension://0123abcd-0123-4567-89ab-0123456789ab/path",
            "https://evil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(
                js_origin(Some(bad), &both).unwrap_err().code,
                "invalid_params",
                "{bad}"
            );
        }
    }

    #[test]
    fn one_server_for_all_keys() {
        assert!(check_same_server(None, "http://a/", 0).is_ok());
        assert!(check_same_server(Some("http://a/"), "http://b/", 0).is_ok());
        assert!(check_same_server(Some("http://a/"), "http://a/", 2).is_ok());
        assert_eq!(
            check_same_server(Some("http://a/"), "http://b/", 1)
                .unwrap_err()
                .code(),
            super::super::codes::SERVER_MISMATCH
        );
    }
}
