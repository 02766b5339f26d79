//! Searching PassWeaver by a web address (spec C.8): its full-text index keeps a dotted host as
//! one term, so `intranet example` misses an item whose metadata is `intranet.example.com`. We
//! search by the host and by its first label separately (and by the registrable domain), merge,
//! then rank by the URL inside each item's data. Pure.

use url::Url;

/// How well an item's URL matches the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    /// Only the text search matched (title, metadata or folder name).
    Text,
    /// The same registrable domain (`a.example.com` for `b.example.com`).
    Domain,
    /// The same host (a leading `www.` ignored).
    Host,
}

impl Match {
    pub fn as_str(self) -> &'static str {
        match self {
            Match::Text => "text",
            Match::Domain => "domain",
            Match::Host => "host",
        }
    }
}

/// The host of a URL or a bare host name, lower-case, without a leading `www.`.
pub fn host_of(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let parsed = Url::parse(s)
        .ok()
        .filter(|u| u.host_str().is_some())
        .or_else(|| Url::parse(&format!("https://{s}")).ok())?;
    let host = parsed
        .host_str()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    (!host.is_empty()).then_some(host)
}

fn registrable(host: &str) -> Option<String> {
    psl::domain_str(host).map(str::to_owned)
}

fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[')
}

/// The searches to run for a page: the host, its first label, and its registrable domain
/// (each alone: words of one search must all match).
pub fn queries(host: &str) -> Vec<String> {
    let mut out = vec![host.to_owned()];
    if !is_ip(host) {
        if let Some((first, _)) = host.split_once('.') {
            out.push(first.to_owned());
        }
        if let Some(d) = registrable(host) {
            out.push(d);
        }
    }
    out.retain(|q| !q.is_empty());
    let mut seen = std::collections::HashSet::new();
    out.retain(|q| seen.insert(q.clone()));
    out
}

/// How an item whose data holds `item_url` (or, failing that, whose metadata or title holds a
/// host) matches a page on `page_host`.
pub fn rank(page_host: &str, item_url: &str, metadata: &str, title: &str) -> Match {
    let best = |candidate: &str| -> Match {
        let Some(h) = host_of(candidate) else {
            return Match::Text;
        };
        if h == page_host {
            Match::Host
        } else if !is_ip(&h)
            && !is_ip(page_host)
            && registrable(&h).is_some_and(|d| Some(d) == registrable(page_host))
        {
            Match::Domain
        } else {
            Match::Text
        }
    };
    let from_url = if item_url.trim().is_empty() {
        Match::Text
    } else {
        best(item_url)
    };
    if from_url > Match::Text {
        return from_url;
    }
    metadata
        .split_whitespace()
        .chain(title.split_whitespace())
        .filter(|w| w.contains('.'))
        .map(best)
        .max()
        .unwrap_or(Match::Text)
}

/// A free-text query made safe for PassWeaver's `to_tsquery` (which fails on its operators):
/// operator characters become spaces, words are kept.
pub fn clean_query(q: &str) -> String {
    q.chars()
        .map(|c| {
            if c.is_control() || "&|!():*'\\<>\"".contains(c) {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host_of("https://Intranet.Example.com/login?x=1").as_deref(),
            Some("intranet.example.com")
        );
        assert_eq!(host_of("www.example.com").as_deref(), Some("example.com"));
        assert_eq!(
            host_of("http://127.0.0.1:8080/").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(host_of(""), None);
        assert_eq!(host_of("   "), None);
    }

    #[test]
    fn queries_are_host_first_label_and_domain() {
        assert_eq!(
            queries("intranet.example.com"),
            ["intranet.example.com", "intranet", "example.com"]
        );
        assert_eq!(queries("example.com"), ["example.com", "example"]);
        assert_eq!(queries("localhost"), ["localhost"]);
        assert_eq!(queries("10.0.0.7"), ["10.0.0.7"]);
    }

    #[test]
    fn ranking_prefers_the_url_in_the_data() {
        let h = "intranet.example.com";
        assert_eq!(
            rank(h, "https://intranet.example.com/login", "", ""),
            Match::Host
        );
        assert_eq!(rank(h, "https://mail.example.com", "", ""), Match::Domain);
        assert_eq!(rank(h, "https://intranet.other.org", "", ""), Match::Text);
        assert_eq!(rank(h, "", "intranet.example.com", ""), Match::Host);
        assert_eq!(rank(h, "not a url at all", "", "Intranet"), Match::Text);
        // The URL in the data wins over a misleading metadata.
        assert_eq!(
            rank(h, "https://intranet.example.com", "other.org", ""),
            Match::Host
        );
        assert!(Match::Host > Match::Domain && Match::Domain > Match::Text);
    }

    #[test]
    fn query_operators_are_removed() {
        assert_eq!(clean_query("a & b | !c:*"), "a b c");
        assert_eq!(
            clean_query("  intranet.example.com "),
            "intranet.example.com"
        );
        assert_eq!(clean_query("()'"), "");
    }
}
