//! The sjcl envelope Passman stores in every client-encrypted field (spec B.5): PBKDF2-HMAC-SHA256
//! (salt 8 bytes, 1000 iterations) → AES-256-CCM, 8-byte tag, empty associated data, the nonce
//! being the first 15−L bytes of a 16-byte iv (L = 2, 3 or 4 by plaintext size). The sjcl JSON is
//! then base64-encoded once more ("stored form").
//!
//! Output is exactly what Passman's vendored sjcl 1.0.8 writes and accepts: compact JSON, its key
//! order, unpadded base64 inside, padded base64 outside. Input is read liberally: any key order,
//! padded or unpadded base64, parameters taken from the JSON (within what CCM allows).
//! Pure: bytes in, bytes out; randomness only in [`Keyring::encrypt`].

use aes::Aes256;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD,
};
use ccm::aead::{Aead, KeyInit, Payload};
use ccm::consts::{U8, U11, U12, U13};
use serde_json::Value;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Passman's required parameters (its sjcl throws "required parameter overridden" otherwise).
pub const ITER: u32 = 1000;
pub const KEY_BITS: u32 = 256;
pub const TAG_BITS: u32 = 64;
const SALT_BYTES: usize = 8;
const IV_BYTES: usize = 16;
/// Refuse more work than this per key derivation (a hostile field must not stall the host).
pub const MAX_ITER: u32 = 100_000;
/// Largest stored field accepted (Passman's file data can be large; credentials are small).
pub const MAX_STORED_BYTES: usize = 32 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SjclError {
    #[error("the field is not base64")]
    NotBase64,
    #[error("the field is not an sjcl JSON object")]
    NotJson,
    #[error("the sjcl field lacks or mangles {0:?}")]
    Malformed(&'static str),
    #[error("the sjcl field uses an unsupported {0}")]
    Unsupported(&'static str),
    /// The tag check failed: another key (or damaged data).
    #[error("the field does not decrypt with this key")]
    WrongKey,
    #[error("the field is larger than {MAX_STORED_BYTES} bytes")]
    TooLarge,
}

/// Base64 in any of the forms sjcl and browsers produce: standard alphabet, padding optional.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(s.as_bytes()).ok()
}

/// One decoded sjcl envelope, parameters as the JSON gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub iv: Vec<u8>,
    pub salt: Vec<u8>,
    pub iter: u32,
    pub adata: Vec<u8>,
    /// Ciphertext followed by the 8-byte tag.
    pub ct: Vec<u8>,
}

/// Parses the stored form (base64 of JSON) or the raw sjcl JSON.
pub fn parse(stored: &str) -> Result<Envelope, SjclError> {
    if stored.len() > MAX_STORED_BYTES {
        return Err(SjclError::TooLarge);
    }
    let trimmed = stored.trim();
    let json_bytes = if trimmed.starts_with('{') {
        trimmed.as_bytes().to_vec()
    } else {
        b64_decode(trimmed).ok_or(SjclError::NotBase64)?
    };
    let v: Value = serde_json::from_slice(&json_bytes).map_err(|_| SjclError::NotJson)?;
    let obj = v.as_object().ok_or(SjclError::NotJson)?;
    let text = |k: &'static str| obj.get(k).and_then(Value::as_str);
    let num = |k: &'static str| obj.get(k).and_then(Value::as_u64);
    let bytes = |k: &'static str| text(k).and_then(b64_decode).ok_or(SjclError::Malformed(k));
    if let Some(m) = obj.get("mode")
        && m.as_str() != Some("ccm")
    {
        return Err(SjclError::Unsupported("mode"));
    }
    if let Some(c) = obj.get("cipher")
        && c.as_str() != Some("aes")
    {
        return Err(SjclError::Unsupported("cipher"));
    }
    if obj.get("v").is_some_and(|v| v.as_u64() != Some(1)) {
        return Err(SjclError::Unsupported("version"));
    }
    if obj
        .get("ks")
        .is_some_and(|_| num("ks") != Some(u64::from(KEY_BITS)))
    {
        return Err(SjclError::Unsupported("key size"));
    }
    if obj
        .get("ts")
        .is_some_and(|_| num("ts") != Some(u64::from(TAG_BITS)))
    {
        return Err(SjclError::Unsupported("tag size"));
    }
    let iter = match obj.get("iter") {
        None => ITER,
        Some(_) => num("iter")
            .filter(|n| (1..=u64::from(MAX_ITER)).contains(n))
            .ok_or(SjclError::Unsupported("iteration count"))? as u32,
    };
    let adata = match text("adata") {
        None | Some("") => Vec::new(),
        Some(a) => b64_decode(a).ok_or(SjclError::Malformed("adata"))?,
    };
    let env = Envelope {
        iv: bytes("iv")?,
        salt: bytes("salt")?,
        iter,
        adata,
        ct: bytes("ct")?,
    };
    if env.ct.len() < 8 {
        return Err(SjclError::Malformed("ct"));
    }
    if !(7..=16).contains(&env.iv.len()) {
        return Err(SjclError::Malformed("iv"));
    }
    Ok(env)
}

/// sjcl's choice of CCM length field size: 2 bytes below 64 KiB, 3 below 16 MiB, else 4; never
/// smaller than what the iv leaves room for.
pub fn length_bytes(plaintext_len: usize, iv_len: usize) -> usize {
    let mut l = 2;
    while l < 4 && (plaintext_len >> (8 * l)) != 0 {
        l += 1;
    }
    l.max(15usize.saturating_sub(iv_len))
}

fn ccm_crypt(
    key: &[u8; 32],
    iv: &[u8],
    adata: &[u8],
    data: &[u8],
    plaintext_len: usize,
    encrypt: bool,
) -> Result<Vec<u8>, SjclError> {
    let nonce_len = 15 - length_bytes(plaintext_len, iv.len());
    let nonce = iv.get(..nonce_len).ok_or(SjclError::Malformed("iv"))?;
    let payload = Payload {
        msg: data,
        aad: adata,
    };
    macro_rules! run {
        ($n:ty) => {{
            let c = ccm::Ccm::<Aes256, U8, $n>::new(key.into());
            let nonce = ccm::aead::generic_array::GenericArray::from_slice(nonce);
            if encrypt {
                c.encrypt(nonce, payload).map_err(|_| SjclError::TooLarge)
            } else {
                c.decrypt(nonce, payload).map_err(|_| SjclError::WrongKey)
            }
        }};
    }
    match nonce_len {
        13 => run!(U13),
        12 => run!(U12),
        11 => run!(U11),
        _ => Err(SjclError::Unsupported("nonce length")),
    }
}

/// PBKDF2-HMAC-SHA256 of the password, 32 bytes.
pub fn derive_key(password: &[u8], salt: &[u8], iter: u32) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let iter = NonZeroU32::new(iter.max(1)).expect("at least 1");
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
        iter,
        salt,
        password,
        out.as_mut(),
    );
    out
}

/// Decrypts an envelope with an already derived key.
pub fn open(key: &[u8; 32], env: &Envelope) -> Result<Zeroizing<Vec<u8>>, SjclError> {
    let pt_len = env.ct.len() - 8;
    ccm_crypt(key, &env.iv, &env.adata, &env.ct, pt_len, false).map(Zeroizing::new)
}

/// Encrypts with explicit randomness and returns the stored form. The JSON has exactly the
/// keys, order and values Passman's vendored sjcl writes.
pub fn seal(key: &[u8; 32], salt: &[u8; 8], iv: &[u8; 16], plaintext: &[u8]) -> String {
    let ct = ccm_crypt(key, iv, &[], plaintext, plaintext.len(), true)
        .expect("CCM takes any plaintext below 2^32 bytes");
    let json = format!(
        r#"{{"iv":"{}","v":1,"iter":{ITER},"ks":{KEY_BITS},"ts":{TAG_BITS},"mode":"ccm","adata":"","cipher":"aes","salt":"{}","ct":"{}"}}"#,
        STANDARD_NO_PAD.encode(iv),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(&ct),
    );
    STANDARD.encode(json)
}

/// A password (vault key or shared key) with its derived keys cached by salt, as sjcl caches
/// them per page: a vault of hundreds of credentials otherwise costs a PBKDF2 per field.
/// Encryption reuses one random salt per keyring (as sjcl does) with a fresh iv every time.
pub struct Keyring {
    password: Zeroizing<String>,
    write_salt: [u8; SALT_BYTES],
    cache: Mutex<KeyCache>,
}

const MAX_CACHED_KEYS: usize = 256;

/// Derived keys by (salt, iterations).
type KeyCache = HashMap<(Vec<u8>, u32), Zeroizing<[u8; 32]>>;

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

impl Keyring {
    pub fn new(password: &str) -> Self {
        let mut salt = [0u8; SALT_BYTES];
        random(&mut salt);
        Self {
            password: Zeroizing::new(password.to_owned()),
            write_salt: salt,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The password itself: what the passbridge agent holds to share an unlock.
    pub fn password(&self) -> &str {
        &self.password
    }

    fn key(&self, salt: &[u8], iter: u32) -> Zeroizing<[u8; 32]> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = cache.get(&(salt.to_vec(), iter)) {
            return k.clone();
        }
        let k = derive_key(self.password.as_bytes(), salt, iter);
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert((salt.to_vec(), iter), k.clone());
        k
    }

    /// The plaintext of a stored field.
    pub fn decrypt(&self, stored: &str) -> Result<Zeroizing<Vec<u8>>, SjclError> {
        let env = parse(stored)?;
        open(&self.key(&env.salt, env.iter), &env)
    }

    /// The stored form of `plaintext`, with a fresh random iv.
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        let mut iv = [0u8; IV_BYTES];
        random(&mut iv);
        seal(
            &self.key(&self.write_salt, ITER),
            &self.write_salt,
            &iv,
            plaintext,
        )
    }
}

fn random(buf: &mut [u8]) {
    aws_lc_rs::rand::fill(buf).expect("the system random generator works");
}

#[cfg(test)]
mod tests {
    use super::*;

    // Spec B.5: made with Passman's vendored sjcl, vault key "my vault key".
    const HUNTER2_JSON: &str = r#"{"iv":"zRBh/QJVxKHYj9wBnJjxqA","v":1,"iter":1000,"ks":256,"ts":64,"mode":"ccm","adata":"","cipher":"aes","salt":"kQtLW7s9lSk","ct":"G9no61MrHCVdXGaZu+x8SOg"}"#;
    const HUNTER2_STORED: &str = "eyJpdiI6InpSQmgvUUpWeEtIWWo5d0JuSmp4cUEiLCJ2IjoxLCJpdGVyIjoxMDAwLCJrcyI6MjU2LCJ0cyI6NjQsIm1vZGUiOiJjY20iLCJhZGF0YSI6IiIsImNpcGhlciI6ImFlcyIsInNhbHQiOiJrUXRMVzdzOWxTayIsImN0IjoiRzlubzYxTXJIQ1ZkWEdhWnUreDhTT2cifQ==";
    const NULL_JSON: &str = r#"{"iv":"Ia4cY3cfl4n++WPXgVe7jg","v":1,"iter":1000,"ks":256,"ts":64,"mode":"ccm","adata":"","cipher":"aes","salt":"kQtLW7s9lSk","ct":"KuVEQj5084DGRfPe"}"#;

    #[test]
    fn a_keyring_rebuilt_from_its_password_opens_the_spec_vector() {
        // What the agent hands another process: the password, from which that process builds
        // its own keyring (src/passman/session.rs).
        let shared = Keyring::new("my vault key");
        let rebuilt = Keyring::new(shared.password());
        assert_eq!(&*rebuilt.decrypt(HUNTER2_STORED).unwrap(), b"\"hunter2\"");
    }

    #[test]
    fn spec_vectors_decrypt() {
        let k = Keyring::new("my vault key");
        assert_eq!(&*k.decrypt(HUNTER2_STORED).unwrap(), b"\"hunter2\"");
        assert_eq!(&*k.decrypt(HUNTER2_JSON).unwrap(), b"\"hunter2\"");
        assert_eq!(&*k.decrypt(&STANDARD.encode(NULL_JSON)).unwrap(), b"null");
        assert_eq!(STANDARD.encode(HUNTER2_JSON), HUNTER2_STORED);
    }

    #[test]
    fn spec_vector_is_reproduced_exactly() {
        let env = parse(HUNTER2_STORED).unwrap();
        let key = derive_key(b"my vault key", &env.salt, 1000);
        let salt: [u8; 8] = env.salt.clone().try_into().unwrap();
        let iv: [u8; 16] = env.iv.clone().try_into().unwrap();
        assert_eq!(seal(&key, &salt, &iv, b"\"hunter2\""), HUNTER2_STORED);
    }

    #[test]
    fn wrong_key_fails_the_tag_check() {
        let k = Keyring::new("not my vault key");
        assert_eq!(k.decrypt(HUNTER2_STORED).unwrap_err(), SjclError::WrongKey);
    }

    #[test]
    fn any_key_order_and_padding_is_read() {
        let k = Keyring::new("my vault key");
        let reordered = r#"{ "ct":"G9no61MrHCVdXGaZu+x8SOg=", "salt":"kQtLW7s9lSk=", "cipher":"aes", "adata":"", "mode":"ccm", "ts":64, "ks":256, "iter":1000, "v":1, "iv":"zRBh/QJVxKHYj9wBnJjxqA==" }"#;
        assert_eq!(&*k.decrypt(reordered).unwrap(), b"\"hunter2\"");
        let unpadded = STANDARD_NO_PAD.encode(reordered);
        assert_eq!(&*k.decrypt(&unpadded).unwrap(), b"\"hunter2\"");
    }

    #[test]
    fn output_has_passmans_exact_shape() {
        let k = Keyring::new("pw");
        let stored = k.encrypt(b"\"x\"");
        let json = String::from_utf8(STANDARD.decode(&stored).unwrap()).unwrap();
        let keys: Vec<&str> = json
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|kv| kv.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "\"iv\"",
                "\"v\"",
                "\"iter\"",
                "\"ks\"",
                "\"ts\"",
                "\"mode\"",
                "\"adata\"",
                "\"cipher\"",
                "\"salt\"",
                "\"ct\""
            ]
        );
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["iv"].as_str().unwrap().len(), 22);
        assert_eq!(v["salt"].as_str().unwrap().len(), 11);
        assert!(!json.contains('='), "inner base64 is unpadded: {json}");
        assert_eq!(
            (&v["iter"], &v["ks"], &v["ts"], &v["mode"], &v["adata"]),
            (
                &1000.into(),
                &256.into(),
                &64.into(),
                &"ccm".into(),
                &"".into()
            )
        );
        assert_eq!(&*k.decrypt(&stored).unwrap(), b"\"x\"");
    }

    #[test]
    fn nonce_length_follows_plaintext_size() {
        assert_eq!(length_bytes(0, 16), 2);
        assert_eq!(length_bytes(65_535, 16), 2);
        assert_eq!(length_bytes(65_536, 16), 3);
        assert_eq!(length_bytes((1 << 24) - 1, 16), 3);
        assert_eq!(length_bytes(1 << 24, 16), 4);
        // A short iv forces a larger length field, as in sjcl.
        assert_eq!(length_bytes(5, 10), 5);
        let k = Keyring::new("pw");
        let big = vec![7u8; 70_000];
        assert_eq!(&*k.decrypt(&k.encrypt(&big)).unwrap(), &big[..]);
    }

    #[test]
    fn changed_parameters_are_refused_or_honoured() {
        let k = Keyring::new("my vault key");
        let with = |from: &str, to: &str| HUNTER2_JSON.replace(from, to);
        assert_eq!(
            k.decrypt(&with("\"ccm\"", "\"gcm\"")).unwrap_err(),
            SjclError::Unsupported("mode")
        );
        assert_eq!(
            k.decrypt(&with("\"ts\":64", "\"ts\":128")).unwrap_err(),
            SjclError::Unsupported("tag size")
        );
        assert_eq!(
            k.decrypt(&with("\"iter\":1000", "\"iter\":-1"))
                .unwrap_err(),
            SjclError::Unsupported("iteration count")
        );
        assert_eq!(
            k.decrypt(&with("\"iter\":1000", "\"iter\":1000000000"))
                .unwrap_err(),
            SjclError::Unsupported("iteration count")
        );
        // Another iteration count is honoured, so the key differs and the tag fails.
        assert_eq!(
            k.decrypt(&with("\"iter\":1000", "\"iter\":1001"))
                .unwrap_err(),
            SjclError::WrongKey
        );
    }

    /// The limit counts the stored text as given: exactly `MAX_STORED_BYTES` is read (a valid
    /// field padded with whitespace, which is trimmed), one byte more is refused unread.
    #[test]
    fn stored_size_cap_is_inclusive() {
        assert_eq!(MAX_STORED_BYTES, 32 * 1024 * 1024);
        let k = Keyring::new("my vault key");
        let at_cap =
            HUNTER2_STORED.to_owned() + &" ".repeat(MAX_STORED_BYTES - HUNTER2_STORED.len());
        assert_eq!(&*k.decrypt(&at_cap).unwrap(), b"\"hunter2\"");
        assert_eq!(k.decrypt(&(at_cap + " ")).unwrap_err(), SjclError::TooLarge);
    }

    #[test]
    fn other_parameters_are_refused_and_absent_ones_default() {
        let k = Keyring::new("my vault key");
        let with = |from: &str, to: &str| HUNTER2_JSON.replace(from, to);
        for (from, to, what) in [
            ("\"aes\"", "\"twofish\"", "cipher"),
            ("\"v\":1", "\"v\":2", "version"),
            ("\"ks\":256", "\"ks\":128", "key size"),
        ] {
            assert_eq!(
                k.decrypt(&with(from, to)).unwrap_err(),
                SjclError::Unsupported(what)
            );
        }
        // Without the optional keys, sjcl's (and Passman's) defaults apply: 1000 iterations.
        let minimal = r#"{"iv":"zRBh/QJVxKHYj9wBnJjxqA","salt":"kQtLW7s9lSk","ct":"G9no61MrHCVdXGaZu+x8SOg"}"#;
        assert_eq!(&*k.decrypt(minimal).unwrap(), b"\"hunter2\"");
    }

    /// An empty plaintext seals to the 8-byte tag alone: the shortest valid ciphertext.
    #[test]
    fn empty_plaintext_is_just_the_tag() {
        let k = Keyring::new("pw");
        let stored = k.encrypt(b"");
        assert_eq!(parse(&stored).unwrap().ct.len(), 8);
        assert!(k.decrypt(&stored).unwrap().is_empty());
    }

    /// Decryption must pick the same CCM length field as encryption did, from the plaintext
    /// length (ciphertext minus tag): just below and at the 64 KiB step.
    #[test]
    fn length_field_on_decrypt_follows_the_plaintext_length() {
        let k = Keyring::new("pw");
        for len in [65_530, 65_535, 65_536] {
            let pt = vec![b'x'; len];
            assert_eq!(&*k.decrypt(&k.encrypt(&pt)).unwrap(), &pt[..], "{len}");
        }
        // Four bytes is the largest length field, however long the plaintext.
        assert_eq!(length_bytes(usize::MAX, 16), 4);
    }

    /// An 11-byte iv leaves a 4-byte length field (nonce of 11 bytes), as sjcl computes it.
    #[test]
    fn short_iv_uses_an_eleven_byte_nonce() {
        let key = derive_key(b"pw", b"saltsalt", 1);
        let iv = [3u8; 11];
        let ct = ccm_crypt(&key, &iv, &[], b"abc", 3, true).unwrap();
        let env = Envelope {
            iv: iv.to_vec(),
            salt: b"saltsalt".to_vec(),
            iter: 1,
            adata: vec![],
            ct,
        };
        assert_eq!(&*open(&key, &env).unwrap(), b"abc");
    }

    #[test]
    fn every_encryption_draws_a_fresh_iv_and_each_keyring_a_salt() {
        let k = Keyring::new("pw");
        let (a, b) = (
            parse(&k.encrypt(b"x")).unwrap(),
            parse(&k.encrypt(b"x")).unwrap(),
        );
        assert_ne!(a.iv, b.iv);
        assert_eq!(a.salt, b.salt, "one salt per keyring, as sjcl caches it");
        let other = parse(&Keyring::new("pw").encrypt(b"x")).unwrap();
        assert_ne!(a.salt, other.salt);
    }

    #[test]
    fn debug_does_not_show_the_password() {
        assert_eq!(format!("{:?}", Keyring::new("pw")), "Keyring(<redacted>)");
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let k = Keyring::new("pw");
        for (input, want) in [
            ("", SjclError::NotJson),
            ("!!!", SjclError::NotBase64),
            ("bnVsbA==", SjclError::NotJson), // "null"
            ("{}", SjclError::Malformed("iv")),
            (
                r#"{"iv":"zRBh/QJVxKHYj9wBnJjxqA","salt":"kQtLW7s9lSk","ct":"AA"}"#,
                SjclError::Malformed("ct"),
            ),
            (
                r#"{"iv":"AAAA","salt":"kQtLW7s9lSk","ct":"G9no61MrHCVdXGaZu+x8SOg"}"#,
                SjclError::Malformed("iv"),
            ),
            (r#"{"iv":5}"#, SjclError::Malformed("iv")),
        ] {
            assert_eq!(k.decrypt(input).unwrap_err(), want, "{input}");
        }
    }
}
