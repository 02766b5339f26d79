//! The host-facing glue: the `passweaver.*` actions over the typed operations of [`super::ops`]:
//! a params struct per action (a wrong type is an `invalid_params` error naming the field),
//! Serialize replies, [`PwError`] for what goes wrong. The only file of this backend that knows
//! the host.

use super::data;
use super::error::PwError;
use super::ops::{
    self, Folders, Hit, ItemView, Login, OtsCreated, OtsRead, PassWeaver, Scope, Session,
    SetupDone, Status,
};
use super::session::State;
use crate::api::params::{self, DEFAULT_PAGE_LIMIT, NoParams, Page};
use crate::api::{Action, ApiError, Backend, Ctx, ErrorCode, Registry};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The backend in the composition (`src/backends.rs`).
pub struct Passweaver;

/// Its name in `hello`, `status` and the credential `source` tag.
pub const NAME: &str = "passweaver";

impl Backend for Passweaver {
    fn name(&self) -> &'static str {
        NAME
    }
    /// The account lives in its own 0600 file (`passweaver.json`), not in `config.json`.
    fn start(&self, reg: &mut Registry) -> Result<(), String> {
        let agent = crate::agent::link(reg);
        let data_dir = reg.paths().data_dir.clone();
        reg.insert(State::new().share_unlocks_with(agent, data_dir));
        crate::credentials::register_provider(reg, std::sync::Arc::new(super::provider::Provider));
        Ok(())
    }
    fn actions(&self) -> Vec<Action> {
        actions()
    }
    fn summary(&self, ctx: &Ctx) -> Value {
        summary(ctx)
    }
    fn codes(&self) -> &'static [ErrorCode] {
        super::CODE_DOCS
    }
}

/// The backend bound to this request's files and session.
pub fn pw(ctx: &Ctx) -> PassWeaver<'_> {
    PassWeaver::new(&ctx.state.paths, ctx.state.expect::<State>())
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("results serialize")
}

/// While the account talks plain http to another machine every reply carries a `warning`.
fn finish(ctx: &Ctx, r: Result<Value, ApiError>) -> Result<Value, ApiError> {
    let mut v = r?;
    if let Value::Object(m) = &mut v
        && pw(ctx).insecure()
    {
        m.insert("warning".into(), ops::INSECURE_WARNING.into());
    }
    Ok(v)
}

macro_rules! action {
    ($name:literal, $f:ident, $summary:literal) => {
        Action {
            name: $name,
            handler: |ctx, p| finish(ctx, params::run_typed(ctx, p, $f)),
            summary: $summary,
        }
    };
}

pub fn actions() -> Vec<Action> {
    vec![
        action!(
            "passweaver.setup",
            setup,
            "Set up the PassWeaver account (server, and user name or API key)."
        ),
        action!(
            "passweaver.remove",
            remove,
            "Forget the PassWeaver account and session."
        ),
        action!(
            "passweaver.status",
            status,
            "The PassWeaver account, server version and session."
        ),
        action!(
            "passweaver.login",
            login,
            "Log in to PassWeaver (password, or the stored API key)."
        ),
        action!(
            "passweaver.logout",
            logout,
            "End the PassWeaver session in this process."
        ),
        action!(
            "passweaver.search",
            search,
            "Search PassWeaver items by text or by a web page's address."
        ),
        action!(
            "passweaver.get",
            get,
            "One PassWeaver item with its decrypted data and one-time code."
        ),
        action!(
            "passweaver.folders",
            folders,
            "The PassWeaver folder tree with permissions."
        ),
        action!("passweaver.create", create, "Create a PassWeaver item."),
        action!("passweaver.update", update, "Change a PassWeaver item."),
        action!("passweaver.delete", delete, "Delete a PassWeaver item."),
        action!(
            "passweaver.personal.unlock",
            personal_unlock,
            "Unlock the PassWeaver personal folder."
        ),
        action!(
            "passweaver.personal.set",
            personal_set,
            "Set the PassWeaver personal password (first time) and unlock."
        ),
        action!(
            "passweaver.ots.create",
            ots_create,
            "Create a PassWeaver one-time secret."
        ),
        action!(
            "passweaver.ots.read",
            ots_read,
            "Read (and so consume) a PassWeaver one-time secret."
        ),
    ]
}

/// The summary for the host's `status` action (no network call).
pub fn summary(ctx: &Ctx) -> Value {
    match pw(ctx).status(false) {
        Ok(s) => to_json(&s),
        Err(e) => json!({"configured": false, "error": ApiError::from(e).to_json()}),
    }
}

fn invalid(message: impl Into<String>) -> PwError {
    PwError::InvalidParams(message.into())
}

/// A param that must be there.
fn required<T>(v: Option<T>, key: &str) -> Result<T, PwError> {
    v.ok_or_else(|| invalid(format!("\"{key}\" is required.")))
}

/// A secret param that must be there and not be empty.
fn secret(v: Option<Zeroizing<String>>, key: &str) -> Result<Zeroizing<String>, PwError> {
    let s = required(v, key)?;
    if s.is_empty() {
        return Err(invalid(format!("\"{key}\" must not be empty.")));
    }
    Ok(s)
}

/// `passweaver.setup {server, username | api_key + secret, allow_insecure_http?, gui_url?}`.
#[derive(Default, Deserialize)]
pub struct SetupParams {
    pub server: Option<String>,
    pub username: Option<String>,
    pub api_key: Option<String>,
    #[serde(default, deserialize_with = "params::secret")]
    pub secret: Option<Zeroizing<String>>,
    /// Refused: a password is never stored.
    #[serde(default, deserialize_with = "params::secret")]
    pub password: Option<Zeroizing<String>>,
    pub allow_insecure_http: Option<bool>,
    pub gui_url: Option<String>,
}

pub fn setup(ctx: &Ctx, p: SetupParams) -> Result<SetupDone, PwError> {
    let server = required(p.server, "server")?;
    let login = match (p.username, p.api_key) {
        (Some(username), None) => Login::Password { username },
        (None, Some(k)) => Login::ApiKey {
            api_key: k.trim().to_owned(),
            secret: secret(p.secret, "secret")?,
        },
        _ => {
            return Err(invalid(
                "Give either \"username\", or \"api_key\" and \"secret\".",
            ));
        }
    };
    if p.password.is_some() {
        return Err(invalid(
            "A password is never stored: set up with \"username\", then passweaver.login with the password.",
        ));
    }
    let insecure = p.allow_insecure_http.unwrap_or(false);
    pw(ctx).setup(&server, login, insecure, p.gui_url.as_deref())
}

#[derive(Debug, Serialize)]
pub struct RemoveReply {
    pub removed: bool,
}

pub fn remove(ctx: &Ctx, _: NoParams) -> Result<RemoveReply, PwError> {
    Ok(RemoveReply {
        removed: pw(ctx).remove()?,
    })
}

pub fn status(ctx: &Ctx, _: NoParams) -> Result<Status, PwError> {
    pw(ctx).status(true)
}

/// `passweaver.login {password?}` (without one: the stored API key).
#[derive(Default, Deserialize)]
pub struct LoginParams {
    #[serde(default, deserialize_with = "params::secret")]
    pub password: Option<Zeroizing<String>>,
}

pub fn login(ctx: &Ctx, p: LoginParams) -> Result<Session, PwError> {
    pw(ctx).login(p.password.as_deref().map(|s| s.as_str()))
}

#[derive(Debug, Serialize)]
pub struct LogoutReply {
    pub logged_in: bool,
}

pub fn logout(ctx: &Ctx, _: NoParams) -> Result<LogoutReply, PwError> {
    pw(ctx).logout();
    Ok(LogoutReply { logged_in: false })
}

/// `passweaver.search {query | url, offset?, limit?}`.
#[derive(Default, Deserialize)]
pub struct SearchParams {
    pub query: Option<String>,
    pub url: Option<String>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

/// One page of hits.
#[derive(Debug, Serialize)]
pub struct SearchReply {
    pub items: Vec<Hit>,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub next_offset: Option<usize>,
}

pub fn search(ctx: &Ctx, p: SearchParams) -> Result<SearchReply, ApiError> {
    let page = Page::new(
        p.offset.unwrap_or(0) as usize,
        p.limit.unwrap_or(DEFAULT_PAGE_LIMIT as u64) as usize,
    )?;
    let hits = match (&p.query, &p.url) {
        (Some(q), None) => pw(ctx).search_text(q)?,
        (None, Some(u)) => pw(ctx).search_url(u)?,
        _ => return Err(invalid("Give either \"query\" or \"url\".").into()),
    };
    let (items, next) = page.apply(&hits);
    Ok(SearchReply {
        items,
        total: hits.len(),
        offset: page.offset,
        limit: page.limit,
        next_offset: next,
    })
}

/// `passweaver.get {id}`, `passweaver.delete {id}`.
#[derive(Default, Deserialize)]
pub struct IdParams {
    pub id: Option<String>,
}

pub fn get(ctx: &Ctx, p: IdParams) -> Result<ItemView, PwError> {
    pw(ctx).get(&required(p.id, "id")?)
}

pub fn folders(ctx: &Ctx, _: NoParams) -> Result<Folders, PwError> {
    pw(ctx).folders()
}

/// An item's `data` object {url, user, password, notes, otp?}; `null` is none.
fn data_param(v: Option<Value>) -> Result<Option<serde_json::Map<String, Value>>, PwError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => data::from_params(&v).map(Some).map_err(invalid),
    }
}

/// `passweaver.create {folder, title, data, metadata?}`.
#[derive(Default, Deserialize)]
pub struct CreateParams {
    pub folder: Option<String>,
    pub title: Option<String>,
    pub data: Option<Value>,
    pub metadata: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CreateReply {
    pub id: String,
}

pub fn create(ctx: &Ctx, p: CreateParams) -> Result<CreateReply, PwError> {
    let folder = required(p.folder, "folder")?;
    let title = required(p.title, "title")?;
    let data = required(data_param(p.data)?, "data")?;
    let id = pw(ctx).create(&folder, &title, &data, p.metadata.as_deref())?;
    Ok(CreateReply { id })
}

/// `passweaver.update {id, title?, data?, metadata?, folder?}`.
#[derive(Default, Deserialize)]
pub struct UpdateParams {
    pub id: Option<String>,
    pub title: Option<String>,
    pub data: Option<Value>,
    pub metadata: Option<String>,
    pub folder: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct UpdateReply {
    pub id: String,
    pub updated: bool,
}

pub fn update(ctx: &Ctx, p: UpdateParams) -> Result<UpdateReply, PwError> {
    let id = required(p.id, "id")?;
    let data = data_param(p.data)?;
    pw(ctx).update(
        &id,
        p.title.as_deref(),
        data.as_ref(),
        p.metadata.as_deref(),
        p.folder.as_deref(),
    )?;
    Ok(UpdateReply { id, updated: true })
}

#[derive(Debug, Serialize)]
pub struct DeleteReply {
    pub id: String,
    pub deleted: bool,
}

pub fn delete(ctx: &Ctx, p: IdParams) -> Result<DeleteReply, PwError> {
    let id = required(p.id, "id")?;
    pw(ctx).delete(&id)?;
    Ok(DeleteReply { id, deleted: true })
}

/// `passweaver.personal.unlock {password}`, `passweaver.personal.set {password}`.
#[derive(Default, Deserialize)]
pub struct PasswordParams {
    #[serde(default, deserialize_with = "params::secret")]
    pub password: Option<Zeroizing<String>>,
}

pub fn personal_unlock(ctx: &Ctx, p: PasswordParams) -> Result<Session, PwError> {
    pw(ctx).personal_unlock(&secret(p.password, "password")?)
}

pub fn personal_set(ctx: &Ctx, p: PasswordParams) -> Result<Session, PwError> {
    pw(ctx).personal_set(&secret(p.password, "password")?)
}

/// `passweaver.ots.create {data, hours?, scope?, user_id?}`; `data` is the secret.
#[derive(Default, Deserialize)]
pub struct OtsCreateParams {
    #[serde(default, deserialize_with = "params::secret")]
    pub data: Option<Zeroizing<String>>,
    pub hours: Option<u64>,
    pub scope: Option<String>,
    pub user_id: Option<String>,
}

pub fn ots_create(ctx: &Ctx, p: OtsCreateParams) -> Result<OtsCreated, PwError> {
    let secret = secret(p.data, "data")?;
    let hours = p.hours.unwrap_or(ops::DEFAULT_OTS_HOURS);
    let scope = match p.scope.as_deref() {
        None => Scope::Anyone,
        Some(s) => Scope::parse(s)
            .ok_or_else(|| invalid("\"scope\" must be \"anyone\", \"logged_in\" or \"user\"."))?,
    };
    pw(ctx).ots_create(&secret, hours, scope, p.user_id.as_deref())
}

/// `passweaver.ots.read {token}`.
#[derive(Default, Deserialize)]
pub struct TokenParams {
    pub token: Option<String>,
}

pub fn ots_read(ctx: &Ctx, p: TokenParams) -> Result<OtsRead, PwError> {
    pw(ctx).ots_read(&required(p.token, "token")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::assert_names_field;
    use serde_json::json;

    #[test]
    fn a_wrong_type_names_the_field() {
        assert_names_field::<SetupParams>(json!({"server": 1}), "server");
        assert_names_field::<SetupParams>(json!({"username": ["ann"]}), "username");
        assert_names_field::<SetupParams>(json!({"api_key": 5}), "api_key");
        assert_names_field::<SetupParams>(
            json!({"allow_insecure_http": "yes"}),
            "allow_insecure_http",
        );
        assert_names_field::<SetupParams>(json!({"gui_url": {}}), "gui_url");
        assert_names_field::<SearchParams>(json!({"query": 3}), "query");
        assert_names_field::<SearchParams>(json!({"limit": "x"}), "limit");
        assert_names_field::<SearchParams>(json!({"offset": -1}), "offset");
        assert_names_field::<IdParams>(json!({"id": 42}), "id");
        assert_names_field::<CreateParams>(json!({"folder": 1}), "folder");
        assert_names_field::<CreateParams>(json!({"metadata": false}), "metadata");
        assert_names_field::<UpdateParams>(json!({"title": []}), "title");
        assert_names_field::<OtsCreateParams>(json!({"hours": "two"}), "hours");
        assert_names_field::<OtsCreateParams>(json!({"scope": 1}), "scope");
        assert_names_field::<TokenParams>(json!({"token": true}), "token");
    }

    #[test]
    fn secrets_of_the_wrong_type_are_named_by_kind_only() {
        let msg = |e: Option<ApiError>| e.expect("rejected").message;
        let cases = [
            (
                "secret",
                msg(params::parse::<SetupParams>(&json!({"secret": 31337})).err()),
            ),
            (
                "password",
                msg(params::parse::<LoginParams>(&json!({"password": 31337})).err()),
            ),
            (
                "password",
                msg(params::parse::<PasswordParams>(&json!({"password": 31337})).err()),
            ),
            (
                "data",
                msg(params::parse::<OtsCreateParams>(&json!({"data": 31337})).err()),
            ),
        ];
        for (field, m) in cases {
            assert_eq!(
                m,
                format!("\"{field}\": invalid type: number, expected a string.")
            );
        }
    }

    #[test]
    fn missing_and_empty_secrets_keep_their_messages() {
        let e = |r: Result<Zeroizing<String>, PwError>| r.err().map(|e| e.to_string());
        assert_eq!(
            e(secret(None, "password")).as_deref(),
            Some("\"password\" is required.")
        );
        assert_eq!(
            e(secret(Some(Zeroizing::new(String::new())), "data")).as_deref(),
            Some("\"data\" must not be empty.")
        );
        assert_eq!(
            data_param(Some(json!({"url": 1}))).unwrap_err().to_string(),
            "\"data.url\" must be text."
        );
        assert_eq!(data_param(Some(Value::Null)).unwrap(), None);
    }
}
