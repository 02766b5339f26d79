//! Blocking work (an HTTP exchange, RSA key generation) on a helper thread, so a cancel is
//! answered at once instead of after the work's own timeout. An abandoned thread finishes on its
//! own (every exchange has a timeout) and its result is dropped (and zeroized where it holds keys).

use super::error::Error;
use crate::api::CancelToken;
use std::sync::mpsc;
use std::time::Duration;

/// How often a waiter looks at the cancel token.
const TICK: Duration = Duration::from_millis(20);

/// Runs `work` on a thread and waits for it; `Err(Cancelled)` as soon as `cancel` fires.
pub fn cancellable<T: Send + 'static>(
    cancel: &CancelToken,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("passbridge-anotherpass".into())
        .spawn(move || {
            let _ = tx.send(work());
        });
    if let Err(e) = spawned {
        return Err(Error::Internal(format!(
            "cannot start a worker thread: {e}"
        )));
    }
    loop {
        match rx.recv_timeout(TICK) {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) if cancel.is_cancelled() => {
                return Err(Error::Cancelled);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Internal("a worker thread failed".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_result() {
        assert_eq!(cancellable(&CancelToken::new(), || 41 + 1), Ok(42));
    }

    #[test]
    fn cancel_returns_before_the_work_ends() {
        let t = CancelToken::new();
        let t2 = t.clone();
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            t2.cancel();
        });
        let r = cancellable(&t, move || {
            // Blocks until the test has seen the cancel: proves the waiter did not wait for it.
            let _ = done_rx.recv_timeout(Duration::from_secs(60));
        });
        assert_eq!(r, Err(Error::Cancelled));
        done_tx.send(()).unwrap();
    }

    #[test]
    fn already_cancelled_does_no_work() {
        let t = CancelToken::new();
        t.cancel();
        assert_eq!(
            cancellable(&t, || panic!("must not run")),
            Err::<(), _>(Error::Cancelled)
        );
    }

    #[test]
    fn a_panicking_worker_is_an_internal_error() {
        let r = cancellable(&CancelToken::new(), || -> u8 { panic!("boom") });
        assert_eq!(r.unwrap_err().code(), "internal");
    }
}
