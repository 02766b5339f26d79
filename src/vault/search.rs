//! Which stored credentials fit a web page: by host, then by registrable domain (Public
//! Suffix List), then by name. Pure.

use super::format::Entry;
use url::{Host, Url};
use zeroize::Zeroize;

/// Longest URL we look at; longer input is not a page address anyone types or sends.
const MAX_URL_LEN: usize = 4096;

/// Where a URL points: its host (lowercase ASCII, without a leading `www.`) and its
/// registrable domain (`login.example.co.uk` → `example.co.uk`; an IP or `localhost` is its own).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Site {
    pub host: String,
    pub domain: String,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.host.zeroize();
        self.domain.zeroize();
    }
}

/// Parses a page URL or a website as the phone stores it (`example.com`, `https://…`).
pub fn site_of(input: &str) -> Option<Site> {
    let t = input.trim();
    if t.is_empty() || t.len() > MAX_URL_LEN {
        return None;
    }
    let url = if t.contains("://") {
        Url::parse(t)
    } else {
        Url::parse(&format!("https://{t}"))
    }
    .ok()?;
    let (host, is_ip) = match url.host()? {
        Host::Domain(d) => (d.trim_end_matches('.').to_ascii_lowercase(), false),
        Host::Ipv4(ip) => (ip.to_string(), true),
        Host::Ipv6(ip) => (format!("[{ip}]"), true),
    };
    if host.is_empty() {
        return None;
    }
    let host = match host.strip_prefix("www.") {
        Some(rest) if rest.contains('.') => rest.to_owned(),
        _ => host,
    };
    let domain = if is_ip {
        host.clone()
    } else {
        psl::domain_str(&host).unwrap_or(&host).to_owned()
    };
    Some(Site { host, domain })
}

/// The key under which a choice for this site is remembered: its registrable domain,
/// like the official extension's per-site index.
pub fn site_key(website: &str) -> Option<String> {
    site_of(website).map(|s| s.domain.clone())
}

/// How well an entry fits a query, best first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Match {
    /// Same host (`www.` aside).
    Host,
    /// Same registrable domain, another host (`login.example.com` for `example.com`).
    Domain,
    /// A word of the name, or a one-word website, is the site's name (`My GitHub` or website
    /// `github` for `github.com`): entries saved without a proper website.
    Name,
}

impl Match {
    pub fn as_str(self) -> &'static str {
        match self {
            Match::Host => "host",
            Match::Domain => "domain",
            Match::Name => "name",
        }
    }
}

pub struct Query {
    pub site: Site,
    /// The domain's own label (`github` in `github.com`), if long enough to mean something.
    label: Option<String>,
}

impl Query {
    pub fn parse(url: &str) -> Option<Self> {
        let site = site_of(url)?;
        let label = psl::suffix_str(&site.domain)
            .and_then(|suffix| site.domain.strip_suffix(suffix))
            .and_then(|rest| rest.strip_suffix('.'))
            .map(|rest| rest.rsplit('.').next().unwrap_or(rest).to_owned())
            .filter(|l| l.chars().count() >= 3);
        Some(Self { site, label })
    }

    /// The site's own label, which [`Match::Name`] looks for among an entry's words.
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    pub fn rank(&self, entry: &Indexed) -> Option<Match> {
        if let Some(s) = &entry.site {
            if s.host == self.site.host {
                return Some(Match::Host);
            }
            if s.domain == self.site.domain {
                return Some(Match::Domain);
            }
        }
        match &self.label {
            Some(l) if entry.words.binary_search(l).is_ok() => Some(Match::Name),
            _ => None,
        }
    }
}

/// Lowercase words of a name (letters and digits, at least 3; hyphenated words also whole),
/// plus a website that is a single word, sorted and unique.
fn words_of(name_lc: &str, site: Option<&Site>) -> Vec<String> {
    let mut words = Vec::new();
    for w in name_lc.split(|c: char| !(c.is_alphanumeric() || c == '-')) {
        words.push(w);
        if w.contains('-') {
            words.extend(w.split('-'));
        }
    }
    let mut words: Vec<String> = words
        .into_iter()
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_owned)
        .collect();
    if let Some(s) = site.filter(|s| !s.host.contains(['.', '[', ':'])) {
        words.push(s.host.clone());
    }
    words.sort_unstable();
    words.dedup();
    words
}

/// A stored entry with what search needs, worked out once when the vault is read.
#[derive(Clone)]
pub struct Indexed {
    pub entry: Entry,
    pub site: Option<Site>,
    /// The name in lowercase, for sorting.
    pub name_lc: String,
    /// Sorted words for [`Match::Name`].
    pub words: Vec<String>,
}

impl Indexed {
    pub fn new(entry: Entry) -> Self {
        let site = site_of(&entry.credential.website);
        let name_lc = entry.credential.name.to_lowercase();
        Self {
            words: words_of(&name_lc, site.as_ref()),
            site,
            name_lc,
            entry,
        }
    }
    pub fn uid(&self) -> &str {
        self.entry.uid()
    }
}

impl Drop for Indexed {
    fn drop(&mut self) {
        self.name_lc.zeroize();
        self.words.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::services::Credential;

    fn site(h: &str, d: &str) -> Option<Site> {
        Some(Site {
            host: h.into(),
            domain: d.into(),
        })
    }

    #[test]
    fn sites_from_urls_and_stored_websites() {
        let cases = [
            ("https://github.com/login", site("github.com", "github.com")),
            ("github.com", site("github.com", "github.com")),
            (
                "HTTPS://WWW.GitHub.COM./x?y#z",
                site("github.com", "github.com"),
            ),
            (
                "https://gist.github.com",
                site("gist.github.com", "github.com"),
            ),
            (
                "http://login.bbc.co.uk:8080/",
                site("login.bbc.co.uk", "bbc.co.uk"),
            ),
            (
                "https://user:pw@example.org/",
                site("example.org", "example.org"),
            ),
            ("https://www.com", site("www.com", "www.com")),
            (
                "http://192.168.1.5:8787/",
                site("192.168.1.5", "192.168.1.5"),
            ),
            ("http://[::1]:80/", site("[::1]", "[::1]")),
            ("http://localhost:3000", site("localhost", "localhost")),
            (
                "https://bücher.example",
                site("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ),
            (
                "https://foo.github.io",
                site("foo.github.io", "foo.github.io"),
            ),
            ("", None),
            ("   ", None),
            ("My bank", None),
            ("https://", None),
            ("file:///etc/passwd", None),
        ];
        for (input, want) in cases {
            assert_eq!(site_of(input), want, "{input}");
        }
        assert_eq!(site_of(&"a".repeat(MAX_URL_LEN + 1)), None);
        assert_eq!(
            site_key("https://login.github.com/x").as_deref(),
            Some("github.com")
        );
    }

    fn indexed(name: &str, website: &str) -> Indexed {
        let mut credential = Credential::default();
        credential.uid = Some(name.into());
        credential.name = name.into();
        credential.website = website.into();
        Indexed::new(Entry {
            credential,
            created_ms: 0,
            updated_ms: 0,
        })
    }

    #[test]
    fn ranking_tiers() {
        let q = Query::parse("https://www.github.com/login").unwrap();
        assert_eq!(
            q.rank(&indexed("a", "https://github.com")),
            Some(Match::Host)
        );
        assert_eq!(q.rank(&indexed("b", "github.com/other")), Some(Match::Host));
        assert_eq!(
            q.rank(&indexed("c", "https://gist.github.com")),
            Some(Match::Domain)
        );
        assert_eq!(q.rank(&indexed("My GitHub", "")), Some(Match::Name));
        assert_eq!(
            q.rank(&indexed("GitHub (work)", "https://ghe.corp")),
            Some(Match::Name)
        );
        assert_eq!(q.rank(&indexed("Code", "github")), Some(Match::Name));
        assert_eq!(q.rank(&indexed("my-github-login", "")), Some(Match::Name));
        assert_eq!(q.rank(&indexed("GitHubWork", "")), None);
        assert_eq!(q.rank(&indexed("d", "https://github.io")), None);
        assert_eq!(q.rank(&indexed("e", "https://notgithub.com")), None);
        assert_eq!(q.rank(&indexed("f", "")), None);
        // Registrable domains follow the PSL, not "the last two labels".
        let q = Query::parse("https://alice.github.io").unwrap();
        assert_eq!(q.rank(&indexed("g", "https://bob.github.io")), None);
        let q = Query::parse("https://shop.bbc.co.uk").unwrap();
        assert_eq!(
            q.rank(&indexed("h", "https://bbc.co.uk")),
            Some(Match::Domain)
        );
        assert_eq!(q.rank(&indexed("i", "https://other.co.uk")), None);
        // Short labels do not match names: "x" would match nearly everything.
        let q = Query::parse("https://x.com").unwrap();
        assert_eq!(q.rank(&indexed("X", "")), None);
        let q = Query::parse("https://my-bank.example").unwrap();
        assert_eq!(q.rank(&indexed("My-Bank", "")), Some(Match::Name));
        assert!(Match::Host < Match::Domain && Match::Domain < Match::Name);
    }
}
