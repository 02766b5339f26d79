import { test } from "node:test";
import assert from "node:assert/strict";
import { bounds, lockTimeoutRequest, describeMinutes, savedLine, DEFAULT_BOUNDS } from "../../src/shared/vault_settings.js";
import { FormError } from "../../src/shared/accounts.js";
import { sentence } from "../../src/shared/errors.js";

test("the lock timeout request carries whole minutes within the host's bounds", () => {
  assert.deepEqual(lockTimeoutRequest("15"), { action: "vault.settings.set", params: { lock_timeout_minutes: 15 } });
  assert.deepEqual(lockTimeoutRequest(" 10080 ").params, { lock_timeout_minutes: 10080 });
  assert.deepEqual(lockTimeoutRequest("1").params, { lock_timeout_minutes: 1 });
  assert.deepEqual(lockTimeoutRequest(30).params, { lock_timeout_minutes: 30 });
  assert.deepEqual(lockTimeoutRequest("5", { min: 5, max: 6 }).params, { lock_timeout_minutes: 5 });
});

test("a bad lock timeout is a sentence for the person, never a request", () => {
  for (const bad of ["", " ", "0", "10081", "1.5", "-3", "1e3", "abc", "30 minutes", "99999999999999999999", null, undefined, {}]) {
    assert.throws(() => lockTimeoutRequest(bad), (e) => e instanceof FormError && sentence(e) === e.message && /1 to 10080/.test(e.message), String(bad));
  }
  assert.throws(() => lockTimeoutRequest("7", { min: 1, max: 6 }), /from 1 to 6/);
});

test("bounds come from vault.settings, else the defaults", () => {
  assert.deepEqual(bounds({ min_lock_timeout_minutes: 1, max_lock_timeout_minutes: 10080 }), { min: 1, max: 10080 });
  assert.deepEqual(bounds({ min_lock_timeout_minutes: 2, max_lock_timeout_minutes: 100 }), { min: 2, max: 100 });
  assert.deepEqual(bounds(undefined), DEFAULT_BOUNDS);
  assert.deepEqual(bounds({ min_lock_timeout_minutes: "5", max_lock_timeout_minutes: -1 }), DEFAULT_BOUNDS);
});

test("minutes read as a person says them", () => {
  assert.equal(describeMinutes(1), "1 minute");
  assert.equal(describeMinutes(60), "1 hour");
  assert.equal(describeMinutes(90), "1 hour 30 minutes");
  assert.equal(describeMinutes(1500), "1 day 1 hour");
  assert.equal(describeMinutes(10080), "7 days");
  assert.equal(describeMinutes(0), "");
  assert.equal(savedLine({ lock_timeout_minutes: 15, approval_used: false }), "Saved: the vault locks after 15 minutes without use.");
  assert.equal(savedLine({ lock_timeout_minutes: 480, approval_used: true }), "Saved: the vault locks after 8 hours without use (approved with your security key).");
});
