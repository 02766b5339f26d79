//! One-time codes from an `otpauth://` URI (RFC 4226 HOTP, RFC 6238 TOTP), as the extension
//! computes them since app 2.2.2: algorithms SHA1/SHA256/SHA512, 1–9 digits, a period or counter,
//! base32 secret. HMAC through aws-lc-rs.

use aws_lc_rs::hmac;
use serde::Serialize;
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    #[error("the one-time code setting is not an otpauth://totp or otpauth://hotp URI")]
    NotOtpauth,
    #[error("the one-time code secret is missing or not base32")]
    Secret,
    #[error("the one-time code uses an unsupported {0}")]
    Unsupported(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Totp { period: u64 },
    Hotp { counter: u64 },
}

/// A parsed `otpauth://` URI. The secret is zeroized on drop and never printed.
pub struct OtpAuth {
    secret: Zeroizing<Vec<u8>>,
    pub algorithm: Algorithm,
    pub digits: u32,
    pub kind: Kind,
}

impl std::fmt::Debug for OtpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpAuth")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// The code for now, as returned to the extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtpCode {
    /// "totp" or "hotp".
    pub kind: &'static str,
    pub code: String,
    pub digits: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Seconds until the TOTP code changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter: Option<u64>,
}

/// RFC 4648 base32, case-insensitive; spaces, hyphens and padding are ignored.
pub fn base32_decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 5 / 8 + 1));
    let (mut acc, mut bits) = (0u64, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            b' ' | b'-' | b'=' => continue,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

impl OtpAuth {
    pub fn parse(uri: &str) -> Result<Self, OtpError> {
        let url = url::Url::parse(uri.trim()).map_err(|_| OtpError::NotOtpauth)?;
        if !url.scheme().eq_ignore_ascii_case("otpauth") {
            return Err(OtpError::NotOtpauth);
        }
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let (mut secret, mut algorithm, mut digits) = (None, Algorithm::Sha1, 6u32);
        let (mut period, mut counter) = (30u64, None);
        for (k, v) in url.query_pairs() {
            match k.to_ascii_lowercase().as_str() {
                "secret" => secret = Some(base32_decode(&v).ok_or(OtpError::Secret)?),
                "algorithm" => {
                    algorithm = match v.to_ascii_uppercase().replace('-', "").as_str() {
                        "SHA1" => Algorithm::Sha1,
                        "SHA256" => Algorithm::Sha256,
                        "SHA512" => Algorithm::Sha512,
                        _ => return Err(OtpError::Unsupported("algorithm")),
                    }
                }
                "digits" => {
                    digits = v
                        .parse()
                        .ok()
                        .filter(|d| (1..=9).contains(d))
                        .ok_or(OtpError::Unsupported("number of digits"))?
                }
                "period" => {
                    period = v
                        .parse()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or(OtpError::Unsupported("period"))?
                }
                "counter" => {
                    counter = Some(v.parse().map_err(|_| OtpError::Unsupported("counter"))?)
                }
                _ => {}
            }
        }
        let secret = secret.filter(|s| !s.is_empty()).ok_or(OtpError::Secret)?;
        let kind = match host.as_str() {
            "totp" => Kind::Totp { period },
            "hotp" => Kind::Hotp {
                counter: counter.unwrap_or(0),
            },
            _ => return Err(OtpError::NotOtpauth),
        };
        Ok(Self {
            secret,
            algorithm,
            digits,
            kind,
        })
    }

    /// RFC 4226 HOTP value for a counter.
    pub fn hotp(&self, counter: u64) -> String {
        let alg = match self.algorithm {
            Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        };
        let tag = hmac::sign(&hmac::Key::new(alg, &self.secret), &counter.to_be_bytes());
        let mac = tag.as_ref();
        let off = usize::from(mac[mac.len() - 1] & 0x0f);
        let bin = u32::from_be_bytes([mac[off] & 0x7f, mac[off + 1], mac[off + 2], mac[off + 3]]);
        let code = u64::from(bin) % 10u64.pow(self.digits);
        format!("{code:0width$}", width = self.digits as usize)
    }

    /// The code at `unix_time` (seconds).
    pub fn code_at(&self, unix_time: u64) -> OtpCode {
        match self.kind {
            Kind::Totp { period } => OtpCode {
                kind: "totp",
                code: self.hotp(unix_time / period),
                digits: self.digits,
                period: Some(period),
                seconds_left: Some(period - unix_time % period),
                counter: None,
            },
            Kind::Hotp { counter } => OtpCode {
                kind: "hotp",
                code: self.hotp(counter),
                digits: self.digits,
                period: None,
                seconds_left: None,
                counter: Some(counter),
            },
        }
    }

    pub fn code_now(&self) -> OtpCode {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.code_at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b32(secret: &[u8]) -> String {
        // Test-only encoder (no padding).
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let (mut out, mut acc, mut bits) = (String::new(), 0u32, 0);
        for &b in secret {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(A[((acc >> bits) & 31) as usize] as char);
            }
            acc &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(A[((acc << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    #[test]
    fn rfc6238_vectors_all_algorithms() {
        let s1 = b"12345678901234567890".to_vec();
        let s256 = b"12345678901234567890123456789012".to_vec();
        let s512 = b"1234567890123456789012345678901234567890123456789012345678901234".to_vec();
        let table: &[(&str, &[u8], u64, &str)] = &[
            ("SHA1", &s1, 59, "94287082"),
            ("SHA256", &s256, 59, "46119246"),
            ("SHA512", &s512, 59, "90693936"),
            ("SHA1", &s1, 1111111109, "07081804"),
            ("SHA256", &s256, 1111111109, "68084774"),
            ("SHA512", &s512, 1111111109, "25091201"),
            ("SHA1", &s1, 20000000000, "65353130"),
            ("SHA512", &s512, 20000000000, "47863826"),
        ];
        for (alg, secret, t, want) in table {
            let uri = format!(
                "otpauth://totp/Ex:alice?secret={}&algorithm={alg}&digits=8&period=30",
                b32(secret)
            );
            let o = OtpAuth::parse(&uri).unwrap();
            let c = o.code_at(*t);
            assert_eq!(c.code, *want, "{alg} {t}");
            assert_eq!(c.seconds_left, Some(30 - t % 30));
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let want = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        let secret = b32(b"12345678901234567890").to_lowercase();
        for (counter, w) in want.iter().enumerate() {
            let o = OtpAuth::parse(&format!(
                "otpauth://hotp/x?secret={secret}&counter={counter}"
            ))
            .unwrap();
            let c = o.code_now();
            assert_eq!(
                (c.kind, c.code.as_str(), c.counter),
                ("hotp", *w, Some(counter as u64))
            );
        }
    }

    #[test]
    fn defaults_are_sha1_six_digits_thirty_seconds() {
        let o = OtpAuth::parse("otpauth://totp/Label?secret=GEZDGNBVGY3TQOJQ&issuer=X").unwrap();
        assert_eq!(
            (o.algorithm, o.digits, o.kind),
            (Algorithm::Sha1, 6, Kind::Totp { period: 30 })
        );
        let c = o.code_now();
        assert_eq!(c.code.len(), 6);
        assert!((1..=30).contains(&c.seconds_left.unwrap()));
        // Padding, spaces and lowercase in the secret are fine.
        assert!(OtpAuth::parse("otpauth://totp/L?secret=gezd gnbv gy3t qojq====").is_ok());
    }

    #[test]
    fn bad_uris_are_errors() {
        let cases: &[(&str, OtpError)] = &[
            ("", OtpError::NotOtpauth),
            ("https://x/?secret=GEZDGNBV", OtpError::NotOtpauth),
            ("otpauth://steam/x?secret=GEZDGNBV", OtpError::NotOtpauth),
            ("otpauth://totp/x", OtpError::Secret),
            ("otpauth://totp/x?secret=1189", OtpError::Secret),
            (
                "otpauth://totp/x?secret=GEZDGNBV&algorithm=MD5",
                OtpError::Unsupported("algorithm"),
            ),
            (
                "otpauth://totp/x?secret=GEZDGNBV&digits=10",
                OtpError::Unsupported("number of digits"),
            ),
            (
                "otpauth://totp/x?secret=GEZDGNBV&digits=0",
                OtpError::Unsupported("number of digits"),
            ),
            (
                "otpauth://totp/x?secret=GEZDGNBV&period=0",
                OtpError::Unsupported("period"),
            ),
            (
                "otpauth://hotp/x?secret=GEZDGNBV&counter=-1",
                OtpError::Unsupported("counter"),
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(OtpAuth::parse(uri).unwrap_err(), *want, "{uri}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let o = OtpAuth::parse("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQ").unwrap();
        let d = format!("{o:?}");
        assert!(!d.contains("GEZDGNBV") && !d.contains("secret:"), "{d}");
    }
}
