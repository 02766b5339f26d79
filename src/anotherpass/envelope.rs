//! The `EWM:` AES-GCM envelope (spec §2.3): `EWM:<b64 iv>:<b64 ciphertext‖tag>[:<algo>]`,
//! 12-byte IV, 128-bit tag, no AAD. A 16-byte key means AES-128 (linking request only), a 32-byte
//! key AES-256. The client writes three fields in padded standard base64; replies (four fields,
//! unpadded) are read with the tolerant decoder, and the 4th field is ignored as the extension does.

use super::b64;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use zeroize::Zeroizing;

pub const PREFIX: &str = "EWM";
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the envelope is not in the EWM:<iv>:<data> format")]
    Format,
    #[error("the envelope's IV is not 12 bytes")]
    IvLength,
    #[error("the key is neither 16 nor 32 bytes")]
    KeyLength,
    /// Wrong key, or the message was altered: GCM's tag does not match.
    #[error("the envelope does not decrypt with this key (wrong key or altered message)")]
    Decrypt,
}

fn encrypt(key: &[u8], iv: &[u8; IV_LEN], plaintext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let nonce = Nonce::from_slice(iv);
    let out = match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .map_err(|_| EnvelopeError::KeyLength)?
            .encrypt(nonce, plaintext),
        32 => Aes256Gcm::new_from_slice(key)
            .map_err(|_| EnvelopeError::KeyLength)?
            .encrypt(nonce, plaintext),
        _ => return Err(EnvelopeError::KeyLength),
    };
    // Encryption only fails for absurd lengths (> 64 GiB).
    out.map_err(|_| EnvelopeError::Format)
}

/// How each side writes an envelope (spec §0): the client in padded base64 with three fields,
/// the app unpadded with a fourth, the algorithm index `0`.
#[derive(Clone, Copy)]
enum Style {
    Client,
    App,
}

fn seal_as(
    style: Style,
    key: &[u8],
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
) -> Result<String, EnvelopeError> {
    let ct = encrypt(key, iv, plaintext)?;
    Ok(match style {
        Style::Client => format!("{PREFIX}:{}:{}", b64::std_padded(iv), b64::std_padded(&ct)),
        Style::App => format!("{PREFIX}:{}:{}:0", b64::std_nopad(iv), b64::std_nopad(&ct)),
    })
}

/// Seals `plaintext` with a given IV (deterministic; for vectors and tests).
pub fn seal_with_iv(
    key: &[u8],
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
) -> Result<String, EnvelopeError> {
    seal_as(Style::Client, key, iv, plaintext)
}

/// Seals `plaintext` with a fresh random IV, in the client's format.
pub fn seal(key: &[u8], plaintext: &[u8]) -> Result<String, EnvelopeError> {
    let mut iv = [0u8; IV_LEN];
    aws_lc_rs::rand::fill(&mut iv).expect("the system random generator failed");
    seal_with_iv(key, &iv, plaintext)
}

/// Seals in the app's format (unpadded, `:0` suffix). Used by tests that play the phone.
pub fn seal_app_style(
    key: &[u8],
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
) -> Result<String, EnvelopeError> {
    seal_as(Style::App, key, iv, plaintext)
}

/// Opens an envelope from either side.
pub fn open(key: &[u8], envelope: &str) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let mut fields = envelope.split(':');
    if fields.next() != Some(PREFIX) {
        return Err(EnvelopeError::Format);
    }
    let (Some(iv), Some(ct)) = (fields.next(), fields.next()) else {
        return Err(EnvelopeError::Format);
    };
    let iv = b64::decode(iv).map_err(|_| EnvelopeError::Format)?;
    let iv: [u8; IV_LEN] = iv[..].try_into().map_err(|_| EnvelopeError::IvLength)?;
    let ct = b64::decode(ct).map_err(|_| EnvelopeError::Format)?;
    if ct.len() < TAG_LEN {
        return Err(EnvelopeError::Format);
    }
    let nonce = Nonce::from_slice(&iv);
    let pt = match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .map_err(|_| EnvelopeError::KeyLength)?
            .decrypt(nonce, &ct[..]),
        32 => Aes256Gcm::new_from_slice(key)
            .map_err(|_| EnvelopeError::KeyLength)?
            .decrypt(nonce, &ct[..]),
        _ => return Err(EnvelopeError::KeyLength),
    };
    pt.map(Zeroizing::new).map_err(|_| EnvelopeError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anotherpass::keys::tests::range;
    use crate::anotherpass::keys::{request_transport_key, response_transport_key};

    const IV: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    fn tkrq() -> [u8; 32] {
        *request_transport_key(&range(0, 32), &range(0xa0, 32))
    }
    fn tkrs() -> [u8; 32] {
        *response_transport_key(&range(0, 32), &range(0x40, 32), &tkrq())
    }

    const REQUEST_PLAINTEXT: &str = r#"{"action":"request_credential","command":"get_client_key","requestIdentifier":"EBESExQVFhcYGRobHB0eHw=="}"#;
    const REQUEST_ENVELOPE: &str = "EWM:AQIDBAUGBwgJCgsM:zSjSL4DCIMo8eblkZU13T3L/C6ku5qYXaeuRD7iDBK+yVHvMoYgBZvz0VZN2NZnmAjmuwCwzTOqpm/vWdj2ID9ZnncRTCZ5rOQ8QxZZ8o3noSpaTPkeW3FhHlxm61RzhCOfkkHdfZOBYY0bmJBsMzmMOBRjAqqu8pw==";
    const LINK_ENVELOPE: &str =
        "EWM:AQIDBAUGBwgJCgsM:lbNbnE8XVDNEEQwehNZufWIIkDUDw3XxhGDNJRD8a4oty6LuMg==";
    const RESPONSE_ENVELOPE: &str =
        "EWM:AQIDBAUGBwgJCgsM:zVbQAWDd2WNh9KpTb+OgEe2tbdGmBIU7Y1BZOuc+ONjfSA:0";

    #[test]
    fn request_vector() {
        let e = seal_with_iv(&tkrq(), &IV, REQUEST_PLAINTEXT.as_bytes()).unwrap();
        assert_eq!(e, REQUEST_ENVELOPE);
        assert_eq!(
            &*open(&tkrq(), REQUEST_ENVELOPE).unwrap(),
            REQUEST_PLAINTEXT.as_bytes()
        );
    }

    #[test]
    fn linking_request_vector_uses_aes128_with_the_session_key() {
        let sk = range(0x30, 16);
        let e = seal_with_iv(&sk, &IV, br#"{"action":"link_app"}"#).unwrap();
        assert_eq!(e, LINK_ENVELOPE);
    }

    #[test]
    fn server_style_response_vector() {
        let pt = br#"{"clientKey": "x"}"#;
        assert_eq!(&*open(&tkrs(), RESPONSE_ENVELOPE).unwrap(), pt);
        assert_eq!(seal_app_style(&tkrs(), &IV, pt).unwrap(), RESPONSE_ENVELOPE);
    }

    #[test]
    fn random_iv_round_trip_and_fresh_ivs() {
        let key = [7u8; 32];
        let a = seal(&key, b"hello").unwrap();
        let b = seal(&key, b"hello").unwrap();
        assert_ne!(a, b);
        assert_eq!(&*open(&key, &a).unwrap(), b"hello");
    }

    #[test]
    fn failures_are_classified() {
        let key = tkrs();
        let cases: &[(&str, EnvelopeError)] = &[
            ("", EnvelopeError::Format),
            ("XYZ:AQIDBAUGBwgJCgsM:zVbQ", EnvelopeError::Format),
            ("EWM:AQIDBAUGBwgJCgsM", EnvelopeError::Format),
            (
                "EWM:AQID:zVbQAWDd2WNh9KpTb+OgEe2tbdGmBIU7Y1BZOuc+ONjfSA",
                EnvelopeError::IvLength,
            ),
            ("EWM:AQIDBAUGBwgJCgsM:zVbQ", EnvelopeError::Format),
            ("EWM:!!!:zVbQ", EnvelopeError::Format),
            (
                "EWM:AQIDBAUGBwgJCgsN:zVbQAWDd2WNh9KpTb+OgEe2tbdGmBIU7Y1BZOuc+ONjfSA:0",
                EnvelopeError::Decrypt,
            ),
        ];
        for (env, want) in cases {
            assert_eq!(open(&key, env).unwrap_err(), *want, "{env}");
        }
        assert_eq!(
            open(&[0u8; 32], RESPONSE_ENVELOPE).unwrap_err(),
            EnvelopeError::Decrypt
        );
        assert_eq!(
            open(&[0u8; 20], RESPONSE_ENVELOPE).unwrap_err(),
            EnvelopeError::KeyLength
        );
    }

    /// An empty plaintext seals to the tag alone: the shortest valid envelope. Expected value
    /// computed independently (Node `crypto` and Python `cryptography` AESGCM agree): key TKrs,
    /// IV `01..0c`, empty plaintext.
    #[test]
    fn ciphertext_of_exactly_the_tag_is_an_empty_plaintext() {
        const EMPTY: &str = "EWM:AQIDBAUGBwgJCgsM:julkfpSpfQzL7S6Ub7wYuA==";
        assert_eq!(seal_with_iv(&tkrs(), &IV, b"").unwrap(), EMPTY);
        assert!(open(&tkrs(), EMPTY).unwrap().is_empty());
        // One byte short of a tag is malformed, not a wrong key.
        let short = format!(
            "EWM:AQIDBAUGBwgJCgsM:{}",
            b64::std_padded(&[0x8e; TAG_LEN - 1])
        );
        assert_eq!(open(&tkrs(), &short).unwrap_err(), EnvelopeError::Format);
        let empty = "EWM:AQIDBAUGBwgJCgsM:";
        assert_eq!(open(&tkrs(), empty).unwrap_err(), EnvelopeError::Format);
        // A tag-sized ciphertext that is not the right tag is a decryption failure.
        let forged = format!("EWM:AQIDBAUGBwgJCgsM:{}", b64::std_padded(&[0x8e; TAG_LEN]));
        assert_eq!(open(&tkrs(), &forged).unwrap_err(), EnvelopeError::Decrypt);
        // AES-128 (the linking request's key size) has the same boundary.
        let sk = range(0x30, 16);
        let e = seal_with_iv(&sk, &IV, b"").unwrap();
        assert!(open(&sk, &e).unwrap().is_empty());
    }
}
