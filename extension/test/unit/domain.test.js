import { test } from "node:test";
import assert from "node:assert/strict";
import { site, compare, rank, framePairKey } from "../../src/shared/domain.js";

const verdict = (cred, page) => compare(cred, page).verdict;

test("registrable domain comes from the public suffix list, private suffixes included", () => {
  assert.equal(site("https://login.example.co.uk/x").domain, "example.co.uk");
  assert.equal(site("https://a.b.example.com").domain, "example.com");
  assert.equal(site("https://alice.github.io").domain, "alice.github.io");
  assert.equal(site("http://127.0.0.1:8080").domain, "127.0.0.1");
  assert.equal(site("http://localhost:3000").domain, "localhost");
  assert.equal(site("https://[::1]:8443/").host, "[::1]");
  assert.equal(site("https://EXAMPLE.com./").host, "example.com");
});

test("a credential without a scheme is read as https; non-web addresses are no site", () => {
  assert.equal(site("github.com").scheme, "https");
  assert.equal(site("github.com").schemeGiven, false);
  for (const bad of ["", "   ", "javascript:alert(1)", "file:///etc/passwd", "ftp://example.com", "chrome://settings", null, 42]) {
    assert.equal(site(bad), null, String(bad));
  }
});

test("same host and a parent domain match; the parent's subdomains all do", () => {
  assert.equal(verdict("https://example.com", "https://example.com/login"), "match");
  assert.equal(verdict("example.com", "https://accounts.example.com/"), "match");
  assert.equal(verdict("https://example.com", "https://a.b.example.com/"), "match");
  assert.equal(verdict("https://accounts.example.com", "https://accounts.example.com/x"), "match");
});

test("sibling subdomains, a child of the page, and other domains do not match", () => {
  assert.equal(verdict("https://a.example.com", "https://b.example.com"), "mismatch");
  assert.equal(verdict("https://login.example.com", "https://example.com"), "mismatch");
  assert.equal(verdict("https://example.com", "https://example.com.evil.net"), "mismatch");
  assert.equal(verdict("https://example.com", "https://notexample.com"), "mismatch");
  assert.equal(verdict("https://alice.github.io", "https://bob.github.io"), "mismatch");
  assert.equal(verdict("https://github.io", "https://bob.github.io"), "mismatch");
  assert.equal(verdict("https://co.uk", "https://example.co.uk"), "mismatch");
});

test("ports: an explicit port must be equal; no port means the scheme's default", () => {
  assert.equal(verdict("http://127.0.0.1:8080", "http://127.0.0.1:8080/login"), "match");
  assert.equal(verdict("http://127.0.0.1:8080", "http://127.0.0.1:9090/login"), "mismatch");
  assert.equal(verdict("https://example.com", "https://example.com:8443/"), "mismatch");
  assert.equal(verdict("https://example.com:443", "https://example.com/"), "match");
  assert.equal(verdict("http://127.0.0.1", "http://127.0.0.2"), "mismatch");
});

test("an https credential on an http page needs a confirmation; http on https does not", () => {
  assert.equal(verdict("https://example.com", "http://example.com/"), "insecure");
  assert.equal(verdict("example.com", "http://www.example.com/"), "insecure");
  assert.equal(verdict("http://example.com", "https://example.com/"), "match"); // default port of each scheme
  assert.equal(verdict("http://example.com:8080", "https://example.com:8080/"), "match");
  assert.equal(verdict("https://shop.test:9000", "http://shop.test:9000/"), "insecure");
});

test("pages and credentials without a web address are invalid, never a match", () => {
  assert.equal(verdict("", "https://example.com"), "invalid");
  assert.equal(verdict("https://example.com", "about:blank"), "invalid");
  assert.equal(verdict("https://example.com", "chrome-extension://abc/popup.html"), "invalid");
});

test("ranking: exact host, then parent, then https-on-http, then the rest, stable", () => {
  const items = [
    { n: 1, website: "https://other.org" },
    { n: 2, website: "https://example.com" },
    { n: 3, website: "https://login.example.com" },
    { n: 4, website: "https://example.com/other-path" },
  ];
  assert.deepEqual(rank(items, "https://login.example.com/").map((i) => i.n), [3, 2, 4, 1]);
});

test("frame consent is kept per ordered pair of origins", () => {
  assert.notEqual(framePairKey("https://a.com", "https://b.com"), framePairKey("https://b.com", "https://a.com"));
});
