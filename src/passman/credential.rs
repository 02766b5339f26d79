//! Passman credential objects (spec B.3, B.7): which fields are client-encrypted, reading them
//! with the vault key (or a credential's shared key), and building the whole object the server
//! needs back, with every encrypted field re-encrypted and everything else kept as it came. Pure.

use super::sjcl::{Keyring, SjclError};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Client-encrypted fields: each is sjcl(JSON.stringify(value)).
pub const ENCRYPTED: &[&str] = &[
    "description",
    "username",
    "password",
    "files",
    "custom_fields",
    "otp",
    "email",
    "tags",
    "url",
    "compromised",
];

/// Fields the server encrypts at rest with a typed PHP function: `null` there is a 500.
pub const SERVER_ENCRYPTED: &[&str] = &[
    "description",
    "username",
    "password",
    "files",
    "custom_fields",
    "otp",
    "email",
    "tags",
    "url",
];

/// The value the web app starts a new credential with, per field.
fn empty_value(field: &str) -> Value {
    match field {
        "tags" | "files" | "custom_fields" => json!([]),
        "otp" => json!({}),
        "compromised" => json!(false),
        _ => Value::Null,
    }
}

/// A credential as the server sent it, with the fields that decrypted.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The object exactly as received (for shared credentials: `credential_data`).
    pub raw: Map<String, Value>,
    /// Decrypted field values (JSON), by field name.
    pub values: BTreeMap<&'static str, Value>,
    /// Fields present but unreadable: another key, damage, or `false` from a broken server copy.
    pub unreadable: Vec<&'static str>,
    /// Shared with this user through an ACL (read with the ACL's shared key).
    pub shared_with_me: bool,
}

/// The keyring for a credential's fields: the vault key, or the credential's own shared key
/// (`shared_key` = sjcl(vault key, key string), not JSON-encoded; trimmed as the web app does).
pub fn shared_keyring(vault: &Keyring, shared_key: &str) -> Result<Keyring, SjclError> {
    let plain = vault.decrypt(shared_key)?;
    let text = std::str::from_utf8(&plain).map_err(|_| SjclError::NotJson)?;
    Ok(Keyring::new(text.trim()))
}

/// Opens a credential we own: its fields are under the vault key, or under its `shared_key`
/// when it has one (credentials we shared out).
pub fn open_own(raw: Map<String, Value>, vault: &Keyring) -> Opened {
    match raw
        .get("shared_key")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(sk) => match shared_keyring(vault, sk) {
            Ok(k) => open_with(raw, &k, false),
            Err(_) => unreadable_all(raw, false),
        },
        None => open_with(raw, vault, false),
    }
}

/// Opens an ACL entry from `GET /sharing/vault/{guid}/get`: its top-level `shared_key` opens
/// the credential in `credential_data`. None when the entry has no credential object.
pub fn open_shared(acl: &Map<String, Value>, vault: &Keyring) -> Option<Opened> {
    let raw = acl.get("credential_data")?.as_object()?.clone();
    let key = acl
        .get("shared_key")
        .and_then(Value::as_str)
        .map(|sk| shared_keyring(vault, sk));
    Some(match key {
        Some(Ok(k)) => open_with(raw, &k, true),
        _ => unreadable_all(raw, true),
    })
}

fn unreadable_all(raw: Map<String, Value>, shared: bool) -> Opened {
    let unreadable = ENCRYPTED
        .iter()
        .copied()
        .filter(|f| raw.get(*f).is_some_and(|v| !v.is_null()))
        .collect();
    Opened {
        raw,
        values: BTreeMap::new(),
        unreadable,
        shared_with_me: shared,
    }
}

pub fn open_with(raw: Map<String, Value>, key: &Keyring, shared: bool) -> Opened {
    let mut values = BTreeMap::new();
    let mut unreadable = Vec::new();
    for &field in ENCRYPTED {
        match raw.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => match decrypt_value(key, s) {
                Some(v) => {
                    values.insert(field, v);
                }
                None => unreadable.push(field),
            },
            Some(_) => unreadable.push(field),
        }
    }
    Opened {
        raw,
        values,
        unreadable,
        shared_with_me: shared,
    }
}

/// One field's JSON value, or None when it does not decrypt or is not JSON.
pub fn decrypt_value(key: &Keyring, stored: &str) -> Option<Value> {
    let plain = key.decrypt(stored).ok()?;
    serde_json::from_slice(&plain).ok()
}

/// sjcl(JSON.stringify(value)), as the web app stores a field.
pub fn encrypt_value(key: &Keyring, value: &Value) -> String {
    let text = zeroize::Zeroizing::new(serde_json::to_string(value).expect("JSON serializes"));
    key.encrypt(text.as_bytes())
}

impl Opened {
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.values.get(name).filter(|v| !v.is_null())
    }

    pub fn text(&self, name: &str) -> String {
        match self.field(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    }

    pub fn plain_str(&self, name: &str) -> String {
        match self.raw.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    }

    pub fn guid(&self) -> String {
        self.plain_str("guid")
    }

    pub fn label(&self) -> String {
        self.plain_str("label")
    }

    /// `hidden` comes as 0/1 (sometimes a bool or a numeric string).
    pub fn hidden(&self) -> bool {
        truthy(self.raw.get("hidden"))
    }

    /// In the trash: `delete_time` > 0.
    pub fn trashed(&self) -> bool {
        number(self.raw.get("delete_time")).is_some_and(|t| t > 0)
    }

    pub fn tags(&self) -> Vec<String> {
        self.field("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| match t {
                        Value::String(s) => Some(s.clone()),
                        t => t.get("text").and_then(Value::as_str).map(str::to_owned),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The whole object for `POST`/`PATCH`: every encrypted field re-encrypted under `key`
    /// (missing ones get the web app's empty value, never `null`), every other field as it
    /// came. Fails with the names of unreadable fields that `values` does not replace.
    pub fn sealed(&self, key: &Keyring) -> Result<Map<String, Value>, Vec<&'static str>> {
        let lost: Vec<&'static str> = self
            .unreadable
            .iter()
            .copied()
            .filter(|f| !self.values.contains_key(f))
            .collect();
        if !lost.is_empty() {
            return Err(lost);
        }
        let mut body = self.raw.clone();
        for &field in ENCRYPTED {
            let value = match self.values.get(field) {
                Some(v) => v.clone(),
                // The legacy extension never wrote `compromised`; leave it as the server has it.
                None if !SERVER_ENCRYPTED.contains(&field) => continue,
                None => empty_value(field),
            };
            body.insert(field.to_owned(), Value::String(encrypt_value(key, &value)));
        }
        Ok(body)
    }
}

/// A new credential in the web app's shape (`credentialservice.newCredential`), unencrypted.
pub fn new_credential(vault_id: &Value, label: &str) -> Opened {
    let raw = json!({
        "credential_id": null,
        "guid": null,
        "vault_id": vault_id,
        "label": label,
        "created": null,
        "changed": null,
        "favicon": null,
        "icon": null,
        "renew_interval": null,
        "expire_time": 0,
        "delete_time": 0,
        "hidden": false,
    });
    let Value::Object(raw) = raw else {
        unreachable!("an object literal")
    };
    let values = ENCRYPTED.iter().map(|&f| (f, empty_value(f))).collect();
    Opened {
        raw,
        values,
        unreadable: Vec::new(),
        shared_with_me: false,
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        // Decrypted fields hold passwords and OTP secrets: wipe their text.
        self.values.values_mut().for_each(wipe);
    }
}

/// Zeroizes every string inside a JSON value.
pub fn wipe(v: &mut Value) {
    use zeroize::Zeroize;
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(m) => m.values_mut().for_each(wipe),
        _ => {}
    }
}

pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !matches!(s.as_str(), "" | "0" | "false"),
        other => number(other).is_some_and(|n| n != 0),
    }
}

pub fn number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fields_round_trip_as_json_text() {
        let k = Keyring::new("vault pw");
        let stored = encrypt_value(&k, &json!("hunter2"));
        assert_eq!(&*k.decrypt(&stored).unwrap(), b"\"hunter2\"");
        let raw = obj(json!({
            "guid": "G", "label": "L", "hidden": 1, "delete_time": "0",
            "password": stored,
            "username": encrypt_value(&Keyring::new("other"), &json!("u")),
            "url": false,
            "email": null,
            "tags": encrypt_value(&k, &json!([{"text": "a"}, {"text": "b"}])),
        }));
        let o = open_with(raw, &k, false);
        assert_eq!(o.text("password"), "hunter2");
        assert_eq!(o.unreadable, ["username", "url"]);
        assert_eq!(o.tags(), ["a", "b"]);
        assert!(o.hidden() && !o.trashed());
    }

    #[test]
    fn sealing_keeps_unknown_fields_and_never_sends_null() {
        let k = Keyring::new("vault pw");
        let mut o = new_credential(&json!(3), "Mail");
        o.raw.insert("future_field".into(), json!({"x": 1}));
        o.values.insert("password", json!("pw"));
        let body = o.sealed(&k).unwrap();
        assert_eq!(body["future_field"], json!({"x": 1}));
        assert_eq!(body["label"], "Mail");
        for f in ENCRYPTED {
            let s = body[*f]
                .as_str()
                .unwrap_or_else(|| panic!("{f} not a string"));
            assert!(decrypt_value(&k, s).is_some(), "{f}");
        }
        assert_eq!(
            decrypt_value(&k, body["otp"].as_str().unwrap()),
            Some(json!({}))
        );
        assert_eq!(
            decrypt_value(&k, body["email"].as_str().unwrap()),
            Some(Value::Null)
        );
    }

    #[test]
    fn unreadable_fields_block_a_rewrite_unless_replaced() {
        let k = Keyring::new("vault pw");
        let raw = obj(json!({"guid": "G", "label": "L", "password": "garbage"}));
        let mut o = open_with(raw, &k, false);
        assert_eq!(o.sealed(&k).unwrap_err(), ["password"]);
        o.values.insert("password", json!("new"));
        assert!(o.sealed(&k).is_ok());
    }

    #[test]
    fn shared_keys_are_trimmed_and_not_json() {
        let vault = Keyring::new("vault pw");
        let shared = Keyring::new("the-shared-key");
        let acl = obj(json!({
            "shared_key": vault.encrypt(b"  the-shared-key\n"),
            "credential_data": {"guid": "S", "label": "Shared", "password": encrypt_value(&shared, &json!("s3"))},
        }));
        let o = open_shared(&acl, &vault).unwrap();
        assert!(o.shared_with_me);
        assert_eq!(o.text("password"), "s3");
        // A credential we shared out carries its shared_key inline.
        let own = obj(json!({
            "guid": "O", "label": "Own", "shared_key": vault.encrypt(b"the-shared-key"),
            "password": encrypt_value(&shared, &json!("o1")),
        }));
        assert_eq!(open_own(own, &vault).text("password"), "o1");
    }
}
