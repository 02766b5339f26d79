import { test } from "node:test";
import assert from "node:assert/strict";
await import("../../src/fill/fill.js");
const { classify, scoreGroup, visibleVerdict } = globalThis.__passbridgeFill;

test("fields are classified from type, autocomplete, names and labels", () => {
  assert.equal(classify({ type: "password" }), "password");
  assert.equal(classify({ type: "password", autocomplete: "current-password" }), "password");
  assert.equal(classify({ type: "password", autocomplete: "new-password" }), "new-password");
  assert.equal(classify({ type: "password", name: "confirm_password" }), "new-password");
  assert.equal(classify({ type: "password", id: "new-pass" }), "new-password");
  assert.equal(classify({ type: "email" }), "username");
  assert.equal(classify({ type: "text", autocomplete: "username" }), "username");
  assert.equal(classify({ type: "text", name: "login" }), "username");
  assert.equal(classify({ type: "", label: "E-Mail address" }), "username");
  assert.equal(classify({ type: "search", name: "q" }), "search");
  assert.equal(classify({ type: "text", name: "q" }), "search");
  assert.equal(classify({ type: "text", placeholder: "Search products" }), "search");
  assert.equal(classify({ type: "text", autocomplete: "one-time-code" }), "otp");
  assert.equal(classify({ type: "text", name: "totp" }), "otp");
  assert.equal(classify({ type: "text", name: "city" }), "other");
  assert.equal(classify({ type: "checkbox", name: "remember_login" }), "other");
});

test("the login form wins over a search box, a sign-up and a password change", () => {
  const login = scoreGroup(["username", "password"], "Sign in");
  const search = scoreGroup(["search"]);
  const change = scoreGroup(["password", "new-password", "new-password"], "Change password");
  const signup = scoreGroup(["username", "new-password", "new-password"], "Create account");
  assert.ok(login.score > 0);
  assert.equal(login.username, 0);
  assert.equal(login.password, 1);
  assert.ok(search.score <= 0);
  assert.ok(signup.score <= 0);
  assert.ok(change.score < login.score);
});

test("the user name is the username-like field before the password", () => {
  const g = scoreGroup(["username", "other", "username", "password"]);
  assert.equal(g.username, 2);
  assert.equal(g.password, 3);
  // No username-like field: the text field right before the password.
  assert.equal(scoreGroup(["other", "password"]).username, 0);
});

test("step one of a two-step login is a lone user name field; a newsletter box is not", () => {
  const step1 = scoreGroup(["username"], "Sign in Next");
  assert.ok(step1.score > 0);
  assert.equal(step1.password, -1);
  assert.equal(step1.username, 0);
  assert.ok(scoreGroup(["username"], "Subscribe to our newsletter").score <= 0);
  assert.ok(scoreGroup(["username", "other", "username"]).score <= 0);
});

const seen = { disabled: false, readOnly: false, width: 200, height: 24, hidden: false, opacity: 1, cx: 100, cy: 50, vw: 800, vh: 600, onTop: true };

test("only visible, unobscured, enabled fields are fillable", () => {
  assert.equal(visibleVerdict(seen), "ok");
  assert.equal(visibleVerdict({ ...seen, width: 1 }), "too_small");
  assert.equal(visibleVerdict({ ...seen, height: 0 }), "too_small");
  assert.equal(visibleVerdict({ ...seen, hidden: true }), "hidden");
  assert.equal(visibleVerdict({ ...seen, opacity: 0.01 }), "transparent");
  assert.equal(visibleVerdict({ ...seen, opacity: 0.49 }), "transparent");
  assert.equal(visibleVerdict({ ...seen, cx: -20 }), "off_screen");
  assert.equal(visibleVerdict({ ...seen, cy: 900 }), "off_screen");
  assert.equal(visibleVerdict({ ...seen, onTop: false }), "covered");
  assert.equal(visibleVerdict({ ...seen, disabled: true }), "disabled");
  assert.equal(visibleVerdict({ ...seen, readOnly: true }), "disabled");
});
