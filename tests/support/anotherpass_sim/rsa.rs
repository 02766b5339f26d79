//! The app's RSA: its own key pair (the client encrypts OTKrq to it with OAEP-SHA-1/MGF1-SHA-1,
//! the Android Keystore workaround) and encryption of OTKrs to the client's JWK key with
//! OAEP-SHA-256/MGF1-SHA-256 (Conscrypt). All through aws-lc-rs (spec §2.1).

use super::android;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents,
};
use aws_lc_rs::signature::KeyPair as _;

/// The keystore key `webExt/curr/<id>` of one link.
pub struct AppKey {
    private: OaepPrivateDecryptingKey,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppKey({} bits)", self.n.len() * 8)
    }
}

impl AppKey {
    /// A fresh key pair. The app uses 4096 bits; 2048 and 3072 exist for fast tests.
    pub fn generate(bits: usize) -> Result<Self, String> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            other => return Err(format!("unsupported RSA key size {other}")),
        };
        let pair = KeyPair::generate(size).map_err(|e| format!("RSA keygen: {e}"))?;
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let pkcs8 = pair.as_der().map_err(|e| format!("RSA export: {e}"))?;
        let private = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref())
            .and_then(|k| OaepPrivateDecryptingKey::new(k).map_err(Into::into))
            .map_err(|e| format!("RSA import: {e}"))?;
        Ok(Self { private, n, e })
    }

    /// `serverPubKey.n`: unsigned big-endian modulus, base64url without padding.
    pub fn n_b64url(&self) -> String {
        android::b64_url_nopad(&self.n)
    }

    /// `serverPubKey.e` (`"AQAB"`).
    pub fn e_b64url(&self) -> String {
        android::b64_url_nopad(&self.e)
    }

    pub fn bits(&self) -> usize {
        self.n.len() * 8
    }

    /// `decryptKeyWithPrivateKey(..., workaroundMode = true)`: OAEP with SHA-1 and MGF1-SHA-1.
    pub fn decrypt_one_time_key(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = vec![0u8; self.private.min_output_size()];
        let plain = self
            .private
            .decrypt(&OAEP_SHA1_MGF1SHA1, ciphertext, &mut out, None)
            .map_err(|_| "javax.crypto.BadPaddingException: error:04000084:RSA routines:OPENSSL_internal:PKCS_DECODING_ERROR".to_string())?;
        Ok(plain.to_vec())
    }
}

/// Encrypts to the client's JWK (`n`, `e` read with Android's URL-safe decoder, as unsigned
/// big-endian integers) with OAEP-SHA-256/MGF1-SHA-256 (`RSA/None/OAEPwithSHA-256andMGF1Padding`).
pub fn encrypt_to_client(
    n_b64url: &str,
    e_b64url: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    let strip = |v: Vec<u8>| -> Vec<u8> {
        let first = v.iter().position(|&b| b != 0).unwrap_or(v.len());
        v[first..].to_vec()
    };
    let n = strip(android::b64_decode(n_b64url, true).map_err(|e| e.to_string())?);
    let e = strip(android::b64_decode(e_b64url, true).map_err(|e| e.to_string())?);
    let public: PublicEncryptingKey = PublicKeyComponents { n, e }.try_into().map_err(|_| {
        "java.security.spec.InvalidKeySpecException: invalid RSA public key".to_string()
    })?;
    let key = OaepPublicEncryptingKey::new(public).map_err(|e| format!("RSA key: {e}"))?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let ct = key
        .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
        .map_err(|_| "javax.crypto.IllegalBlockSizeException: RSA encryption failed".to_string())?;
    Ok(ct.to_vec())
}
