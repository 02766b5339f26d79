//! Every test vector of spec §7.3 in one table, checked against this module's functions. The
//! clientKey, vaultId and downloadKey rows are made by the app; their formulas are recomputed here
//! so the client's parsers (32-byte key with trailing newline, vault id and download key shapes)
//! are checked against real values.

use super::keys::tests::{hex, range};
use super::*;
use sha2::{Digest, Sha256};

const IV: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

#[test]
fn every_vector_of_7_3() {
    // webClientId from random bytes 01..20
    assert_eq!(ids::web_client_id_from(&range(1, 32)).unwrap(), "AQI-DBA");
    // Key schedule
    let bk = range(0x00, 32);
    let tkrq = keys::request_transport_key(&bk, &range(0xa0, 32));
    assert_eq!(
        hex(&*tkrq),
        "60dcbc828060c044579c4b6c671582e39e631b3d7de3dac5e69286394521158b"
    );
    let tkrs = keys::response_transport_key(&bk, &range(0x40, 32), &*tkrq);
    assert_eq!(
        hex(&*tkrs),
        "4c5d12b946b3236efc202d4855b0ac4c553b01a20dd2df3dd398836673c5fd7f"
    );
    // requestIdentifier and its fingerprint
    let rid = b64::std_padded(&range(0x10, 16));
    assert_eq!(rid, "EBESExQVFhcYGRobHB0eHw==");
    let digest = keys::conjunct(&[&bk, &range(0x10, 16)]);
    assert_eq!(
        hex(&*digest),
        "8233cf4919de6027d978c9c704a123871d6ec1019e9c36eb072a3e4f53578f80"
    );
    assert_eq!(
        b64::std_padded(&*digest),
        "gjPPSRneYCfZeMnHBKEjhx1uwQGenDbrByo+T1NXj4A="
    );
    assert_eq!(ids::request_fingerprint(&bk, &rid).unwrap(), "GJ-PPS-RN");
    // Request envelope (built from the real command payload)
    let payload = wire::Command::GetClientKey.payload(&rid).to_string();
    assert_eq!(
        envelope::seal_with_iv(&*tkrq, &IV, payload.as_bytes()).unwrap(),
        "EWM:AQIDBAUGBwgJCgsM:zSjSL4DCIMo8eblkZU13T3L/C6ku5qYXaeuRD7iDBK+yVHvMoYgBZvz0VZN2NZnmAjmuwCwzTOqpm/vWdj2ID9ZnncRTCZ5rOQ8QxZZ8o3noSpaTPkeW3FhHlxm61RzhCOfkkHdfZOBYY0bmJBsMzmMOBRjAqqu8pw=="
    );
    // Linking-request envelope (AES-128 under SK)
    assert_eq!(
        envelope::seal_with_iv(&range(0x30, 16), &IV, br#"{"action":"link_app"}"#).unwrap(),
        "EWM:AQIDBAUGBwgJCgsM:lbNbnE8XVDNEEQwehNZufWIIkDUDw3XxhGDNJRD8a4oty6LuMg=="
    );
    // Server-style response envelope
    assert_eq!(
        &*envelope::open(
            &*tkrs,
            "EWM:AQIDBAUGBwgJCgsM:zVbQAWDd2WNh9KpTb+OgEe2tbdGmBIU7Y1BZOuc+ONjfSA:0"
        )
        .unwrap(),
        br#"{"clientKey": "x"}"#
    );
    // clientKey = SHA256(SHA256(salt ‖ wcid) ‖ masterKey), sent with a trailing newline
    let salt: Vec<u8> = (0..128u32).map(|i| (7 * i % 256) as u8).collect();
    let inner = Sha256::new()
        .chain_update(&salt)
        .chain_update(b"ABC-DEF")
        .finalize();
    let ck = Sha256::new()
        .chain_update(inner)
        .chain_update([0x55u8; 32])
        .finalize();
    let sent = format!("{}\n", b64::std_padded(&ck));
    assert_eq!(sent, "7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n");
    assert_eq!(wire::parse_client_key(&sent).unwrap().bytes()[..], ck[..]);
    // vaultId: base64(salt), lowercased, [0-9a-z] only, first 8
    let vault_id: String = b64::std_padded(&salt)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    assert_eq!(vault_id, "aacofrwj");
    assert!(wire::is_vault_id(&vault_id));
    // downloadKey: <wcid>_<alphanumerics of base64(key bytes)>
    let dk = format!(
        "ABC-DEF_{}",
        b64::std_padded(&range(0, 32)).replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    assert_eq!(dk, "ABC-DEF_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    assert!(download::is_download_key(&dk, "ABC-DEF"));
    // Handle
    assert_eq!(
        address::ip_to_handle("192.168.178.39".parse().unwrap()).unwrap(),
        "@icpmd"
    );
    assert_eq!(
        address::handle_to_ip("@icpmd").unwrap().to_string(),
        "192.168.178.39"
    );
}
