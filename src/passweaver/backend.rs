//! The host-facing glue: the `passweaver.*` actions, JSON params in and JSON results out, over
//! the typed operations of [`super::ops`]. The only file of this backend that knows the host.

use super::data;
use super::error::PwError;
use super::ops::{self, Login, PassWeaver, Scope};
use super::session::State;
use crate::api::params::{self, Page};
use crate::api::{Action, ApiError, Backend, Ctx, ErrorCode, Registry};
use serde::Serialize;
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

/// Wraps a handler: errors become API errors; while the account talks plain http to another
/// machine every reply carries a `warning`.
fn finish(ctx: &Ctx, r: Result<Value, PwError>) -> Result<Value, ApiError> {
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
            handler: |ctx, p| {
                let r = $f(ctx, p);
                match r {
                    Ok(v) => finish(ctx, Ok(v)),
                    Err(Failure::Api(e)) => Err(e),
                    Err(Failure::Pw(e)) => finish(ctx, Err(e)),
                }
            },
            summary: $summary,
        }
    };
}

/// A handler's failure: bad params (host error) or a backend error.
enum Failure {
    Api(ApiError),
    Pw(PwError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<PwError> for Failure {
    fn from(e: PwError) -> Self {
        Failure::Pw(e)
    }
}

type R = Result<Value, Failure>;

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

fn secret_param(p: &Value, key: &str) -> Result<Zeroizing<String>, ApiError> {
    let s = params::req_str(p, key)?;
    if s.is_empty() {
        return Err(ApiError::invalid_params(format!(
            "\"{key}\" must not be empty."
        )));
    }
    Ok(Zeroizing::new(s.to_owned()))
}

fn setup(ctx: &Ctx, p: &Value) -> R {
    let server = params::req_str(p, "server")?;
    let login = match (
        params::opt_str(p, "username")?,
        params::opt_str(p, "api_key")?,
    ) {
        (Some(u), None) => Login::Password {
            username: u.to_owned(),
        },
        (None, Some(k)) => Login::ApiKey {
            api_key: k.trim().to_owned(),
            secret: secret_param(p, "secret")?,
        },
        _ => {
            return Err(ApiError::invalid_params(
                "Give either \"username\", or \"api_key\" and \"secret\".",
            )
            .into());
        }
    };
    if params::opt_str(p, "password")?.is_some() {
        return Err(ApiError::invalid_params(
            "A password is never stored: set up with \"username\", then passweaver.login with the password.",
        )
        .into());
    }
    let insecure = params::opt_bool(p, "allow_insecure_http")?.unwrap_or(false);
    let gui = params::opt_str(p, "gui_url")?;
    Ok(to_json(&pw(ctx).setup(server, login, insecure, gui)?))
}

fn remove(ctx: &Ctx, _p: &Value) -> R {
    Ok(json!({"removed": pw(ctx).remove()?}))
}

fn status(ctx: &Ctx, _p: &Value) -> R {
    Ok(to_json(&pw(ctx).status(true)?))
}

fn login(ctx: &Ctx, p: &Value) -> R {
    let password = params::opt_str(p, "password")?.map(|s| Zeroizing::new(s.to_owned()));
    Ok(to_json(
        &pw(ctx).login(password.as_deref().map(|s| s.as_str()))?,
    ))
}

fn logout(ctx: &Ctx, _p: &Value) -> R {
    pw(ctx).logout();
    Ok(json!({"logged_in": false}))
}

fn search(ctx: &Ctx, p: &Value) -> R {
    let page = Page::from_params(p)?;
    let hits = match (params::opt_str(p, "query")?, params::opt_str(p, "url")?) {
        (Some(q), None) => pw(ctx).search_text(q)?,
        (None, Some(u)) => pw(ctx).search_url(u)?,
        _ => {
            return Err(ApiError::invalid_params("Give either \"query\" or \"url\".").into());
        }
    };
    let total = hits.len();
    let (items, next) = page.apply(&hits);
    Ok(json!({
        "items": to_json(&items),
        "total": total,
        "offset": page.offset,
        "limit": page.limit,
        "next_offset": next,
    }))
}

fn get(ctx: &Ctx, p: &Value) -> R {
    let id = params::req_str(p, "id")?;
    Ok(to_json(&pw(ctx).get(id)?))
}

fn folders(ctx: &Ctx, _p: &Value) -> R {
    Ok(to_json(&pw(ctx).folders()?))
}

fn data_param(p: &Value) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    match p.get("data") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => data::from_params(v)
            .map(Some)
            .map_err(ApiError::invalid_params),
    }
}

fn create(ctx: &Ctx, p: &Value) -> R {
    let folder = params::req_str(p, "folder")?;
    let title = params::req_str(p, "title")?;
    let data = data_param(p)?.ok_or_else(|| ApiError::invalid_params("\"data\" is required."))?;
    let metadata = params::opt_str(p, "metadata")?;
    let id = pw(ctx).create(folder, title, &data, metadata)?;
    Ok(json!({"id": id}))
}

fn update(ctx: &Ctx, p: &Value) -> R {
    let id = params::req_str(p, "id")?;
    let data = data_param(p)?;
    pw(ctx).update(
        id,
        params::opt_str(p, "title")?,
        data.as_ref(),
        params::opt_str(p, "metadata")?,
        params::opt_str(p, "folder")?,
    )?;
    Ok(json!({"id": id, "updated": true}))
}

fn delete(ctx: &Ctx, p: &Value) -> R {
    let id = params::req_str(p, "id")?;
    pw(ctx).delete(id)?;
    Ok(json!({"id": id, "deleted": true}))
}

fn personal_unlock(ctx: &Ctx, p: &Value) -> R {
    let password = secret_param(p, "password")?;
    Ok(to_json(&pw(ctx).personal_unlock(&password)?))
}

fn personal_set(ctx: &Ctx, p: &Value) -> R {
    let password = secret_param(p, "password")?;
    Ok(to_json(&pw(ctx).personal_set(&password)?))
}

fn ots_create(ctx: &Ctx, p: &Value) -> R {
    let secret = secret_param(p, "data")?;
    let hours = params::opt_u64(p, "hours")?.unwrap_or(ops::DEFAULT_OTS_HOURS);
    let scope = match params::opt_str(p, "scope")? {
        None => Scope::Anyone,
        Some(s) => Scope::parse(s).ok_or_else(|| {
            ApiError::invalid_params("\"scope\" must be \"anyone\", \"logged_in\" or \"user\".")
        })?,
    };
    let user = params::opt_str(p, "user_id")?;
    Ok(to_json(&pw(ctx).ots_create(&secret, hours, scope, user)?))
}

fn ots_read(ctx: &Ctx, p: &Value) -> R {
    let token = params::req_str(p, "token")?;
    Ok(to_json(&pw(ctx).ots_read(token)?))
}
