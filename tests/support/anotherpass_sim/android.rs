//! What the phone's platform does to bytes and JSON, reproduced where a client can tell the
//! difference: `android.util.Base64` (lenient decoder, line-wrapped DEFAULT encoder) and Android's
//! `org.json` (string coercion in `getString`/`optString`, `\/` escaping, `toString(4)` layout).

use serde_json::Value;

/// `android.util.Base64.decode` failed ("bad base-64"): a dangling single character or
/// misplaced or incomplete `=` padding. Every other foreign byte is skipped (errata §10.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBase64;

impl std::fmt::Display for BadBase64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bad base-64")
    }
}

fn sextet(c: u8, url_safe: bool) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' if !url_safe => Some(62),
        b'/' if !url_safe => Some(63),
        b'-' if url_safe => Some(62),
        b'_' if url_safe => Some(63),
        _ => None,
    }
}

/// Android's decoder state machine: states 0–3 collect sextets, 4 wants a second `=`, 5 accepts
/// only skipped bytes. `url_safe` selects the `-_` alphabet (`Base64.URL_SAFE`).
pub fn b64_decode(input: &str, url_safe: bool) -> Result<Vec<u8>, BadBase64> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 2);
    let mut state = 0u8;
    let mut value: u32 = 0;
    for &c in input.as_bytes() {
        let d = sextet(c, url_safe);
        let equals = c == b'=';
        match (state, d) {
            (0..=2, Some(d)) => {
                value = (value << 6) | u32::from(d);
                state += 1;
            }
            (3, Some(d)) => {
                value = (value << 6) | u32::from(d);
                out.extend_from_slice(&[(value >> 16) as u8, (value >> 8) as u8, value as u8]);
                state = 0;
            }
            (2, None) if equals => {
                out.push((value >> 4) as u8);
                state = 4;
            }
            (3, None) if equals => {
                out.extend_from_slice(&[(value >> 10) as u8, (value >> 2) as u8]);
                state = 5;
            }
            (4, None) if equals => state = 5,
            (_, None) if !equals => {} // skipped byte
            _ => return Err(BadBase64),
        }
    }
    match state {
        0 | 5 => {}
        2 => out.push((value >> 4) as u8),
        3 => out.extend_from_slice(&[(value >> 10) as u8, (value >> 2) as u8]),
        _ => return Err(BadBase64),
    }
    Ok(out)
}

/// `Base64.encodeToString(data, Base64.DEFAULT)`: padded standard alphabet, a `\n` after every
/// 76 characters and at the end. This is where clientKey's trailing newline comes from.
pub fn b64_encode_default(data: &[u8]) -> String {
    use base64::Engine;
    let flat = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(flat.len() + flat.len() / 76 + 1);
    for chunk in flat.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// `Base64.NO_WRAP | Base64.NO_PADDING` with the standard alphabet (server envelopes).
pub fn b64_std_nopad(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(data)
}

/// `Base64.URL_SAFE | Base64.NO_WRAP | Base64.NO_PADDING` (encOneTimeKey, JWK n/e, sharedBaseKey).
pub fn b64_url_nopad(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Android `JSONObject.getString`: any present value is coerced to text (JSON `null` becomes
/// `"null"`, numbers their text); a missing key throws `No value for <key>`.
pub fn get_string(obj: &serde_json::Map<String, Value>, key: &str) -> Result<String, String> {
    match obj.get(key) {
        None => Err(format!("No value for {key}")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
    }
}

/// Android `JSONObject.optString`: like [`get_string`] but `""` when the key is missing.
pub fn opt_string(obj: &serde_json::Map<String, Value>, key: &str) -> String {
    get_string(obj, key).unwrap_or_default()
}

/// A JSON value built in insertion order, serialized the way Android's `org.json` does.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    S(String),
    A(Vec<J>),
    O(Vec<(&'static str, J)>),
}

impl J {
    pub fn s(v: impl Into<String>) -> Self {
        J::S(v.into())
    }

    /// `toString()`: compact, insertion order, `/` escaped as `\/`.
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            J::S(s) => quote(s, out),
            J::A(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::O(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quote(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// `JSONStringer.string`: Android escapes `/` too, and control characters as `\uXXXX`.
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `JSONObject().put("error", msg).toString(4)`: the body of every non-200 reply.
pub fn error_body(message: &str) -> String {
    let mut out = String::from("{\n    \"error\": ");
    quote(message, &mut out);
    out.push_str("\n}");
    out
}
