// One-time codes from an `otpauth://` URI (RFC 6238 TOTP over RFC 4226 HOTP), for logins whose
// source returns the URI but no current code (the local vault's `vault.get`). Runs in the
// background only; the secret is never stored.

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALGS = { SHA1: "SHA-1", SHA256: "SHA-256", SHA512: "SHA-512" };

export class OtpError extends Error {
  constructor(message) {
    super(message);
    this.code = "otp_invalid";
  }
}

export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, "");
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const i = BASE32.indexOf(ch);
    if (i < 0) throw new OtpError("the one-time code secret is not base32");
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  if (!out.length) throw new OtpError("the one-time code secret is empty");
  return new Uint8Array(out);
}

/// {secret (bytes), digits, period, algorithm, kind, counter} from an otpauth:// URI.
export function parseOtpauth(uri) {
  let u;
  try {
    u = new URL(uri);
  } catch {
    throw new OtpError("the one-time code is not an otpauth:// URI");
  }
  if (u.protocol !== "otpauth:") throw new OtpError("the one-time code is not an otpauth:// URI");
  // WHATWG URL puts "totp" in the host for otpauth://totp/...; some engines leave it in the path.
  const kind = (u.host || u.pathname.replace(/^\/+/, "").split("/")[0]).toLowerCase();
  if (kind !== "totp" && kind !== "hotp") throw new OtpError(`unknown one-time code kind ${kind}`);
  const q = u.searchParams;
  const algorithm = ALGS[(q.get("algorithm") || "SHA1").toUpperCase()];
  if (!algorithm) throw new OtpError("unsupported one-time code algorithm");
  const digits = Number(q.get("digits") || 6);
  const period = Number(q.get("period") || 30);
  if (!Number.isInteger(digits) || digits < 6 || digits > 10) throw new OtpError("unsupported number of digits");
  if (!Number.isInteger(period) || period < 1 || period > 3600) throw new OtpError("unsupported period");
  return { kind, secret: base32Decode(q.get("secret") || ""), digits, period, algorithm, counter: Number(q.get("counter") || 0) };
}

export async function hotp(secret, counter, digits = 6, algorithm = "SHA-1") {
  const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: algorithm }, false, ["sign"]);
  const msg = new Uint8Array(8);
  let c = BigInt(counter);
  for (let i = 7; i >= 0; i--) {
    msg[i] = Number(c & 0xffn);
    c >>= 8n;
  }
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, msg));
  const o = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[o] & 0x7f) << 24) | (mac[o + 1] << 16) | (mac[o + 2] << 8) | mac[o + 3];
  return String(bin % 10 ** digits).padStart(digits, "0");
}

/// The current code of a TOTP URI: {kind, code, digits, period, seconds_left}, the host's shape.
export async function totpNow(uri, nowMs = Date.now()) {
  const p = parseOtpauth(uri);
  if (p.kind !== "totp") throw new OtpError("this login has a counter-based (HOTP) code; the phone shows it");
  const step = Math.floor(nowMs / 1000 / p.period);
  const code = await hotp(p.secret, step, p.digits, p.algorithm);
  return { kind: "totp", code, digits: p.digits, period: p.period, seconds_left: p.period - (Math.floor(nowMs / 1000) % p.period) };
}
