//! Host manifests: rendering from the templates in `manifests/`, and reading one back (for
//! `doctor`). Pure: bytes in, bytes out.

use super::table::Family;
use crate::config::HOST_NAME;
use serde_json::Value;

const CHROME_TEMPLATE: &str = include_str!("../../manifests/chrome.json");
const FIREFOX_TEMPLATE: &str = include_str!("../../manifests/firefox.json");

pub const DESCRIPTION: &str = "passbridge: ANOTHERpass, a local encrypted vault and Clarion approvals for your browser extension";

/// Manifests are a few hundred bytes; anything far larger is not ours.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

fn template(family: Family) -> &'static str {
    match family {
        Family::Chrome => CHROME_TEMPLATE,
        Family::Firefox => FIREFOX_TEMPLATE,
    }
}

/// Renders the manifest for `family`: `binary` is the absolute host path, `allowed` the
/// origins (Chrome family) or add-on ids (Firefox family). UTF-8, no BOM, ends with a newline.
pub fn render(family: Family, binary: &str, allowed: &[String]) -> String {
    let s = |v: &str| serde_json::to_string(v).expect("strings serialize");
    // Indent the array one level deeper than the key it belongs to.
    let list = if allowed.is_empty() {
        "[]".to_string()
    } else {
        serde_json::to_string_pretty(allowed)
            .expect("strings serialize")
            .replace('\n', "\n  ")
    };
    template(family)
        .replace("\"@NAME@\"", &s(HOST_NAME))
        .replace("\"@DESCRIPTION@\"", &s(DESCRIPTION))
        .replace("\"@PATH@\"", &s(binary))
        .replace("[\"@ALLOWED@\"]", &list)
}

/// The fields of a manifest that matter to a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub path: String,
    pub kind: String,
    /// Which allowlist key the file has (a file with both or neither is rejected).
    pub family: Family,
    pub allowed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("starts with a byte order mark; browsers want UTF-8 without BOM")]
    Bom,
    #[error("is not valid UTF-8")]
    NotUtf8,
    #[error("is not valid JSON: {0}")]
    Json(String),
    #[error("is not a JSON object")]
    NotObject,
    #[error("has no string field \"{0}\"")]
    Missing(&'static str),
    #[error("has neither \"allowed_origins\" nor \"allowed_extensions\"")]
    NoAllowlist,
    #[error("has both \"allowed_origins\" and \"allowed_extensions\"")]
    BothAllowlists,
    #[error("\"{0}\" must be an array of strings")]
    BadAllowlist(&'static str),
}

pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(ManifestError::Bom);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
    let v: Value = serde_json::from_str(text).map_err(|e| ManifestError::Json(e.to_string()))?;
    let obj = v.as_object().ok_or(ManifestError::NotObject)?;
    let field = |k: &'static str| {
        obj.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or(ManifestError::Missing(k))
    };
    let (family, key) = match (
        obj.contains_key("allowed_origins"),
        obj.contains_key("allowed_extensions"),
    ) {
        (true, false) => (Family::Chrome, "allowed_origins"),
        (false, true) => (Family::Firefox, "allowed_extensions"),
        (true, true) => return Err(ManifestError::BothAllowlists),
        (false, false) => return Err(ManifestError::NoAllowlist),
    };
    let allowed = obj[key]
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or(ManifestError::BadAllowlist(key))?;
    Ok(Manifest {
        name: field("name")?,
        path: field("path")?,
        kind: field("type")?,
        family,
        allowed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "chrome-extension://abcdefghijklmnopabcdefghijklmnop/";

    #[test]
    fn templates_are_json_with_each_placeholder_once() {
        for family in [Family::Chrome, Family::Firefox] {
            let t = template(family);
            serde_json::from_str::<Value>(t).unwrap();
            for p in [
                "\"@NAME@\"",
                "\"@DESCRIPTION@\"",
                "\"@PATH@\"",
                "[\"@ALLOWED@\"]",
            ] {
                assert_eq!(t.matches(p).count(), 1, "{family:?} {p}");
            }
            assert!(t.contains(family.allowlist_key()));
        }
    }

    #[test]
    fn golden_chrome_manifest() {
        let out = render(
            Family::Chrome,
            "/home/u/.local/bin/passbridge",
            &[ORIGIN.into()],
        );
        assert_eq!(out, include_str!("../../tests/golden/manifest-chrome.json"));
    }

    #[test]
    fn golden_firefox_manifest_with_two_ids() {
        let out = render(
            Family::Firefox,
            "/home/u/.local/bin/passbridge",
            &[
                "passbridge@example.org".into(),
                "{2e5ff8c8-32fe-46d0-9fc8-6b8986621f3c}".into(),
            ],
        );
        assert_eq!(
            out,
            include_str!("../../tests/golden/manifest-firefox.json")
        );
    }

    #[test]
    fn golden_windows_manifest_escapes_backslashes() {
        let out = render(
            Family::Chrome,
            r"C:\Program Files\passbridge\passbridge.exe",
            &[ORIGIN.into()],
        );
        assert_eq!(
            out,
            include_str!("../../tests/golden/manifest-chrome-windows.json")
        );
        assert!(!out.starts_with('\u{feff}'));
        assert_eq!(
            parse(out.as_bytes()).unwrap().path,
            r"C:\Program Files\passbridge\passbridge.exe"
        );
    }

    #[test]
    fn rendered_manifests_parse_back() {
        let path = "/opt/pass \"bridge\"/passbridge";
        for (family, allowed) in [
            (Family::Chrome, vec![ORIGIN.to_string()]),
            (Family::Firefox, vec!["a@b".to_string()]),
            (Family::Firefox, vec![]),
        ] {
            let m = parse(render(family, path, &allowed).as_bytes()).unwrap();
            assert_eq!(
                m,
                Manifest {
                    name: HOST_NAME.into(),
                    path: path.into(),
                    kind: "stdio".into(),
                    family,
                    allowed,
                }
            );
        }
    }

    #[test]
    fn broken_manifests_are_named() {
        let cases: &[(&[u8], ManifestError)] = &[
            (b"\xEF\xBB\xBF{}", ManifestError::Bom),
            (b"\xff", ManifestError::NotUtf8),
            (b"[]", ManifestError::NotObject),
            (br#"{"name":"x"}"#, ManifestError::NoAllowlist),
            (
                br#"{"allowed_origins":[],"allowed_extensions":[]}"#,
                ManifestError::BothAllowlists,
            ),
            (
                br#"{"allowed_origins":[1]}"#,
                ManifestError::BadAllowlist("allowed_origins"),
            ),
            (
                br#"{"allowed_origins":[],"path":"/x","type":"stdio"}"#,
                ManifestError::Missing("name"),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(&parse(bytes).unwrap_err(), want);
        }
        assert!(matches!(parse(b"{").unwrap_err(), ManifestError::Json(_)));
    }
}
