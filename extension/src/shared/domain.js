// Which page may receive which credential. Pure: URLs in, verdicts out (test/unit/domain.test.js).
//
// The registrable domain ("eTLD+1") comes from the public suffix list through tldts, a maintained
// npm package whose single-file ES build is copied to src/vendor/ by `npm ci` (see
// scripts/vendor.js). Private suffixes count (github.io, blogspot.com): two people's pages under
// one of them are different sites.
import { parse } from "../vendor/tldts.js";

const DEFAULT_PORT = { "http:": "80", "https:": "443" };

/// A page or credential address as the parts that matter for matching, or null when it is not an
/// http(s) address. A credential saved without a scheme ("github.com") is taken as https, the safe
/// reading: an http page then needs a confirmation.
export function site(address) {
  if (typeof address !== "string" || address.trim() === "") return null;
  let text = address.trim();
  const explicitScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  if (!explicitScheme) text = `https://${text}`;
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (!(url.protocol in DEFAULT_PORT) || url.hostname === "") return null;
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  const info = parse(host, { allowPrivateDomains: true });
  // An IP address or a name without a registrable part (localhost, a bare suffix) is its own site.
  const domain = info.isIp || !info.domain ? host : info.domain;
  return {
    scheme: url.protocol.slice(0, -1),
    host,
    domain,
    // The port as written ("" when none was); the effective one for comparisons.
    explicitPort: url.port,
    port: url.port || DEFAULT_PORT[url.protocol],
    origin: url.origin,
    schemeGiven: explicitScheme,
  };
}

/// How a credential saved for `credentialAddress` relates to a page at `pageAddress`:
///   match     same host, or the credential's host is a parent of the page's (same registrable
///             domain), same port, and no downgrade from https to http;
///   insecure  as match, but the credential is for https and the page is http (ask, saying so);
///   mismatch  another registrable domain, a sibling subdomain, a child of the page's host, or
///             another port (ask first, naming both domains);
///   invalid   the page or the credential has no usable http(s) address (never fill).
export function compare(credentialAddress, pageAddress) {
  const page = site(pageAddress);
  const cred = site(credentialAddress);
  if (!page || !cred) return { verdict: "invalid", page, cred };
  const sameDomain = page.domain === cred.domain;
  const hostOk = page.host === cred.host || page.host.endsWith(`.${cred.host}`);
  // Without a port in the credential, the page must be on its scheme's default port; a credential
  // saved with a port matches that port only.
  const portOk = cred.explicitPort ? cred.explicitPort === page.port : page.port === DEFAULT_PORT[`${page.scheme}:`];
  const downgrade = cred.scheme === "https" && page.scheme === "http";
  let verdict;
  if (!sameDomain || !hostOk || !portOk) verdict = "mismatch";
  else if (downgrade) verdict = "insecure";
  else verdict = "match";
  return { verdict, page, cred, downgrade, exactHost: page.host === cred.host };
}

/// Credentials for a page, best first: exact host, then parent host, then the rest in the order the
/// host gave them (its own ranking). Stable, so equal entries keep the host's order.
export function rank(items, pageAddress, websiteOf = (i) => i.website) {
  const score = (item) => {
    const c = compare(websiteOf(item) ?? "", pageAddress);
    if (c.verdict === "match") return c.exactHost ? 0 : 1;
    if (c.verdict === "insecure") return 2;
    return 3;
  };
  return items
    .map((item, i) => ({ item, i, s: score(item) }))
    .sort((a, b) => a.s - b.s || a.i - b.i)
    .map((x) => x.item);
}

/// "origin A may have its cross-origin frame B filled": the key under which the person's consent
/// for that pair is remembered.
export function framePairKey(topOrigin, frameOrigin) {
  return `${topOrigin} > ${frameOrigin}`;
}
