//! `credentials.search` and `credentials.get`: every registered [`CredentialProvider`] asked
//! at once, each on its own thread and bounded by a timeout, merged into one ranked list.
//! A locked, failing or slow source never fails the search; it gets a status of its own.

use super::otp::OtpAuth;
use super::{
    Credential, CredentialProvider, Found, Listed, Lookup, Providers, Query, SourceError,
    SourceState,
};
use crate::api::params::{DEFAULT_PAGE_LIMIT, Page};
use crate::api::{Action, ApiError, CancelToken, Ctx, ErrorCode, Operation, Registry};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The operation `credentials.get` passes through the Clarion policy, for every source.
pub const CREDENTIAL_GET: Operation = Operation {
    name: "credential_get",
    purpose: "give a credential to the browser",
};

pub const SOURCE_UNREACHABLE: &str = "source_unreachable";
pub const UNKNOWN_SOURCE: &str = "unknown_source";

/// The codes of this layer (each is in docs/protocol.md).
pub const CODES: &[ErrorCode] = &[
    ErrorCode {
        code: SOURCE_UNREACHABLE,
        description: "A credential source did not answer in time (credentials.search status).",
    },
    ErrorCode {
        code: UNKNOWN_SOURCE,
        description: "credentials.get names a source that is not configured.",
    },
];

const MAX_QUERY_CHARS: usize = 256;
const MAX_ID_BYTES: usize = 1024;

/// The `credentials` section of `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How long a search waits for each source, ms (default 5000, 100–60000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_timeout_ms: Option<u64>,
    /// TEST ONLY: extra sources with fixed contents and behaviour (see [`super::fixture`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_sources: Vec<super::fixture::FixtureSource>,
}

impl Settings {
    pub fn search_timeout(&self) -> Duration {
        Duration::from_millis(self.search_timeout_ms.unwrap_or(5_000).clamp(100, 60_000))
    }
}

/// Registers the two actions, the `credential_get` operation and the test-only sources.
/// Called by the composition after every backend has started.
pub fn start(reg: &mut Registry) -> Result<(), String> {
    let settings: Settings = reg
        .config()
        .section("credentials")
        .map_err(|e| e.to_string())?;
    for f in &settings.test_sources {
        super::register_provider(reg, Arc::new(f.clone()));
    }
    reg.insert(settings);
    reg.add_actions(actions());
    reg.add_operations(&[CREDENTIAL_GET]);
    Ok(())
}

pub fn actions() -> Vec<Action> {
    vec![
        Action {
            name: "credentials.search",
            handler: crate::typed!(search),
            summary: "Logins for {url} (or matching {query}) from every source, best first, without secrets; a status per source.",
        },
        Action {
            name: "credentials.get",
            handler: crate::typed!(get),
            summary: "One credential by {source, id}, with its password and current one-time code (may need approval).",
        },
    ]
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// How one source did.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub source: String,
    pub status: SourceState,
    /// How many matches it has (when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
    /// Why not `ok`: the source's own code and a message that says what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct SiteView {
    pub host: String,
    pub domain: String,
}

#[derive(Debug, Serialize)]
pub struct SearchReply {
    pub items: Vec<Listed>,
    pub offset: usize,
    pub limit: usize,
    pub total: usize,
    pub next_offset: Option<usize>,
    pub sources: Vec<SourceReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteView>,
}

fn lookup_of(p: &SearchParams) -> Result<Lookup, ApiError> {
    match (p.url.as_deref(), p.query.as_deref()) {
        (Some(url), None) => Query::parse(url).map(Lookup::Site).ok_or_else(|| {
            ApiError::invalid_params(
                "\"url\" must be a web address, like https://example.com/login.",
            )
        }),
        (None, Some(q)) => {
            let q = q.trim();
            if q.is_empty() || q.chars().count() > MAX_QUERY_CHARS {
                return Err(ApiError::invalid_params(format!(
                    "\"query\" must be 1 to {MAX_QUERY_CHARS} characters of text."
                )));
            }
            Ok(Lookup::Text(q.to_lowercase()))
        }
        _ => Err(ApiError::invalid_params(
            "Give either \"url\" (the page's address) or \"query\" (text to look for), not both.",
        )),
    }
}

/// Searches every provider; see the module documentation.
pub fn search(ctx: &Ctx, p: SearchParams) -> Result<SearchReply, ApiError> {
    let lookup = Arc::new(lookup_of(&p)?);
    let Page { offset, limit } =
        Page::new(p.offset.unwrap_or(0), p.limit.unwrap_or(DEFAULT_PAGE_LIMIT))?;
    // Each source returns its best `offset + limit`; the merged page is then exact.
    let want = offset.saturating_add(limit);
    let timeout = ctx.state.get::<Settings>().map_or_else(
        || Settings::default().search_timeout(),
        Settings::search_timeout,
    );
    let providers = ctx.state.get::<Providers>().cloned().unwrap_or_default();

    let (tx, rx) = mpsc::channel();
    let mut tokens = Vec::new();
    for (i, provider) in providers.0.iter().enumerate() {
        let token = CancelToken::new();
        tokens.push(token.clone());
        let mut child = ctx.clone();
        child.cancel = token;
        child.events = crate::api::EventSink::disabled();
        let (provider, lookup, tx2) = (provider.clone(), lookup.clone(), tx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("search-{}", provider.source()))
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    provider.search(&child, &lookup, want)
                }))
                .unwrap_or_else(|_| {
                    Err(SourceError::new(
                        SourceState::Error,
                        ApiError::internal(
                            "This source hit an internal error. Details are in passbridge's log.",
                        ),
                    ))
                });
                let _ = tx2.send((i, r));
            });
        if let Err(e) = spawned {
            let _ = tx.send((
                i,
                Err(SourceError::new(
                    SourceState::Error,
                    ApiError::internal(format!("cannot start a search thread: {e}")),
                )),
            ));
        }
    }
    drop(tx);

    let mut results: Vec<Option<Result<Found, SourceError>>> =
        (0..providers.0.len()).map(|_| None).collect();
    let deadline = Instant::now() + timeout;
    let mut pending = providers.0.len();
    while pending > 0 {
        if ctx.cancel.is_cancelled() {
            tokens.iter().for_each(CancelToken::cancel);
            return Err(ApiError::cancelled());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok((i, r)) => {
                results[i] = Some(r);
                pending -= 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // Sources still running are told to stop; their answers are no longer wanted.
    tokens.iter().for_each(CancelToken::cancel);

    let mut items = Vec::new();
    let mut sources = Vec::new();
    let mut total = 0usize;
    for (provider, r) in providers.0.iter().zip(results) {
        let source = provider.source().to_owned();
        match r {
            Some(Ok(found)) => {
                total = total.saturating_add(found.total);
                sources.push(SourceReport {
                    source,
                    status: SourceState::Ok,
                    total: Some(found.total),
                    error: None,
                });
                items.extend(found.items.into_iter().take(want));
            }
            Some(Err(e)) => sources.push(SourceReport {
                source,
                status: e.state,
                total: None,
                error: Some(e.error.to_json()),
            }),
            None => sources.push(SourceReport {
                error: Some(
                    ApiError::new(
                        SOURCE_UNREACHABLE,
                        format!(
                            "{source} did not answer within {} ms; its logins are left out. Check that it is running and reachable, then search again.",
                            timeout.as_millis()
                        ),
                    )
                    .to_json(),
                ),
                source,
                status: SourceState::Unreachable,
                total: None,
            }),
        }
    }
    items.sort_by_cached_key(|l| {
        (
            l.matched,
            l.name.to_lowercase(),
            l.source.clone(),
            l.id.clone(),
        )
    });
    let start = offset.min(items.len());
    let end = want.min(items.len());
    let page: Vec<Listed> = items.drain(start..end).collect();
    let site = match &*lookup {
        Lookup::Site(q) => Some(SiteView {
            host: q.site.host.clone(),
            domain: q.site.domain().to_owned(),
        }),
        Lookup::Text(_) => None,
    };
    Ok(SearchReply {
        items: page,
        offset,
        limit,
        next_offset: (want < total).then_some(want),
        total,
        sources,
        site,
    })
}

#[derive(Debug, Deserialize)]
pub struct GetParams {
    pub source: String,
    pub id: String,
}

/// A credential with its secrets, for the browser to fill in.
#[derive(Serialize)]
pub struct GetReply {
    #[serde(flatten)]
    pub credential: CredentialView,
    /// The current one-time code when the credential has an `otpauth://` URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otp_code: Option<Value>,
}

/// The credential without its OTP secret (the code is computed here instead).
#[derive(Serialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct CredentialView {
    pub source: String,
    pub id: String,
    pub name: String,
    pub user: String,
    pub password: String,
    pub urls: Vec<String>,
    pub notes: String,
    pub has_otp: bool,
}

fn provider_for(ctx: &Ctx, source: &str) -> Result<Arc<dyn CredentialProvider>, ApiError> {
    let providers = ctx.state.get::<Providers>().cloned().unwrap_or_default();
    providers.find(source).cloned().ok_or_else(|| {
        let known: Vec<&str> = providers.0.iter().map(|p| p.source()).collect();
        ApiError::new(
            UNKNOWN_SOURCE,
            format!(
                "No credential source is called \"{}\"; the configured ones are: {}.",
                source.chars().take(64).collect::<String>(),
                known.join(", ")
            ),
        )
    })
}

/// Gets one credential: the source must be ready, then the policy's `credential_get`.
pub fn get(ctx: &Ctx, p: GetParams) -> Result<GetReply, ApiError> {
    if p.id.is_empty() || p.id.len() > MAX_ID_BYTES {
        return Err(ApiError::invalid_params(format!(
            "\"id\" must be the id of a search result (1 to {MAX_ID_BYTES} bytes)."
        )));
    }
    let provider = provider_for(ctx, &p.source)?;
    // Checked before the approval so nobody is asked to approve what cannot succeed.
    provider.ready(ctx)?;
    ctx.state.gate().require(ctx, CREDENTIAL_GET.name)?;
    let c: Credential = provider.get(ctx, &p.id)?;
    let otp_code = (!c.otp.trim().is_empty()).then(|| match OtpAuth::parse(&c.otp) {
        Ok(o) => serde_json::to_value(o.code_now()).expect("codes serialize"),
        Err(e) => json!({"error": e.to_string()}),
    });
    Ok(GetReply {
        credential: CredentialView {
            source: c.source.clone(),
            id: c.id.clone(),
            name: c.name.clone(),
            user: c.user.clone(),
            password: c.password.clone(),
            urls: c.urls.clone(),
            notes: c.notes.clone(),
            has_otp: !c.otp.is_empty(),
        },
        otp_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Shared;
    use crate::config::{Config, Paths};
    use crate::credentials::fixture::{Behaviour, FixtureSource};
    use crate::credentials::register_provider;

    struct Panics;

    impl CredentialProvider for Panics {
        fn source(&self) -> &str {
            "panics"
        }
        fn ready(&self, _: &Ctx) -> Result<(), SourceError> {
            Ok(())
        }
        fn search(&self, _: &Ctx, _: &Lookup, _: usize) -> Result<Found, SourceError> {
            panic!("a provider bug")
        }
        fn get(&self, _: &Ctx, _: &str) -> Result<Credential, SourceError> {
            panic!("a provider bug")
        }
    }

    fn entry(id: &str, name: &str, url: &str) -> Credential {
        let mut c = Credential::default();
        c.id = id.into();
        c.name = name.into();
        c.password = format!("pw-{id}");
        c.urls = vec![url.into()];
        c
    }

    fn shared(extra: Vec<Arc<dyn CredentialProvider>>) -> Arc<Shared> {
        let mut reg = Registry::new(Paths::under(std::path::Path::new("/nonexistent")), {
            Config::default().with_section(
                "credentials",
                &Settings {
                    search_timeout_ms: Some(30_000),
                    ..Default::default()
                },
            )
        });
        start(&mut reg).unwrap();
        for p in extra {
            register_provider(&mut reg, p);
        }
        Arc::new(reg.finish())
    }

    fn params(url: &str, offset: usize, limit: usize) -> SearchParams {
        SearchParams {
            url: Some(url.into()),
            query: None,
            offset: Some(offset),
            limit: Some(limit),
        }
    }

    #[test]
    fn a_panicking_source_is_an_error_status_not_a_failed_search() {
        let a = FixtureSource {
            source: "a".into(),
            behaviour: Behaviour::Ok,
            entries: vec![
                entry("1", "Zed", "https://x.example/"),
                entry("2", "Amy", "https://x.example/"),
            ],
        };
        let ctx = Ctx::new(shared(vec![Arc::new(Panics), Arc::new(a)]));
        let r = search(&ctx, params("https://x.example/login", 0, 10)).unwrap();
        let names: Vec<&str> = r.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["Amy", "Zed"]);
        assert_eq!(r.sources[0].status, SourceState::Error);
        assert_eq!(r.sources[0].error.as_ref().unwrap()["code"], "internal");
        assert_eq!(r.sources[1].status, SourceState::Ok);
    }

    #[test]
    fn pages_of_the_merged_list_are_exact() {
        let mk = |s: &str, names: &[&str]| FixtureSource {
            source: s.into(),
            behaviour: Behaviour::Ok,
            entries: names
                .iter()
                .map(|n| entry(n, n, "https://x.example"))
                .collect(),
        };
        let ctx = Ctx::new(shared(vec![
            Arc::new(mk("a", &["a1", "c1", "e1"])),
            Arc::new(mk("b", &["b1", "d1", "f1"])),
        ]));
        let mut seen = Vec::new();
        let mut offset = Some(0);
        while let Some(o) = offset {
            let r = search(&ctx, params("x.example", o, 2)).unwrap();
            assert_eq!(r.total, 6);
            seen.extend(r.items.iter().map(|i| i.id.clone()));
            offset = r.next_offset;
        }
        assert_eq!(seen, ["a1", "b1", "c1", "d1", "e1", "f1"]);
    }

    #[test]
    fn a_cancelled_request_stops_waiting_for_slow_sources() {
        let slow = FixtureSource {
            source: "slow".into(),
            behaviour: Behaviour::Hang,
            entries: vec![],
        };
        let ctx = Ctx::new(shared(vec![Arc::new(slow)]));
        ctx.cancel.cancel();
        let e = search(&ctx, params("x.example", 0, 2)).unwrap_err();
        assert_eq!(e.code, "cancelled");
    }
}
