//! Running one command against the linked phone the way the app expects (spec §1.7): a new
//! envelope (new one-time key) per poll with the same requestIdentifier; keep polling on
//! 202/401/409/204/other codes and network errors, stop on 200/400/403/404/500.
//!
//! The app has one request slot for all its linked clients (spec §4.2, §10.5): an identifier it
//! has seen keeps every other identifier at 409 until the app answers it with 200 or 403. So
//! whenever the client gives up on a request for any other reason (cancel, timeout, a stop code,
//! an answer it cannot read or decrypt, a local error), it sends one `cancel_request` with the
//! same identifier, and the slot is freed at once instead of blocking the next request.

use super::Settings;
use super::background::cancellable;
use super::error::Error;
use super::ids;
use super::store::Link;
use super::transport::{Http, NetError};
use super::wire::{self, Command, CommandAnswer};
use crate::api::Ctx;
use serde_json::json;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The extension caps the cancel request at 1 s; so do we.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(1);

/// Where and how to reach the linked phone.
pub struct Connection<'a> {
    pub link: &'a Link,
    pub url: String,
    /// For messages: what the user typed (a handle stays a handle) and the port.
    pub display: String,
}

impl<'a> Connection<'a> {
    /// The stored address, unless the settings override it (tests, port forwarding).
    pub fn new(link: &'a Link, settings: &Settings) -> Result<Self, Error> {
        let (url, display) = settings.target(&link.server, link.port)?;
        Ok(Self { link, url, display })
    }
}

/// Timing of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollOptions {
    pub interval: Duration,
    pub timeout: Duration,
    pub http_timeout: Duration,
}

/// Why the client is still waiting; reported in progress events and the timeout message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    AwaitingApproval,
    AwaitingSelection,
    PhoneLocked,
    AppLocked,
    AppNotInForeground,
    OtherRequestInProgress,
    PhoneUnreachable(String),
    UnexpectedStatus(u16),
}

impl Waiting {
    pub fn from_status(status: u16, said: Option<&str>) -> Self {
        match (status, said) {
            (202, Some("no user selection")) => Waiting::AwaitingSelection,
            (202, _) => Waiting::AwaitingApproval,
            (401, Some("device locked")) => Waiting::PhoneLocked,
            (401, Some("not in foreground")) => Waiting::AppNotInForeground,
            (401, _) => Waiting::AppLocked,
            (409, _) => Waiting::OtherRequestInProgress,
            (s, _) => Waiting::UnexpectedStatus(s),
        }
    }

    /// Stable reason code for progress events.
    pub fn reason(&self) -> &'static str {
        match self {
            Waiting::AwaitingApproval => "awaiting_approval",
            Waiting::AwaitingSelection => "awaiting_selection",
            Waiting::PhoneLocked => "phone_locked",
            Waiting::AppLocked => "app_locked",
            Waiting::AppNotInForeground => "app_not_in_foreground",
            Waiting::OtherRequestInProgress => "other_request_in_progress",
            Waiting::PhoneUnreachable(_) => "phone_unreachable",
            Waiting::UnexpectedStatus(_) => "unexpected_status",
        }
    }

    /// What the person should do now.
    pub fn message(&self, fingerprint: &str, display: &str) -> String {
        match self {
            Waiting::AwaitingApproval => format!(
                "Approve the request in ANOTHERpass on your phone. It must show the fingerprint {fingerprint}."
            ),
            Waiting::AwaitingSelection => {
                "Choose the credential in ANOTHERpass on your phone.".into()
            }
            Waiting::PhoneLocked => "Unlock your phone.".into(),
            Waiting::AppLocked => "Unlock ANOTHERpass on your phone (log in to the vault).".into(),
            Waiting::AppNotInForeground => {
                "Open ANOTHERpass on your phone and show its credential list; the app answers only while it is in front.".into()
            }
            Waiting::OtherRequestInProgress => {
                "ANOTHERpass is busy with another request (from this or another device). Finish or cancel that one on the phone.".into()
            }
            Waiting::PhoneUnreachable(d) => format!(
                "Cannot reach the phone at {display} ({d}). Is it on the same network, with ANOTHERpass open and its server switched on?"
            ),
            Waiting::UnexpectedStatus(s) => {
                format!("The phone answered HTTP {s}; still waiting.")
            }
        }
    }
}

/// A successful command: the decrypted answer and the fingerprint the user compared.
pub struct Outcome {
    pub answer: CommandAnswer,
    pub fingerprint: String,
}

/// Sends `command` and polls until the phone answers, refuses, the time runs out or the request
/// is cancelled. Withdraws the request on the phone unless the phone ended it itself.
pub fn run(
    ctx: &Ctx,
    http: &Http,
    conn: &Connection,
    command: &Command,
    opts: &PollOptions,
) -> Result<Outcome, Error> {
    ctx.cancel.check()?;
    let rid = ids::new_request_identifier();
    let mut slot = Slot::Untouched;
    let result = poll(ctx, http, conn, command, opts, &rid, &mut slot);
    if slot == Slot::MayHold {
        send_cancel(http, conn, &rid);
    }
    result
}

/// What the app's request slot may hold for this request's identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Nothing was sent.
    Untouched,
    /// The identifier was sent: the app may hold it until it answers 200 or 403, or is told to
    /// cancel.
    MayHold,
    /// The app ended the request: an answer that decrypted (only the app can seal it), or a 403.
    Released,
}

fn poll(
    ctx: &Ctx,
    http: &Http,
    conn: &Connection,
    command: &Command,
    opts: &PollOptions,
    rid: &str,
    slot: &mut Slot,
) -> Result<Outcome, Error> {
    let link = conn.link;
    let fingerprint =
        ids::request_fingerprint(&link.base_key, rid).expect("own identifier is base64");
    let payload = Zeroizing::new(command.payload(rid).to_string().into_bytes());
    ctx.events.progress(json!({
        "stage": "requesting",
        "command": command.name(),
        "fingerprint": fingerprint,
        "server": conn.display,
    }));
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut last: Option<Waiting> = None;
    // The last state the phone itself reported (a status it answered with).
    let mut answered: Option<Waiting> = None;
    let mut attempt = 0u32;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(timeout_error(
                last,
                answered,
                opts.timeout,
                &fingerprint,
                &conn.display,
            ));
        }
        let sealed = wire::seal_request(&link.base_key, &link.app_key, &payload)
            .map_err(|e| Error::Internal(format!("cannot encrypt the request: {e}")))?;
        attempt += 1;
        *slot = Slot::MayHold;
        let per_call = opts.http_timeout.min(deadline - now);
        let result = {
            let (http, url, wcid, body, cap) = (
                http.clone(),
                conn.url.clone(),
                link.web_client_id.clone(),
                sealed.body.clone(),
                command.reply_cap(),
            );
            cancellable(&ctx.cancel, move || {
                http.post(&url, &wcid, &body, per_call, cap)
            })?
        };
        let (waiting, status) = match result {
            Ok(reply) => match reply.status {
                200 => {
                    let plaintext = wire::open_response(
                        &link.base_key,
                        &link.client,
                        &*sealed.tk_rq,
                        &reply.body,
                    )
                    .map_err(wire_error)?;
                    *slot = Slot::Released;
                    let answer = wire::parse_command_answer(&plaintext).map_err(wire_error)?;
                    return Ok(Outcome {
                        answer,
                        fingerprint,
                    });
                }
                403 => {
                    *slot = Slot::Released;
                    return Err(Error::DeniedByUser(reply.said));
                }
                400 => return Err(Error::RejectedRequest(reply.said)),
                404 => {
                    return Err(Error::UnknownClient {
                        said: reply.said,
                        hint: "The link was probably deleted in ANOTHERpass: link the phone again."
                            .into(),
                    });
                }
                500 => {
                    return Err(Error::PhoneError {
                        said: reply.said,
                        hint: "Check that ANOTHERpass is open and unlocked, then try again.".into(),
                    });
                }
                s => (Waiting::from_status(s, reply.said.as_deref()), Some(s)),
            },
            Err(NetError::TooLarge(cap)) => {
                return Err(Error::BadReply(format!(
                    "the answer is larger than the {} MiB limit",
                    cap >> 20
                )));
            }
            Err(NetError::Timeout) => (
                Waiting::PhoneUnreachable("no answer within the per-request timeout".into()),
                None,
            ),
            Err(NetError::Unreachable(d) | NetError::Local(d)) => {
                (Waiting::PhoneUnreachable(d), None)
            }
        };
        ctx.events.progress(json!({
            "stage": "waiting",
            "reason": waiting.reason(),
            "message": waiting.message(&fingerprint, &conn.display),
            "fingerprint": fingerprint,
            "http_status": status,
            "attempt": attempt,
            "elapsed_ms": start.elapsed().as_millis() as u64,
            "timeout_ms": opts.timeout.as_millis() as u64,
        }));
        if status.is_some() {
            answered = Some(waiting.clone());
        }
        last = Some(waiting);
        let now = Instant::now();
        if now < deadline {
            ctx.cancel.sleep(opts.interval.min(deadline - now))?;
        }
    }
}

pub(crate) fn wire_error(e: wire::WireError) -> Error {
    match e {
        wire::WireError::Malformed(m) => Error::BadReply(m),
        wire::WireError::Decrypt(m) => Error::DecryptFailed(m),
    }
}

/// Tells the app to drop the request (best effort, short timeout; the answer is ignored, as in
/// the extension).
fn send_cancel(http: &Http, conn: &Connection, rid: &str) {
    let payload = Command::CancelRequest.payload(rid).to_string();
    let link = conn.link;
    match wire::seal_request(&link.base_key, &link.app_key, payload.as_bytes()) {
        Ok(sealed) => {
            let r = http.post(
                &conn.url,
                &link.web_client_id,
                &sealed.body,
                CANCEL_TIMEOUT,
                wire::SMALL_REPLY_CAP,
            );
            log::debug!("cancel_request answered {:?}", r.map(|r| r.status));
        }
        Err(e) => log::warn!("cannot encrypt cancel_request: {e}"),
    }
}

/// At the deadline: `timeout` when the phone answered at all (it is there, nobody decided),
/// `phone_unreachable` only when it never did.
fn timeout_error(
    last: Option<Waiting>,
    answered: Option<Waiting>,
    timeout: Duration,
    fingerprint: &str,
    display: &str,
) -> Error {
    let within = human_duration(timeout);
    match (answered, last) {
        (Some(w), _) => Error::Timeout(format!(
            "No answer from the phone within {within}. Last state: {} You can raise the time limit in the settings.",
            w.message(fingerprint, display)
        )),
        (None, Some(Waiting::PhoneUnreachable(d))) => Error::PhoneUnreachable {
            addr: display.to_owned(),
            detail: format!("{d}, for {within}"),
        },
        (None, _) => Error::PhoneUnreachable {
            addr: display.to_owned(),
            detail: format!("no answer within {within}"),
        },
    }
}

/// "100 ms", "1.5 s", "30 s": never "0 s" for a limit under a second.
fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_reasons_follow_the_app_texts() {
        let table = [
            (202, Some("no user acknowledge"), "awaiting_approval"),
            (202, Some("pending request"), "awaiting_approval"),
            (202, Some("no user selection"), "awaiting_selection"),
            (202, None, "awaiting_approval"),
            (401, Some("device locked"), "phone_locked"),
            (401, Some("Locked"), "app_locked"),
            (401, Some("no active session"), "app_locked"),
            (401, Some("not in foreground"), "app_not_in_foreground"),
            (
                409,
                Some("waiting for concurrent request"),
                "other_request_in_progress",
            ),
            (204, None, "unexpected_status"),
            (302, None, "unexpected_status"),
        ];
        for (status, said, reason) in table {
            assert_eq!(
                Waiting::from_status(status, said).reason(),
                reason,
                "{status} {said:?}"
            );
        }
        assert!(
            Waiting::AwaitingApproval
                .message("GJ-PPS-RN", "x")
                .contains("GJ-PPS-RN")
        );
    }

    #[test]
    fn a_phone_that_answered_but_never_decided_is_a_timeout() {
        // Before: the last poll, cut short by the deadline, timed out, and the whole request
        // came back as phone_unreachable although the phone had been answering all along.
        let e = timeout_error(
            Some(Waiting::PhoneUnreachable(
                "no answer within the per-request timeout".into(),
            )),
            Some(Waiting::AwaitingApproval),
            Duration::from_millis(100),
            "GJ-PPS-RN",
            "192.0.2.1:8787",
        );
        match e {
            Error::Timeout(m) => {
                assert!(m.contains("within 100 ms"), "{m}");
                assert!(m.contains("GJ-PPS-RN"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let never = timeout_error(
            Some(Waiting::PhoneUnreachable("refused".into())),
            None,
            Duration::from_secs(30),
            "f",
            "d",
        );
        assert!(
            matches!(never, Error::PhoneUnreachable { ref detail, .. } if detail == "refused, for 30 s"),
            "{never:?}"
        );
    }

    #[test]
    fn durations_read_right_below_a_second() {
        assert_eq!(human_duration(Duration::from_millis(100)), "100 ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_duration(Duration::from_secs(60)), "60 s");
    }
}
