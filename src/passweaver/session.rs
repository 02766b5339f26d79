//! The login session, in memory only: the JWT until it expires (PassWeaver has no refresh, and
//! every server restart invalidates all tokens). With a stored API key a rejected or expired
//! token is replaced by logging in again once; with a password the caller must log in again.
//!
//! With the passbridge agent ([`State::share_unlocks_with`]) a login is shared by every process
//! of the user: the token goes to the agent until it expires (its timeout is the token's `exp`,
//! never extended by use, since the server would refuse it after), a process without a session
//! asks the agent, and one with a session asks on each use whether the agent still holds it
//! (logout or `passbridge lock` anywhere ends it everywhere).

use super::client::Client;
use super::error::PwError;
use super::store::Account;
use super::token::{Token, now};
use crate::agent::AgentError;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

/// This backend's state for the life of the process.
#[derive(Default)]
pub struct State {
    session: Mutex<Option<Session>>,
    share: Option<Share>,
}

struct Share {
    agent: Arc<crate::agent::client::Client>,
    /// Part of every name in the agent: another home's logins are others.
    data_dir: PathBuf,
}

struct Session {
    /// Which account the token belongs to (`server` + who): another setup drops it.
    owner: String,
    token: Token,
}

fn owner(a: &Account) -> String {
    format!("{} {}", a.server, a.who())
}

/// What is known about the session without asking the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub user_id: String,
    pub expires_at: u64,
    pub personal_unlocked: bool,
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    /// Shares logins through `agent` (`None`: this process only), named by `data_dir`, the
    /// server and the user.
    pub fn share_unlocks_with(
        mut self,
        agent: Option<Arc<crate::agent::client::Client>>,
        data_dir: PathBuf,
    ) -> Self {
        self.share = agent.map(|agent| Share { agent, data_dir });
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn name(share: &Share, owner: &str) -> String {
        let dir = share.data_dir.as_os_str().as_encoded_bytes();
        crate::agent::item_name("passweaver", &[dir, owner.as_bytes()])
    }

    /// Hands the token to the agent until it expires.
    fn offer(&self, owner: &str, token: &Token) {
        let Some(sh) = &self.share else { return };
        let ttl = Duration::from_secs(token.expires_at.saturating_sub(now()));
        if ttl.is_zero() {
            return;
        }
        if let Err(e) = sh.agent.put(&Self::name(sh, owner), &encode(token), ttl) {
            log::warn!("passweaver: {e}; this process keeps its login to itself");
        }
    }

    /// Brings this process in line with the agent for `account`: a session the agent no longer
    /// holds ends here, one it holds and this process lacks is taken over.
    fn sync(&self, account: &Account) {
        let Some(sh) = &self.share else { return };
        let owner = owner(account);
        let name = Self::name(sh, &owner);
        let mut g = self.lock();
        if let Some(s) = g.as_ref().filter(|s| s.owner == owner) {
            match sh.agent.check(&name, false) {
                Ok(Some(_)) => {}
                Ok(None) => *g = None,
                Err(AgentError::NotRunning) => self.offer(&owner, &s.token),
                Err(e) => log::warn!("passweaver: {e}; keeping this process's login"),
            }
            return;
        }
        match sh.agent.get(&name, false) {
            Ok(Some(secret)) => match decode(&secret).filter(|t| t.valid_at(now())) {
                Some(token) => *g = Some(Session { owner, token }),
                None => {
                    let _ = sh.agent.forget(&name);
                }
            },
            Ok(None) => {}
            Err(e) => log::warn!("passweaver: {e}"),
        }
    }

    /// The live session for this account, if any.
    pub fn info(&self, account: &Account) -> Option<SessionInfo> {
        self.sync(account);
        let g = self.lock();
        let s = g.as_ref()?;
        (s.owner == owner(account) && s.token.valid_at(now())).then(|| SessionInfo {
            user_id: s.token.user_id.clone(),
            expires_at: s.token.expires_at,
            personal_unlocked: s.token.personal,
        })
    }

    /// Ends the session here and in the agent (so in every process).
    pub fn clear(&self) {
        let was = self.lock().take();
        if let (Some(sh), Some(s)) = (&self.share, was)
            && let Err(e) = sh.agent.forget(&Self::name(sh, &s.owner))
        {
            log::warn!("passweaver: {e}");
        }
    }

    /// The server refused this process's token: it ends here, and in the agent unless another
    /// process has meanwhile handed over a newer one.
    fn drop_rejected(&self) {
        let Some(was) = self.lock().take() else {
            return;
        };
        let Some(sh) = &self.share else { return };
        let name = Self::name(sh, &was.owner);
        if let Ok(Some(held)) = sh.agent.get(&name, false)
            && held[..] == encode(&was.token)[..]
        {
            let _ = sh.agent.forget(&name);
        }
    }

    /// Ends `account`'s session everywhere, whether or not this process had it.
    pub fn clear_account(&self, account: &Account) {
        self.clear();
        if let Some(sh) = &self.share
            && let Err(e) = sh.agent.forget(&Self::name(sh, &owner(account)))
        {
            log::warn!("passweaver: {e}");
        }
    }

    /// Keeps `token` as the session of `account`.
    pub fn set(&self, account: &Account, token: Token) -> SessionInfo {
        let info = SessionInfo {
            user_id: token.user_id.clone(),
            expires_at: token.expires_at,
            personal_unlocked: token.personal,
        };
        let owner = owner(account);
        self.offer(&owner, &token);
        *self.lock() = Some(Session { owner, token });
        info
    }

    /// The session's JWT if it is still valid, or (with an API key) a fresh one.
    pub fn jwt(&self, account: &Account, client: &Client) -> Result<Zeroizing<String>, PwError> {
        if let Some(j) = self.current(account) {
            return Ok(j);
        }
        self.relogin(account, client, None)
    }

    /// The session's JWT if it is still valid, without logging in.
    pub fn current(&self, account: &Account) -> Option<Zeroizing<String>> {
        self.sync(account);
        let g = self.lock();
        let s = g.as_ref()?;
        (s.owner == owner(account) && s.token.valid_at(now()))
            .then(|| Zeroizing::new(s.token.bearer().to_owned()))
    }

    fn relogin(
        &self,
        account: &Account,
        client: &Client,
        why: Option<&str>,
    ) -> Result<Zeroizing<String>, PwError> {
        match (&account.api_key, &account.secret) {
            (Some(k), Some(s)) => {
                let token = client.login_api_key(k, &s.0)?;
                log::info!("passweaver: logged in again with the stored API key");
                let jwt = Zeroizing::new(token.bearer().to_owned());
                self.set(account, token);
                Ok(jwt)
            }
            _ => {
                let was = why.map(|w| format!(" ({w})")).unwrap_or_default();
                Err(PwError::LoginRequired(format!(
                    "Log in to PassWeaver as {} first: passweaver.login with the password. The \
                     session has ended or never started{was}.",
                    account.who()
                )))
            }
        }
    }

    /// Runs `f` with a JWT. When the server rejects the token (expired, or signed before a
    /// restart) the session is dropped and, with an API key, `f` runs once more after a new login.
    pub fn authed<T>(
        &self,
        account: &Account,
        client: &Client,
        f: impl Fn(&str) -> Result<T, PwError>,
    ) -> Result<T, PwError> {
        let jwt = self.jwt(account, client)?;
        match f(&jwt) {
            Err(PwError::TokenRejected(why)) => {
                self.drop_rejected();
                let jwt = self.relogin(account, client, Some(&why))?;
                f(&jwt).map_err(|e| match e {
                    PwError::TokenRejected(why) => PwError::LoginRequired(format!(
                        "PassWeaver rejected a fresh login's token ({why}); check the server's clock and logs."
                    )),
                    e => e,
                })
            }
            r => r,
        }
    }
}

/// What the agent holds for a login: the personal-folder flag, then the JWT.
fn encode(t: &Token) -> Zeroizing<Vec<u8>> {
    let jwt = t.bearer().as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(1 + jwt.len()));
    out.push(u8::from(t.personal));
    out.extend_from_slice(jwt);
    out
}

fn decode(b: &[u8]) -> Option<Token> {
    let (flag, jwt) = b.split_first()?;
    let personal = match flag {
        0 => false,
        1 => true,
        _ => return None,
    };
    Token::parse(std::str::from_utf8(jwt).ok()?, personal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn the_agents_copy_round_trips_and_rejects_garbage() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let jwt = format!("{}.{}.sig", b64("{}"), b64(r#"{"sub":"u1","exp":99}"#));
        let t = Token::parse(&jwt, true).unwrap();
        let b = encode(&t);
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..], jwt.as_bytes());
        let back = decode(&b).unwrap();
        assert_eq!(
            (
                back.bearer(),
                back.personal,
                back.user_id.as_str(),
                back.expires_at
            ),
            (jwt.as_str(), true, "u1", 99)
        );
        assert!(decode(b"").is_none());
        assert!(decode(&[2, b'a']).is_none());
        assert!(decode(b"\0not.a.jwt").is_none());
    }
}
