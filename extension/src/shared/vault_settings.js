// The settings page's message layer for the local vault's lock timeout (vault.settings and
// vault.settings.set in docs/protocol.md). Pure: no DOM, no browser API, so the unit tests cover it.
import { FormError } from "./accounts.js";

/// The host's bounds, used until vault.settings has answered (an older host has no such action).
export const DEFAULT_BOUNDS = { min: 1, max: 10080 };

/// The bounds vault.settings reports, or the defaults when a field is missing or odd.
export function bounds(settings) {
  const ok = (n) => Number.isInteger(n) && n > 0;
  const min = ok(settings?.min_lock_timeout_minutes) ? settings.min_lock_timeout_minutes : DEFAULT_BOUNDS.min;
  const max = ok(settings?.max_lock_timeout_minutes) ? settings.max_lock_timeout_minutes : DEFAULT_BOUNDS.max;
  return { min, max };
}

/// vault.settings.set from the form's text, checked against the bounds before anything is sent.
export function lockTimeoutRequest(raw, limits = DEFAULT_BOUNDS) {
  const s = typeof raw === "string" ? raw.trim() : typeof raw === "number" ? String(raw) : "";
  const n = /^[0-9]+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < limits.min || n > limits.max) {
    throw new FormError(`The lock timeout is a whole number of minutes from ${limits.min} to ${limits.max} (a week).`);
  }
  return { action: "vault.settings.set", params: { lock_timeout_minutes: n } };
}

/// "60 minutes", "2 hours", "1 day 1 hour": what the page says next to the number.
export function describeMinutes(m) {
  if (!Number.isInteger(m) || m < 1) return "";
  const parts = [];
  const days = Math.floor(m / 1440);
  const hours = Math.floor((m % 1440) / 60);
  const mins = m % 60;
  const unit = (n, one) => (n ? [`${n} ${one}${n === 1 ? "" : "s"}`] : []);
  parts.push(...unit(days, "day"), ...unit(hours, "hour"), ...unit(mins, "minute"));
  return parts.join(" ");
}

/// The line after saving: what changed and whether a security key approved it.
export function savedLine(result) {
  const m = result?.lock_timeout_minutes;
  const approved = result?.approval_used ? " (approved with your security key)" : "";
  return `Saved: the vault locks after ${describeMinutes(m) || `${m} minutes`} without use${approved}.`;
}
