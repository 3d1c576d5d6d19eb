"""ToolJet's metadata key (``LOCKBOX_MASTER_KEY``, the same variable ToolJet itself reads) and its scheme.

Stage: storage. The tooljet backend does not use reconciler's master key for the data in ToolJet's tables: the
metadata must stay readable by ToolJet, so it is encrypted under ToolJet's own key with ToolJet's
Lockbox-compatible scheme (:func:`tooljet_encrypt`, reference §4), byte for byte. reconciler's key
(``RECONCILER_MASTER_KEY``) still protects what the tool itself writes: metadata inside saved plan files and their
signature.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...crypto import check_key, hkdf_sha384, open_sealed, parse_master_key, seal, unpack
from ...errors import CryptoError, SecretError, UnreadableMetadata

LOCKBOX_ENV = "LOCKBOX_MASTER_KEY"
METADATA_TABLE, METADATA_COLUMN = "user_details", "userMetadata"  # ToolJet's (table, camelCase property) pair
KEY_HINT = f"set {LOCKBOX_ENV} to the 64-hex-digit key of the ToolJet installation (from ToolJet's .env)"


def load_key(environ: Mapping[str, str]) -> bytes | None:
    """The hex-decoded key, or None when the variable is unset or empty."""
    value = environ.get(LOCKBOX_ENV, "")
    return parse_master_key(value, source=LOCKBOX_ENV) if value.strip() else None


def require_key(key: bytes | None) -> bytes:
    if key is None:
        raise SecretError(
            f"{LOCKBOX_ENV} is not set, so ToolJet's user metadata cannot be read or written", hint=KEY_HINT
        )
    return key


def decrypt_metadata(key: bytes | None, workspace: str, email: str, blob: str) -> dict[str, str]:
    """ToolJet's ``decryptUserMetadata`` (``server/src/modules/session/util.service.ts``), but explicit where
    ToolJet is silent: ToolJet reads a value it cannot decrypt or parse as ``{}``, and a parsed non-object as
    it is. Here a value the key cannot open raises :class:`CryptoError` and one that is not a flat map of
    strings raises :class:`UnreadableMetadata`; the reader decides what is tolerated (reader.py)."""
    where = f"the metadata of {email} in workspace {workspace!r}"
    try:
        plaintext = tooljet_decrypt(require_key(key), blob, table=METADATA_TABLE, column=METADATA_COLUMN)
    except CryptoError as exc:
        raise CryptoError(f"{where} could not be decrypted: {exc.message}", hint=KEY_HINT) from None
    try:
        value = json.loads(plaintext)
    except json.JSONDecodeError:
        raise UnreadableMetadata(where, "it decrypts to text that is not JSON (ToolJet reads it as {})") from None
    if not isinstance(value, dict):
        raise UnreadableMetadata(where, f"it decrypts to {_json_kind(value)}, not a JSON object of strings")
    if not all(isinstance(v, str) for v in value.values()):
        raise UnreadableMetadata(where, "it decrypts to a JSON object whose values are not all strings")
    return value


def _json_kind(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "a JSON boolean or null"
    if isinstance(value, (int, float)):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    return "a JSON array"


# --- ToolJet's scheme (Lockbox-compatible) -------------------------------------------------------------------

_LOCKBOX_INFO_PREFIX = b"\xb4" * 32


@functools.lru_cache(maxsize=64)
def _tooljet_cipher(master_key: bytes, table: str, column: str) -> AESGCM:
    key = hkdf_sha384(
        master_key,
        salt=table.encode("utf-8"),
        info=_LOCKBOX_INFO_PREFIX + f"{column}_ciphertext".encode(),
    )
    return AESGCM(key)


def tooljet_encrypt(master_key: bytes, plaintext: str, *, table: str, column: str) -> str:
    """Encrypt exactly as ToolJet's ``EncryptionService.encryptColumnValue(table, column, text)`` does.

    Follows reference/tooljet-schema.md §4 ("Encryption of user_details.user_metadata"), which follows the
    Lockbox gem: key = HKDF-SHA384(ikm = master key, length 32, salt = UTF-8 ``table``, info = 32 bytes of
    0xB4 followed by ``f"{column}_ciphertext"``); AES-256-GCM, random 12-byte nonce, *no* associated data,
    16-byte tag; stored as base64(nonce || ciphertext || tag). ``column`` is ToolJet's camelCase property name
    (``"userMetadata"`` for ``user_details.user_metadata``), not the SQL column name. ``master_key`` is
    ToolJet's LOCKBOX_MASTER_KEY, hex-decoded.
    """
    check_key(master_key, name="the ToolJet master key")
    return seal(_tooljet_cipher(master_key, table, column), plaintext.encode("utf-8"), None)


def tooljet_decrypt(master_key: bytes, blob: str, *, table: str, column: str) -> str:
    """Inverse of :func:`tooljet_encrypt` (same reference, §4), as ToolJet 3.x decrypts.

    Unlike ToolJet's reader, which returns ``{}`` when anything fails, this raises :class:`CryptoError`: a
    wrong LOCKBOX_MASTER_KEY must not look like "no metadata". The 2.x helper's trailing-space bug is not
    reproduced.
    """
    check_key(master_key, name="the ToolJet master key")
    what = f"A ToolJet {table}.{column} value"
    raw = unpack(blob, what=what)
    plaintext = open_sealed(_tooljet_cipher(master_key, table, column), raw, None)
    if plaintext is None:
        raise CryptoError(
            f"{what} could not be decrypted: most likely the key is wrong (otherwise the value was changed)",
            hint="check that the master key is the LOCKBOX_MASTER_KEY of this ToolJet installation",
        )
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise CryptoError(f"{what} decrypted, but it is not UTF-8 text") from None
