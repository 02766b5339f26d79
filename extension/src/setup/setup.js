// Setup: link the phone (QR code, address, fingerprint), the local vault's password, the Clarion
// policy. Everything goes through the background's host connection.
import { host, h, sentence } from "../shared/ui.js";
import { INSTALL_COMMAND } from "../shared/errors.js";

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
  parts.push(h("p.muted", { text: "The lock timeout is `vault.lock_timeout_minutes` in passbridge's config.json." }));
  body.replaceChildren(...parts);
}

// ---- Clarion. ----

async function renderClarion() {
  const body = $("clarion-body");
  try {
    const p = await host("clarion.policy");
    const guarded = (p.require || []).join(", ") || "nothing";
    body.replaceChildren(
      h("p", { text: `Approvals required for: ${guarded}. ${Array.isArray(p.keys) ? p.keys.length : p.keys ?? 0} key(s) registered.` }),
      h("p.muted", {}, "Register keys and change the policy with ", h("code", { text: "passbridge clarion" }), " in a terminal."),
    );
  } catch (e) {
    if (e.code === "clarion_not_configured") body.replaceChildren(h("p.muted", { text: "Not set up. `passbridge clarion --help` explains how to add a server and a key." }));
    else fail(body, e);
  }
}

(async () => {
  try {
    const hello = await host("hello");
    $("host-state").textContent = `Connected to passbridge ${hello.version}.`;
  } catch (e) {
    $("host-state").replaceChildren(h("span.error", { id: "error", text: sentence(e) }), h("pre.cmd", { text: INSTALL_COMMAND }));
    return;
  }
  await Promise.all([renderLink(), renderVault(), renderClarion()]);
})();
