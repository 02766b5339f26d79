//! Linking the phone (spec §3) and the link's life: `link.start` → QR code, `link.complete` →
//! `link_app` to the phone and the app key's fingerprint, `link.confirm` → saved only if the
//! user says the fingerprints match; `unlink`; `status`.
//!
//! The steps may run in different processes (`sendNativeMessage` starts one per message), so the
//! pending link is kept in a 0600 file with a 15-minute lifetime (see [`store`]). The slow RSA-4096
//! key is made once per linking: restarting `link.start` (a new QR code, e.g. after a typo or a
//! failed scan) reuses the pending key, so the user waits for key generation only once.

use super::address::{self, Server};
use super::background::cancellable;
use super::client::wire_error;
use super::error::Error;
use super::ids;
use super::keys::random_bytes;
use super::operation;
use super::qr;
use super::rsa::RsaKeyPair;
use super::store::{self, LinkFile, LinkSecrets, PendingAnswer, PendingFile};
use super::transport::NetError;
use super::{b64, wire};
use crate::api::Ctx;
use crate::api::params::NoParams;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Bodies of link answers are a few KiB.
const LINK_REPLY_CAP: u64 = 64 * 1024;

pub(crate) fn storage(e: store::StoreError) -> Error {
    Error::Storage(e.to_string())
}

fn settings(ctx: &Ctx) -> super::Settings {
    super::settings(ctx)
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct StartParams {
    /// Make a new identity instead of relinking.
    #[serde(default)]
    pub fresh: Option<bool>,
}

/// The QR code to scan. Its payload carries the session key: wiped from memory when dropped.
#[derive(Serialize, Zeroize, ZeroizeOnDrop)]
pub struct StartReply {
    pub qr_payload: String,
    /// The QR code as an SVG `data:` URL.
    pub qr_svg: String,
    pub web_client_id: String,
    pub relink: bool,
    /// The vault a relink expects (null for a new identity).
    pub vault_id: Option<String>,
    pub key_bits: usize,
    pub expires_in_s: u64,
}

/// `anotherpass.link.start {fresh?: bool}` → [`StartReply`].
///
/// Relinking (a link or a kept identity exists, `fresh` not set) keeps the webClientId and sends
/// the vault id, so the clientKey stays the same. `fresh: true` makes a new identity.
pub fn start(ctx: &Ctx, p: StartParams) -> Result<StartReply, Error> {
    let fresh = p.fresh.unwrap_or(false);
    ctx.state.gate().require(ctx, operation::ANOTHERPASS_LINK)?;
    let paths = &ctx.state.paths;
    let identity = store::load_link_file(paths).map_err(storage)?;
    let (web_client_id, relink_vault_id) = match &identity {
        Some(f) if !fresh => (f.web_client_id.clone(), f.vault_id.clone()),
        _ => (
            ids::new_web_client_id().map_err(|e| Error::Internal(e.to_string()))?,
            None,
        ),
    };
    let reused = store::load_pending(paths)
        .map_err(storage)?
        .and_then(|p| b64::decode(&p.client_private_key).ok())
        .and_then(|der| RsaKeyPair::from_pkcs8(&der).ok());
    let client = match reused {
        Some(k) => k,
        None => {
            let bits = settings(ctx).rsa_bits();
            ctx.events
                .progress(json!({"stage": "generating_key", "bits": bits}));
            cancellable(&ctx.cancel, move || RsaKeyPair::generate(bits))?
                .map_err(|e| Error::Internal(format!("cannot create the link key: {e}")))?
        }
    };
    let session_key = random_bytes(16);
    let der = client
        .pkcs8()
        .map_err(|e| Error::Internal(format!("cannot export the link key: {e}")))?;
    let now = store::now_secs();
    let pending = PendingFile {
        version: store::CURRENT_VERSION,
        created_at: now,
        updated_at: now,
        web_client_id: web_client_id.clone(),
        relink_vault_id: relink_vault_id.clone(),
        session_key: b64::std_padded(&session_key),
        client_private_key: b64::std_padded(&der),
        answer: None,
    };
    {
        let _lock = store::lock(paths).map_err(storage)?;
        store::save_pending(paths, &pending).map_err(storage)?;
    }
    let payload = Zeroizing::new(ids::qr_payload(
        &web_client_id,
        &session_key,
        client.public().n(),
    ));
    let svg = qr::svg_data_url(&payload)
        .map_err(|e| Error::Internal(format!("cannot draw the QR code: {e}")))?;
    Ok(StartReply {
        qr_payload: payload.to_string(),
        qr_svg: svg,
        web_client_id,
        relink: relink_vault_id.is_some(),
        vault_id: relink_vault_id,
        key_bits: client.bits(),
        expires_in_s: store::PENDING_LIFETIME.as_secs(),
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CompleteParams {
    /// The phone's address as ANOTHERpass shows it (IP, host name or @handle).
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub port: Option<u64>,
}

fn link_target(ctx: &Ctx, p: &CompleteParams) -> Result<(Server, u16, String, String), Error> {
    let server = p
        .server
        .as_deref()
        .ok_or_else(|| Error::InvalidParams("\"server\" is required.".into()))?;
    let server = Server::parse(server).map_err(|e| Error::InvalidParams(e.to_string()))?;
    let port = match p.port {
        Some(port) => address::check_port(port).map_err(|e| Error::InvalidParams(e.to_string()))?,
        None => address::DEFAULT_PORT,
    };
    let (url, display) = settings(ctx).target(&server, port)?;
    Ok((server, port, url, display))
}

fn not_started() -> Error {
    Error::LinkNotStarted(
        "No linking is in progress (or it expired after 15 minutes). Start linking again and scan the new QR code.".into(),
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompleteReply {
    /// What the phone must show too.
    pub fingerprint: String,
    pub vault_id: String,
    pub server: String,
    pub port: u16,
    pub relink: bool,
}

/// `anotherpass.link.complete {server, port?}` → [`CompleteReply`].
///
/// Sends `link_app` (up to 3 minutes: the phone generates its keystore key meanwhile). The user
/// must then compare `fingerprint` with the one ANOTHERpass shows and call `link.confirm`.
pub fn complete(ctx: &Ctx, p: CompleteParams) -> Result<CompleteReply, Error> {
    let (server, port, url, display) = link_target(ctx, &p)?;
    let paths = &ctx.state.paths;
    let pending = store::load_pending(paths)
        .map_err(storage)?
        .ok_or_else(not_started)?;
    if pending.answer.is_some() {
        return Err(Error::LinkNotStarted(
            "This QR code has already been used for linking. Start linking again and scan the new QR code.".into(),
        ));
    }
    let session_key = b64::decode(&pending.session_key).map_err(|_| not_started())?;
    let der = b64::decode(&pending.client_private_key).map_err(|_| not_started())?;
    let client = RsaKeyPair::from_pkcs8(&der).map_err(|_| not_started())?;
    let payload = wire::link_payload(client.public(), pending.relink_vault_id.as_deref());
    let body = wire::seal_link_request(&session_key, payload.to_string().as_bytes())
        .map_err(|e| Error::Internal(format!("cannot encrypt the link request: {e}")))?;
    ctx.events.progress(json!({
        "stage": "linking",
        "server": display,
        "message": "Waiting for ANOTHERpass: it creates its key for this link now, which can take a minute.",
    }));
    let timeout = settings(ctx).link_timeout();
    let reply = {
        let (http, wcid) = (
            super::state(ctx).http.clone(),
            pending.web_client_id.clone(),
        );
        cancellable(&ctx.cancel, move || {
            http.post(&url, &wcid, &body, timeout, LINK_REPLY_CAP)
        })?
    };
    let reply = reply.map_err(|e| match e {
        NetError::Timeout => Error::Timeout(format!(
            "ANOTHERpass did not answer the link request within {} s. Keep the app on the \"link new device\" screen, then start linking again.",
            timeout.as_secs()
        )),
        NetError::TooLarge(_) => Error::BadReply("the link answer is too large".into()),
        NetError::Unreachable(detail) | NetError::Local(detail) => Error::PhoneUnreachable {
            addr: display.clone(),
            detail,
        },
    })?;
    let said = reply.said.clone();
    let answer = match reply.status {
        200 => {
            let pt =
                wire::open_link_response(&session_key, &client, &reply.body).map_err(wire_error)?;
            wire::parse_link_answer(&pt).map_err(wire_error)?
        }
        400 => {
            return Err(match said.as_deref() {
                Some("fingerprint mismatch") => Error::LinkFingerprint,
                Some("relink vault id mismatch") => Error::VaultMismatch {
                    expected: pending.relink_vault_id.clone().unwrap_or_default(),
                    got: "another vault".into(),
                },
                Some("Cannot parse message") => Error::LinkNotStarted(
                    "ANOTHERpass could not read the link request: it has already used this QR code, or scanned another one. Start linking again and scan the new QR code.".into(),
                ),
                _ => Error::RejectedRequest(said),
            });
        }
        401 => {
            return Err(Error::PhoneLocked {
                said,
                hint: "Unlock your phone and ANOTHERpass, open \"link new device\" in the app and scan the QR code, then try again.".into(),
            });
        }
        403 => return Err(Error::DeniedByUser(said)),
        404 => {
            return Err(Error::UnknownClient {
                said,
                hint:
                    "Scan the QR code in ANOTHERpass (\"link new device\") first, then try again."
                        .into(),
            });
        }
        500 => {
            return Err(Error::PhoneError {
                said,
                hint:
                    "Open \"link new device\" in ANOTHERpass and scan the QR code, then try again."
                        .into(),
            });
        }
        s => {
            return Err(Error::BadReply(format!(
                "it answered the link request with HTTP {s}"
            )));
        }
    };
    if let Some(expected) = &pending.relink_vault_id
        && *expected != answer.vault_id
    {
        return Err(Error::VaultMismatch {
            expected: expected.clone(),
            got: answer.vault_id.clone(),
        });
    }
    let fingerprint = answer.fingerprint();
    {
        let _lock = store::lock(paths).map_err(storage)?;
        // A newer link.start may have replaced this linking while we waited.
        let mut current = store::load_pending(paths)
            .map_err(storage)?
            .ok_or_else(not_started)?;
        if current.session_key != pending.session_key {
            return Err(Error::LinkNotStarted(
                "Linking was restarted meanwhile. Scan the newest QR code and try again.".into(),
            ));
        }
        current.updated_at = store::now_secs();
        current.answer = Some(PendingAnswer {
            server: server.as_str().to_owned(),
            port,
            app_n: answer.app_key.n().to_owned(),
            app_e: answer.app_key.e().to_owned(),
            base_key: b64::std_padded(&answer.base_key),
            vault_id: answer.vault_id.clone(),
        });
        store::save_pending(paths, &current).map_err(storage)?;
    }
    Ok(CompleteReply {
        fingerprint,
        vault_id: answer.vault_id.clone(),
        server: server.as_str().to_owned(),
        port,
        relink: pending.relink_vault_id.is_some(),
    })
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct ConfirmParams {
    /// Whether the phone shows the same fingerprint (required).
    #[serde(default)]
    pub matches: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ConfirmReply {
    /// The link is saved (`linked` is true).
    Linked {
        linked: bool,
        web_client_id: String,
        vault_id: String,
        server: String,
        port: u16,
        fingerprint: String,
        /// Where the link keys went: `keyring` or `file`.
        secrets: &'static str,
        /// Why the keys went to the file instead of the keyring.
        #[serde(skip_serializing_if = "Option::is_none")]
        warning: Option<String>,
    },
    /// The linking in progress was dropped; `linked` says whether a previous link is active.
    Discarded { linked: bool, discarded: bool },
}

/// `anotherpass.link.confirm {matches: bool}`.
///
/// `true` → saves the link: `{linked: true, web_client_id, vault_id, server, port, fingerprint,
/// secrets: "keyring" | "file", warning?}`; `warning` says why the keys went to the file.
/// `false` → drops the linking in progress and keeps any previous link:
/// `{linked: <previous link still active>, discarded: true}`.
pub fn confirm(ctx: &Ctx, p: ConfirmParams) -> Result<ConfirmReply, Error> {
    let matches = p
        .matches
        .ok_or_else(|| Error::InvalidParams("\"matches\" (true or false) is required.".into()))?;
    let paths = &ctx.state.paths;
    let _lock = store::lock(paths).map_err(storage)?;
    if !matches {
        let discarded = store::remove_pending(paths).map_err(storage)?;
        let linked = store::load_link_file(paths)
            .map_err(storage)?
            .is_some_and(|f| f.link.is_some());
        return Ok(ConfirmReply::Discarded { linked, discarded });
    }
    let pending = store::load_pending(paths)
        .map_err(storage)?
        .ok_or_else(not_started)?;
    let Some(answer) = &pending.answer else {
        return Err(Error::LinkNotStarted(
            "There is nothing to confirm yet: enter the phone's address first (link.complete)."
                .into(),
        ));
    };
    let keystore =
        crate::keystore::Keystore::open(paths).map_err(|e| Error::Storage(e.to_string()))?;
    let mut file = LinkFile {
        version: store::CURRENT_VERSION,
        web_client_id: pending.web_client_id.clone(),
        vault_id: Some(answer.vault_id.clone()),
        link: Some(LinkSecrets {
            server: answer.server.clone(),
            port: answer.port,
            client_private_key: pending.client_private_key.clone(),
            app_n: answer.app_n.clone(),
            app_e: answer.app_e.clone(),
            base_key: answer.base_key.clone(),
            linked_at: store::now_secs(),
            keyring: None,
        }),
    };
    let location = store::save_link(paths, &mut file, &keystore).map_err(storage)?;
    store::remove_pending(paths).map_err(storage)?;
    let warning = location.file_warning(&store::link_path(paths));
    // Never silent (issue 16): the caller shows this to the person.
    if let Some(w) = &warning {
        log::warn!("{w}");
    }
    Ok(ConfirmReply::Linked {
        linked: true,
        web_client_id: file.web_client_id.clone(),
        vault_id: answer.vault_id.clone(),
        server: answer.server.clone(),
        port: answer.port,
        fingerprint: ids::link_fingerprint(&answer.app_n),
        secrets: location.kind(),
        warning,
    })
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct UnlinkParams {
    /// Also forget this computer's identity.
    #[serde(default)]
    pub forget: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UnlinkReply {
    /// Whether there was a link to remove.
    pub unlinked: bool,
    pub identity_kept: bool,
}

/// `anotherpass.unlink {forget?: bool}` → [`UnlinkReply`].
///
/// Deletes the link keys. The webClientId and vault id are kept (so linking the same vault again
/// gives the same clientKey and the local vault stays readable) unless `forget: true`.
/// The phone is not told (the protocol has no message for it): delete the link in the app too.
pub fn unlink(ctx: &Ctx, p: UnlinkParams) -> Result<UnlinkReply, Error> {
    let forget = p.forget.unwrap_or(false);
    let reply = |unlinked, identity_kept| UnlinkReply {
        unlinked,
        identity_kept,
    };
    ctx.state.gate().require(ctx, operation::ANOTHERPASS_LINK)?;
    let paths = &ctx.state.paths;
    let _lock = store::lock(paths).map_err(storage)?;
    store::remove_pending(paths).map_err(storage)?;
    // A damaged file is removed too: unlinking is how the user gets out of that state.
    let file = match store::load_link_file(paths) {
        Ok(f) => f,
        Err(store::StoreError::Corrupt { .. }) => {
            store::remove_link_file(paths).map_err(storage)?;
            return Ok(reply(true, false));
        }
        Err(e) => return Err(storage(e)),
    };
    let Some(mut file) = file else {
        return Ok(reply(false, false));
    };
    let had_link = file.link.is_some();
    if let Some(id) = file.link.as_ref().and_then(|l| l.keyring.clone()) {
        store::forget_secrets(paths, &id);
    }
    if forget {
        store::remove_link_file(paths).map_err(storage)?;
        return Ok(reply(had_link, false));
    }
    file.link = None;
    store::save_link_file(paths, &file).map_err(storage)?;
    Ok(reply(had_link, true))
}

/// What `anotherpass.status` reports. Fields of a missing link are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusReply {
    pub linked: bool,
    /// This computer's identity, kept across unlinking unless forgotten.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_client_id: Option<String>,
    /// With an identity: the vault it belongs to, null before the first link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_key_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_bits: Option<usize>,
    /// Where the link keys are kept: `keyring` or `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<&'static str>,
    /// Linked, but the keys cannot be read now (a locked or missing keyring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The connection override of the settings, when one is set.
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub overridden: Option<Override>,
    /// A linking in progress (null when none).
    pub linking: Option<Linking>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Override {
    pub server: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Linking {
    /// `scan_qr`, then `confirm_fingerprint`.
    pub stage: &'static str,
    pub expires_in_s: u64,
    /// The fingerprint to compare, once the phone answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// `anotherpass.status` → [`StatusReply`].
pub fn status(ctx: &Ctx, _: NoParams) -> Result<StatusReply, Error> {
    let paths = &ctx.state.paths;
    let s = settings(ctx);
    let mut out = StatusReply::default();
    if let Some(f) = store::load_link_file(paths).map_err(storage)? {
        out.web_client_id = Some(f.web_client_id.clone());
        out.vault_id = Some(f.vault_id.clone());
        let link = match store::load_link(paths) {
            Ok(link) => link,
            // Linked, but the keyring is locked or gone: say so instead of failing the status.
            Err(e @ store::StoreError::Keyring(_)) => {
                out.linked = true;
                out.secrets = Some("keyring");
                out.problem = Some(e.to_string());
                None
            }
            Err(e) => return Err(storage(e)),
        };
        if let Some(link) = link {
            out.linked = true;
            // Read after load_link, which may just have moved them into the keyring.
            out.secrets = store::link_location(paths).map_err(storage)?;
            out.server = Some(link.server.as_str().to_owned());
            out.port = Some(link.port);
            out.linked_at = Some(link.linked_at);
            out.app_key_fingerprint = Some(ids::link_fingerprint(link.app_key.n()));
            out.key_bits = Some(link.client.bits());
        }
    }
    if s.server.is_some() || s.port.is_some() {
        out.overridden = Some(Override {
            server: s.server.clone(),
            port: s.port,
        });
    }
    if let Some(p) = store::load_pending(paths).map_err(storage)? {
        let now = store::now_secs();
        out.linking = Some(match &p.answer {
            None => Linking {
                stage: "scan_qr",
                expires_in_s: p.expires_in(now),
                fingerprint: None,
            },
            Some(a) => Linking {
                stage: "confirm_fingerprint",
                expires_in_s: p.expires_in(now),
                fingerprint: Some(ids::link_fingerprint(&a.app_n)),
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::{assert_names_field as names_field, parse};

    #[test]
    fn a_wrong_type_names_the_field() {
        names_field::<StartParams>(json!({"fresh": "yes"}), "fresh");
        names_field::<CompleteParams>(json!({"server": 5}), "server");
        names_field::<CompleteParams>(json!({"server": "10.0.0.5", "port": "8787"}), "port");
        names_field::<CompleteParams>(json!({"server": "10.0.0.5", "port": -1}), "port");
        names_field::<ConfirmParams>(json!({"matches": 1}), "matches");
        names_field::<UnlinkParams>(json!({"forget": []}), "forget");
        let p: ConfirmParams = parse(&json!({"matches": null, "x": 1})).unwrap();
        assert_eq!(p.matches, None);
    }

    #[test]
    fn status_leaves_out_what_there_is_not() {
        let v = serde_json::to_value(StatusReply::default()).unwrap();
        assert_eq!(v, json!({"linked": false, "linking": null}));
        let identity_only = StatusReply {
            web_client_id: Some("w".into()),
            vault_id: Some(None),
            ..Default::default()
        };
        let v = serde_json::to_value(identity_only).unwrap();
        assert_eq!(
            v,
            json!({"linked": false, "linking": null, "web_client_id": "w", "vault_id": null})
        );
    }
}
