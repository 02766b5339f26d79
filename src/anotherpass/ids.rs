//! Identifiers and fingerprints (spec §1.3, §3.1, §4.1, §5).

use super::b64;
use super::keys::random_bytes;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The app's and the extension's way to make a readable code of bytes: standard base64, ASCII
/// letters only, the first `n`, uppercased.
fn base64_letters(bytes: &[u8], n: usize) -> String {
    b64::std_padded(bytes)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(n)
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Standard base64 of 32 random bytes, letters only, first 6, uppercased, `-` after 3.
/// `None` in the (practically impossible) case of fewer than 6 letters.
pub fn web_client_id_from(random32: &[u8]) -> Option<String> {
    let s = base64_letters(random32, 6);
    (s.len() == 6).then(|| format!("{}-{}", &s[..3], &s[3..]))
}

/// Draws before giving up. With a working generator one draw fails with a probability of about
/// 1e-22, so running out means the generator is broken (say, it returns constant bytes).
const WEB_CLIENT_ID_TRIES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "no webClientId could be made from {0} draws of the system random generator: it looks broken"
    )]
    RandomExhausted(usize),
}

pub fn new_web_client_id() -> Result<String, IdError> {
    web_client_id_with(|| random_bytes(32))
}

fn web_client_id_with(mut random32: impl FnMut() -> Zeroizing<Vec<u8>>) -> Result<String, IdError> {
    (0..WEB_CLIENT_ID_TRIES)
        .find_map(|_| web_client_id_from(&random32()))
        .ok_or(IdError::RandomExhausted(WEB_CLIENT_ID_TRIES))
}

/// The app's check: `[A-Z]{3}-[A-Z]{3}`, full match.
pub fn is_web_client_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7 && b[3] == b'-' && b[..3].iter().chain(&b[4..]).all(u8::is_ascii_uppercase)
}

/// A fresh request identifier: padded standard base64 of 16 random bytes. One per user request,
/// reused for every poll and the cancel.
pub fn new_request_identifier() -> String {
    b64::std_padded(&random_bytes(16))
}

/// `XX-XXX-XX`: standard base64 of a digest, ASCII letters only, first 7, uppercased.
pub fn short_fingerprint(digest: &[u8]) -> String {
    let f = base64_letters(digest, 7);
    let part = |a: usize, b: usize| f.get(a.min(f.len())..b.min(f.len())).unwrap_or("");
    format!("{}-{}-{}", part(0, 2), part(2, 5), part(5, 7))
}

/// What both the phone and the client show for one request: short(SHA-256(BK ‖ decoded id)).
pub fn request_fingerprint(base_key: &[u8], request_identifier: &str) -> Option<String> {
    let rid = b64::decode(request_identifier).ok()?;
    let mut h = Sha256::new();
    h.update(base_key);
    h.update(&rid[..]);
    Some(short_fingerprint(&h.finalize()))
}

/// What the user compares after linking: short(SHA-256(UTF-8 of the app key's `n` string)).
pub fn link_fingerprint(n_b64url: &str) -> String {
    short_fingerprint(&Sha256::digest(n_b64url.as_bytes()))
}

/// The QR's key fingerprint: lowercase hex of SHA-256(UTF-8 of the client key's `n` string).
pub fn qr_fingerprint(n_b64url: &str) -> String {
    Sha256::digest(n_b64url.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `<webClientId>:<std b64 SK>:<hex fingerprint>` — the QR code the app scans.
pub fn qr_payload(web_client_id: &str, session_key: &[u8], client_n: &str) -> String {
    format!(
        "{web_client_id}:{}:{}",
        b64::std_padded(session_key),
        qr_fingerprint(client_n)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anotherpass::keys::tests::range;

    #[test]
    fn web_client_id_vector() {
        assert_eq!(web_client_id_from(&range(1, 32)).unwrap(), "AQI-DBA");
        let id = new_web_client_id().unwrap();
        assert!(is_web_client_id(&id), "{id}");
        for bad in [
            "AQIDBA", "aqi-dba", "AQI-DB", "AQI-DBAA", "AQ1-DBA", "AQI_DBA", "",
        ] {
            assert!(!is_web_client_id(bad), "{bad}");
        }
        // Digits and symbols only: no id can be made.
        assert_eq!(web_client_id_from(&[0xfb; 3]), None);
    }

    /// A generator stuck on bytes without letters must not make linking spin forever.
    #[test]
    fn web_client_id_gives_up_on_a_broken_generator() {
        let mut draws = 0;
        let stuck = web_client_id_with(|| {
            draws += 1;
            Zeroizing::new(vec![0xff; 32]) // base64 "/////…//8=": no letters
        });
        assert_eq!(stuck, Err(IdError::RandomExhausted(WEB_CLIENT_ID_TRIES)));
        assert_eq!(draws, WEB_CLIENT_ID_TRIES);
        // A few unusable draws, then a good one: that one is used.
        let mut draws = 0;
        let id = web_client_id_with(|| {
            draws += 1;
            Zeroizing::new(if draws < 3 {
                vec![0xff; 32]
            } else {
                range(1, 32)
            })
        });
        assert_eq!(id.as_deref(), Ok("AQI-DBA"));
        assert_eq!(draws, 3);
    }

    #[test]
    fn request_fingerprint_vector() {
        let bk = range(0, 32);
        let rid = b64::std_padded(&range(0x10, 16));
        assert_eq!(rid, "EBESExQVFhcYGRobHB0eHw==");
        let digest = {
            let mut h = Sha256::new();
            h.update(&bk);
            h.update(range(0x10, 16));
            h.finalize()
        };
        assert_eq!(
            b64::std_padded(&digest),
            "gjPPSRneYCfZeMnHBKEjhx1uwQGenDbrByo+T1NXj4A="
        );
        assert_eq!(request_fingerprint(&bk, &rid).unwrap(), "GJ-PPS-RN");
        assert_eq!(request_fingerprint(&bk, "%%%"), None);
        let fresh = new_request_identifier();
        assert_eq!(b64::decode(&fresh).unwrap().len(), 16);
        assert!(fresh.ends_with("=="));
    }

    #[test]
    fn short_fingerprint_keeps_letters_only() {
        // Base64 "+/+/+/+/ab/cDEfg..." → letters "abcDEfg" → AB-CDE-FG.
        let digest = b64::decode("+/+/+/+/ab/cDEfgAAAA").unwrap();
        assert_eq!(short_fingerprint(&digest), "AB-CDE-FG");
        // Fewer than 7 letters never panics.
        assert_eq!(short_fingerprint(&[0xfb, 0xff]), "--");
    }

    #[test]
    fn qr_payload_format() {
        let n = "n-string_of-a-key";
        let p = qr_payload("ABC-DEF", &range(0x30, 16), n);
        let parts: Vec<_> = p.split(':').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "ABC-DEF");
        assert_eq!(parts[1], "MDEyMzQ1Njc4OTo7PD0+Pw==");
        assert_eq!(parts[1].len(), 24);
        assert_eq!(parts[2], qr_fingerprint(n));
        assert_eq!(parts[2].len(), 64);
        assert!(
            parts[2]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // Link and QR fingerprints hash the same n string, two ways.
        assert_eq!(
            link_fingerprint(n),
            short_fingerprint(&Sha256::digest(n.as_bytes()))
        );
    }
}
