//! Validation of host output against docs/protocol.schema.json (the published contract).
#![allow(dead_code)]

use serde_json::{Value, json};

fn validator_for_def(def: &str) -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.schema.json");
    let mut schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    schema["$ref"] = json!(format!("#/$defs/{def}"));
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn assert_valid(def: &str, v: &Value) {
    let validator = validator_for_def(def);
    let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{v} is not a valid {def}: {errors:?}");
}

pub fn assert_valid_reply(v: &Value) {
    assert_valid("reply", v)
}

pub fn assert_valid_event(v: &Value) {
    assert_valid("progressEvent", v)
}

pub fn assert_valid_request(v: &Value) {
    assert_valid("request", v)
}

pub fn is_valid(def: &str, v: &Value) -> bool {
    validator_for_def(def).is_valid(v)
}
