//! The base64 flavours of the protocol (spec §2.5) and one tolerant decoder for everything the
//! phone sends: standard or URL-safe alphabet, padded or not, with or without line breaks
//! (the app's `Base64.DEFAULT` adds a trailing `\n`). Mirrors the extension's `base64ToBytes`.

use base64::Engine;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::{DecodePaddingMode, general_purpose};
use zeroize::Zeroizing;

/// Decodes standard-alphabet input with or without padding, ignoring leftover bits like `atob`.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("it is not base64")]
    Invalid,
}

/// Standard alphabet with padding: what the client sends (envelope fields, `encOneTimeKey`,
/// `requestIdentifier`, the QR session key).
pub fn std_padded(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// URL-safe alphabet without padding: JWK `n`/`e`.
pub fn url_nopad(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard alphabet without padding: what the app puts in its envelopes.
pub fn std_nopad(bytes: &[u8]) -> String {
    general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Decodes any base64 flavour the app or the extension produces. The output is zeroized on drop
/// because most decoded values are key material.
pub fn decode(text: &str) -> Result<Zeroizing<Vec<u8>>, DecodeError> {
    let mut cleaned = Zeroizing::new(Vec::with_capacity(text.len()));
    for b in text.bytes() {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'-' => cleaned.push(b'+'),
            b'_' => cleaned.push(b'/'),
            _ => cleaned.push(b),
        }
    }
    // Padding only ever appears at the end; strip it so padded and unpadded inputs agree.
    while cleaned.last() == Some(&b'=') {
        cleaned.pop();
    }
    if cleaned.len() % 4 == 1 {
        return Err(DecodeError::Invalid);
    }
    let mut out = Zeroizing::new(vec![0u8; cleaned.len() / 4 * 3 + 3]);
    let n = LENIENT
        .decode_slice(&cleaned, &mut out[..])
        .map_err(|_| DecodeError::Invalid)?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flavour_decodes_to_the_same_bytes() {
        let bytes: Vec<u8> = (0u8..=255).rev().collect();
        for text in [
            std_padded(&bytes),
            std_nopad(&bytes),
            url_nopad(&bytes),
            format!("{}\n", std_padded(&bytes)),
        ] {
            assert_eq!(*decode(&text).unwrap(), bytes, "{text}");
        }
    }

    #[test]
    fn short_inputs_and_padding() {
        assert_eq!(*decode("").unwrap(), b"");
        assert_eq!(*decode("AA==").unwrap(), [0]);
        assert_eq!(*decode("AA").unwrap(), [0]);
        assert_eq!(*decode("AAE").unwrap(), [0, 1]);
        // The clientKey exactly as the app sends it (trailing newline).
        assert_eq!(
            decode("7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n")
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "A",
            "AAAAA",
            "A=A=",
            "%%%%",
            "ab*d",
            "\u{e9}\u{e9}\u{e9}\u{e9}",
        ] {
            assert_eq!(decode(bad), Err(DecodeError::Invalid), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(s in "\\PC{0,64}") {
            let _ = decode(&s);
        }

        #[test]
        fn round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            proptest::prop_assert_eq!(&*decode(&std_padded(&bytes)).unwrap(), &bytes);
            proptest::prop_assert_eq!(&*decode(&url_nopad(&bytes)).unwrap(), &bytes);
        }
    }
}
