//! PassWeaver's reply envelope (`lib/response.mjs`): `{"status":"success","data":…}` or
//! `{"status":"failed","message":"…","data":…}` (`message` may be missing; `data` may be an
//! object, an array or a string). Pure: a status and a body in, the data or a typed error out.

use super::error::{PwError, TOKEN_MESSAGES, clean};
use serde_json::Value;

/// One parsed envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub success: bool,
    pub message: Option<String>,
    pub data: Value,
}

/// Parses the envelope; anything else (HTML from a proxy, other JSON) is [`PwError::BadReply`].
pub fn parse(body: &[u8]) -> Result<Envelope, PwError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        PwError::BadReply("the reply is not JSON (is this a PassWeaver API address?)".into())
    })?;
    let Value::Object(mut m) = v else {
        return Err(PwError::BadReply("the reply is not a JSON object".into()));
    };
    let success = match m.get("status").and_then(Value::as_str) {
        Some("success") => true,
        Some("failed") => false,
        _ => {
            return Err(PwError::BadReply(
                "the reply has no \"status\" of success or failed".into(),
            ));
        }
    };
    let message = match m.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(clean(s)),
        Some(_) => return Err(PwError::BadReply("\"message\" is not text".into())),
    };
    let data = m.remove("data").unwrap_or(Value::Null);
    Ok(Envelope {
        success,
        message,
        data,
    })
}

/// The data of a successful reply, or the error its status stands for.
pub fn interpret(status: u16, body: &[u8]) -> Result<Value, PwError> {
    let env = parse(body)?;
    if (200..300).contains(&status) {
        if !env.success {
            return Err(PwError::BadReply(format!(
                "HTTP {status} with status \"failed\""
            )));
        }
        return Ok(env.data);
    }
    if env.success {
        return Err(PwError::BadReply(format!(
            "HTTP {status} with status \"success\""
        )));
    }
    let msg = env.message.clone().unwrap_or_default();
    // `Bad request` carries its detail in data ("Invalid key").
    let detail = match &env.data {
        Value::String(s) if !s.is_empty() => format!("{msg}: {}", clean(s)),
        _ => msg.clone(),
    };
    Err(match status {
        400 => PwError::BadRequest(detail),
        401 if TOKEN_MESSAGES.contains(&msg.as_str()) => PwError::TokenRejected(msg),
        401 => PwError::LoginFailed(detail),
        403 => PwError::Forbidden(detail),
        404 => PwError::NotFound(format!("PassWeaver found nothing ({detail}).")),
        409 => PwError::ReadOnly(detail),
        412 => PwError::PersonalNotSet,
        417 => PwError::PersonalLocked,
        422 => PwError::InvalidValue(detail),
        _ => PwError::Server {
            status,
            message: detail,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_without_message() {
        assert_eq!(
            interpret(200, br#"{"status":"success","data":{"jwt":"x"}}"#).unwrap(),
            json!({"jwt": "x"})
        );
        assert_eq!(
            interpret(201, br#"{"status":"success","data":[1]}"#).unwrap(),
            json!([1])
        );
        // A missing data is null, not an error (`{}` is the server default anyway).
        assert_eq!(
            interpret(200, br#"{"status":"success"}"#).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn each_status_maps_to_its_error() {
        let fail = |m: &str| format!(r#"{{"status":"failed","message":"{m}","data":{{}}}}"#);
        let cases: &[(u16, &str, &str)] = &[
            (400, "Bad request", "passweaver_bad_request"),
            (401, "Token expired", "login_required"),
            (401, "Invalid token", "login_required"),
            (401, "Bad user or wrong password", "passweaver_login_failed"),
            (403, "Forbidden", "passweaver_forbidden"),
            (404, "No item found", "not_found"),
            (409, "System is in readonly mode", "passweaver_read_only"),
            (
                412,
                "Personal password not set",
                "personal_password_not_set",
            ),
            (417, "Personal folder not accessible", "personal_locked"),
            (422, "Unprocessable entity", "passweaver_invalid_value"),
            (
                500,
                "Path not found, or invalid method",
                "passweaver_server_error",
            ),
            (502, "x", "passweaver_server_error"),
        ];
        for (status, msg, code) in cases {
            let e = interpret(*status, fail(msg).as_bytes()).unwrap_err();
            assert_eq!(e.code(), *code, "{status} {msg}");
        }
        assert!(matches!(
            interpret(401, fail("Token expired").as_bytes()),
            Err(PwError::TokenRejected(_))
        ));
    }

    #[test]
    fn string_data_is_the_detail() {
        let e = interpret(
            400,
            br#"{"status":"failed","message":"Bad request","data":"Invalid key"}"#,
        )
        .unwrap_err();
        assert_eq!(e, PwError::BadRequest("Bad request: Invalid key".into()));
    }

    #[test]
    fn garbage_is_bad_reply() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"",
            b"[]",
            b"{\"data\":{}}",
            b"{\"status\":\"ok\",\"data\":{}}",
            b"{\"status\":\"failed\",\"message\":7}",
            b"\xff\xfe",
        ] {
            for status in [200, 401, 404, 500] {
                assert_eq!(
                    interpret(status, body).unwrap_err().code(),
                    "passweaver_bad_reply"
                );
            }
        }
        // Envelope status that contradicts the HTTP status.
        assert_eq!(
            interpret(200, br#"{"status":"failed","message":"x"}"#)
                .unwrap_err()
                .code(),
            "passweaver_bad_reply"
        );
        assert_eq!(
            interpret(404, br#"{"status":"success","data":{}}"#)
                .unwrap_err()
                .code(),
            "passweaver_bad_reply"
        );
    }

    #[test]
    fn server_text_is_cleaned() {
        let e = interpret(
            403,
            b"{\"status\":\"failed\",\"message\":\"no\\u001b[31m\"}",
        )
        .unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'));
    }
}
