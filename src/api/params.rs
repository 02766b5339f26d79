//! Typed access to request params with `invalid_params` errors that name the field.

use super::error::ApiError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deserializes the whole params object into `T`; unknown fields are the type's business.
/// The error names the field (`"limit": invalid type: string "x", expected u64`).
pub fn parse<T: DeserializeOwned>(params: &Value) -> Result<T, ApiError> {
    let empty = Value::Object(Default::default());
    let params = if params.is_null() { &empty } else { params };
    serde_path_to_error::deserialize(params).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::invalid_params(format!("Invalid parameters: {inner}."))
        } else {
            ApiError::invalid_params(format!("\"{path}\": {inner}."))
        }
    })
}

/// Runs a typed action: params deserialized into `P` (an `invalid_params` error naming the
/// field), the backend's error mapped to its stable code, the result serialized.
/// Use through [`typed!`](crate::typed) to get a plain handler.
pub fn run_typed<P, R, E>(
    ctx: &super::Ctx,
    params: &Value,
    f: impl FnOnce(&super::Ctx, P) -> Result<R, E>,
) -> Result<Value, ApiError>
where
    P: DeserializeOwned,
    R: serde::Serialize,
    ApiError: From<E>,
{
    let p = parse(params)?;
    let r = f(ctx, p)?;
    serde_json::to_value(r).map_err(|e| ApiError::internal(format!("cannot encode a reply: {e}")))
}

/// A handler from a typed action `fn(&Ctx, Params) -> Result<Reply, BackendError>`.
#[macro_export]
macro_rules! typed {
    ($f:path) => {
        |ctx: &$crate::api::Ctx, params: &serde_json::Value| {
            $crate::api::params::run_typed(ctx, params, $f)
        }
    };
}

/// Params of an action that takes none: anything is accepted and ignored (as the JSON
/// handlers always did).
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub struct NoParams {}

/// `#[serde(default, deserialize_with = "params::secret")]` for an optional secret string
/// (a password): copied straight into a zeroizing string, and a value of the wrong type is
/// named by its kind only, never echoed into the error message.
pub fn secret<'de, D>(d: D) -> Result<Option<zeroize::Zeroizing<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::{Error, MapAccess, SeqAccess, Unexpected, Visitor};
    struct SecretVisitor;
    fn wrong<E: Error>(kind: &'static str) -> E {
        E::invalid_type(Unexpected::Other(kind), &SecretVisitor)
    }
    impl<'de> Visitor<'de> for SecretVisitor {
        type Value = Option<zeroize::Zeroizing<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(zeroize::Zeroizing::new(v.to_owned())))
        }
        fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(zeroize::Zeroizing::new(v)))
        }
        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(wrong("boolean"))
        }
        fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(wrong("number"))
        }
        fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(wrong("number"))
        }
        fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(wrong("number"))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(wrong("list"))
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(wrong("object"))
        }
    }
    d.deserialize_any(SecretVisitor)
}

pub fn opt_str<'a>(params: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid_params(format!(
            "\"{key}\" must be a string."
        ))),
    }
}

pub fn req_str<'a>(params: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    opt_str(params, key)?.ok_or_else(|| ApiError::invalid_params(format!("\"{key}\" is required.")))
}

pub fn opt_u64(params: &Value, key: &str) -> Result<Option<u64>, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ApiError::invalid_params(format!("\"{key}\" must be a non-negative integer."))
        }),
    }
}

pub fn opt_bool(params: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid_params(format!(
            "\"{key}\" must be true or false."
        ))),
    }
}

/// `offset`/`limit` paging shared by every list action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

pub const DEFAULT_PAGE_LIMIT: usize = 100;
pub const MAX_PAGE_LIMIT: usize = 1000;

impl Page {
    pub fn from_params(params: &Value) -> Result<Self, ApiError> {
        let offset = opt_u64(params, "offset")?.unwrap_or(0) as usize;
        let limit = opt_u64(params, "limit")?.unwrap_or(DEFAULT_PAGE_LIMIT as u64) as usize;
        Self::new(offset, limit)
    }

    /// A page from typed params; `limit` must be 1..=[`MAX_PAGE_LIMIT`].
    pub fn new(offset: usize, limit: usize) -> Result<Self, ApiError> {
        if limit == 0 || limit > MAX_PAGE_LIMIT {
            return Err(ApiError::invalid_params(format!(
                "\"limit\" must be between 1 and {MAX_PAGE_LIMIT}."
            )));
        }
        Ok(Self { offset, limit })
    }

    /// Slices `items` and returns `{items, offset, limit, total, next_offset}` pieces.
    pub fn apply<T: Clone>(&self, items: &[T]) -> (Vec<T>, Option<usize>) {
        let start = self.offset.min(items.len());
        let end = (start + self.limit).min(items.len());
        let next = (end < items.len()).then_some(end);
        (items[start..end].to_vec(), next)
    }
}

/// For unit tests of typed actions: `params` fails to parse as `P` with an `invalid_params`
/// error that names `field` first, as the dispatcher would answer.
#[cfg(test)]
pub(crate) fn assert_names_field<P: DeserializeOwned>(params: Value, field: &str) {
    match parse::<P>(&params) {
        Ok(_) => panic!("{params} was accepted"),
        Err(e) => {
            assert_eq!(e.code, super::codes::INVALID_PARAMS, "{params}");
            assert!(
                e.message.starts_with(&format!("\"{field}\": invalid ")),
                "{params}: {}",
                e.message
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paging() {
        let p = Page::from_params(&json!({"offset": 2, "limit": 2})).unwrap();
        assert_eq!(p.apply(&[1, 2, 3, 4, 5]), (vec![3, 4], Some(4)));
        assert_eq!(
            Page {
                offset: 4,
                limit: 2
            }
            .apply(&[1, 2, 3, 4, 5]),
            (vec![5], None)
        );
        assert_eq!(
            Page {
                offset: 9,
                limit: 2
            }
            .apply(&[1]),
            (vec![], None)
        );
        assert!(Page::from_params(&json!({"limit": 0})).is_err());
        assert!(Page::from_params(&json!({"offset": -1})).is_err());
    }

    #[test]
    fn secrets_never_echo_a_wrong_value() {
        #[derive(serde::Deserialize)]
        struct P {
            #[serde(default, deserialize_with = "secret")]
            password: Option<zeroize::Zeroizing<String>>,
        }
        let pw = |v| parse::<P>(&v).map(|p| p.password.map(|s| s.to_string()));
        assert_eq!(
            pw(json!({"password": "hunter22"})).unwrap().as_deref(),
            Some("hunter22")
        );
        assert_eq!(pw(json!({"password": null})).unwrap(), None);
        assert_eq!(pw(json!({})).unwrap(), None);
        for (bad, kind) in [
            (json!(12345678), "number"),
            (json!(-7), "number"),
            (json!(1.5), "number"),
            (json!(true), "boolean"),
            (json!(["hunter22"]), "list"),
            (json!({"p": "hunter22"}), "object"),
        ] {
            let e = pw(json!({ "password": bad })).unwrap_err();
            assert_eq!(e.code, "invalid_params");
            assert_eq!(
                e.message,
                format!("\"password\": invalid type: {kind}, expected a string.")
            );
        }
    }

    #[test]
    fn typed_getters() {
        let p = json!({"s": "x", "n": 3, "b": true, "bad": 1});
        assert_eq!(req_str(&p, "s").unwrap(), "x");
        assert_eq!(req_str(&p, "missing").unwrap_err().code, "invalid_params");
        assert!(opt_str(&p, "bad").is_err());
        assert_eq!(opt_u64(&p, "n").unwrap(), Some(3));
        assert_eq!(opt_bool(&p, "b").unwrap(), Some(true));
    }
}
