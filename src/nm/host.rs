//! The host loop. This thread reads frames and answers cheap requests itself (`hello`, `cancel`,
//! `ping` without a delay); everything else goes to a pool of reused workers, so a slow
//! request (a phone waiting for approval) never blocks the others. Whoever finishes a request
//! writes its frame straight to the shared output: one hand-off at most per reply.
//!
//! Memory stays bounded whatever the browser does: when the workers and their queue are full,
//! or the browser stops reading our output, this thread stops reading input (backpressure)
//! instead of refusing requests or queueing replies.

use super::frame::{FrameError, read_frame};
use super::output::{self, Output};
use super::pool::Pool;
use crate::api::CallerOrigin;
use crate::api::dispatch::{Dispatcher, MAX_IN_FLIGHT};
use crate::api::error::{ApiError, codes};
use crate::api::request::{Request, error_reply, ok_reply, parse_request};
use serde_json::{Value, json};
use std::io::{BufReader, Read, Write};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// How long cancelled requests get to wind down before the host exits anyway.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How often, after EOF, the host checks whether the reader of its output went away.
const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Requests accepted beyond the running ones before reading stops. Enough that a `cancel`
/// behind a burst of slow requests is still read.
const QUEUE_CAP: usize = MAX_IN_FLIGHT;
/// Input is read in blocks, not one syscall per prefix and body.
const READ_BUFFER: usize = 64 * 1024;

/// Says whether the reader of our output has gone (the browser closed the port).
pub type PeerGone = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Clone)]
pub struct HostOptions {
    pub max_inbound: u32,
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

/// Serves requests from `input` until a clean EOF (Ok) or an unrecoverable stream error (Err).
pub fn serve<R: Read, W: Write + Send + 'static>(
    input: R,
    output: W,
    dispatcher: Arc<Dispatcher>,
    opts: HostOptions,
) -> Result<(), HostError> {
    let out = Output::new(Box::new(output));
    output::seal_on_abort(&out);
    let pool = {
        let (d, out) = (dispatcher.clone(), out.clone());
        Pool::new(MAX_IN_FLIGHT, QUEUE_CAP, move |req: Request| {
            run_request(&d, &out, req)
        })
    };
    let mut input = BufReader::with_capacity(READ_BUFFER, input);
    let outcome = loop {
        if out.is_broken() {
            break Err(HostError::OutputClosed("write failed".into()));
        }
        let body = match read_frame(&mut input, opts.max_inbound) {
            Ok(Some(b)) => b,
            Ok(None) => break Ok(()),
            Err(e) => {
                if let FrameError::TooLarge { len, max } = e {
                    let local = *dispatcher.caller() == CallerOrigin::Local;
                    out.reply(&too_large(len, max, local));
                }
                break Err(e.into());
            }
        };
        // The frame may carry a password (vault.unlock): wiped when dropped.
        let body = zeroize::Zeroizing::new(body);
        let req = match parse_request(&body) {
            Ok(r) => r,
            Err((id, err)) => {
                out.reply(&error_reply(&id, &err));
                continue;
            }
        };
        drop(body);
        match req.action.as_str() {
            "cancel" => cancel(&dispatcher, &pool, &out, req),
            "hello" => run_request(&dispatcher, &out, req),
            "ping" if req.params.get("delay_ms").is_none() => run_request(&dispatcher, &out, req),
            _ => pool.submit(req),
        }
    };

    // End of input does not mean nobody listens: a one-shot sendNativeMessage caller may close
    // our stdin and still wait for the answer. So finish pending work, unless the stream broke
    // or the reader of our output is gone, in which case no answer can be delivered.
    let mut abandon = outcome.is_err();
    while !abandon && !pool.wait_idle(PEER_CHECK_INTERVAL) {
        if out.is_broken() || opts.peer_gone.as_ref().is_some_and(|gone| gone()) {
            log::info!(
                "the browser closed the connection; cancelling {} request(s)",
                pool.pending()
            );
            abandon = true;
        }
    }
    if abandon {
        pool.clear_queue();
        dispatcher.cancel_all();
        pool.wait_idle(EXIT_GRACE);
    }
    pool.close();
    // Whatever still runs may not start a frame it cannot finish before the process ends.
    out.seal();
    outcome
}

/// Runs one request to its final reply on this thread. A panic anywhere in it becomes
/// `internal` for this request only.
fn run_request(dispatcher: &Dispatcher, out: &Arc<Output>, req: Request) {
    let id = req.id.clone();
    let events = out.clone();
    let emit = Arc::new(move |mut ev: Value| {
        events.event(&ev);
        crate::api::request::scrub(&mut ev);
    });
    let mut reply = std::panic::catch_unwind(AssertUnwindSafe(|| dispatcher.handle(req, emit)))
        .unwrap_or_else(|_| {
            log::error!("a request panicked outside its handler");
            error_reply(
                &id,
                &ApiError::internal("passbridge hit an internal error. Details are in its log."),
            )
        });
    out.reply(&reply);
    // Replies may carry credentials (vault.get): wipe the tree once written.
    crate::api::request::scrub(&mut reply);
}

/// `cancel` of a request still waiting in the queue answers it `cancelled` at once; a running
/// one is cancelled through the dispatcher.
fn cancel(dispatcher: &Dispatcher, pool: &Pool<Request>, out: &Arc<Output>, req: Request) {
    let target = req
        .params
        .get("target")
        .filter(|t| t.is_string() || t.is_number());
    if let Some(target) = target
        && let Some(queued) = pool.take_queued(|r| &r.id == target)
    {
        out.reply(&error_reply(&queued.id, &ApiError::cancelled()));
        out.reply(&ok_reply(&req.id, json!({"cancelled": true})));
        return;
    }
    run_request(dispatcher, out, req);
}

/// `local`: a person at a terminal, who may have piped JSON text where frames belong.
fn too_large(len: u64, max: u64, local: bool) -> Value {
    let mut text = format!("A message of {len} bytes exceeds the limit of {max} bytes.");
    if local && super::hint::length_looks_like_json_text(len) {
        text = format!("{}.", super::hint::JSON_TEXT_HINT);
        log::error!("{}", super::hint::JSON_TEXT_HINT);
    }
    error_reply(&Value::Null, &ApiError::new(codes::TOO_LARGE, text))
}

/// Answers every frame with `error` (for a caller that may not use the host), keeping the
/// request's id when it can be read, until EOF. Needs no state, no threads.
pub fn refuse_all<R: Read, W: Write + Send + 'static>(
    input: R,
    output: W,
    max_inbound: u32,
    error: &ApiError,
) -> Result<(), HostError> {
    let out = Output::new(Box::new(output));
    let mut input = BufReader::with_capacity(READ_BUFFER, input);
    let result = loop {
        if out.is_broken() {
            break Err(HostError::OutputClosed("write failed".into()));
        }
        match read_frame(&mut input, max_inbound) {
            Ok(Some(body)) => {
                // Refused or not, the frame may carry a password: wiped when dropped.
                let body = zeroize::Zeroizing::new(body);
                let id = match parse_request(&body) {
                    Ok(r) => r.id,
                    Err((id, _)) => id,
                };
                out.reply(&error_reply(&id, error));
            }
            Ok(None) => break Ok(()),
            Err(e) => {
                out.reply(&error_reply(&Value::Null, error));
                break Err(e.into());
            }
        }
    };
    out.seal();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Paths};
    use std::sync::Mutex;

    /// Collects output; panics on any frame containing `poison`.
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>, &'static str);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            assert!(
                !String::from_utf8_lossy(b).contains(self.1),
                "the sink refuses this frame"
            );
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn frames(mut bytes: &[u8]) -> Vec<Value> {
        let mut v = Vec::new();
        while let Some(body) = read_frame(&mut bytes, u32::MAX).unwrap() {
            v.push(serde_json::from_slice(&body).unwrap());
        }
        v
    }

    #[test]
    fn a_panic_while_answering_is_internal_for_that_request_only() {
        // Before: the panic killed the one writer thread and every later reply was lost.
        let tmp = tempfile::tempdir().unwrap();
        let state =
            Arc::new(crate::backends::start(Paths::under(tmp.path()), Config::default()).unwrap());
        let mut input = Vec::new();
        for req in [
            json!({"id": 1, "action": "ping", "params": {"delay_ms": 1}, "progress": true}),
            json!({"id": 2, "action": "ping"}),
        ] {
            input.extend(super::super::frame::encode_frame(req.to_string().as_bytes()).unwrap());
        }
        let sink = Sink(Arc::default(), "sleeping");
        let opts = HostOptions {
            max_inbound: 1 << 20,
            peer_gone: None,
        };
        serve(
            input.as_slice(),
            sink.clone(),
            Arc::new(Dispatcher::new(state)),
            opts,
        )
        .unwrap();
        let out = frames(&sink.0.lock().unwrap_or_else(|e| e.into_inner()));
        let reply = |id: i64| out.iter().find(|f| f["id"] == id).cloned().unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(reply(1)["error"]["code"], "internal");
        assert_eq!(reply(2)["ok"], true);
    }
}
