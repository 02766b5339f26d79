//! RSA through aws-lc-rs (constant-time; the `rsa` crate carries RUSTSEC-2023-0071).
//!
//! Two paddings meet in this protocol (spec §2.1): the client encrypts to the app's keystore key
//! with OAEP-SHA-1/MGF1-SHA-1 (an Android keystore limitation — do not "fix" it), and the app
//! encrypts to the client's key with OAEP-SHA-256/MGF1-SHA-256. Both use an empty label.
//! Public keys travel as JWK `n`/`e`: unsigned big-endian, base64url without padding.

use super::b64;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    self as lc, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm,
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    PublicKeyComponents,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Key sizes this client accepts or generates. 4096 is the protocol's size; smaller sizes exist
/// only for tests (see `Settings::rsa_bits`).
pub const PROTOCOL_BITS: usize = 4096;
pub const MIN_BITS: usize = 2048;
pub const MAX_BITS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oaep {
    /// OAEP-SHA-1 with MGF1-SHA-1: client → app.
    Sha1,
    /// OAEP-SHA-256 with MGF1-SHA-256: app → client.
    Sha256,
}

impl Oaep {
    fn algorithm(self) -> &'static OaepAlgorithm {
        match self {
            Oaep::Sha1 => &OAEP_SHA1_MGF1SHA1,
            Oaep::Sha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RsaError {
    #[error("RSA key generation failed")]
    Generate,
    #[error("unsupported RSA key size {0} (allowed: 2048, 3072, 4096)")]
    KeySize(usize),
    #[error("the stored RSA private key is not a valid PKCS#8 RSA key")]
    PrivateKey,
    #[error(
        "the RSA public key is not valid (n/e must be base64url big-endian integers, 2048–8192 bits)"
    )]
    PublicKey,
    #[error("the RSA ciphertext does not decrypt with this key")]
    Decrypt,
    #[error("RSA encryption failed")]
    Encrypt,
}

/// An RSA private key (the client's own; tests also use one to play the phone).
pub struct RsaKeyPair {
    /// Kept for DER export (the OAEP wrapper does not expose its key); shares aws-lc's key object.
    key: PrivateDecryptingKey,
    private: OaepPrivateDecryptingKey,
    public: RsaPublicKey,
}

impl std::fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKeyPair({} bits, <private>)", self.bits())
    }
}

impl RsaKeyPair {
    /// Generates a key with e = 65537. 4096 bits takes about a second.
    pub fn generate(bits: usize) -> Result<Self, RsaError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            other => return Err(RsaError::KeySize(other)),
        };
        let key = PrivateDecryptingKey::generate(size).map_err(|_| RsaError::Generate)?;
        Self::from_private(key).map_err(|_| RsaError::Generate)
    }

    /// Loads a PKCS#8 (v1) DER private key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, RsaError> {
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| RsaError::PrivateKey)?;
        Self::from_private(key)
    }

    fn from_private(key: PrivateDecryptingKey) -> Result<Self, RsaError> {
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| RsaError::PrivateKey)?;
        let parsed = lc::PublicKey::from_der(spki.as_ref()).map_err(|_| RsaError::PrivateKey)?;
        let public = RsaPublicKey::from_components(
            parsed.modulus().big_endian_without_leading_zero(),
            parsed.exponent().big_endian_without_leading_zero(),
        )?;
        let private =
            OaepPrivateDecryptingKey::new(key.clone()).map_err(|_| RsaError::PrivateKey)?;
        Ok(Self {
            key,
            private,
            public,
        })
    }

    /// PKCS#8 (v1) DER, zeroized on drop.
    pub fn pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, RsaError> {
        let der = self.key.as_der().map_err(|_| RsaError::PrivateKey)?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    pub fn public(&self) -> &RsaPublicKey {
        &self.public
    }

    pub fn bits(&self) -> usize {
        self.private.key_size_bits()
    }

    /// Decrypts an OAEP ciphertext (must be exactly the modulus size).
    pub fn decrypt(&self, oaep: Oaep, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, RsaError> {
        if ciphertext.len() != self.private.key_size_bytes() {
            return Err(RsaError::Decrypt);
        }
        let mut out = Zeroizing::new(vec![0u8; self.private.min_output_size()]);
        let n = self
            .private
            .decrypt(oaep.algorithm(), ciphertext, &mut out, None)
            .map_err(|_| RsaError::Decrypt)?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

/// An RSA public key in the protocol's JWK form.
#[derive(Clone)]
pub struct RsaPublicKey {
    n: String,
    e: String,
    key: PublicEncryptingKey,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits())
    }
}

impl RsaPublicKey {
    fn from_components(n: &[u8], e: &[u8]) -> Result<Self, RsaError> {
        let n_str = b64::url_nopad(n);
        let e_str = b64::url_nopad(e);
        Self::build(n_str, e_str, n, e)
    }

    fn build(n_str: String, e_str: String, n: &[u8], e: &[u8]) -> Result<Self, RsaError> {
        let bits = n.len() * 8;
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || e.is_empty() || e.len() > 8 {
            return Err(RsaError::PublicKey);
        }
        let pk: PublicEncryptingKey = PublicKeyComponents { n, e }
            .try_into()
            .map_err(|_| RsaError::PublicKey)?;
        Ok(Self {
            n: n_str,
            e: e_str,
            key: pk,
        })
    }

    /// Parses JWK `n` and `e` (any base64 flavour; leading zero bytes are ignored). The `n`
    /// string is kept exactly as given, because fingerprints hash that string.
    pub fn from_jwk(n: &str, e: &str) -> Result<Self, RsaError> {
        if n.len() > 2 * MAX_BITS || e.len() > 16 {
            return Err(RsaError::PublicKey);
        }
        let nb = b64::decode(n).map_err(|_| RsaError::PublicKey)?;
        let eb = b64::decode(e).map_err(|_| RsaError::PublicKey)?;
        let strip = |b: &[u8]| -> Vec<u8> {
            let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[i..].to_vec()
        };
        Self::build(n.to_owned(), e.to_owned(), &strip(&nb), &strip(&eb))
    }

    /// The `n` string (base64url, no padding).
    pub fn n(&self) -> &str {
        &self.n
    }

    pub fn e(&self) -> &str {
        &self.e
    }

    pub fn bits(&self) -> usize {
        self.key.key_size_bits()
    }

    /// The full JWK a WebCrypto `exportKey("jwk")` gives for the extension's key; the app keeps
    /// the JSON as-is and reads only `n` and `e`.
    pub fn client_jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "n": self.n,
            "e": self.e,
            "alg": "RSA-OAEP-256",
            "key_ops": ["encrypt"],
            "ext": true,
        })
    }

    pub fn encrypt(&self, oaep: Oaep, plaintext: &[u8]) -> Result<Vec<u8>, RsaError> {
        let key = OaepPublicEncryptingKey::new(self.key.clone()).map_err(|_| RsaError::Encrypt)?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let n = key
            .encrypt(oaep.algorithm(), plaintext, &mut out, None)
            .map_err(|_| RsaError::Encrypt)?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One 2048-bit key per test binary (generation is the slow part).
    pub(crate) fn small_key() -> &'static RsaKeyPair {
        static K: OnceLock<RsaKeyPair> = OnceLock::new();
        K.get_or_init(|| RsaKeyPair::generate(2048).unwrap())
    }

    #[test]
    fn protocol_size_4096_round_trips_both_paddings() {
        let k = RsaKeyPair::generate(PROTOCOL_BITS).unwrap();
        assert_eq!(k.bits(), 4096);
        // 512-byte modulus → 683 base64url characters, e = AQAB.
        assert_eq!(k.public().n().len(), 683);
        assert_eq!(k.public().e(), "AQAB");
        let otk = [0x5au8; 32];
        for oaep in [Oaep::Sha1, Oaep::Sha256] {
            let ct = k.public().encrypt(oaep, &otk).unwrap();
            assert_eq!(ct.len(), 512);
            assert_eq!(&*k.decrypt(oaep, &ct).unwrap(), &otk);
        }
        // Re-imported from its JWK, the public key encrypts to the same private key.
        let again = RsaPublicKey::from_jwk(k.public().n(), k.public().e()).unwrap();
        let ct = again.encrypt(Oaep::Sha1, b"abc").unwrap();
        assert_eq!(&*k.decrypt(Oaep::Sha1, &ct).unwrap(), b"abc");
    }

    #[test]
    fn paddings_do_not_mix() {
        let k = small_key();
        let ct = k.public().encrypt(Oaep::Sha1, b"secret").unwrap();
        assert_eq!(k.decrypt(Oaep::Sha256, &ct).unwrap_err(), RsaError::Decrypt);
        let ct = k.public().encrypt(Oaep::Sha256, b"secret").unwrap();
        assert_eq!(k.decrypt(Oaep::Sha1, &ct).unwrap_err(), RsaError::Decrypt);
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key() {
        let k = small_key();
        let der = k.pkcs8().unwrap();
        let k2 = RsaKeyPair::from_pkcs8(&der).unwrap();
        assert_eq!(k2.public().n(), k.public().n());
        let ct = k.public().encrypt(Oaep::Sha256, b"x").unwrap();
        assert_eq!(&*k2.decrypt(Oaep::Sha256, &ct).unwrap(), b"x");
        assert_eq!(
            RsaKeyPair::from_pkcs8(b"not der").unwrap_err(),
            RsaError::PrivateKey
        );
    }

    #[test]
    fn jwk_shape_and_tolerant_import() {
        let k = small_key();
        let jwk = k.public().client_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RSA-OAEP-256");
        assert_eq!(jwk["n"], k.public().n());
        // A leading zero byte (a Java sign byte) and standard-alphabet input are tolerated.
        let mut n = b64::decode(k.public().n()).unwrap().to_vec();
        n.insert(0, 0);
        let p = RsaPublicKey::from_jwk(&b64::std_padded(&n), "AQAB").unwrap();
        assert_eq!(p.bits(), 2048);
    }

    #[test]
    fn bad_public_keys_are_rejected() {
        for (n, e) in [
            ("", "AQAB"),
            ("AQAB", "AQAB"),
            ("%%%", "AQAB"),
            (small_key().public().n(), ""),
        ] {
            assert_eq!(
                RsaPublicKey::from_jwk(n, e).unwrap_err(),
                RsaError::PublicKey,
                "{n} {e}"
            );
        }
        assert_eq!(
            RsaKeyPair::generate(1024).unwrap_err(),
            RsaError::KeySize(1024)
        );
    }

    #[test]
    fn wrong_length_ciphertext_is_a_decrypt_error() {
        assert_eq!(
            small_key().decrypt(Oaep::Sha256, &[1, 2, 3]).unwrap_err(),
            RsaError::Decrypt
        );
    }
}
