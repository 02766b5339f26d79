//! Parsing of extension requests (protocol v1) and building of replies and events. Pure.

use super::error::{ApiError, codes};
use serde_json::{Map, Value, json};

pub const PROTOCOL_VERSION: u32 = 1;

/// A validated request. `id` is kept as sent (string or number) and echoed back.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Value,
    pub action: String,
    pub params: Value,
    pub progress: bool,
}

/// Parses one frame body. On error, the returned id is whatever could be recovered (or null),
/// so the error reply can still be matched by the extension.
pub fn parse_request(body: &[u8]) -> Result<Request, (Value, ApiError)> {
    let text = std::str::from_utf8(body).map_err(|e| {
        (
            Value::Null,
            ApiError::new(
                codes::INVALID_UTF8,
                format!(
                    "The message is not valid UTF-8 (at byte {}).",
                    e.valid_up_to()
                ),
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        (
            Value::Null,
            ApiError::new(
                codes::INVALID_JSON,
                format!("The message is not valid JSON: {e}."),
            ),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err((
            Value::Null,
            ApiError::new(codes::INVALID_REQUEST, "A request must be a JSON object."),
        ));
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    let fail =
        |id: &Value, msg: &str| Err((id.clone(), ApiError::new(codes::INVALID_REQUEST, msg)));
    let id_ok = matches!(&id, Value::Null | Value::String(_) | Value::Number(_));
    if !id_ok {
        return fail(&Value::Null, "\"id\" must be a string or a number.");
    }
    let action = match obj.remove("action") {
        Some(Value::String(a)) if !a.is_empty() => a,
        Some(_) => return fail(&id, "\"action\" must be a non-empty string."),
        None => return fail(&id, "The request has no \"action\"."),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(p @ Value::Object(_)) => p,
        Some(_) => return fail(&id, "\"params\" must be a JSON object."),
    };
    let progress = match obj.remove("progress") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return fail(&id, "\"progress\" must be true or false."),
    };
    Ok(Request {
        id,
        action,
        params,
        progress,
    })
}

/// Overwrites every string in `v` with zeros before it is dropped: request params can carry
/// passwords (`vault.unlock`, `vault.set_password`), and freed heap memory keeps its bytes.
pub fn scrub(v: &mut Value) {
    use zeroize::Zeroize;
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(scrub),
        Value::Object(o) => o.values_mut().for_each(scrub),
        _ => {}
    }
}

pub fn ok_reply(id: &Value, result: Value) -> Value {
    json!({"id": id, "ok": true, "result": result})
}

pub fn error_reply(id: &Value, error: &ApiError) -> Value {
    json!({"id": id, "ok": false, "error": error.to_json()})
}

/// A progress event: `{"id", "event": "progress", ...fields}`.
pub fn progress_event(id: &Value, fields: Value) -> Value {
    let mut obj = Map::new();
    obj.insert("id".into(), id.clone());
    obj.insert("event".into(), Value::String("progress".into()));
    if let Value::Object(f) = fields {
        for (k, v) in f {
            if k != "id" && k != "event" {
                obj.insert(k, v);
            }
        }
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_wipes_every_string_in_place() {
        let mut v =
            json!({"password": "hunter22", "nested": [{"current_password": "old pw"}], "n": 1});
        scrub(&mut v);
        assert_eq!(
            v,
            json!({"password": "", "nested": [{"current_password": ""}], "n": 1})
        );
    }

    #[test]
    fn minimal_request() {
        let r = parse_request(br#"{"action":"ping"}"#).unwrap();
        assert_eq!(
            r,
            Request {
                id: Value::Null,
                action: "ping".into(),
                params: json!({}),
                progress: false
            }
        );
    }

    #[test]
    fn full_request() {
        let r =
            parse_request(br#"{"id":7,"action":"x","params":{"a":1},"progress":true}"#).unwrap();
        assert_eq!(
            (r.id, r.params, r.progress),
            (json!(7), json!({"a":1}), true)
        );
    }

    #[test]
    fn bad_requests_keep_the_id_when_they_can() {
        let cases: &[(&[u8], &str, Value)] = &[
            (b"\xff\xfe", codes::INVALID_UTF8, Value::Null),
            (b"{", codes::INVALID_JSON, Value::Null),
            (b"[1]", codes::INVALID_REQUEST, Value::Null),
            (b"\"ping\"", codes::INVALID_REQUEST, Value::Null),
            (
                br#"{"id":{"x":1},"action":"ping"}"#,
                codes::INVALID_REQUEST,
                Value::Null,
            ),
            (br#"{"id":"a"}"#, codes::INVALID_REQUEST, json!("a")),
            (
                br#"{"id":"a","action":5}"#,
                codes::INVALID_REQUEST,
                json!("a"),
            ),
            (
                br#"{"id":"a","action":""}"#,
                codes::INVALID_REQUEST,
                json!("a"),
            ),
            (
                br#"{"id":2,"action":"ping","params":[1]}"#,
                codes::INVALID_REQUEST,
                json!(2),
            ),
            (
                br#"{"id":2,"action":"ping","progress":"yes"}"#,
                codes::INVALID_REQUEST,
                json!(2),
            ),
        ];
        for (input, code, id) in cases {
            let (got_id, err) = parse_request(input).unwrap_err();
            assert_eq!(
                (err.code, &got_id),
                (*code, id),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn event_cannot_override_id() {
        let e = progress_event(
            &json!(1),
            json!({"id": 9, "event": "x", "stage": "waiting"}),
        );
        assert_eq!(e, json!({"id": 1, "event": "progress", "stage": "waiting"}));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parser_never_panics_and_errors_are_typed(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                if let Err((id, e)) = parse_request(&bytes) {
                    prop_assert!(id.is_null() || id.is_string() || id.is_number());
                    prop_assert!(!e.message.is_empty());
                }
            }

            #[test]
            fn any_string_id_and_action_round_trip(id in ".*", action in ".+") {
                let body = json!({"id": id, "action": action}).to_string();
                let r = parse_request(body.as_bytes()).unwrap();
                prop_assert_eq!(r.id, json!(id));
                prop_assert_eq!(r.action, action);
            }
        }
    }
}
