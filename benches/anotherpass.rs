//! Client CPU per ANOTHERpass request, against bare aws-lc-rs RSA-4096 operations measured in the
//! same run (report the ratios, never absolute numbers):
//! - `build_request`: new one-time key, OAEP-SHA-1 under the app's 4096-bit key, AES-256-GCM
//!   envelope, JSON body. Baseline: `bare_rsa4096_public_encrypt`.
//! - `open_response`: OAEP-SHA-256 decryption with the client's 4096-bit key, key schedule,
//!   AES-256-GCM, credential JSON. Baseline: `bare_rsa4096_private_decrypt`.

use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey,
};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use passbridge::anotherpass::rsa::{Oaep, RsaKeyPair};
use passbridge::anotherpass::wire::{self, Command};
use passbridge::anotherpass::{b64, envelope, keys};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let client = RsaKeyPair::generate(4096).unwrap();
    let app = RsaKeyPair::generate(4096).unwrap();
    let bk = [3u8; 32];
    let payload = Command::FetchCredentialForUrl {
        website: "https://github.com/login".into(),
        user: None,
        uid: None,
    }
    .payload("EBESExQVFhcYGRobHB0eHw==")
    .to_string();

    // An answer exactly as the app builds it, for one sealed request.
    let sealed = wire::seal_request(&bk, app.public(), payload.as_bytes()).unwrap();
    let otk_rs = keys::random_bytes(32);
    let tk_rs = keys::response_transport_key(&bk, &otk_rs, &*sealed.tk_rq);
    let answer = json!({"credential": {"uid": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "readableUid": "d5vagjvd", "name": "GitHub", "password": "correct horse battery staple",
        "user": "alice", "website": "https://github.com", "otp": ""},
        "clientKey": "7IkzDzryHLY8uOKnxK9Gn2XQeudXKQFH7x1pKQhE3gQ=\n"});
    let body = json!({
        "encOneTimeKey": b64::url_nopad(&client.public().encrypt(Oaep::Sha256, &otk_rs).unwrap()),
        "envelope": envelope::seal_app_style(&*tk_rs, &[1; 12], answer.to_string().as_bytes()).unwrap(),
    })
    .to_string();

    let mut g = c.benchmark_group("anotherpass");
    g.bench_function("build_request", |b| {
        b.iter(|| {
            wire::seal_request(black_box(&bk), app.public(), black_box(payload.as_bytes())).unwrap()
        })
    });
    g.bench_function("open_response", |b| {
        b.iter(|| {
            let pt = wire::open_response(&bk, &client, &*sealed.tk_rq, black_box(body.as_bytes()))
                .unwrap();
            wire::parse_command_answer(&pt).unwrap()
        })
    });

    // Baselines: the same RSA operations straight through aws-lc-rs, no protocol code around them.
    let bare = PrivateDecryptingKey::generate(KeySize::Rsa4096).unwrap();
    let bare_pub = OaepPublicEncryptingKey::new(bare.public_key()).unwrap();
    let bare_priv = OaepPrivateDecryptingKey::new(bare).unwrap();
    let mut ct = vec![0u8; 512];
    bare_pub
        .encrypt(&OAEP_SHA256_MGF1SHA256, &[5u8; 32], &mut ct, None)
        .unwrap();
    g.bench_function("bare_rsa4096_private_decrypt", |b| {
        let mut out = vec![0u8; 512];
        b.iter(|| {
            bare_priv
                .decrypt(&OAEP_SHA256_MGF1SHA256, black_box(&ct), &mut out, None)
                .unwrap()
                .len()
        })
    });
    g.bench_function("bare_rsa4096_public_encrypt", |b| {
        let mut out = vec![0u8; 512];
        b.iter(|| {
            bare_pub
                .encrypt(&OAEP_SHA1_MGF1SHA1, black_box(&[5u8; 32]), &mut out, None)
                .unwrap()
                .len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
