//! The protocol output, shared by every thread that answers: each frame is encoded outside the
//! lock and written whole under it, so frames never interleave and no thread hand-off is needed
//! to reply. A writer blocked by a browser that stops reading blocks whoever answers next,
//! the reading thread included: that is the host's backpressure.
//!
//! [`Output::seal`] waits for the frame being written and then bars all others, so a process
//! that is going down (exit, or a panic with `panic = "abort"`) never leaves half a frame.

use super::frame::MAX_OUTBOUND;
use crate::api::error::{ApiError, codes};
use crate::api::request::error_reply;
use serde_json::Value;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use zeroize::Zeroizing;

pub struct Output {
    sink: Mutex<Box<dyn Write + Send>>,
    broken: AtomicBool,
}

impl Output {
    pub fn new(sink: Box<dyn Write + Send>) -> Arc<Self> {
        Arc::new(Self {
            sink: Mutex::new(sink),
            broken: AtomicBool::new(false),
        })
    }

    /// True once a write failed (the browser closed our output).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Writes a final reply; one above 1 MiB becomes `too_large` for the same id.
    pub fn reply(&self, value: &Value) {
        if let Some(frame) = encode(value, true) {
            self.write(&frame);
        }
    }

    /// Writes a progress event; an oversized one is dropped.
    pub fn event(&self, value: &Value) {
        if let Some(frame) = encode(value, false) {
            self.write(&frame);
        }
    }

    fn write(&self, frame: &[u8]) {
        if self.is_broken() {
            return;
        }
        let mut sink = self.lock();
        // One write_all of prefix + body: the pipe sees the frame in order, whole.
        if let Err(e) = sink.write_all(frame).and_then(|()| sink.flush()) {
            log::warn!("stopping: cannot write to the browser: {e}");
            self.broken.store(true, Ordering::SeqCst);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        // Poisoning cannot leave half a frame (nothing panics while the lock is held).
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until no frame is being written, then bars every later write for the rest of the
    /// process. Call right before the process ends.
    pub fn seal(&self) {
        self.broken.store(true, Ordering::SeqCst);
        std::mem::forget(self.lock());
    }
}

/// With `panic = "abort"` a panic ends the process at once: seal the output first so a frame
/// being written by another thread is finished and no new one starts. (With unwinding, panics
/// are caught per request and turned into `internal` replies instead.)
pub fn seal_on_abort(out: &Arc<Output>) {
    if !cfg!(panic = "abort") {
        return;
    }
    let out = out.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        out.seal();
    }));
}

/// Prefix + JSON in one buffer, serialized in place (no copy). A reply above 1 MiB becomes
/// a `too_large` error for the same id; an oversized event is dropped. Never yields a frame
/// the browser would refuse. The buffer may hold credentials (vault.get): wiped when dropped,
/// and so is a refused one (copies serde_json leaves behind when it grows the buffer are not).
pub fn encode(value: &Value, is_reply: bool) -> Option<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    buf.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut *buf, value).ok()?;
    let len = buf.len() - 4;
    if len <= MAX_OUTBOUND {
        buf[..4].copy_from_slice(&(len as u32).to_ne_bytes());
        return Some(buf);
    }
    if !is_reply {
        log::warn!("dropped a progress event of {len} bytes (limit {MAX_OUTBOUND})");
        return None;
    }
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let err = ApiError::new(
        codes::TOO_LARGE,
        format!(
            "The reply would be {len} bytes, above the browser's limit of {MAX_OUTBOUND}. Ask for fewer items (offset/limit)."
        ),
    );
    encode(&error_reply(&id, &err), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn encode_is_prefix_plus_json() {
        let f = encode(&json!({"id": 1}), true).unwrap();
        assert_eq!(&f[..4], &8u32.to_ne_bytes());
        assert_eq!(&f[4..], br#"{"id":1}"#);
    }

    #[test]
    fn oversized_reply_becomes_too_large_and_event_is_dropped() {
        let big = json!({"id": 7, "ok": true, "result": {"x": "a".repeat(MAX_OUTBOUND)}});
        let f = encode(&big, true).unwrap();
        let v: Value = serde_json::from_slice(&f[4..]).unwrap();
        assert_eq!(
            (v["id"].clone(), v["error"]["code"].clone()),
            (json!(7), json!("too_large"))
        );
        assert!(encode(&big, false).is_none());
    }

    #[test]
    fn nothing_is_written_after_seal() {
        let sink = Shared::default();
        let out = Output::new(Box::new(sink.clone()));
        out.reply(&json!({"id": 1}));
        out.seal();
        out.reply(&json!({"id": 2}));
        assert_eq!(sink.0.lock().unwrap().len(), 4 + 8);
    }
}
