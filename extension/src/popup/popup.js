// The popup: status at a glance, the logins for this tab, asking the phone. Every fill starts with
// a click here (or the keyboard command); the background does the filling.
import { api } from "../shared/browser.js";
import { call, host, h, sentence } from "../shared/ui.js";
import { INSTALL_COMMAND } from "../shared/errors.js";
import { sha256, writeText } from "../shared/clipboard.js";
import { ACCOUNT_BACKENDS, accountBackends, describeAccount } from "../shared/accounts.js";

const SOURCE_NAMES = { vault: "Local vault", passman: "Passman", passweaver: "PassWeaver" };

/** Why a source's logins are missing from the list, in words. */
function sourceState(src) {
  if (src.status === "locked") return "locked";
  if (src.status === "unreachable") return "cannot be reached right now";
  return src.message || "could not be searched";
}

const main = document.getElementById("main");
const siteLabel = document.getElementById("site");
const state = { tabId: null, tab: null, status: null, hello: null, search: null, notice: null };

document.getElementById("open-setup").addEventListener("click", (e) => {
  e.preventDefault();
  api.runtime.openOptionsPage();
});

function show(...nodes) {
  main.replaceChildren(...nodes);
  document.body.dataset.view = main.firstElementChild?.dataset.view || "";
}

/// The tab to fill: `?tab=<id>` (the popup opened in a tab of its own) or the active tab.
async function targetTab() {
  const q = new URLSearchParams(location.search).get("tab");
  if (q) return Number(q);
  const [tab] = await api.tabs.query({ active: true, currentWindow: true });
  return tab?.id ?? null;
}

function hostMissingView(err) {
  const copy = h("button", { text: "Copy", onclick: () => writeText(INSTALL_COMMAND).catch(() => {}) });
  return h("section", { "data-view": "host-missing" },
    h("div.box.badbox", {}, h("p", { class: "error", id: "error", text: sentence(err) })),
    h("p", {}, "Then reload this popup. The command builds passbridge, registers it with your browsers (this extension included) and checks it."),
    h("pre.cmd", { id: "install-command", text: INSTALL_COMMAND }),
    h("div.row.end", {}, copy),
  );
}

function errorBox(err) {
  return h("div.box.badbox.notice", { "data-code": err.code || "" }, h("span.error", { id: "error", text: sentence(err) }));
}

function minutes(s) {
  if (typeof s !== "number") return "";
  return s >= 60 ? `${Math.round(s / 60)} min left` : `${s} s left`;
}

function statusChips() {
  const s = state.status || {};
  const chips = [];
  const ap = s.anotherpass || {};
  chips.push(h(`span.chip.${ap.linked ? "ok" : "warn"}`, { id: "chip-phone", text: ap.linked ? "Phone linked" : "No phone linked" }));
  const v = s.vault || {};
  if (v.exists === false) chips.push(h("span.chip", { id: "chip-vault", text: "Vault empty" }));
  else if (v.locked) chips.push(h("span.chip.warn", { id: "chip-vault", text: "Vault locked" }));
  else if (v.locked === false) chips.push(h("span.chip.ok", { id: "chip-vault", text: `Vault unlocked${v.ttl_remaining_seconds ? ` · ${minutes(v.ttl_remaining_seconds)}` : ""}` }));
  // The account backends `hello` lists (Passman, PassWeaver) and their state in status.
  for (const name of accountBackends(state.hello)) {
    const d = describeAccount(name, s[name]);
    chips.push(h(`span.chip.${d.ready ? "ok" : "warn"}`, { id: `chip-${name}`, title: d.line, text: `${ACCOUNT_BACKENDS[name].title.split(" ")[0]}: ${d.ready ? "ready" : d.configured ? "locked" : "not set up"}` }));
  }
  return h("div.status", {}, chips);
}

async function copySecret(item, kind, button) {
  try {
    const { text } = await call("secret", { source: item.source, id: item.id, what: kind });
    await writeText(text);
    const hash = await sha256(text);
    const { seconds, copyId } = await call("copied", { hash });
    button.textContent = "Copied";
    state.copyId = copyId;
    const done = kind === "totp" ? "Code copied" : "Password copied";
    state.notice = h("p.notice.muted", { id: "notice", "data-copied": kind, text: `${done}. The clipboard is cleared in ${seconds} seconds if it still holds it.` });
    render();
  } catch (e) {
    state.notice = errorBox(e.code === "clipboard" || !e.code ? { code: "clipboard" } : e);
    render();
  }
}

function loginRow(item, index) {
  const from = [item.source === "vault" ? "Local vault" : item.source, item.website].filter(Boolean).join(" · ");
  const fill = h("button.primary", { "data-fill": index, text: "Fill", onclick: () => fillWith({ source: item.source, id: item.id }) });
  const copy = h("button", { title: "Copy the password", "data-copy": index, text: "Copy" });
  copy.addEventListener("click", () => copySecret(item, "password", copy));
  const totp = item.has_otp ? h("button", { title: "Copy the current one-time code", "data-totp": index, text: "Code" }) : null;
  totp?.addEventListener("click", () => copySecret(item, "totp", totp));
  return h("li", { "data-verdict": item.verdict },
    h("div.who", {},
      h("div.name", { text: item.name || item.website || "(no name)" }),
      h("div.user", { text: item.user || "(no user name)" }),
      h("div.from", { text: from + (item.verdict === "mismatch" ? " · other site" : item.verdict === "insecure" ? " · https login" : "") }),
    ),
    fill, copy, totp,
  );
}

async function unlockVault(input) {
  try {
    await host("vault.unlock", { password: input.value });
    input.value = "";
    await refresh();
  } catch (e) {
    input.value = "";
    state.notice = errorBox(e);
    render();
  }
}

function vaultControls() {
  const v = state.status?.vault || {};
  if (v.exists === false) return null;
  if (v.locked) {
    const input = h("input", { type: "password", id: "vault-password", placeholder: "Local vault password", autocomplete: "current-password" });
    const form = h("form.row", { id: "unlock-form" }, input, h("button", { type: "submit", text: "Unlock" }));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      unlockVault(input);
    });
    return form;
  }
  return h("div.row.end", {}, h("button", { id: "lock", text: "Lock vault", onclick: async () => { await host("vault.lock").catch(() => {}); await refresh(); } }));
}

function render() {
  const s = state.search;
  const parts = [statusChips()];
  if (state.notice) parts.push(state.notice);
  if (state.tab?.pending) {
    parts.push(h("div.box", { id: "two-step" },
      h("p", {}, `Continue signing in as ${state.tab.pending.user || "the chosen login"}.`),
      h("button.primary", { id: "continue", text: "Fill the password", onclick: () => fillWith({ continue: true }) })));
  }
  if (!state.tab?.origin) {
    parts.push(h("p.muted", { text: sentence({ code: "no_tab" }) }));
  } else {
    parts.push(h("h2", { text: "Logins for this site" }));
    if (s?.items?.length) parts.push(h("ul.logins", { id: "logins" }, s.items.map(loginRow)));
    else parts.push(h("p.muted", { id: "no-logins", text: sentence({ code: "no_match" }) }));
    // A source that is not set up is already shown by its chip; the others say why they are missing.
    for (const src of s?.sources || []) {
      if (src.status && !["ok", "empty", "not_configured"].includes(src.status)) {
        parts.push(h("p.muted.notice", { text: `${SOURCE_NAMES[src.source] || src.source}: ${sourceState(src)}` }));
      }
    }
    const linked = state.status?.anotherpass?.linked;
    parts.push(h("div.actions", {},
      h("button", { id: "ask-phone", text: "Ask phone", disabled: !linked, title: linked ? "Ask ANOTHERpass on your phone for this site's login" : "Link your phone first", onclick: askPhone }),
      s?.items?.length ? null : h("button", { id: "create-on-phone", text: "Create on phone", disabled: !linked, onclick: createOnPhone }),
    ));
  }
  const vc = vaultControls();
  if (vc) parts.push(vc);
  if (state.status && !state.status.anotherpass?.linked) {
    parts.push(h("p.muted", {}, "Link your phone on the ", h("a", { href: "#", id: "link-phone", text: "setup page", onclick: (e) => { e.preventDefault(); api.runtime.openOptionsPage(); } }), "."));
  }
  show(h("section", { "data-view": "main" }, parts));
}

function confirmView(res, onDone) {
  let text;
  let yes = "Fill anyway";
  if (res.needs === "mismatch") text = `This login is for ${res.credDomain}, but the page is ${res.pageDomain}. Fill it into ${res.pageDomain} anyway?`;
  else if (res.needs === "insecure") text = `This login was saved for a secure (https) page of ${res.credDomain}, but this page is not encrypted (http). Anyone on the network could read the password. Fill it anyway?`;
  else {
    text = `The login form is in a frame from ${res.frameOrigin} inside ${res.topOrigin}. Allow filling frames from ${res.frameOrigin} on ${res.topOrigin}?`;
    yes = "Allow and fill";
  }
  const decide = async (accept) => {
    try {
      if (accept && res.needs === "frame") {
        // Reading that frame needs the person's grant for its origin. Asked first thing in the
        // click handler: Firefox accepts the request only while handling the click (an origin
        // already granted resolves at once, without a prompt).
        // Match patterns carry no port: the grant is for the frame's scheme and host.
        const u = new URL(res.frameOrigin);
        const origins = [`${u.protocol}//${u.hostname}/*`];
        if (!(await api.permissions.request({ origins }))) throw Object.assign(new Error("declined"), { code: "declined" });
      }
      onDone(await call("resume", { token: res.token, decision: { kind: res.needs, accept } }));
    } catch (e) {
      onDone(null, e);
    }
  };
  show(h("section", { "data-view": `confirm-${res.needs}` },
    h("div.box.warnbox", {}, h("p", { id: "question", text })),
    h("div.row.end", {},
      h("button", { id: "decline", text: "Don't fill", onclick: () => decide(false) }),
      h("button.primary", { id: "accept", text: yes, onclick: () => decide(true) }))));
}

function fillOutcome(res, err) {
  if (err) {
    state.notice = errorBox(err);
  } else if (res?.needs) {
    confirmView(res, fillOutcome);
    return;
  } else if (res?.ok) {
    const what = res.filled.includes("password") ? (res.filled.includes("username") ? "User name and password filled." : "Password filled.") : "User name filled; open this popup again on the next page for the password.";
    state.notice = h("p.notice.ok", { id: "notice", text: what });
  }
  refreshTab().then(render, render);
}

async function fillWith(which) {
  try {
    fillOutcome(await call("fill", { tabId: state.tabId, ...which }));
  } catch (e) {
    fillOutcome(null, e);
  }
}

function phoneView(title, stage) {
  const fp = h("div.fingerprint", { id: "fingerprint", text: stage.fingerprint || "…" });
  const msg = h("p.muted", { id: "phone-message", text: stage.message || "Waiting for the phone…" });
  const cancel = h("button", { id: "cancel", text: "Cancel" });
  return { node: h("section", { "data-view": "asking" }, h("p", { text: title }), fp, h("p.muted", { text: "Approve the request on your phone if it shows the same code." }), msg, h("div.row.end", {}, cancel)), fp, msg, cancel };
}

const REASONS = {
  awaiting_approval: "Waiting for your approval on the phone.",
  awaiting_selection: "Pick the login on the phone.",
  phone_locked: "Unlock your phone.",
  app_locked: "Unlock the ANOTHERpass app.",
  app_not_in_foreground: "Open ANOTHERpass on the phone.",
  other_request_in_progress: "The phone is busy with another request; it will answer this one next.",
  phone_unreachable: "The phone does not answer yet; retrying.",
};

async function phoneRequest(op, title, done) {
  const view = phoneView(title, {});
  show(view.node);
  let hostId = null;
  view.cancel.addEventListener("click", () => {
    view.cancel.disabled = true;
    if (hostId) call("cancel", { target: hostId });
  });
  try {
    const res = await call(op, { tabId: state.tabId }, {
      onStarted: (id) => (hostId = id),
      onProgress: (p) => {
        if (p.fingerprint) view.fp.textContent = p.fingerprint;
        if (p.stage === "approval_pending") view.msg.textContent = "Approve with your security key on the Clarion page that just opened.";
        else if (p.reason && REASONS[p.reason]) view.msg.textContent = REASONS[p.reason];
        else if (p.stage === "received") view.msg.textContent = "Received; filling.";
      },
    });
    done(res);
  } catch (e) {
    done(null, e);
  }
}

function askPhone() {
  phoneRequest("askPhone", "Asking your phone for this site's login", fillOutcome);
}

function createOnPhone() {
  phoneRequest("createOnPhone", "Saving a new login on your phone", (res, err) => {
    state.notice = err ? errorBox(err) : h("p.notice.ok", { id: "notice", text: `Saved on the phone${res?.user ? ` for ${res.user}` : ""}.` });
    refresh();
  });
}

async function refreshTab() {
  state.tab = await call("tab", { tabId: state.tabId }).catch(() => ({}));
  siteLabel.textContent = state.tab?.domain || "";
  state.search = state.tab?.origin ? await call("search", { tabId: state.tabId }).catch((e) => {
    state.notice = errorBox(e);
    return null;
  }) : null;
}

async function refresh() {
  try {
    state.hello = await host("hello");
    state.status = await host("status");
  } catch (e) {
    if (e.code === "host_missing" || e.code === "host_forbidden") {
      show(hostMissingView(e));
      return;
    }
    show(errorBox(e));
    return;
  }
  await refreshTab();
  render();
}

// The background reports when it cleared (or left alone) what this popup copied.
api.storage.onChanged?.addListener((changes, area) => {
  const o = changes.clipboardOutcome?.newValue;
  if (area !== "session" || !o || !o.copyId || o.copyId !== state.copyId) return;
  state.notice = h("p.notice.muted", { id: "notice", "data-clipboard": o.cleared ? "cleared" : "kept", text: o.cleared ? "The copied secret was cleared from the clipboard." : "The clipboard holds something else now, so it was left alone." });
  render();
});

(async () => {
  state.tabId = await targetTab();
  await refresh();
})();

