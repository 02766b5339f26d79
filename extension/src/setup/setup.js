// Setup: link the phone (QR code, address, fingerprint), the local vault's password, the Clarion
// policy. Everything goes through the background's host connection.
import { host, h, sentence } from "../shared/ui.js";
import { INSTALL_COMMAND } from "../shared/errors.js";
import { bounds, lockTimeoutRequest, savedLine } from "../shared/vault_settings.js";
import { ACCOUNT_BACKENDS, accountBackends, describeAccount, passmanSetup, passmanUnlock, passweaverSetupFromForm, passweaverSetupFields, PASSWEAVER_AUTH, passweaverLogin, passweaverPersonalUnlock } from "../shared/accounts.js";

const $ = (id) => document.getElementById(id);

function fail(where, e) {
  where.replaceChildren(h("div.box.badbox", { "data-code": e.code || "" }, h("span.error", { class: "error", text: sentence(e) })));
}

// ---- Linking. ----

async function renderLink() {
  const body = $("link-body");
  let st;
  try {
    st = await host("anotherpass.status");
  } catch (e) {
    return fail(body, e);
  }
  if (st.linked) {
    body.replaceChildren(
      h("p", { id: "linked", class: "ok" }, `Linked to ${st.server || "your phone"}${st.port ? `:${st.port}` : ""}${st.app_key_fingerprint ? ` (app key ${st.app_key_fingerprint})` : ""}.`),
      h("div.row", {},
        h("button", { id: "relink", text: "Link again", onclick: () => startLink(true) }),
        h("button.danger", { id: "unlink", text: "Unlink", onclick: async () => { await host("anotherpass.unlink").catch((e) => fail(body, e)); renderLink(); } })),
    );
    return;
  }
  body.replaceChildren(
    h("p", {}, "In the ANOTHERpass app open “Link new device”, then start here."),
    h("button.primary", { id: "start-link", text: "Start linking", onclick: () => startLink(false) }),
  );
}

async function startLink(fresh) {
  const body = $("link-body");
  body.replaceChildren(h("p.muted", { text: "Preparing a link (making a key can take a few seconds)…" }));
  let start;
  try {
    start = await host("anotherpass.link.start", fresh ? { fresh: false } : undefined, { onProgress: () => {} });
  } catch (e) {
    return fail(body, e);
  }
  const server = h("input", { id: "server", placeholder: "192.168.1.20, phone.local or @handle", autocomplete: "off" });
  const port = h("input", { id: "port", type: "number", min: "1024", max: "49151", value: "8787" });
  const out = h("div", { id: "link-step" });
  const form = h("form", { id: "address-form" },
    h("div.addr", {}, h("div", {}, h("label", { for: "server", text: "Address the app shows" }), server), h("div", {}, h("label", { for: "port", text: "Port" }), port)),
    h("div.row", { style: "margin-top:8px" }, h("button.primary", { type: "submit", id: "send-link", text: "Send link request" })),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    completeLink(server.value.trim(), Number(port.value) || 8787, out);
  });
  body.replaceChildren(
    h("div.steps", {},
      h("div", {}, h("img.qr", { id: "qr", src: start.qr_svg, alt: "QR code to scan with ANOTHERpass" }),
        h("details", {}, h("summary", { text: "No camera? The code as text" }), h("code", { id: "qr-text", text: start.qr_payload }))),
      h("div", {},
        h("p", {}, "1. Scan this code in the ANOTHERpass app (“Link new device”)."),
        h("p", {}, "2. Enter the address and port the app shows after scanning."),
        form, out)),
  );
}

async function completeLink(server, port, out) {
  out.replaceChildren(h("p.muted", { text: "Waiting for the phone to answer…" }));
  let r;
  try {
    r = await host("anotherpass.link.complete", { server, port }, { onProgress: () => {} });
  } catch (e) {
    return fail(out, e);
  }
  const decide = async (matches) => {
    try {
      const c = await host("anotherpass.link.confirm", { matches });
      out.replaceChildren(c.linked
        ? h("p.ok", { id: "link-done", text: "Linked. You can now ask your phone for logins from the popup." })
        : h("p", { id: "link-done", text: "Not linked: the link was discarded. Start again when ready." }));
      if (c.linked) setTimeout(renderLink, 1500);
    } catch (e) {
      fail(out, e);
    }
  };
  out.replaceChildren(
    h("p", {}, "3. Compare: the phone shows a fingerprint. Is it this one?"),
    h("div.fingerprint", { id: "link-fingerprint", text: r.fingerprint }),
    h("div.row", {},
      h("button.primary", { id: "confirm-link", text: "Same on the phone: link", onclick: () => decide(true) }),
      h("button", { id: "abandon-link", text: "Different: abandon", onclick: () => decide(false) })),
  );
}

// ---- Vault. ----

async function renderVault() {
  const body = $("vault-body");
  let v;
  try {
    v = await host("vault.status");
  } catch (e) {
    return fail(body, e);
  }
  const facts = v.exists
    ? `${v.entries ?? 0} logins, ${v.locked ? "locked" : "unlocked"}; locks after ${v.lock_timeout_minutes ?? 60} minutes without use${v.password_set ? "; a local password is set" : ""}.`
    : "No vault yet: the first login you get from your phone creates it.";
  const parts = [h("p", { id: "vault-facts", text: facts })];
  if (v.exists && !v.locked) {
    const pw = h("input", { type: "password", id: "new-password", placeholder: "New local password (8+ characters)", autocomplete: "new-password" });
    const form = h("form.row", {}, pw, h("button", { type: "submit", text: "Set password" }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await host("vault.set_password", { password: pw.value });
        pw.value = "";
        renderVault();
      } catch (err) {
        pw.value = "";
        fail(body, err);
      }
    });
    parts.push(h("p.muted", { text: "A local password lets you unlock the vault without the phone." }), form);
    parts.push(h("div.row", { style: "margin-top:8px" }, h("button", { text: "Lock now", onclick: async () => { await host("vault.lock").catch(() => {}); renderVault(); } })));
  }
  parts.push(await lockTimeoutForm(v));
  body.replaceChildren(...parts);
}

/// The lock timeout: vault.settings for the current value and bounds, vault.settings.set to
/// change it (a longer one may need a touch of a security key: the Clarion page opens).
async function lockTimeoutForm(status) {
  let current;
  try {
    current = await host("vault.settings");
  } catch (e) {
    // An older passbridge has no such action: say where the setting lives.
    if (e.code === "unknown_action") return h("p.muted", { id: "vault-timeout-note", text: "To change the lock timeout, set vault.lock_timeout_minutes in passbridge's config.json (this passbridge cannot change it from here)." });
    const out = h("div");
    fail(out, e);
    return out;
  }
  const limits = bounds(current);
  const minutes = current.lock_timeout_minutes ?? status.lock_timeout_minutes ?? 60;
  const input = h("input", { type: "number", id: "lock-timeout", min: String(limits.min), max: String(limits.max), step: "1", value: String(minutes), inputmode: "numeric" });
  const out = h("div", { id: "lock-timeout-out" });
  // novalidate: the browser would refuse 0 silently; lockTimeoutRequest says what is allowed.
  const form = h("form", { id: "lock-timeout-form", novalidate: true },
    h("div.row", {},
      h("label", { for: "lock-timeout", text: "Lock the vault after this many minutes without use" }),
      input,
      h("button", { type: "submit", id: "save-lock-timeout", text: "Save" })),
    h("p.muted", { id: "lock-timeout-hint", text: `${limits.min} to ${limits.max} minutes (a week). A longer time can need your security key's approval.` }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const { action, params } = lockTimeoutRequest(input.value, limits);
      const r = await host(action, params, { onProgress: approvalNote(out) });
      await renderVault();
      $("lock-timeout-out")?.replaceChildren(h("p.ok", { id: "lock-timeout-saved", text: savedLine(r) }));
    } catch (err) {
      fail(out, err);
    }
  });
  return h("div", {}, form, out);
}

// ---- Clarion: the server (given with the first key), keys, and what needs a touch. ----

const OPERATION_NAMES = {
  vault_unlock: "Unlocking the local vault",
  vault_get: "Taking a login out of the local vault",
  anotherpass_link: "Linking a phone",
  anotherpass_fetch: "Asking the phone for a login",
  passman_unlock: "Unlocking Passman",
  passman_get: "Taking a login out of Passman",
  credential_get: "Taking a login out of any source",
  vault_read: "Listing or searching the local vault",
  vault_delete: "Deleting a login from the local vault",
  vault_reset: "Resetting the local vault",
  anotherpass_reveal_key: "Showing the phone link's key",
  vault_settings: "Keeping the local vault unlocked longer",
};

/// Progress of a request that may need a touch: the background opens the Clarion page.
function approvalNote(where) {
  return (ev) => {
    if (ev?.stage === "approval_pending") where.replaceChildren(h("p.muted", { id: "clarion-waiting", text: "Waiting for your security key: approve on the Clarion page that just opened." }));
    if (ev?.stage === "approval_verified") where.replaceChildren(h("p.muted", { text: "Approved." }));
  };
}

/// Registers a key: Clarion's page (opened here, so it can post back to this window) sends
/// {clarion_key: {state, name, data}}; the host decrypts and stores it.
async function registerKey(server, name, out) {
  let start;
  try {
    const params = { origin: location.origin, name: name || "passbridge" };
    if (server) params.server = server;
    start = await host("clarion.register.start", params, { onProgress: approvalNote(out) });
  } catch (e) {
    return fail(out, e);
  }
  const win = window.open(start.url, "clarion-register");
  out.replaceChildren(h("p.muted", { id: "clarion-registering", text: `Name the key and touch it on the Clarion page (${new URL(start.url).host}).` }));
  const expected = new URL(start.url).origin;
  const onMessage = async (ev) => {
    const k = ev.data?.clarion_key;
    if (ev.origin !== expected || !k || k.state !== start.state) return;
    window.removeEventListener("message", onMessage);
    win?.close();
    try {
      const r = await host("clarion.register.finish", { state: k.state, data: k.data });
      out.replaceChildren(h("p.ok", { text: `Key “${r.key?.name || k.name || "?"}” registered.` }));
      renderClarion();
    } catch (e) {
      fail(out, e);
    }
  };
  window.addEventListener("message", onMessage);
}

async function renderClarion() {
  const body = $("clarion-body");
  let p;
  let keys = { items: [], server: null };
  try {
    p = await host("clarion.policy");
    keys = await host("clarion.keys").catch((e) => (e.code === "clarion_not_configured" ? { items: [], server: null } : Promise.reject(e)));
  } catch (e) {
    if (e.code !== "clarion_not_configured") return fail(body, e);
    p = { require: [], operations: Object.keys(OPERATION_NAMES).slice(0, 4), keys: 0, approval_ttl_seconds: 0 };
  }
  const out = h("div", { id: "clarion-out" });
  const parts = [];
  // Server and keys.
  const server = h("input", { id: "clarion-server", placeholder: "https://clarion.example", value: keys.server || "", autocomplete: "off" });
  if (keys.server) server.disabled = true;
  const keyName = h("input", { id: "clarion-key-name", placeholder: "Key name (shown on the Clarion page)", autocomplete: "off" });
  const regForm = h("form", { id: "clarion-register" },
    h("label", { for: "clarion-server", text: "Clarion server" }), server,
    h("div.row", { style: "margin-top:6px" }, keyName, h("button", { type: "submit", id: "clarion-add-key", text: "Register a security key" })));
  regForm.addEventListener("submit", (e) => {
    e.preventDefault();
    registerKey(keys.server ? null : server.value.trim(), keyName.value.trim(), out);
  });
  parts.push(regForm);
  if (keys.server) parts.push(h("p.muted", { text: "The server is fixed while keys are registered with it; remove them all to change it." }));
  const items = Array.isArray(keys.items) ? keys.items : [];
  parts.push(h("ul", { id: "clarion-keys" }, items.map((k) => h("li", {},
    `${k.name || "(no name)"} (${k.type || "key"}) `,
    h("button.danger", { text: "Remove", onclick: async () => {
      try {
        await host("clarion.remove", { handle: k.handle }, { onProgress: approvalNote(out) });
        renderClarion();
      } catch (e) {
        fail(out, e);
      }
    } })))));
  // Policy.
  const ops = Array.isArray(p.operations) ? p.operations : [];
  const boxes = ops.map((op) => h("input", { type: "checkbox", id: `require-${op}`, value: op, checked: (p.require || []).includes(op) }));
  const ttl = h("input", { type: "number", id: "clarion-ttl", min: "0", max: "3600", value: String(p.approval_ttl_seconds ?? 0) });
  const policyForm = h("form", { id: "clarion-policy" },
    h("p", { text: "Ask for a touch of a registered key before:" }),
    ops.map((op, i) => h("div", {}, boxes[i], h("label", { for: `require-${op}`, text: ` ${OPERATION_NAMES[op] || op}` }))),
    h("div.row", { style: "margin-top:6px" }, h("label", { for: "clarion-ttl", text: "Remember an approval for (seconds, 0 = ask every time)" }), ttl),
    h("div.row", { style: "margin-top:6px" }, h("button", { type: "submit", id: "clarion-save-policy", text: "Save policy", disabled: !items.length && !(p.require || []).length })));
  policyForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const seconds = Number(ttl.value);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 3600) return fail(out, { message: "The approval time is a whole number of seconds from 0 to 3600." });
    try {
      await host("clarion.policy.set", { require: boxes.filter((b) => b.checked).map((b) => b.value), approval_ttl_seconds: seconds }, { onProgress: approvalNote(out) });
      out.replaceChildren(h("p.ok", { id: "clarion-saved", text: "Policy saved." }));
      renderClarion().then(() => $("clarion-out")?.replaceChildren(h("p.ok", { id: "clarion-saved", text: "Policy saved." })));
    } catch (e) {
      fail(out, e);
    }
  });
  parts.push(policyForm);
  if (!items.length) parts.push(h("p.muted", { text: "Register a key first: a policy needs one." }));
  parts.push(out);
  body.replaceChildren(...parts);
}

// ---- Accounts (Passman, PassWeaver): shown only when this passbridge has them. ----

function field(id, label, attrs = {}) {
  const input = h("input", { id, autocomplete: "off", ...attrs });
  return { input, node: h("div.field", {}, h("label", { for: id, text: label }), input) };
}

/// A form whose submit builds a request with `build` (which may throw a FormError) and sends it.
function actionForm(id, fields, buttonText, build, onDone, out) {
  const form = h("form", { id }, fields.map((f) => f.node), h("div.row", { style: "margin-top:6px" }, h("button.primary", { type: "submit", text: buttonText })));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(fields.map((f) => [f.input.name, f.input.type === "checkbox" ? f.input.checked : f.input.value]));
    try {
      const { action, params } = build(values);
      await host(action, params, { onProgress: approvalNote(out) });
      for (const f of fields) if (f.input.type === "password") f.input.value = "";
      onDone();
    } catch (err) {
      for (const f of fields) if (f.input.type === "password") f.input.value = "";
      fail(out, err);
    }
  });
  return form;
}

function named(f, name) {
  f.input.name = name;
  return f;
}

async function renderAccount(backend) {
  const body = $(`${backend}-body`);
  const out = h("div", { id: `${backend}-out` });
  let st;
  try {
    st = await host(ACCOUNT_BACKENDS[backend].status);
  } catch (e) {
    return fail(body, e);
  }
  const d = describeAccount(backend, st);
  const again = () => renderAccount(backend);
  const parts = [h("p", { id: `${backend}-state`, class: d.ready ? "ok" : "", text: d.line })];
  if (backend === "passman") {
    if (d.next === "setup") {
      parts.push(actionForm("passman-setup", [
        named(field("passman-server", "Nextcloud address", { placeholder: "https://cloud.example.org" }), "server"),
        named(field("passman-login", "Login name"), "login"),
        named(field("passman-app-password", "App password (Nextcloud: Settings → Security)", { type: "password", autocomplete: "new-password" }), "app_password"),
        named(field("passman-vault", "Vault (name; optional)"), "vault"),
        named(field("passman-timeout", "Lock after (minutes)", { type: "number", min: "1", max: "10080", value: "60" }), "lock_timeout_minutes"),
      ], "Add account", passmanSetup, again, out));
    } else if (d.next === "unlock") {
      parts.push(actionForm("passman-unlock", [named(field("passman-password", "Vault password", { type: "password", autocomplete: "current-password" }), "password")], "Unlock", passmanUnlock, again, out));
    } else {
      parts.push(h("button", { id: "passman-lock", text: "Lock", onclick: async () => { await host("passman.lock").catch((e) => fail(out, e)); again(); } }));
    }
  } else {
    if (d.next === "setup") {
      parts.push(passweaverSetupForm(again, out));
    } else if (d.next === "login") {
      parts.push(actionForm("passweaver-login", st.auth === "api_key" ? [] : [named(field("passweaver-password", "Password", { type: "password", autocomplete: "current-password" }), "password")], "Log in", (v) => passweaverLogin(v, st), again, out));
    } else {
      if (!st.personal_unlocked) {
        parts.push(actionForm("passweaver-personal", [named(field("passweaver-personal-password", "Personal folder password", { type: "password", autocomplete: "current-password" }), "password")], "Unlock personal folder", passweaverPersonalUnlock, again, out));
      }
      parts.push(h("button", { id: "passweaver-logout", text: "Log out", onclick: async () => { await host("passweaver.logout").catch((e) => fail(out, e)); again(); } }));
    }
  }
  if (d.configured) {
    parts.push(h("button.danger", { id: `${backend}-remove`, text: "Remove account", onclick: async () => { await host(`${backend}.remove`).catch((e) => fail(out, e)); again(); } }));
  }
  parts.push(out);
  body.replaceChildren(...parts);
}

/// PassWeaver's account form: log in with a user name (password at each login) or with an API
/// key and its secret, which the host keeps (0600) and logs in with by itself.
function passweaverSetupForm(again, out) {
  const auth = h("select", { id: "passweaver-auth", name: "auth" },
    Object.entries(PASSWEAVER_AUTH).map(([value, a]) => h("option", { value, text: a.label })));
  const authField = { input: auth, node: h("div.field", {}, h("label", { for: "passweaver-auth", text: "Log in with" }), auth) };
  const insecure = named(field("passweaver-insecure", "Allow plain http (only on a trusted network)", { type: "checkbox" }), "allow_insecure_http");
  insecure.node.className = "field check";
  const fields = {
    server: named(field("passweaver-server", "PassWeaver API address", { placeholder: "https://passweaver.example.org" }), "server"),
    username: named(field("passweaver-username", "User name"), "username"),
    api_key: named(field("passweaver-api-key", "API key (given by your PassWeaver administrator)"), "api_key"),
    secret: named(field("passweaver-secret", "API key secret", { type: "password", autocomplete: "new-password" }), "secret"),
    gui_url: named(field("passweaver-gui", "Web interface address (optional)"), "gui_url"),
    allow_insecure_http: insecure,
  };
  const show = () => {
    const shown = passweaverSetupFields(auth.value);
    for (const [name, f] of Object.entries(fields)) f.node.hidden = !shown.includes(name);
  };
  auth.addEventListener("change", show);
  show();
  return actionForm("passweaver-setup", [authField, ...Object.values(fields)], "Add account", passweaverSetupFromForm, again, out);
}

function accountSections(hello) {
  const names = accountBackends(hello);
  const main = document.querySelector("main");
  for (const name of names) {
    main.append(h("section", { id: name }, h("h2", { text: ACCOUNT_BACKENDS[name].title }), h("div", { id: `${name}-body` })));
  }
  return names.map(renderAccount);
}

(async () => {
  let hello;
  try {
    hello = await host("hello");
    $("host-state").textContent = `Connected to passbridge ${hello.version}.`;
  } catch (e) {
    $("host-state").replaceChildren(h("span.error", { id: "error", text: sentence(e) }), h("pre.cmd", { text: INSTALL_COMMAND }));
    return;
  }
  await Promise.all([renderLink(), renderVault(), renderClarion(), ...accountSections(hello)]);
  document.body.dataset.ready = "1";
})();
