// The settings page's message layer for the account backends (Passman on Nextcloud, PassWeaver):
// which of them this host has (`hello`), the host request each form makes, and a line about each
// account's state. Pure: no DOM, no browser API, so the unit tests cover it.
// Actions as in docs/protocol.md ("Passman actions", "PassWeaver actions").

export class FormError extends Error {
  constructor(message) {
    super(message);
    // No code: sentence() shows this message as it is.
    this.code = "";
  }
}

export const ACCOUNT_BACKENDS = {
  passman: { title: "Passman (Nextcloud)", status: "passman.status" },
  passweaver: { title: "PassWeaver", status: "passweaver.status" },
};

/// The account backends the host has, in ACCOUNT_BACKENDS order: listed in `hello.backends`
/// (names, or objects with a name) and, when `hello.actions` is given, with their status action.
export function accountBackends(hello) {
  const listed = new Set((Array.isArray(hello?.backends) ? hello.backends : []).map((b) => (typeof b === "string" ? b : b?.name)).filter(Boolean));
  const actions = Array.isArray(hello?.actions) ? new Set(hello.actions) : null;
  return Object.keys(ACCOUNT_BACKENDS).filter((name) => listed.has(name) && (!actions || actions.has(ACCOUNT_BACKENDS[name].status)));
}

const text = (v) => (typeof v === "string" ? v.trim() : "");

function serverUrl(raw, what) {
  const s = text(raw);
  if (!s) throw new FormError(`Enter the ${what} address, e.g. https://cloud.example.org.`);
  let u;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `https://${s}`);
  } catch {
    throw new FormError(`${s} is not a web address.`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new FormError(`The ${what} address must start with https://.`);
  return u.href.replace(/\/$/, "");
}

function minutes(raw) {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10080) throw new FormError("The lock timeout is a whole number of minutes from 1 to 10080 (a week).");
  return n;
}

/// passman.setup from the form {server, login, app_password, vault?, allow_http?, lock_timeout_minutes?}.
export function passmanSetup(form) {
  const params = { server: serverUrl(form.server, "Nextcloud"), login: text(form.login), app_password: typeof form.app_password === "string" ? form.app_password : "" };
  if (!params.login) throw new FormError("Enter your Nextcloud login name.");
  if (!params.app_password) throw new FormError("Enter a Nextcloud app password (Settings → Security → Devices & sessions).");
  if (text(form.vault)) params.vault = text(form.vault);
  if (form.allow_http) params.allow_http = true;
  const m = minutes(form.lock_timeout_minutes);
  if (m !== undefined) params.lock_timeout_minutes = m;
  return { action: "passman.setup", params };
}

export function passmanUnlock(form) {
  const password = typeof form.password === "string" ? form.password : "";
  if (!password) throw new FormError("Enter the Passman vault password.");
  const params = { password };
  if (text(form.vault)) params.vault = text(form.vault);
  return { action: "passman.unlock", params };
}

/// passweaver.setup from {server, auth: "password"|"api_key", username, api_key, secret, allow_insecure_http?, gui_url?}.
export function passweaverSetup(form) {
  const params = { server: serverUrl(form.server, "PassWeaver") };
  if (form.auth === "api_key") {
    params.api_key = text(form.api_key);
    params.secret = typeof form.secret === "string" ? form.secret : "";
    if (!params.api_key || !params.secret) throw new FormError("Enter the API key and its secret.");
  } else {
    params.username = text(form.username);
    if (!params.username) throw new FormError("Enter your PassWeaver user name.");
  }
  if (form.allow_insecure_http) params.allow_insecure_http = true;
  if (text(form.gui_url)) params.gui_url = serverUrl(form.gui_url, "PassWeaver web interface");
  return { action: "passweaver.setup", params };
}

/// Which fields of the PassWeaver form are shown for each way of logging in (the others are
/// hidden and not sent): a user name (the password is asked at each login) or an API key with its
/// secret (stored by the host, which then logs in by itself).
export const PASSWEAVER_AUTH = {
  password: { label: "User name and password", fields: ["server", "username", "gui_url", "allow_insecure_http"] },
  api_key: { label: "API key and secret", fields: ["server", "api_key", "secret", "gui_url", "allow_insecure_http"] },
};

export function passweaverSetupFields(auth) {
  return (PASSWEAVER_AUTH[auth] || PASSWEAVER_AUTH.password).fields;
}

/// passweaver.setup from the whole form: only the fields shown for the chosen way of logging in
/// count (a user name typed before switching to an API key is not sent).
export function passweaverSetupFromForm(values) {
  const auth = PASSWEAVER_AUTH[values?.auth] ? values.auth : "password";
  const shown = passweaverSetupFields(auth);
  return passweaverSetup({ ...Object.fromEntries(Object.entries(values || {}).filter(([k]) => shown.includes(k))), auth });
}

/// passweaver.login: the password, unless the account uses an API key.
export function passweaverLogin(form, status) {
  if (status?.auth === "api_key") return { action: "passweaver.login", params: {} };
  const password = typeof form.password === "string" ? form.password : "";
  if (!password) throw new FormError("Enter your PassWeaver password.");
  return { action: "passweaver.login", params: { password } };
}

export function passweaverPersonalUnlock(form) {
  const password = typeof form.password === "string" ? form.password : "";
  if (!password) throw new FormError("Enter your personal folder's password.");
  return { action: "passweaver.personal.unlock", params: { password } };
}

function left(seconds) {
  if (typeof seconds !== "number" || seconds <= 0) return "";
  return seconds >= 120 ? `, ${Math.round(seconds / 60)} min left` : `, ${seconds} s left`;
}

/// What the settings page and the popup say about an account: {configured, ready, line, next}
/// where `next` names the form to show: "setup", "unlock", "login" or "lock"/"logout".
export function describeAccount(backend, st) {
  const s = st && typeof st === "object" ? st : {};
  if (!s.configured) return { configured: false, ready: false, line: `${ACCOUNT_BACKENDS[backend]?.title || backend}: no account set up.`, next: "setup" };
  if (backend === "passman") {
    const who = `${s.login || "?"} on ${s.server || "?"}`;
    if (s.locked === false) {
      const vault = s.unlocked_vault?.name ? ` (vault ${s.unlocked_vault.name})` : "";
      return { configured: true, ready: true, line: `Passman: ${who}, unlocked${vault}${left(s.ttl_remaining_seconds)}.`, next: "lock" };
    }
    return { configured: true, ready: false, line: `Passman: ${who}, locked.`, next: "unlock" };
  }
  if (backend === "passweaver") {
    const who = `${s.user || "?"} on ${s.server || "?"}${s.insecure_http ? " (plain http)" : ""}`;
    if (s.logged_in) {
      const until = typeof s.expires_at === "number" ? `, session until ${new Date(s.expires_at * 1000).toLocaleTimeString()}` : "";
      return { configured: true, ready: true, line: `PassWeaver: ${who}, logged in${until}${s.personal_unlocked ? ", personal folder unlocked" : ""}.`, next: "logout" };
    }
    return { configured: true, ready: false, line: `PassWeaver: ${who}, not logged in${s.server_error ? ` (${s.server_error})` : ""}.`, next: "login" };
  }
  return { configured: true, ready: Boolean(s.logged_in || s.locked === false), line: `${backend}: set up.`, next: "" };
}

/// Host actions the settings page may send for the account backends (none returns a secret).
export const ACCOUNT_ACTIONS = [
  "passman.setup",
  "passman.remove",
  "passman.status",
  "passman.vaults",
  "passman.unlock",
  "passman.lock",
  "passweaver.setup",
  "passweaver.remove",
  "passweaver.status",
  "passweaver.login",
  "passweaver.logout",
  "passweaver.personal.unlock",
];
