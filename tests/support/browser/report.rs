//! The loopback HTTP server the test extension reports to: `POST /log` (a progress line, kept for
//! failure messages) and `POST /report` (the final results).

use serde_json::Value;
use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bodies are small JSON documents; anything bigger is a broken probe.
const MAX_BODY: u64 = 1024 * 1024;

pub enum Message {
    Log(String),
    Report(Value),
    /// A request the probe should never send, with what was wrong about it.
    Bad(String),
}

pub struct ReportServer {
    server: Arc<tiny_http::Server>,
    port: u16,
    messages: Receiver<Message>,
    thread: Option<JoinHandle<()>>,
}

impl ReportServer {
    pub fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let (tx, messages) = channel();
        let s = server.clone();
        let thread = std::thread::spawn(move || serve(&s, &tx));
        Self {
            server,
            port,
            messages,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn recv_timeout(&self, d: Duration) -> Result<Message, RecvTimeoutError> {
        self.messages.recv_timeout(d)
    }
}

impl Drop for ReportServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, tx: &Sender<Message>) {
    for mut req in server.incoming_requests() {
        let mut body = Vec::new();
        let read = req.as_reader().take(MAX_BODY + 1).read_to_end(&mut body);
        let msg = match (req.method(), req.url(), read) {
            (_, _, Err(e)) => Message::Bad(format!("cannot read a request body: {e}")),
            (_, url, _) if body.len() as u64 > MAX_BODY => {
                Message::Bad(format!("{url}: body above {MAX_BODY} bytes"))
            }
            (tiny_http::Method::Post, url, _) => match serde_json::from_slice::<Value>(&body) {
                Err(e) => Message::Bad(format!("{url}: body is not JSON ({e})")),
                Ok(v) if url == "/report" => Message::Report(v),
                Ok(v) if url == "/log" => Message::Log(v["msg"].as_str().unwrap_or("?").into()),
                Ok(_) => Message::Bad(format!("unexpected POST {url}")),
            },
            (m, url, _) => Message::Bad(format!("unexpected {m} {url}")),
        };
        let _ = req.respond(tiny_http::Response::empty(204));
        if tx.send(msg).is_err() {
            break;
        }
    }
}
