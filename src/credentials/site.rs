//! Which credentials fit a web page: by host, then by registrable domain (Public Suffix List),
//! then by name. Shared by every credential provider and by `credentials.search`. Pure.
//!
//! A vault runs this for every entry when it is unlocked, so the common URL shape is parsed
//! without the `url` crate and words are kept as hashes: few allocations per entry.

use url::{Host, Url};
use zeroize::Zeroize;

/// Longest URL we look at; longer input is not a page address anyone types or sends.
const MAX_URL_LEN: usize = 4096;

/// Where a URL points: its host (lowercase ASCII, without a leading `www.`) and its
/// registrable domain (`login.example.co.uk` → `example.co.uk`; an IP or `localhost` is its
/// own), which is always a suffix of the host.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Site {
    pub host: String,
    domain_at: usize,
}

impl Site {
    pub fn domain(&self) -> &str {
        &self.host[self.domain_at..]
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.host.zeroize();
    }
}

/// The host of the usual `http(s)://host[:port]/…` or `host/…`, as written (not yet
/// lowercased), when it is plain ASCII letters, digits, `-` and `.`. None for anything else:
/// the `url` crate decides those (IDNA, IP addresses, user info, odd characters).
fn quick_host_span(t: &str) -> Option<&str> {
    let rest = match t.find("://") {
        Some(i) if t[..i].eq_ignore_ascii_case("https") || t[..i].eq_ignore_ascii_case("http") => {
            &t[i + 3..]
        }
        Some(_) => return None,
        None => t,
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if port.is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_err()) {
        return None;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let plain = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let labels_ok = host
        .split('.')
        .all(|l| !l.is_empty() && !l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")));
    // A last label that is a number makes the host an IPv4 address to the URL standard.
    let last = host.rsplit('.').next().unwrap_or(host);
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    (plain && labels_ok && !numeric).then_some(host)
}

#[cfg(test)]
fn quick_host(t: &str) -> Option<String> {
    quick_host_span(t).map(str::to_ascii_lowercase)
}

/// The host as the URL standard sees it, and whether it is an IP address.
fn standard_host(t: &str) -> Option<(String, bool)> {
    let url = if t.contains("://") {
        Url::parse(t)
    } else {
        Url::parse(&format!("https://{t}"))
    }
    .ok()?;
    Some(match url.host()? {
        Host::Domain(d) => (d.trim_end_matches('.').to_ascii_lowercase(), false),
        Host::Ipv4(ip) => (ip.to_string(), true),
        Host::Ipv6(ip) => (format!("[{ip}]"), true),
    })
}

/// A host as [`host_text`] finds it: borrowed from the input (plain ASCII, still to be
/// lowercased) or worked out by the URL standard.
pub enum HostText<'a> {
    Plain(&'a str),
    Standard { host: String, is_ip: bool },
}

impl HostText<'_> {
    /// The part [`site_of`] keeps: a leading `www.` goes when more labels follow.
    fn kept(&self) -> &str {
        let h = match self {
            HostText::Plain(h) => h,
            HostText::Standard { host, .. } => host.as_str(),
        };
        match h.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("www.") && h[4..].contains('.') => &h[4..],
            _ => h,
        }
    }
    /// Length in bytes of the host [`site_of`] keeps.
    pub fn len(&self) -> usize {
        self.kept().len()
    }
    pub fn is_empty(&self) -> bool {
        self.kept().is_empty()
    }
    /// Appends the host [`site_of`] keeps (lowercase) to `out` and returns the length of its
    /// registrable domain. Appends at most [`HostText::len`] bytes.
    pub fn push_to(&self, out: &mut String) -> usize {
        let start = out.len();
        let kept = self.kept();
        out.push_str(kept);
        let host = &mut out[start..];
        host.make_ascii_lowercase();
        match self {
            HostText::Standard { is_ip: true, .. } => kept.len(),
            _ => psl::domain_str(host).map_or(kept.len(), str::len),
        }
    }
}

/// The host of a page URL or a stored website, before [`site_of`] lowercases it and drops
/// `www.`; None where [`site_of`] finds no site. Allocates only for unusual addresses.
pub fn host_text(input: &str) -> Option<HostText<'_>> {
    let t = input.trim();
    if t.is_empty() || t.len() > MAX_URL_LEN {
        return None;
    }
    let h = match quick_host_span(t) {
        Some(h) => HostText::Plain(h),
        None => {
            let (host, is_ip) = standard_host(t)?;
            HostText::Standard { host, is_ip }
        }
    };
    (!h.is_empty()).then_some(h)
}

/// Parses a page URL or a website as the phone stores it (`example.com`, `https://…`).
pub fn site_of(input: &str) -> Option<Site> {
    let h = host_text(input)?;
    let mut host = String::with_capacity(h.len());
    let domain_len = h.push_to(&mut host);
    Some(Site {
        domain_at: host.len() - domain_len,
        host,
    })
}

/// The key under which a choice for this site is remembered: its registrable domain,
/// like the official extension's per-site index.
pub fn site_key(website: &str) -> Option<String> {
    site_of(website).map(|s| s.domain().to_owned())
}

/// The hash of the search tables: 64-bit FNV-1a of the UTF-8 bytes. The vault stores these
/// hashes (format 3), so the function is fixed by docs/vault-format.md, unlike std's
/// `DefaultHasher`, which may change between Rust releases. Equal strings, equal hashes; a
/// table hit is confirmed on the entry (domains) or is a name-word match by design.
pub fn text_hash(s: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    s.bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// How well an entry fits a query, best first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    /// Same host (`www.` aside).
    Host,
    /// Same registrable domain, another host (`login.example.com` for `example.com`).
    Domain,
    /// A word of the name, or a one-word website, is the site's name (`My GitHub` or website
    /// `github` for `github.com`): entries saved without a proper website.
    Name,
    /// A text search (not a site) found the words in the name, user or web address.
    Text,
}

impl Match {
    pub fn as_str(self) -> &'static str {
        match self {
            Match::Host => "host",
            Match::Domain => "domain",
            Match::Name => "name",
            Match::Text => "text",
        }
    }
}

pub struct Query {
    pub site: Site,
    /// Hash of the domain's own label (`github` in `github.com`), if long enough to mean
    /// something.
    label: Option<u64>,
}

impl Query {
    pub fn parse(url: &str) -> Option<Self> {
        let site = site_of(url)?;
        let domain = site.domain();
        let label = psl::suffix_str(domain)
            .and_then(|suffix| domain.strip_suffix(suffix))
            .and_then(|rest| rest.strip_suffix('.'))
            .map(|rest| rest.rsplit('.').next().unwrap_or(rest))
            .filter(|l| l.chars().count() >= 3)
            .map(text_hash);
        Some(Self { site, label })
    }

    /// Hash of the site's own label, which [`Match::Name`] looks for among an entry's words.
    pub fn label(&self) -> Option<u64> {
        self.label
    }

    /// How well something with this site and these [`words`] fits, if at all.
    pub fn rank<C: Candidate + ?Sized>(&self, entry: &C) -> Option<Match> {
        self.rank_host(entry.host_and_domain(), |w| entry.has_word(w))
    }

    /// [`Query::rank`] for a parsed site and the sorted hashes of [`words`].
    pub fn rank_parts(&self, site: Option<&Site>, words: &[u64]) -> Option<Match> {
        self.rank_host(site.map(|s| (s.host.as_str(), s.domain())), |w| {
            words.binary_search(&w).is_ok()
        })
    }

    /// [`Query::rank`] for a site given as its host and registrable domain, and a test of
    /// whether the name has a word with the given hash.
    fn rank_host(
        &self,
        site: Option<(&str, &str)>,
        has_word: impl Fn(u64) -> bool,
    ) -> Option<Match> {
        if let Some((host, domain)) = site {
            if host == self.site.host {
                return Some(Match::Host);
            }
            if domain == self.site.domain() {
                return Some(Match::Domain);
            }
        }
        match self.label {
            Some(l) if has_word(l) => Some(Match::Name),
            _ => None,
        }
    }
}

/// Something a [`Query`] can rank: its parsed site (host and registrable domain, as in
/// [`Site`]) and the hashes of its [`words`].
pub trait Candidate {
    fn host_and_domain(&self) -> Option<(&str, &str)>;
    /// Whether one of its [`words`] has the hash `w`.
    fn has_word(&self, w: u64) -> bool;
}

/// A name and website parsed for ranking, for providers without an index of their own.
pub struct Parsed {
    pub site: Option<Site>,
    pub words: Vec<u64>,
}

impl Parsed {
    pub fn new(name: &str, website: &str) -> Self {
        let site = site_of(website);
        let mut name_lc = name.to_lowercase();
        let words = words(&name_lc, site.as_ref());
        name_lc.zeroize();
        Self { site, words }
    }
}

impl Candidate for Parsed {
    fn host_and_domain(&self) -> Option<(&str, &str)> {
        self.site.as_ref().map(|s| (s.host.as_str(), s.domain()))
    }
    fn has_word(&self, w: u64) -> bool {
        self.words.binary_search(&w).is_ok()
    }
}

/// Hashes of the lowercase words of a name (letters and digits, at least 3 characters;
/// hyphenated words both whole and in parts), plus a website that is a single word.
pub fn words(name_lc: &str, site: Option<&Site>) -> Vec<u64> {
    let mut words = Vec::new();
    words_into(name_lc, site.map(|s| s.host.as_str()), &mut words);
    words
}

/// [`words`] into `out` (cleared first), for a caller that reuses one buffer; `host` is the
/// site's host.
pub fn words_into(name_lc: &str, host: Option<&str>, out: &mut Vec<u64>) {
    out.clear();
    let mut add = |w: &str| {
        if w.chars().count() >= 3 {
            out.push(text_hash(w));
        }
    };
    for w in name_lc.split(|c: char| !(c.is_alphanumeric() || c == '-')) {
        add(w);
        if w.contains('-') {
            w.split('-').for_each(&mut add);
        }
    }
    if let Some(h) = host.filter(|h| !h.contains(['.', '[', ':'])) {
        add(h);
    }
    out.sort_unstable();
    out.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(h: &str, d: &str) -> Option<Site> {
        assert!(h.ends_with(d));
        Some(Site {
            host: h.into(),
            domain_at: h.len() - d.len(),
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

    /// The vault stores these hashes (format 3): the function must stay 64-bit FNV-1a.
    #[test]
    fn text_hash_is_fnv_1a_64() {
        assert_eq!(text_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(text_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(text_hash("foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(
            text_hash("github.com"),
            text_hash(&String::from("github.com"))
        );
    }

    fn indexed(name: &str, website: &str) -> Parsed {
        Parsed::new(name, website)
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
        assert!(
            Match::Host < Match::Domain && Match::Domain < Match::Name && Match::Name < Match::Text
        );
    }

    #[test]
    fn quick_host_agrees_with_the_url_standard() {
        let inputs = [
            "https://GitHub.com/x",
            "http://a-b.example:8080/",
            "github.com",
            "github.com:443/x",
            "https://example.com./",
            "https://xn--bcher-kva.example",
            "https://0x7f.1/",
            "https://example.123/",
            "https://a..b/",
            "https://user@example.com/",
            "https://exa\tmple.com",
            "https://example.com:99999/",
            "ftp://example.com",
            "https://example.com\\path",
            "https://127.0.0.1/",
            "HTTP://WWW.EXAMPLE.COM",
            "https://bücher.example",
            "é",
            "ü.x",
            "https://ééé.example",
            "xé.ü",
            "https://é:1/",
            "https://€€.example",
            "x.€€",
            "https://.example.com",
            "https://example.com:/x",
            "https://ex_ample.com",
        ];
        for t in inputs {
            if let Some(q) = quick_host(t) {
                assert_eq!(Some(q), standard_host(t).map(|h| h.0), "{t}");
            }
        }
        assert_eq!(
            quick_host("https://GitHub.com/x").as_deref(),
            Some("github.com")
        );
        assert_eq!(quick_host("https://0x7f.1/"), None);
        assert_eq!(quick_host("https://xn--bcher-kva.example"), None);
    }

    proptest::proptest! {
        #[test]
        fn quick_host_never_disagrees(t in "(https?://)?[a-zA-Z0-9.:@_%/?#é€-]{0,30}") {
            if let Some(q) = quick_host(&t) {
                proptest::prop_assert_eq!(Some(q), standard_host(&t).map(|h| h.0));
            }
        }
    }
}
