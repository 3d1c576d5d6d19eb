"""ToolJet's metadata key: ``LOCKBOX_MASTER_KEY``, the same variable ToolJet itself reads.

Stage: storage. The tooljet backend does not use reconciler's master key for the data in ToolJet's tables: the
metadata must stay readable by ToolJet, so it is encrypted under ToolJet's own key with ToolJet's scheme
(``crypto.tooljet_encrypt``, reference §4). reconciler's key (``RECONCILER_MASTER_KEY``) still protects what the
tool itself writes: metadata inside saved plan files and their signature.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ...crypto import parse_master_key, tooljet_decrypt
from ...errors import CryptoError, SecretError, StateError

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
    """ToolJet's ``decryptUserMetadata``, but strict: a wrong key or a non-object is an error, never ``{}``."""
    where = f"the metadata of {email} in workspace {workspace!r}"
    try:
        plaintext = tooljet_decrypt(require_key(key), blob, table=METADATA_TABLE, column=METADATA_COLUMN)
    except CryptoError as exc:
        raise CryptoError(f"{where} could not be decrypted: {exc.message}", hint=KEY_HINT) from None
    try:
        value = json.loads(plaintext)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise StateError(f"{where} decrypted, but it is not a JSON object of string values")
    return value
