//! The authn JSON of `POST /api/authn` and `GET /api/authn/:id` (spec A.4, A.5), pure:
//! building the request, checking the reply, and deciding what a polled authn means.

use super::rfc3339;
use super::settings::StoredKey;
use serde::Deserialize;
use serde_json::{Value, json};

/// Longest authn id accepted (Clarion's are 86 characters).
const MAX_ID_LEN: usize = 256;
const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the reply is not JSON of the form {{\"authn\": {{...}}}}: {0}")]
    Shape(String),
    #[error("the reply has an unknown status {0:?}")]
    UnknownStatus(String),
    #[error("the reply's {field} is invalid: {why}")]
    Field { field: &'static str, why: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Verified,
    Cancelled,
    Expired,
}

/// A checked authn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authn {
    pub id: String,
    pub status: Status,
    /// Unix seconds, from the server's clock.
    pub created_at: i64,
    pub expires_at: i64,
    pub expires_at_text: String,
    /// The page the user opens to touch the key.
    pub html_url: String,
    pub verified_at: Option<i64>,
    pub verified_key: Option<VerifiedKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VerifiedKey {
    pub handle: String,
    #[serde(default)]
    pub counter: Option<u64>,
}

/// The body of `POST /api/authn`. `keys` is always an array: without it Clarion fails with 500.
pub fn authn_request(name: &str, comment: Option<&str>, keys: &[StoredKey]) -> Value {
    json!({
        "name": name,
        "comment": comment,
        "keys": keys.iter().map(StoredKey::to_clarion).collect::<Vec<_>>(),
    })
}

/// Parses and checks an authn reply body.
pub fn parse_authn(body: &[u8]) -> Result<Authn, WireError> {
    #[derive(Deserialize)]
    struct Envelope {
        authn: Raw,
    }
    #[derive(Deserialize)]
    struct Raw {
        id: String,
        status: String,
        created_at: String,
        expires_at: String,
        html_url: String,
        #[serde(default)]
        verified_at: Option<String>,
        #[serde(default)]
        verified_key: Option<VerifiedKey>,
    }
    let raw = serde_json::from_slice::<Envelope>(body)
        .map_err(|e| WireError::Shape(e.to_string()))?
        .authn;
    let field = |field, why: &str| WireError::Field {
        field,
        why: why.into(),
    };
    if !super::is_token(&raw.id, MAX_ID_LEN) {
        return Err(field("id", "not a base64url token"));
    }
    let status = match raw.status.as_str() {
        "open" => Status::Open,
        "verified" => Status::Verified,
        "cancelled" => Status::Cancelled,
        "expired" => Status::Expired,
        other => return Err(WireError::UnknownStatus(other.chars().take(32).collect())),
    };
    let time = |name, s: &str| rfc3339::parse(s).map_err(|e| field(name, &e.to_string()));
    let created_at = time("created_at", &raw.created_at)?;
    let expires_at = time("expires_at", &raw.expires_at)?;
    if expires_at <= created_at {
        return Err(field("expires_at", "not after created_at"));
    }
    let verified_at = raw
        .verified_at
        .as_deref()
        .map(|s| time("verified_at", s))
        .transpose()?;
    check_page_url(&raw.html_url).map_err(|why| field("html_url", why))?;
    Ok(Authn {
        id: raw.id,
        status,
        created_at,
        expires_at,
        expires_at_text: raw.expires_at,
        html_url: raw.html_url,
        verified_at,
        verified_key: raw.verified_key,
    })
}

/// The extension opens this URL for the user: only plain http(s) URLs pass.
fn check_page_url(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_URL_LEN {
        return Err("too long");
    }
    let u = url::Url::parse(s).map_err(|_| "not a URL")?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err("not an http(s) URL");
    }
    Ok(())
}

/// A freshly created authn must be `open` with nothing verified: an approval can only come
/// from a later poll, after the user had the page. A server (or anyone on the path) answering
/// the create with `verified` is refused, whatever it claims.
pub fn check_created(authn: &Authn) -> Result<(), &'static str> {
    if authn.status != Status::Open || authn.verified_key.is_some() || authn.verified_at.is_some() {
        return Err(
            "a new approval request must be open, but the server answered it as already decided",
        );
    }
    Ok(())
}

/// WebAuthn signature counters only grow. Once we stored a counter for the key, the reply must
/// carry one and it must be larger; the one exception is an authenticator that always reports 0
/// (stored 0, reported 0). Without a stored counter anything goes (and is stored).
pub fn check_counter(stored: Option<u64>, reported: Option<u64>) -> Result<(), &'static str> {
    match (stored, reported) {
        (None, _) | (Some(0), Some(_)) => Ok(()),
        (Some(_), None) => {
            Err("the server reported a verification without the key's signature counter")
        }
        (Some(old), Some(new)) if new > old => Ok(()),
        (Some(_), Some(_)) => Err(
            "the key's signature counter did not grow: the key may have been cloned, or the reply replayed",
        ),
    }
}

/// What a polled authn means for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still `open`: poll again.
    Pending,
    /// Verified in time by one of our keys; `counter` is its new signature counter.
    Verified {
        handle: String,
        counter: Option<u64>,
    },
    Cancelled,
    /// Expired; `late` when a key was verified only after the deadline (spec A.5 caveat).
    Expired {
        late: bool,
    },
    /// Verified, but not acceptably: the reason, for the user.
    Denied(&'static str),
}

/// Judges a polled authn against our keys. Only a `verified` status with a verification time
/// before the expiry, by a key of ours whose counter did not go back, is a success.
pub fn judge(authn: &Authn, keys: &[StoredKey]) -> Outcome {
    match authn.status {
        Status::Open => Outcome::Pending,
        Status::Cancelled => Outcome::Cancelled,
        Status::Expired => Outcome::Expired {
            late: authn.verified_key.is_some(),
        },
        Status::Verified => {
            let Some(vk) = &authn.verified_key else {
                return Outcome::Denied("the server reported a verification without a key");
            };
            let Some(ours) = keys.iter().find(|k| k.handle == vk.handle) else {
                return Outcome::Denied(
                    "the approval was given with a key that is not registered here",
                );
            };
            match authn.verified_at {
                Some(t) if t <= authn.expires_at => {}
                Some(_) => return Outcome::Expired { late: true },
                None => {
                    return Outcome::Denied("the server reported a verification without a time");
                }
            }
            if let Err(why) = check_counter(ours.counter, vk.counter) {
                return Outcome::Denied(why);
            }
            Outcome::Verified {
                handle: vk.handle.clone(),
                counter: vk.counter,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(handle: &str, counter: Option<u64>) -> StoredKey {
        StoredKey {
            kind: "webauthn".into(),
            handle: handle.into(),
            name: Some("yk".into()),
            counter,
            public_key: "AQID".into(),
            registered_at: 0,
        }
    }

    fn reply(status: &str, extra: Value) -> Vec<u8> {
        let mut a = json!({
            "id": "a".repeat(86), "status": status, "name": "passbridge", "comment": null,
            "created_at": "2026-11-22T16:00:00+09:00", "expires_at": "2026-11-22T16:05:00+09:00",
            "url": "http://c/api/authn/x", "html_url": "http://c/authn/x"
        });
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        serde_json::to_vec(&json!({ "authn": a })).unwrap()
    }

    #[test]
    fn request_shape_matches_spec() {
        let body = authn_request("passbridge", Some("unlock"), &[key("aGk", Some(4))]);
        assert_eq!(
            body,
            json!({"name": "passbridge", "comment": "unlock", "keys": [
                {"type": "webauthn", "handle": "aGk", "name": "yk", "public_key": "AQID", "counter": 4}
            ]})
        );
        assert_eq!(authn_request("n", None, &[])["keys"], json!([]));
    }

    #[test]
    fn parses_a_spec_reply() {
        let a = parse_authn(&reply("open", json!({}))).unwrap();
        assert_eq!(a.status, Status::Open);
        assert_eq!(a.expires_at - a.created_at, 300);
        assert_eq!(a.html_url, "http://c/authn/x");
        assert_eq!(judge(&a, &[key("aGk", None)]), Outcome::Pending);
    }

    fn verified(handle: &str, counter: u64, at: &str) -> Authn {
        parse_authn(&reply(
            "verified",
            json!({"verified_at": at, "verified_key": {"type": "webauthn", "handle": handle, "name": "yk", "counter": counter}}),
        ))
        .unwrap()
    }

    #[test]
    fn judging() {
        let keys = [key("aGk", Some(4)), key("zero", Some(0))];
        let at = "2026-11-22T07:01:00Z";
        assert_eq!(
            judge(&verified("aGk", 5, at), &keys),
            Outcome::Verified {
                handle: "aGk".into(),
                counter: Some(5)
            }
        );
        assert!(matches!(
            judge(&verified("other", 5, at), &keys),
            Outcome::Denied(_)
        ));
        assert!(matches!(
            judge(&verified("aGk", 4, at), &keys),
            Outcome::Denied(_)
        ));
        assert!(matches!(
            judge(&verified("zero", 0, at), &keys),
            Outcome::Verified { .. }
        ));
        assert_eq!(
            judge(&verified("aGk", 5, "2026-11-22T07:05:01Z"), &keys),
            Outcome::Expired { late: true }
        );
        let cancelled = parse_authn(&reply("cancelled", json!({}))).unwrap();
        assert_eq!(judge(&cancelled, &keys), Outcome::Cancelled);
        // The expiry override keeps verified_key on an expired authn (spec A.5): still a failure.
        let late = parse_authn(&reply(
            "expired",
            json!({"verified_at": at, "verified_key": {"type": "webauthn", "handle": "aGk", "counter": 5}}),
        ))
        .unwrap();
        assert_eq!(judge(&late, &keys), Outcome::Expired { late: true });
        let plain_expired = parse_authn(&reply("expired", json!({}))).unwrap();
        assert_eq!(
            judge(&plain_expired, &keys),
            Outcome::Expired { late: false }
        );
        let no_key = parse_authn(&reply("verified", json!({"verified_at": at}))).unwrap();
        assert!(matches!(judge(&no_key, &keys), Outcome::Denied(_)));
    }

    #[test]
    fn counters_must_grow_once_stored() {
        assert_eq!(check_counter(None, None), Ok(()));
        assert_eq!(check_counter(None, Some(3)), Ok(()));
        assert_eq!(check_counter(Some(4), Some(5)), Ok(()));
        assert_eq!(
            check_counter(Some(0), Some(0)),
            Ok(()),
            "always-0 authenticators"
        );
        assert_eq!(check_counter(Some(0), Some(7)), Ok(()));
        assert!(check_counter(Some(4), None).is_err(), "a missing counter");
        assert!(check_counter(Some(0), None).is_err(), "a missing counter");
        assert!(check_counter(Some(4), Some(4)).is_err());
        assert!(check_counter(Some(4), Some(3)).is_err());
        // Through judge: a verified reply without a counter, for a key with a stored one.
        let keys = [key("aGk", Some(4)), key("new", None)];
        let no_counter = |h: &str| {
            parse_authn(&reply(
                "verified",
                json!({"verified_at": "2026-11-22T07:01:00Z", "verified_key": {"type": "webauthn", "handle": h}}),
            ))
            .unwrap()
        };
        assert!(matches!(
            judge(&no_counter("aGk"), &keys),
            Outcome::Denied(_)
        ));
        assert_eq!(
            judge(&no_counter("new"), &keys),
            Outcome::Verified {
                handle: "new".into(),
                counter: None
            }
        );
    }

    #[test]
    fn a_created_authn_must_be_open() {
        assert_eq!(
            check_created(&parse_authn(&reply("open", json!({}))).unwrap()),
            Ok(())
        );
        // The forged reply of issue 16: verified at once, echoing our handle, no counter.
        let forged = parse_authn(&reply(
            "verified",
            json!({"verified_at": "2026-11-22T07:00:00Z", "verified_key": {"type": "webauthn", "handle": "aGk"}}),
        ))
        .unwrap();
        assert!(check_created(&forged).is_err());
        for status in ["cancelled", "expired"] {
            assert!(check_created(&parse_authn(&reply(status, json!({}))).unwrap()).is_err());
        }
        let open_but_verified = parse_authn(&reply(
            "open",
            json!({"verified_at": "2026-11-22T07:00:00Z", "verified_key": {"type": "webauthn", "handle": "aGk", "counter": 9}}),
        ))
        .unwrap();
        assert!(check_created(&open_but_verified).is_err());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for (body, what) in [
            (b"<html>".to_vec(), "Shape"),
            (br#"{"error":"authn not found"}"#.to_vec(), "Shape"),
            (reply("weird", json!({})), "UnknownStatus"),
            (reply("open", json!({"id": "../x"})), "id"),
            (reply("open", json!({"id": ""})), "id"),
            (
                reply("open", json!({"expires_at": "tomorrow"})),
                "expires_at",
            ),
            (
                reply("open", json!({"expires_at": "2026-11-22T07:00:00Z"})),
                "expires_at",
            ),
            (
                reply("open", json!({"html_url": "javascript:alert(1)"})),
                "html_url",
            ),
            (reply("open", json!({"html_url": 5})), "Shape"),
            (
                reply("verified", json!({"verified_at": "x"})),
                "verified_at",
            ),
        ] {
            let e = parse_authn(&body).unwrap_err();
            let ok = match (&e, what) {
                (WireError::Shape(_), "Shape") => true,
                (WireError::UnknownStatus(_), "UnknownStatus") => true,
                (WireError::Field { field, .. }, f) => *field == f,
                _ => false,
            };
            assert!(ok, "{what}: got {e:?}");
        }
    }

    /// A key that counted before and now reports 0 is a clone (or a reset key): never verified.
    /// Only a key that has always reported 0 may keep reporting 0.
    #[test]
    fn a_counter_that_drops_to_zero_is_denied() {
        let keys = [key("aGk", Some(4)), key("zero", Some(0)), key("new", None)];
        let at = "2026-11-22T07:01:00Z";
        assert_eq!(
            judge(&verified("aGk", 0, at), &keys),
            Outcome::Denied(
                "the key's signature counter did not grow: the key may have been cloned, or the reply replayed"
            )
        );
        assert!(matches!(
            judge(&verified("aGk", 3, at), &keys),
            Outcome::Denied(_)
        ));
        // From 0 the counter may start counting.
        assert_eq!(
            judge(&verified("zero", 1, at), &keys),
            Outcome::Verified {
                handle: "zero".into(),
                counter: Some(1)
            }
        );
        // No stored counter yet: nothing to compare with.
        assert_eq!(
            judge(&verified("new", 0, at), &keys),
            Outcome::Verified {
                handle: "new".into(),
                counter: Some(0)
            }
        );
        // Verified exactly at the expiry is still in time.
        assert!(matches!(
            judge(&verified("aGk", 5, "2026-11-22T07:05:00Z"), &keys),
            Outcome::Verified { .. }
        ));
    }

    #[test]
    fn page_url_must_be_http_with_a_host_and_not_too_long() {
        let why = |url: &str| match parse_authn(&reply("open", json!({ "html_url": url }))) {
            Ok(_) => None,
            Err(WireError::Field {
                field: "html_url",
                why,
            }) => Some(why),
            Err(e) => panic!("{url}: {e:?}"),
        };
        for bad in [
            "ftp://c/authn/x",
            "file://c/etc/passwd",
            "file:///etc/passwd",
            "data:text/html,<script>",
            "javascript:alert(1)",
        ] {
            assert_eq!(why(bad).as_deref(), Some("not an http(s) URL"), "{bad}");
        }
        assert_eq!(why("not a url").as_deref(), Some("not a URL"));
        assert_eq!(why("https://c/authn/x"), None);
        // The length limit: exactly MAX_URL_LEN passes, one more byte does not.
        let base = "http://c/authn/";
        let at_limit = format!("{base}{}", "a".repeat(MAX_URL_LEN - base.len()));
        assert_eq!(at_limit.len(), MAX_URL_LEN);
        assert_eq!(why(&at_limit), None);
        assert_eq!(why(&format!("{at_limit}a")).as_deref(), Some("too long"));
    }
}
