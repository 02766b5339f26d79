"""Writes clarion_callback.json: a registration callback made the way Clarion makes it
(lib/clarion/key.rb `to_encrypted_json`, spec A.6), with Python's `cryptography` package as an
implementation independent of the one under test. Run: python3 clarion_callback.py > clarion_callback.json
"""
import base64, json, os
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def ruby_pack_m(raw: bytes) -> str:
    """Ruby `[raw].pack('m*')`: standard base64, a newline after every 60 characters and at the end."""
    b = base64.b64encode(raw).decode()
    return "".join(b[i:i + 60] + "\n" for i in range(0, len(b), 60))


priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pkcs8 = priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
spki = priv.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
plaintext = json.dumps({
    "type": "webauthn",
    "handle": "Zm9vYmFyLWNyZWRlbnRpYWwtaWQtMTIzNDU2Nzg5MA",
    "name": "yubikey 5 nfc",
    "counter": 7,
    "public_key": "pQECAyYgASFYIBaoLe1ZKZVwjzV3KNjNRI6JcSBvHNQ2skT4gZvB0iEMIlgg8W9Vh2cS5LTgwyk0Cr9D4VXfOz3z6v6mYA9UsfDjcx4=",
}, separators=(",", ":")).encode()
aes_key, iv = os.urandom(32), os.urandom(12)
sealed = AESGCM(aes_key).encrypt(iv, plaintext, b"")
ciphertext, tag = sealed[:-16], sealed[-16:]
inner = json.dumps({"iv": base64.b64encode(iv).decode(), "tag": base64.b64encode(tag).decode(),
                    "key": base64.b64encode(aes_key).decode()}, separators=(",", ":")).encode()
rsa_ct = priv.public_key().encrypt(inner, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                       algorithm=hashes.SHA1(), label=None))
data = json.dumps({"data": ruby_pack_m(ciphertext), "key": ruby_pack_m(rsa_ct)})
print(json.dumps({
    "private_key_pkcs8": base64.b64encode(pkcs8).decode(),
    "public_key_spki": base64.b64encode(spki).decode(),
    "data": data,
    "plaintext": plaintext.decode(),
}, indent=1))
