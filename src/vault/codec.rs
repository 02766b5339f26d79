//! Bounds-checked little-endian encoding used inside vault files. Pure: bytes in, bytes out.
//!
//! Strings are a `u32` byte length followed by UTF-8. Every read checks the remaining length
//! before it allocates, so a damaged or hostile file cannot make us allocate more than its size.

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("it ends early")]
    Truncated,
    #[error("a text field is not UTF-8")]
    NotUtf8,
    #[error("it has {0} unexpected trailing bytes")]
    Trailing(usize),
}

/// Appends to a buffer whose capacity the caller reserved up front, so plaintext is never
/// left behind in a buffer freed by a reallocation.
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Self { buf }
    }
    fn put(&mut self, bytes: &[u8]) {
        debug_assert!(
            self.buf.capacity() - self.buf.len() >= bytes.len(),
            "a vault buffer was under-reserved; plaintext could leak through a reallocation"
        );
        self.buf.extend_from_slice(bytes);
    }
    pub fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    pub fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.put(v);
    }
    /// A length-prefixed string. Callers bound string sizes (see [`str_len`]) before encoding.
    pub fn str(&mut self, s: &str) {
        self.u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
        self.put(s.as_bytes());
    }
}

/// Bytes [`Writer::str`] takes for `s`.
pub fn str_len(s: &str) -> usize {
    4 + s.len()
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(CodecError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| CodecError::NotUtf8)
    }
    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(CodecError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::with_capacity(1 + 2 + 4 + 8 + 3 + str_len("héllo"));
        let mut w = Writer::new(&mut buf);
        w.u8(7);
        w.u16(0xBEEF);
        w.u32(0xDEAD_BEEF);
        w.u64(u64::MAX - 1);
        w.bytes(b"abc");
        w.str("héllo");
        assert_eq!(buf.len(), buf.capacity());
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 0xBEEF);
        assert_eq!(r.u32().unwrap(), 0xDEAD_BEEF);
        assert_eq!(r.u64().unwrap(), u64::MAX - 1);
        assert_eq!(r.array::<3>().unwrap(), *b"abc");
        assert_eq!(r.str().unwrap(), "héllo");
        r.finish().unwrap();
    }

    #[test]
    fn little_endian_vector() {
        let mut buf = Vec::with_capacity(6);
        let mut w = Writer::new(&mut buf);
        w.u16(0x0102);
        w.u32(0x0304_0506);
        assert_eq!(buf, [0x02, 0x01, 0x06, 0x05, 0x04, 0x03]);
    }

    #[test]
    fn hostile_lengths_never_allocate_or_panic() {
        // A string claiming 4 GiB in a 6-byte buffer.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, b'a', b'b']);
        assert_eq!(r.str(), Err(CodecError::Truncated));
        let mut r = Reader::new(&[1, 0, 0, 0, 0xff]);
        assert_eq!(r.str(), Err(CodecError::NotUtf8));
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u32(), Err(CodecError::Truncated));
        let r = Reader::new(&[1, 2]);
        assert_eq!(r.finish(), Err(CodecError::Trailing(2)));
    }
}
