import { test } from "node:test";
import assert from "node:assert/strict";
import { accountBackends, describeAccount, passmanSetup, passmanUnlock, passweaverSetup, passweaverSetupFields, passweaverSetupFromForm, passweaverLogin, passweaverPersonalUnlock, ACCOUNT_ACTIONS, FormError } from "../../src/shared/accounts.js";
import { sentence } from "../../src/shared/errors.js";

test("account sections appear only for the backends hello lists (with their status action)", () => {
  assert.deepEqual(accountBackends({ backends: ["anotherpass", "vault", "clarion"] }), []);
  assert.deepEqual(accountBackends({ backends: ["anotherpass", "passweaver", "vault", "passman"] }), ["passman", "passweaver"]);
  assert.deepEqual(accountBackends({ backends: [{ name: "passman" }] }), ["passman"]);
  // A backend named but without its actions (an older host) gets no section.
  assert.deepEqual(accountBackends({ backends: ["passman", "passweaver"], actions: ["hello", "passweaver.status"] }), ["passweaver"]);
  assert.deepEqual(accountBackends(null), []);
  assert.deepEqual(accountBackends({ backends: "passman" }), []);
});

test("passman.setup params from the form, trimmed, with only what was given", () => {
  assert.deepEqual(passmanSetup({ server: " cloud.example.org/ ", login: " ann ", app_password: "a b c", vault: "", lock_timeout_minutes: "" }), {
    action: "passman.setup",
    params: { server: "https://cloud.example.org", login: "ann", app_password: "a b c" },
  });
  assert.deepEqual(passmanSetup({ server: "http://127.0.0.1:8080", login: "ann", app_password: "x", vault: "Work", allow_http: true, lock_timeout_minutes: "15" }).params, {
    server: "http://127.0.0.1:8080",
    login: "ann",
    app_password: "x",
    vault: "Work",
    allow_http: true,
    lock_timeout_minutes: 15,
  });
});

test("bad account forms are a sentence for the person, never a request", () => {
  const cases = [
    () => passmanSetup({ server: "", login: "a", app_password: "x" }),
    () => passmanSetup({ server: "ftp://x.org", login: "a", app_password: "x" }),
    () => passmanSetup({ server: "https://x.org", login: " ", app_password: "x" }),
    () => passmanSetup({ server: "https://x.org", login: "a", app_password: "" }),
    () => passmanSetup({ server: "https://x.org", login: "a", app_password: "x", lock_timeout_minutes: "0" }),
    () => passmanSetup({ server: "https://x.org", login: "a", app_password: "x", lock_timeout_minutes: "1.5" }),
    () => passmanUnlock({ password: "" }),
    () => passweaverSetup({ server: "https://pw.example", auth: "password", username: "" }),
    () => passweaverSetup({ server: "https://pw.example", auth: "api_key", api_key: "k", secret: "" }),
    () => passweaverLogin({ password: "" }, { auth: "password" }),
    () => passweaverPersonalUnlock({}),
  ];
  for (const c of cases) {
    assert.throws(c, (e) => e instanceof FormError && sentence(e) === e.message && e.message.length > 10, String(c));
  }
});

test("passman.unlock, passweaver setup/login/personal unlock", () => {
  assert.deepEqual(passmanUnlock({ password: " pw ", vault: "" }), { action: "passman.unlock", params: { password: " pw " } });
  assert.deepEqual(passmanUnlock({ password: "pw", vault: "Work" }).params, { password: "pw", vault: "Work" });
  assert.deepEqual(passweaverSetup({ server: "https://pw.example/", username: "bob", gui_url: "https://pw.example/ui" }), {
    action: "passweaver.setup",
    params: { server: "https://pw.example", username: "bob", gui_url: "https://pw.example/ui" },
  });
  assert.deepEqual(passweaverSetup({ server: "http://10.0.0.2:3000", auth: "api_key", api_key: "k1", secret: "s1", allow_insecure_http: true }).params, {
    server: "http://10.0.0.2:3000",
    api_key: "k1",
    secret: "s1",
    allow_insecure_http: true,
  });
  assert.deepEqual(passweaverLogin({ password: "pw" }, { auth: "password" }), { action: "passweaver.login", params: { password: "pw" } });
  // With an API key the host logs in by itself: no password asked.
  assert.deepEqual(passweaverLogin({}, { auth: "api_key" }), { action: "passweaver.login", params: {} });
  assert.deepEqual(passweaverPersonalUnlock({ password: "p" }), { action: "passweaver.personal.unlock", params: { password: "p" } });
});

test("every request the forms build is an action the background lets through", () => {
  for (const r of [
    passmanSetup({ server: "x.org", login: "a", app_password: "b" }),
    passmanUnlock({ password: "p" }),
    passweaverSetup({ server: "x.org", username: "u" }),
    passweaverLogin({ password: "p" }, {}),
    passweaverPersonalUnlock({ password: "p" }),
  ]) {
    assert.ok(ACCOUNT_ACTIONS.includes(r.action), r.action);
  }
  for (const a of ACCOUNT_ACTIONS) assert.match(a, /^(passman|passweaver)\.[a-z.]+$/);
  assert.ok(!ACCOUNT_ACTIONS.some((a) => /\.(get|search|list)$/.test(a)), "no action that returns a secret");
});

test("account state lines and the form to show next", () => {
  assert.deepEqual(describeAccount("passman", { configured: false, locked: true }), { configured: false, ready: false, line: "Passman (Nextcloud): no account set up.", next: "setup" });
  const locked = describeAccount("passman", { configured: true, server: "https://cloud.x", login: "ann", locked: true });
  assert.equal(locked.next, "unlock");
  assert.equal(locked.line, "Passman: ann on https://cloud.x, locked.");
  const open = describeAccount("passman", { configured: true, server: "https://cloud.x", login: "ann", locked: false, unlocked_vault: { guid: "g", name: "Work" }, ttl_remaining_seconds: 1800 });
  assert.deepEqual([open.ready, open.next, open.line], [true, "lock", "Passman: ann on https://cloud.x, unlocked (vault Work), 30 min left."]);
  const out = describeAccount("passweaver", { configured: true, server: "https://pw.x", user: "bob", logged_in: false, server_error: "unreachable" });
  assert.deepEqual([out.ready, out.next], [false, "login"]);
  assert.match(out.line, /not logged in \(unreachable\)/);
  const inn = describeAccount("passweaver", { configured: true, server: "http://10.0.0.2", user: "bob", logged_in: true, personal_unlocked: true, insecure_http: true });
  assert.deepEqual([inn.ready, inn.next], [true, "logout"]);
  assert.match(inn.line, /plain http.*logged in, personal folder unlocked/);
  assert.equal(describeAccount("passman", undefined).next, "setup");
});

test("the PassWeaver form shows a user name or an API key with its secret, and sends only those", () => {
  assert.deepEqual(passweaverSetupFields("password"), ["server", "username", "gui_url", "allow_insecure_http"]);
  assert.deepEqual(passweaverSetupFields("api_key"), ["server", "api_key", "secret", "gui_url", "allow_insecure_http"]);
  assert.deepEqual(passweaverSetupFields("bogus"), passweaverSetupFields("password"));
  const form = { server: "pw.example", username: "bob", api_key: " k-123 ", secret: " s 1 ", gui_url: "", allow_insecure_http: false };
  assert.deepEqual(passweaverSetupFromForm({ ...form, auth: "api_key" }), {
    action: "passweaver.setup",
    params: { server: "https://pw.example", api_key: "k-123", secret: " s 1 " },
  });
  assert.deepEqual(passweaverSetupFromForm({ ...form, auth: "password" }), {
    action: "passweaver.setup",
    params: { server: "https://pw.example", username: "bob" },
  });
  assert.deepEqual(passweaverSetupFromForm({ ...form, auth: "api_key", server: "http://10.0.0.2:3000", allow_insecure_http: true }).params, {
    server: "http://10.0.0.2:3000",
    api_key: "k-123",
    secret: " s 1 ",
    allow_insecure_http: true,
  });
  // A user name alone does not make an API-key account.
  assert.throws(() => passweaverSetupFromForm({ ...form, auth: "api_key", api_key: "", secret: "" }), (e) => e instanceof FormError && /API key and its secret/.test(e.message));
});
