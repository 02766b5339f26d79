//! An item's `data` by convention (what the companion GUI writes): a JSON string
//! `{url, user, password, notes, otp?}`. Anything else is kept and shown as text, never an error.
//! Unknown fields of the JSON are kept on update.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The fields passbridge reads and writes.
pub const FIELDS: &[&str] = &["url", "user", "password", "notes", "otp"];

/// Decrypted item data.
pub enum Content {
    /// A JSON object (the convention); unknown fields included.
    Fields(Map<String, Value>),
    /// Not a JSON object: the text as it is (lossy UTF-8).
    Text(Zeroizing<String>),
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Fields(m) => write!(f, "Fields({:?})", m.keys().collect::<Vec<_>>()),
            Content::Text(_) => f.write_str("Text(<redacted>)"),
        }
    }
}

impl Drop for Content {
    fn drop(&mut self) {
        if let Content::Fields(m) = self {
            for v in m.values_mut() {
                if let Value::String(s) = v {
                    zeroize::Zeroize::zeroize(s);
                }
            }
        }
    }
}

impl Content {
    pub fn parse(plain: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(plain) {
            Ok(Value::Object(m)) => Content::Fields(m),
            _ => Content::Text(Zeroizing::new(String::from_utf8_lossy(plain).into_owned())),
        }
    }

    /// A text field of the convention, empty when absent or not text.
    pub fn field(&self, name: &str) -> &str {
        match self {
            Content::Fields(m) => m.get(name).and_then(Value::as_str).unwrap_or(""),
            Content::Text(_) => "",
        }
    }

    pub fn url(&self) -> &str {
        self.field("url")
    }

    /// The one-time code secret: an `otpauth://` URI or a bare base32 secret.
    pub fn otp(&self) -> Option<&str> {
        Some(self.field("otp").trim()).filter(|s| !s.is_empty())
    }

    /// What a `get` returns as `data`: the convention's fields (all text), or `null` for text data.
    pub fn fields_json(&self) -> Value {
        match self {
            Content::Fields(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => continue,
                        other => other.to_string(),
                    };
                    out.insert(k.clone(), Value::String(text));
                }
                for f in FIELDS.iter().filter(|f| **f != "otp") {
                    out.entry(f.to_string())
                        .or_insert(Value::String(String::new()));
                }
                Value::Object(out)
            }
            Content::Text(_) => Value::Null,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Content::Text(t) => Some(t),
            Content::Fields(_) => None,
        }
    }
}

/// Checks `data` from a request: an object of text fields (`url`, `user`, `password`, `notes`,
/// `otp`, and any others the GUI uses). Returns the object.
pub fn from_params(v: &Value) -> Result<Map<String, Value>, String> {
    let Value::Object(m) = v else {
        return Err("\"data\" must be an object {url, user, password, notes, otp?}.".into());
    };
    for (k, v) in m {
        if !v.is_string() {
            return Err(format!("\"data.{k}\" must be text."));
        }
    }
    Ok(m.clone())
}

/// The JSON string sent as an item's `data`.
pub fn to_wire(m: &Map<String, Value>) -> Zeroizing<String> {
    Zeroizing::new(Value::Object(m.clone()).to_string())
}

/// A JSON value holding secrets (a request body with a password): its text is zeroized on drop.
pub struct SecretValue(pub Value);

impl std::ops::Deref for SecretValue {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        zero_value(&mut self.0);
    }
}

/// Overwrites every string inside `v`.
pub fn zero_value(v: &mut Value) {
    match v {
        Value::String(s) => zeroize::Zeroize::zeroize(s),
        Value::Object(m) => m.values_mut().for_each(zero_value),
        Value::Array(a) => a.iter_mut().for_each(zero_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn convention_and_text() {
        let c = Content::parse(
            br#"{"url":"https://a.example","user":"ann","password":"pw","otp":" JBSWY3DP "}"#,
        );
        assert_eq!(c.url(), "https://a.example");
        assert_eq!(c.otp(), Some("JBSWY3DP"));
        assert_eq!(
            c.fields_json(),
            json!({"url":"https://a.example","user":"ann","password":"pw","notes":"","otp":" JBSWY3DP "})
        );
        for text in [
            &b"just a password"[..],
            b"[1,2]",
            b"\"str\"",
            b"\xff\xfe",
            b"",
        ] {
            let c = Content::parse(text);
            assert!(c.text().is_some());
            assert_eq!(c.url(), "");
            assert_eq!(c.fields_json(), Value::Null);
        }
        // Non-text fields are shown as their JSON text, never dropped or fatal.
        let c = Content::parse(br#"{"user":5,"notes":null,"extra":{"a":1}}"#);
        assert_eq!(c.fields_json()["user"], "5");
        assert_eq!(c.fields_json()["extra"], r#"{"a":1}"#);
    }

    #[test]
    fn params_must_be_text_fields() {
        assert!(from_params(&json!({"user": "a", "password": "b"})).is_ok());
        assert!(from_params(&json!({"user": 1})).is_err());
        assert!(from_params(&json!("x")).is_err());
        let m = from_params(&json!({"user": "a"})).unwrap();
        assert_eq!(to_wire(&m).as_str(), r#"{"user":"a"}"#);
    }
}
