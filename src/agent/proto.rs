//! The agent's wire protocol: one request and one response per connection, each a frame of a
//! 4-byte big-endian length and a body `[version, op, fields…]`. Strings carry a 2-byte length,
//! secrets a 4-byte one, durations are 8-byte milliseconds. Pure bytes in and out.

use std::time::Duration;
use zeroize::Zeroizing;

pub const VERSION: u8 = 1;
/// Largest body either side accepts: far above a name and a 16 KiB secret.
pub const MAX_BODY: usize = 64 << 10;
pub const MAX_NAME: usize = 128;
pub const MAX_SECRET: usize = 16 << 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("a frame of {0} bytes is larger than the agent accepts")]
    TooLarge(usize),
    #[error("the message ends too early")]
    Truncated,
    #[error("the message has {0} bytes after its end")]
    Trailing(usize),
    #[error("protocol version {0} is not supported (this passbridge speaks {VERSION})")]
    Version(u8),
    #[error("unknown operation {0:#04x}")]
    UnknownOp(u8),
    #[error("a name must be 1–{MAX_NAME} printable ASCII characters")]
    BadName,
    #[error("a secret must be 1–{MAX_SECRET} bytes")]
    BadSecret,
    #[error("a flag must be 0 or 1")]
    BadFlag,
    #[error("a text field is not UTF-8")]
    BadText,
}

/// What a client asks.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Hold `secret` under `name`; it expires after `ttl` without use.
    Put {
        name: String,
        ttl: Duration,
        secret: Zeroizing<Vec<u8>>,
    },
    /// The secret under `name`; `touch` counts as use (restarts its timeout).
    Get {
        name: String,
        touch: bool,
    },
    /// Whether `name` is held, without the secret.
    Check {
        name: String,
        touch: bool,
    },
    /// Drop `name` (zeroized).
    Forget {
        name: String,
    },
    /// Drop every secret.
    LockAll,
    Status,
    /// Drop every secret and exit.
    Stop,
}

/// What the agent answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    Done,
    Secret {
        remaining: Duration,
        secret: Zeroizing<Vec<u8>>,
    },
    Present {
        remaining: Duration,
    },
    Absent,
    Status {
        pid: u32,
        entries: u32,
    },
    /// The request was not served (another user, a malformed request): why.
    Refused(String),
}

mod op {
    pub const PUT: u8 = 0x01;
    pub const GET: u8 = 0x02;
    pub const CHECK: u8 = 0x03;
    pub const FORGET: u8 = 0x04;
    pub const LOCK_ALL: u8 = 0x05;
    pub const STATUS: u8 = 0x06;
    pub const STOP: u8 = 0x07;
    pub const DONE: u8 = 0x81;
    pub const SECRET: u8 = 0x82;
    pub const PRESENT: u8 = 0x83;
    pub const ABSENT: u8 = 0x84;
    pub const STATUS_REPLY: u8 = 0x85;
    pub const REFUSED: u8 = 0x86;
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= MAX_NAME && n.bytes().all(|b| b.is_ascii_graphic())
}

/// A body under construction; zeroized on drop since it may hold a secret.
struct Out(Zeroizing<Vec<u8>>);

impl Out {
    fn new(op: u8) -> Self {
        let mut v = Zeroizing::new(Vec::with_capacity(64));
        v.extend_from_slice(&[0, 0, 0, 0, VERSION, op]);
        Self(v)
    }
    fn str(mut self, s: &str) -> Self {
        let n = u16::try_from(s.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&n.to_be_bytes());
        self.0.extend_from_slice(&s.as_bytes()[..usize::from(n)]);
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }
    fn u64(mut self, x: u64) -> Self {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }
    fn u32(mut self, x: u32) -> Self {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }
    fn flag(mut self, f: bool) -> Self {
        self.0.push(u8::from(f));
        self
    }
    fn ms(self, d: Duration) -> Self {
        self.u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    /// The whole frame, length prefix included.
    fn finish(mut self) -> Zeroizing<Vec<u8>> {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        self.0
    }
}

/// Reads fields from a body, never past its end.
struct In<'a>(&'a [u8]);

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.0.len() < n {
            return Err(ProtoError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ProtoError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, ProtoError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn ms(&mut self) -> Result<Duration, ProtoError> {
        Ok(Duration::from_millis(self.u64()?))
    }
    fn flag(&mut self) -> Result<bool, ProtoError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ProtoError::BadFlag),
        }
    }
    fn text(&mut self) -> Result<String, ProtoError> {
        let n = u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes"));
        let b = self.take(usize::from(n))?;
        String::from_utf8(b.to_vec()).map_err(|_| ProtoError::BadText)
    }
    fn name(&mut self) -> Result<String, ProtoError> {
        let n = self.text().map_err(|_| ProtoError::BadName)?;
        valid_name(&n).then_some(n).ok_or(ProtoError::BadName)
    }
    fn secret(&mut self) -> Result<Zeroizing<Vec<u8>>, ProtoError> {
        let n = self.u32()? as usize;
        if n == 0 || n > MAX_SECRET {
            return Err(ProtoError::BadSecret);
        }
        Ok(Zeroizing::new(self.take(n)?.to_vec()))
    }
    fn end(&self) -> Result<(), ProtoError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(ProtoError::Trailing(n)),
        }
    }
}

/// The body length a 4-byte prefix announces, checked before anything is allocated.
pub fn body_len(prefix: [u8; 4]) -> Result<usize, ProtoError> {
    let n = u32::from_be_bytes(prefix) as usize;
    if n > MAX_BODY {
        return Err(ProtoError::TooLarge(n));
    }
    if n < 2 {
        return Err(ProtoError::Truncated);
    }
    Ok(n)
}

/// Splits `[version, op]` off a body.
fn header(body: &[u8]) -> Result<(u8, In<'_>), ProtoError> {
    let mut r = In(body);
    let v = r.u8()?;
    if v != VERSION {
        return Err(ProtoError::Version(v));
    }
    Ok((r.u8()?, r))
}

impl Request {
    /// The whole frame. Panics on nothing: an invalid name or secret is refused by the agent.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        match self {
            Request::Put { name, ttl, secret } => {
                Out::new(op::PUT).str(name).ms(*ttl).bytes(secret)
            }
            Request::Get { name, touch } => Out::new(op::GET).str(name).flag(*touch),
            Request::Check { name, touch } => Out::new(op::CHECK).str(name).flag(*touch),
            Request::Forget { name } => Out::new(op::FORGET).str(name),
            Request::LockAll => Out::new(op::LOCK_ALL),
            Request::Status => Out::new(op::STATUS),
            Request::Stop => Out::new(op::STOP),
        }
        .finish()
    }

    /// A body (after the length prefix).
    pub fn decode(body: &[u8]) -> Result<Self, ProtoError> {
        let (code, mut r) = header(body)?;
        let req = match code {
            op::PUT => Request::Put {
                name: r.name()?,
                ttl: r.ms()?,
                secret: r.secret()?,
            },
            op::GET => Request::Get {
                name: r.name()?,
                touch: r.flag()?,
            },
            op::CHECK => Request::Check {
                name: r.name()?,
                touch: r.flag()?,
            },
            op::FORGET => Request::Forget { name: r.name()? },
            op::LOCK_ALL => Request::LockAll,
            op::STATUS => Request::Status,
            op::STOP => Request::Stop,
            other => return Err(ProtoError::UnknownOp(other)),
        };
        r.end()?;
        Ok(req)
    }
}

impl Response {
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        match self {
            Response::Done => Out::new(op::DONE),
            Response::Secret { remaining, secret } => {
                Out::new(op::SECRET).ms(*remaining).bytes(secret)
            }
            Response::Present { remaining } => Out::new(op::PRESENT).ms(*remaining),
            Response::Absent => Out::new(op::ABSENT),
            Response::Status { pid, entries } => Out::new(op::STATUS_REPLY).u32(*pid).u32(*entries),
            Response::Refused(why) => Out::new(op::REFUSED).str(why),
        }
        .finish()
    }

    pub fn decode(body: &[u8]) -> Result<Self, ProtoError> {
        let (code, mut r) = header(body)?;
        let resp = match code {
            op::DONE => Response::Done,
            op::SECRET => Response::Secret {
                remaining: r.ms()?,
                secret: r.secret()?,
            },
            op::PRESENT => Response::Present { remaining: r.ms()? },
            op::ABSENT => Response::Absent,
            op::STATUS_REPLY => Response::Status {
                pid: r.u32()?,
                entries: r.u32()?,
            },
            op::REFUSED => Response::Refused(r.text()?),
            other => return Err(ProtoError::UnknownOp(other)),
        };
        r.end()?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: &[u8]) -> &[u8] {
        let n = body_len(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(frame.len(), 4 + n);
        &frame[4..]
    }

    #[test]
    fn vectors() {
        let put = Request::Put {
            name: "vault/ab".into(),
            ttl: Duration::from_millis(0x0102),
            secret: Zeroizing::new(vec![0xAA, 0xBB]),
        };
        let want: &[u8] = &[
            0, 0, 0, 0x1A, 1, 0x01, 0, 8, b'v', b'a', b'u', b'l', b't', b'/', b'a', b'b', 0, 0, 0,
            0, 0, 0, 1, 2, 0, 0, 0, 2, 0xAA, 0xBB,
        ];
        assert_eq!(&put.encode()[..], want);
        assert_eq!(
            &Request::Get {
                name: "x".into(),
                touch: true
            }
            .encode()[..],
            &[0, 0, 0, 6, 1, 0x02, 0, 1, b'x', 1]
        );
        assert_eq!(&Request::LockAll.encode()[..], &[0, 0, 0, 2, 1, 0x05]);
        assert_eq!(
            &Response::Status { pid: 7, entries: 2 }.encode()[..],
            &[0, 0, 0, 10, 1, 0x85, 0, 0, 0, 7, 0, 0, 0, 2]
        );
        assert_eq!(&Response::Absent.encode()[..], &[0, 0, 0, 2, 1, 0x84]);
    }

    #[test]
    fn every_message_round_trips() {
        let s = || Zeroizing::new(vec![1u8; MAX_SECRET]);
        let reqs = [
            Request::Put {
                name: "passman/a@b".into(),
                ttl: Duration::from_secs(3600),
                secret: s(),
            },
            Request::Get {
                name: "a".into(),
                touch: false,
            },
            Request::Check {
                name: "a".into(),
                touch: true,
            },
            Request::Forget { name: "a".into() },
            Request::LockAll,
            Request::Status,
            Request::Stop,
        ];
        for r in reqs {
            assert_eq!(Request::decode(body(&r.encode())).unwrap(), r);
        }
        let resps = [
            Response::Done,
            Response::Secret {
                remaining: Duration::from_millis(5),
                secret: s(),
            },
            Response::Present {
                remaining: Duration::ZERO,
            },
            Response::Absent,
            Response::Status {
                pid: u32::MAX,
                entries: 0,
            },
            Response::Refused("another user".into()),
        ];
        for r in resps {
            assert_eq!(Response::decode(body(&r.encode())).unwrap(), r);
        }
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        assert_eq!(
            body_len([0, 1, 0, 1]),
            Err(ProtoError::TooLarge(MAX_BODY + 1))
        );
        assert_eq!(body_len([0, 0, 0, 1]), Err(ProtoError::Truncated));
        assert_eq!(Request::decode(&[2, 5]), Err(ProtoError::Version(2)));
        assert_eq!(
            Request::decode(&[1, 0x42]),
            Err(ProtoError::UnknownOp(0x42))
        );
        assert_eq!(Request::decode(&[1, 0x05, 0]), Err(ProtoError::Trailing(1)));
        assert_eq!(
            Request::decode(&[1, 0x02, 0, 5, b'a']),
            Err(ProtoError::BadName)
        );
        assert_eq!(Request::decode(&[1, 0x04, 0, 0]), Err(ProtoError::BadName));
        assert_eq!(
            Request::decode(&[1, 0x04, 0, 2, b'a', b' ']),
            Err(ProtoError::BadName)
        );
        assert_eq!(
            Request::decode(&[1, 0x02, 0, 1, b'a', 2]),
            Err(ProtoError::BadFlag)
        );
        let empty_secret = [1, 0x01, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(Request::decode(&empty_secret), Err(ProtoError::BadSecret));
        let huge = [1, 0x01, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0, 0, 0];
        assert_eq!(Request::decode(&huge), Err(ProtoError::BadSecret));
        let short = [1, 0x01, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 9];
        assert_eq!(Request::decode(&short), Err(ProtoError::Truncated));
        assert_eq!(
            Response::decode(&[1, 0x86, 0, 1, 0xFF]),
            Err(ProtoError::BadText)
        );
    }

    #[test]
    fn any_bytes_decode_without_panicking() {
        // A cheap exhaustive-ish sweep over short bodies.
        for a in 0u8..=8 {
            for op in [0x01, 0x02, 0x03, 0x04, 0x81, 0x82, 0x85, 0x86, 0xFF] {
                for tail in 0..24usize {
                    let mut b = vec![1, op];
                    b.extend((0..tail).map(|i| a.wrapping_mul(i as u8)));
                    let _ = Request::decode(&b);
                    let _ = Response::decode(&b);
                }
            }
        }
    }
}
