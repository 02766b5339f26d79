//! The `clarion` section of `config.json`: the server, the registered keys and the approval policy.

use crate::api::Operation;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Longest time one approval may cover (1 hour).
pub const MAX_APPROVAL_TTL_SECONDS: u64 = 3600;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Base URL of the Clarion server the keys were registered with (`http://host:port[/prefix]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub keys: Vec<StoredKey>,
    pub policy: Policy,
}

impl Settings {
    pub fn key(&self, handle: &str) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.handle == handle)
    }
    /// True when some operation needs an approval and a key exists to give one.
    pub fn guards_admin(&self) -> bool {
        !self.policy.require.is_empty() && !self.keys.is_empty()
    }
}

/// A registered security key: the object Clarion's registration produced (spec A.6), plus when
/// we stored it. Only the Clarion fields go back to the server ([`StoredKey::to_clarion`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    #[serde(rename = "type")]
    pub kind: String,
    /// WebAuthn credential id, base64url without padding.
    pub handle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<u64>,
    /// COSE_Key, standard base64. Public, but needed for every authentication.
    pub public_key: String,
    /// Unix seconds.
    #[serde(default)]
    pub registered_at: i64,
}

impl StoredKey {
    /// The key as `POST /api/authn` accepts it: any field besides `type handle name public_key
    /// counter user_handle` makes Clarion answer 400 (spec A.4).
    pub fn to_clarion(&self) -> Value {
        let mut v =
            json!({"type": self.kind, "handle": self.handle, "public_key": self.public_key});
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        if let Some(c) = self.counter {
            v["counter"] = json!(c);
        }
        v
    }

    /// What `clarion.keys` shows: everything but the public key bytes.
    pub fn summary(&self) -> Value {
        json!({
            "handle": self.handle,
            "name": self.name,
            "type": self.kind,
            "counter": self.counter,
            "registered_at": super::rfc3339::format_utc(self.registered_at),
        })
    }
}

/// Which operations need a verified approval, and for how long one approval counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Names of operations the backends declare ([`crate::api::Backend::operations`]).
    pub require: Vec<String>,
    /// 0: every guarded operation asks for a touch. Otherwise an approval counts this long from
    /// the touch (in every process of the user with the agent, else in the same host process).
    pub approval_ttl_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("\"{0}\" is not an operation a policy can guard; use {1}.")]
    UnknownOperation(String, String),
    #[error("approval_ttl_seconds must be at most {MAX_APPROVAL_TTL_SECONDS} (one hour).")]
    TtlTooLong,
}

impl Policy {
    /// A policy from user input: known operation names only, duplicates dropped, sorted.
    /// `known`: every operation name a policy can guard.
    pub fn new(
        require: &[String],
        approval_ttl_seconds: u64,
        known: &[&str],
    ) -> Result<Self, PolicyError> {
        if let Some(bad) = require.iter().find(|r| !known.contains(&r.as_str())) {
            return Err(PolicyError::UnknownOperation(
                bad.chars().take(64).collect(),
                known.join(", "),
            ));
        }
        if approval_ttl_seconds > MAX_APPROVAL_TTL_SECONDS {
            return Err(PolicyError::TtlTooLong);
        }
        let mut require = require.to_vec();
        require.sort();
        require.dedup();
        Ok(Self {
            require,
            approval_ttl_seconds,
        })
    }

    /// Whether `op` needs an approval: listed, or implied by a listed one
    /// ([`Operation::implied_by`] of `op` among `known`, every operation the backends declare).
    pub fn covers(&self, op: &str, known: &[Operation]) -> bool {
        let listed = |o: &str| self.require.iter().any(|r| r == o);
        listed(op)
            || known
                .iter()
                .filter(|o| o.name == op)
                .any(|o| o.implied_by.iter().any(|b| listed(b)))
    }

    /// True if `new` protects less than `self`: an operation dropped, or approvals that last
    /// longer while something is still guarded.
    /// `known`: every operation the backends declare (for what each one implies).
    pub fn is_weakened_by(&self, new: &Policy, known: &[Operation]) -> bool {
        let dropped = self.require.iter().any(|r| !new.covers(r, known));
        let longer =
            !new.require.is_empty() && new.approval_ttl_seconds > self.approval_ttl_seconds;
        dropped || longer
    }

    /// Names in the file that match no operation (a hand edit gone wrong): they guard nothing.
    pub fn unknown(&self, known: &[&str]) -> Vec<&str> {
        self.require
            .iter()
            .map(String::as_str)
            .filter(|r| !known.contains(r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["vault_unlock", "vault_get", "anotherpass_link"];

    fn p(req: &[&str], ttl: u64) -> Policy {
        Policy::new(
            &req.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ttl,
            KNOWN,
        )
        .unwrap()
    }

    #[test]
    fn weakening() {
        let ops = crate::backends::operations();
        let cur = p(&["vault_unlock", "vault_get"], 60);
        assert!(!cur.is_weakened_by(&cur, &ops));
        assert!(!cur.is_weakened_by(
            &p(&["vault_get", "vault_unlock", "anotherpass_link"], 60),
            &ops
        ));
        assert!(!cur.is_weakened_by(&p(&["vault_unlock", "vault_get"], 0), &ops));
        assert!(cur.is_weakened_by(&p(&["vault_unlock"], 60), &ops));
        assert!(cur.is_weakened_by(&p(&[], 0), &ops));
        assert!(cur.is_weakened_by(&p(&["vault_unlock", "vault_get"], 61), &ops));
        // A longer TTL that guards nothing protects nothing less.
        assert!(!Policy::default().is_weakened_by(&p(&[], 600), &ops));
    }

    #[test]
    fn revealing_the_key_is_guarded_with_unlock_or_get() {
        let ops = crate::backends::operations();
        let known: Vec<&str> = ops.iter().map(|o| o.name).collect();
        let p = |req: &[&str]| {
            Policy::new(
                &req.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                0,
                &known,
            )
            .unwrap()
        };
        let reveal = crate::anotherpass::operation::ANOTHERPASS_REVEAL_KEY;
        assert!(!p(&[]).covers(reveal, &ops));
        assert!(!p(&["anotherpass_fetch", "vault_read"]).covers(reveal, &ops));
        assert!(p(&["vault_unlock"]).covers(reveal, &ops));
        assert!(p(&["vault_get"]).covers(reveal, &ops));
        assert!(p(&["anotherpass_reveal_key"]).covers(reveal, &ops));
        assert!(!p(&["vault_unlock"]).covers("vault_reset", &ops));
        // Without the declared operations nothing is implied.
        assert!(!p(&["vault_unlock"]).covers(reveal, &[]));
    }

    #[test]
    fn new_validates_and_normalizes() {
        assert_eq!(
            p(&["vault_get", "vault_unlock", "vault_get"], 5).require,
            vec!["vault_get", "vault_unlock"]
        );
        assert_eq!(
            Policy::new(&["vault-unlock".into()], 0, KNOWN),
            Err(PolicyError::UnknownOperation(
                "vault-unlock".into(),
                KNOWN.join(", ")
            ))
        );
        assert_eq!(
            Policy::new(&[], MAX_APPROVAL_TTL_SECONDS + 1, KNOWN),
            Err(PolicyError::TtlTooLong)
        );
    }

    #[test]
    fn clarion_view_has_only_fields_clarion_accepts() {
        let k = StoredKey {
            kind: "webauthn".into(),
            handle: "aGFuZGxl".into(),
            name: None,
            counter: Some(3),
            public_key: "cHVi".into(),
            registered_at: 1,
        };
        assert_eq!(
            k.to_clarion(),
            json!({"type": "webauthn", "handle": "aGFuZGxl", "public_key": "cHVi", "counter": 3})
        );
    }
}
