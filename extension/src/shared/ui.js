// The pages' side of the "ui" port to the background (see background.js).
import { api } from "./browser.js";
import { sentence } from "./errors.js";

let port = null;
let nextRef = 1;
const waiting = new Map();

function ensure() {
  if (port) return port;
  port = api.runtime.connect({ name: "ui" });
  port.onMessage.addListener((m) => {
    const w = waiting.get(m.ref);
    if (!w) return;
    if ("progress" in m) w.onProgress?.(m.progress);
    else if ("started" in m) w.onStarted?.(m.started);
    else {
      waiting.delete(m.ref);
      if ("error" in m) w.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else w.resolve(m.result);
    }
  });
  port.onDisconnect.addListener(() => {
    port = null;
    for (const w of waiting.values()) w.reject(Object.assign(new Error("background gone"), { code: "host_exited" }));
    waiting.clear();
  });
  return port;
}

export function call(op, payload = {}, { onProgress, onStarted } = {}) {
  const ref = nextRef++;
  return new Promise((resolve, reject) => {
    waiting.set(ref, { resolve, reject, onProgress, onStarted });
    ensure().postMessage({ ...payload, op, ref });
  });
}

export const host = (action, params, opts = {}) => call("host", { action, params, progress: Boolean(opts.onProgress) }, opts);

export { sentence };

/// Tiny element builder: h("div.cls", {attr}, child...).
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c.nodeType ? c : String(c));
  return el;
}
