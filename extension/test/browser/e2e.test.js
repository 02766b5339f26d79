// The real extension in real headless Chromium and Firefox ESR, with the built host and the
// ANOTHERpass simulator: first run without the host, linking through the setup page, asking the
// phone, filling every fixture page from the popup, and the fills that must not happen.
// `npm run test:browser` (after `cargo build --bin passbridge --example anotherpass-sim --example clarion-fake` and
// `npm ci`). Screenshots land in target/extension-screenshots/ (`npm run screenshots`: in
// test/screenshots/, the README's). PB_ONLY=chromium (or firefox) runs one browser; PB_KEEP=1
// keeps the sandbox (host log, profiles).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:net";
import { gotoExtension, Sandbox, Sim, Clarion, fixtureServer, launch, openPopup, requirements, testExtension, waitView, text, shot, values, readClipboard, writeClipboard, tabIdOf, waitForTab, runCommand, WAIT_MS } from "./harness.js";

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

/// Waits until the settings page says the lock timeout was saved with exactly `line` (an earlier
/// save's line may still be shown right after the click).
async function savedTimeout(setup, line) {
  await setup.waitForFunction((l) => document.getElementById("lock-timeout-saved")?.textContent === l, { timeout: WAIT_MS }, line).catch(async (e) => {
    throw new Error(`"${line}" not shown (${e.message}); page: ${await setup.evaluate(() => document.getElementById("vault-body")?.innerText).catch(() => "?")}`);
  });
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
    let clarion;
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
      clarion?.stop();
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

    // Clicks "Ask phone" and waits until the simulator has the request; returns its fingerprint.
    async function askPhone(popup, what = "request seen") {
      const m = sim.mark();
      await popup.click("#ask-phone");
      const [, fp] = await sim.waitFor(/request \w+ from \S+, fingerprint ([A-Z0-9-]+)/, what, m);
      return fp;
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
      assert.equal(await setup.$eval("#lock-timeout", (e) => e.value), "60");
      await shot(setup, kind, "settings");
      // The lock timeout, changed here: saved in the host's config.json.
      await setup.$eval("#lock-timeout", (e) => (e.value = ""));
      await setup.type("#lock-timeout", "0");
      await setup.click("#save-lock-timeout");
      assert.match(await text(setup, "#lock-timeout-out .error"), /whole number of minutes from 1 to 10080/);
      await setup.$eval("#lock-timeout", (e) => (e.value = ""));
      await setup.type("#lock-timeout", "15");
      await setup.click("#save-lock-timeout");
      await savedTimeout(setup, "Saved: the vault locks after 15 minutes without use.");
      assert.equal(sb.config().vault?.lock_timeout_minutes, 15);
      assert.equal(await setup.$eval("#lock-timeout", (e) => e.value), "15");
      await shot(setup, kind, "settings-lock-timeout");
      await setup.close();
    });

    it("opens the Clarion page in a tab and shows it waits when a longer lock timeout needs a touch", async () => {
      const KEY = "a2V5LW9uZS1jcmVkZW50aWFsLWlk";
      clarion = await Clarion.start(sb.env);
      // A registered key and a policy guarding vault_settings, as clarion.policy.set leaves them.
      sb.editConfig((cfg) => {
        cfg.clarion = {
          server: `${clarion.base}/`,
          keys: [{ type: "webauthn", handle: KEY, name: "test key", public_key: "AQID", registered_at: 0 }],
          policy: { require: ["vault_settings"], approval_ttl_seconds: 0 },
        };
      });
      const setup = await browser.newPage();
      await setup.setViewport({ width: 900, height: 900 });
      await gotoExtension(setup, `${base}src/setup/setup.html`);
      await setup.waitForSelector("#lock-timeout", { timeout: WAIT_MS });
      await setup.$eval("#lock-timeout", (e) => (e.value = ""));
      await setup.type("#lock-timeout", "480");
      const m = clarion.mark();
      await setup.click("#save-lock-timeout");
      const authn = await clarion.nextAuthn(m);
      // The page the host named, in a tab of its own; the settings page says it waits.
      const tabId = await waitForTab(setup, `${clarion.base}/authn/${authn}`);
      assert.ok(Number.isInteger(tabId));
      // The Clarion tab took the front; a background page gets no frames to evaluate or shoot.
      await setup.bringToFront();
      assert.match(await text(setup, "#lock-timeout-out #clarion-waiting"), /Waiting for your security key: approve on the Clarion page that just opened/);
      assert.equal(sb.config().vault?.lock_timeout_minutes, 15, "nothing saved before the touch");
      await shot(setup, kind, "clarion-waiting");
      await clarion.verify(authn, KEY, 1);
      await savedTimeout(setup, "Saved: the vault locks after 8 hours without use (approved with your security key).");
      assert.equal(sb.config().vault?.lock_timeout_minutes, 480);
      // Shorter again: nobody is asked.
      const m2 = clarion.mark();
      await setup.$eval("#lock-timeout", (e) => (e.value = ""));
      await setup.type("#lock-timeout", "15");
      await setup.click("#save-lock-timeout");
      await savedTimeout(setup, "Saved: the vault locks after 15 minutes without use.");
      assert.doesNotMatch(clarion.out.slice(m2), /authn /);
      const clarionTab = (await browser.pages()).find((p) => p.url().startsWith(`${clarion.base}/authn/`));
      await clarionTab?.close();
      await setup.close();
    });

    it("adds a PassWeaver account with an API key from the settings page", async () => {
      // A port nothing listens on: the host must try it with the key (and say it is unreachable).
      const closed = await new Promise((r) => {
        const srv = createServer().listen(0, "127.0.0.1", () => {
          const { port } = srv.address();
          srv.close(() => r(port));
        });
      });
      const setup = await browser.newPage();
      await setup.setViewport({ width: 900, height: 1400 });
      await gotoExtension(setup, `${base}src/setup/setup.html`);
      await setup.waitForSelector("#passweaver-setup #passweaver-auth", { timeout: WAIT_MS });
      const shown = () => setup.evaluate(() => ["passweaver-username", "passweaver-api-key", "passweaver-secret"].map((id) => !document.getElementById(id).closest(".field").hidden));
      assert.deepEqual(await shown(), [true, false, false], "a user name by default");
      await setup.select("#passweaver-auth", "api_key");
      assert.deepEqual(await shown(), [false, true, true]);
      await setup.type("#passweaver-server", `http://127.0.0.1:${closed}`);
      await setup.click("#passweaver-insecure");
      await setup.type("#passweaver-api-key", "k-0123");
      await setup.type("#passweaver-secret", "s3cret-api");
      await shot(setup, kind, "passweaver-api-key");
      await setup.click("#passweaver-setup button[type=submit]");
      await setup.waitForSelector("#passweaver-out [data-code]", { timeout: WAIT_MS });
      assert.equal(await setup.$eval("#passweaver-out [data-code]", (e) => e.dataset.code), "passweaver_unreachable");
      assert.match(await text(setup, "#passweaver-out"), /PassWeaver server cannot be reached/);
      assert.equal(await setup.$eval("#passweaver-secret", (e) => e.value), "", "the secret is not left in the form");
      assert.doesNotMatch(await setup.evaluate(() => document.body.innerText), /s3cret-api/);
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
      const simFp = await askPhone(popup, "the simulator's request fingerprint");
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

    it("fills the best login from the keyboard shortcut's handler, and nothing on another site", async () => {
      const p = await page(shop("/login.html"));
      const ext = await browser.newPage();
      await gotoExtension(ext, `${base}src/popup/popup.html?tab=-1`);
      const tabId = await tabIdOf(ext, p.url());
      assert.equal(await runCommand(kind, browser, base, ext, "fill-best", tabId), "filled");
      assert.deepEqual(await values(p, ["user", "pass", "q", "decoy-hidden", "decoy-transparent", "decoy-covered"]), {
        user: "alice@shop.test",
        pass: "pw-Shop-1",
        q: "",
        "decoy-hidden": "",
        "decoy-transparent": "",
        "decoy-covered": "",
      });
      const other = await page(site.url("evil.test", "/login.html"));
      const otherId = await tabIdOf(ext, other.url());
      assert.equal(await runCommand(kind, browser, base, ext, "fill-best", otherId), "no_match");
      assert.deepEqual(await values(other, ["user", "pass"]), { user: "", pass: "" });
      await ext.close();
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
      await askPhone(popup);
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
      const fp = await askPhone(popup);
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
      await askPhone(popup);
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
      await askPhone(popup);
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
      await askPhone(popup);
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
