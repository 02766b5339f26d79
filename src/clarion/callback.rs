//! Clarion's registration callback (spec A.6), pure: the RSA key pair a registration is
//! encrypted to, and the decryption of the `data` field the register page posts back.
//!
//! `data` is JSON `{"data": B64(AES-256-GCM ciphertext), "key": B64(RSA-OAEP(inner))}` with
//! MIME base64 (a newline every 60 characters), RSA-OAEP with SHA-1 and MGF1-SHA-1, and
//! `inner` = `{"iv","tag","key"}`: the GCM tag travels beside the ciphertext, the AAD is empty.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeySize, OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Largest `data` field accepted: a real one is under 2 KiB.
pub const MAX_DATA_LEN: usize = 64 * 1024;
/// Limits on the registered key's fields; real values are far smaller.
const MAX_HANDLE_LEN: usize = 1024;
const MAX_PUBLIC_KEY_LEN: usize = 4096;
const MAX_NAME_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the registration data is larger than {MAX_DATA_LEN} bytes")]
    TooLarge,
    #[error("the registration data is not Clarion's {{\"data\",\"key\"}} JSON")]
    NotEnvelope,
    #[error("the registration field \"{0}\" is not base64")]
    Base64(&'static str),
    #[error("the registration was not encrypted to this registration's key")]
    KeyMismatch,
    #[error("the registration's inner key block is malformed")]
    InnerKey,
    #[error("the registration data failed its integrity check (tampered or truncated)")]
    Integrity,
    #[error("the decrypted registration is not a valid key: {0}")]
    Plaintext(&'static str),
    #[error("cannot create an RSA key pair")]
    KeyGeneration,
    #[error("the saved registration key is unreadable")]
    BadPrivateKey,
}

/// A registration's RSA-2048 key pair. aws-lc-rs clears the key material when it is dropped.
pub struct RegistrationKey {
    key: PrivateDecryptingKey,
}

impl std::fmt::Debug for RegistrationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistrationKey(<redacted>)")
    }
}

impl RegistrationKey {
    /// A fresh RSA-2048 key (Clarion needs ≥ 2048 bits; A.6 step 3).
    pub fn generate() -> Result<Self, CallbackError> {
        let key = PrivateDecryptingKey::generate(KeySize::Rsa2048)
            .map_err(|_| CallbackError::KeyGeneration)?;
        Ok(Self { key })
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CallbackError> {
        let key =
            PrivateDecryptingKey::from_pkcs8(der).map_err(|_| CallbackError::BadPrivateKey)?;
        Ok(Self { key })
    }

    /// PKCS#8 DER of the private key, cleared when dropped.
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CallbackError> {
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&self.key)
            .map_err(|_| CallbackError::BadPrivateKey)?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    /// The `public_key` parameter of `/register`: standard base64 of SubjectPublicKeyInfo DER.
    pub fn public_key_base64(&self) -> Result<String, CallbackError> {
        let der: PublicKeyX509Der = self
            .key
            .public_key()
            .as_der()
            .map_err(|_| CallbackError::KeyGeneration)?;
        Ok(STANDARD.encode(der.as_ref()))
    }

    /// Decrypts the callback's `data` field into the registered key.
    pub fn decrypt(&self, data: &str) -> Result<RegisteredKey, CallbackError> {
        if data.len() > MAX_DATA_LEN {
            return Err(CallbackError::TooLarge);
        }
        #[derive(Deserialize)]
        struct Envelope {
            data: String,
            key: String,
        }
        let env: Envelope = serde_json::from_str(data).map_err(|_| CallbackError::NotEnvelope)?;
        let sealed_key = mime_base64(&env.key).ok_or(CallbackError::Base64("key"))?;
        let ciphertext = mime_base64(&env.data).ok_or(CallbackError::Base64("data"))?;

        let oaep = OaepPrivateDecryptingKey::new(self.key.clone())
            .map_err(|_| CallbackError::BadPrivateKey)?;
        if sealed_key.len() != oaep.key_size_bytes() {
            return Err(CallbackError::KeyMismatch);
        }
        let mut inner_bytes = Zeroizing::new(vec![0u8; oaep.min_output_size()]);
        let inner_len = oaep
            .decrypt(&OAEP_SHA1_MGF1SHA1, &sealed_key, &mut inner_bytes, None)
            .map_err(|_| CallbackError::KeyMismatch)?
            .len();
        let inner: InnerKey = serde_json::from_slice(&inner_bytes[..inner_len])
            .map_err(|_| CallbackError::InnerKey)?;
        let iv = decode_exact::<12>(&inner.iv)?;
        let tag = decode_exact::<16>(&inner.tag)?;
        let aes_key = Zeroizing::new(decode_exact::<32>(&inner.key)?);

        let cipher =
            Aes256Gcm::new_from_slice(aes_key.as_ref()).map_err(|_| CallbackError::InnerKey)?;
        let mut plain = Zeroizing::new(ciphertext);
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(&iv),
                b"",
                &mut plain,
                Tag::from_slice(&tag),
            )
            .map_err(|_| CallbackError::Integrity)?;
        RegisteredKey::from_plaintext(&plain)
    }
}

/// `{"iv","tag","key"}` after RSA decryption; holds the AES key, so it is cleared on drop.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct InnerKey {
    iv: String,
    tag: String,
    key: String,
}

/// Standard base64 with any ASCII whitespace (Ruby's `pack('m*')` line breaks) removed.
fn mime_base64(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

fn decode_exact<const N: usize>(s: &str) -> Result<[u8; N], CallbackError> {
    let mut v = Zeroizing::new(mime_base64(s).ok_or(CallbackError::InnerKey)?);
    let out: [u8; N] = v
        .as_slice()
        .try_into()
        .map_err(|_| CallbackError::InnerKey)?;
    v.zeroize();
    Ok(out)
}

/// The key object Clarion's page produced (spec A.6 step 5), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredKey {
    pub kind: String,
    pub handle: String,
    pub name: Option<String>,
    pub counter: Option<u64>,
    pub public_key: String,
}

impl RegisteredKey {
    fn from_plaintext(bytes: &[u8]) -> Result<Self, CallbackError> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "type")]
            kind: String,
            handle: String,
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            counter: Option<u64>,
            public_key: String,
        }
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|_| CallbackError::Plaintext("not the expected JSON object"))?;
        if raw.kind != "webauthn" {
            return Err(CallbackError::Plaintext("type is not \"webauthn\""));
        }
        if !super::is_token(&raw.handle, MAX_HANDLE_LEN) {
            return Err(CallbackError::Plaintext("handle is not unpadded base64url"));
        }
        let public_key: String = raw
            .public_key
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if public_key.is_empty()
            || public_key.len() > MAX_PUBLIC_KEY_LEN
            || STANDARD.decode(&public_key).is_err()
        {
            return Err(CallbackError::Plaintext("public_key is not base64"));
        }
        if raw
            .name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
        {
            return Err(CallbackError::Plaintext("name is too long"));
        }
        Ok(Self {
            kind: raw.kind,
            handle: raw.handle,
            name: raw.name,
            counter: raw.counter,
            public_key,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aes_gcm::aead::AeadInPlace;
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
    use serde_json::{Value, json};

    /// Ruby `pack('m*')`: a newline after every 60 characters and at the end.
    fn pack_m(raw: &[u8]) -> String {
        let b = STANDARD.encode(raw);
        b.as_bytes()
            .chunks(60)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect()
    }

    /// Seals `plaintext` the way Clarion's `Key#to_encrypted_json` does.
    pub(crate) fn seal(public_key_b64: &str, plaintext: &[u8]) -> String {
        let spki = STANDARD.decode(public_key_b64).unwrap();
        let pk =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).unwrap()).unwrap();
        let (mut key, mut iv) = ([0u8; 32], [0u8; 12]);
        aws_lc_rs::rand::fill(&mut key).unwrap();
        aws_lc_rs::rand::fill(&mut iv).unwrap();
        let mut ct = plaintext.to_vec();
        let tag = Aes256Gcm::new_from_slice(&key)
            .unwrap()
            .encrypt_in_place_detached(Nonce::from_slice(&iv), b"", &mut ct)
            .unwrap();
        let inner = json!({"iv": STANDARD.encode(iv), "tag": STANDARD.encode(tag), "key": STANDARD.encode(key)});
        let mut sealed = vec![0u8; pk.ciphertext_size()];
        let sealed = pk
            .encrypt(
                &OAEP_SHA1_MGF1SHA1,
                inner.to_string().as_bytes(),
                &mut sealed,
                None,
            )
            .unwrap();
        json!({"data": pack_m(&ct), "key": pack_m(sealed)}).to_string()
    }

    fn vector() -> Value {
        serde_json::from_str(include_str!("../../tests/vectors/clarion_callback.json")).unwrap()
    }

    #[test]
    fn decrypts_an_independently_made_vector() {
        let v = vector();
        let der = STANDARD
            .decode(v["private_key_pkcs8"].as_str().unwrap())
            .unwrap();
        let key = RegistrationKey::from_pkcs8(&der).unwrap();
        assert_eq!(
            key.public_key_base64().unwrap(),
            v["public_key_spki"].as_str().unwrap()
        );
        let data = v["data"].as_str().unwrap();
        assert!(
            data.contains("\\n"),
            "the vector must carry MIME line breaks"
        );
        let got = key.decrypt(data).unwrap();
        assert_eq!(
            got,
            RegisteredKey {
                kind: "webauthn".into(),
                handle: "Zm9vYmFyLWNyZWRlbnRpYWwtaWQtMTIzNDU2Nzg5MA".into(),
                name: Some("yubikey 5 nfc".into()),
                counter: Some(7),
                public_key: "pQECAyYgASFYIBaoLe1ZKZVwjzV3KNjNRI6JcSBvHNQ2skT4gZvB0iEMIlgg8W9Vh2cS5LTgwyk0Cr9D4VXfOz3z6v6mYA9UsfDjcx4=".into(),
            }
        );
    }

    #[test]
    fn round_trip_with_a_fresh_key_and_pkcs8_reload() {
        let key = RegistrationKey::generate().unwrap();
        let pem = key.public_key_base64().unwrap();
        let data = seal(
            &pem,
            br#"{"type":"webauthn","handle":"aGk","public_key":"AQID"}"#,
        );
        let reloaded = RegistrationKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
        let got = reloaded.decrypt(&data).unwrap();
        assert_eq!(
            (got.handle.as_str(), got.name, got.counter),
            ("aGk", None, None)
        );
    }

    #[test]
    fn another_keys_registration_is_refused() {
        let ours = RegistrationKey::generate().unwrap();
        let theirs = RegistrationKey::generate().unwrap();
        let data = seal(
            &theirs.public_key_base64().unwrap(),
            br#"{"type":"webauthn","handle":"aGk","public_key":"AQID"}"#,
        );
        assert_eq!(ours.decrypt(&data), Err(CallbackError::KeyMismatch));
    }

    #[test]
    fn tampering_is_detected() {
        let v = vector();
        let key = RegistrationKey::from_pkcs8(
            &STANDARD
                .decode(v["private_key_pkcs8"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let env: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
        let mut ct = mime_base64(env["data"].as_str().unwrap()).unwrap();
        ct[0] ^= 1;
        let forged = json!({"data": STANDARD.encode(&ct), "key": env["key"]}).to_string();
        assert_eq!(key.decrypt(&forged), Err(CallbackError::Integrity));
        ct.pop();
        let short = json!({"data": STANDARD.encode(&ct), "key": env["key"]}).to_string();
        assert_eq!(key.decrypt(&short), Err(CallbackError::Integrity));
    }

    #[test]
    fn malformed_input_gives_the_matching_error() {
        let key = RegistrationKey::generate().unwrap();
        let pk = key.public_key_base64().unwrap();
        let cases: Vec<(String, CallbackError)> = vec![
            ("x".repeat(MAX_DATA_LEN + 1), CallbackError::TooLarge),
            ("not json".into(), CallbackError::NotEnvelope),
            (r#"{"data":"AA=="}"#.into(), CallbackError::NotEnvelope),
            (
                r#"{"data":"AA==","key":"%%%"}"#.into(),
                CallbackError::Base64("key"),
            ),
            (
                r#"{"data":"A","key":"AA=="}"#.into(),
                CallbackError::Base64("data"),
            ),
            (
                r#"{"data":"AA==","key":"AA=="}"#.into(),
                CallbackError::KeyMismatch,
            ),
            (
                seal(&pk, b"[1]"),
                CallbackError::Plaintext("not the expected JSON object"),
            ),
            (
                seal(
                    &pk,
                    br#"{"type":"fido-legacy","handle":"aGk","public_key":"AQID"}"#,
                ),
                CallbackError::Plaintext("type is not \"webauthn\""),
            ),
            (
                seal(
                    &pk,
                    br#"{"type":"webauthn","handle":"a+b","public_key":"AQID"}"#,
                ),
                CallbackError::Plaintext("handle is not unpadded base64url"),
            ),
            (
                seal(
                    &pk,
                    br#"{"type":"webauthn","handle":"aGk","public_key":"A"}"#,
                ),
                CallbackError::Plaintext("public_key is not base64"),
            ),
        ];
        for (data, want) in cases {
            assert_eq!(key.decrypt(&data), Err(want.clone()), "{want}");
        }
    }

    #[test]
    fn a_bad_inner_block_is_reported() {
        let key = RegistrationKey::generate().unwrap();
        let spki = STANDARD.decode(key.public_key_base64().unwrap()).unwrap();
        let pk =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).unwrap()).unwrap();
        for inner in [
            r#"{"iv":"AAAA","tag":"AAAAAAAAAAAAAAAAAAAAAA==","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
            r#"not json"#,
        ] {
            let mut out = vec![0u8; pk.ciphertext_size()];
            let sealed = pk
                .encrypt(&OAEP_SHA1_MGF1SHA1, inner.as_bytes(), &mut out, None)
                .unwrap();
            let data = json!({"data": "AAAA", "key": STANDARD.encode(sealed)}).to_string();
            assert_eq!(key.decrypt(&data), Err(CallbackError::InnerKey));
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let key = RegistrationKey::generate().unwrap();
        assert_eq!(format!("{key:?}"), "RegistrationKey(<redacted>)");
    }
}
