//! Passman's `otp` field: an object the web app fills from a scanned `otpauth://` QR code
//! (`{type, label, issuer, secret, algorithm, period, digits, qr_uri: {qrData}}`); `{}` when
//! none. Codes come from the shared RFC 6238 implementation.

use super::error::PassmanError;
use crate::credentials::otp::{OtpAuth, OtpCode};
use serde_json::{Map, Value, json};

/// The `otpauth://` URI an otp value stands for, if it has a secret.
pub fn uri_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.trim().to_ascii_lowercase().starts_with("otpauth://") => {
            Some(s.trim().to_owned())
        }
        Value::String(s) if !s.trim().is_empty() => Some(secret_uri(s, None, None, None, "totp")),
        Value::Object(m) => {
            let text = |k: &str| match m.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            match text("secret") {
                Some(secret) => Some(secret_uri(
                    &secret,
                    text("algorithm").as_deref(),
                    text("digits").as_deref(),
                    text("period").as_deref(),
                    &text("type")
                        .unwrap_or_else(|| "totp".into())
                        .to_ascii_lowercase(),
                )),
                None => m
                    .get("qr_uri")
                    .and_then(|q| q.get("qrData"))
                    .and_then(Value::as_str)
                    .filter(|u| u.to_ascii_lowercase().starts_with("otpauth://"))
                    .map(str::to_owned),
            }
        }
        _ => None,
    }
}

fn secret_uri(
    secret: &str,
    algorithm: Option<&str>,
    digits: Option<&str>,
    period: Option<&str>,
    kind: &str,
) -> String {
    let kind = if kind == "hotp" { "hotp" } else { "totp" };
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("secret", &secret.replace(' ', ""));
    if let Some(a) = algorithm {
        q.append_pair("algorithm", a);
    }
    if let Some(d) = digits {
        q.append_pair("digits", d);
    }
    if let Some(p) = period {
        q.append_pair("period", p);
    }
    format!("otpauth://{kind}/passman?{}", q.finish())
}

/// The current code of a credential's otp value, or why there is none.
pub fn code(v: &Value) -> Option<Result<OtpCode, String>> {
    let uri = uri_of(v)?;
    Some(
        OtpAuth::parse(&uri)
            .map(|o| o.code_now())
            .map_err(|e| e.to_string()),
    )
}

/// The otp value to store for what a request gave: an `otpauth://` URI, a bare base32 secret, a
/// Passman otp object, or null/"" for none. Refuses what gives no code.
pub fn to_passman(v: &Value) -> Result<Value, PassmanError> {
    let invalid = |why: String| PassmanError::invalid(format!("\"otp\": {why}."));
    match v {
        Value::Null => Ok(json!({})),
        Value::String(s) if s.trim().is_empty() => Ok(json!({})),
        Value::Object(m) if m.is_empty() => Ok(json!({})),
        Value::String(_) | Value::Object(_) => {
            let uri = uri_of(v).ok_or_else(|| invalid("it has no secret".into()))?;
            let parsed = OtpAuth::parse(&uri).map_err(|e| invalid(e.to_string()))?;
            if let Value::Object(m) = v {
                return Ok(Value::Object(m.clone()));
            }
            let url = url::Url::parse(&uri).map_err(|e| invalid(e.to_string()))?;
            let mut m = Map::new();
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            let get = |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            let label = url.path().trim_start_matches('/');
            let label = percent_decode(label);
            m.insert(
                "type".into(),
                json!(url.host_str().unwrap_or("totp").to_ascii_lowercase()),
            );
            m.insert("label".into(), json!(label));
            m.insert("issuer".into(), json!(get("issuer").unwrap_or_default()));
            m.insert("secret".into(), json!(get("secret").unwrap_or_default()));
            m.insert(
                "algorithm".into(),
                json!(get("algorithm").unwrap_or_else(|| "SHA1".into())),
            );
            m.insert("digits".into(), json!(parsed.digits));
            if let crate::credentials::otp::Kind::Totp { period } = parsed.kind {
                m.insert("period".into(), json!(period));
            }
            m.insert("qr_uri".into(), json!({"qrData": uri}));
            Ok(Value::Object(m))
        }
        _ => Err(invalid(
            "give an otpauth:// URI, a base32 secret or an object".into(),
        )),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 SHA-1 secret "12345678901234567890" in base32.
    const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn web_app_objects_give_codes() {
        let v = json!({"type": "totp", "secret": SECRET, "algorithm": "SHA1", "period": 30, "digits": 8});
        let c = code(&v).unwrap().unwrap();
        assert_eq!((c.kind, c.digits), ("totp", 8));
        let from_qr = json!({"qr_uri": {"qrData": format!("otpauth://totp/x?secret={SECRET}")}});
        assert_eq!(code(&from_qr).unwrap().unwrap().digits, 6);
        assert!(code(&json!({})).is_none());
        assert!(code(&json!({"secret": "not base32!"})).unwrap().is_err());
    }

    #[test]
    fn requests_become_web_app_objects() {
        let v = to_passman(&json!(format!(
            "otpauth://totp/ACME:alice%40example?secret={SECRET}&issuer=ACME&digits=8"
        )))
        .unwrap();
        assert_eq!(v["secret"], SECRET);
        assert_eq!(v["label"], "ACME:alice@example");
        assert_eq!(v["issuer"], "ACME");
        assert_eq!(
            (v["digits"].as_u64(), v["period"].as_u64()),
            (Some(8), Some(30))
        );
        assert_eq!(code(&v).unwrap().unwrap().digits, 8);
        assert_eq!(to_passman(&json!(SECRET)).unwrap()["type"], "totp");
        assert_eq!(to_passman(&Value::Null).unwrap(), json!({}));
        assert!(to_passman(&json!("otpauth://totp/x")).is_err());
        assert!(to_passman(&json!(5)).is_err());
    }
}
