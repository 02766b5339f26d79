//! HTTP to Passman's API v2 (spec B.1, B.2, B.7) over [`crate::http`]: Basic auth with the app
//! password, `Accept: application/json` (an HTML Accept gets a 303 to the login page), no
//! redirects followed, timeouts, bounded replies. Statuses become [`PassmanError`]s here.

use super::error::PassmanError;
use super::store::Account;
use crate::http::{self, HttpError};
use base64::Engine;
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::time::Duration;
use url::Url;
use zeroize::Zeroizing;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A whole vault with its credentials; Passman's own UI loads the same in one reply.
pub const MAX_VAULT_BYTES: u64 = 32 << 20;
/// One credential or a vault list.
pub const MAX_REPLY_BYTES: u64 = 4 << 20;
const API: &str = "index.php/apps/passman/api/v2/";

/// Checks a Nextcloud address: http(s), a host, no credentials, query or fragment; a path
/// prefix (`/nextcloud`) is kept. Plain http needs `allow_http` unless the host is this machine.
pub fn server_url(s: &str, allow_http: bool) -> Result<Url, PassmanError> {
    let bad = || {
        PassmanError::invalid(format!(
            "{:?} is not a usable Nextcloud address: give https://host[/path] as in the browser.",
            s.chars().take(200).collect::<String>()
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
    if u.scheme() == "http" && !allow_http && !is_loopback(&u) {
        return Err(PassmanError::invalid(
            "Plain http:// would send the app password unencrypted. Use https://, or pass allow_http: true if you accept that risk.",
        ));
    }
    // People paste the address of Passman itself; keep only the Nextcloud part.
    let mut path = u.path().to_owned();
    for cut in ["/index.php/apps/passman", "/apps/passman", "/index.php"] {
        if let Some(i) = path.find(cut) {
            path.truncate(i);
        }
    }
    if !path.ends_with('/') {
        path.push('/');
    }
    u.set_path(&path);
    Ok(u)
}

pub fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
        }
        None => false,
    }
}

/// What a call is about, for the words of its errors.
#[derive(Clone, Copy)]
enum About<'a> {
    Vaults,
    Vault(&'a str),
    Credential(&'a str),
    NewCredential,
    Sharing,
}

pub struct Client {
    server: Url,
    api: Url,
    authorization: Zeroizing<String>,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(account: &Account) -> Result<Self, PassmanError> {
        let server = server_url(&account.server, account.allow_http)?;
        let api = server.join(API).expect("a relative path joins");
        let pair = Zeroizing::new(format!("{}:{}", account.login, &*account.app_password));
        let authorization = Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
        ));
        let agent = http::Options::new()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .agent();
        Ok(Self {
            server,
            api,
            authorization,
            agent,
        })
    }

    pub fn server(&self) -> &Url {
        &self.server
    }

    /// `GET /vaults`: the vaults that have at least one credential.
    pub fn vaults(&self) -> Result<Vec<Map<String, Value>>, PassmanError> {
        let v = self.call("GET", "vaults", None, About::Vaults, MAX_REPLY_BYTES)?;
        objects(v).ok_or_else(|| self.bad("the vault list is not a list of objects"))
    }

    /// `GET /vaults/{guid}`: the vault with all its credentials.
    pub fn vault(&self, guid: &str) -> Result<Map<String, Value>, PassmanError> {
        let v = self.call(
            "GET",
            &format!("vaults/{}", seg(guid)),
            None,
            About::Vault(guid),
            MAX_VAULT_BYTES,
        )?;
        match v {
            Value::Object(m) if m.get("credentials").is_none_or(Value::is_array) => Ok(m),
            _ => Err(self.bad("the vault is not an object with a credential list")),
        }
    }

    pub fn credential(&self, guid: &str) -> Result<Map<String, Value>, PassmanError> {
        let v = self.call(
            "GET",
            &format!("credentials/{}", seg(guid)),
            None,
            About::Credential(guid),
            MAX_REPLY_BYTES,
        )?;
        self.credential_object(v)
    }

    pub fn create(&self, body: &Map<String, Value>) -> Result<Map<String, Value>, PassmanError> {
        let v = self.call(
            "POST",
            "credentials",
            Some(body),
            About::NewCredential,
            MAX_REPLY_BYTES,
        )?;
        self.credential_object(v)
    }

    /// `PATCH /credentials/{guid}` with the whole credential (label included: spec B.7).
    pub fn update(
        &self,
        guid: &str,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>, PassmanError> {
        let v = self.call(
            "PATCH",
            &format!("credentials/{}", seg(guid)),
            Some(body),
            About::Credential(guid),
            MAX_REPLY_BYTES,
        )?;
        self.credential_object(v)
    }

    /// `GET /sharing/vault/{guid}/get`: ACL entries of credentials shared with us. With sharing
    /// disabled Nextcloud answers `[]` as text/html, which is an empty list too.
    pub fn shared(&self, vault_guid: &str) -> Result<Vec<Map<String, Value>>, PassmanError> {
        let v = self.call(
            "GET",
            &format!("sharing/vault/{}/get", seg(vault_guid)),
            None,
            About::Sharing,
            MAX_VAULT_BYTES,
        )?;
        objects(v).ok_or_else(|| self.bad("the shared credential list is not a list of objects"))
    }

    fn credential_object(&self, v: Value) -> Result<Map<String, Value>, PassmanError> {
        match v {
            Value::Object(m) if m.get("guid").is_some_and(Value::is_string) => Ok(m),
            _ => Err(self.bad("the credential is not an object with a guid")),
        }
    }

    fn bad(&self, why: &str) -> PassmanError {
        PassmanError::BadReply {
            server: self.server.to_string(),
            why: why.into(),
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Map<String, Value>>,
        about: About<'_>,
        cap: u64,
    ) -> Result<Value, PassmanError> {
        let url = self.api.join(path).map_err(|_| self.bad("bad path"))?;
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("Authorization", self.authorization.as_str())
            .header("Accept", "application/json")
            .header("OCS-APIRequest", "true");
        let res = match body {
            Some(b) => {
                let req = req
                    .header("Content-Type", "application/json;charset=UTF-8")
                    .body(serde_json::to_vec(b).expect("JSON serializes"))
                    .map_err(|_| self.bad("cannot build the request"))?;
                self.agent.run(req)
            }
            None => {
                let req = req
                    .body(())
                    .map_err(|_| self.bad("cannot build the request"))?;
                self.agent.run(req)
            }
        };
        let mut res = res.map_err(|e| self.http_error(e.into()))?;
        let status = res.status().as_u16();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        let content_type = header("content-type");
        let location: String = header("location").chars().take(200).collect();
        let bytes = http::read_limited(res.body_mut(), cap).map_err(|e| self.http_error(e))?;
        let json = content_type.contains("json");
        match status {
            200..=299 => {
                let parsed = serde_json::from_slice::<Value>(&bytes);
                match parsed {
                    Ok(v) if json => Ok(v),
                    // Sharing disabled: `[]` served as text/html.
                    Ok(Value::Array(a)) if a.is_empty() && matches!(about, About::Sharing) => {
                        Ok(Value::Array(a))
                    }
                    Ok(_) | Err(_) if !json => Err(self.bad(&format!(
                        "HTTP {status} with {} instead of JSON",
                        if content_type.is_empty() { "no content type" } else { "an HTML or text page" }
                    ))),
                    _ => Err(self.bad("the JSON is malformed")),
                }
            }
            401 => Err(PassmanError::AuthFailed {
                server: self.server.to_string(),
            }),
            404 => Err(PassmanError::NotFound(match about {
                About::Vault(g) => format!("Passman has no vault {g} for this account (see passman.vaults)."),
                About::Credential(g) => format!("Passman has no credential {g}."),
                _ => "Passman's API is not at this address (HTTP 404): check the server address and that the Passman app is enabled in Nextcloud.".into(),
            })),
            300..=399 => Err(PassmanError::Server(format!(
                "The server answered HTTP {status}, a redirect{}; passbridge does not follow redirects. Use the address the browser ends up at as the server.",
                if location.is_empty() { String::new() } else { format!(" to {location}") }
            ))),
            _ => {
                let kind = if json { "" } else { " (an error page)" };
                Err(PassmanError::Server(match about {
                    About::Credential(g) if status >= 500 => format!(
                        "Passman answered HTTP {status}{kind} for the credential {g}: it may no longer exist (Passman answers 500 for an unknown credential), or the server failed (see the Nextcloud log)."
                    ),
                    _ => format!(
                        "The Nextcloud server answered HTTP {status}{kind}. Try again later, or see the Nextcloud log."
                    ),
                }))
            }
        }
    }

    fn http_error(&self, e: HttpError) -> PassmanError {
        let server = self.server.to_string();
        match e {
            HttpError::TooLarge(n) => PassmanError::BadReply {
                server,
                why: format!("the reply is larger than {n} bytes"),
            },
            HttpError::Untrusted(_) => PassmanError::Untrusted {
                server,
                why: e.to_string(),
            },
            other => PassmanError::Unreachable {
                server,
                why: other.to_string(),
            },
        }
    }
}

/// A guid as one path segment (Passman's are upper-case hex with dashes; anything else is
/// escaped rather than trusted).
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn objects(v: Value) -> Option<Vec<Map<String, Value>>> {
    match v {
        Value::Array(a) => a
            .into_iter()
            .map(|x| match x {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect(),
        // PHP serialises an empty array that had keys as {}.
        Value::Object(m) if m.is_empty() => Some(Vec::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let ok = |s: &str, h: bool| server_url(s, h).map(|u| u.to_string());
        assert_eq!(
            ok("https://cloud.example", false).unwrap(),
            "https://cloud.example/"
        );
        assert_eq!(
            ok("https://cloud.example/nc/index.php/apps/passman/", false).unwrap(),
            "https://cloud.example/nc/"
        );
        assert_eq!(
            ok("http://127.0.0.1:8080", false).unwrap(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            ok("http://localhost/nc", false).unwrap(),
            "http://localhost/nc/"
        );
        assert!(
            server_url("http://cloud.lan", false)
                .unwrap_err()
                .to_string()
                .contains("allow_http")
        );
        assert_eq!(ok("http://cloud.lan", true).unwrap(), "http://cloud.lan/");
        for bad in [
            "",
            "cloud.example",
            "ftp://x/",
            "https://u:p@x/",
            "https://x/?a",
            "https://x/#f",
        ] {
            assert!(server_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn guids_stay_one_segment() {
        assert_eq!(seg("AB-12"), "AB-12");
        assert_eq!(seg("../x?y"), "..%2Fx%3Fy");
    }
}
