// The real extension in real headless Chromium and Firefox ESR, with the built host and the
// ANOTHERpass simulator: first run without the host, linking through the setup page, asking the
// phone, filling every fixture page from the popup, and the fills that must not happen.
// `npm run test:browser` (after `cargo build --bin passbridge --example anotherpass-sim` and
// `npm ci`). Screenshots of the popup land in test/screenshots/.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { gotoExtension, Sandbox, Sim, fixtureServer, launch, openPopup, requirements, testExtension, waitView, text, shot, values } from "./harness.js";

for (const kind of ["chromium", "firefox"]) {
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
      // The installer run with no ids registers the extension's own id.
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
