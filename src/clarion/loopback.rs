//! The CLI's one-shot registration callback: a loopback HTTP server that takes Clarion's form
//! POST (`state`, `data`, form-urlencoded; spec A.6 step 4) and hands it to a handler.

use crate::api::ApiError;
use std::io::Read;
use std::time::{Duration, Instant};

pub const PATH: &str = "/callback";
/// The form carries `data` (at most [`super::callback::MAX_DATA_LEN`]) percent-encoded: up to 3×.
pub const MAX_FORM_BYTES: usize = 3 * super::callback::MAX_DATA_LEN + 4096;

/// What the handler made of a posted form.
pub enum Handled<T> {
    /// Done: answer the browser with a success page and stop.
    Done(T),
    /// Meant for us but failed: show the error and stop.
    Failed(ApiError),
    /// Not our registration (another state): refuse it and keep waiting.
    NotOurs,
}

pub struct CallbackServer {
    server: tiny_http::Server,
    url: String,
}

impl CallbackServer {
    /// Listens on 127.0.0.1 on a port the system picks.
    pub fn bind() -> std::io::Result<Self> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(std::io::Error::other)?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| std::io::Error::other("no TCP port"))?;
        Ok(Self {
            server,
            url: format!("http://127.0.0.1:{port}{PATH}"),
        })
    }

    /// The callback URL for Clarion.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves until the handler finishes (`Some`) or `deadline` passes (`None`).
    pub fn serve<T>(
        &self,
        deadline: Instant,
        handle: impl FnMut(&str, &str) -> Handled<T>,
    ) -> Result<Option<T>, ApiError> {
        self.serve_until(deadline, &|| false, handle)
    }

    /// [`Self::serve`] that also gives up (`None`) as soon as `stop` says so (a cancelled request).
    pub fn serve_until<T>(
        &self,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
        mut handle: impl FnMut(&str, &str) -> Handled<T>,
    ) -> Result<Option<T>, ApiError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stop() {
                return Ok(None);
            }
            let req = match self
                .server
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    // A failed accept (e.g. a reset connection) is not fatal.
                    log::debug!("callback server: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            match read_form(req) {
                Err(()) => continue,
                Ok((req, state, data)) => match handle(&state, &data) {
                    Handled::Done(v) => {
                        respond(
                            req,
                            200,
                            "The security key is registered with passbridge. You can close this tab.",
                        );
                        return Ok(Some(v));
                    }
                    Handled::Failed(e) => {
                        respond(
                            req,
                            400,
                            &format!("passbridge could not register the key: {}", e.message),
                        );
                        return Err(e);
                    }
                    Handled::NotOurs => respond(
                        req,
                        400,
                        "This is not the registration passbridge is waiting for.",
                    ),
                },
            }
        }
    }
}

fn respond(req: tiny_http::Request, status: u16, text: &str) {
    let header = tiny_http::Header::from_bytes("Content-Type", "text/plain; charset=utf-8")
        .expect("static header");
    let res = tiny_http::Response::from_string(text)
        .with_status_code(status)
        .with_header(header);
    if let Err(e) = req.respond(res) {
        log::debug!("cannot answer the callback request: {e}");
    }
}

/// Takes a `POST /callback` form with exactly one `state` and one `data`; anything else is
/// answered here (404, 405, 413, 400) and yields `Err(())`.
fn read_form(mut req: tiny_http::Request) -> Result<(tiny_http::Request, String, String), ()> {
    let path = req.url().split('?').next().unwrap_or("");
    if path != PATH {
        respond(req, 404, "Not found.");
        return Err(());
    }
    if *req.method() != tiny_http::Method::Post {
        respond(req, 405, "Use POST.");
        return Err(());
    }
    let form_type = req.headers().iter().all(|h| {
        !h.field.equiv("Content-Type")
            || h.value
                .as_str()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
    });
    if !form_type {
        respond(
            req,
            415,
            "Expected a form (application/x-www-form-urlencoded).",
        );
        return Err(());
    }
    if req.body_length().is_some_and(|n| n > MAX_FORM_BYTES) {
        respond(req, 413, "Too large.");
        return Err(());
    }
    let mut body = Vec::new();
    let read = req
        .as_reader()
        .take(MAX_FORM_BYTES as u64 + 1)
        .read_to_end(&mut body);
    if read.is_err() || body.len() > MAX_FORM_BYTES {
        respond(req, 413, "Too large or unreadable.");
        return Err(());
    }
    let (mut state, mut data) = (Vec::new(), Vec::new());
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "state" => state.push(v.into_owned()),
            "data" => data.push(v.into_owned()),
            _ => {}
        }
    }
    match (state.as_slice(), data.as_slice()) {
        ([s], [d]) => Ok((req, s.clone(), d.clone())),
        _ => {
            respond(
                req,
                400,
                "The form needs exactly one \"state\" and one \"data\".",
            );
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn post(url: &str, content_type: &str, body: Vec<u8>) -> u16 {
        agent()
            .post(url)
            .header("Content-Type", content_type)
            .send(body)
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    #[test]
    fn takes_only_a_well_formed_form_for_our_state() {
        let server = CallbackServer::bind().unwrap();
        let url = server.url().to_owned();
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with(PATH));
        let client = std::thread::spawn(move || {
            let form = "application/x-www-form-urlencoded";
            let base = url.trim_end_matches(PATH).to_owned();
            let got = vec![
                agent().get(&url).call().unwrap().status().as_u16(),
                post(&format!("{base}/other"), form, b"state=s&data=d".to_vec()),
                post(
                    &url,
                    "multipart/form-data; boundary=x",
                    b"state=s&data=d".to_vec(),
                ),
                post(&url, form, vec![b'a'; MAX_FORM_BYTES + 1]),
                post(&url, form, b"state=s".to_vec()),
                post(&url, form, b"state=s&state=s&data=d".to_vec()),
                post(&url, form, b"state=other&data=d".to_vec()),
                post(&url, form, b"state=s&data=%7B%22a%22%3A1%7D+x".to_vec()),
            ];
            got
        });
        let out = server
            .serve(Instant::now() + Duration::from_secs(60), |state, data| {
                if state != "s" {
                    return Handled::NotOurs;
                }
                Handled::Done(data.to_owned())
            })
            .unwrap();
        assert_eq!(
            out.as_deref(),
            Some("{\"a\":1} x"),
            "form decoding, + is a space"
        );
        assert_eq!(
            client.join().unwrap(),
            vec![405, 404, 415, 413, 400, 400, 400, 200]
        );
    }

    #[test]
    fn a_failure_for_our_state_ends_the_wait_with_its_error() {
        let server = CallbackServer::bind().unwrap();
        let url = server.url().to_owned();
        let client = std::thread::spawn(move || {
            post(
                &url,
                "application/x-www-form-urlencoded",
                b"state=s&data=d".to_vec(),
            )
        });
        let r: Result<Option<()>, ApiError> = server
            .serve(Instant::now() + Duration::from_secs(60), |_, _| {
                Handled::Failed(ApiError::new("registration_invalid", "bad"))
            });
        assert_eq!(r.unwrap_err().code, "registration_invalid");
        assert_eq!(client.join().unwrap(), 400);
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let server = CallbackServer::bind().unwrap();
        let r = server.serve(Instant::now(), |_, _| Handled::Done(()));
        assert_eq!(r, Ok(None));
    }
}
