import { test } from "node:test";
import assert from "node:assert/strict";
import { base32Decode, hotp, parseOtpauth, totpNow, OtpError } from "../../src/shared/totp.js";

// RFC 4226 appendix D and RFC 6238 appendix B (secret "12345678901234567890").
const RFC_SECRET = new TextEncoder().encode("12345678901234567890");
const RFC_B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

test("HOTP matches RFC 4226's test values", async () => {
  const want = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
  for (let i = 0; i < want.length; i++) assert.equal(await hotp(RFC_SECRET, i), want[i]);
});

test("TOTP matches RFC 6238's SHA-1 test values (8 digits)", async () => {
  const uri = `otpauth://totp/RFC:test?secret=${RFC_B32}&digits=8&period=30`;
  for (const [t, code] of [[59, "94287082"], [1111111109, "07081804"], [1234567890, "89005924"], [2000000000, "69279037"], [20000000000, "65353130"]]) {
    const r = await totpNow(uri, t * 1000);
    assert.equal(r.code, code, `t=${t}`);
    assert.equal(r.seconds_left, 30 - (t % 30));
  }
});

test("base32 and otpauth parsing, and what is refused", () => {
  assert.deepEqual([...base32Decode("gezd gnbv-gy3tqojq====")], [...new TextEncoder().encode("1234567890")]);
  const p = parseOtpauth(`otpauth://totp/Shop:alice?secret=${RFC_B32}&issuer=Shop`);
  assert.deepEqual([p.kind, p.digits, p.period, p.algorithm], ["totp", 6, 30, "SHA-1"]);
  for (const bad of ["", "https://x.org", "otpauth://push/x?secret=AA", "otpauth://totp/x?secret=", "otpauth://totp/x?secret=189", "otpauth://totp/x?secret=AA&digits=3", "otpauth://totp/x?secret=AA&algorithm=MD5", "otpauth://totp/x?secret=AA&period=0"]) {
    assert.throws(() => parseOtpauth(bad), OtpError, bad);
  }
});

test("an HOTP login gets no code from the extension", async () => {
  await assert.rejects(totpNow(`otpauth://hotp/x?secret=${RFC_B32}&counter=1`), /counter-based/);
});
