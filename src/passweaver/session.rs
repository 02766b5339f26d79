//! The login session, in memory only: the JWT until it expires (PassWeaver has no refresh, and
//! every server restart invalidates all tokens). With a stored API key a rejected or expired
//! token is replaced by logging in again once; with a password the caller must log in again.

use super::client::Client;
use super::error::PwError;
use super::store::Account;
use super::token::{Token, now};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// This backend's state for the life of the process.
#[derive(Default)]
pub struct State {
    session: Mutex<Option<Session>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live session for this account, if any.
    pub fn info(&self, account: &Account) -> Option<SessionInfo> {
        let g = self.lock();
        let s = g.as_ref()?;
        (s.owner == owner(account) && s.token.valid_at(now())).then(|| SessionInfo {
            user_id: s.token.user_id.clone(),
            expires_at: s.token.expires_at,
            personal_unlocked: s.token.personal,
        })
    }

    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// Keeps `token` as the session of `account`.
    pub fn set(&self, account: &Account, token: Token) -> SessionInfo {
        let info = SessionInfo {
            user_id: token.user_id.clone(),
            expires_at: token.expires_at,
            personal_unlocked: token.personal,
        };
        *self.lock() = Some(Session {
            owner: owner(account),
            token,
        });
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
                self.clear();
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
