// The host protocol v1 over one native messaging port (docs/protocol.md). Pure: `connect` returns
// anything shaped like a runtime.Port, so the unit tests drive it with a fake port.
//
// One port at a time, opened on the first request and again on the first request after it closed
// (never in a loop). Each request gets a fresh id; progress events go to the request's callback;
// exactly one final reply settles it. When the port closes, every open request fails with the
// reason the browser gave, turned into an extension error code.

export class HostError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

/// The browser's reason for closing a native port, as an extension error code. Chrome: "Specified
/// native messaging host not found." / "Access to the specified native messaging host is
/// forbidden." / "Native host has exited."; Firefox: "No such native application <name>" and
/// "... does not have permission to use native application ... (or the application is not
/// installed)".
export function disconnectCode(reason) {
  const r = String(reason || "");
  if (/not found|no such native application/i.test(r)) return "host_missing";
  if (/not installed/i.test(r)) return "host_missing";
  if (/forbidden|does not have permission/i.test(r)) return "host_forbidden";
  return "host_exited";
}

export class HostClient {
  /// `connect()` opens a port; `reasonOf(port)` reads why it closed (Chrome: runtime.lastError,
  /// Firefox: port.error).
  constructor(connect, reasonOf = (port) => port && port.error && port.error.message) {
    this.connect = connect;
    this.reasonOf = reasonOf;
    this.port = null;
    this.next = 1;
    this.pending = new Map();
    this.hello = null;
  }

  ensurePort() {
    if (this.port) return this.port;
    const port = this.connect();
    this.port = port;
    port.onMessage.addListener((frame) => this.onFrame(frame));
    port.onDisconnect.addListener((p) => {
      const reason = this.reasonOf(p || port);
      if (this.port === port) this.port = null;
      this.hello = null;
      const code = disconnectCode(reason);
      const open = [...this.pending.values()];
      this.pending.clear();
      for (const req of open) req.reject(new HostError(code, reason || "disconnected"));
    });
    return port;
  }

  onFrame(frame) {
    if (!frame || typeof frame !== "object") return;
    const req = this.pending.get(frame.id);
    if (!req) return; // A frame for nobody (e.g. after a cancel settled it): nothing to do.
    if (frame.event === "progress") {
      try {
        req.onProgress?.(frame);
      } catch {
        // A view that went away must not break the request.
      }
      return;
    }
    if (!("ok" in frame)) return;
    this.pending.delete(frame.id);
    if (frame.ok === true) req.resolve(frame.result ?? {});
    else req.reject(new HostError(frame.error?.code || "internal", frame.error?.message || ""));
  }

  /// Sends one request. Returns `{id, promise}`: the id is what `cancel(id)` needs.
  start(action, params, { onProgress } = {}) {
    const id = `r${this.next++}`;
    const msg = { id, action };
    if (params !== undefined) msg.params = params;
    if (onProgress) msg.progress = true;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
    });
    try {
      this.ensurePort().postMessage(msg);
    } catch (e) {
      // postMessage on a port that closed between checks: the disconnect handler may not have run.
      const req = this.pending.get(id);
      this.pending.delete(id);
      this.port = null;
      req?.reject(new HostError(disconnectCode(e && e.message), String((e && e.message) || e)));
    }
    return { id, promise };
  }

  request(action, params, opts) {
    return this.start(action, params, opts).promise;
  }

  /// Asks the host to cancel request `id`; the request itself then ends with `cancelled`.
  cancel(id) {
    if (!this.pending.has(id)) return Promise.resolve({ cancelled: false });
    return this.request("cancel", { target: id }).catch(() => ({ cancelled: false }));
  }

  /// `hello`, kept until the port closes (the list of actions decides which ones to use).
  async getHello() {
    if (!this.hello) this.hello = await this.request("hello");
    return this.hello;
  }

  async supports(action) {
    const h = await this.getHello();
    return Array.isArray(h.actions) && h.actions.includes(action);
  }

  close() {
    const port = this.port;
    this.port = null;
    if (port) port.disconnect();
  }
}

/// Credentials from `credentials.search` or `vault.search`, in one shape for the popup:
/// `{source, id, name, user, website, match, has_otp}`. Never a password.
export function normalizeItems(result, sourceDefault = "vault") {
  const items = Array.isArray(result?.items) ? result.items : [];
  return items.map((i) => ({
    source: i.source || sourceDefault,
    id: String(i.id ?? i.uid ?? ""),
    name: i.name || "",
    user: i.user || "",
    website: i.website || (Array.isArray(i.urls) ? i.urls[0] : i.url) || "",
    match: i.match || "",
    has_otp: Boolean(i.has_otp || i.otp),
  }));
}
