import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { HostClient, HostError, disconnectCode, normalizeItems } from "../../src/shared/protocol.js";
import { sentence, KNOWN_CODES } from "../../src/shared/errors.js";

/// A runtime.Port stand-in: records what the extension sent, lets the test play the host.
function fakePort() {
  const listeners = { message: [], disconnect: [] };
  const port = {
    sent: [],
    error: null,
    postMessage(m) {
      if (port.closed) throw new Error("Attempt to postMessage on disconnected port");
      port.sent.push(structuredClone(m));
    },
    onMessage: { addListener: (f) => listeners.message.push(f) },
    onDisconnect: { addListener: (f) => listeners.disconnect.push(f) },
    disconnect() {
      port.closed = true;
    },
    reply: (frame) => listeners.message.forEach((f) => f(frame)),
    die(message) {
      port.closed = true;
      port.error = message ? { message } : null;
      listeners.disconnect.forEach((f) => f(port));
    },
  };
  return port;
}

function client() {
  const ports = [];
  const c = new HostClient(() => {
    const p = fakePort();
    ports.push(p);
    return p;
  });
  return { c, ports };
}

test("requests get fresh ids, params and progress only when asked", async () => {
  const { c, ports } = client();
  const a = c.request("status");
  const b = c.request("vault.search", { url: "https://x.org" }, { onProgress: () => {} });
  assert.equal(ports.length, 1, "one port for every request");
  assert.deepEqual(ports[0].sent, [
    { id: "r1", action: "status" },
    { id: "r2", action: "vault.search", params: { url: "https://x.org" }, progress: true },
  ]);
  ports[0].reply({ id: "r2", ok: true, result: { items: [] } });
  ports[0].reply({ id: "r1", ok: true, result: { version: "1" } });
  assert.deepEqual(await a, { version: "1" });
  assert.deepEqual(await b, { items: [] });
});

test("progress events reach the request's callback before its one final reply", async () => {
  const { c, ports } = client();
  const seen = [];
  const p = c.request("anotherpass.fetch_credential_for_url", { website: "https://x.org" }, { onProgress: (e) => seen.push(e.stage) });
  ports[0].reply({ id: "r1", event: "progress", stage: "requesting", fingerprint: "AB-CDE-FG" });
  ports[0].reply({ id: "r1", event: "progress", stage: "waiting", reason: "awaiting_approval" });
  ports[0].reply({ id: "r1", ok: true, result: { credential: {} } });
  ports[0].reply({ id: "r1", event: "progress", stage: "late" }); // after the end: ignored
  await p;
  assert.deepEqual(seen, ["requesting", "waiting"]);
});

test("an error reply rejects with the host's code and message", async () => {
  const { c, ports } = client();
  const p = c.request("vault.get", { uid: "x" });
  ports[0].reply({ id: "r1", ok: false, error: { code: "vault_locked", message: "The vault is locked." } });
  await assert.rejects(p, (e) => e instanceof HostError && e.code === "vault_locked");
});

test("cancel names the request's id and the request ends with cancelled", async () => {
  const { c, ports } = client();
  const { id, promise } = c.start("anotherpass.fetch_credential_for_url", { website: "https://x.org" }, { onProgress: () => {} });
  const cancelled = c.cancel(id);
  assert.deepEqual(ports[0].sent[1], { id: "r2", action: "cancel", params: { target: "r1" } });
  ports[0].reply({ id: "r1", ok: false, error: { code: "cancelled", message: "" } });
  ports[0].reply({ id: "r2", ok: true, result: { cancelled: true } });
  await assert.rejects(promise, { code: "cancelled" });
  assert.deepEqual(await cancelled, { cancelled: true });
  assert.deepEqual(await c.cancel("r999"), { cancelled: false }, "unknown ids are not sent");
  assert.equal(ports[0].sent.length, 2);
});

test("a closed port fails every open request with the browser's reason, and the next request reconnects once", async () => {
  const { c, ports } = client();
  const a = c.request("status");
  const b = c.request("hello");
  ports[0].die("Specified native messaging host not found.");
  await assert.rejects(a, { code: "host_missing" });
  await assert.rejects(b, { code: "host_missing" });
  assert.equal(ports.length, 1, "no reconnect loop");
  const d = c.request("status");
  assert.equal(ports.length, 2);
  ports[1].reply({ id: "r3", ok: true, result: {} });
  await d;
});

test("the browsers' disconnect reasons become extension codes", () => {
  assert.equal(disconnectCode("Specified native messaging host not found."), "host_missing");
  assert.equal(disconnectCode("No such native application org.passbridge.host"), "host_missing");
  assert.equal(disconnectCode("Access to the specified native messaging host is forbidden."), "host_forbidden");
  assert.equal(disconnectCode("Native host has exited."), "host_exited");
  assert.equal(disconnectCode(undefined), "host_exited");
});

test("hello is asked once per connection and decides which actions to use", async () => {
  const { c, ports } = client();
  const s = c.supports("credentials.search");
  ports[0].reply({ id: "r1", ok: true, result: { actions: ["hello", "vault.search"] } });
  assert.equal(await s, false);
  assert.equal(await c.supports("vault.search"), true);
  assert.equal(ports[0].sent.length, 1);
});

test("frames that are not for an open request are ignored", () => {
  const { c, ports } = client();
  c.request("status");
  for (const junk of [null, 5, "x", { id: "nope", ok: true }, { id: "r1" }]) ports[0].reply(junk);
  assert.equal(c.pending.size, 1);
});

test("search results from either action become one shape without secrets", () => {
  const v = normalizeItems({ items: [{ uid: "u1", name: "GitHub", user: "octo", website: "github.com", has_otp: true, match: "host" }] });
  assert.deepEqual(v, [{ source: "vault", id: "u1", name: "GitHub", user: "octo", website: "github.com", match: "host", has_otp: true }]);
  const c = normalizeItems({ items: [{ source: "passman", id: 7, name: "Mail", user: "a", urls: ["https://mail.x"], password: "never" }] });
  assert.equal(c[0].website, "https://mail.x");
  assert.equal(c[0].id, "7");
  assert.ok(!("password" in c[0]));
  assert.deepEqual(normalizeItems(null), []);
});

test("every error code in docs/protocol.md has its own sentence", () => {
  const doc = readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## Error codes"));
  const codes = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
  assert.ok(codes.length > 40, `found ${codes.length} codes`);
  for (const code of codes) {
    assert.ok(KNOWN_CODES.includes(code), `no sentence for ${code}`);
    const s = sentence({ code, message: "RAW" });
    assert.ok(!s.includes("{") && s.length > 5, code);
  }
  assert.equal(sentence({ code: "made_up_future_code", message: "The host's words." }), "The host's words.");
  assert.match(sentence({}), /Something went wrong/);
});
