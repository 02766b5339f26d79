// The real extension in real headless Chromium and Firefox ESR, with the built host and the
// ANOTHERpass simulator: first run without the host, linking through the setup page, asking the
// phone, filling every fixture page from the popup, and the fills that must not happen.
// `npm run test:browser` (after `cargo build --bin passbridge --example anotherpass-sim` and
// `npm ci`). Screenshots of the popup land in test/screenshots/. PB_ONLY=chromium (or firefox)
// runs one browser; PB_KEEP=1 keeps the sandbox (host log, profiles).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { gotoExtension, Sandbox, Sim, fixtureServer, launch, openPopup, requirements, testExtension, waitView, text, shot, values, readClipboard, writeClipboard, WAIT_MS } from "./harness.js";

// RFC 6238's SHA-1 secret ("12345678901234567890" in base32) and an independent TOTP for it.
const OTP_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
function totpCodes(nowMs) {
  const code = (step) => {
    const msg = Buffer.alloc(8);
    msg.writeBigUInt64BE(BigInt(step));
    const mac = createHmac("sha1", Buffer.from("12345678901234567890")).update(msg).digest();
    const o = mac[19] & 0x0f;
    return String((mac.readUInt32BE(o) & 0x7fffffff) % 1e6).padStart(6, "0");
  };
  const step = Math.floor(nowMs / 30000);
  return [code(step - 1), code(step)];
}

async function clipboardNotice(popup, state) {
  await popup.waitForFunction((s) => document.getElementById("notice")?.dataset.clipboard === s, { timeout: WAIT_MS }, state).catch(async (e) => {
    throw new Error(`clipboard ${state}: ${e.message}; notice: ${await popup.evaluate(() => document.getElementById("notice")?.textContent).catch(() => "?")}`);
  });
}

for (const kind of ["chromium", "firefox"].filter((k) => !process.env.PB_ONLY || k === process.env.PB_ONLY)) {
  const req = requirements(kind);
  describe(`${kind}: the passbridge extension`, { skip: req.skip }, () => {
    let sb;
    let sim;
    let site;
    let browser;
    let base;
    let shop; // http://www.shop.test:<port>
    const pages = [];
    let shopUid;

    before(async () => {
      sb = new Sandbox();
      site = await fixtureServer();
      shop = (path) => site.url("www.shop.test", path);
      ({ browser, base } = await launch(kind, req.exe, sb, testExtension(kind, sb.home)));
    });

    after(async () => {
      await browser?.close().catch(() => {});
      sim?.stop();
      await site?.close();
      if (process.env.PB_KEEP) console.log(`kept ${sb.home}`);
      else sb?.remove();
    });

    // Every page gets a query of its own, so the popup aims at exactly this tab.
    async function page(url) {
      const p = await browser.newPage();
      await p.goto(`${url}${url.includes("?") ? "&" : "?"}n=${pages.length}`);
      pages.push(p);
      return p;
    }

    it("says how to install the host when it is missing", async () => {
      const login = await page(shop("/login.html"));
      const popup = await openPopup(browser, base, login.url());
      await waitView(popup, "host-missing");
      assert.match(await text(popup, "#error"), /passbridge is not installed on this computer/);
      assert.match(await text(popup, "#install-command"), /install\.sh/);
      await shot(popup, kind, "host-missing");
      await popup.close();
      await login.close();
    });

    it("links the phone through the setup page, showing the simulator's fingerprint", async () => {
      // The installer, given no id, registers the extension's own.
      const out = sb.install(kind);
      assert.match(out, kind === "chromium" ? /dimjidijnppmaoabgdkmickadcepdapp/ : /extension@passbridge\.org/);
      sb.tuneHost();
      sim = await Sim.start(sb.env);
      sim.say(""); // no QR code at the simulator's first prompt; `scan` comes later

      const setup = await browser.newPage();
      await setup.setViewport({ width: 900, height: 900 });
      await gotoExtension(setup, `${base}src/setup/setup.html`);
      await setup.waitForSelector("#start-link", { timeout: 60000 });
      await setup.click("#start-link");
      const qr = await setup.waitForSelector("#qr-text", { timeout: 60000 }).then(() => setup.$eval("#qr-text", (e) => e.textContent));
      const m0 = sim.mark();
      sim.say(`scan ${qr}`);
      await sim.waitFor(/Scanned\./, "the simulator scans the QR code", m0);
      await setup.type("#server", "127.0.0.1");
      await setup.$eval("#port", (e) => (e.value = ""));
      await setup.type("#port", String(sim.port));
      const m1 = sim.mark();
      await setup.click("#send-link");
      const [, simFp] = await sim.waitFor(/compare fingerprint ([A-Z0-9-]+)/, "the simulator's link fingerprint", m1);
      sim.say("accept");
      const shown = await text(setup, "#link-fingerprint");
      assert.equal(shown, simFp, "the setup page shows the fingerprint the phone shows");
      await shot(setup, kind, "setup-fingerprint");
      await setup.click("#confirm-link");
      assert.match(await text(setup, "#link-done"), /^Linked\./);
      // The settings as a person sees them: linked phone, vault, Clarion's editable policy.
      await setup.waitForSelector("#linked", { timeout: WAIT_MS });
      await setup.waitForSelector("#clarion-policy #clarion-save-policy", { timeout: WAIT_MS });
      assert.match(await text(setup, "#vault-timeout-note"), /vault\.lock_timeout_minutes/);
      await shot(setup, kind, "settings");
      await setup.close();
    });

    it("asks the phone: the popup shows the request's fingerprint, then fills the page", async () => {
      const m0 = sim.mark();
      sim.say(`add Shop alice@shop.test pw-Shop-1 http://shop.test:${site.port}`);
      [, shopUid] = await sim.waitFor(/added (\S+)/, "credential added", m0);
      const login = await page(shop("/login.html"));
      const popup = await openPopup(browser, base, login.url());
      await waitView(popup, "main");
      await shot(popup, kind, "no-logins");
      const m = sim.mark();
      await popup.click("#ask-phone");
      const [, simFp] = await sim.waitFor(/request \w+ from \S+, fingerprint ([A-Z0-9-]+)/, "the simulator's request fingerprint", m);
      await popup.waitForFunction((fp) => document.getElementById("fingerprint")?.textContent === fp, { timeout: 60000 }, simFp);
      await shot(popup, kind, "asking-phone");
      sim.say("accept");
      sim.say(`pick ${shopUid}`);
      await waitView(popup, "main");
      assert.match(await text(popup, "#notice"), /User name and password filled/);
      assert.deepEqual(await values(login, ["user", "pass", "q", "decoy-hidden", "decoy-transparent", "decoy-covered"]), {
        user: "alice@shop.test",
        pass: "pw-Shop-1",
        q: "",
        "decoy-hidden": "",
        "decoy-transparent": "",
        "decoy-covered": "",
      });
      await popup.close();
    });

    it("lists the vault's login for the site and fills a framework-controlled form", async () => {
      const app = await page(shop("/framework.html"));
      const popup = await openPopup(browser, base, app.url());
      await popup.waitForSelector("#logins li", { timeout: 60000 });
      assert.match(await text(popup, "#logins"), /alice@shop\.test/);
      await shot(popup, kind, "logins");
      await popup.click('[data-fill="0"]');
      assert.match(await text(popup, "#notice"), /User name and password filled/);
      // The framework's own state saw the input events.
      const state = await app.evaluate(() => ({ ...window.appState }));
      assert.deepEqual(state, { user: "alice@shop.test", pass: "pw-Shop-1" });
      await popup.close();
    });

    it("fills a form inside an open shadow root", async () => {
      const p = await page(shop("/shadow.html"));
      const popup = await openPopup(browser, base, p.url());
      await popup.waitForSelector('[data-fill="0"]', { timeout: 60000 });
      await popup.click('[data-fill="0"]');
      assert.match(await text(popup, "#notice"), /filled/);
      const v = await p.evaluate(() => {
        const r = document.getElementById("box").shadowRoot;
        return [r.getElementById("user").value, r.getElementById("pass").value];
      });
      assert.deepEqual(v, ["alice@shop.test", "pw-Shop-1"]);
      await popup.close();
    });

    it("fills a two-step login: the user name first, the password on the next page", async () => {
      const p = await page(shop("/step1.html"));
      let popup = await openPopup(browser, base, p.url());
      await popup.waitForSelector('[data-fill="0"]', { timeout: 60000 });
      await popup.click('[data-fill="0"]');
      assert.match(await text(popup, "#notice"), /User name filled/);
      assert.equal((await values(p, ["user"])).user, "alice@shop.test");
      await popup.close();
      await Promise.all([p.waitForNavigation(), p.click("button")]);
      popup = await openPopup(browser, base, p.url());
      await popup.waitForSelector("#continue", { timeout: 60000 });
      await shot(popup, kind, "two-step");
      await popup.click("#continue");
      assert.match(await text(popup, "#notice"), /Password filled/);
      assert.equal((await values(p, ["pass"])).pass, "pw-Shop-1");
      await popup.close();
    });

    it("fills a cross-origin frame only after the person allows that pair of origins", async () => {
      const frameUrl = site.url("login.shop.test", "/slow.html");
      const p = await page(shop(`/outer.html?frame=${encodeURIComponent(frameUrl)}`));
      const popup = await openPopup(browser, base, p.url());
      await popup.waitForSelector('[data-fill="0"]', { timeout: 60000 });
      await popup.click('[data-fill="0"]');
      await waitView(popup, "confirm-frame");
      assert.match(await text(popup, "#question"), /frame from http:\/\/login\.shop\.test:\d+ inside http:\/\/www\.shop\.test:\d+/);
      await shot(popup, kind, "confirm-frame");
      const frame = () => p.frames().find((f) => f.url().startsWith(frameUrl));
      assert.deepEqual(await frame().evaluate(() => [document.getElementById("user").value, document.getElementById("pass").value]), ["", ""]);
      await popup.click("#accept");
      assert.match(await text(popup, "#notice"), /User name and password filled/);
      assert.deepEqual(await frame().evaluate(() => [document.getElementById("user").value, document.getElementById("pass").value]), ["alice@shop.test", "pw-Shop-1"]);
      await popup.close();
    });

    it("asks before filling another site's login, and fills nothing when refused", async () => {
      // The phone picks the shop's login for a page of another site (the person picked it there).
      const other = site.url("evil.test", "/login.html");
      const p = await page(other);
      const popup = await openPopup(browser, base, p.url());
      await waitView(popup, "main");
      const m = sim.mark();
      await popup.click("#ask-phone");
      await sim.waitFor(/fingerprint ([A-Z0-9-]+)/, "request seen", m);
      sim.say("accept");
      sim.say(`pick ${shopUid}`);
      await waitView(popup, "confirm-mismatch");
      assert.match(await text(popup, "#question"), /This login is for shop\.test, but the page is evil\.test/);
      await shot(popup, kind, "confirm-mismatch");
      await popup.click("#decline");
      await waitView(popup, "main");
      assert.match(await text(popup, "#error"), /Nothing was filled/);
      assert.deepEqual(await values(p, ["user", "pass"]), { user: "", pass: "" });
      await popup.close();
    });

    it("cancels a phone request from the popup", async () => {
      const p = await page(shop("/slow.html"));
      const popup = await openPopup(browser, base, p.url());
      await waitView(popup, "main");
      const m = sim.mark();
      await popup.click("#ask-phone");
      const [, fp] = await sim.waitFor(/request \w+ from \S+, fingerprint ([A-Z0-9-]+)/, "request seen", m);
      await popup.waitForFunction((f) => document.getElementById("fingerprint")?.textContent === f, { timeout: 60000 }, fp);
      await popup.click("#cancel");
      await waitView(popup, "main");
      assert.match(await text(popup, "#error"), /^Cancelled\.$/);
      assert.deepEqual(await values(p, ["user", "pass"]), { user: "", pass: "" });
      await shot(popup, kind, "cancelled");
      await popup.close();
    });

    it("copies a password and clears the clipboard later, only if it still holds it", async () => {
      const p = await page(shop("/login.html"));
      const popup = await openPopup(browser, base, p.url());
      await popup.waitForSelector('[data-copy="0"]', { timeout: WAIT_MS });
      await popup.bringToFront();
      await popup.click('[data-copy="0"]');
      assert.match(await text(popup, "#notice"), /Password copied\. The clipboard is cleared in 5 seconds/);
      assert.equal(await readClipboard(popup), "pw-Shop-1");
      await clipboardNotice(popup, "cleared");
      assert.equal(await readClipboard(popup), "");
      // Copied again, then replaced by something else before the delay: left alone.
      await popup.click('[data-copy="0"]');
      await popup.waitForFunction(() => document.getElementById("notice")?.dataset.copied === "password", { timeout: WAIT_MS });
      await writeClipboard(popup, "the person's own text");
      await clipboardNotice(popup, "kept");
      assert.equal(await readClipboard(popup), "the person's own text");
      assert.deepEqual(await values(p, ["user", "pass"]), { user: "", pass: "" }, "copying fills nothing");
      await popup.close();
    });

    it("asks before filling a login saved for https into an http page", async () => {
      const m0 = sim.mark();
      sim.say(`add Bank bob@bank.test pw-Bank-1 https://bank.test:${site.port}`);
      const [, uid] = await sim.waitFor(/added (\S+)/, "credential added", m0);
      const p = await page(site.url("bank.test", "/login.html"));
      const popup = await openPopup(browser, base, p.url());
      await waitView(popup, "main");
      const m = sim.mark();
      await popup.click("#ask-phone");
      await sim.waitFor(/request \w+ from \S+, fingerprint ([A-Z0-9-]+)/, "request seen", m);
      sim.say("accept");
      sim.say(`pick ${uid}`);
      await waitView(popup, "confirm-insecure");
      assert.match(await text(popup, "#question"), /saved for a secure \(https\) page of bank\.test.*not encrypted \(http\)/);
      assert.deepEqual(await values(p, ["user", "pass"]), { user: "", pass: "" }, "nothing before the answer");
      await shot(popup, kind, "confirm-insecure");
      await popup.click("#accept");
      assert.match(await text(popup, "#notice"), /User name and password filled/);
      assert.deepEqual(await values(p, ["user", "pass"]), { user: "bob@bank.test", pass: "pw-Bank-1" });
      await popup.close();
    });

    it("copies the current one-time code of a login", async () => {
      const m0 = sim.mark();
      sim.say(`add Mail carol@mail.test pw-Mail-1 http://mail.test:${site.port} otpauth://totp/Mail:carol?secret=${OTP_SECRET}&issuer=Mail`);
      const [, uid] = await sim.waitFor(/added (\S+)/, "credential added", m0);
      const p = await page(site.url("mail.test", "/login.html"));
      let popup = await openPopup(browser, base, p.url());
      await waitView(popup, "main");
      const m = sim.mark();
      await popup.click("#ask-phone");
      await sim.waitFor(/request \w+ from \S+, fingerprint ([A-Z0-9-]+)/, "request seen", m);
      sim.say("accept");
      sim.say(`pick ${uid}`);
      assert.match(await text(popup, "#notice"), /User name and password filled/);
      await popup.close();
      // Now in the local vault, listed with a Code button.
      popup = await openPopup(browser, base, p.url());
      await popup.waitForSelector('[data-totp="0"]', { timeout: WAIT_MS });
      await shot(popup, kind, "logins-totp");
      await popup.bringToFront();
      await popup.click('[data-totp="0"]');
      assert.match(await text(popup, "#notice"), /^Code copied\./);
      const copied = await readClipboard(popup);
      assert.ok(totpCodes(Date.now()).includes(copied), `copied ${copied}, expected one of ${totpCodes(Date.now())}`);
      await clipboardNotice(popup, "cleared");
      await popup.close();
    });

    it("creates a login on the phone with the user name typed in the page", async () => {
      const p = await page(site.url("new.test", "/login.html"));
      await p.type("#user", "dave@new.test");
      const popup = await openPopup(browser, base, p.url());
      await popup.waitForSelector("#create-on-phone:not([disabled])", { timeout: WAIT_MS });
      const m = sim.mark();
      await popup.click("#create-on-phone");
      const [, fp] = await sim.waitFor(/request \w+ from \S+, fingerprint ([A-Z0-9-]+)/, "create request seen", m);
      await popup.waitForFunction((f) => document.getElementById("fingerprint")?.textContent === f, { timeout: WAIT_MS }, fp);
      sim.say("accept");
      sim.say("save pw-New-1");
      assert.match(await text(popup, "#notice"), /Saved on the phone for dave@new\.test/);
      await shot(popup, kind, "created");
      const m2 = sim.mark();
      sim.say("list");
      await sim.waitFor(/dave@new\.test @ \S*new\.test/, "the phone lists the new login", m2);
      await popup.close();
    });

    it("fills nothing when the tab navigates to another site while the phone is asked", async () => {
      const p = await page(shop("/slow.html"));
      const popup = await openPopup(browser, base, p.url());
      await waitView(popup, "main");
      const m = sim.mark();
      await popup.click("#ask-phone");
      await sim.waitFor(/request \w+ from \S+, fingerprint ([A-Z0-9-]+)/, "request seen", m);
      await p.goto(site.url("evil.test", "/slow.html"));
      sim.say("accept");
      sim.say(`pick ${shopUid}`);
      await waitView(popup, "main");
      assert.match(await text(popup, "#error"), /The page changed while waiting, so nothing was filled/);
      assert.deepEqual(await values(p, ["user", "pass"]), { user: "", pass: "" });
      await shot(popup, kind, "navigated");
      await popup.close();
    });
  });
}
