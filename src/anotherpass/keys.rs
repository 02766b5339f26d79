//! Key schedule (spec §2.4): every transport key is SHA-256 over a plain concatenation of keys,
//! exactly like the app's `conjunctKeys` and the extension's `hashKeys`.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A 32-byte derived key (AES-256-GCM), zeroized on drop.
pub type Key32 = Zeroizing<[u8; 32]>;

/// SHA-256(a ‖ b ‖ …).
pub fn conjunct(parts: &[&[u8]]) -> Key32 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Zeroizing::new(h.finalize().into())
}

/// TKrq = SHA-256(BK ‖ OTKrq).
pub fn request_transport_key(base_key: &[u8], otk_rq: &[u8]) -> Key32 {
    conjunct(&[base_key, otk_rq])
}

/// TKrs = SHA-256(BK ‖ OTKrs ‖ TKrq).
pub fn response_transport_key(base_key: &[u8], otk_rs: &[u8], tk_rq: &[u8]) -> Key32 {
    conjunct(&[base_key, otk_rs, tk_rq])
}

/// Key of the linking response: SHA-256(SK ‖ OTKrs).
pub fn link_response_key(session_key: &[u8], otk_rs: &[u8]) -> Key32 {
    conjunct(&[session_key, otk_rs])
}

/// `n` bytes from the system's CSPRNG.
pub fn random_bytes(n: usize) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(&mut v).expect("the system random generator failed");
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Bytes `start, start+1, …` (the spec's vectors use such ranges).
    pub(crate) fn range(start: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| start.wrapping_add(i as u8)).collect()
    }

    pub(crate) fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn spec_vectors_7_3() {
        let bk = range(0x00, 32);
        let otk_rq = range(0xa0, 32);
        let otk_rs = range(0x40, 32);
        let tkrq = request_transport_key(&bk, &otk_rq);
        assert_eq!(
            hex(&*tkrq),
            "60dcbc828060c044579c4b6c671582e39e631b3d7de3dac5e69286394521158b"
        );
        let tkrs = response_transport_key(&bk, &otk_rs, &*tkrq);
        assert_eq!(
            hex(&*tkrs),
            "4c5d12b946b3236efc202d4855b0ac4c553b01a20dd2df3dd398836673c5fd7f"
        );
    }

    /// k = SHA-256(SK ‖ OTKrs) of the linking response (spec §3.2, §7.4 step 4), with the §7.3
    /// SK (`30..3f`, 16 bytes) and OTKrs (`40..5f`). Expected value computed independently with
    /// Python: `hashlib.sha256(bytes(range(0x30, 0x40)) + bytes(range(0x40, 0x60))).hexdigest()`.
    #[test]
    fn link_response_key_vector() {
        let sk = range(0x30, 16);
        let otk_rs = range(0x40, 32);
        assert_eq!(
            hex(&*link_response_key(&sk, &otk_rs)),
            "8ca35e321cdc168012e18af18d0f71e17d9f83f4d246ef33e54db595725c0fe3"
        );
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(*random_bytes(16), *random_bytes(16));
        assert_eq!(random_bytes(32).len(), 32);
    }
}
