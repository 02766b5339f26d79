// Everything the real-browser tests share: a sandboxed HOME with the built host registered by the
// real installer, the ANOTHERpass simulator driven through its owner prompt, a loopback fixture
// server, and the browsers launched by puppeteer-core (Chromium over CDP with --load-extension,
// Firefox ESR over WebDriver BiDi with webExtension.install).
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { cpSync, existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, accessSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, delimiter, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

export const EXT_ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const REPO = join(EXT_ROOT, "..");
const FIXTURES = join(EXT_ROOT, "test/fixtures");
const TARGET = process.env.CARGO_TARGET_DIR || join(REPO, "target");
/// Where the screenshots go: target/extension-screenshots, so a test run leaves the tree clean.
/// `npm run screenshots` sets PB_SCREENSHOTS=test/screenshots to refresh the README's pictures.
export const SCREENSHOTS = process.env.PB_SCREENSHOTS ? resolve(process.env.PB_SCREENSHOTS) : join(TARGET, "extension-screenshots");
export const HOST_BIN = join(TARGET, "debug/passbridge");
export const SIM_BIN = join(TARGET, "debug/examples/anotherpass-sim");
export const CLARION_BIN = join(TARGET, "debug/examples/clarion-fake");

export const CHROME_ID = "dimjidijnppmaoabgdkmickadcepdapp";
export const GECKO_ID = "extension@passbridge.org";
// Fixed moz-extension:// UUID for the test profile (pref extensions.webextensions.uuids).
const FIREFOX_UUID = "5d3c7b1e-4a2f-4e8b-9c61-2f0a7d9e1b42";

/// Only turns a hang into a failure naming what was awaited; never a performance limit.
export const WAIT_MS = 60_000;

const CANDIDATES = { chromium: ["chromium", "chromium-browser"], firefox: ["firefox-esr", "firefox"] };

export function findBrowser(kind) {
  for (const dir of (process.env.PATH || "").split(delimiter)) {
    for (const exe of CANDIDATES[kind]) {
      const p = join(dir, exe);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // next
      }
    }
  }
  return null;
}

/// The browser's path, or a skip reason; under CI a missing browser or host is a failure.
export function requirements(kind) {
  const exe = findBrowser(kind);
  const missing = [];
  if (!exe) missing.push(`${kind} (sudo apt-get install -y ${kind === "firefox" ? "firefox-esr" : "chromium"})`);
  if (!existsSync(HOST_BIN)) missing.push(`${HOST_BIN} (cargo build)`);
  if (!existsSync(SIM_BIN)) missing.push(`${SIM_BIN} (cargo build --example anotherpass-sim)`);
  if (!existsSync(CLARION_BIN)) missing.push(`${CLARION_BIN} (cargo build --example clarion-fake)`);
  if (!existsSync(join(EXT_ROOT, "src/vendor/tldts.js"))) missing.push("src/vendor/tldts.js (npm ci in extension/)");
  if (missing.length && process.env.CI) throw new Error(`CI is set but these are missing: ${missing.join(", ")}`);
  return { exe, skip: missing.length ? `missing: ${missing.join(", ")}` : false };
}

// ---- The sandbox: HOME, the host's home, the installer. ----

export class Sandbox {
  constructor() {
    this.home = mkdtempSync(join(tmpdir(), "pb-ext-"));
    this.pb = join(this.home, "pb");
  }
  get env() {
    const h = this.home;
    const env = { ...process.env };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    return {
      ...env,
      HOME: h,
      XDG_CONFIG_HOME: join(h, ".config"),
      XDG_CACHE_HOME: join(h, ".cache"),
      XDG_DATA_HOME: join(h, ".local/share"),
      PASSBRIDGE_HOME: this.pb,
      PASSBRIDGE_SYSTEM_ROOT: join(h, "system"),
      PASSBRIDGE_LOG: "debug",
      PASSBRIDGE_LOG_FILE: join(h, "host.log"),
      MOZ_CRASHREPORTER_DISABLE: "1",
    };
  }
  /// `passbridge install --browser <kind>` with no id: the installer registers the extension's
  /// own ids by default.
  install(kind) {
    return execFileSync(HOST_BIN, ["install", "--browser", kind], { env: this.env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }
  /// Test speed-ups in the host's config (smaller RSA key, fast polling); kept beside what the
  /// installer wrote.
  tuneHost() {
    this.editConfig((cfg) => {
      cfg.anotherpass = { ...(cfg.anotherpass || {}), rsa_bits: 2048, poll_interval_ms: 200, timeout_ms: 120000 };
    });
  }
  /// The host's config.json (PASSBRIDGE_HOME/config/config.json), as the host wrote it.
  get configFile() {
    return join(this.pb, "config", "config.json");
  }
  config() {
    return existsSync(this.configFile) ? JSON.parse(readFileSync(this.configFile, "utf8")) : {};
  }
  /// Changes config.json as a person editing it would; the host reads it from disk.
  editConfig(change) {
    const cfg = this.config();
    change(cfg);
    mkdirSync(dirname(this.configFile), { recursive: true, mode: 0o700 });
    writeFileSync(this.configFile, JSON.stringify(cfg, null, 2), { mode: 0o600 });
  }
  hostLog() {
    try {
      return readFileSync(join(this.home, "host.log"), "utf8");
    } catch {
      return "(no host log)";
    }
  }
  remove() {
    rmSync(this.home, { recursive: true, force: true });
  }
}

// ---- The extension under test. ----

/// How long the test build keeps a copied secret on the clipboard (the packed extension: 30 s).
export const TEST_CLIPBOARD_CLEAR_MS = 5_000;

/// The packed extension (pack.sh's dist/<kind>) with two test-only changes: host permission for the
/// loopback fixture sites (a person's click on the toolbar button grants activeTab; a test cannot
/// click browser UI, so the test build holds these permissions instead), and a shorter clipboard
/// clearing delay (src/shared/timing.js). Nothing else differs.
export function testExtension(kind, into) {
  const dist = join(EXT_ROOT, "dist", kind);
  if (!existsSync(join(dist, "manifest.json"))) execFileSync("sh", [join(EXT_ROOT, "pack.sh")], { stdio: "ignore" });
  const dir = join(into, `ext-${kind}`);
  cpSync(dist, dir, { recursive: true });
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  m.host_permissions = ["http://*.test/*", "http://127.0.0.1/*"];
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(m, null, 2));
  const timing = join(dir, "src/shared/timing.js");
  const src = readFileSync(timing, "utf8");
  if (!/CLIPBOARD_CLEAR_MS = 30_000;/.test(src)) throw new Error("src/shared/timing.js changed: update testExtension");
  writeFileSync(timing, src.replace("CLIPBOARD_CLEAR_MS = 30_000;", `CLIPBOARD_CLEAR_MS = ${TEST_CLIPBOARD_CLEAR_MS};`));
  return dir;
}

/// The clipboard's text, read from an extension page (it holds the clipboardRead permission).
export async function readClipboard(extPage) {
  return extPage.evaluate(() => {
    const area = document.createElement("textarea");
    document.body.appendChild(area);
    area.focus();
    document.execCommand("paste");
    const t = area.value;
    area.remove();
    return t;
  });
}

/// Puts `text` on the clipboard from an extension page, as another program would.
export async function writeClipboard(extPage, text) {
  await extPage.evaluate((t) => {
    const onCopy = (e) => {
      e.clipboardData.setData("text/plain", t);
      e.preventDefault();
    };
    document.addEventListener("copy", onCopy, { once: true });
    document.execCommand("copy");
  }, text);
}

// ---- Fixture server: every *.test name resolves to 127.0.0.1 in the browsers. ----

export async function fixtureServer() {
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const name = url.pathname === "/" ? "login.html" : url.pathname.slice(1);
    const file = join(FIXTURES, name.replace(/[^a-z0-9_.-]/gi, ""));
    if (!existsSync(file)) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    let body = readFileSync(file, "utf8");
    body = body.replaceAll("FRAME_URL", url.searchParams.get("frame") || "about:blank");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  return { port, url: (host, path = "/") => `http://${host}:${port}${path}`, close: () => new Promise((r) => server.close(r)) };
}

// ---- Test programs driven through stdin, read through what they print. ----

class Narrator {
  constructor(what, bin, args, env) {
    this.what = what;
    this.out = "";
    this.waiters = [];
    this.proc = spawn(bin, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    const onData = (d) => {
      this.out += d.toString();
      for (const w of [...this.waiters]) w();
    };
    this.proc.stdout.on("data", onData);
    this.proc.stderr.on("data", onData);
    this.proc.on("exit", () => {
      this.exited = true;
      for (const w of [...this.waiters]) w();
    });
  }
  /// Waits for `re` in the output after `from` (an offset into everything printed so far).
  waitFor(re, what, from = 0) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${what}: not seen after ${WAIT_MS} ms. ${this.what} output:\n${this.out.slice(-3000)}`)), WAIT_MS);
      const check = () => {
        const m = this.out.slice(from).match(re);
        if (m) done(null, m);
        else if (this.exited) done(new Error(`${what}: the ${this.what} exited. Output:\n${this.out.slice(-3000)}`));
      };
      const done = (err, m) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        err ? reject(err) : resolve(m);
      };
      this.waiters.push(check);
      check();
    });
  }
  mark() {
    return this.out.length;
  }
  say(line) {
    this.proc.stdin.write(`${line}\n`);
  }
  stop() {
    this.proc.kill("SIGKILL");
  }
}

/// The ANOTHERpass simulator, driven through its owner prompt.
export class Sim extends Narrator {
  static async start(env) {
    for (let attempt = 0; attempt < 20; attempt++) {
      // The app's port range is 1024–49151; pick one there so the setup page's port field takes it.
      const port = 20000 + Math.floor(Math.random() * 20000);
      const sim = new Sim(port, env);
      const ok = await sim.waitFor(/listening on|Cannot listen/, "simulator start").then((m) => /listening on/.test(m[0]));
      if (ok) return sim;
      sim.stop();
    }
    throw new Error("no free port for the simulator");
  }
  constructor(port, env) {
    super("simulator", SIM_BIN, ["--port", String(port), "--key-bits", "2048", "--empty"], env);
    this.port = port;
  }
}

/// The Clarion fake (examples/clarion-fake.rs, the same server as the Rust tests'): prints each
/// approval request; `verify` is the person touching their key on the Clarion page.
export class Clarion extends Narrator {
  static async start(env) {
    const c = new Clarion(env);
    [, c.base] = await c.waitFor(/listening on (\S+)/, "Clarion fake start");
    return c;
  }
  constructor(env) {
    super("Clarion fake", CLARION_BIN, [], env);
  }
  /// The id of the next approval request after `from` (a mark()).
  async nextAuthn(from) {
    const [, id] = await this.waitFor(/authn (\S+)/, "an approval request at Clarion", from);
    return id;
  }
  verify(id, handle, counter) {
    const m = this.mark();
    this.say(`verify ${id} ${handle} ${counter}`);
    return this.waitFor(new RegExp(`verified ${id}`), "the Clarion fake verifies", m);
  }
}

// ---- Browsers. ----

export async function launch(kind, exe, sb, extDir) {
  if (kind === "chromium") {
    const browser = await puppeteer.launch({
      executablePath: exe,
      headless: true,
      userDataDir: join(sb.home, ".config/chromium"),
      enableExtensions: true,
      env: sb.env,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        `--load-extension=${extDir}`,
        `--disable-extensions-except=${extDir}`,
        "--disable-features=DisableLoadExtensionCommandLineSwitch,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
        "--host-resolver-rules=MAP *.test 127.0.0.1",
      ],
    });
    return { browser, base: `chrome-extension://${CHROME_ID}/` };
  }
  const profile = join(sb.home, "ff-profile");
  mkdirSync(profile, { recursive: true });
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: exe,
    headless: true,
    userDataDir: profile,
    // WebDriver BiDi may open moz-extension:// pages (the popup and setup page) only with this.
    env: { ...sb.env, MOZ_REMOTE_ALLOW_SYSTEM_ACCESS: "1" },
    extraPrefsFirefox: {
      "xpinstall.signatures.required": false,
      "extensions.webextensions.uuids": JSON.stringify({ [GECKO_ID]: FIREFOX_UUID }),
      "network.dns.forceResolve": "127.0.0.1",
      "network.proxy.type": 0,
      "dom.security.https_first": false,
      "dom.security.https_first_schemeless": false,
      "dom.security.https_only_mode": false,
      "browser.fixup.dns_first_for_single_words": false,
    },
  });
  await browser.installExtension(extDir);
  return { browser, base: `moz-extension://${FIREFOX_UUID}/` };
}

/// Navigates `page` to an extension page. Firefox moves the tab to the extension's process, which
/// puppeteer reports as a detached frame, so there the page itself says when it is there.
export async function gotoExtension(page, url) {
  const nav = page.goto(url);
  if (url.startsWith("moz-extension:")) {
    nav.catch(() => {});
    const until = Date.now() + WAIT_MS;
    for (;;) {
      // Each evaluation may meet the old document going away: ask again.
      const here = await page.evaluate(() => document.readyState === "complete" && location.href).catch(() => false);
      if (here === url) return;
      if (Date.now() > until) throw new Error(`${url} did not load`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } else {
    await nav;
  }
}

/// The id of the tab showing `urlPrefix` (null: none), asked from an extension page.
export function tabIdOf(extPage, urlPrefix) {
  return extPage.evaluate(async (prefix) => {
    const api = globalThis.browser ?? globalThis.chrome;
    const tabs = await api.tabs.query({});
    const t = tabs.find((x) => (x.url || "").startsWith(prefix));
    return t ? t.id : null;
  }, urlPrefix);
}

/// Waits until a tab shows `urlPrefix` (opened by the extension, which the test cannot watch).
export async function waitForTab(extPage, urlPrefix) {
  const until = Date.now() + WAIT_MS;
  for (;;) {
    const id = await tabIdOf(extPage, urlPrefix);
    if (id !== null) return id;
    if (Date.now() > until) throw new Error(`no tab showed ${urlPrefix} within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/// Runs the extension's keyboard-shortcut handler in its background context, as the browser
/// does when the person presses it (headless browsers cannot): Chromium's service worker over
/// CDP, Firefox's background page through an extension page.
export async function runCommand(kind, browser, base, extPage, command, tabId) {
  if (kind === "chromium") {
    const target = await browser.waitForTarget((t) => t.type() === "service_worker" && t.url().startsWith(base), { timeout: WAIT_MS });
    const worker = await target.worker();
    return worker.evaluate((c, id) => globalThis.passbridgeOnCommand(c, { id }), command, tabId);
  }
  return extPage.evaluate(async (c, id) => {
    const bg = await browser.runtime.getBackgroundPage();
    return bg.passbridgeOnCommand(c, { id });
  }, command, tabId);
}

/// Opens the popup as a page of its own, aimed at the tab showing `pageUrlPrefix` (the toolbar
/// popup aims at the active tab; a test cannot click the toolbar).
export async function openPopup(browser, base, pageUrlPrefix) {
  const popup = await browser.newPage();
  await popup.setViewport({ width: 380, height: 560 });
  await gotoExtension(popup, `${base}src/popup/popup.html?tab=-1`);
  const tabId = await tabIdOf(popup, pageUrlPrefix);
  if (tabId === null) throw new Error(`no tab shows ${pageUrlPrefix}`);
  await gotoExtension(popup, `${base}src/popup/popup.html?tab=${tabId}`);
  return popup;
}

export async function waitView(page, view, what = view) {
  await page.waitForFunction((v) => document.body.dataset.view === v, { timeout: WAIT_MS }, view).catch(async (e) => {
    const text = await page.evaluate(() => document.body.innerText).catch(() => "?");
    throw new Error(`${what}: view ${view} not shown (${e.message}). Page text:\n${text}`);
  });
}

export async function text(page, selector) {
  await page.waitForSelector(selector, { timeout: WAIT_MS }).catch(async (e) => {
    const body = await page.evaluate(() => document.body.innerText).catch(() => "?");
    throw new Error(`${selector} not shown (${e.message}). Page text:\n${body}`);
  });
  return page.$eval(selector, (el) => el.textContent.trim());
}

export async function shot(page, kind, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${kind}-${name}.png`), fullPage: true });
}

export async function values(page, ids) {
  return page.evaluate((ids) => Object.fromEntries(ids.map((id) => [id, document.getElementById(id)?.value ?? null])), ids);
}
