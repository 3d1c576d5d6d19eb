"""Metadata encryption, plan signatures and the ToolJet/Lockbox-compatible scheme."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from reconciler import crypto
from reconciler.backends.tooljet.lockbox import tooljet_decrypt, tooljet_encrypt
from reconciler.crypto import Keyring, decrypt_metadata, encrypt_metadata, parse_master_key
from reconciler.errors import CryptoError

KEY = bytes(range(32))
KEY_HEX = KEY.hex()
OLD_KEY = bytes.fromhex("a5" * 32)
OTHER_KEY = bytes.fromhex("5a" * 32)
FIXED_NONCE = bytes(range(100, 112))
PURPOSE = "membership-metadata"
SECRET = b"salary=123456 ssn=078-05-1120"


@pytest.fixture
def fixed_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "_random_bytes", lambda n: FIXED_NONCE[:n])


def _flip(blob: str, bit: int) -> str:
    raw = bytearray(base64.b64decode(blob))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode("ascii")


def _assert_no_secrets(error: CryptoError, *secrets: str) -> None:
    text = f"{error} {error.hint or ''}".lower()
    for secret in secrets:
        assert secret.lower() not in text


# --- parse_master_key ---------------------------------------------------------------------------------------


def test_parse_master_key_accepts_64_hex_with_surrounding_whitespace() -> None:
    assert parse_master_key(f"  {KEY_HEX.upper()}\n", source="RECONCILER_MASTER_KEY") == KEY


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        KEY_HEX[:-2],
        KEY_HEX + "00",
        KEY_HEX[:-1] + "g",
        KEY_HEX[:32] + " " + KEY_HEX[32:],
        "0x" + KEY_HEX[2:],
    ],
)
def test_parse_master_key_rejects_and_names_only_the_source(text: str) -> None:
    with pytest.raises(CryptoError) as info:
        parse_master_key(text, source="RECONCILER_MASTER_KEY")
    assert "RECONCILER_MASTER_KEY" in str(info.value)
    if text.strip():
        _assert_no_secrets(info.value, text.strip(), KEY_HEX[:16], KEY_HEX[-16:])


# --- Keyring: known answers ---------------------------------------------------------------------------------


def test_encrypt_known_answer(fixed_nonce: None) -> None:
    blob = Keyring(KEY).encrypt(b"hello", purpose=PURPOSE, associated_data=b"m-1")
    assert blob == "ZGVmZ2hpamtsbW5v2bi5N2+lYRXQZBOA2IZNFmzuZiDb"


def test_encrypt_matches_the_documented_scheme(fixed_nonce: None) -> None:
    """SPEC §6 rebuilt from the primitives: HKDF-SHA384 per purpose, AES-256-GCM, base64(nonce||ct||tag)."""
    key = HKDF(hashes.SHA384(), 32, salt=b"reconciler", info=b"reconciler/" + PURPOSE.encode()).derive(KEY)
    expected = FIXED_NONCE + AESGCM(key).encrypt(FIXED_NONCE, SECRET, b"m-1")
    assert Keyring(KEY).encrypt(SECRET, purpose=PURPOSE, associated_data=b"m-1") == base64.b64encode(expected).decode(
        "ascii"
    )


def test_encrypt_metadata_known_answer_and_canonical_json(fixed_nonce: None) -> None:
    keyring = Keyring(KEY)
    blob = encrypt_metadata(keyring, "m-1", {"team": "finance", "cost_center": "42"})
    assert blob == ("ZGVmZ2hpamtsbW5vyv+2NHM4P2KoKGlA2680lY/KUFA4Mmt6tezpoKpYulfa5TD+iBSw4+LZA6oCXVwkJyTpTxM=")
    plaintext = keyring.decrypt(blob, purpose=PURPOSE, associated_data=b"m-1")
    assert plaintext == b'{"cost_center":"42","team":"finance"}'


def test_sign_known_answer() -> None:
    assert Keyring(KEY).sign(b"plan") == "4f29f1e3cc1854e08d41400fd96f1f3a099cb770429dae29bef5a8738de86e15"


def test_nonces_are_fresh_per_call() -> None:
    keyring = Keyring(KEY)
    blobs = {keyring.encrypt(SECRET, purpose=PURPOSE, associated_data=b"m-1") for _ in range(20)}
    assert len(blobs) == 20
    assert len({base64.b64decode(b)[:12] for b in blobs}) == 20


def test_purpose_keys_are_derived_once(monkeypatch: pytest.MonkeyPatch) -> None:
    crypto._purpose_key.cache_clear()
    crypto._purpose_cipher.cache_clear()
    calls = 0
    real = crypto.hkdf_sha384

    def counting(master: bytes, *, salt: bytes, info: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real(master, salt=salt, info=info)

    monkeypatch.setattr(crypto, "hkdf_sha384", counting)
    keyring = Keyring(KEY)
    for i in range(50):
        blob = keyring.encrypt(SECRET, purpose=PURPOSE, associated_data=str(i).encode())
        keyring.decrypt(blob, purpose=PURPOSE, associated_data=str(i).encode())
    assert calls == 1


# --- Keyring: round trips and failures ----------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [b"", b"x", SECRET, "äöü ✓".encode(), bytes(range(256)) * 40])
def test_round_trip(plaintext: bytes) -> None:
    keyring = Keyring(KEY)
    blob = keyring.encrypt(plaintext, purpose=PURPOSE, associated_data=b"m-1")
    assert blob.isascii()
    assert keyring.decrypt(blob, purpose=PURPOSE, associated_data=b"m-1") == plaintext


def test_metadata_round_trip() -> None:
    keyring = Keyring(KEY)
    metadata = {"team": "finance", "note": "naïve ✓", "empty": ""}
    assert decrypt_metadata(keyring, "m-1", encrypt_metadata(keyring, "m-1", metadata)) == metadata


def test_blob_moved_to_another_membership_fails() -> None:
    keyring = Keyring(KEY)
    blob = encrypt_metadata(keyring, "membership-1", {"salary": "123456"})
    with pytest.raises(CryptoError) as info:
        decrypt_metadata(keyring, "membership-2", blob)
    assert "could not be decrypted" in str(info.value)
    assert "RECONCILER_PREVIOUS_KEYS" in (info.value.hint or "")
    _assert_no_secrets(info.value, "123456", KEY_HEX)


def test_blob_for_another_purpose_fails() -> None:
    keyring = Keyring(KEY)
    blob = keyring.encrypt(SECRET, purpose="plan-values", associated_data=b"m-1")
    with pytest.raises(CryptoError):
        keyring.decrypt(blob, purpose=PURPOSE, associated_data=b"m-1")


def test_every_flipped_bit_fails() -> None:
    keyring = Keyring(KEY)
    blob = keyring.encrypt(b"short secret", purpose=PURPOSE, associated_data=b"m-1")
    total_bits = len(base64.b64decode(blob)) * 8
    for bit in range(total_bits):
        with pytest.raises(CryptoError):
            keyring.decrypt(_flip(blob, bit), purpose=PURPOSE, associated_data=b"m-1")


@pytest.mark.parametrize(
    "blob",
    [
        "",
        "not base64!",
        "ZGVmZ2hpamtsbW5v2bi5N2+lYRXQZBOA2IZNFmzuZiD",  # one character missing: bad padding
        base64.b64encode(b"\x00" * 27).decode(),  # shorter than nonce + tag
        "ZGVmZ2hpamtsbW5v2bi5N2+lYRXQZBOA2IZNFmzu",  # truncated on a 4-character boundary: tag cut
        "ÿÿÿÿ",
    ],
)
def test_malformed_blob_fails(blob: str) -> None:
    with pytest.raises(CryptoError):
        Keyring(KEY).decrypt(blob, purpose=PURPOSE, associated_data=b"m-1")


def test_previous_key_decrypts_only_when_listed() -> None:
    blob = Keyring(OLD_KEY).encrypt(SECRET, purpose=PURPOSE, associated_data=b"m-1")
    rotated = Keyring(KEY, (OTHER_KEY, OLD_KEY))
    assert rotated.decrypt(blob, purpose=PURPOSE, associated_data=b"m-1") == SECRET
    with pytest.raises(CryptoError) as info:
        Keyring(KEY).decrypt(blob, purpose=PURPOSE, associated_data=b"m-1")
    _assert_no_secrets(info.value, SECRET.decode(), KEY_HEX, OLD_KEY.hex())


def test_needs_reencryption() -> None:
    rotated = Keyring(KEY, (OLD_KEY,))
    old_blob = Keyring(OLD_KEY).encrypt(SECRET, purpose=PURPOSE, associated_data=b"m-1")
    new_blob = rotated.encrypt(SECRET, purpose=PURPOSE, associated_data=b"m-1")
    assert rotated.needs_reencryption(old_blob, PURPOSE, b"m-1") is True
    assert rotated.needs_reencryption(new_blob, purpose=PURPOSE, associated_data=b"m-1") is False
    foreign = Keyring(OTHER_KEY).encrypt(SECRET, purpose=PURPOSE, associated_data=b"m-1")
    with pytest.raises(CryptoError):
        rotated.needs_reencryption(foreign, PURPOSE, b"m-1")


def test_keyring_rejects_wrong_key_length() -> None:
    with pytest.raises(CryptoError):
        Keyring(KEY[:16])
    with pytest.raises(CryptoError):
        Keyring(KEY, (b"short",))


def test_keyring_repr_hides_keys() -> None:
    text = repr(Keyring(KEY, (OLD_KEY,)))
    assert KEY_HEX not in text and OLD_KEY.hex() not in text
    assert repr(KEY) not in text and repr(OLD_KEY) not in text


# --- sign / verify ------------------------------------------------------------------------------------------


def test_sign_and_verify() -> None:
    keyring = Keyring(KEY)
    signature = keyring.sign(b'{"changes": []}')
    assert len(signature) == 64
    assert keyring.verify(b'{"changes": []}', signature)
    assert not keyring.verify(b'{"changes": [1]}', signature)
    assert not keyring.verify(b'{"changes": []}', _flip_hex(signature))
    assert not keyring.verify(b'{"changes": []}', "")
    assert not keyring.verify(b'{"changes": []}', "é" * 64)


def _flip_hex(signature: str) -> str:
    return ("0" if signature[0] != "0" else "1") + signature[1:]


def test_signature_key_is_not_the_master_key() -> None:
    plain_hmac = hmac.new(KEY, b"plan", hashlib.sha256).hexdigest()
    assert Keyring(KEY).sign(b"plan") != plain_hmac
    assert not Keyring(KEY).verify(b"plan", plain_hmac)


def test_verify_accepts_signatures_made_with_previous_keys_only_when_listed() -> None:
    signature = Keyring(OLD_KEY).sign(b"plan")
    assert Keyring(KEY, (OLD_KEY,)).verify(b"plan", signature)
    assert not Keyring(KEY).verify(b"plan", signature)
    assert not Keyring(KEY, (OLD_KEY,)).verify(b"plan2", signature)


def test_decrypt_metadata_rejects_non_object_plaintext() -> None:
    keyring = Keyring(KEY)
    blob = keyring.encrypt(json.dumps(["a"]).encode(), purpose=PURPOSE, associated_data=b"m-1")
    with pytest.raises(CryptoError):
        decrypt_metadata(keyring, "m-1", blob)


# --- ToolJet / Lockbox --------------------------------------------------------------------------------------


def _rfc5869_hkdf_sha384(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """A second, independent HKDF (RFC 5869), so the ToolJet check does not share code with the module."""
    prk = hmac.new(salt, ikm, hashlib.sha384).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha384).digest()
        okm += block
        counter += 1
    return okm[:length]


def test_tooljet_encrypt_known_answer(fixed_nonce: None) -> None:
    blob = tooljet_encrypt(KEY, '{"department":"ops"}', table="user_details", column="userMetadata")
    assert blob == "ZGVmZ2hpamtsbW5vs0SpGz5oT5UhOpBsiT+V111uoV2RbF5xyu/LyDSGtMd+tDIA"


def test_tooljet_decrypt_reads_a_blob_built_from_the_reference_text() -> None:
    # tooljet-schema.md §4: salt = "user_details", info = 32 x 0xB4 + "userMetadata_ciphertext", no AAD.
    info = b"\xb4" * 32 + b"userMetadata_ciphertext"
    key = HKDF(hashes.SHA384(), 32, salt=b"user_details", info=info).derive(KEY)
    assert key == _rfc5869_hkdf_sha384(KEY, salt=b"user_details", info=info, length=32)
    nonce = bytes.fromhex("0f1e2d3c4b5a69788796a5b4")
    text = json.dumps({"department": "ops", "badge": "✓"})
    blob = base64.b64encode(nonce + AESGCM(key).encrypt(nonce, text.encode("utf-8"), None)).decode()
    assert tooljet_decrypt(KEY, blob, table="user_details", column="userMetadata") == text


def test_tooljet_round_trip_and_binding_to_table_and_column() -> None:
    blob = tooljet_encrypt(KEY, "secret value", table="credentials", column="value")
    assert tooljet_decrypt(KEY, blob, table="credentials", column="value") == "secret value"
    for table, column in [("user_details", "value"), ("credentials", "value_ciphertext")]:
        with pytest.raises(CryptoError) as info:
            tooljet_decrypt(KEY, blob, table=table, column=column)
        _assert_no_secrets(info.value, "secret value", KEY_HEX)
    with pytest.raises(CryptoError):
        tooljet_decrypt(OTHER_KEY, blob, table="credentials", column="value")
    with pytest.raises(CryptoError):
        tooljet_decrypt(KEY, _flip(blob, 100), table="credentials", column="value")
    with pytest.raises(CryptoError):
        tooljet_decrypt(KEY, "garbage!", table="credentials", column="value")


def test_tooljet_scheme_uses_no_associated_data() -> None:
    blob = tooljet_encrypt(KEY, "x", table="user_details", column="userMetadata")
    raw = base64.b64decode(blob)
    info = b"\xb4" * 32 + b"userMetadata_ciphertext"
    key = HKDF(hashes.SHA384(), 32, salt=b"user_details", info=info).derive(KEY)
    assert AESGCM(key).decrypt(raw[:12], raw[12:], None) == b"x"
