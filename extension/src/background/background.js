// The only place that talks to the host: one connectNative port (src/shared/protocol.js), the
// per-tab fill state, and every fill. Extension pages talk to it over a runtime port named "ui"
// ({ref, op, ...} in; {ref, progress} events and one {ref, result} or {ref, error} out).
// Secrets stay here: the pages get lists, statuses and fingerprints, never a password (except the
// one the person copies, which the popup writes to the clipboard itself).
import { api, HOST_NAME, isFirefox } from "../shared/browser.js";
import { HostClient, HostError, normalizeItems } from "../shared/protocol.js";
import { compare, rank, framePairKey, site } from "../shared/domain.js";
import { clearIfUnchanged } from "../shared/clipboard.js";
import { totpNow } from "../shared/totp.js";
import { ACCOUNT_ACTIONS } from "../shared/accounts.js";
import { CLIPBOARD_CLEAR_MS } from "../shared/timing.js";
import { fillPlanError, chooseFrame } from "./frames.js";
import { fillBest } from "./command.js";

const host = new HostClient(
  () => api.runtime.connectNative(HOST_NAME),
  (port) => (port && port.error && port.error.message) || api.runtime.lastError?.message,
);

/// Host actions the pages may call directly: none of them returns a secret.
const PASSTHROUGH = new Set([
  "hello",
  "status",
  "anotherpass.status",
  "anotherpass.link.start",
  "anotherpass.link.complete",
  "anotherpass.link.confirm",
  "anotherpass.unlink",
  "vault.status",
  "vault.unlock",
  "vault.lock",
  "vault.set_password",
  "vault.clear_password",
  "vault.settings",
  "vault.settings.set",
  "clarion.policy",
  "clarion.policy.set",
  "clarion.keys",
  "clarion.register.start",
  "clarion.register.finish",
  "clarion.remove",
  "clarion.authenticate",
  ...ACCOUNT_ACTIONS,
]);

/// How long a chosen credential is kept for the second page of a two-step login, and how long a
/// fill waiting for the person's confirmation stays valid.
const KEEP_MS = 60_000;

// tabId -> {origin, cred, expires}: the credential chosen for a two-step login (memory only).
const twoStep = new Map();
// token -> {tabId, cred, expectedOrigin, expires}: a fill that waits for a confirmation.
const held = new Map();
let nextToken = 1;

function forget(map, key, ms) {
  setTimeout(() => {
    const v = map.get(key);
    if (v && v.expires <= Date.now()) map.delete(key);
  }, ms + 50);
}

function hold(plan) {
  const token = `t${nextToken++}`;
  held.set(token, { ...plan, expires: Date.now() + KEEP_MS });
  forget(held, token, KEEP_MS);
  return token;
}

// ---- Reading the tab and its frames. ----

async function tabInfo(tabId) {
  let tab;
  try {
    tab = await api.tabs.get(tabId);
  } catch {
    throw new HostError("no_tab");
  }
  const s = tab.url ? site(tab.url) : null;
  return { tab, url: tab.url || "", origin: s ? s.origin : "", site: s };
}

async function inject(tabId, frameIds) {
  const target = frameIds ? { tabId, frameIds } : { tabId, allFrames: true };
  try {
    await api.scripting.executeScript({ target, files: ["src/fill/fill.js"] });
  } catch (e) {
    throw new HostError("restricted_page", String(e?.message || e));
  }
}

/// Scans every frame the extension may reach: [{frameId, origin, url, top, sandboxed, login, frames}].
async function scanFrames(tabId) {
  await inject(tabId);
  let results;
  try {
    results = await api.scripting.executeScript({
      target: { tabId, allFrames: true },
      func: () => globalThis.__passbridgeFill.scan(),
    });
  } catch (e) {
    throw new HostError("restricted_page", String(e?.message || e));
  }
  return results.filter((r) => r && r.result).map((r) => ({ frameId: r.frameId, ...r.result }));
}

async function consents() {
  const { frameConsent = {} } = await api.storage.local.get("frameConsent");
  return frameConsent;
}

async function rememberConsent(topOrigin, frameOrigin) {
  const all = await consents();
  all[framePairKey(topOrigin, frameOrigin)] = Date.now();
  await api.storage.local.set({ frameConsent: all });
}

// ---- Credentials. ----

async function searchTab(tabId) {
  const { url, site: s } = await tabInfo(tabId);
  if (!s) return { url, items: [], sources: [] };
  let items;
  let sources = [];
  if (await host.supports("credentials.search")) {
    const r = await host.request("credentials.search", { url, limit: 50 });
    items = normalizeItems(r, "vault");
    sources = Array.isArray(r.sources) ? r.sources : r.sources && typeof r.sources === "object" ? Object.entries(r.sources).map(([source, v]) => ({ source, ...v })) : [];
  } else {
    try {
      items = normalizeItems(await host.request("vault.search", { url, limit: 50 }), "vault");
      sources = [{ source: "vault", status: "ok" }];
    } catch (e) {
      if (e.code === "vault_locked" || e.code === "vault_missing") {
        items = [];
        sources = [{ source: "vault", status: e.code === "vault_locked" ? "locked" : "empty" }];
      } else throw e;
    }
  }
  const ranked = rank(items, url).map((i) => ({ ...i, verdict: compare(i.website, url).verdict }));
  return { url, items: ranked, sources };
}

/// The secret of one listed credential: {user, password, website, otp_code?}.
async function getCredential(source, id) {
  if (await host.supports("credentials.get")) {
    const r = await host.request("credentials.get", { source, id }, { onProgress: clarionProgress(null) });
    const c = r.credential || r;
    return {
      user: c.user || "",
      password: c.password || "",
      website: c.website || (Array.isArray(c.urls) ? c.urls[0] : "") || "",
      otp_code: c.otp_code || r.otp_code || null,
      otp: typeof c.otp === "string" ? c.otp : null,
    };
  }
  const r = await host.request("vault.get", { uid: id }, { onProgress: clarionProgress(null) });
  // The vault keeps the otpauth:// URI; the current code is computed here (src/shared/totp.js).
  return { user: r.user || "", password: r.password || "", website: r.website || "", otp_code: r.otp_code || null, otp: typeof r.otp === "string" ? r.otp : null };
}

// ---- Clarion approvals: open the page the host names, tell the page that asked. ----

function clarionProgress(emit) {
  return (ev) => {
    if (ev.stage === "approval_pending" && typeof ev.html_url === "string" && /^https?:\/\//.test(ev.html_url)) {
      api.tabs.create({ url: ev.html_url, active: true }).catch(() => {});
    }
    emit?.(ev);
  };
}

// ---- Filling. ----

/// Fills `cred` into the tab, checking everything first. Returns {ok, filled} or, when the person
/// must decide, {needs: "mismatch"|"insecure"|"frame", token, ...} (call `resume` with the token).
async function fillTab(tabId, cred, opts = {}) {
  const { origin: topOrigin, site: topSite } = await tabInfo(tabId);
  if (!topSite) throw new HostError("no_tab");
  if (opts.expectedOrigin && topOrigin !== opts.expectedOrigin) {
    throw new HostError("navigated", `now ${topOrigin}`);
  }
  const frames = await scanFrames(tabId);
  const known = await consents();
  const choice = chooseFrame(frames, topOrigin, (f) => Boolean(known[framePairKey(topOrigin, f)]) || (opts.allowFrame === f));
  const err = fillPlanError(choice);
  if (err) {
    if (err.code === "needs_frame_consent") {
      return {
        needs: "frame",
        topOrigin,
        frameOrigin: err.frameOrigin,
        token: hold({ tabId, cred, expectedOrigin: topOrigin, frameOrigin: err.frameOrigin, confirmed: opts.confirmed || {} }),
      };
    }
    throw new HostError(err.code);
  }
  const frame = choice.frame;
  const confirmed = opts.confirmed || {};
  const c = compare(cred.website || "", frame.url);
  if (c.verdict === "invalid" && !confirmed.mismatch) {
    return { needs: "mismatch", credDomain: cred.website || "(no site)", pageDomain: site(frame.url)?.domain || frame.origin, token: hold({ tabId, cred, expectedOrigin: topOrigin, confirmed }) };
  }
  if (c.verdict === "mismatch" && !confirmed.mismatch) {
    return { needs: "mismatch", credDomain: c.cred.host, pageDomain: c.page.host, token: hold({ tabId, cred, expectedOrigin: topOrigin, confirmed }) };
  }
  if ((c.verdict === "insecure" || (c.downgrade && c.verdict !== "match")) && !confirmed.insecure) {
    return { needs: "insecure", credDomain: c.cred.host, pageDomain: c.page.host, token: hold({ tabId, cred, expectedOrigin: topOrigin, confirmed }) };
  }
  // The exact frame, its origin checked again inside the frame at the moment of filling.
  await inject(tabId, [frame.frameId]);
  const [res] = await api.scripting.executeScript({
    target: { tabId, frameIds: [frame.frameId] },
    func: (p) => globalThis.__passbridgeFill.fill(p),
    args: [{ expectedOrigin: frame.origin, username: cred.user, password: cred.password }],
  });
  const out = res?.result;
  if (!out || !out.ok) throw new HostError(out?.code || "no_form");
  if (out.awaitsPassword) {
    twoStep.set(tabId, { origin: topOrigin, cred, expires: Date.now() + KEEP_MS });
    forget(twoStep, tabId, KEEP_MS);
  } else {
    twoStep.delete(tabId);
  }
  return { ok: true, filled: out.filled, awaitsPassword: Boolean(out.awaitsPassword), frame: frame.top ? "top" : frame.origin };
}

async function resume(token, decision) {
  const plan = held.get(token);
  held.delete(token);
  if (!plan || plan.expires <= Date.now()) throw new HostError("navigated", "expired");
  if (!decision || decision.accept !== true) throw new HostError("declined");
  const confirmed = { ...plan.confirmed, [decision.kind]: true };
  if (decision.kind === "frame") {
    if (decision.remember !== false) await rememberConsent(plan.expectedOrigin, plan.frameOrigin);
  }
  return fillTab(plan.tabId, plan.cred, { expectedOrigin: plan.expectedOrigin, confirmed, allowFrame: plan.frameOrigin });
}

/// Asks the phone for this tab's login, then fills it, unless the tab has left the origin it had
/// when the person clicked.
async function askPhone(tabId, emit, started) {
  const { url, origin, site: s } = await tabInfo(tabId);
  if (!s) throw new HostError("no_tab");
  const { id, promise } = host.start(
    "anotherpass.fetch_credential_for_url",
    { website: url },
    { onProgress: clarionProgress((ev) => emit({ stage: ev.stage, reason: ev.reason, fingerprint: ev.fingerprint, message: ev.message, html_url: ev.html_url })) },
  );
  started(id);
  const r = await promise;
  const c = r.credential || {};
  const cred = { user: c.user || "", password: c.password || "", website: c.website || "" };
  emit({ stage: "received", fingerprint: r.request_fingerprint });
  return fillTab(tabId, cred, { expectedOrigin: origin });
}

async function createOnPhone(tabId, emit, started) {
  const { url, site: s } = await tabInfo(tabId);
  if (!s) throw new HostError("no_tab");
  let user = "";
  try {
    const frames = await scanFrames(tabId);
    user = frames.find((f) => f.top)?.login?.typedUser || "";
  } catch {
    // No user name from the page: the phone asks for it.
  }
  const params = { website: url };
  if (user) params.user = user;
  const { id, promise } = host.start("anotherpass.create_credential_for_url", params, {
    onProgress: (ev) => emit({ stage: ev.stage, reason: ev.reason, fingerprint: ev.fingerprint, message: ev.message }),
  });
  started(id);
  const r = await promise;
  return { created: true, name: r.credential?.name || "", user: r.credential?.user || user };
}

// ---- Clipboard: cleared after 30 s if it still holds what was copied. ----

async function clearClipboardLater(hash, copyId) {
  setTimeout(async () => {
    let cleared = false;
    try {
      if (isFirefox) {
        cleared = await clearIfUnchanged(hash);
      } else {
        const url = "src/offscreen/offscreen.html";
        const has = (await chrome.runtime.getContexts?.({ contextTypes: ["OFFSCREEN_DOCUMENT"] }))?.length;
        if (!has) {
          await chrome.offscreen.createDocument({ url, reasons: ["CLIPBOARD"], justification: "Clear a copied password after 30 seconds." });
        }
        cleared = Boolean((await chrome.runtime.sendMessage({ target: "offscreen", op: "clearIfUnchanged", hash }))?.cleared);
        await chrome.offscreen.closeDocument();
      }
    } catch {
      // The clipboard keeps its text; the outcome below says it was not cleared.
    }
    // What happened, for an open popup: a random id, a flag and a time (nothing derived from the
    // secret; session storage is memory only).
    await api.storage.session?.set({ clipboardOutcome: { copyId, cleared, at: Date.now() } }).catch(() => {});
  }, CLIPBOARD_CLEAR_MS);
}

// ---- The pages' requests. ----

async function handle(msg, emit, started) {
  switch (msg.op) {
    case "host": {
      if (!PASSTHROUGH.has(msg.action)) throw new HostError("invalid_request", `not allowed from a page: ${msg.action}`);
      const { id, promise } = host.start(msg.action, msg.params, msg.progress ? { onProgress: clarionProgress(emit) } : undefined);
      started(id);
      return promise;
    }
    case "tab": {
      const info = await tabInfo(msg.tabId);
      const t = twoStep.get(msg.tabId);
      const pending = t && t.expires > Date.now() && t.origin === info.origin ? { user: t.cred.user } : null;
      return { url: info.url, origin: info.origin, domain: info.site?.domain || "", pending };
    }
    case "search":
      return searchTab(msg.tabId);
    case "fill": {
      const t = twoStep.get(msg.tabId);
      if (msg.continue && t && t.expires > Date.now()) {
        return fillTab(msg.tabId, t.cred, { expectedOrigin: t.origin });
      }
      const cred = await getCredential(msg.source, msg.id);
      return fillTab(msg.tabId, cred);
    }
    case "resume":
      return resume(msg.token, msg.decision);
    case "askPhone":
      return askPhone(msg.tabId, emit, started);
    case "createOnPhone":
      return createOnPhone(msg.tabId, emit, started);
    case "cancel":
      return host.cancel(msg.target);
    case "secret": {
      const cred = await getCredential(msg.source, msg.id);
      if (msg.what === "totp") {
        const otp = cred.otp_code?.code ? cred.otp_code : cred.otp ? await totpNow(cred.otp) : null;
        if (!otp?.code) throw new HostError("no_otp");
        return { text: otp.code, seconds_left: otp.seconds_left ?? null };
      }
      return { text: cred.password };
    }
    case "copied": {
      const copyId = crypto.randomUUID();
      await clearClipboardLater(msg.hash, copyId);
      return { scheduled: true, seconds: CLIPBOARD_CLEAR_MS / 1000, copyId };
    }
    case "settings.get": {
      const { settings = {} } = await api.storage.local.get("settings");
      return settings;
    }
    case "settings.set":
      await api.storage.local.set({ settings: msg.settings || {} });
      return { saved: true };
    default:
      throw new HostError("invalid_request", `unknown op ${msg.op}`);
  }
}

api.runtime.onConnect.addListener((port) => {
  if (port.name !== "ui" || (port.sender?.id && port.sender.id !== api.runtime.id)) return;
  let open = true;
  port.onDisconnect.addListener(() => {
    open = false;
  });
  const send = (m) => {
    if (open) port.postMessage(m);
  };
  port.onMessage.addListener((msg) => {
    const ref = msg?.ref;
    const emit = (progress) => send({ ref, progress });
    const started = (hostId) => send({ ref, started: hostId });
    handle(msg, emit, started).then(
      (result) => send({ ref, result }),
      (e) => send({ ref, error: { code: e?.code || "internal", message: String(e?.message || e) } }),
    );
  });
});

// The keyboard shortcut: fill the best match of the active tab, if it needs no question.
async function onCommand(command, tab) {
  if (command !== "fill-best") return "ignored";
  const tabId = tab?.id ?? (await api.tabs.query({ active: true, currentWindow: true }))[0]?.id;
  if (tabId === undefined) return "no_tab";
  return fillBest(tabId, {
    pending: (id) => {
      const t = twoStep.get(id);
      return Boolean(t && t.expires > Date.now());
    },
    continueFill: (id) => {
      const t = twoStep.get(id);
      return fillTab(id, t.cred, { expectedOrigin: t.origin });
    },
    search: searchTab,
    getCredential,
    fill: (id, cred) => fillTab(id, cred),
    badge: (id, text) => api.action.setBadgeText({ tabId: id, text }),
  });
}

api.commands?.onCommand.addListener(onCommand);
// Headless browsers cannot press a shortcut: the browser tests call the same handler here, in the
// background's own context (no page can reach it).
globalThis.passbridgeOnCommand = onCommand;
