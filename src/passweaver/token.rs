//! The JWT the server hands out at login (HS512, no refresh). We never verify it (only the
//! server can); we read `sub` (the user id, for the folder tree) and `exp` to know when it ends.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use zeroize::Zeroizing;

/// Longest JWT accepted from the server.
const MAX_JWT_CHARS: usize = 16 * 1024;

pub struct Token {
    jwt: Zeroizing<String>,
    pub user_id: String,
    pub expires_at: u64,
    /// Issued by `/personal/unlock`: opens the personal folder.
    pub personal: bool,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("personal", &self.personal)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Reads the claims of a JWT the server sent. `None` when it is not a JWT with `sub` and `exp`.
    pub fn parse(jwt: &str, personal: bool) -> Option<Self> {
        if jwt.len() > MAX_JWT_CHARS || !jwt.is_ascii() {
            return None;
        }
        let mut parts = jwt.split('.');
        let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let claims: Value = serde_json::from_slice(&bytes).ok()?;
        let user_id = match claims.get("sub")? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let expires_at = claims.get("exp")?.as_u64()?;
        Some(Self {
            jwt: Zeroizing::new(jwt.to_owned()),
            user_id,
            expires_at,
            personal,
        })
    }

    pub fn bearer(&self) -> &str {
        &self.jwt
    }

    /// Still usable at `now` (seconds), with a margin so a call does not start on a dying token.
    pub fn valid_at(&self, now: u64) -> bool {
        now + 10 < self.expires_at
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn claims() {
        let t = Token::parse(
            &jwt(r#"{"sub":"01J8ZK","iss":"Passweaver API","admin":false,"iat":100,"exp":7300}"#),
            false,
        )
        .unwrap();
        assert_eq!(t.user_id, "01J8ZK");
        assert_eq!(t.expires_at, 7300);
        assert!(t.valid_at(7000));
        assert!(!t.valid_at(7295));
        assert!(!format!("{t:?}").contains("sig"));
        assert_eq!(
            Token::parse(&jwt(r#"{"sub":0,"exp":5}"#), true)
                .unwrap()
                .user_id,
            "0"
        );
    }

    #[test]
    fn not_jwts() {
        for bad in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            &jwt(r#"{"exp":5}"#),
            &jwt(r#"{"sub":"x"}"#),
            &jwt(r#"{"sub":"x","exp":-1}"#),
            "a.!!!.c",
        ] {
            assert!(Token::parse(bad, false).is_none(), "{bad}");
        }
    }
}
