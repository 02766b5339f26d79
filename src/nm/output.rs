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

/// Prefix + JSON in one buffer. A reply above 1 MiB becomes a `too_large` error for the same id;
/// an oversized event is dropped. Never yields a frame the browser would refuse.
///
/// The buffer may hold credentials (vault.get), so it is sized first (a serialization into a
/// counter that stops past the limit) and allocated once: no outgrown copy is left in freed
/// memory. It is wiped when dropped, after the write.
pub fn encode(value: &Value, is_reply: bool) -> Option<Zeroizing<Vec<u8>>> {
    let len = match serialized_len(value, MAX_OUTBOUND) {
        Some(len) => len,
        None if !is_reply => {
            log::warn!("dropped a progress event above {MAX_OUTBOUND} bytes");
            return None;
        }
        None => {
            let id = value.get("id").cloned().unwrap_or(Value::Null);
            let err = ApiError::new(
                codes::TOO_LARGE,
                format!(
                    "The reply would be more than the browser's limit of {MAX_OUTBOUND} bytes. Ask for fewer items (offset/limit)."
                ),
            );
            return encode(&error_reply(&id, &err), true);
        }
    };
    let mut buf = Zeroizing::new(Vec::with_capacity(4 + len));
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    serde_json::to_writer(&mut *buf, value).ok()?;
    debug_assert_eq!(buf.len(), 4 + len);
    Some(buf)
}

/// The length of `value`'s JSON, or `None` above `max` (counting stops there).
fn serialized_len(value: &Value, max: usize) -> Option<usize> {
    struct Counter {
        n: usize,
        max: usize,
    }
    impl Write for Counter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.n += b.len();
            if self.n > self.max {
                return Err(std::io::Error::other("too large"));
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter { n: 0, max };
    serde_json::to_writer(&mut c, value).ok()?;
    Some(c.n)
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
    fn the_frame_buffer_is_allocated_once_at_its_exact_size() {
        // A growing buffer would leave copies of a credential in freed memory.
        let v =
            json!({"id": 3, "ok": true, "result": {"password": "p".repeat(10_000), "n": [1, 2]}});
        let f = encode(&v, true).unwrap();
        assert_eq!(f.capacity(), f.len());
        assert_eq!(serde_json::from_slice::<Value>(&f[4..]).unwrap(), v);
        assert_eq!(
            serialized_len(&v, MAX_OUTBOUND),
            Some(serde_json::to_vec(&v).unwrap().len())
        );
        assert_eq!(serialized_len(&v, 100), None);
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
