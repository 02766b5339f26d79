//! The item-read cipher (spec C.3, C.6): the client sends a fresh random 32-byte key with each
//! read, and the server answers `"<base64 iv>:<base64 ciphertext>"`, AES-256-CBC with PKCS#7
//! under that key. Pure apart from the random key; CBC from aws-lc-rs.

use aws_lc_rs::cipher::{AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Largest encrypted payload accepted (the HTTP body cap bounds it anyway).
pub const MAX_PAYLOAD_CHARS: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the encrypted data is not \"iv:ciphertext\" in base64")]
    Format,
    #[error("the encrypted data does not decrypt with this call's key")]
    Decrypt,
    #[error("no random key could be made")]
    Random,
}

/// A one-call read key. Zeroized on drop, never printed.
pub struct ReadKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ReadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadKey(<redacted>)")
    }
}

impl ReadKey {
    /// A fresh random key: one per read, never reused.
    pub fn random() -> Result<Self, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(&mut k[..]).map_err(|_| CryptoError::Random)?;
        Ok(Self(k))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The `key` query value: base64url without padding. Node's `Buffer.from(…, 'base64')`
    /// accepts it, and it needs no percent-encoding (a raw `+` would arrive as a space).
    pub fn query_value(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(&self.0[..]))
    }

    /// Decrypts `"<b64 iv>:<b64 ct>"` into the plaintext bytes.
    pub fn decrypt(&self, payload: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if payload.len() > MAX_PAYLOAD_CHARS {
            return Err(CryptoError::Format);
        }
        let (iv, ct) = payload.split_once(':').ok_or(CryptoError::Format)?;
        let iv: [u8; 16] = STANDARD
            .decode(iv.trim())
            .map_err(|_| CryptoError::Format)?
            .try_into()
            .map_err(|_| CryptoError::Format)?;
        let mut buf = Zeroizing::new(
            STANDARD
                .decode(ct.trim())
                .map_err(|_| CryptoError::Format)?,
        );
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptoError::Format);
        }
        let key = UnboundCipherKey::new(&AES_256, &self.0[..]).map_err(|_| CryptoError::Decrypt)?;
        let key = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| CryptoError::Decrypt)?;
        let ctx = DecryptionContext::Iv128(FixedLength::from(iv));
        let n = key
            .decrypt(&mut buf[..], ctx)
            .map_err(|_| CryptoError::Decrypt)?
            .len();
        buf.truncate(n);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The SP 800-38A F.2.5 key and IV.
    fn nist_key() -> ReadKey {
        ReadKey::from_bytes(
            hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
                .try_into()
                .unwrap(),
        )
    }

    #[test]
    fn nist_cbc_aes256_block_with_pkcs7() {
        // SP 800-38A F.2.5 first block, then the padding block (computed with `openssl enc`).
        let ct = hex("f58c4c04d6e5f1ba779eabfb5f7bfbd6485a5c81519cf378fa36d42b8547edc0");
        let payload = format!("AAECAwQFBgcICQoLDA0ODw==:{}", STANDARD.encode(ct));
        assert_eq!(
            &nist_key().decrypt(&payload).unwrap()[..],
            &hex("6bc1bee22e409f96e93d7e117393172a")[..]
        );
    }

    #[test]
    fn decrypts_an_item_payload() {
        // `openssl enc -aes-256-cbc` of a JSON item under the NIST key and IV.
        let payload = "AAECAwQFBgcICQoLDA0ODw==:I4wbsLnpZKFzZCbykpsPCkiAtZNcBbsz9/NEiPf5epABh6CdL1jSX+NX3w4ssXZFw+en/ZgcUKnZAxTxQHMr8k3zjJKX1amJaUN4MWQZt8c=";
        assert_eq!(
            std::str::from_utf8(&nist_key().decrypt(payload).unwrap()).unwrap(),
            r#"{"url":"https://intranet.example.com","user":"ann","password":"s3cret!"}"#
        );
        assert_eq!(
            nist_key().query_value().as_str(),
            "YD3rEBXKcb4rc67whX13gR81LAc7YQjXLZgQowkU3_Q"
        );
    }

    #[test]
    fn wrong_key_or_garbage_fails_cleanly() {
        let payload = "AAECAwQFBgcICQoLDA0ODw==:I4wbsLnpZKFzZCbykpsPCkiAtZNcBbsz9/NEiPf5epABh6CdL1jSX+NX3w4ssXZFw+en/ZgcUKnZAxTxQHMr8k3zjJKX1amJaUN4MWQZt8c=";
        // A wrong key almost always breaks the padding; if it does not, the text is garbage.
        if let Ok(p) = ReadKey::from_bytes([7; 32]).decrypt(payload) {
            assert!(!p.starts_with(b"{\"url\""));
        }
        for bad in [
            "",
            "no colon",
            "AAECAwQFBgcICQoLDA0ODw==:",
            "AAECAwQFBgcICQoLDA0ODw==:AAAA",
            "AAEC:I4wbsLnpZKFzZCbykpsPCg==",
            "!!!:I4wbsLnpZKFzZCbykpsPCg==",
        ] {
            assert_eq!(
                nist_key().decrypt(bad).unwrap_err(),
                CryptoError::Format,
                "{bad:?}"
            );
        }
        // A ciphertext of whole blocks whose padding is wrong is a decryption failure, not
        // malformed input (the block-size check comes first and only refuses other lengths).
        for blocks in [1, 2] {
            let payload = format!(
                "AAECAwQFBgcICQoLDA0ODw==:{}",
                STANDARD.encode(vec![0; 16 * blocks])
            );
            assert_eq!(
                nist_key().decrypt(&payload).unwrap_err(),
                CryptoError::Decrypt
            );
        }
        for len in [15, 17, 31] {
            let payload = format!("AAECAwQFBgcICQoLDA0ODw==:{}", STANDARD.encode(vec![0; len]));
            assert_eq!(
                nist_key().decrypt(&payload).unwrap_err(),
                CryptoError::Format,
                "{len}"
            );
        }
    }

    /// The size cap counts the whole payload: exactly `MAX_PAYLOAD_CHARS` is read (here a
    /// valid payload padded with spaces, which base64 decoding trims), one more is refused.
    #[test]
    fn payload_cap_is_inclusive() {
        assert_eq!(MAX_PAYLOAD_CHARS, 4 * 1024 * 1024);
        let ct = hex("f58c4c04d6e5f1ba779eabfb5f7bfbd6485a5c81519cf378fa36d42b8547edc0");
        let payload = format!("AAECAwQFBgcICQoLDA0ODw==:{}", STANDARD.encode(ct));
        let at_cap = payload.clone() + &" ".repeat(MAX_PAYLOAD_CHARS - payload.len());
        assert_eq!(at_cap.len(), MAX_PAYLOAD_CHARS);
        assert_eq!(
            &nist_key().decrypt(&at_cap).unwrap()[..],
            &hex("6bc1bee22e409f96e93d7e117393172a")[..]
        );
        let above = format!("{at_cap} ");
        assert_eq!(nist_key().decrypt(&above).unwrap_err(), CryptoError::Format);
    }

    #[test]
    fn debug_does_not_show_the_key() {
        assert_eq!(format!("{:?}", nist_key()), "ReadKey(<redacted>)");
    }

    #[test]
    fn keys_are_fresh() {
        let a = ReadKey::random().unwrap().query_value();
        let b = ReadKey::random().unwrap().query_value();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(!a.contains(['+', '/', '=']));
    }
}
