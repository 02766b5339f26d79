//! Test driver for the built `passbridge` binary: a private PASSBRIDGE_HOME, framed requests in,
//! framed replies out, with timeouts so a broken host fails the test instead of hanging it.

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_passbridge");
/// Generous: only there so a hang becomes a failure. Never a performance assertion.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Checks `v` against one definition of the published contract, docs/protocol.schema.json
/// (`frame`, `reply`, `progressEvent`, `request`). Each definition is compiled once per test binary.
pub fn assert_schema(def: &str, v: &Value) {
    type Cache =
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<jsonschema::Validator>>>;
    static VALIDATORS: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let validator = VALIDATORS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(def.to_owned())
        .or_insert_with(|| {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.schema.json");
            let mut schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            schema["$ref"] = Value::String(format!("#/$defs/{def}"));
            std::sync::Arc::new(
                jsonschema::validator_for(&schema).expect("protocol schema compiles"),
            )
        })
        .clone();
    let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "not a valid {def} per docs/protocol.schema.json: {errors:?}\n{v}"
    );
}

/// Every frame the host writes must match the contract. The driver checks each one, so every
/// integration test also tests the protocol.
pub fn assert_protocol_frame(v: &Value) {
    assert_schema("frame", v)
}

pub fn assert_valid_reply(v: &Value) {
    assert_schema("reply", v)
}

pub fn assert_valid_event(v: &Value) {
    assert_schema("progressEvent", v)
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_ne_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Splits a byte stream into frame bodies, panicking on a partial frame.
pub fn unframe_all(mut bytes: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 4, "partial prefix in output: {bytes:?}");
        let len = u32::from_ne_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert!(len <= 1024 * 1024, "frame above 1 MiB: {len}");
        assert!(bytes.len() >= 4 + len, "partial body in output");
        let v: Value = serde_json::from_slice(&bytes[4..4 + len])
            .expect("host wrote a frame that is not JSON");
        assert_protocol_frame(&v);
        out.push(v);
        bytes = &bytes[4 + len..];
    }
    out
}

/// A temporary PASSBRIDGE_HOME, removed on drop.
pub struct Home {
    pub dir: tempfile::TempDir,
    /// Environment for every command, in order: `Some` sets, `None` removes.
    pub env: Vec<(String, Option<String>)>,
}

impl Home {
    /// Secrets stay in the data directory (`PASSBRIDGE_SECRET_STORE=file`): a test must not write
    /// into the keyring of the person running it. tests/keyring.rs uses a private one.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            env: vec![("PASSBRIDGE_SECRET_STORE".into(), Some("file".into()))],
        }
    }
    /// Sets (`Some`) or removes (`None`) `key` for every later command.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.push((key.into(), value.map(Into::into)));
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Writes `config.json` (the allowlist and backend settings).
    pub fn write_config(&self, config: &Value) {
        let dir = self.path().join("config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
    }
    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("PASSBRIDGE_HOME", self.path())
            .env_remove("PASSBRIDGE_LOG_FILE");
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }
    /// Runs `passbridge <args>` in this home with `stdin` written to it, to the end.
    pub fn run_cli(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> std::process::Output {
        output_with_stdin(self.command().args(args), stdin.as_ref())
    }
    /// `passbridge call '<json>'`: (reply, exit success).
    pub fn call(&self, request: &Value) -> (Value, bool) {
        let child = self
            .command()
            .arg("call")
            .arg(request.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_output(child);
        let reply = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "call printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (reply, out.status.success())
    }
    /// Runs the host with the given launch args, feeds `input` and returns (frames, exit code, stderr).
    pub fn run_once(&self, args: &[&str], input: &[u8]) -> (Vec<Value>, Option<i32>, String) {
        let out = output_with_stdin(self.command().args(args), input);
        (
            unframe_all(&out.stdout),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    /// Starts a persistent host (like `connectNative`).
    pub fn spawn(&self, args: &[&str]) -> Host {
        Host::start(self.command().args(args))
    }
}

/// Runs `cmd` with `stdin` written to it (from a thread, so a child that writes before it reads
/// all its input cannot deadlock) and collects its output like [`wait_output`]. A child that
/// exits before reading everything is not an error here: its exit status tells.
pub fn output_with_stdin(cmd: &mut Command, stdin: &[u8]) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = wait_output(child);
    writer.join().unwrap();
    out
}

/// Collects a child's output, failing the test (and killing the child) if it has not exited
/// and closed its output within [`TIMEOUT`].
pub fn wait_output(mut child: Child) -> std::process::Output {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> Receiver<Vec<u8>> {
        let (tx, rx) = channel();
        if let Some(mut pipe) = pipe {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        } else {
            let _ = tx.send(Vec::new());
        }
        rx
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.recv_timeout(TIMEOUT).unwrap_or_default();
            panic!(
                "the child did not exit within {TIMEOUT:?} (killed it); its stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let collect = |rx: Receiver<Vec<u8>>, what| {
        rx.recv_timeout(TIMEOUT).unwrap_or_else(|_| {
            panic!("the child exited but its {what} stayed open for {TIMEOUT:?}")
        })
    };
    std::process::Output {
        status,
        stdout: collect(stdout, "stdout"),
        stderr: collect(stderr, "stderr"),
    }
}

/// The `result` of a reply that must be a success; otherwise the test fails, showing the reply.
#[track_caller]
pub fn ok(reply: &Value) -> &Value {
    assert_eq!(reply["ok"], true, "expected success: {reply:#}");
    &reply["result"]
}

/// The error code and message of a reply that must be an error.
#[track_caller]
pub fn error(reply: &Value) -> (&str, &str) {
    assert_eq!(reply["ok"], false, "expected an error: {reply:#}");
    let e = &reply["error"];
    (e["code"].as_str().unwrap(), e["message"].as_str().unwrap())
}

/// The error code of a reply that must be an error.
#[track_caller]
pub fn err_code(reply: &Value) -> &str {
    error(reply).0
}

/// The message of a reply that must be the error `code`.
#[track_caller]
pub fn err<'a>(reply: &'a Value, code: &str) -> &'a str {
    let (got, message) = error(reply);
    assert_eq!(got, code, "{reply:#}");
    message
}

/// One request `{id, action, params}` to a running host, its final reply.
pub fn req(h: &mut Host, id: u64, action: &str, params: Value) -> Value {
    h.request(&serde_json::json!({"id": id, "action": action, "params": params}))
}

/// A running host: send requests, receive frames in order.
pub struct Host {
    pub child: Child,
    stdin: Option<ChildStdin>,
    /// Frames from the reader thread, or what was wrong with the host's output.
    frames: Receiver<Result<Value, String>>,
    /// Frames read while looking for another request's reply, kept for later.
    pending: std::cell::RefCell<std::collections::VecDeque<Value>>,
}

impl Host {
    pub fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, frames) = channel();
        // Reports a broken frame to the test thread (a panic here would only look like silence).
        std::thread::spawn(move || {
            loop {
                let mut prefix = [0u8; 4];
                if stdout.read_exact(&mut prefix).is_err() {
                    break;
                }
                let len = u32::from_ne_bytes(prefix) as usize;
                let frame = if len > 1024 * 1024 {
                    Err(format!("the host wrote a frame above 1 MiB ({len} bytes)"))
                } else {
                    let mut body = vec![0; len];
                    match stdout.read_exact(&mut body) {
                        Ok(()) => serde_json::from_slice(&body)
                            .map_err(|e| format!("the host wrote a frame that is not JSON: {e}")),
                        Err(e) => Err(format!("the host wrote a partial frame: {e}")),
                    }
                };
                let fatal = frame.is_err();
                if tx.send(frame).is_err() || fatal {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            frames,
            pending: Default::default(),
        }
    }
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.stdin.as_mut().expect("stdin closed");
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }
    pub fn send(&mut self, request: &Value) {
        self.send_raw(&frame(request.to_string().as_bytes()));
    }
    /// The next frame, whatever it is (frames set aside by `reply_for` come first).
    pub fn recv(&self) -> Value {
        self.recv_within(TIMEOUT)
            .unwrap_or_else(|| panic!("no frame from the host within {TIMEOUT:?}"))
    }
    pub fn recv_within(&self, d: Duration) -> Option<Value> {
        if let Some(v) = self.pending.borrow_mut().pop_front() {
            return Some(v);
        }
        self.recv_new(d)
    }
    fn recv_new(&self, d: Duration) -> Option<Value> {
        match self.frames.recv_timeout(d) {
            Ok(Ok(v)) => {
                assert_protocol_frame(&v);
                Some(v)
            }
            Ok(Err(broken)) => panic!("{broken}"),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }
    /// The final reply for `id` and its progress events. Frames for other ids are set aside
    /// (returned in `others` and kept for later `recv`/`reply_for` calls), so replies that
    /// arrive in any order are never lost.
    pub fn reply_for(&self, id: &Value) -> (Value, Vec<Value>, Vec<Value>) {
        let mut events = Vec::new();
        // First whatever was set aside earlier.
        let earlier: Vec<Value> = self.pending.borrow_mut().drain(..).collect();
        let mut keep = std::collections::VecDeque::new();
        let mut found = None;
        for f in earlier {
            if found.is_none() && &f["id"] == id {
                if f.get("event").is_some() {
                    events.push(f);
                } else {
                    found = Some(f);
                }
            } else {
                keep.push_back(f);
            }
        }
        let others_before: Vec<Value> = keep.iter().cloned().collect();
        *self.pending.borrow_mut() = keep;
        if let Some(f) = found {
            return (f, events, others_before);
        }
        let mut others = others_before;
        loop {
            let f = self
                .recv_new(TIMEOUT)
                .unwrap_or_else(|| panic!("no reply for id {id} from the host within {TIMEOUT:?}"));
            if &f["id"] != id {
                self.pending.borrow_mut().push_back(f.clone());
                others.push(f);
            } else if f.get("event").is_some() {
                events.push(f);
            } else {
                return (f, events, others);
            }
        }
    }
    /// One request, its final reply.
    pub fn request(&mut self, request: &Value) -> Value {
        self.send(request);
        self.reply_for(&request["id"]).0
    }

    /// Closes stdin and waits for the exit code.
    pub fn close(mut self) -> Option<i32> {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "host did not exit after EOF"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

pub fn bin_path() -> PathBuf {
    PathBuf::from(BIN)
}
