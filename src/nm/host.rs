//! The host loop: one reader (this thread), one writer thread that alone owns the output,
//! and a worker thread per in-flight request so a slow request never blocks the others.

use super::caller::Caller;
use super::frame::{FrameError, MAX_OUTBOUND, read_frame, write_frame};
use crate::api::dispatch::{Dispatcher, MAX_IN_FLIGHT};
use crate::api::error::{ApiError, codes};
use crate::api::request::{error_reply, parse_request};
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long cancelled requests get to wind down before the host exits anyway.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How often, after EOF, the host checks whether the reader of its output went away.
const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Says whether the reader of our output has gone (the browser closed the port).
pub type PeerGone = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Clone)]
pub struct HostOptions {
    pub max_inbound: u32,
    pub caller: Caller,
    pub allowed: bool,
    /// Probe for a closed output pipe; without one, EOF waits for every request to finish.
    pub peer_gone: Option<PeerGone>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot continue reading messages: {0}")]
    Frame(#[from] FrameError),
    #[error("the browser closed our output: {0}")]
    OutputClosed(String),
}

/// Number of requests being worked on, with a wake-up when it drops to zero.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn count(&self) -> usize {
        *self.lock()
    }
    fn start(&self) {
        *self.lock() += 1;
    }
    fn finish(&self) {
        let mut n = self.lock();
        *n -= 1;
        if *n == 0 {
            self.idle.notify_all();
        }
    }
    /// Waits up to `d` for no request to be in flight; true when idle.
    fn wait_idle(&self, d: Duration) -> bool {
        let guard = self.lock();
        let (guard, _) = self
            .idle
            .wait_timeout_while(guard, d, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *guard == 0
    }
}

enum Outgoing {
    Reply(Value),
    Event(Value),
}

/// Serves requests from `input` until a clean EOF (Ok) or an unrecoverable stream error (Err).
pub fn serve<R: Read, W: Write + Send + 'static>(
    mut input: R,
    output: W,
    dispatcher: Arc<Dispatcher>,
    opts: HostOptions,
) -> Result<(), HostError> {
    let (tx, rx) = mpsc::channel::<Outgoing>();
    let output_broken = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(output, rx, output_broken.clone());
    let active = Arc::new(InFlight::default());
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    if !opts.allowed {
        log::warn!(
            "refusing requests from {}: not in the allowlist (run `passbridge install` with its id)",
            opts.caller.describe()
        );
    }

    let outcome = loop {
        if output_broken.load(Ordering::SeqCst) {
            break Err(HostError::OutputClosed("write failed".into()));
        }
        let body = match read_frame(&mut input, opts.max_inbound) {
            Ok(Some(b)) => b,
            Ok(None) => break Ok(()),
            Err(e) => {
                if let FrameError::TooLarge { len, max } = e {
                    let mut text =
                        format!("A message of {len} bytes exceeds the limit of {max} bytes.");
                    if opts.caller == Caller::Local && super::hint::length_looks_like_json_text(len)
                    {
                        text = format!("{}.", super::hint::JSON_TEXT_HINT);
                        log::error!("{}", super::hint::JSON_TEXT_HINT);
                    }
                    let err = ApiError::new(codes::TOO_LARGE, text);
                    let _ = tx.send(Outgoing::Reply(error_reply(&Value::Null, &err)));
                }
                break Err(e.into());
            }
        };
        // The frame may carry a password (vault.unlock): wiped when dropped.
        let body = zeroize::Zeroizing::new(body);
        let req = match parse_request(&body) {
            Ok(r) => r,
            Err((id, err)) => {
                let _ = tx.send(Outgoing::Reply(error_reply(&id, &err)));
                continue;
            }
        };
        if !opts.allowed {
            let err = ApiError::new(
                codes::FORBIDDEN_CALLER,
                format!(
                    "{} may not use passbridge. Re-run `passbridge install` with this extension's id.",
                    opts.caller.describe()
                ),
            );
            let _ = tx.send(Outgoing::Reply(error_reply(&req.id, &err)));
            continue;
        }
        workers.retain(|h| !h.is_finished());
        if active.count() >= MAX_IN_FLIGHT {
            let err = ApiError::new(
                codes::BUSY,
                format!("Too many requests in flight (at most {MAX_IN_FLIGHT}); retry later."),
            );
            let _ = tx.send(Outgoing::Reply(error_reply(&req.id, &err)));
            continue;
        }
        active.start();
        let (d, tx_w, active_w) = (dispatcher.clone(), tx.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("req-{}", req.action))
            .spawn(move || {
                let tx_e = tx_w.clone();
                let reply = d.handle(
                    req,
                    Arc::new(move |ev| {
                        let _ = tx_e.send(Outgoing::Event(ev));
                    }),
                );
                let _ = tx_w.send(Outgoing::Reply(reply));
                active_w.finish();
            });
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                active.finish();
                log::error!("cannot start a worker thread: {e}");
            }
        }
    };

    // End of input does not mean nobody listens: a one-shot sendNativeMessage caller may close
    // our stdin and still wait for the answer. So finish in-flight work, unless the stream broke
    // or the reader of our output is gone, in which case no answer can be delivered.
    let mut abandon = outcome.is_err();
    // Wakes as soon as the last request finishes; checks on the browser in between.
    while !abandon && !active.wait_idle(PEER_CHECK_INTERVAL) {
        if output_broken.load(Ordering::SeqCst)
            || opts.peer_gone.as_ref().is_some_and(|gone| gone())
        {
            log::info!(
                "the browser closed the connection; cancelling {} request(s)",
                active.count()
            );
            abandon = true;
        }
    }
    if abandon {
        dispatcher.cancel_all();
        active.wait_idle(EXIT_GRACE);
    }
    let idle = active.count() == 0;
    if idle {
        for h in workers {
            let _ = h.join();
        }
    }
    drop(tx);
    if idle {
        let _ = writer.join();
    }
    outcome
}

fn spawn_writer<W: Write + Send + 'static>(
    mut out: W,
    rx: mpsc::Receiver<Outgoing>,
    broken: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for msg in rx {
            let (value, is_reply) = match msg {
                Outgoing::Reply(v) => (v, true),
                Outgoing::Event(v) => (v, false),
            };
            let Some(bytes) = encode_bounded(&value, is_reply).map(zeroize::Zeroizing::new) else {
                continue;
            };
            // Replies may carry credentials (vault.get): wipe the tree once written.
            crate::api::request::scrub(&mut { value });
            if let Err(e) = write_frame(&mut out, &bytes) {
                log::warn!("stopping: cannot write to the browser: {e}");
                broken.store(true, Ordering::SeqCst);
                break;
            }
        }
    })
}

/// Serializes a message; a reply above 1 MiB becomes a `too_large` error for the same id,
/// an oversized event is dropped. Never yields a frame the browser would refuse.
pub fn encode_bounded(value: &Value, is_reply: bool) -> Option<Vec<u8>> {
    let bytes = serde_json::to_vec(value).ok()?;
    if bytes.len() <= MAX_OUTBOUND {
        return Some(bytes);
    }
    if !is_reply {
        log::warn!(
            "dropped a progress event of {} bytes (limit {MAX_OUTBOUND})",
            bytes.len()
        );
        return None;
    }
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let err = ApiError::new(
        codes::TOO_LARGE,
        format!(
            "The reply would be {} bytes, above the browser's limit of {MAX_OUTBOUND}. Ask for fewer items (offset/limit).",
            bytes.len()
        ),
    );
    serde_json::to_vec(&error_reply(&id, &err)).ok()
}
