import { test } from "node:test";
import assert from "node:assert/strict";
import { fillBest } from "../../src/background/command.js";

/// The browser's parts, recording what the handler did.
function fakes({ pending = false, items = [], fillResult = { ok: true }, continueResult = { ok: true }, searchError = null } = {}) {
  const log = [];
  const deps = {
    pending: (id) => {
      log.push(["pending", id]);
      return pending;
    },
    continueFill: async (id) => {
      log.push(["continue", id]);
      return continueResult;
    },
    search: async (id) => {
      log.push(["search", id]);
      if (searchError) throw searchError;
      return { items };
    },
    getCredential: async (source, id) => {
      log.push(["get", source, id]);
      return { user: `user-${id}`, password: `pw-${id}`, website: "https://shop.test" };
    },
    fill: async (id, cred) => {
      log.push(["fill", id, cred.user]);
      return fillResult;
    },
    badge: async (id, text) => {
      log.push(["badge", id, text]);
    },
  };
  return { deps, log };
}

test("fills the first login whose site matches, not a better-ranked one of another site", async () => {
  const { deps, log } = fakes({
    items: [
      { source: "vault", id: "other", verdict: "mismatch" },
      { source: "passman", id: "a", verdict: "match" },
      { source: "vault", id: "b", verdict: "match" },
    ],
  });
  assert.equal(await fillBest(7, deps), "filled");
  assert.deepEqual(log, [["pending", 7], ["search", 7], ["get", "passman", "a"], ["fill", 7, "user-a"], ["badge", 7, ""]]);
});

test("nothing for this site: no secret is fetched, the button says ?", async () => {
  for (const items of [[], [{ source: "vault", id: "x", verdict: "mismatch" }, { source: "vault", id: "y", verdict: "insecure" }, { source: "vault", id: "z", verdict: "invalid" }]]) {
    const { deps, log } = fakes({ items });
    assert.equal(await fillBest(3, deps), "no_match");
    assert.deepEqual(log, [["pending", 3], ["search", 3], ["badge", 3, "?"]]);
  }
});

test("a fill that would need a question fills nothing and marks the button", async () => {
  const { deps, log } = fakes({ items: [{ source: "vault", id: "a", verdict: "match" }], fillResult: { needs: "frame", token: "t1" } });
  assert.equal(await fillBest(5, deps), "needs_frame");
  assert.deepEqual(log.at(-1), ["badge", 5, "!"]);
});

test("the second page of a two-step login continues with the login chosen on the first", async () => {
  const { deps, log } = fakes({ pending: true, items: [{ source: "vault", id: "a", verdict: "match" }] });
  assert.equal(await fillBest(9, deps), "continued");
  assert.deepEqual(log, [["pending", 9], ["continue", 9], ["badge", 9, ""]]);
});

test("an error (host gone, locked vault, restricted page) is a mark on the button, never a throw", async () => {
  const { deps, log } = fakes({ searchError: Object.assign(new Error("gone"), { code: "host_missing" }) });
  assert.equal(await fillBest(2, deps), "error");
  assert.deepEqual(log.at(-1), ["badge", 2, "!"]);
  const broken = fakes({ searchError: new Error("x") }).deps;
  broken.badge = async () => {
    throw new Error("no tab");
  };
  assert.equal(await fillBest(2, broken), "error");
});
