//! Extension ids: checked before they reach a manifest or the host's allowlist.

use crate::nm::caller::CHROME_SCHEME;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "{0:?} is not a Chrome extension id: it must be 32 letters from a to p \
         (see chrome://extensions with Developer mode on)"
    )]
    Chrome(String),
    #[error(
        "{0:?} is not a Firefox add-on id: it must look like name@example.org or \
         {{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}} (see about:debugging#/runtime/this-firefox, \
         \"Extension ID\")"
    )]
    Firefox(String),
}

/// The project's own extension (extension/): its Chrome id follows from the `key` in
/// extension/manifests/chromium.json, its Firefox id is the gecko id in manifests/firefox.json.
/// `passbridge install` always registers these; ids given on the command line are added.
pub const OWN_CHROME_ID: &str = "dimjidijnppmaoabgdkmickadcepdapp";
pub const OWN_FIREFOX_ID: &str = "extension@passbridge.org";

/// `own` first, then `given`, as one list for [`chrome_origins`] / [`firefox_ids`].
pub fn with_own(own: &str, given: &[String]) -> Vec<String> {
    std::iter::once(own.to_string())
        .chain(given.iter().cloned())
        .collect()
}

/// Longest add-on id we accept: far above any real one, it only bounds garbage.
const MAX_FIREFOX_ID: usize = 255;

/// Accepts `<id>`, `chrome-extension://<id>` or `chrome-extension://<id>/` and returns the
/// origin form the manifest and allowlist use: `chrome-extension://<id>/`.
pub fn chrome_origin(input: &str) -> Result<String, IdError> {
    let s = input.trim();
    let id = s
        .strip_prefix(CHROME_SCHEME)
        .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
        .unwrap_or(s);
    if id.len() == 32 && id.bytes().all(|b| (b'a'..=b'p').contains(&b)) {
        Ok(format!("{CHROME_SCHEME}{id}/"))
    } else {
        Err(IdError::Chrome(input.to_string()))
    }
}

/// Firefox's own rule for add-on ids: a `{GUID}` or `local@domain` (local may be empty).
pub fn firefox_id(input: &str) -> Result<String, IdError> {
    let s = input.trim();
    let bad = || IdError::Firefox(input.to_string());
    if s.is_empty() || s.len() > MAX_FIREFOX_ID {
        return Err(bad());
    }
    if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        let groups: Vec<&str> = inner.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        let ok = groups.len() == 5
            && groups
                .iter()
                .zip(lens)
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        return if ok { Ok(s.to_string()) } else { Err(bad()) };
    }
    let word = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    match s.split_once('@') {
        Some((local, domain)) if word(local) && !domain.is_empty() && word(domain) => {
            Ok(s.to_string())
        }
        _ => Err(bad()),
    }
}

/// Validates every id, keeping order and dropping duplicates.
pub fn chrome_origins(inputs: &[String]) -> Result<Vec<String>, IdError> {
    dedup(inputs.iter().map(|i| chrome_origin(i)))
}

pub fn firefox_ids(inputs: &[String]) -> Result<Vec<String>, IdError> {
    dedup(inputs.iter().map(|i| firefox_id(i)))
}

fn dedup(items: impl Iterator<Item = Result<String, IdError>>) -> Result<Vec<String>, IdError> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let v = item?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "abcdefghijklmnopabcdefghijklmnop";

    #[test]
    fn own_ids_are_valid_come_first_and_are_not_repeated() {
        let given = vec![ID.to_string(), OWN_CHROME_ID.to_string()];
        assert_eq!(
            chrome_origins(&with_own(OWN_CHROME_ID, &given)).unwrap(),
            [
                format!("chrome-extension://{OWN_CHROME_ID}/"),
                format!("chrome-extension://{ID}/")
            ]
        );
        assert_eq!(
            super::firefox_ids(&with_own(OWN_FIREFOX_ID, &[])).unwrap(),
            [OWN_FIREFOX_ID]
        );
    }

    /// The ids the installer registers must be the ones the browsers give the shipped extension.
    #[test]
    fn own_ids_match_the_extension_manifests() {
        let read = |name: &str| -> serde_json::Value {
            let path = format!("{}/extension/manifests/{name}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
        };
        let gecko = read("firefox.json")["browser_specific_settings"]["gecko"]["id"].clone();
        assert_eq!(gecko, OWN_FIREFOX_ID);
        use base64::Engine;
        use sha2::Digest;
        let key = read("chromium.json")["key"].as_str().unwrap().to_string();
        let der = base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap();
        let id: String = sha2::Sha256::digest(der)[..16]
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .map(|n| char::from(b'a' + n))
            .collect();
        assert_eq!(id, OWN_CHROME_ID);
    }

    #[test]
    fn chrome_ids_in_every_accepted_form() {
        let origin = format!("chrome-extension://{ID}/");
        for input in [
            ID.to_string(),
            format!("chrome-extension://{ID}"),
            origin.clone(),
        ] {
            assert_eq!(chrome_origin(&input).unwrap(), origin);
        }
    }

    #[test]
    fn bad_chrome_ids() {
        for bad in [
            "",
            "abc",
            "abcdefghijklmnopabcdefghijklmnoq", // q is outside a-p
            "ABCDEFGHIJKLMNOPABCDEFGHIJKLMNOP",
            "abcdefghijklmnopabcdefghijklmnopa", // 33
            "chrome-extension://abc/",
            "moz-extension://abcdefghijklmnopabcdefghijklmnop/",
            "abcdefghijklmnop/bcdefghijklmnop",
        ] {
            let err = chrome_origin(bad).unwrap_err();
            assert!(
                err.to_string().contains("32 letters from a to p"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn firefox_ids() {
        for good in [
            "passbridge@example.org",
            "@example",
            "a_b-c.d@x-y.z",
            "{2e5ff8c8-32fe-46d0-9fc8-6b8986621f3c}",
            "{2E5FF8C8-32FE-46D0-9FC8-6B8986621F3C}",
        ] {
            assert_eq!(firefox_id(good).unwrap(), good);
        }
        for bad in [
            "",
            "plain",
            "a@",
            "a@b@c",
            "a b@c",
            "a@b/c",
            "{2e5ff8c8-32fe-46d0-9fc8-6b8986621f3}",
            "{2e5ff8c8-32fe-46d0-9fc8-6b8986621f3g}",
            "2e5ff8c8-32fe-46d0-9fc8-6b8986621f3c",
            "{}",
            "\"quote\"@x",
        ] {
            let err = firefox_id(bad).unwrap_err();
            assert!(
                err.to_string().contains("Firefox add-on id"),
                "{bad}: {err}"
            );
        }
        assert!(firefox_id(&format!("{}@x", "a".repeat(300))).is_err());
    }

    #[test]
    fn lists_are_validated_and_deduplicated() {
        let list = vec![ID.to_string(), format!("chrome-extension://{ID}/")];
        assert_eq!(chrome_origins(&list).unwrap().len(), 1);
        let list = vec!["a@b".to_string(), "nope".to_string()];
        assert_eq!(
            super::firefox_ids(&list).unwrap_err(),
            IdError::Firefox("nope".into())
        );
    }
}
