"""Metadata encryption and plan signing (SPEC §6). Pure: keys come in as bytes; ``keys.py`` finds them.

Ours (:class:`Keyring`): a key per purpose derived with HKDF-SHA384 from the master key, AES-256-GCM with the
record id bound as associated data, so a ciphertext copied to another record does not decrypt. Previous master
keys are kept for decryption only, which is what makes ``keys rotate`` possible without a flag day.

The AES-GCM envelope (:func:`seal`, :func:`unpack`, :func:`open_sealed`) and :func:`hkdf_sha384` are public for
the ToolJet backend, whose Lockbox-compatible scheme (``backends/tooljet/lockbox.py``) uses the same envelope
under keys derived its own way.

No message raised from here ever contains plaintext or key material: errors end up on terminals and in CI
logs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from reconciler.errors import CryptoError, DecryptionError

__all__ = [
    "KEY_BYTES",
    "METADATA_PURPOSE",
    "SIGNATURE_PURPOSE",
    "DecryptionError",
    "Keyring",
    "check_key",
    "decrypt_metadata",
    "encrypt_metadata",
    "hkdf_sha384",
    "open_sealed",
    "parse_master_key",
    "seal",
    "unpack",
]

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
METADATA_PURPOSE = "membership-metadata"
SIGNATURE_PURPOSE = "plan-signature"

_HKDF_SALT = b"reconciler"
_HKDF_INFO_PREFIX = b"reconciler/"
_HEX_KEY = re.compile(rf"[0-9a-fA-F]{{{2 * KEY_BYTES}}}")
_WRONG_KEY_HINT = (
    "check that this is the key the data was encrypted with; after a key rotation, also list the old key in "
    "RECONCILER_PREVIOUS_KEYS (comma-separated hex). If the key is right, the stored value was changed or copied "
    "from another record"
)

# The nonce source is a module attribute so known-answer tests can pin it; nothing else should replace it.
_random_bytes: Callable[[int], bytes] = os.urandom


def parse_master_key(text: str, *, source: str) -> bytes:
    """Turn a hex master key into 32 bytes.

    ``source`` (an env variable name or a file path) is the only thing the error names: the value itself might
    be a real key with one typo, and error messages end up in CI logs.
    """
    candidate = text.strip()
    if not _HEX_KEY.fullmatch(candidate):
        if not candidate:
            problem = "it is empty"
        elif re.fullmatch(r"[0-9a-fA-F]*", candidate):
            problem = f"it has {len(candidate)} hexadecimal characters"
        else:
            problem = "it contains characters that are not hexadecimal digits"
        raise CryptoError(
            f"{source} is not a valid master key: {problem}",
            hint=f"a master key is {2 * KEY_BYTES} hexadecimal characters ({KEY_BYTES} bytes); "
            'generate one with: python -c "import secrets; print(secrets.token_hex(32))"',
        )
    return bytes.fromhex(candidate)


def hkdf_sha384(master: bytes, *, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA384(), length=KEY_BYTES, salt=salt, info=info).derive(master)


@functools.lru_cache(maxsize=128)
def _purpose_key(master: bytes, purpose: str) -> bytes:
    """Derived once per (master key, purpose): a plan encrypts and decrypts tens of thousands of values."""
    return hkdf_sha384(master, salt=_HKDF_SALT, info=_HKDF_INFO_PREFIX + purpose.encode("utf-8"))


@functools.lru_cache(maxsize=128)
def _purpose_cipher(master: bytes, purpose: str) -> AESGCM:
    return AESGCM(_purpose_key(master, purpose))


def seal(cipher: AESGCM, plaintext: bytes, associated_data: bytes | None) -> str:
    nonce = _random_bytes(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:  # guards against a badly patched nonce source; GCM with a short nonce is weak
        raise CryptoError("the random source returned a nonce of the wrong length")
    # AESGCM.encrypt returns ciphertext || tag, so this is nonce || ciphertext || tag.
    return base64.b64encode(nonce + cipher.encrypt(nonce, plaintext, associated_data)).decode("ascii")


def unpack(blob: str, *, what: str) -> bytes:
    """Decode the base64 envelope; the shortest valid one holds an empty plaintext (nonce + tag)."""
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise DecryptionError(what, ": it is not valid base64") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(what, ": it is too short to be an encrypted value")
    return raw


def open_sealed(cipher: AESGCM, raw: bytes, associated_data: bytes | None) -> bytes | None:
    try:
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data)
    except InvalidTag:
        return None


def check_key(key: object, *, name: str) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise CryptoError(f"{name} must be {KEY_BYTES} bytes")
    return key


@dataclass(frozen=True)
class Keyring:
    """The current master key, which encrypts and signs, and earlier ones, which only decrypt and verify.

    Keys are left out of ``repr`` (and equality compares them only as a whole) so that a keyring logged by
    accident, or shown in a traceback, does not leak them. ``source`` says where the current key came from
    (``RECONCILER_MASTER_KEY``, a file path, ...) for error messages; it never holds key material.
    """

    current: bytes = field(repr=False)
    previous: tuple[bytes, ...] = field(default=(), repr=False)
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        check_key(self.current, name="the current master key")
        previous: Iterable[bytes] = self.previous
        unique: list[bytes] = []
        for index, key in enumerate(previous, start=1):
            check_key(key, name=f"previous master key {index}")
            if key != self.current and key not in unique:
                unique.append(key)
        # Duplicates of the current key would only make failed decryptions slower.
        object.__setattr__(self, "previous", tuple(unique))

    def __repr__(self) -> str:
        return f"Keyring(current=<redacted>, previous=<{len(self.previous)} key(s)>)"

    @property
    def _all_keys(self) -> tuple[bytes, ...]:
        return (self.current, *self.previous)

    def encrypt(self, plaintext: bytes, *, purpose: str, associated_data: bytes) -> str:
        """Encrypt under the current key; ``associated_data`` binds it to its record (a membership id)."""
        return seal(_purpose_cipher(self.current, purpose), plaintext, associated_data)

    def describe(self) -> str:
        """Which keys were tried, for messages: "the master key from SOURCE (and N previous key(s))"."""
        text = f"the master key from {self.source}" if self.source else "the configured master key"
        if self.previous:
            text += f" (and {len(self.previous)} previous key(s))"
        return text

    def _decrypt_with(
        self, blob: str, purpose: str, associated_data: bytes, what: str | None = None
    ) -> tuple[bytes, int]:
        """Plaintext and the index of the key that opened it (0 = current)."""
        what = what or f"A {purpose} value"
        raw = unpack(blob, what=what)
        for index, key in enumerate(self._all_keys):
            plaintext = open_sealed(_purpose_cipher(key, purpose), raw, associated_data)
            if plaintext is not None:
                return plaintext, index
        # A wrong key is by far the most common cause; tampering and copied values come after it.
        raise DecryptionError(what, f" with {self.describe()}: most likely the key is wrong", hint=_WRONG_KEY_HINT)

    def decrypt(self, blob: str, *, purpose: str, associated_data: bytes, what: str | None = None) -> bytes:
        """Try the current key, then each previous one, so data survives a rotation. ``what`` names the value
        in the error ("the metadata of bob@x in workspace "acme""); by default, its purpose."""
        return self._decrypt_with(blob, purpose, associated_data, what)[0]

    def needs_reencryption(self, blob: str, purpose: str, associated_data: bytes) -> bool:
        """True when only a previous key opens ``blob``: what ``keys rotate`` rewrites.

        A blob no configured key opens raises :class:`CryptoError` rather than returning False, so a rotation
        never reports success while leaving unreadable data behind.
        """
        return self._decrypt_with(blob, purpose, associated_data)[1] > 0

    def sign(self, data: bytes) -> str:
        """HMAC-SHA256 (hex) under a key of its own: a signing key never doubles as a cipher key."""
        return hmac.new(_purpose_key(self.current, SIGNATURE_PURPOSE), data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, signature: str) -> bool:
        """Constant-time check; signatures made before a rotation still verify while the old key is listed."""
        try:
            given = signature.strip().lower().encode("ascii")
        except (AttributeError, UnicodeEncodeError):
            return False
        matched = False
        for key in self._all_keys:
            expected = hmac.new(_purpose_key(key, SIGNATURE_PURPOSE), data, hashlib.sha256).hexdigest()
            # No early exit: the time taken does not tell which key (if any) matched.
            matched |= hmac.compare_digest(expected.encode("ascii"), given)
        return matched


def _metadata_plaintext(metadata: dict[str, str]) -> bytes:
    # Canonical JSON, so the same metadata always has the same plaintext (sizes and tests are stable).
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encrypt_metadata(keyring: Keyring, membership_id: str, metadata: dict[str, str]) -> str:
    """Encrypt a membership's metadata, bound to the membership id (associated data) so it cannot be moved."""
    return keyring.encrypt(
        _metadata_plaintext(metadata), purpose=METADATA_PURPOSE, associated_data=membership_id.encode("utf-8")
    )


def decrypt_metadata(keyring: Keyring, membership_id: str, blob: str, *, what: str | None = None) -> dict[str, str]:
    """Inverse of :func:`encrypt_metadata`; anything that is not a JSON object of strings is a CryptoError.

    A value no configured key opens raises :class:`DecryptionError`; ``what`` names the value in it.
    """
    plaintext = keyring.decrypt(
        blob, purpose=METADATA_PURPOSE, associated_data=membership_id.encode("utf-8"), what=what
    )
    try:
        value = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise CryptoError("membership metadata decrypted, but it is not an object of string values")
    return value
