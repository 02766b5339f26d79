//! The on-disk vault format, version 3; versions 1 and 2 are still read (docs/vault-format.md).
//! Pure: bytes in, bytes out; files and locks are in [`super::store`], the layout of a
//! segment's entries in [`super::packed`].
//!
//! A vault is a manifest (a plaintext header with the key slots, then the encrypted segment
//! table) and up to `segment_count` segment files, each holding the credentials whose keyed
//! uid hash falls into it. All records are sealed with subkeys of one random data key (DEK);
//! the header wraps the DEK under the ANOTHERpass clientKey and, optionally, a local password.

use super::codec::{CodecError, Reader, Writer, str_len};
use super::crypto::{self, CryptoError, Key32, NONCE_LEN, TAG_LEN};
use super::packed::{Packed, PackedError};
use crate::anotherpass::seam::Credential;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use zeroize::Zeroizing;

pub const MAGIC: [u8; 8] = *b"PBVAULT\0";
pub const SEGMENT_MAGIC: [u8; 8] = *b"PBVSEG\0\0";
/// Written by this passbridge. Versions 1 and 2 are still read; see docs/vault-format.md for
/// what each version changed.
pub const VERSION: u16 = 3;
pub const MAX_SEGMENTS: u16 = 4096;
/// For new PBKDF2 slots: OWASP's guidance for PBKDF2-HMAC-SHA-256 (2023). New slots use
/// Argon2id ([`Kdf::ARGON2ID`]) unless told otherwise.
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Accepted iteration range when reading, so a crafted file cannot make unlock hang or go weak.
pub const MIN_ITERATIONS: u32 = 100_000;
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Accepted Argon2id costs when reading (same reason): 1 MiB–1 GiB, 1–16 passes, 1–8 lanes.
pub const ARGON2_MIN_KIB: u32 = 1024;
pub const ARGON2_MAX_KIB: u32 = 1 << 20;
pub const ARGON2_MAX_T: u32 = 16;
pub const ARGON2_MAX_P: u32 = 8;
/// Cap on each credential field; far above any real password, name or otpauth URI.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Byte length of a wrapped 32-byte key: ciphertext + GCM tag.
pub const WRAPPED_LEN: usize = 32 + TAG_LEN;
/// Segment plaintexts are padded to at least this many bytes (see [`padded_len`]).
pub const MIN_PADDED: usize = 4096;

const SEAL_DIRECT: u8 = 1;
const SEAL_TO_PUBLIC: u8 = 2;
const KDF_NONE: u8 = 0;
const SLOT_PBKDF2_DIRECT: u8 = 1;
const SLOT_PBKDF2_TO_PUBLIC: u8 = 2;
const SLOT_ARGON2ID_DIRECT: u8 = 3;
const SLOT_ARGON2ID_TO_PUBLIC: u8 = 4;
const INFO_CLIENT_WRAP: &[u8] = b"passbridge vault v1 client wrap";
const INFO_CLIENT_X25519: &[u8] = b"passbridge vault v2 client x25519";
const INFO_SLOT_KEK: &[u8] = b"passbridge vault v2 slot kek";
const INFO_DATA: &[u8] = b"passbridge vault v1 data";
const INFO_INDEX: &[u8] = b"passbridge vault v1 segment index";
const AAD_CLIENT_SLOT: &[u8] = b"passbridge vault v1 client slot";
const AAD_PASSWORD_SLOT: &[u8] = b"passbridge vault v1 password slot";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("it is not a passbridge vault")]
    NotAVault,
    #[error("it was written by a newer passbridge (vault format {0}, this one reads {VERSION})")]
    UnsupportedVersion(u16),
    #[error("it is damaged: {0}")]
    Damaged(&'static str),
    #[error("the key does not open this vault")]
    WrongKey,
    #[error("the password is wrong")]
    WrongPassword,
    #[error("no local password is set")]
    NoPassword,
    #[error("{0}")]
    Crypto(#[from] CryptoError),
}

impl From<PackedError> for FormatError {
    fn from(e: PackedError) -> Self {
        match e {
            PackedError::Malformed(what) => FormatError::Damaged(what),
        }
    }
}

fn damaged(what: &'static str) -> impl Fn(CodecError) -> FormatError {
    move |_| FormatError::Damaged(what)
}

/// A 32-byte key sealed with AES-256-GCM.
#[derive(Clone, PartialEq, Eq)]
pub struct Wrapped {
    pub nonce: [u8; NONCE_LEN],
    pub sealed: [u8; WRAPPED_LEN],
}

/// How a key slot holds the DEK.
#[derive(Clone, PartialEq, Eq)]
pub enum Seal {
    /// Format 1: sealed under a key derived from the slot's secret. Re-sealing a new DEK
    /// needs the secret.
    Direct(Wrapped),
    /// Sealed to the X25519 public key of the slot's secret (with a fresh ephemeral key), so a
    /// new DEK can be sealed for a slot whose secret is not at hand: a password change can
    /// rotate the DEK without the phone, and a rekey without the password.
    ToPublic {
        public: [u8; 32],
        ephemeral: [u8; 32],
        wrapped: Wrapped,
    },
}

impl Seal {
    /// The slot's public key, when the slot has one.
    pub fn public(&self) -> Option<[u8; 32]> {
        match self {
            Seal::Direct(_) => None,
            Seal::ToPublic { public, .. } => Some(*public),
        }
    }
}

/// The password key derivation of a slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kdf {
    Pbkdf2 { iterations: u32 },
    Argon2id { m_kib: u32, t: u32, p: u32 },
}

impl Kdf {
    /// The default for new password slots: Argon2id, 64 MiB, 3 passes, 1 lane.
    pub const ARGON2ID: Kdf = Kdf::Argon2id {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// The cheapest cost readers accept. Only for tests (like `anotherpass.rsa_bits`).
    pub const TEST: Kdf = Kdf::Argon2id {
        m_kib: ARGON2_MIN_KIB,
        t: 1,
        p: 1,
    };

    fn check(&self) -> Result<(), FormatError> {
        let ok = match *self {
            Kdf::Pbkdf2 { iterations } => (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations),
            Kdf::Argon2id { m_kib, t, p } => {
                (ARGON2_MIN_KIB..=ARGON2_MAX_KIB).contains(&m_kib)
                    && (1..=ARGON2_MAX_T).contains(&t)
                    && (1..=ARGON2_MAX_P).contains(&p)
            }
        };
        ok.then_some(()).ok_or(FormatError::Damaged(
            "the password key derivation cost is out of range",
        ))
    }

    fn derive(&self, password: &str, salt: &[u8; 16]) -> Result<Key32, FormatError> {
        self.check()?;
        match *self {
            Kdf::Pbkdf2 { iterations } => {
                let n =
                    NonZeroU32::new(iterations).ok_or(FormatError::Damaged("zero iterations"))?;
                Ok(crypto::pbkdf2_sha256(password.as_bytes(), salt, n))
            }
            Kdf::Argon2id { m_kib, t, p } => {
                Ok(crypto::argon2id(password.as_bytes(), salt, m_kib, t, p)?)
            }
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct PasswordSlot {
    pub kdf: Kdf,
    pub salt: [u8; 16],
    pub seal: Seal,
}

/// What it takes to seal a DEK for a password slot without the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordPublic {
    pub kdf: Kdf,
    pub salt: [u8; 16],
    pub public: [u8; 32],
}

/// The plaintext part of the manifest. Authenticated (as AAD of the body), never secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// The format version of the file it was read from (writers write [`VERSION`]).
    pub version: u16,
    pub vault_id: [u8; 16],
    /// New for every commit, so other processes notice a change by reading the header.
    pub commit_id: [u8; 16],
    /// New whenever the DEK is replaced (zero in version 1 files), so other processes notice
    /// that their key no longer opens the vault.
    pub key_id: [u8; 16],
    pub segment_count: u16,
    pub client: Seal,
    pub password: Option<PasswordSlot>,
}

/// One row of the segment table: the file id (None for an empty segment) and its entry count.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct SegmentRef {
    pub id: Option<[u8; 16]>,
    pub count: u32,
}

/// The encrypted part of the manifest.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub created_ms: u64,
    /// Grows by one at every commit (0 in version 1 files): an older copy restored over the
    /// vault has a smaller one.
    pub counter: u64,
    pub segments: Vec<SegmentRef>,
    /// Registrable domain → the uid the user chose there last.
    pub remembered: BTreeMap<String, String>,
}

/// A stored credential. `credential.uid` is always set. Debug output redacts secrets.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    pub credential: Credential,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Entry {
    pub fn uid(&self) -> &str {
        self.credential.uid.as_deref().unwrap_or_default()
    }
}

/// An entry as a segment stores it: two times and seven text fields (uid first, then
/// [`text_fields`]' order). Implemented by [`Entry`], by the vault's in-memory form and by
/// [`RawEntry`], so a segment is sealed from whichever holds the data.
pub trait EntryFields {
    fn times(&self) -> (u64, u64);
    fn fields(&self) -> [&str; 7];
}

impl EntryFields for Entry {
    fn times(&self) -> (u64, u64) {
        (self.created_ms, self.updated_ms)
    }
    fn fields(&self) -> [&str; 7] {
        let [a, b, c, d, e, f] = text_fields(&self.credential);
        [self.uid(), a, b, c, d, e, f]
    }
}

/// An entry decoded in place: its fields borrow the decrypted segment (no copy per field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEntry<'a> {
    pub created_ms: u64,
    pub updated_ms: u64,
    /// uid, readable uid, name, password, user, website, otp.
    pub fields: [&'a str; 7],
}

impl RawEntry<'_> {
    pub fn uid(&self) -> &str {
        self.fields[0]
    }
    /// An owned copy.
    pub fn to_entry(&self) -> Entry {
        let [uid, readable_uid, name, password, user, website, otp] =
            self.fields.map(str::to_owned);
        Entry {
            credential: Credential {
                uid: Some(uid),
                readable_uid,
                name,
                password,
                user,
                website,
                otp,
            },
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        }
    }
}

impl EntryFields for RawEntry<'_> {
    fn times(&self) -> (u64, u64) {
        (self.created_ms, self.updated_ms)
    }
    fn fields(&self) -> [&str; 7] {
        self.fields
    }
}

/// A credential's text fields after its uid, in their on-disk order.
pub fn text_fields(c: &Credential) -> [&str; 6] {
    [
        &c.readable_uid,
        &c.name,
        &c.password,
        &c.user,
        &c.website,
        &c.otp,
    ]
}

/// Subkeys of the DEK: one seals the manifest body and segments, one assigns uids to segments.
pub struct DataKeys {
    data: Key32,
    /// HMAC key prepared once: it is used for every entry read or written.
    index: crypto::HmacKey,
}

impl DataKeys {
    pub fn derive(dek: &[u8; 32], vault_id: &[u8; 16]) -> Self {
        Self {
            data: crypto::hkdf32(dek, vault_id, INFO_DATA),
            index: crypto::HmacKey::new(&*crypto::hkdf32(dek, vault_id, INFO_INDEX)),
        }
    }
    /// The segment a uid lives in: a keyed hash, so file sizes do not reveal uids.
    pub fn segment_of(&self, uid: &str, segment_count: u16) -> u16 {
        let h = self.index.sign(uid.as_bytes());
        u16::from_le_bytes([h[0], h[1]]) % segment_count.max(1)
    }
}

// ---- key slots ----

fn wrap(
    kek: &[u8; 32],
    aad_label: &[u8],
    vault_id: &[u8; 16],
    dek: &[u8; 32],
) -> Result<Wrapped, CryptoError> {
    let nonce = crypto::random::<NONCE_LEN>()?;
    let mut sealed = [0u8; WRAPPED_LEN];
    sealed[..32].copy_from_slice(dek);
    let aad = [aad_label, vault_id].concat();
    let tag = crypto::seal_in_place(kek, &nonce, &aad, &mut sealed[..32])?;
    sealed[32..].copy_from_slice(&tag);
    Ok(Wrapped { nonce, sealed })
}

fn unwrap(
    kek: &[u8; 32],
    aad_label: &[u8],
    vault_id: &[u8; 16],
    w: &Wrapped,
) -> Result<Key32, CryptoError> {
    let mut dek = Zeroizing::new([0u8; 32]);
    dek.copy_from_slice(&w.sealed[..32]);
    let tag: [u8; TAG_LEN] = w.sealed[32..].try_into().expect("tag length");
    let aad = [aad_label, vault_id].concat();
    crypto::open_in_place(kek, &w.nonce, &aad, &mut *dek, &tag)?;
    Ok(dek)
}

/// The key that seals a DEK to `public` with the ephemeral key `ephemeral`.
fn slot_kek(
    shared: &[u8; 32],
    vault_id: &[u8; 16],
    public: &[u8; 32],
    ephemeral: &[u8; 32],
) -> Key32 {
    crypto::hkdf32(
        shared,
        vault_id,
        &[INFO_SLOT_KEK, public, ephemeral].concat(),
    )
}

/// Seals `dek` to a slot's public key; only the slot's secret opens it.
pub fn seal_to(
    public: &[u8; 32],
    aad_label: &[u8],
    vault_id: &[u8; 16],
    dek: &[u8; 32],
) -> Result<Seal, CryptoError> {
    let (ephemeral, shared) = crypto::x25519_ephemeral(public)?;
    let kek = slot_kek(&shared, vault_id, public, &ephemeral);
    Ok(Seal::ToPublic {
        public: *public,
        ephemeral,
        wrapped: wrap(&kek, aad_label, vault_id, dek)?,
    })
}

/// Opens a slot: `direct_kek` for [`Seal::Direct`], `secret` (an X25519 private key) otherwise.
fn open_seal(
    seal: &Seal,
    aad_label: &[u8],
    vault_id: &[u8; 16],
    direct_kek: impl FnOnce() -> Key32,
    secret: &[u8; 32],
) -> Result<Key32, CryptoError> {
    match seal {
        Seal::Direct(w) => unwrap(&direct_kek(), aad_label, vault_id, w),
        Seal::ToPublic {
            public,
            ephemeral,
            wrapped,
        } => {
            let shared = crypto::x25519_shared(secret, ephemeral)?;
            let kek = slot_kek(&shared, vault_id, public, ephemeral);
            unwrap(&kek, aad_label, vault_id, wrapped)
        }
    }
}

fn client_kek_v1(client_key: &[u8; 32], vault_id: &[u8; 16]) -> Key32 {
    crypto::hkdf32(client_key, vault_id, INFO_CLIENT_WRAP)
}

fn client_secret(client_key: &[u8; 32], vault_id: &[u8; 16]) -> Key32 {
    crypto::hkdf32(client_key, vault_id, INFO_CLIENT_X25519)
}

/// The public key of the client slot for `client_key`.
pub fn client_public(vault_id: &[u8; 16], client_key: &[u8; 32]) -> Result<[u8; 32], FormatError> {
    Ok(crypto::x25519_public(&client_secret(client_key, vault_id))?)
}

/// A client slot holding `dek`, sealed to the clientKey's public key.
pub fn seal_client(
    vault_id: &[u8; 16],
    dek: &[u8; 32],
    public: &[u8; 32],
) -> Result<Seal, CryptoError> {
    seal_to(public, AAD_CLIENT_SLOT, vault_id, dek)
}

/// A client slot in the format of version 1 (for tests of reading old vaults).
pub fn wrap_client_v1(
    vault_id: &[u8; 16],
    dek: &[u8; 32],
    client_key: &[u8; 32],
) -> Result<Seal, CryptoError> {
    let kek = client_kek_v1(client_key, vault_id);
    Ok(Seal::Direct(wrap(&kek, AAD_CLIENT_SLOT, vault_id, dek)?))
}

/// The DEK and the client slot's public key, if `client_key` is the one this vault was sealed
/// for. The header checksum has already ruled out damage, so a tag mismatch here means a
/// different key.
pub fn unwrap_client(
    header: &Header,
    client_key: &[u8; 32],
) -> Result<(Key32, [u8; 32]), FormatError> {
    let id = &header.vault_id;
    let secret = client_secret(client_key, id);
    let dek = open_seal(
        &header.client,
        AAD_CLIENT_SLOT,
        id,
        || client_kek_v1(client_key, id),
        &secret,
    )
    .map_err(|_| FormatError::WrongKey)?;
    Ok((dek, crypto::x25519_public(&secret)?))
}

/// Derives a new password slot's public key (fresh salt): the slow part of setting a password.
pub fn password_public(password: &str, kdf: Kdf) -> Result<PasswordPublic, FormatError> {
    let salt = crypto::random::<16>()?;
    let secret = kdf.derive(password, &salt)?;
    Ok(PasswordPublic {
        kdf,
        salt,
        public: crypto::x25519_public(&secret)?,
    })
}

/// A password slot holding `dek`, for the password behind `p`.
pub fn seal_password(
    vault_id: &[u8; 16],
    dek: &[u8; 32],
    p: &PasswordPublic,
) -> Result<PasswordSlot, CryptoError> {
    Ok(PasswordSlot {
        kdf: p.kdf,
        salt: p.salt,
        seal: seal_to(&p.public, AAD_PASSWORD_SLOT, vault_id, dek)?,
    })
}

/// A password slot in the format of version 1: PBKDF2, sealed directly (for tests of reading
/// old vaults).
pub fn wrap_password_v1(
    vault_id: &[u8; 16],
    dek: &[u8; 32],
    password: &str,
    iterations: u32,
) -> Result<PasswordSlot, FormatError> {
    let salt = crypto::random::<16>()?;
    let kdf = Kdf::Pbkdf2 { iterations };
    let kek = kdf.derive(password, &salt)?;
    Ok(PasswordSlot {
        kdf,
        salt,
        seal: Seal::Direct(wrap(&kek, AAD_PASSWORD_SLOT, vault_id, dek)?),
    })
}

/// The DEK and what re-sealing the slot needs, if `password` opens the vault.
pub fn unwrap_password(
    header: &Header,
    password: &str,
) -> Result<(Key32, PasswordPublic), FormatError> {
    let slot = header.password.as_ref().ok_or(FormatError::NoPassword)?;
    let secret = slot.kdf.derive(password, &slot.salt)?;
    let dek = open_seal(
        &slot.seal,
        AAD_PASSWORD_SLOT,
        &header.vault_id,
        || secret.clone(),
        &secret,
    )
    .map_err(|_| FormatError::WrongPassword)?;
    let public = crypto::x25519_public(&secret)?;
    Ok((
        dek,
        PasswordPublic {
            kdf: slot.kdf,
            salt: slot.salt,
            public,
        },
    ))
}

// ---- manifest ----

const CHECKSUM_LEN: usize = 16;
/// More than the longest header (about 300 bytes).
const MAX_HEADER_LEN: usize = 512;

fn body_len(b: &Body) -> usize {
    8 + 8
        + b.segments.len() * 20
        + 4
        + b.remembered
            .iter()
            .map(|(k, v)| str_len(k) + str_len(v))
            .sum::<usize>()
}

fn write_seal(w: &mut Writer<'_>, seal: &Seal) {
    match seal {
        Seal::Direct(x) => {
            w.bytes(&x.nonce);
            w.bytes(&x.sealed);
        }
        Seal::ToPublic {
            public,
            ephemeral,
            wrapped,
        } => {
            w.bytes(public);
            w.bytes(ephemeral);
            w.bytes(&wrapped.nonce);
            w.bytes(&wrapped.sealed);
        }
    }
}

fn read_seal(r: &mut Reader<'_>, to_public: bool) -> Result<Seal, CodecError> {
    Ok(if to_public {
        Seal::ToPublic {
            public: r.array()?,
            ephemeral: r.array()?,
            wrapped: Wrapped {
                nonce: r.array()?,
                sealed: r.array()?,
            },
        }
    } else {
        Seal::Direct(Wrapped {
            nonce: r.array()?,
            sealed: r.array()?,
        })
    })
}

/// Serializes and seals a manifest in the current format. `header.segment_count` must match
/// `body.segments`.
pub fn seal_manifest(
    header: &Header,
    body: &Body,
    keys: &DataKeys,
) -> Result<Vec<u8>, FormatError> {
    debug_assert_eq!(header.segment_count as usize, body.segments.len());
    let blen = body_len(body);
    let ct_len = u32::try_from(blen + TAG_LEN)
        .map_err(|_| FormatError::Damaged("the manifest is too large"))?;
    let nonce = crypto::random::<NONCE_LEN>()?;
    let mut out = Zeroizing::new(Vec::with_capacity(MAX_HEADER_LEN + blen + TAG_LEN));
    {
        let mut w = Writer::new(&mut out);
        w.bytes(&MAGIC);
        w.u16(VERSION);
        w.bytes(&header.vault_id);
        w.bytes(&header.commit_id);
        w.bytes(&header.key_id);
        w.u16(header.segment_count);
        w.u8(match header.client {
            Seal::Direct(_) => SEAL_DIRECT,
            Seal::ToPublic { .. } => SEAL_TO_PUBLIC,
        });
        write_seal(&mut w, &header.client);
        match &header.password {
            None => w.u8(KDF_NONE),
            Some(p) => {
                let direct = matches!(p.seal, Seal::Direct(_));
                match p.kdf {
                    Kdf::Pbkdf2 { iterations } => {
                        w.u8(if direct {
                            SLOT_PBKDF2_DIRECT
                        } else {
                            SLOT_PBKDF2_TO_PUBLIC
                        });
                        w.u32(iterations);
                    }
                    Kdf::Argon2id { m_kib, t, p } => {
                        w.u8(if direct {
                            SLOT_ARGON2ID_DIRECT
                        } else {
                            SLOT_ARGON2ID_TO_PUBLIC
                        });
                        w.u32(m_kib);
                        w.u32(t);
                        w.u32(p);
                    }
                }
                w.bytes(&p.salt);
                write_seal(&mut w, &p.seal);
            }
        }
        w.bytes(&nonce);
        w.u32(ct_len);
    }
    let sum = checksum(&out);
    Writer::new(&mut out).bytes(&sum);
    let hlen = out.len();
    {
        let mut w = Writer::new(&mut out);
        w.u64(body.created_ms);
        w.u64(body.counter);
        for s in &body.segments {
            w.bytes(&s.id.unwrap_or_default());
            w.u32(s.count);
        }
        w.u32(body.remembered.len() as u32);
        for (site, uid) in &body.remembered {
            w.str(site);
            w.str(uid);
        }
    }
    let (aad, plain) = out.split_at_mut(hlen);
    let tag = crypto::seal_in_place(&keys.data, &nonce, aad, plain)?;
    Writer::new(&mut out).bytes(&tag);
    Ok(std::mem::take(&mut *out))
}

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    let d = Sha256::digest(bytes);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&d[..CHECKSUM_LEN]);
    out
}

/// A manifest whose header was parsed and checksummed; the body is still sealed.
pub struct SealedManifest<'a> {
    pub header: Header,
    aad: &'a [u8],
    nonce: [u8; NONCE_LEN],
    sealed: &'a [u8],
}

/// Reads the magic and version, for a useful error before anything else; returns the version.
fn check_magic_version(r: &mut Reader<'_>, magic: &[u8; 8]) -> Result<u16, FormatError> {
    let m = r.array::<8>().map_err(|_| FormatError::NotAVault)?;
    if &m != magic {
        return Err(FormatError::NotAVault);
    }
    match r.u16().map_err(damaged("it ends inside the header"))? {
        v @ 1..=VERSION => Ok(v),
        v if v > VERSION => Err(FormatError::UnsupportedVersion(v)),
        _ => Err(FormatError::Damaged("the format version is invalid")),
    }
}

pub fn parse_manifest(bytes: &[u8]) -> Result<SealedManifest<'_>, FormatError> {
    let mut r = Reader::new(bytes);
    let version = check_magic_version(&mut r, &MAGIC)?;
    let short = damaged("it ends inside the header");
    let vault_id = r.array().map_err(&short)?;
    let commit_id = r.array().map_err(&short)?;
    let key_id = match version {
        1 => [0; 16],
        _ => r.array().map_err(&short)?,
    };
    let segment_count = r.u16().map_err(&short)?;
    let client_kind = match version {
        1 => SEAL_DIRECT,
        _ => r.u8().map_err(&short)?,
    };
    let client = match client_kind {
        SEAL_DIRECT | SEAL_TO_PUBLIC => {
            read_seal(&mut r, client_kind == SEAL_TO_PUBLIC).map_err(&short)?
        }
        _ => return Err(FormatError::Damaged("the client slot type is unknown")),
    };
    let kind = r.u8().map_err(&short)?;
    let password = match kind {
        KDF_NONE => None,
        SLOT_PBKDF2_DIRECT
        | SLOT_PBKDF2_TO_PUBLIC
        | SLOT_ARGON2ID_DIRECT
        | SLOT_ARGON2ID_TO_PUBLIC
            if version > 1 || kind == SLOT_PBKDF2_DIRECT =>
        {
            let kdf = match kind {
                SLOT_PBKDF2_DIRECT | SLOT_PBKDF2_TO_PUBLIC => Kdf::Pbkdf2 {
                    iterations: r.u32().map_err(&short)?,
                },
                _ => Kdf::Argon2id {
                    m_kib: r.u32().map_err(&short)?,
                    t: r.u32().map_err(&short)?,
                    p: r.u32().map_err(&short)?,
                },
            };
            let salt = r.array().map_err(&short)?;
            let to_public = matches!(kind, SLOT_PBKDF2_TO_PUBLIC | SLOT_ARGON2ID_TO_PUBLIC);
            Some(PasswordSlot {
                kdf,
                salt,
                seal: read_seal(&mut r, to_public).map_err(&short)?,
            })
        }
        _ => return Err(FormatError::Damaged("the password slot type is unknown")),
    };
    let nonce = r.array().map_err(&short)?;
    let ct_len = r.u32().map_err(&short)? as usize;
    let summed = r.position();
    let sum: [u8; CHECKSUM_LEN] = r.array().map_err(&short)?;
    if sum != checksum(&bytes[..summed]) {
        return Err(FormatError::Damaged("the header checksum does not match"));
    }
    if segment_count == 0 || segment_count > MAX_SEGMENTS {
        return Err(FormatError::Damaged("the segment count is out of range"));
    }
    let aad = &bytes[..r.position()];
    if r.remaining() != ct_len || ct_len < TAG_LEN {
        return Err(FormatError::Damaged(
            "its length does not match its header (truncated?)",
        ));
    }
    Ok(SealedManifest {
        header: Header {
            version,
            vault_id,
            commit_id,
            key_id,
            segment_count,
            client,
            password,
        },
        aad,
        nonce,
        sealed: r.take(ct_len).map_err(&short)?,
    })
}

impl SealedManifest<'_> {
    pub fn open(&self, keys: &DataKeys) -> Result<Body, FormatError> {
        // parse_manifest already refuses a ciphertext shorter than a tag; checked again so that
        // a slip there is an error, not an underflow.
        let ct_len = (self.sealed.len())
            .checked_sub(TAG_LEN)
            .ok_or(FormatError::Damaged("the manifest is shorter than its tag"))?;
        let (ct, tag) = self.sealed.split_at(ct_len);
        let tag: [u8; TAG_LEN] = tag.try_into().expect("tag length");
        let mut plain = Zeroizing::new(ct.to_vec());
        crypto::open_in_place(&keys.data, &self.nonce, self.aad, &mut plain, &tag)
            .map_err(|_| FormatError::Damaged("the manifest failed authentication"))?;
        let short = damaged("the manifest contents are malformed");
        let mut r = Reader::new(&plain);
        let created_ms = r.u64().map_err(&short)?;
        let counter = match self.header.version {
            1 => 0,
            _ => r.u64().map_err(&short)?,
        };
        let mut segments = Vec::with_capacity(self.header.segment_count as usize);
        for _ in 0..self.header.segment_count {
            let id: [u8; 16] = r.array().map_err(&short)?;
            let count = r.u32().map_err(&short)?;
            segments.push(SegmentRef {
                id: (id != [0; 16]).then_some(id),
                count,
            });
        }
        let n = r.u32().map_err(&short)?;
        let mut remembered = BTreeMap::new();
        for _ in 0..n {
            let site = r.str().map_err(&short)?.to_owned();
            let uid = r.str().map_err(&short)?.to_owned();
            remembered.insert(site, uid);
        }
        r.finish().map_err(&short)?;
        Ok(Body {
            created_ms,
            counter,
            segments,
            remembered,
        })
    }
}

// ---- segments ----

/// What the manifest says a segment file must be.
#[derive(Clone, Copy)]
pub struct SegmentSpec<'a> {
    pub vault_id: &'a [u8; 16],
    pub index: u16,
    pub id: [u8; 16],
    pub count: u32,
}

/// Bytes before a segment's ciphertext.
pub const SEGMENT_HEADER_LEN: usize = 8 + 2 + 16 + 2 + 16 + NONCE_LEN + 4;
/// The two lengths at the end of a version 3 segment plaintext.
const TRAILER_LEN: usize = 8;

/// The padded size of a segment plaintext of `n` bytes: at least [`MIN_PADDED`], then in
/// steps of an eighth of the next power of two (at most 25% more), so file sizes follow the
/// number of entries only coarsely and not the length of any field.
pub fn padded_len(n: usize) -> usize {
    if n <= MIN_PADDED {
        return MIN_PADDED;
    }
    let step = n.next_power_of_two() / 8;
    n.div_ceil(step) * step
}

/// Seals a segment: the packed text and tables, zeros up to [`padded_len`], and the two
/// lengths.
pub fn seal_packed(
    spec: SegmentSpec<'_>,
    packed: &Packed,
    keys: &DataKeys,
) -> Result<Vec<u8>, FormatError> {
    debug_assert_eq!(packed.len(), spec.count as usize);
    let (text_len, meta_len) = packed.encoded_len();
    let too_large = || FormatError::Damaged("a segment is too large");
    let lens = [text_len, meta_len].map(|n| u32::try_from(n).map_err(|_| too_large()));
    let plain_len = padded_len(text_len + meta_len + TRAILER_LEN);
    let ct_len = u32::try_from(plain_len + TAG_LEN).map_err(|_| too_large())?;
    let nonce = crypto::random::<NONCE_LEN>()?;
    let mut out = Zeroizing::new(Vec::with_capacity(SEGMENT_HEADER_LEN + plain_len + TAG_LEN));
    let mut w = Writer::new(&mut out);
    w.bytes(&SEGMENT_MAGIC);
    w.u16(VERSION);
    w.bytes(spec.vault_id);
    w.u16(spec.index);
    w.bytes(&spec.id);
    w.bytes(&nonce);
    w.u32(ct_len);
    packed.write_to(&mut w);
    out.resize(SEGMENT_HEADER_LEN + plain_len - TRAILER_LEN, 0);
    let mut w = Writer::new(&mut out);
    for n in lens {
        w.u32(n?);
    }
    let (aad, plain) = out.split_at_mut(SEGMENT_HEADER_LEN);
    let tag = crypto::seal_in_place(&keys.data, &nonce, aad, plain)?;
    Writer::new(&mut out).bytes(&tag);
    Ok(std::mem::take(&mut *out))
}

/// Whether every byte is zero (without an early exit, so the loop vectorizes).
fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |acc, &b| acc | b) == 0
}

/// Opens a whole segment file and returns its entries as owned copies (for tests and tools;
/// the vault uses [`open_packed`]).
pub fn open_segment(
    bytes: &mut [u8],
    spec: SegmentSpec<'_>,
    keys: &DataKeys,
) -> Result<Vec<Entry>, FormatError> {
    let at = bytes.len().min(SEGMENT_HEADER_LEN);
    let (head, body) = bytes.split_at(at);
    let (p, _) = open_packed(head, Zeroizing::new(body.to_vec()), spec, keys)?;
    Ok((0..p.len()).map(|i| p.to_entry(i)).collect())
}

/// Opens a segment file given as its header (the first [`SEGMENT_HEADER_LEN`] bytes) and the
/// rest, which is decrypted in place. Also says whether the segment is current: version 3,
/// written under this code's index rules (a commit rewrites the others).
pub fn open_packed(
    head: &[u8],
    mut body: Zeroizing<Vec<u8>>,
    spec: SegmentSpec<'_>,
    keys: &DataKeys,
) -> Result<(Packed, bool), FormatError> {
    let mut r = Reader::new(head);
    let version = check_magic_version(&mut r, &SEGMENT_MAGIC)?;
    let short = damaged("a segment ends inside its header");
    let vault_id: [u8; 16] = r.array().map_err(&short)?;
    let index = r.u16().map_err(&short)?;
    let id: [u8; 16] = r.array().map_err(&short)?;
    let nonce: [u8; NONCE_LEN] = r.array().map_err(&short)?;
    let ct_len = r.u32().map_err(&short)? as usize;
    r.finish().map_err(&short)?;
    if (&vault_id, index, id) != (spec.vault_id, spec.index, spec.id) {
        return Err(FormatError::Damaged(
            "a segment file does not belong where the manifest says",
        ));
    }
    let min_plain = if version >= 3 { TRAILER_LEN } else { 4 };
    if body.len() != ct_len || ct_len < TAG_LEN + min_plain {
        return Err(FormatError::Damaged(
            "a segment's length does not match its header (truncated?)",
        ));
    }
    // Checked again (see SealedManifest::open): a slip in the guard is an error, not a panic.
    let plain_len = ct_len
        .checked_sub(TAG_LEN)
        .ok_or(FormatError::Damaged("a segment is shorter than its tag"))?;
    let (plain, tag) = body.split_at_mut(plain_len);
    let tag: [u8; TAG_LEN] = (&*tag).try_into().expect("tag length");
    crypto::open_in_place(&keys.data, &nonce, head, plain, &tag)
        .map_err(|_| FormatError::Damaged("a segment failed authentication"))?;
    body.truncate(plain_len);
    if version < 3 {
        let entries = decode_entries(&body, version, spec.count)?;
        return Ok((Packed::build(entries.iter()), false));
    }
    let bad = FormatError::Damaged("a segment's contents are malformed");
    let lens = &body[plain_len - TRAILER_LEN..];
    let text_len = u32::from_le_bytes(lens[..4].try_into().expect("4 bytes")) as usize;
    let meta_len = u32::from_le_bytes(lens[4..].try_into().expect("4 bytes")) as usize;
    let used = text_len
        .checked_add(meta_len)
        .filter(|&n| n <= plain_len - TRAILER_LEN)
        .ok_or(bad)?;
    // Padding: zeros only, so the plaintext has exactly one reading.
    if !all_zero(&body[used..plain_len - TRAILER_LEN]) {
        return Err(FormatError::Damaged("a segment's padding is not zero"));
    }
    body.truncate(used);
    Ok(Packed::read(
        std::mem::take(&mut *body),
        meta_len,
        spec.count,
    )?)
}

/// The entries of a version 1 or 2 segment plaintext, decoded in place: each field borrows
/// `plain`. Checks that they are sorted by uid, each once.
pub fn decode_entries(
    plain: &[u8],
    version: u16,
    count: u32,
) -> Result<Vec<RawEntry<'_>>, FormatError> {
    let bad = damaged("a segment's contents are malformed");
    let mut r = Reader::new(plain);
    if r.u32().map_err(&bad)? != count {
        return Err(FormatError::Damaged(
            "a segment's entry count differs from the manifest",
        ));
    }
    // Each entry takes at least 16 + 7 * 4 bytes: bound the allocation by the real size.
    let mut entries = Vec::with_capacity((count as usize).min(r.remaining() / 44));
    for _ in 0..count {
        let created_ms = r.u64().map_err(&bad)?;
        let updated_ms = r.u64().map_err(&bad)?;
        let mut fields = [""; 7];
        for f in &mut fields {
            *f = r.str().map_err(&bad)?;
        }
        entries.push(RawEntry {
            created_ms,
            updated_ms,
            fields,
        });
    }
    if version > 1 {
        // Padding: zeros only, so the plaintext has exactly one reading.
        let rest = r.take(r.remaining()).map_err(&bad)?;
        if !all_zero(rest) {
            return Err(FormatError::Damaged("a segment's padding is not zero"));
        }
    }
    r.finish().map_err(&bad)?;
    if entries.windows(2).any(|w| w[0].uid() >= w[1].uid()) {
        return Err(FormatError::Damaged(
            "a segment's entries are out of order or repeated",
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals entries sorted by uid as a segment, as a commit does.
    fn seal_segment<'e, E: EntryFields + 'e>(
        spec: SegmentSpec<'_>,
        entries: impl Iterator<Item = &'e E>,
        keys: &DataKeys,
    ) -> Result<Vec<u8>, FormatError> {
        seal_packed(spec, &Packed::build(entries), keys)
    }

    /// Bytes of an entry in a version 1 or 2 segment: two times and seven length-prefixed
    /// fields.
    fn v2_len(e: &impl EntryFields) -> usize {
        16 + e.fields().iter().map(|f| str_len(f)).sum::<usize>()
    }

    pub(crate) fn entry(uid: &str, name: &str, website: &str) -> Entry {
        Entry {
            credential: Credential {
                uid: Some(uid.into()),
                readable_uid: uid.chars().take(8).collect(),
                name: name.into(),
                password: format!("pw-{uid}"),
                user: "alice".into(),
                website: website.into(),
                otp: String::new(),
            },
            created_ms: 1,
            updated_ms: 2,
        }
    }

    fn fixture() -> (Header, Body, Key32, DataKeys) {
        let dek = crypto::random_key().unwrap();
        let vault_id = [7u8; 16];
        let public = client_public(&vault_id, &[9u8; 32]).unwrap();
        let client = seal_client(&vault_id, &dek, &public).unwrap();
        let header = Header {
            version: VERSION,
            vault_id,
            commit_id: [1; 16],
            key_id: [6; 16],
            segment_count: 4,
            client,
            password: None,
        };
        let mut body = Body {
            created_ms: 42,
            counter: 9,
            segments: vec![SegmentRef::default(); 4],
            remembered: BTreeMap::new(),
        };
        body.segments[2] = SegmentRef {
            id: Some([3; 16]),
            count: 5,
        };
        body.remembered.insert("github.com".into(), "uid-1".into());
        let keys = DataKeys::derive(&dek, &vault_id);
        (header, body, dek, keys)
    }

    #[test]
    fn manifest_round_trip_and_key_slots() {
        let (header, body, dek, keys) = fixture();
        let bytes = seal_manifest(&header, &body, &keys).unwrap();
        let parsed = parse_manifest(&bytes).unwrap();
        assert!(parsed.header == header);
        assert!(parsed.open(&keys).unwrap() == body);
        let (got, public) = unwrap_client(&parsed.header, &[9u8; 32]).unwrap();
        assert_eq!(*got, *dek);
        assert_eq!(Some(public), parsed.header.client.public());
        assert_eq!(
            unwrap_client(&parsed.header, &[8u8; 32]).err(),
            Some(FormatError::WrongKey)
        );
        assert_eq!(
            unwrap_password(&parsed.header, "x").err(),
            Some(FormatError::NoPassword)
        );
        // Nothing readable leaks into the file: no site names, no uids.
        assert!(!bytes.windows(6).any(|w| w == b"github"));
        assert!(!bytes.windows(5).any(|w| w == b"uid-1"));
    }

    #[test]
    fn password_slot_round_trip() {
        let (mut header, body, dek, keys) = fixture();
        let kdfs = [
            Kdf::TEST,
            Kdf::Pbkdf2 {
                iterations: MIN_ITERATIONS,
            },
        ];
        for kdf in kdfs {
            let public = password_public("correct horse", kdf).unwrap();
            header.password = Some(seal_password(&header.vault_id, &dek, &public).unwrap());
            let bytes = seal_manifest(&header, &body, &keys).unwrap();
            let parsed = parse_manifest(&bytes).unwrap();
            assert!(parsed.header == header);
            let (got, again) = unwrap_password(&parsed.header, "correct horse").unwrap();
            assert_eq!(*got, *dek);
            assert!(
                again == public,
                "the slot can be re-sealed without the password"
            );
            assert_eq!(
                unwrap_password(&parsed.header, "correct hors").err(),
                Some(FormatError::WrongPassword)
            );
        }
    }

    #[test]
    fn new_slots_use_argon2id_64_mib_and_pbkdf2_at_least_600k() {
        assert_eq!(
            Kdf::ARGON2ID,
            Kdf::Argon2id {
                m_kib: 65536,
                t: 3,
                p: 1
            }
        );
        const { assert!(PBKDF2_ITERATIONS >= 600_000) };
        // The real cost, once: it derives, and differs from the test cost.
        let (mut header, _, dek, _) = fixture();
        let public = password_public("correct horse", Kdf::ARGON2ID).unwrap();
        header.password = Some(seal_password(&header.vault_id, &dek, &public).unwrap());
        assert_eq!(*unwrap_password(&header, "correct horse").unwrap().0, *dek);
        header.password.as_mut().unwrap().kdf = Kdf::TEST;
        assert_eq!(
            unwrap_password(&header, "correct horse").err(),
            Some(FormatError::WrongPassword)
        );
    }

    #[test]
    fn crafted_iteration_counts_are_refused() {
        let (mut header, _, dek, _) = fixture();
        let mut slot = wrap_password_v1(&header.vault_id, &dek, "pw", MIN_ITERATIONS).unwrap();
        for bad in [0, 1, MIN_ITERATIONS - 1, MAX_ITERATIONS + 1, u32::MAX] {
            slot.kdf = Kdf::Pbkdf2 { iterations: bad };
            header.password = Some(slot.clone());
            assert!(matches!(
                unwrap_password(&header, "pw"),
                Err(FormatError::Damaged(_))
            ));
        }
        let bad_argon = [
            (ARGON2_MIN_KIB - 1, 1, 1),
            (ARGON2_MAX_KIB + 1, 1, 1),
            (ARGON2_MIN_KIB, 0, 1),
            (ARGON2_MIN_KIB, ARGON2_MAX_T + 1, 1),
            (ARGON2_MIN_KIB, 1, 0),
            (ARGON2_MIN_KIB, 1, ARGON2_MAX_P + 1),
        ];
        for (m_kib, t, p) in bad_argon {
            slot.kdf = Kdf::Argon2id { m_kib, t, p };
            header.password = Some(slot.clone());
            assert!(matches!(
                unwrap_password(&header, "pw"),
                Err(FormatError::Damaged(_))
            ));
        }
    }

    #[test]
    fn version_1_slots_still_open() {
        let (mut header, body, dek, keys) = fixture();
        header.client = wrap_client_v1(&header.vault_id, &dek, &[9u8; 32]).unwrap();
        header.password =
            Some(wrap_password_v1(&header.vault_id, &dek, "pw", MIN_ITERATIONS).unwrap());
        let bytes = seal_manifest(&header, &body, &keys).unwrap();
        let parsed = parse_manifest(&bytes).unwrap();
        assert!(parsed.header == header);
        let (got, public) = unwrap_client(&parsed.header, &[9u8; 32]).unwrap();
        assert_eq!(*got, *dek);
        assert_eq!(public, client_public(&header.vault_id, &[9u8; 32]).unwrap());
        assert_eq!(*unwrap_password(&parsed.header, "pw").unwrap().0, *dek);
        assert_eq!(
            unwrap_client(&parsed.header, &[8u8; 32]).err(),
            Some(FormatError::WrongKey)
        );
    }

    #[test]
    fn padding_hides_field_lengths_within_a_bucket() {
        assert_eq!(padded_len(0), MIN_PADDED);
        assert_eq!(padded_len(MIN_PADDED), MIN_PADDED);
        assert_eq!(padded_len(MIN_PADDED + 1), 5120);
        assert_eq!(padded_len(40_000), 40_960);
        for n in [1, 4095, 4097, 9000, 65_537, 1 << 20, 38_123_456] {
            let p = padded_len(n);
            assert!(
                p >= n && p - n <= n.max(MIN_PADDED) / 4 + MIN_PADDED,
                "{n} → {p}"
            );
        }
        let (header, _, _, keys) = fixture();
        let spec = SegmentSpec {
            vault_id: &header.vault_id,
            index: 2,
            id: [3; 16],
            count: 2,
        };
        let short = [entry("a", "A", "a.example"), entry("b", "B", "")];
        let mut long = short.clone();
        long[1].credential.password = "a much longer password than before".into();
        let a = seal_segment(spec, short.iter(), &keys).unwrap();
        let b = seal_segment(spec, long.iter(), &keys).unwrap();
        assert_eq!(a.len(), b.len());
        // Padding must be zeros.
        let mut tampered = Vec::new();
        let mut plain = a.clone();
        let n = plain.len();
        let (aad, rest) = plain.split_at_mut(SEGMENT_HEADER_LEN);
        let (body, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = aad[44..56].try_into().unwrap();
        crypto::open_in_place(&keys.data, &nonce, aad, body, &(&*tag).try_into().unwrap()).unwrap();
        // The last byte before the two lengths.
        let len = body.len();
        body[len - TRAILER_LEN - 1] = 1;
        let tag = crypto::seal_in_place(&keys.data, &nonce, aad, body).unwrap();
        tampered.extend_from_slice(&plain[..n - TAG_LEN]);
        tampered.extend_from_slice(&tag);
        assert_eq!(
            open_segment(&mut tampered, spec, &keys).err(),
            Some(FormatError::Damaged("a segment's padding is not zero"))
        );
    }

    /// Every flip is noticed, and reported as the damage it is: header damage must never look
    /// like a wrong key (that would send the user re-linking instead of restoring a backup).
    #[test]
    fn every_single_bit_flip_in_a_manifest_is_detected() {
        let (header, body, _, keys) = fixture();
        let bytes = seal_manifest(&header, &body, &keys).unwrap();
        let hlen = header_len(&bytes);
        // The slot types (the fixture's client slot is sealed to a public key, no password).
        let client_at = 8 + 2 + 16 + 16 + 16 + 2;
        let kdf_at = client_at + 1 + 32 + 32 + NONCE_LEN + WRAPPED_LEN;
        let checksum_err = FormatError::Damaged("the header checksum does not match");
        for i in 0..bytes.len() {
            for bit in [0, 3, 7] {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let res = parse_manifest(&b).and_then(|m| {
                    unwrap_client(&m.header, &[9u8; 32])?;
                    m.open(&keys)
                });
                let Err(e) = res else {
                    panic!("flip at byte {i} bit {bit} went unnoticed");
                };
                let expected = match i {
                    0..=7 => e == FormatError::NotAVault,
                    8..=9 => match u16::from_le_bytes([b[8], b[9]]) {
                        0 => e == FormatError::Damaged("the format version is invalid"),
                        // An older version's layout: damage, never a wrong key.
                        v if v < VERSION => matches!(e, FormatError::Damaged(_)),
                        v => e == FormatError::UnsupportedVersion(v),
                    },
                    // The slot types are read before the checksum.
                    _ if i == client_at => {
                        e == FormatError::Damaged("the client slot type is unknown")
                    }
                    _ if i == kdf_at => {
                        e == checksum_err
                            || e == FormatError::Damaged("the password slot type is unknown")
                    }
                    _ if i < hlen => e == checksum_err,
                    _ => e == FormatError::Damaged("the manifest failed authentication"),
                };
                assert!(expected, "flip at byte {i} bit {bit}: {e:?}");
            }
        }
    }

    /// The length of a manifest's plaintext header, checksum included.
    fn header_len(manifest: &[u8]) -> usize {
        parse_manifest(manifest).unwrap().aad.len()
    }

    /// A manifest whose header declares `ct` as its sealed body, checksum recomputed: what a
    /// crafted file can look like.
    fn with_ciphertext(manifest: &[u8], hlen: usize, ct: &[u8]) -> Vec<u8> {
        let mut b = manifest[..hlen].to_vec();
        let len_at = hlen - CHECKSUM_LEN - 4;
        b[len_at..len_at + 4].copy_from_slice(&(ct.len() as u32).to_le_bytes());
        let sum = checksum(&b[..hlen - CHECKSUM_LEN]);
        b[hlen - CHECKSUM_LEN..].copy_from_slice(&sum);
        b.extend_from_slice(ct);
        b
    }

    #[test]
    fn a_manifest_ciphertext_shorter_than_a_tag_is_refused() {
        let (header, body, _, keys) = fixture();
        let bytes = seal_manifest(&header, &body, &keys).unwrap();
        let hlen = header_len(&bytes);
        // The helper reproduces the real file when given the real ciphertext.
        assert_eq!(with_ciphertext(&bytes, hlen, &bytes[hlen..]), bytes);
        for n in 0..TAG_LEN {
            let crafted = with_ciphertext(&bytes, hlen, &vec![0xa5; n]);
            assert_eq!(
                parse_manifest(&crafted).err(),
                Some(FormatError::Damaged(
                    "its length does not match its header (truncated?)"
                )),
                "{n} bytes"
            );
        }
        // Exactly a tag gets as far as authentication.
        let crafted = with_ciphertext(&bytes, hlen, &[0xa5; TAG_LEN]);
        assert_eq!(
            parse_manifest(&crafted).unwrap().open(&keys).err(),
            Some(FormatError::Damaged("the manifest failed authentication"))
        );
    }

    /// 1 to MAX_SEGMENTS segments (memory.rs grows a vault up to exactly MAX_SEGMENTS).
    #[test]
    fn segment_count_bounds() {
        let (mut header, _, _, keys) = fixture();
        for (n, ok) in [
            (0, false),
            (1, true),
            (MAX_SEGMENTS, true),
            (MAX_SEGMENTS + 1, false),
            (u16::MAX, false),
        ] {
            header.segment_count = n;
            let body = Body {
                created_ms: 7,
                counter: 3,
                segments: vec![SegmentRef::default(); n.into()],
                remembered: BTreeMap::new(),
            };
            let bytes = seal_manifest(&header, &body, &keys).unwrap();
            match parse_manifest(&bytes) {
                Ok(m) => {
                    assert!(ok, "{n} segments accepted");
                    assert!(m.open(&keys).unwrap() == body, "{n} segments");
                }
                Err(e) => {
                    assert!(!ok, "{n} segments refused: {e:?}");
                    assert_eq!(e, FormatError::Damaged("the segment count is out of range"));
                }
            }
        }
    }

    #[test]
    fn every_truncation_of_a_manifest_is_detected() {
        let (header, body, _, keys) = fixture();
        let bytes = seal_manifest(&header, &body, &keys).unwrap();
        for len in 0..bytes.len() {
            let res = parse_manifest(&bytes[..len]).and_then(|m| m.open(&keys));
            assert!(res.is_err(), "truncation to {len} went unnoticed");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(parse_manifest(&longer).is_err());
    }

    #[test]
    fn versions_and_magic() {
        let (header, body, _, keys) = fixture();
        let mut bytes = seal_manifest(&header, &body, &keys).unwrap();
        bytes[8..10].copy_from_slice(&(VERSION + 1).to_le_bytes());
        assert_eq!(
            parse_manifest(&bytes).err(),
            Some(FormatError::UnsupportedVersion(VERSION + 1))
        );
        bytes[8..10].copy_from_slice(&0u16.to_le_bytes());
        assert!(matches!(
            parse_manifest(&bytes).err(),
            Some(FormatError::Damaged(_))
        ));
        assert_eq!(
            parse_manifest(b"{\"json\": true}").err(),
            Some(FormatError::NotAVault)
        );
        assert_eq!(parse_manifest(b"").err(), Some(FormatError::NotAVault));
    }

    #[test]
    fn segment_round_trip_and_binding() {
        let (header, _, _, keys) = fixture();
        let entries = [
            entry("a", "Alpha", "https://a.example"),
            entry("b", "Bêta ☃", ""),
        ];
        let spec = SegmentSpec {
            vault_id: &header.vault_id,
            index: 2,
            id: [3; 16],
            count: 2,
        };
        let bytes = seal_segment(spec, entries.iter(), &keys).unwrap();
        assert!(!bytes.windows(4).any(|w| w == b"pw-a"));
        let got = open_segment(&mut bytes.clone(), spec, &keys).unwrap();
        assert!(got == entries);
        for wrong in [
            SegmentSpec { index: 1, ..spec },
            SegmentSpec {
                id: [4; 16],
                ..spec
            },
            SegmentSpec { count: 3, ..spec },
            SegmentSpec {
                vault_id: &[0; 16],
                ..spec
            },
        ] {
            assert!(matches!(
                open_segment(&mut bytes.clone(), wrong, &keys),
                Err(FormatError::Damaged(_))
            ));
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(open_segment(&mut b, spec, &keys).is_err(), "flip at {i}");
        }
        for len in 0..bytes.len() {
            assert!(open_segment(&mut bytes[..len].to_vec(), spec, &keys).is_err());
        }
    }

    const SEGMENT_NONCE: [u8; NONCE_LEN] = [5; NONCE_LEN];

    /// A segment header as [`seal_segment`] writes it, declaring `ct_len` bytes of ciphertext.
    fn segment_header(spec: SegmentSpec<'_>, ct_len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEGMENT_HEADER_LEN);
        let mut w = Writer::new(&mut out);
        w.bytes(&SEGMENT_MAGIC);
        w.u16(VERSION);
        w.bytes(spec.vault_id);
        w.u16(spec.index);
        w.bytes(&spec.id);
        w.bytes(&SEGMENT_NONCE);
        w.u32(ct_len as u32);
        out
    }

    /// A correctly sealed segment around an arbitrary plaintext.
    fn sealed_segment(spec: SegmentSpec<'_>, keys: &DataKeys, plain: &[u8]) -> Vec<u8> {
        let mut out = segment_header(spec, plain.len() + TAG_LEN);
        let mut body = plain.to_vec();
        let tag = crypto::seal_in_place(&keys.data, &SEGMENT_NONCE, &out, &mut body).unwrap();
        out.extend_from_slice(&body);
        out.extend_from_slice(&tag);
        out
    }

    #[test]
    fn a_segment_ciphertext_without_room_for_tag_and_count_is_refused() {
        let keys = DataKeys::derive(&[1; 32], &[2; 16]);
        let spec = SegmentSpec {
            vault_id: &[2; 16],
            index: 0,
            id: [4; 16],
            count: 0,
        };
        let length_err = Some(FormatError::Damaged(
            "a segment's length does not match its header (truncated?)",
        ));
        // The helper seals like seal_segment: an empty segment (no text; the count, the index
        // tag and two empty tables; the two lengths) opens.
        let mut plain = Vec::with_capacity(28);
        let mut w = Writer::new(&mut plain);
        w.u32(0);
        w.u64(super::super::packed::index_tag());
        w.u32(0);
        w.u32(0);
        w.u32(0);
        w.u32(20);
        let empty = sealed_segment(spec, &keys, &plain);
        assert_eq!(empty.len(), SEGMENT_HEADER_LEN + TAG_LEN + 28);
        assert_eq!(open_segment(&mut empty.clone(), spec, &keys), Ok(vec![]));
        let real = seal_segment(spec, std::iter::empty::<&Entry>(), &keys).unwrap();
        assert_eq!(open_segment(&mut real.clone(), spec, &keys), Ok(vec![]));
        // Shorter than a tag: no tag to check.
        for n in 0..TAG_LEN {
            let mut b = segment_header(spec, n);
            b.extend(vec![0xa5; n]);
            assert_eq!(open_segment(&mut b, spec, &keys).err(), length_err, "{n}");
        }
        // Authentic, but too short for the two lengths.
        for n in 0..TRAILER_LEN {
            let mut b = sealed_segment(spec, &keys, &[0; 8][..n]);
            assert_eq!(open_segment(&mut b, spec, &keys).err(), length_err, "{n}");
        }
        // Lengths that do not fit, or leave no room for the tables.
        let bad = Some(FormatError::Damaged("a segment's contents are malformed"));
        for (t, m) in [(u32::MAX, 1), (1, u32::MAX), (21, 0), (0, 21)] {
            let mut p = plain.clone();
            p[20..24].copy_from_slice(&t.to_le_bytes());
            p[24..28].copy_from_slice(&m.to_le_bytes());
            let got = open_segment(&mut sealed_segment(spec, &keys, &p), spec, &keys).err();
            assert!(got == bad, "{t} {m}: {got:?}");
        }
    }

    /// Entry fields are limited where credentials come in (session/ops.rs); the limit is
    /// pinned here so a slip cannot make real credentials unstorable, and such an entry must
    /// survive a segment round trip.
    #[test]
    fn fields_of_max_field_bytes_are_stored() {
        assert_eq!(MAX_FIELD_BYTES, 64 * 1024);
        let mut e = entry("big", "Big", "https://big.example");
        e.credential.otp = "o".repeat(MAX_FIELD_BYTES);
        e.credential.password = "p".repeat(MAX_FIELD_BYTES);
        let keys = DataKeys::derive(&[1; 32], &[2; 16]);
        let spec = SegmentSpec {
            vault_id: &[2; 16],
            index: 0,
            id: [4; 16],
            count: 1,
        };
        let bytes = seal_segment(spec, [&e].into_iter(), &keys).unwrap();
        assert_eq!(open_segment(&mut bytes.clone(), spec, &keys), Ok(vec![e]));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_entry() -> impl Strategy<Value = Entry> {
            (
                "[a-z0-9-]{1,40}",
                proptest::collection::vec(".{0,30}", 6),
                any::<u64>(),
                any::<u64>(),
            )
                .prop_map(|(uid, f, created_ms, updated_ms)| {
                    let mut c = Credential::default();
                    c.uid = Some(uid);
                    c.readable_uid = f[0].clone();
                    c.name = f[1].clone();
                    c.password = f[2].clone();
                    c.user = f[3].clone();
                    c.website = f[4].clone();
                    c.otp = f[5].clone();
                    Entry {
                        credential: c,
                        created_ms,
                        updated_ms,
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn segments_round_trip(mut entries in proptest::collection::vec(any_entry(), 0..20)) {
                // A segment holds its entries sorted by uid, each once.
                entries.sort_by(|a, b| a.uid().cmp(b.uid()));
                entries.dedup_by(|a, b| a.uid() == b.uid());
                let keys = DataKeys::derive(&[1; 32], &[2; 16]);
                let spec = SegmentSpec { vault_id: &[2; 16], index: 3, id: [4; 16], count: entries.len() as u32 };
                let bytes = seal_segment(spec, entries.iter(), &keys).unwrap();
                let back = open_segment(&mut bytes.clone(), spec, &keys).unwrap();
                prop_assert!(back == entries);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let keys = DataKeys::derive(&[1; 32], &[2; 16]);
                if let Ok(m) = parse_manifest(&bytes) {
                    let _ = unwrap_client(&m.header, &[0; 32]);
                    let _ = m.open(&keys);
                }
                let spec = SegmentSpec { vault_id: &[2; 16], index: 0, id: [0; 16], count: 0 };
                let _ = open_segment(&mut bytes.clone(), spec, &keys);
                let mut with_magic = SEGMENT_MAGIC.to_vec();
                with_magic.extend_from_slice(&bytes);
                let _ = open_segment(&mut with_magic, spec, &keys);
            }
        }
    }

    #[test]
    fn segment_assignment_is_keyed_and_spread() {
        let keys = DataKeys::derive(&[5u8; 32], &[7u8; 16]);
        let other = DataKeys::derive(&[5u8; 32], &[8u8; 16]);
        let mut counts = [0u32; 16];
        let mut differs = 0;
        for i in 0..1600 {
            let uid = format!("uid-{i}");
            counts[keys.segment_of(&uid, 16) as usize] += 1;
            differs += (keys.segment_of(&uid, 16) != other.segment_of(&uid, 16)) as u32;
        }
        assert!(counts.iter().all(|&c| c > 50), "{counts:?}");
        assert!(differs > 1000);
    }

    /// A segment file is its header (60 bytes: magic 8, version 2, vault id 16, index 2, file
    /// id 16, nonce 12, length 4), the packed text and tables and the two lengths padded by
    /// [`padded_len`], and a tag: a miscounted length would move files into larger buckets
    /// unnoticed.
    #[test]
    fn segment_size_is_the_padded_encoded_length() {
        assert_eq!(SEGMENT_HEADER_LEN, 60);
        let keys = DataKeys::derive(&[1; 32], &[2; 16]);
        let mut e = entry("uid-1", "Name", "https://a.example");
        e.credential.password = "p".repeat(5000);
        let spec = SegmentSpec {
            vault_id: &[2; 16],
            index: 0,
            id: [4; 16],
            count: 1,
        };
        let bytes = seal_segment(spec, [&e].into_iter(), &keys).unwrap();
        // The seven fields, the host and the lowercase name; then the count, the tag, two
        // times, nine ends, the domain position, one domain row and one word row ("name") with
        // the two row counts; then the two lengths.
        let text: usize = e.fields().iter().map(|f| f.len()).sum::<usize>() + 9 + 4;
        let meta = 4 + 8 + 16 + 9 * 4 + 4 + (4 + 12) + (4 + 12);
        let packed = Packed::build([&e].into_iter());
        assert_eq!(packed.encoded_len(), (text, meta));
        let used = text + meta + TRAILER_LEN;
        assert!(used > MIN_PADDED && padded_len(used) < 2 * used);
        assert_eq!(bytes.len(), 60 + padded_len(used) + TAG_LEN);
        // Empty: the count, the tag and the two empty tables, padded to the minimum.
        let spec = SegmentSpec { count: 0, ..spec };
        let empty = seal_segment(spec, std::iter::empty::<&Entry>(), &keys).unwrap();
        assert_eq!(empty.len(), 60 + MIN_PADDED + TAG_LEN);
        assert_eq!(Packed::default().encoded_len(), (0, 20));
    }

    /// The two lengths at the end count toward the padded size: a segment whose text, tables
    /// and lengths fill [`MIN_PADDED`] exactly takes the minimum, one byte more takes the next
    /// bucket, and both open.
    #[test]
    fn the_trailing_lengths_count_toward_the_padding() {
        let keys = DataKeys::derive(&[1; 32], &[2; 16]);
        let spec = SegmentSpec {
            vault_id: &[2; 16],
            index: 0,
            id: [4; 16],
            count: 1,
        };
        let with_password = |n: usize| {
            let mut e = entry("uid-1", "Name", "https://a.example");
            e.credential.password = "p".repeat(n);
            e
        };
        let (t, m) = Packed::build([&with_password(0)].into_iter()).encoded_len();
        let fill = MIN_PADDED - (t + m + TRAILER_LEN);
        assert_eq!(padded_len(MIN_PADDED + 1), 5120);
        for (extra, padded) in [(0, MIN_PADDED), (1, 5120)] {
            let e = with_password(fill + extra);
            let (t, m) = Packed::build([&e].into_iter()).encoded_len();
            assert_eq!(t + m + TRAILER_LEN, MIN_PADDED + extra);
            let bytes = seal_segment(spec, [&e].into_iter(), &keys).unwrap();
            assert_eq!(
                bytes.len(),
                SEGMENT_HEADER_LEN + padded + TAG_LEN,
                "{extra}"
            );
            assert_eq!(open_segment(&mut bytes.clone(), spec, &keys), Ok(vec![e]));
        }
    }

    /// A version 2 segment plaintext as format 2 wrote it: the count, each entry (two times,
    /// seven length-prefixed fields), zeros to [`padded_len`].
    fn v2_plain(entries: &[Entry]) -> Vec<u8> {
        let used = 4 + entries.iter().map(v2_len).sum::<usize>();
        let mut out = Vec::with_capacity(padded_len(used));
        let mut w = Writer::new(&mut out);
        w.u32(entries.len() as u32);
        for e in entries {
            w.u64(e.created_ms);
            w.u64(e.updated_ms);
            for f in e.fields() {
                w.str(f);
            }
        }
        // `v2_len` is an entry's exact size in this encoding.
        assert_eq!(out.len(), used);
        out.resize(padded_len(used), 0);
        out
    }

    /// Version 2 segments (entries one after another, nothing precomputed) open as the same
    /// entries, with search tables worked out, and are marked for rewriting; entries decoded in
    /// place borrow the plaintext and turn into the same owned entries.
    #[test]
    fn version_2_segments_open_and_are_not_current() {
        let keys = DataKeys::derive(&[1; 32], &[2; 16]);
        let mut entries = vec![
            entry("a", "Alpha", "https://a.example"),
            entry("b", "Bêta ☃", ""),
        ];
        entries[1].credential.otp = "otpauth://totp/x?secret=JBSWY3DP".into();
        entries[1].created_ms = 1_700_000_000_000;
        entries[1].updated_ms = 1_700_000_000_001;
        let spec = SegmentSpec {
            vault_id: &[2; 16],
            index: 1,
            id: [4; 16],
            count: 2,
        };
        let plain = v2_plain(&entries);
        let raw = decode_entries(&plain, 2, 2).unwrap();
        for (r, e) in raw.iter().zip(&entries) {
            assert_eq!(r.fields, e.fields());
            assert_eq!(r.times(), (e.created_ms, e.updated_ms));
            assert_eq!(v2_len(r), v2_len(e));
            assert_eq!(&r.to_entry(), e);
        }
        let mut file = segment_header(spec, plain.len() + TAG_LEN);
        file[8..10].copy_from_slice(&2u16.to_le_bytes());
        let mut body = plain.clone();
        let tag = crypto::seal_in_place(&keys.data, &SEGMENT_NONCE, &file, &mut body).unwrap();
        body.extend_from_slice(&tag);
        let (p, current) = open_packed(&file, Zeroizing::new(body.clone()), spec, &keys).unwrap();
        assert!(!current);
        assert_eq!(p.fields(1), entries[1].fields());
        assert_eq!(p.host_and_domain(0), Some(("a.example", "a.example")));
        file.extend_from_slice(&body);
        assert_eq!(open_segment(&mut file, spec, &keys).unwrap(), entries);
        // Out of order: refused, as in version 3.
        entries.swap(0, 1);
        assert_eq!(
            decode_entries(&v2_plain(&entries), 2, 2).err(),
            Some(FormatError::Damaged(
                "a segment's entries are out of order or repeated"
            ))
        );
        // A version 3 segment is current.
        entries.swap(0, 1);
        let v3 = seal_segment(spec, entries.iter(), &keys).unwrap();
        let (head, rest) = v3.split_at(SEGMENT_HEADER_LEN);
        let (_, current) = open_packed(head, Zeroizing::new(rest.to_vec()), spec, &keys).unwrap();
        assert!(current);
    }

    const V1_MANIFEST: &[u8] = include_bytes!("../../tests/fixtures/vault-v1/manifest.pbv");
    const V1_SEGMENT: &[u8] =
        include_bytes!("../../tests/fixtures/vault-v1/seg-7cc2d0a2d04468e70e587a86ce29319b.pbv");

    /// The version 1 fixture (tests/fixtures/vault-v1, written by the first release) parses
    /// and opens: version 1 has no key id, no client slot type, no counter and no segment
    /// padding, and only PBKDF2 password slots sealed directly.
    #[test]
    fn version_1_files_open() {
        let m = parse_manifest(V1_MANIFEST).unwrap();
        assert_eq!(m.header.version, 1);
        assert_eq!(m.header.key_id, [0; 16]);
        assert!(matches!(m.header.client, Seal::Direct(_)));
        let slot = m.header.password.as_ref().unwrap();
        assert!(matches!(slot.seal, Seal::Direct(_)));
        assert_eq!(
            slot.kdf,
            Kdf::Pbkdf2 {
                iterations: 200_361
            }
        );
        let (dek, _) = unwrap_client(&m.header, &[0x11; 32]).unwrap();
        let (by_password, _) = unwrap_password(&m.header, "fixture password v1").unwrap();
        assert_eq!(*by_password, *dek);
        let keys = DataKeys::derive(&dek, &m.header.vault_id);
        let body = m.open(&keys).unwrap();
        assert_eq!(body.counter, 0);
        assert_eq!(body.segments.len(), usize::from(m.header.segment_count));
        let id: [u8; 16] = V1_SEGMENT[28..44].try_into().unwrap();
        let index = body.segments.iter().position(|s| s.id == Some(id)).unwrap();
        assert_eq!(body.segments[index].count, 3);
        assert_eq!(body.segments.iter().filter(|s| s.id.is_some()).count(), 1);
        let gh = &body.remembered["github.com"];
        let spec = SegmentSpec {
            vault_id: &m.header.vault_id,
            index: index as u16,
            id,
            count: 3,
        };
        let entries = open_segment(&mut V1_SEGMENT.to_vec(), spec, &keys).unwrap();
        let mut passwords: Vec<_> = entries
            .iter()
            .map(|e| e.credential.password.as_str())
            .collect();
        passwords.sort();
        assert_eq!(passwords, ["bank-secret-2", "gh-secret-1", "gist-secret-3"]);
        let github = entries.iter().find(|e| e.uid() == gh).unwrap();
        assert_eq!(github.credential.password, "gh-secret-1");
    }

    /// Version 1 had no password slot types but PBKDF2 sealed directly: a version 1 header
    /// naming another is refused as such (before the checksum is read).
    #[test]
    fn version_1_refuses_newer_password_slot_types() {
        // magic, version, vault id, commit id, segment count, direct client slot.
        let kdf_at = 8 + 2 + 16 + 16 + 2 + NONCE_LEN + WRAPPED_LEN;
        assert_eq!(V1_MANIFEST[kdf_at], SLOT_PBKDF2_DIRECT);
        for kind in [
            SLOT_PBKDF2_TO_PUBLIC,
            SLOT_ARGON2ID_DIRECT,
            SLOT_ARGON2ID_TO_PUBLIC,
        ] {
            let mut b = V1_MANIFEST.to_vec();
            b[kdf_at] = kind;
            assert_eq!(
                parse_manifest(&b).err(),
                Some(FormatError::Damaged("the password slot type is unknown")),
                "slot type {kind}"
            );
        }
    }

    /// Version 1 segments are unpadded, version 2 ones padded with zeros: each plaintext has
    /// exactly one reading, so trailing bytes in a version 1 segment are refused, even zeros.
    #[test]
    fn only_version_2_segments_are_padded() {
        let keys = DataKeys::derive(&[1; 32], &[2; 16]);
        let spec = SegmentSpec {
            vault_id: &[2; 16],
            index: 0,
            id: [4; 16],
            count: 0,
        };
        let seal = |version: u16, plain: &[u8]| {
            let mut out = segment_header(spec, plain.len() + TAG_LEN);
            out[8..10].copy_from_slice(&version.to_le_bytes());
            let mut body = plain.to_vec();
            let tag = crypto::seal_in_place(&keys.data, &SEGMENT_NONCE, &out, &mut body).unwrap();
            out.extend_from_slice(&body);
            out.extend_from_slice(&tag);
            out
        };
        let padded = [0u8; 8];
        assert_eq!(open_segment(&mut seal(2, &padded), spec, &keys), Ok(vec![]));
        assert_eq!(
            open_segment(&mut seal(1, &padded[..4]), spec, &keys),
            Ok(vec![])
        );
        assert_eq!(
            open_segment(&mut seal(1, &padded), spec, &keys).err(),
            Some(FormatError::Damaged("a segment's contents are malformed"))
        );
    }
}
