import { test } from "node:test";
import assert from "node:assert/strict";
import { chooseFrame } from "../../src/background/frames.js";

const TOP = "https://shop.example";
const frame = (frameId, origin, login, more = {}) => ({ frameId, origin, top: frameId === 0, sandboxed: false, login: login ? { score: login } : null, frames: [], ...more });
const none = () => false;

test("the top frame first, even when a frame scores higher", () => {
  const r = chooseFrame([frame(0, TOP, 5), frame(3, TOP, 13)], TOP, none);
  assert.equal(r.frame.frameId, 0);
});

test("then the best same-origin frame", () => {
  const r = chooseFrame([frame(0, TOP, null), frame(3, TOP, 4), frame(4, TOP, 13)], TOP, none);
  assert.equal(r.frame.frameId, 4);
});

test("a cross-origin frame needs consent for that pair of origins", () => {
  const frames = [frame(0, TOP, null), frame(7, "https://login.idp.example", 13)];
  assert.deepEqual(chooseFrame(frames, TOP, none), { error: { code: "needs_frame_consent", frameOrigin: "https://login.idp.example" } });
  assert.equal(chooseFrame(frames, TOP, (o) => o === "https://login.idp.example").frame.frameId, 7);
  assert.equal(chooseFrame(frames, TOP, (o) => o === "https://other.example").error.code, "needs_frame_consent");
});

test("a sandboxed frame is never filled", () => {
  const frames = [frame(0, TOP, null), frame(5, "null", 13, { sandboxed: true }), frame(6, TOP, 13, { sandboxed: true })];
  assert.deepEqual(chooseFrame(frames, TOP, () => true), { error: { code: "frame_sandboxed" } });
});

test("an unreadable cross-origin frame is offered for consent; a sandboxed one is not", () => {
  const top = frame(0, TOP, null, { frames: [{ origin: "https://ads.example", sandboxed: true }, { origin: "https://login.idp.example", sandboxed: false }] });
  assert.deepEqual(chooseFrame([top], TOP, none), { error: { code: "needs_frame_consent", frameOrigin: "https://login.idp.example" } });
  const onlySandboxed = frame(0, TOP, null, { frames: [{ origin: "https://ads.example", sandboxed: true }] });
  assert.deepEqual(chooseFrame([onlySandboxed], TOP, none), { error: { code: "no_form" } });
});

test("no login form anywhere", () => {
  assert.deepEqual(chooseFrame([frame(0, TOP, null)], TOP, none), { error: { code: "no_form" } });
});
