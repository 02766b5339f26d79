// Injected on demand into the frames of the tab the person asked to fill (never on page load).
// Finds the login form, checks that its fields are visible and on top, and fills them the way
// typing would. A classic script (executeScript needs one) that the unit tests also import: the
// classification is pure, over plain descriptions of the fields.
(() => {
  const g = globalThis;
  if (g.__passbridgeFill) return;

  // ---- Pure part: what a field is, which group of fields is the login form. ----

  const words = (d) =>
    [d.name, d.id, d.autocomplete, d.placeholder, d.label, d.ariaLabel, d.className]
      .filter(Boolean)
      .join(" ")
      .toLowerCase();

  const TEXTLIKE = new Set(["", "text", "email", "tel", "number"]);

  /// A field description `{type, name, id, autocomplete, placeholder, label, ariaLabel, className}`
  /// becomes one of: password, new-password, username, search, otp, other.
  function classify(d) {
    const type = String(d.type || "").toLowerCase();
    const ac = String(d.autocomplete || "").toLowerCase();
    const w = words(d);
    if (type === "password") {
      if (/\bnew-password\b/.test(ac)) return "new-password";
      if (/\bcurrent-password\b/.test(ac)) return "password";
      if (/(new|confirm|repeat|again|verify|retype|neues?|wiederhol)[-_ ]?(pass|pw|pwd|kennwort)|pass(word)?[-_ ]?(new|confirm|repeat|again|2)\b/.test(w)) return "new-password";
      return "password";
    }
    if (type === "search" || /\b(search|query|suche|recherche)\b|^q$|[-_ ]q\b/.test(w) || d.role === "searchbox") return "search";
    if (!TEXTLIKE.has(type)) return "other";
    if (/\bone-time-code\b/.test(ac) || /\b(otp|totp|2fa|mfa|one-time|verification[-_ ]?code|auth[-_ ]?code)\b/.test(w)) return "otp";
    if (/\b(username|email)\b/.test(ac)) return "username";
    if (type === "email") return "username";
    if (/(user|login|e-?mail|account|identifier|benutzer|nutzer|anmelde|handle|customer|member|nickname)/.test(w)) return "username";
    return "other";
  }

  /// A group is the fields of one form (or the formless fields of one document or shadow root),
  /// each already classified. Returns how much it looks like a login form (≤ 0: not one) and the
  /// fields to fill.
  function scoreGroup(kinds, context = "") {
    const count = (k) => kinds.filter((x) => x === k).length;
    const pw = count("password");
    const np = count("new-password");
    const un = count("username");
    const ctx = String(context).toLowerCase();
    let score = 0;
    let password = -1;
    let username = -1;
    if (pw >= 1) {
      password = kinds.indexOf("password");
      score += 10;
      // The user name is the last username-like field before the password, else the first one.
      for (let i = password - 1; i >= 0; i--) {
        if (kinds[i] === "username") {
          username = i;
          break;
        }
      }
      if (username < 0) {
        const other = kinds.slice(0, password).lastIndexOf("other");
        username = un ? kinds.indexOf("username") : other;
      }
      if (username >= 0) score += 3;
      if (np >= 1) score -= 8; // A password-change form: current + new (+ confirm).
      if (pw > 1) score -= 4;
    } else if (np === 0 && un === 1 && kinds.filter((k) => k !== "other" && k !== "otp").length === 1) {
      // Step one of a two-step login: a single user name field and nothing else that matters.
      username = kinds.indexOf("username");
      score += 4;
      if (/(sign|log)[ -]?in|anmeld|next|continue|weiter/.test(ctx)) score += 2;
      if (/(subscribe|newsletter|sign ?up|register)/.test(ctx)) score -= 6;
    }
    if (/(sign|log)[ -]?in|anmeld|connexion/.test(ctx)) score += 1;
    if (/(sign ?up|register|create account|change password)/.test(ctx)) score -= 2;
    return { score, username, password };
  }

  /// Minimal opacity along the ancestors that still counts as visible: clickjacking overlays use
  /// nearly transparent fields.
  const MIN_OPACITY = 0.5;
  /// Fields smaller than this (CSS px) are not something a person sees.
  const MIN_SIZE = 5;

  /// Pure visibility verdict from measured facts (the DOM part below measures them).
  function visibleVerdict(m) {
    if (m.disabled || m.readOnly) return "disabled";
    if (m.width < MIN_SIZE || m.height < MIN_SIZE) return "too_small";
    if (m.hidden) return "hidden";
    if (m.opacity < MIN_OPACITY) return "transparent";
    if (m.cx < 0 || m.cy < 0 || m.cx >= m.vw || m.cy >= m.vh) return "off_screen";
    if (!m.onTop) return "covered";
    return "ok";
  }

  // ---- DOM part. ----

  function labelText(el) {
    try {
      if (el.labels && el.labels.length) return [...el.labels].map((l) => l.textContent).join(" ").trim();
    } catch {
      // Some inputs throw on .labels.
    }
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const root = el.getRootNode();
      return by
        .split(/\s+/)
        .map((id) => root.getElementById?.(id)?.textContent || "")
        .join(" ")
        .trim();
    }
    return "";
  }

  function describe(el) {
    return {
      type: el.getAttribute("type") || "",
      name: el.getAttribute("name") || "",
      id: el.id || "",
      autocomplete: el.getAttribute("autocomplete") || "",
      placeholder: el.getAttribute("placeholder") || "",
      ariaLabel: el.getAttribute("aria-label") || "",
      role: el.getAttribute("role") || "",
      className: typeof el.className === "string" ? el.className : "",
      label: labelText(el),
    };
  }

  /// Every input in the document and in open shadow roots (closed ones are unreachable by design).
  function allInputs(root, out = []) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    for (let n = walker.currentNode; n; n = walker.nextNode()) {
      if (n.tagName === "INPUT") out.push(n);
      if (n.shadowRoot) allInputs(n.shadowRoot, out);
    }
    return out;
  }

  function cumulativeOpacity(el) {
    let o = 1;
    for (let n = el; n && n.nodeType === 1; ) {
      const cs = getComputedStyle(n);
      o *= parseFloat(cs.opacity || "1");
      n = n.parentElement || (n.getRootNode() && n.getRootNode().host) || null;
    }
    return o;
  }

  function measure(el) {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    const cx = r.left + r.width / 2;
    const cy = r.top + r.height / 2;
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    let onTop = false;
    if (cx >= 0 && cy >= 0 && cx < vw && cy < vh) {
      // elementFromPoint of the field's own tree (a shadow root answers for its content).
      const root = el.getRootNode();
      const hit = (root.elementFromPoint ? root : document).elementFromPoint(cx, cy);
      onTop = hit === el || (hit && el.contains(hit));
    }
    return {
      disabled: el.disabled,
      readOnly: el.readOnly,
      width: r.width,
      height: r.height,
      hidden: cs.visibility !== "visible" || cs.display === "none" || el.type === "hidden",
      opacity: cumulativeOpacity(el),
      cx,
      cy,
      vw,
      vh,
      onTop,
    };
  }

  function visible(el) {
    let v = visibleVerdict(measure(el));
    if (v === "off_screen") {
      // A person asked to fill: bring the field into view once, then judge again.
      el.scrollIntoView({ block: "center", inline: "nearest" });
      v = visibleVerdict(measure(el));
    }
    return v;
  }

  /// The login form of this frame: fields grouped by form (formless fields by their root), only
  /// visible fields counted, the best-scoring group returned with its elements.
  function findLogin() {
    const inputs = allInputs(document.documentElement || document);
    const groups = new Map();
    for (const el of inputs) {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (["hidden", "submit", "button", "checkbox", "radio", "file", "image", "reset", "range", "color"].includes(type)) continue;
      if (visible(el) !== "ok") continue;
      const key = el.form || el.getRootNode();
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(el);
    }
    let best = null;
    for (const [key, els] of groups) {
      const kinds = els.map((el) => classify(describe(el)));
      const ctxNode = key.nodeType === 1 ? key : null;
      const context = ctxNode
        ? [ctxNode.getAttribute("action"), ctxNode.id, ctxNode.getAttribute("name"), ctxNode.getAttribute("aria-label"), (ctxNode.textContent || "").slice(0, 400)].join(" ")
        : (document.title || "");
      const s = scoreGroup(kinds, context);
      if (s.score > 0 && (!best || s.score > best.score)) {
        best = { score: s.score, username: els[s.username] || null, password: els[s.password] || null };
      }
    }
    return best;
  }

  /// Sets a value the way a framework sees typing: the prototype's native setter (bypassing a
  /// framework's own value property), then the events typing produces.
  function setValue(el, value) {
    el.focus({ preventScroll: true });
    const proto = Object.getPrototypeOf(el);
    const setter = Object.getOwnPropertyDescriptor(proto, "value")?.set || Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
    el.dispatchEvent(new KeyboardEvent("keydown", { bubbles: true, composed: true }));
    setter.call(el, value);
    el.dispatchEvent(new InputEvent("input", { bubbles: true, composed: true, inputType: "insertReplacementText" }));
    el.dispatchEvent(new KeyboardEvent("keyup", { bubbles: true, composed: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }

  /// What the background needs to choose a frame: is there a login form here, and which frames
  /// does this document hold (for the cross-origin consent).
  function scan() {
    const login = findLogin();
    const frames = [...document.querySelectorAll("iframe,frame")].map((f) => {
      let origin = "";
      try {
        origin = new URL(f.src, location.href).origin;
      } catch {
        origin = "";
      }
      return { origin, sandboxed: f.hasAttribute("sandbox") && !/allow-same-origin/.test(f.getAttribute("sandbox") || "") };
    });
    return {
      origin: location.origin,
      url: location.href,
      top: window === window.top,
      // A sandboxed frame without allow-same-origin has the opaque origin "null".
      sandboxed: location.origin === "null" || self.origin === "null",
      login: login ? { score: login.score, username: Boolean(login.username), password: Boolean(login.password), typedUser: login.username ? login.username.value : "" } : null,
      frames,
    };
  }

  /// Fills this frame if it is still at `expectedOrigin` (the tab may have navigated while the
  /// phone was asked). Returns which fields were filled, or why none was.
  function fill({ expectedOrigin, username, password }) {
    if (location.origin !== expectedOrigin) return { ok: false, code: "navigated", origin: location.origin };
    const login = findLogin();
    if (!login) return { ok: false, code: "no_form" };
    const filled = [];
    if (login.username && typeof username === "string" && username !== "") {
      setValue(login.username, username);
      filled.push("username");
    }
    if (login.password && typeof password === "string") {
      setValue(login.password, password);
      filled.push("password");
    }
    if (filled.length === 0) return { ok: false, code: "no_visible_field" };
    return { ok: true, filled, awaitsPassword: !login.password };
  }

  g.__passbridgeFill = { classify, scoreGroup, visibleVerdict, scan, fill };
})();
