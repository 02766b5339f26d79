//! Who started us: Chrome passes `[origin, --parent-window=N?]`, Firefox `[manifest path, add-on id]`,
//! a person or script passes nothing. Treated as input and checked against the allowlist.

use crate::config::Allowlist;
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A person or script in a terminal: the local user, always allowed.
    Local,
    Chrome {
        origin: String,
        parent_window: Option<i64>,
    },
    Firefox {
        manifest: PathBuf,
        addon_id: Option<String>,
    },
}

pub const CHROME_SCHEME: &str = "chrome-extension://";

/// True when argv looks like a browser launch (so `main` runs the host instead of a subcommand).
pub fn looks_like_browser_launch(args: &[OsString]) -> bool {
    args.first()
        .and_then(|a| a.to_str())
        .is_some_and(|a| a.starts_with(CHROME_SCHEME) || a.ends_with(".json"))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallerError {
    #[error(
        "unexpected launch arguments {0:?}: expected a Chrome origin or a Firefox manifest path and add-on id"
    )]
    Unrecognized(Vec<String>),
}

/// Parses the arguments after the program name.
pub fn parse_caller(args: &[OsString]) -> Result<Caller, CallerError> {
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let bad = || CallerError::Unrecognized(strs.clone());
    match strs.as_slice() {
        [] => Ok(Caller::Local),
        [origin, rest @ ..] if origin.starts_with(CHROME_SCHEME) => {
            let mut parent_window = None;
            for a in rest {
                let n = a.strip_prefix("--parent-window=").ok_or_else(bad)?;
                parent_window = Some(n.parse().map_err(|_| bad())?);
            }
            let id = origin[CHROME_SCHEME.len()..].trim_end_matches('/');
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(bad());
            }
            Ok(Caller::Chrome {
                origin: normalize_origin(origin),
                parent_window,
            })
        }
        [manifest] if manifest.ends_with(".json") => Ok(Caller::Firefox {
            manifest: manifest.into(),
            addon_id: None,
        }),
        [manifest, id] if manifest.ends_with(".json") => Ok(Caller::Firefox {
            manifest: manifest.into(),
            addon_id: Some(id.clone()),
        }),
        _ => Err(bad()),
    }
}

/// `chrome-extension://id` and `chrome-extension://id/` are the same origin.
pub fn normalize_origin(origin: &str) -> String {
    format!("{}/", origin.trim_end_matches('/'))
}

impl Caller {
    /// Whether this caller may use the host. Firefox before 55 passes no add-on id: refused,
    /// since we cannot tell which extension it is.
    pub fn is_allowed(&self, allow: &Allowlist) -> bool {
        match self {
            Caller::Local => true,
            Caller::Chrome { origin, .. } => allow
                .chrome_origins
                .iter()
                .any(|o| normalize_origin(o) == *origin),
            Caller::Firefox {
                addon_id: Some(id), ..
            } => allow.firefox_ids.iter().any(|a| a == id),
            Caller::Firefox { addon_id: None, .. } => false,
        }
    }

    /// A short description for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            Caller::Local => "local user".into(),
            Caller::Chrome { origin, .. } => origin.clone(),
            Caller::Firefox {
                addon_id: Some(id), ..
            } => format!("Firefox add-on {id}"),
            Caller::Firefox { addon_id: None, .. } => "Firefox add-on without id".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn chrome_forms() {
        assert_eq!(
            parse_caller(&args(&[
                "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"
            ]))
            .unwrap(),
            Caller::Chrome {
                origin: "chrome-extension://abcdefghijklmnopabcdefghijklmnop/".into(),
                parent_window: None
            }
        );
        assert_eq!(
            parse_caller(&args(&["chrome-extension://abc", "--parent-window=0"])).unwrap(),
            Caller::Chrome {
                origin: "chrome-extension://abc/".into(),
                parent_window: Some(0)
            }
        );
        assert!(parse_caller(&args(&["chrome-extension://abc/", "--parent-window=x"])).is_err());
        assert!(parse_caller(&args(&["chrome-extension://ABC/"])).is_err());
        assert!(parse_caller(&args(&["chrome-extension:///"])).is_err());
    }

    #[test]
    fn firefox_forms() {
        assert_eq!(
            parse_caller(&args(&[
                "/home/u/.mozilla/native-messaging-hosts/x.json",
                "a@b.org"
            ]))
            .unwrap(),
            Caller::Firefox {
                manifest: "/home/u/.mozilla/native-messaging-hosts/x.json".into(),
                addon_id: Some("a@b.org".into())
            }
        );
        assert!(matches!(
            parse_caller(&args(&["m.json"])).unwrap(),
            Caller::Firefox { addon_id: None, .. }
        ));
        assert!(parse_caller(&args(&["whatever", "x", "y"])).is_err());
    }

    #[test]
    fn allowlist() {
        let allow = Allowlist {
            chrome_origins: vec!["chrome-extension://abc".into()],
            firefox_ids: vec!["a@b".into()],
        };
        assert!(Caller::Local.is_allowed(&allow));
        assert!(
            parse_caller(&args(&["chrome-extension://abc/"]))
                .unwrap()
                .is_allowed(&allow)
        );
        assert!(
            !parse_caller(&args(&["chrome-extension://abd/"]))
                .unwrap()
                .is_allowed(&allow)
        );
        assert!(
            parse_caller(&args(&["m.json", "a@b"]))
                .unwrap()
                .is_allowed(&allow)
        );
        assert!(
            !parse_caller(&args(&["m.json", "evil@b"]))
                .unwrap()
                .is_allowed(&allow)
        );
        assert!(!parse_caller(&args(&["m.json"])).unwrap().is_allowed(&allow));
    }

    #[test]
    fn launch_detection() {
        assert!(looks_like_browser_launch(&args(&["chrome-extension://x/"])));
        assert!(looks_like_browser_launch(&args(&[
            "/p/org.passbridge.host.json",
            "id"
        ])));
        assert!(!looks_like_browser_launch(&args(&["call"])));
        assert!(!looks_like_browser_launch(&args(&[])));
    }
}
