//! Searching PassWeaver by a web address (spec C.8): its full-text index keeps a dotted host as
//! one term, so `intranet example` misses an item whose metadata is `intranet.example.com`. We
//! search by the host and by its first label separately (and by the registrable domain), merge,
//! then rank by the URL inside each item's data with the shared site matching of
//! [`crate::credentials::site`]. Pure.

use crate::credentials::site::{self, Match, Query, Site};

/// The searches to run for a page: the host, its first label, and its registrable domain
/// (each alone: words of one search must all match).
pub fn queries(s: &Site) -> Vec<String> {
    let mut out = vec![s.host.clone()];
    let is_ip = s.host.starts_with('[') || s.host.parse::<std::net::Ipv4Addr>().is_ok();
    if !is_ip {
        if let Some((first, _)) = s.host.split_once('.') {
            out.push(first.to_owned());
        }
        out.push(s.domain().to_owned());
    }
    out.retain(|q| !q.is_empty());
    let mut seen = std::collections::HashSet::new();
    out.retain(|q| seen.insert(q.clone()));
    out
}

/// How an item fits the page: by the URL in its data, else by a host in its metadata, else by
/// its title's words ([`Match::Name`]); an item PassWeaver's text search found but that fits
/// none of these is still listed, last, as [`Match::Text`].
pub fn rank(q: &Query, item_url: &str, metadata: &str, title: &str) -> Match {
    let by_site = |candidate: &str| {
        let s = site::site_of(candidate)?;
        q.rank_parts(Some(&s), &[]).filter(|m| *m != Match::Name)
    };
    if let Some(m) = by_site(item_url) {
        return m;
    }
    if let Some(m) = metadata.split_whitespace().filter_map(by_site).min() {
        return m;
    }
    let title_lc = title.to_lowercase();
    q.rank_parts(None, &site::words(&title_lc, None))
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

    fn q(url: &str) -> Query {
        Query::parse(url).unwrap()
    }

    #[test]
    fn queries_are_host_first_label_and_domain() {
        let s = |u: &str| site::site_of(u).unwrap();
        assert_eq!(
            queries(&s("https://intranet.example.com/login")),
            ["intranet.example.com", "intranet", "example.com"]
        );
        assert_eq!(
            queries(&s("https://www.example.com")),
            ["example.com", "example"]
        );
        assert_eq!(queries(&s("http://localhost:8080")), ["localhost"]);
        assert_eq!(queries(&s("http://10.0.0.7/")), ["10.0.0.7"]);
    }

    #[test]
    fn ranking_prefers_the_url_in_the_data() {
        let page = q("https://intranet.example.com/login");
        assert_eq!(
            rank(&page, "https://intranet.example.com/x", "", ""),
            Match::Host
        );
        assert_eq!(
            rank(&page, "https://mail.example.com", "", ""),
            Match::Domain
        );
        assert_eq!(
            rank(&page, "https://intranet.other.org", "", ""),
            Match::Text
        );
        assert_eq!(rank(&page, "", "intranet.example.com", ""), Match::Host);
        assert_eq!(
            rank(&page, "not a url at all", "", "Example wiki"),
            Match::Name
        );
        assert_eq!(
            rank(&page, "https://intranet.example.com", "other.org", ""),
            Match::Host
        );
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
