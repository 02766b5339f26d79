//! Native messaging framing: a 4-byte length in native byte order, then that many bytes of UTF-8 JSON.
//!
//! Pure codec over `Read`/`Write`; it never touches the process's stdin/stdout itself.
//!
//! ```
//! use passbridge::nm::frame::{read_frame, write_frame, DEFAULT_MAX_INBOUND};
//! let mut wire = Vec::new();
//! write_frame(&mut wire, br#"{"action":"ping"}"#).unwrap();
//! let body = read_frame(&mut wire.as_slice(), DEFAULT_MAX_INBOUND).unwrap().unwrap();
//! assert_eq!(body, br#"{"action":"ping"}"#);
//! ```

use byteorder::{ByteOrder, NativeEndian};
use std::io::{self, Read, Write};

/// Both browsers refuse host → browser frames above 1 MiB.
pub const MAX_OUTBOUND: usize = 1024 * 1024;
/// Chrome caps browser → host messages at 64 MiB; we never accept more by default.
pub const DEFAULT_MAX_INBOUND: u32 = 64 * 1024 * 1024;
/// Initial buffer for a body: a lying length prefix must not make us allocate up front.
const INITIAL_BODY_CAPACITY: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the stream ended inside a length prefix ({got} of 4 bytes)")]
    TruncatedPrefix { got: usize },
    #[error("a message declared {len} bytes, more than the limit of {max} bytes")]
    TooLarge { len: u64, max: u64 },
    #[error("the stream ended inside a message body ({got} of {expected} bytes)")]
    TruncatedBody { expected: u32, got: usize },
    #[error("I/O error on the message stream: {0}")]
    Io(#[from] io::Error),
}

/// Reads one frame. `Ok(None)` means a clean end of stream before any prefix byte.
pub fn read_frame<R: Read>(r: &mut R, max_len: u32) -> Result<Option<Vec<u8>>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::TruncatedPrefix { got }),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let len = NativeEndian::read_u32(&prefix);
    if len > max_len {
        return Err(FrameError::TooLarge {
            len: len.into(),
            max: max_len.into(),
        });
    }
    let body = read_body(r, len as usize)?;
    if body.len() != len as usize {
        return Err(FrameError::TruncatedBody {
            expected: len,
            got: body.len(),
        });
    }
    Ok(Some(body))
}

/// Reads up to `len` bytes (fewer at end of stream). Starts small (a lying prefix must not make
/// us allocate up front) and grows by hand rather than through `read_to_end`: the body may hold a
/// password, and each outgrown buffer is wiped before it is freed instead of left behind.
fn read_body<R: Read>(r: &mut R, len: usize) -> io::Result<Vec<u8>> {
    // `body` is initialised (zeros) up to its capacity once per allocation; `filled` is what
    // was read.
    let mut body = vec![0u8; len.min(INITIAL_BODY_CAPACITY)];
    let mut filled = 0;
    while filled < len {
        if filled == body.len() {
            drop(grow(&mut body, len));
            body.resize(body.capacity().min(len), 0);
        }
        match r.read(&mut body[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                zeroize::Zeroize::zeroize(&mut body);
                return Err(e);
            }
        }
    }
    body.truncate(filled);
    Ok(body)
}

/// Moves `body` into a buffer twice as large (at most `limit`); returns the old one with every
/// byte of it overwritten with zeros.
fn grow(body: &mut Vec<u8>, limit: usize) -> Vec<u8> {
    let mut bigger = Vec::with_capacity((body.capacity() * 2).clamp(1, limit.max(1)));
    bigger.extend_from_slice(body);
    let mut old = std::mem::replace(body, bigger);
    zeroize::Zeroize::zeroize(&mut old[..]);
    old
}

/// Builds prefix + payload as one buffer, refusing anything above [`MAX_OUTBOUND`].
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.len() > MAX_OUTBOUND {
        return Err(FrameError::TooLarge {
            len: payload.len() as u64,
            max: MAX_OUTBOUND as u64,
        });
    }
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&[0; 4]);
    NativeEndian::write_u32(&mut buf[..4], payload.len() as u32);
    buf.extend_from_slice(payload);
    Ok(buf)
}

/// Writes one whole frame with a single `write_all` and flushes; nothing is written on error.
pub fn write_frame<W: Write>(w: &mut W, payload: &[u8]) -> Result<(), FrameError> {
    // A copy of the payload, which may hold credentials: wiped when dropped.
    let buf = zeroize::Zeroizing::new(encode_frame(payload)?);
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        encode_frame(body).unwrap()
    }

    #[test]
    fn round_trip_uses_native_byte_order() {
        let wire = framed(b"{}");
        assert_eq!(&wire[..4], &2u32.to_ne_bytes());
        assert_eq!(
            read_frame(&mut wire.as_slice(), 10).unwrap().unwrap(),
            b"{}"
        );
    }

    #[test]
    fn a_body_up_to_the_first_buffer_is_read_in_one_call_into_one_allocation() {
        // Typical requests (a password among them) fit the first buffer: one read call, no
        // growing, so no outgrown copy exists to wipe and nothing more is reserved.
        struct Offered<'a>(io::Cursor<&'a [u8]>, Vec<usize>);
        impl Read for Offered<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1.push(buf.len());
                self.0.read(buf)
            }
        }
        for len in [1, 2_000, INITIAL_BODY_CAPACITY] {
            let body = vec![b'x'; len];
            let wire = framed(&body);
            let mut r = Offered(io::Cursor::new(&wire[..]), Vec::new());
            let got = read_frame(&mut r, u32::MAX).unwrap().unwrap();
            assert_eq!(got, body);
            assert_eq!(r.1, [4, len], "the prefix, then the whole body in one read");
            assert_eq!(got.capacity(), len, "one allocation of exactly {len} bytes");
        }
    }

    #[test]
    fn a_body_larger_than_the_first_buffer_is_read_whole_and_outgrown_buffers_are_wiped() {
        let body: Vec<u8> = (0..INITIAL_BODY_CAPACITY * 3 + 5)
            .map(|i| i as u8 | 1)
            .collect();
        let wire = framed(&body);
        // One byte per read: the worst case for growth.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let got = read_frame(&mut Trickle(&wire), u32::MAX).unwrap().unwrap();
        assert_eq!(got, body);
        assert!(got.capacity() < body.len() * 2, "grown, not over-allocated");

        let mut full = vec![0xAB_u8; 8];
        full.shrink_to_fit();
        let old = grow(&mut full, 100);
        assert_eq!(full, [0xAB; 8], "the content moved");
        assert_eq!(old.len(), 8);
        assert!(old.iter().all(|&b| b == 0), "the old buffer is wiped");
    }

    #[test]
    fn clean_eof_is_none() {
        assert!(read_frame(&mut io::empty(), 10).unwrap().is_none());
    }

    #[test]
    fn bad_inputs_table() {
        let huge = u32::MAX.to_ne_bytes().to_vec();
        let mut short_body = 10u32.to_ne_bytes().to_vec();
        short_body.extend_from_slice(b"abc");
        type Check = fn(&FrameError) -> bool;
        let cases: Vec<(&str, Vec<u8>, Check)> = vec![
            ("one prefix byte", vec![1], |e| {
                matches!(e, FrameError::TruncatedPrefix { got: 1 })
            }),
            ("three prefix bytes", vec![1, 0, 0], |e| {
                matches!(e, FrameError::TruncatedPrefix { got: 3 })
            }),
            ("4 GiB declared", huge, |e| {
                matches!(e, FrameError::TooLarge { .. })
            }),
            ("short body", short_body, |e| {
                matches!(
                    e,
                    FrameError::TruncatedBody {
                        expected: 10,
                        got: 3
                    }
                )
            }),
        ];
        for (name, input, check) in cases {
            let err = read_frame(&mut input.as_slice(), 1024).expect_err(name);
            assert!(check(&err), "{name}: {err:?}");
        }
    }

    #[test]
    fn cap_is_checked_before_reading_the_body() {
        let mut wire = 11u32.to_ne_bytes().to_vec();
        wire.extend_from_slice(&[b'x'; 11]);
        assert!(matches!(
            read_frame(&mut wire.as_slice(), 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        ));
        assert!(read_frame(&mut wire.as_slice(), 11).unwrap().is_some());
    }

    #[test]
    fn outbound_boundary_is_exactly_one_mib() {
        assert!(encode_frame(&vec![b'a'; MAX_OUTBOUND]).is_ok());
        assert!(matches!(
            encode_frame(&vec![b'a'; MAX_OUTBOUND + 1]),
            Err(FrameError::TooLarge { .. })
        ));
        let mut sink = Vec::new();
        assert!(write_frame(&mut sink, &vec![b'a'; MAX_OUTBOUND + 1]).is_err());
        assert!(
            sink.is_empty(),
            "nothing may be written for an oversized frame"
        );
    }

    #[test]
    fn consecutive_frames() {
        let mut wire = framed(b"1");
        wire.extend(framed(b"22"));
        let mut r = wire.as_slice();
        assert_eq!(read_frame(&mut r, 10).unwrap().unwrap(), b"1");
        assert_eq!(read_frame(&mut r, 10).unwrap().unwrap(), b"22");
        assert!(read_frame(&mut r, 10).unwrap().is_none());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), max in 0u32..200) {
                let mut r = bytes.as_slice();
                for _ in 0..300 {
                    match read_frame(&mut r, max) {
                        Ok(Some(body)) => prop_assert!(body.len() <= max as usize),
                        Ok(None) | Err(_) => break,
                    }
                }
            }

            #[test]
            fn any_payload_round_trips(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..10)) {
                let mut wire = Vec::new();
                for p in &payloads { write_frame(&mut wire, p).unwrap(); }
                let mut r = wire.as_slice();
                for p in &payloads { prop_assert_eq!(&read_frame(&mut r, 1000).unwrap().unwrap(), p); }
                prop_assert!(read_frame(&mut r, 1000).unwrap().is_none());
            }
        }
    }

    /// A reader that plays a script of reads and panics when read again after its last one,
    /// so a decoder that retries a lasting error fails instead of spinning.
    struct Script(std::collections::VecDeque<io::Result<Vec<u8>>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self
                .0
                .pop_front()
                .expect("read again after the script ended")
            {
                Ok(bytes) => {
                    assert!(bytes.len() <= buf.len());
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    Ok(bytes.len())
                }
                Err(e) => Err(e),
            }
        }
    }

    fn interrupted() -> io::Result<Vec<u8>> {
        Err(io::Error::from(io::ErrorKind::Interrupted))
    }

    #[test]
    fn an_interrupted_read_is_retried() {
        let wire = framed(b"{}");
        let mut r = Script(
            [
                interrupted(),
                Ok(wire[..1].to_vec()),
                interrupted(),
                Ok(wire[1..4].to_vec()),
                interrupted(),
                Ok(wire[4..].to_vec()),
            ]
            .into(),
        );
        assert_eq!(read_frame(&mut r, 10).unwrap().unwrap(), b"{}");
        assert!(r.0.is_empty(), "the end of the body was not read");
    }

    #[test]
    fn another_read_error_is_fatal_and_kept() {
        for before in [vec![], vec![Ok(vec![2])]] {
            let mut script: std::collections::VecDeque<_> = before.into();
            script.push_back(Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone")));
            let err = read_frame(&mut Script(script), 10).unwrap_err();
            assert!(
                matches!(&err, FrameError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe),
                "{err:?}"
            );
        }
        let mut r = Script(
            [
                Ok(framed(b"{}")[..4].to_vec()),
                Ok(b"{".to_vec()),
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
            ]
            .into(),
        );
        assert!(matches!(
            read_frame(&mut r, 10),
            Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset
        ));
    }

    /// Chrome's own limit: a message of exactly 64 MiB passes the cap, one byte more does not.
    /// (The bodies are truncated, so nothing of that size is allocated.)
    #[test]
    fn default_inbound_cap_is_64_mib() {
        const MIB64: u32 = 64 * 1024 * 1024;
        let mut at_cap = MIB64.to_ne_bytes().to_vec();
        at_cap.extend_from_slice(b"abc");
        assert!(matches!(
            read_frame(&mut at_cap.as_slice(), DEFAULT_MAX_INBOUND),
            Err(FrameError::TruncatedBody {
                expected: MIB64,
                got: 3
            })
        ));
        let above = (MIB64 + 1).to_ne_bytes();
        assert!(matches!(
            read_frame(&mut above.as_slice(), DEFAULT_MAX_INBOUND),
            Err(FrameError::TooLarge {
                len: 67_108_865,
                max: 67_108_864
            })
        ));
    }

    /// The browsers' limit, as a literal: a slip in the constant must not pass unnoticed.
    #[test]
    fn outbound_limit_is_one_mib() {
        assert!(encode_frame(&vec![b'a'; 1024 * 1024]).is_ok());
        assert!(matches!(
            encode_frame(&vec![b'a'; 1024 * 1024 + 1]),
            Err(FrameError::TooLarge {
                len: 1_048_577,
                max: 1_048_576
            })
        ));
    }
}
