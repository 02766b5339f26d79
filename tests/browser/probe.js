// Background of both test extensions (Chromium MV3 service worker, Firefox MV2 background script).
// tests/browser.rs copies it next to a manifest, writes config.json beside it, starts the browser
// and asserts on what this script POSTs to the test's loopback server. The script only records:
// every reply goes back verbatim, and all judging happens in Rust.
"use strict";

const api = globalThis.browser ?? globalThis.chrome;
// Only turns a hang into a report naming the stuck step; never a performance limit.
const STEP_TIMEOUT_MS = 120000;

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A connectNative port that keeps every frame in arrival order.
function openPort(host) {
  const port = api.runtime.connectNative(host);
  const frames = [];
  let closed = null;
  let waiters = [];
  const wake = () => {
    const ws = waiters;
    waiters = [];
    ws.forEach((w) => w());
  };
  port.onMessage.addListener((msg) => {
    frames.push(msg);
    wake();
  });
  port.onDisconnect.addListener((p) => {
    // Firefox puts the reason on the port, Chrome in runtime.lastError.
    const err = (p && p.error) || (api.runtime.lastError ?? null);
    closed = err ? err.message : "disconnected";
    wake();
  });
  // The first frame (already received or still to come) that satisfies `pred`.
  const waitFor = (pred, what) =>
    withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          const f = frames.find(pred);
          if (f !== undefined) resolve(f);
          else if (closed !== null) reject(new Error(`${what}: native port closed (${closed})`));
          else waiters.push(check);
        };
        check();
      }),
      what,
    );
  const isReply = (id) => (f) => f.id === id && "ok" in f;
  return {
    send: (msg) => port.postMessage(msg),
    frames,
    waitFor,
    reply: (id) => waitFor(isReply(id), `reply to ${JSON.stringify(id)}`),
    close: () => port.disconnect(),
  };
}

// One message through sendNativeMessage: the browser starts a host process for it alone.
const once = (ctx, msg) =>
  withTimeout(api.runtime.sendNativeMessage(ctx.config.host, msg), `sendNativeMessage ${msg.action}`);

// (a) hello and (b) echo, each in its own host process.
async function hello(ctx) {
  return once(ctx, { action: "hello" });
}

async function echo(ctx) {
  return once(ctx, { id: "echo", action: "ping", params: ctx.config.echo });
}

// (c) one request with progress on a long-lived port.
async function progress(ctx) {
  const port = ctx.port();
  const req = { id: 1, action: "ping", params: { delay_ms: 200, x: 1 }, progress: true };
  port.send(req);
  await port.reply(1);
  return { frames: port.frames.filter((f) => f.id === 1) };
}

// (d) concurrency on the same port, ordered by events alone: the slow request is known to be
// running (its progress event arrived) before the fast one is sent, and it is cancelled only
// after the fast reply is in. A host that served one request at a time could not answer the fast
// one while the slow one sleeps; no timing is involved.
async function concurrency(ctx) {
  const port = ctx.port();
  port.send({ id: 2, action: "ping", params: { delay_ms: 60000, which: "slow" }, progress: true });
  await port.waitFor((f) => f.id === 2, "first frame of the slow request");
  port.send({ id: 3, action: "ping", params: { which: "fast" } });
  await port.reply(3);
  port.send({ id: 4, action: "cancel", params: { target: 2 } });
  await port.reply(2);
  await port.reply(4);
  return { frames: port.frames.filter((f) => [2, 3, 4].includes(f.id)) };
}

// What an extension that is not on the host's allowlist gets, on both kinds of connection.
async function refused(ctx) {
  const port = ctx.port();
  port.send({ id: "refused", action: "ping", params: { x: 1 } });
  return port.reply("refused");
}

// Shared unlock (two browsers at once against one passbridge agent). "unlock": this browser
// alone is given the vault's password. "search": never given it, it waits (asking vault.status,
// which is not use) until the vault is unlocked somewhere, then searches.
async function unlock(ctx) {
  const port = ctx.port();
  port.send({ id: "unlock", action: "vault.unlock", params: { password: ctx.config.password } });
  return port.reply("unlock");
}

async function waitUnlocked(ctx) {
  const port = ctx.port();
  for (let n = 1; ; n++) {
    const id = `status-${n}`;
    port.send({ id, action: "vault.status", params: {} });
    const r = await port.reply(id);
    if (!r.ok || r.result.locked === false) return { polls: n, last: r };
    // Only paces the polling; the step's own timeout turns a hang into a report.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function search(ctx) {
  const port = ctx.port();
  port.send({ id: "search", action: "vault.search", params: { url: ctx.config.url } });
  return port.reply("search");
}

const STEPS = {
  refused: [["hello", hello], ["port", refused]],
  unlock: [["unlock", unlock], ["search", search]],
  search: [["wait_unlocked", waitUnlocked], ["search", search]],
};

async function main() {
  const config = await (await fetch(api.runtime.getURL("config.json"))).json();
  const post = (path, body) =>
    fetch(`http://127.0.0.1:${config.port}${path}`, { method: "POST", body: JSON.stringify(body) });
  const log = (msg) => post("/log", { msg }).catch(() => {});

  const steps = STEPS[config.mode] ?? [
    ["hello", hello],
    ["echo", echo],
    ["progress", progress],
    ["concurrency", concurrency],
  ];
  let port = null;
  const ctx = { config, port: () => (port ??= openPort(config.host)) };
  const report = {};
  for (const [name, step] of steps) {
    log(`step ${name}`);
    try {
      report[name] = await step(ctx);
    } catch (e) {
      // Recorded, not thrown: the test then shows which step failed and how.
      report[name] = { probe_error: String((e && e.message) || e) };
    }
  }
  if (port) port.close();
  await post("/report", report);
}

main().catch((e) => {
  // Without config.json there is nowhere to report; the test times out and shows the browser log.
  console.error("passbridge probe failed:", e);
});
