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

// Benchmark mode (benches/browser.rs, never the tests): lockstep round trips on one
// connectNative port per host, the hosts taking turns in rounds (the order swapped every round)
// so background load hits each alike; and one-shot sendNativeMessage starts, also in turns.
// A round-trip sample is the mean of one batch of `per_round` lockstep requests, in milliseconds;
// a one-shot sample is one sendNativeMessage call.
async function bench(ctx) {
  const { hosts, rounds, per_round, cold_rounds } = ctx.config.bench;
  const ports = hosts.map((h) => {
    const port = api.runtime.connectNative(h);
    let waiting = null;
    port.onMessage.addListener((msg) => {
      const w = waiting;
      waiting = null;
      if (w) w.resolve(msg);
    });
    port.onDisconnect.addListener(() => {
      const w = waiting;
      waiting = null;
      if (w) w.reject(new Error(`${h}: native port closed (${api.runtime.lastError?.message ?? "disconnected"})`));
    });
    const ask = (msg) =>
      withTimeout(
        new Promise((resolve, reject) => {
          waiting = { resolve, reject };
          port.postMessage(msg);
        }),
        `${h} round trip`,
      );
    return { ask, close: () => port.disconnect() };
  });
  const rtt = hosts.map(() => []);
  const cold = hosts.map(() => []);
  let id = 0;
  // Warm-up: process start and the first messages are not round trips.
  for (const p of ports) for (let i = 0; i < 20; i++) await p.ask({ id: ++id, action: "ping" });
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? hosts.map((_, i) => i) : hosts.map((_, i) => hosts.length - 1 - i);
    for (const i of order) {
      // Timed per batch: a service worker's clock moves in 0.1 ms steps, a round trip is less.
      const t = performance.now();
      for (let k = 0; k < per_round; k++) {
        const reply = await ports[i].ask({ id: ++id, action: "ping" });
        if (reply.id !== id) throw new Error(`${hosts[i]}: reply ${JSON.stringify(reply.id)} for request ${id}`);
      }
      rtt[i].push((performance.now() - t) / per_round);
    }
  }
  ports.forEach((p) => p.close());
  for (let r = 0; r < cold_rounds; r++) {
    for (let i = 0; i < hosts.length; i++) {
      const t = performance.now();
      await withTimeout(api.runtime.sendNativeMessage(hosts[i], { action: "hello" }), `${hosts[i]} hello`);
      cold[i].push(performance.now() - t);
    }
  }
  return { hosts, rtt_ms: rtt, cold_ms: cold, user_agent: navigator.userAgent };
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
  bench: [["bench", bench]],
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
