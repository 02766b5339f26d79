//! The HTTP server under the Clarion, Passman and PassWeaver fakes: tiny_http on a free port of
//! 127.0.0.1 and one thread that hands every request to the fake, stopped and joined on drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Loopback {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Loopback {
    /// Serves each request with `handle(base, request)` until dropped.
    pub fn start(handle: impl Fn(&str, tiny_http::Request) + Send + 'static) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, base2) = (stop.clone(), base.clone());
        let thread = std::thread::spawn(move || {
            // The timeout only bounds how long a drop waits for the thread.
            while !stop2.load(Ordering::SeqCst) {
                if let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(20)) {
                    handle(&base2, req);
                }
            }
        });
        Self {
            base,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
