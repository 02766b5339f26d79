//! Independent cross-check of the wire crypto with Node's `node:crypto` (OpenSSL): RSA-OAEP in
//! both directions with the right hashes, and a whole request/answer exchange where Node plays
//! the app. Skipped only when `node` is absent and CI is unset.

use crate::support::node;
use passbridge::anotherpass::b64;
use passbridge::anotherpass::rsa::{Oaep, RsaKeyPair, RsaPublicKey};
use passbridge::anotherpass::wire::{self, Command};
use serde_json::{Value, json};
use std::sync::OnceLock;

const SCRIPT: &str = r#"
const crypto = require("crypto");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const OAEP = crypto.constants.RSA_PKCS1_OAEP_PADDING;
const unb64 = (s) => Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
const sha256 = (...parts) => crypto.createHash("sha256").update(Buffer.concat(parts)).digest();
const jwkKey = (j) => crypto.createPublicKey({ key: { kty: "RSA", n: j.n, e: j.e }, format: "jwk" });
const out = {};
if (input.mode === "app_key") {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 65537 });
  const jwk = publicKey.export({ format: "jwk" });
  out.n = jwk.n; out.e = jwk.e;
  out.pem = privateKey.export({ type: "pkcs8", format: "pem" });
} else if (input.mode === "encrypt_sha256") {
  out.ct = crypto.publicEncrypt({ key: jwkKey(input.client), padding: OAEP, oaepHash: "sha256" }, unb64(input.data)).toString("base64");
} else if (input.mode === "decrypt") {
  const key = crypto.createPrivateKey(input.pem);
  for (const h of ["sha1", "sha256"]) {
    try { out[h] = crypto.privateDecrypt({ key, padding: OAEP, oaepHash: h }, unb64(input.ct)).toString("base64"); }
    catch (e) { out[h] = null; }
  }
} else if (input.mode === "exchange") {
  const key = crypto.createPrivateKey(input.pem);
  const bk = unb64(input.bk);
  const otk = crypto.privateDecrypt({ key, padding: OAEP, oaepHash: "sha1" }, unb64(input.body.encOneTimeKey));
  const tkrq = sha256(bk, otk);
  const [type, iv, ct] = input.body.envelope.split(":");
  const ctb = unb64(ct);
  const d = crypto.createDecipheriv("aes-256-gcm", tkrq, unb64(iv));
  d.setAuthTag(ctb.subarray(ctb.length - 16));
  out.type = type;
  out.iv_len = unb64(iv).length;
  out.payload = JSON.parse(Buffer.concat([d.update(ctb.subarray(0, ctb.length - 16)), d.final()]).toString());
  const otkrs = crypto.randomBytes(32);
  const tkrs = sha256(bk, otkrs, tkrq);
  const iv2 = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", tkrs, iv2);
  const enc = Buffer.concat([c.update(JSON.stringify(input.answer)), c.final(), c.getAuthTag()]);
  const nopad = (b) => b.toString("base64").replace(/=+$/, "");
  out.response = {
    encOneTimeKey: crypto.publicEncrypt({ key: jwkKey(input.client), padding: OAEP, oaepHash: "sha256" }, otkrs).toString("base64url"),
    envelope: "EWM:" + nopad(iv2) + ":" + nopad(enc) + ":0",
  };
}
process.stdout.write(JSON.stringify(out));
"#;

fn node_available() -> bool {
    node::ready(
        "the Node cross-check",
        (!node::installed()).then_some("node is not installed"),
    )
}

fn node(input: Value) -> Value {
    node::json(&["-e", SCRIPT], &input)
}

/// The protocol's client key size, generated once for this file.
fn client_key() -> &'static RsaKeyPair {
    static K: OnceLock<RsaKeyPair> = OnceLock::new();
    K.get_or_init(|| RsaKeyPair::generate(4096).unwrap())
}

fn jwk(k: &RsaPublicKey) -> Value {
    json!({"n": k.n(), "e": k.e()})
}

#[test]
fn node_oaep_sha256_to_our_4096_key_decrypts_in_rust() {
    if !node_available() {
        return;
    }
    let secret = [0x42u8; 32];
    let r = node(
        json!({"mode": "encrypt_sha256", "client": jwk(client_key().public()),
                        "data": b64::std_padded(&secret)}),
    );
    let ct = b64::decode(r["ct"].as_str().unwrap()).unwrap();
    assert_eq!(ct.len(), 512);
    assert_eq!(&*client_key().decrypt(Oaep::Sha256, &ct).unwrap(), &secret);
    assert!(client_key().decrypt(Oaep::Sha1, &ct).is_err());
}

#[test]
fn rust_oaep_sha1_to_a_node_key_decrypts_in_node_with_sha1_only() {
    if !node_available() {
        return;
    }
    let app = node(json!({"mode": "app_key"}));
    let key =
        RsaPublicKey::from_jwk(app["n"].as_str().unwrap(), app["e"].as_str().unwrap()).unwrap();
    let otk = [7u8; 32];
    let ct = key.encrypt(Oaep::Sha1, &otk).unwrap();
    let r = node(json!({"mode": "decrypt", "pem": app["pem"], "ct": b64::std_padded(&ct)}));
    assert_eq!(r["sha1"], b64::std_padded(&otk));
    assert_eq!(
        r["sha256"],
        Value::Null,
        "SHA-256 must not decrypt a SHA-1 ciphertext"
    );
}

#[test]
fn whole_exchange_with_node_playing_the_app() {
    if !node_available() {
        return;
    }
    let app = node(json!({"mode": "app_key"}));
    let app_key =
        RsaPublicKey::from_jwk(app["n"].as_str().unwrap(), app["e"].as_str().unwrap()).unwrap();
    let bk = [9u8; 32];
    let rid = "EBESExQVFhcYGRobHB0eHw==";
    let payload = Command::GetClientKey.payload(rid);
    let sealed = wire::seal_request(&bk, &app_key, payload.to_string().as_bytes()).unwrap();
    let answer = json!({"clientKey": "7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n"});
    let r = node(json!({
        "mode": "exchange", "pem": app["pem"], "bk": b64::std_padded(&bk),
        "body": serde_json::from_str::<Value>(&sealed.body).unwrap(),
        "client": jwk(client_key().public()), "answer": answer,
    }));
    assert_eq!(r["type"], "EWM");
    assert_eq!(r["iv_len"], 12);
    assert_eq!(r["payload"], payload);
    let body = r["response"].to_string();
    let plaintext =
        wire::open_response(&bk, client_key(), &*sealed.tk_rq, body.as_bytes()).unwrap();
    let a = wire::parse_command_answer(&plaintext).unwrap();
    assert_eq!(
        a.client_key.unwrap().bytes()[..],
        b64::decode("7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=").unwrap()[..]
    );
}
