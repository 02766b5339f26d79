//! The vault's cryptographic primitives: randomness, HKDF, PBKDF2, X25519, HMAC and
//! AES-256-GCM in place (aws-lc-rs: its AES-GCM runs about 4× faster than a portable one, and
//! in place means plaintext only ever lives in buffers we zeroize), and Argon2id (argon2).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::{agreement, hkdf, hmac, pbkdf2};
use std::num::NonZeroU32;
use zeroize::Zeroizing;

pub type Key32 = Zeroizing<[u8; 32]>;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the system random number generator failed")]
    Random,
    #[error("authentication failed")]
    Auth,
    #[error("invalid key derivation parameters")]
    Params,
}

pub fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

pub fn random_key() -> Result<Key32, CryptoError> {
    let mut k = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut *k).map_err(|_| CryptoError::Random)?;
    Ok(k)
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// HKDF-SHA-256 (RFC 5869) with a 32-byte output.
pub fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Key32 {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    // Both only fail for outputs longer than 255 hash lengths; 32 bytes is always valid.
    prk.expand(&[info], Len32)
        .and_then(|okm| okm.fill(&mut *out))
        .expect("HKDF-SHA-256 with a 32-byte output cannot fail");
    out
}

/// PBKDF2-HMAC-SHA-256 with a 32-byte output.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Key32 {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password,
        &mut *out,
    );
    out
}

/// Argon2id (RFC 9106) with a 32-byte output; `m_kib` KiB of memory, `t` passes, `p` lanes.
pub fn argon2id(
    password: &[u8],
    salt: &[u8],
    m_kib: u32,
    t: u32,
    p: u32,
) -> Result<Key32, CryptoError> {
    let params = argon2::Params::new(m_kib, t, p, Some(32)).map_err(|_| CryptoError::Params)?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(password, salt, &mut *out)
        .map_err(|_| CryptoError::Params)?;
    Ok(out)
}

/// The X25519 public key of the private key `secret` (any 32 bytes; X25519 clamps them).
pub fn x25519_public(secret: &[u8; 32]) -> Result<[u8; 32], CryptoError> {
    let private = agreement::PrivateKey::from_private_key(&agreement::X25519, secret)
        .map_err(|_| CryptoError::Params)?;
    let public = private
        .compute_public_key()
        .map_err(|_| CryptoError::Params)?;
    public.as_ref().try_into().map_err(|_| CryptoError::Params)
}

/// X25519 with a fresh ephemeral key towards `peer`: (ephemeral public key, shared secret).
/// This seals a key for a slot whose secret we do not hold, only its public key.
pub fn x25519_ephemeral(peer: &[u8; 32]) -> Result<([u8; 32], Key32), CryptoError> {
    let eph =
        agreement::PrivateKey::generate(&agreement::X25519).map_err(|_| CryptoError::Random)?;
    let eph_pub: [u8; 32] = eph
        .compute_public_key()
        .map_err(|_| CryptoError::Random)?
        .as_ref()
        .try_into()
        .map_err(|_| CryptoError::Params)?;
    let shared = x25519_agree(&eph, peer)?;
    Ok((eph_pub, shared))
}

/// X25519 of the private key `secret` with `peer`.
pub fn x25519_shared(secret: &[u8; 32], peer: &[u8; 32]) -> Result<Key32, CryptoError> {
    let private = agreement::PrivateKey::from_private_key(&agreement::X25519, secret)
        .map_err(|_| CryptoError::Params)?;
    x25519_agree(&private, peer)
}

fn x25519_agree(private: &agreement::PrivateKey, peer: &[u8; 32]) -> Result<Key32, CryptoError> {
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer);
    agreement::agree(private, peer, CryptoError::Auth, |s| {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(s.get(..32).ok_or(CryptoError::Auth)?);
        Ok(out)
    })
}

/// An HMAC-SHA-256 key, prepared once for many messages.
pub struct HmacKey(hmac::Key);

impl HmacKey {
    pub fn new(key: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.0, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

/// Encrypts `buf` in place with AES-256-GCM and returns the tag.
pub fn seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], CryptoError> {
    let tag = aes_key(key)?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf)
        .map_err(|_| CryptoError::Auth)?;
    tag.as_ref().try_into().map_err(|_| CryptoError::Auth)
}

fn aes_key(key: &[u8; 32]) -> Result<LessSafeKey, CryptoError> {
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Params)?,
    ))
}

/// Decrypts `buf` in place. On a tag mismatch `buf` holds unspecified bytes: callers keep it
/// in a zeroizing buffer and discard it.
pub fn open_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), CryptoError> {
    aes_key(key)?
        .open_in_place_separate_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            tag,
            buf,
        )
        .map(|_| ())
        .map_err(|_| CryptoError::Auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn hkdf_rfc5869_case_1_prefix() {
        // RFC 5869 A.1: IKM = 0x0b*22, salt = 0x00..0x0c, info = 0xf0..0xf9; first 32 bytes of OKM.
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        assert_eq!(
            hex(&*hkdf32(&ikm, &salt, &info)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    #[test]
    fn pbkdf2_sha256_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA-256("passwd", "salt", 1), first 32 bytes.
        let k = pbkdf2_sha256(b"passwd", b"salt", NonZeroU32::new(1).unwrap());
        assert_eq!(
            hex(&*k),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        assert_eq!(
            hex(&HmacKey::new(b"Jefe").sign(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn aes_gcm_nist_vector_and_tamper() {
        // NIST GCM test case 15 (AES-256, 96-bit IV), without AAD.
        let key: [u8; 32] =
            hex_to("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        let nonce: [u8; 12] = hex_to("cafebabefacedbaddecaf888");
        let pt = hex_vec(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        );
        let mut buf = pt.clone();
        let tag = seal_in_place(&key, &nonce, b"", &mut buf).unwrap();
        assert_eq!(
            hex(&buf),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
        );
        assert_eq!(hex(&tag), "b094dac5d93471bdec1a502270e3cc6c");
        let mut wrong = buf.clone();
        wrong[3] ^= 1;
        assert_eq!(
            open_in_place(&key, &nonce, b"", &mut wrong, &tag),
            Err(CryptoError::Auth)
        );
        assert_eq!(
            open_in_place(&key, &nonce, b"aad", &mut buf.clone(), &tag),
            Err(CryptoError::Auth)
        );
        open_in_place(&key, &nonce, b"", &mut buf, &tag).unwrap();
        assert_eq!(buf, pt);
    }

    #[test]
    fn argon2id_rfc9106_shape_and_x25519_agreement() {
        // Deterministic, salt- and cost-sensitive.
        let a = argon2id(b"pw", b"saltsaltsaltsalt", 1024, 1, 1).unwrap();
        assert_eq!(
            *a,
            *argon2id(b"pw", b"saltsaltsaltsalt", 1024, 1, 1).unwrap()
        );
        assert_ne!(
            *a,
            *argon2id(b"pw", b"saltsaltsaltsalX", 1024, 1, 1).unwrap()
        );
        assert_ne!(
            *a,
            *argon2id(b"pw", b"saltsaltsaltsalt", 1024, 2, 1).unwrap()
        );
        assert_eq!(
            argon2id(b"pw", b"s", 1024, 1, 1).err(),
            Some(CryptoError::Params)
        );
        // RFC 7748 §6.1: Alice's private and public key.
        let alice: [u8; 32] =
            hex_to("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        assert_eq!(
            hex(&x25519_public(&alice).unwrap()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        let bob = [42u8; 32];
        let (eph, s1) = x25519_ephemeral(&x25519_public(&bob).unwrap()).unwrap();
        assert_eq!(*s1, *x25519_shared(&bob, &eph).unwrap());
    }

    fn hex_vec(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    fn hex_to<const N: usize>(s: &str) -> [u8; N] {
        hex_vec(s).try_into().unwrap()
    }
}
