//! The documentation is part of the contract: every error code the code can produce is listed.

fn protocol_doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md")).unwrap()
}

#[test]
fn every_error_code_is_documented() {
    let doc = protocol_doc();
    // Every code of every backend in src/backends.rs, the host's and the layers' own.
    let all = passbridge::backends::all_codes();
    let missing: Vec<&str> = all
        .iter()
        .copied()
        .filter(|c| !doc.contains(&format!("`{c}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes missing from docs/protocol.md: {missing:?}"
    );
}

#[test]
fn every_action_is_documented() {
    let doc = protocol_doc();
    let state = std::sync::Arc::new(
        passbridge::backends::start(
            passbridge::config::Paths::under(std::path::Path::new("/nonexistent")),
            Default::default(),
        )
        .unwrap(),
    );
    let d = passbridge::api::dispatch::Dispatcher::new(state);
    let missing: Vec<&str> = d
        .action_list()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "actions missing from docs/protocol.md: {missing:?}"
    );
}
