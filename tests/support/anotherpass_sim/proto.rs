//! Server-side protocol computations of the ANOTHERpass app (spec §2–§6), pure and written
//! straight from the spec, so tests can check each against the §7.3 vectors directly.

use super::android::{self, BadBase64};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;

/// `SecretService.conjunctKeys`: SHA-256 of the plain concatenation (spec §2.4).
pub fn conjunct_keys(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// TKrq = SHA-256(BK ‖ OTKrq).
pub fn request_transport_key(bk: &[u8], otk_rq: &[u8]) -> [u8; 32] {
    conjunct_keys(&[bk, otk_rq])
}

/// TKrs = SHA-256(BK ‖ OTKrs ‖ TKrq).
pub fn response_transport_key(bk: &[u8], otk_rs: &[u8], tk_rq: &[u8]) -> [u8; 32] {
    conjunct_keys(&[bk, otk_rs, tk_rq])
}

/// Linking response key = SHA-256(SK ‖ OTKrs).
pub fn link_response_key(sk: &[u8], otk_rs: &[u8]) -> [u8; 32] {
    conjunct_keys(&[sk, otk_rs])
}

/// `Key.toShortenedFingerprint` of a digest: DEFAULT base64, letters only, first 7, uppercase,
/// `XX-XXX-XX`. `None` where the app's `substring` would throw (fewer than 7 letters).
pub fn short_fingerprint(digest: &[u8]) -> Option<String> {
    let letters: String = android::b64_encode_default(digest)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(7)
        .collect::<String>()
        .to_uppercase();
    (letters.len() == 7).then(|| format!("{}-{}-{}", &letters[..2], &letters[2..5], &letters[5..]))
}

/// Shown on both sides after linking: short fingerprint of SHA-256(UTF-8 of the `n` string).
pub fn link_fingerprint(n_b64url: &str) -> Option<String> {
    short_fingerprint(&conjunct_keys(&[n_b64url.as_bytes()]))
}

/// Shown in the acceptance sheet: short fingerprint of SHA-256(BK ‖ decoded requestIdentifier).
/// The identifier goes through Android's decoder, whose failure ends the request with 500.
pub fn request_fingerprint(
    bk: &[u8],
    request_identifier: &str,
) -> Result<Option<String>, BadBase64> {
    let rid = android::b64_decode(request_identifier, false)?;
    Ok(short_fingerprint(&conjunct_keys(&[bk, &rid])))
}

/// The QR's third field: lowercase hex of SHA-256(UTF-8 of the client's JWK `n`).
pub fn qr_fingerprint_hex(n_b64url: &str) -> String {
    hex(&conjunct_keys(&[n_b64url.as_bytes()]))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// clientKey = SHA-256( SHA-256(salt ‖ UTF-8(webClientId)) ‖ masterKey ) (spec §6.1).
pub fn client_key(salt: &[u8], web_client_id: &str, master_key: &[u8]) -> [u8; 32] {
    let inner = conjunct_keys(&[salt, web_client_id.as_bytes()]);
    conjunct_keys(&[&inner, master_key])
}

/// clientKey as sent: padded standard base64 with the trailing `\n` of Android's DEFAULT flags.
pub fn client_key_b64(salt: &[u8], web_client_id: &str, master_key: &[u8]) -> String {
    android::b64_encode_default(&client_key(salt, web_client_id, master_key))
}

fn alnum_lower_prefix(b64: &str, n: usize) -> String {
    b64.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        .take(n)
        .collect()
}

/// `SaltService.getVaultId`: base64 of the 128-byte salt, lowercased, `[0-9a-z]` only, first 8.
pub fn vault_id(salt: &[u8]) -> String {
    alnum_lower_prefix(&android::b64_encode_default(salt), 8)
}

/// `UUID.toReadableString`: the same reduction over the 16 UUID bytes.
pub fn readable_uid(uuid: &[u8; 16]) -> String {
    alnum_lower_prefix(&android::b64_encode_default(uuid), 8)
}

/// `<wcid>_<alphanumerics of base64(32 random bytes)>` (spec §4.6).
pub fn download_key(web_client_id: &str, random: &[u8]) -> String {
    let alnum: String = android::b64_encode_default(random)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{web_client_id}_{alnum}")
}

/// `anotherpassvault-<vaultId>-<yyyy-MM-dd>.json`.
pub fn backup_filename(vault_id: &str, (y, m, d): (i64, u32, u32)) -> String {
    format!("anotherpassvault-{vault_id}-{y:04}-{m:02}-{d:02}.json")
}

/// Civil (proleptic Gregorian) date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `IpConverter.getHandle`: `@` + class char + base-26 (`a`=0) of the offset in 10/8, 172.16/12
/// or 192.168/16. Other addresses (loopback included) have no handle.
pub fn handle_for_ipv4(ip: Ipv4Addr) -> Option<String> {
    const RANGES: [(char, u32, u32); 3] = [
        ('a', 0x0a00_0000, 0xff00_0000),
        ('e', 0xac10_0000, 0xfff0_0000),
        ('i', 0xc0a8_0000, 0xffff_0000),
    ];
    let ip = u32::from(ip);
    let &(class, start, _) = RANGES.iter().find(|(_, start, mask)| ip & mask == *start)?;
    let mut n = ip - start;
    let mut digits = Vec::new();
    loop {
        digits.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    Some(format!(
        "@{class}{}",
        digits.iter().rev().collect::<String>()
    ))
}

/// `ensureHttp`: `https://` in front unless it already starts with `http`; empty stays empty.
pub fn ensure_http(website: &str) -> String {
    if website.is_empty() || website.starts_with("http") {
        website.to_string()
    } else {
        format!("https://{website}")
    }
}

/// `Regex("[A-Z]{3}-[A-Z]{3}").matches(...)`.
pub fn is_valid_web_client_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[3] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 3 || c.is_ascii_uppercase())
}

/// The host of a website, without `www.`; `with_tld` keeps the last two labels, otherwise the
/// label before the TLD (what the app prefills as a new credential's name).
pub fn extract_domain(website: &str, with_tld: bool) -> String {
    let s = website.trim().to_lowercase();
    let s = s.split_once("://").map_or(s.as_str(), |(_, rest)| rest);
    let host = s.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    let host = host.strip_prefix("www.").unwrap_or(host);
    let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    match (labels.len(), with_tld) {
        (0, _) => String::new(),
        (1, _) => labels[0].to_string(),
        (n, true) => format!("{}.{}", labels[n - 2], labels[n - 1]),
        (n, false) => labels[n - 2].to_string(),
    }
}

/// Kotlin `capitalize()`: first character uppercased.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// Canonical 8-4-4-4-12 UUID text (either case) to its 16 bytes.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    if groups.len() != 5 || groups.iter().zip(lens).any(|(g, l)| g.len() != l) {
        return None;
    }
    let hexits: String = groups.concat();
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hexits.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `UUID.toString()`: lowercase canonical form.
pub fn format_uuid(b: &[u8; 16]) -> String {
    let h = hex(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A parsed `EWM:<iv>:<data>[:<algo>]` envelope (`Encrypted.fromBase64String`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub iv: Vec<u8>,
    pub data: Vec<u8>,
    pub algo: Option<i64>,
}

/// Parses an envelope the way the app does. `Err` carries the message of the exception the app
/// throws there, which ends the request with 500 (errata §10.2); the type prefix is not checked.
pub fn parse_envelope(s: &str) -> Result<Envelope, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() < 3 {
        return Err(format!("Index 2 out of bounds for length {}", parts.len()));
    }
    let iv = android::b64_decode(parts[1], false).map_err(|e| e.to_string())?;
    let data = android::b64_decode(parts[2], false).map_err(|e| e.to_string())?;
    let algo = match parts.get(3) {
        None => None,
        Some(a) => {
            let idx: i64 = a
                .parse()
                .map_err(|_| format!("For input string: \"{a}\""))?;
            if !(0..=4).contains(&idx) {
                return Err(format!("Index {idx} out of bounds for length 5"));
            }
            Some(idx)
        }
    };
    Ok(Envelope { iv, data, algo })
}

/// `SecretService.decryptData`: `None` for everything it catches (→ 400 "Cannot parse message"):
/// empty input, an algorithm index other than AES_128 (0), a non-12-byte IV, a bad key size, a
/// failed tag.
pub fn open_envelope(key: &[u8], env: &Envelope) -> Option<Vec<u8>> {
    if env.iv.is_empty() && env.data.is_empty() {
        return None;
    }
    if env.algo.is_some_and(|a| a != 0) || env.iv.len() != 12 {
        return None;
    }
    let nonce = Nonce::<U12>::from_slice(&env.iv);
    match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .ok()?
            .decrypt(nonce, env.data.as_slice())
            .ok(),
        24 => AesGcm::<Aes192, U12>::new_from_slice(key)
            .ok()?
            .decrypt(nonce, env.data.as_slice())
            .ok(),
        32 => Aes256Gcm::new_from_slice(key)
            .ok()?
            .decrypt(nonce, env.data.as_slice())
            .ok(),
        _ => None,
    }
}

/// AES-GCM with a 16/24/32-byte key, ciphertext ‖ tag. `None` for any other key length.
pub fn gcm_seal(key: &[u8], iv: &[u8; 12], plaintext: &[u8]) -> Option<Vec<u8>> {
    let nonce = Nonce::<U12>::from_slice(iv);
    match key.len() {
        16 => Aes128Gcm::new_from_slice(key)
            .ok()?
            .encrypt(nonce, plaintext)
            .ok(),
        24 => AesGcm::<Aes192, U12>::new_from_slice(key)
            .ok()?
            .encrypt(nonce, plaintext)
            .ok(),
        32 => Aes256Gcm::new_from_slice(key)
            .ok()?
            .encrypt(nonce, plaintext)
            .ok(),
        _ => None,
    }
}

/// The server's envelope: unpadded standard base64 and the algorithm index `0` (the app labels
/// every transport key AES_128 whatever its length).
pub fn seal_envelope(key: &[u8], iv: &[u8; 12], plaintext: &[u8]) -> Option<String> {
    let ct = gcm_seal(key, iv, plaintext)?;
    Some(format!(
        "EWM:{}:{}:0",
        android::b64_std_nopad(iv),
        android::b64_std_nopad(&ct)
    ))
}

/// Fresh random bytes from the system generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut v).expect("system random generator");
    v
}
