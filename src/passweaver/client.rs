//! HTTP(S) to a PassWeaver API (`/api/v1`). Agents come from [`crate::http`]: timeouts, no
//! proxy, no redirects, certificates checked, bounded replies. Every reply goes through
//! [`envelope::interpret`]; endpoints add their own meaning (a 404 search is an empty list).

use super::crypto::ReadKey;
use super::data::{Content, SecretValue};
use super::envelope;
use super::error::{PwError, clean};
use super::token::Token;
use crate::http::{self, HttpError};
use serde_json::{Value, json};
use std::time::Duration;
use url::Url;
use zeroize::Zeroizing;

/// Largest reply read (a search answers at most 100 rows without data).
pub const MAX_REPLY_BYTES: u64 = 4 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// The server answers at most this many rows per search.
pub const SEARCH_LIMIT: usize = 100;

/// Whether a host is this machine (plain http is fine there).
pub fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks a server address and gives its canonical API root: `https` (or `http` on this
/// machine, or anywhere with `allow_insecure_http`), a host, no credentials, query or fragment.
/// A trailing `/api/v1` is dropped; a path prefix is kept.
pub fn server_url(s: &str, allow_insecure_http: bool) -> Result<Url, PwError> {
    let shown: String = s.chars().take(200).collect();
    let bad = || {
        PwError::InvalidParams(format!(
            "{shown:?} is not a usable PassWeaver server address: give https://host[:port]."
        ))
    };
    let mut u = Url::parse(s.trim()).map_err(|_| bad())?;
    if !matches!(u.scheme(), "https" | "http")
        || u.host_str().is_none_or(str::is_empty)
        || !u.username().is_empty()
        || u.password().is_some()
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(bad());
    }
    if u.scheme() == "http" && !is_loopback(&u) && !allow_insecure_http {
        return Err(PwError::InvalidParams(format!(
            "{shown:?} is plain http to another machine: passwords would cross the network \
             unencrypted. Use https, or set allow_insecure_http if you accept that."
        )));
    }
    let path = u.path().trim_end_matches('/');
    let path = path.strip_suffix("/api/v1").unwrap_or(path).to_owned();
    u.set_path(&format!("{path}/"));
    Ok(u)
}

/// An id that is safe inside a URL path (items: 26-char base32; folders: `0`, `P`, uuids).
pub fn check_id(what: &str, id: &str) -> Result<(), PwError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(PwError::InvalidParams(format!(
            "\"{what}\" must be a PassWeaver id (letters, digits, '-'; at most 64)."
        )));
    }
    Ok(())
}

enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

/// One row of a search (no data).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub title: String,
    pub metadata: String,
    pub folder_id: String,
    pub folder: String,
    pub personal: bool,
    pub favorite: bool,
    pub updated_at: String,
}

/// An item read with its decrypted data.
#[derive(Debug)]
pub struct Item {
    pub row: Row,
    pub content: Content,
}

pub struct Client {
    base: Url,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(base: Url) -> Self {
        let agent = http::Options::new()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .agent();
        Self { base, agent }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET /version` (no auth).
    pub fn version(&self) -> Result<String, PwError> {
        let data = self.call(Method::Get, "version", &[], None, None)?;
        data.get("version")
            .and_then(Value::as_str)
            .map(clean)
            .ok_or_else(|| PwError::BadReply("no version in the reply".into()))
    }

    /// `POST /login` with a user name and password.
    pub fn login_password(&self, username: &str, password: &str) -> Result<Token, PwError> {
        let body = json!({"username": username, "password": password});
        self.login(&body)
    }

    /// `POST /login` with an API key and its secret.
    pub fn login_api_key(&self, api_key: &str, secret: &str) -> Result<Token, PwError> {
        let body = json!({"apikey": api_key, "secret": secret});
        self.login(&body)
    }

    fn login(&self, body: &Value) -> Result<Token, PwError> {
        let data = match self.call(Method::Post, "login", &[], None, Some(body)) {
            // At login every 401 is a refusal, whatever its words.
            Err(PwError::TokenRejected(m)) => return Err(PwError::LoginFailed(m)),
            r => r?,
        };
        jwt_from(&data, false)
    }

    /// `GET /items?search=…&limit=100`; a 404 (nothing found) is an empty list.
    pub fn search(&self, jwt: &str, query: &str) -> Result<Vec<Row>, PwError> {
        let limit = SEARCH_LIMIT.to_string();
        let q = [("search", query), ("limit", limit.as_str())];
        let data = match self.call(Method::Get, "items", &q, Some(jwt), None) {
            Err(PwError::NotFound(_)) => return Ok(Vec::new()),
            r => r?,
        };
        let Value::Array(rows) = data else {
            return Err(PwError::BadReply("the search answer is not a list".into()));
        };
        rows.iter()
            .take(SEARCH_LIMIT)
            .map(row_from)
            .collect::<Result<_, _>>()
    }

    /// `GET /items/{id}?key=…` with a fresh key, and the data decrypted.
    pub fn get_item(&self, jwt: &str, id: &str) -> Result<Item, PwError> {
        check_id("id", id)?;
        let key = ReadKey::random().map_err(|e| PwError::Decrypt(e.to_string()))?;
        let k = key.query_value();
        let data = self
            .call(
                Method::Get,
                &format!("items/{id}"),
                &[("key", k.as_str())],
                Some(jwt),
                None,
            )
            .map_err(|e| not_found(e, "No item with this id (or it was deleted)."))?;
        let row = row_from(&data)?;
        let payload = data
            .get("data")
            .and_then(Value::as_str)
            .ok_or_else(|| PwError::BadReply("the item has no encrypted data".into()))?;
        let plain = if payload.is_empty() {
            Zeroizing::new(Vec::new())
        } else {
            key.decrypt(payload)
                .map_err(|e| PwError::Decrypt(e.to_string()))?
        };
        Ok(Item {
            row,
            content: Content::parse(&plain),
        })
    }

    /// `POST /folders/{folder}/items`: the new item's id.
    pub fn create_item(
        &self,
        jwt: &str,
        folder: &str,
        title: &str,
        data: &str,
        metadata: &str,
    ) -> Result<String, PwError> {
        check_id("folder", folder)?;
        let body = SecretValue(json!({"title": title, "data": data, "metadata": metadata}));
        let data = self
            .call(
                Method::Post,
                &format!("folders/{folder}/items"),
                &[],
                Some(jwt),
                Some(&body),
            )
            .map_err(|e| not_found(e, "No folder with this id."))?;
        id_from(&data)
    }

    /// `PATCH /items/{id}` with any of `title`, `data`, `metadata`, `folder`.
    pub fn update_item(&self, jwt: &str, id: &str, body: &Value) -> Result<(), PwError> {
        check_id("id", id)?;
        self.call(
            Method::Patch,
            &format!("items/{id}"),
            &[],
            Some(jwt),
            Some(body),
        )
        .map_err(|e| not_found(e, "No item with this id (or it was deleted)."))?;
        Ok(())
    }

    /// `DELETE /items/{id}`.
    pub fn delete_item(&self, jwt: &str, id: &str) -> Result<(), PwError> {
        check_id("id", id)?;
        self.call(Method::Delete, &format!("items/{id}"), &[], Some(jwt), None)
            .map_err(|e| not_found(e, "No item with this id (or it was already deleted)."))?;
        Ok(())
    }

    /// `GET /users/{id}/folders`: the user's visible tree, as the server sends it.
    pub fn user_folders(&self, jwt: &str, user_id: &str) -> Result<Value, PwError> {
        check_id("user", user_id)?;
        self.call(
            Method::Get,
            &format!("users/{user_id}/folders"),
            &[],
            Some(jwt),
            None,
        )
    }

    /// `POST /personal/unlock`: the JWT that opens the personal folder.
    pub fn personal_unlock(&self, jwt: &str, password: &str) -> Result<Token, PwError> {
        let body = SecretValue(json!({"password": password}));
        let data = self
            .call(Method::Post, "personal/unlock", &[], Some(jwt), Some(&body))
            .map_err(wrong_password)?;
        jwt_from(&data, true)
    }

    /// `POST /personal/password`: sets the personal password once. The JWT it returns is built
    /// with the old, null seed (a server bug, spec C.5): it is dropped, callers unlock instead.
    pub fn personal_set(&self, jwt: &str, password: &str) -> Result<(), PwError> {
        let body = SecretValue(json!({"password": password}));
        self.call(
            Method::Post,
            "personal/password",
            &[],
            Some(jwt),
            Some(&body),
        )
        .map_err(|e| match e {
            PwError::InvalidValue(_) => PwError::InvalidValue(
                "a personal password is already set: unlock with it instead".into(),
            ),
            e => e,
        })?;
        Ok(())
    }

    /// `POST /onetimetokens` for a secret text: the token.
    pub fn ots_create(
        &self,
        jwt: Option<&str>,
        data: &str,
        hours: u64,
        scope: u8,
        user_id: Option<&str>,
    ) -> Result<String, PwError> {
        let mut body = json!({"type": 0, "scope": scope, "hours": hours, "data": data});
        if let Some(u) = user_id {
            body["userid"] = Value::String(u.to_owned());
        }
        let body = SecretValue(body);
        let data = self.call(Method::Post, "onetimetokens", &[], jwt, Some(&body))?;
        let token = data
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| is_ots_token(t))
            .ok_or_else(|| PwError::BadReply("no one-time token in the reply".into()))?;
        Ok(token.to_owned())
    }

    /// `GET /onetimetokens/{token}?key=…`: consumes the token and decrypts what it holds.
    pub fn ots_read(&self, jwt: Option<&str>, token: &str) -> Result<OneTime, PwError> {
        if !is_ots_token(token) {
            return Err(PwError::InvalidParams(
                "\"token\" must be the 40 hexadecimal characters of a one-time secret.".into(),
            ));
        }
        let key = ReadKey::random().map_err(|e| PwError::Decrypt(e.to_string()))?;
        let k = key.query_value();
        let data = self
            .call(
                Method::Get,
                &format!("onetimetokens/{token}"),
                &[("key", k.as_str())],
                jwt,
                None,
            )
            .map_err(|e| {
                not_found(
                    e,
                    "No such one-time secret: it was already read, or it expired.",
                )
            })?;
        let field = |name: &str| -> Result<Option<Zeroizing<Vec<u8>>>, PwError> {
            match data.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => key
                    .decrypt(s)
                    .map(Some)
                    .map_err(|e| PwError::Decrypt(e.to_string())),
                Some(_) => Err(PwError::BadReply(format!("\"{name}\" is not text"))),
            }
        };
        match data.get("type").and_then(Value::as_u64) {
            Some(0) => {
                let s = field("secret")?.unwrap_or_default();
                Ok(OneTime::Secret(Zeroizing::new(
                    String::from_utf8_lossy(&s).into_owned(),
                )))
            }
            Some(1) => {
                let plain = field("item")?
                    .ok_or_else(|| PwError::BadReply("the shared item is missing".into()))?;
                let v: Value = serde_json::from_slice(&plain)
                    .map_err(|_| PwError::BadReply("the shared item is not JSON".into()))?;
                let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                Ok(OneTime::Item {
                    id: text("id"),
                    title: text("title"),
                    content: Content::parse(text("data").as_bytes()),
                })
            }
            _ => Err(PwError::BadReply(
                "the one-time secret has an unknown type".into(),
            )),
        }
    }

    /// One call: the envelope's data, or the error its status stands for.
    fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        jwt: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, PwError> {
        let mut url = self
            .base
            .join(&format!("api/v1/{path}"))
            .map_err(|_| PwError::InvalidParams("the request path is not valid".into()))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let auth = jwt.map(|j| Zeroizing::new(format!("Bearer {j}")));
        let body = body.map(|b| Zeroizing::new(serde_json::to_vec(b).expect("JSON serializes")));
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut r = $req.header("Accept", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a.as_str());
                }
                r
            }};
        }
        let res = match method {
            Method::Get => with_headers!(self.agent.get(url.as_str())).call(),
            Method::Delete => with_headers!(self.agent.delete(url.as_str())).call(),
            Method::Post | Method::Patch => {
                let req = match method {
                    Method::Post => self.agent.post(url.as_str()),
                    _ => self.agent.patch(url.as_str()),
                };
                let bytes: &[u8] = body.as_deref().map_or(b"{}", |b| &b[..]);
                with_headers!(req)
                    .header("Content-Type", "application/json")
                    .send(bytes)
            }
        };
        let reply = http::read_reply(res, MAX_REPLY_BYTES).map_err(|e| self.http_error(e))?;
        envelope::interpret(reply.status, &reply.body)
    }

    fn http_error(&self, e: HttpError) -> PwError {
        let server = self.base.to_string();
        match e {
            HttpError::TooLarge(n) => {
                PwError::BadReply(format!("the reply is larger than {n} bytes"))
            }
            HttpError::BadResponse(why) => PwError::BadReply(format!("not valid HTTP ({why})")),
            HttpError::Untrusted(_) => PwError::Untrusted {
                server,
                why: e.to_string(),
            },
            other => PwError::Unreachable {
                server,
                why: other.to_string(),
            },
        }
    }
}

/// What a one-time token held.
pub enum OneTime {
    Secret(Zeroizing<String>),
    Item {
        id: String,
        title: String,
        content: Content,
    },
}

pub fn is_ots_token(t: &str) -> bool {
    t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn not_found(e: PwError, what: &str) -> PwError {
    match e {
        PwError::NotFound(_) => PwError::NotFound(what.into()),
        e => e,
    }
}

fn wrong_password(e: PwError) -> PwError {
    match e {
        PwError::LoginFailed(_) => PwError::WrongPersonalPassword,
        e => e,
    }
}

fn jwt_from(data: &Value, personal: bool) -> Result<Token, PwError> {
    let jwt = data
        .get("jwt")
        .and_then(Value::as_str)
        .ok_or_else(|| PwError::BadReply("no JWT in the login reply".into()))?;
    Token::parse(jwt, personal)
        .ok_or_else(|| PwError::BadReply("the JWT in the reply is not readable".into()))
}

fn id_from(data: &Value) -> Result<String, PwError> {
    data.get("id")
        .and_then(Value::as_str)
        .filter(|id| check_id("id", id).is_ok())
        .map(str::to_owned)
        .ok_or_else(|| PwError::BadReply("no id in the reply".into()))
}

fn row_from(v: &Value) -> Result<Row, PwError> {
    let text = |k: &str| match v.get(k) {
        Some(Value::String(s)) => clean(s),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let id = text("id");
    if check_id("id", &id).is_err() {
        return Err(PwError::BadReply("an item without a valid id".into()));
    }
    Ok(Row {
        id,
        title: text("title"),
        metadata: text("metadata"),
        folder_id: text("folderid"),
        folder: v
            .get("folder")
            .and_then(|f| f.get("description"))
            .and_then(Value::as_str)
            .map(clean)
            .unwrap_or_default(),
        personal: v.get("personal").and_then(Value::as_bool).unwrap_or(false),
        favorite: v.get("favorite").and_then(Value::as_bool).unwrap_or(false),
        updated_at: text("updatedat"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let ok = |s: &str, insecure| server_url(s, insecure).unwrap().to_string();
        assert_eq!(ok("https://pw.example", false), "https://pw.example/");
        assert_eq!(
            ok("https://pw.example/api/v1/", false),
            "https://pw.example/"
        );
        assert_eq!(
            ok("https://pw.example/pw/api/v1", false),
            "https://pw.example/pw/"
        );
        assert_eq!(
            ok("http://127.0.0.1:15000", false),
            "http://127.0.0.1:15000/"
        );
        assert_eq!(
            ok("http://localhost:15000", false),
            "http://localhost:15000/"
        );
        assert_eq!(ok("http://[::1]:15000", false), "http://[::1]:15000/");
        assert_eq!(ok("http://pw.lan:15000", true), "http://pw.lan:15000/");
        let e = server_url("http://pw.lan:15000", false).unwrap_err();
        assert!(e.to_string().contains("allow_insecure_http"), "{e}");
        for bad in [
            "",
            "pw.lan",
            "ftp://pw.lan",
            "https://u:p@pw.lan",
            "https://pw.lan/?a",
            "https://pw.lan/#x",
        ] {
            assert!(server_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids() {
        assert!(check_id("id", "01J9ZQ4Y8C3M2V5T6W7X8Y9Z0A").is_ok());
        assert!(check_id("folder", "0").is_ok());
        assert!(check_id("folder", "P").is_ok());
        for bad in ["", "../x", "a/b", "a?b", "a b", &"x".repeat(65)] {
            assert!(check_id("id", bad).is_err(), "{bad}");
        }
        assert!(is_ots_token(&"a1".repeat(20)));
        assert!(!is_ots_token("a1"));
        assert!(!is_ots_token(&"zz".repeat(20)));
    }

    #[test]
    fn rows_tolerate_missing_fields_but_not_a_missing_id() {
        let r = row_from(
            &json!({"id": "A1", "title": "T", "folder": {"description": "Team"}, "personal": true}),
        )
        .unwrap();
        assert_eq!(
            (r.title.as_str(), r.folder.as_str(), r.personal),
            ("T", "Team", true)
        );
        assert_eq!(
            row_from(&json!({"title": "T"})).unwrap_err().code(),
            "passweaver_bad_reply"
        );
        assert_eq!(
            row_from(&json!("x")).unwrap_err().code(),
            "passweaver_bad_reply"
        );
    }
}
