// The real sjcl (npm) on one side of passbridge's Passman crypto. Reads one JSON request on stdin:
//   {"op":"encrypt","password","plaintext"} -> {"stored"}  (btoa of sjcl's JSON, as Passman stores it)
//   {"op":"decrypt","password","stored"}    -> {"ok":true,"plaintext","params_ok"} or {"ok":false,"error"}
// params_ok: the parameters Passman's vendored sjcl insists on (iter 1000, ks 256, ts 64, ccm, adata "").
"use strict";
const sjcl = require("sjcl");
const req = JSON.parse(require("fs").readFileSync(0, "utf8"));
const PASSMAN = { adata: "", iter: 1000, ks: 256, mode: "ccm", ts: 64 };
let out;
if (req.op === "encrypt") {
  const json = sjcl.encrypt(req.password, req.plaintext, PASSMAN);
  out = { stored: Buffer.from(json, "utf8").toString("base64") };
} else if (req.op === "decrypt") {
  const json = Buffer.from(req.stored, "base64").toString("utf8");
  try {
    const p = JSON.parse(json);
    const params_ok = Object.entries(PASSMAN).every(([k, v]) => p[k] === v);
    // npm sjcl reads Passman's JSON only without a params object (spec B.5).
    out = { ok: true, plaintext: sjcl.decrypt(req.password, json), params_ok };
  } catch (e) {
    out = { ok: false, error: String(e && e.message ? e.message : e) };
  }
} else {
  throw new Error("unknown op " + req.op);
}
process.stdout.write(JSON.stringify(out));
