"""An independent implementation of ToolJet's metadata encryption, written from reference/tooljet-schema.md §4.

It shares nothing with ``reconciler.crypto``: HKDF (RFC 5869) is spelled out with ``hmac``/``hashlib``; only the
AES-GCM primitive comes from ``cryptography``. Tests use it to check that what the tool writes ToolJet can read,
and the reverse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TEST_LOCKBOX_KEY = "5d1c2a86b0e94f3f8a7c6e5d4b3a29180f1e2d3c4b5a69788796a5b4c3d2e1f0"
INFO = b"\xb4" * 32 + b"userMetadata_ciphertext"  # Buffer.alloc(32, '´', 'ascii') + "<column>_ciphertext"
SALT = b"user_details"


def hkdf_sha384(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 extract-then-expand with SHA-384 (what npm futoin-hkdf computes)."""
    prk = hmac.new(salt, ikm, hashlib.sha384).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha384).digest()
        okm += block
        counter += 1
    return okm[:length]


def metadata_key(master_hex: str = TEST_LOCKBOX_KEY) -> bytes:
    return hkdf_sha384(bytes.fromhex(master_hex), salt=SALT, info=INFO)


def tooljet_encrypt_metadata(
    metadata: dict[str, str], *, nonce: bytes | None = None, master_hex: str = TEST_LOCKBOX_KEY
) -> str:
    """What ToolJet's UserDetailsService writes: base64(nonce || ciphertext || tag) of JSON.stringify(metadata)."""
    nonce = nonce if nonce is not None else os.urandom(12)
    plaintext = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(nonce + AESGCM(metadata_key(master_hex)).encrypt(nonce, plaintext, None)).decode()


def tooljet_decrypt_metadata(blob: str, *, master_hex: str = TEST_LOCKBOX_KEY) -> dict[str, str]:
    """What ToolJet's SessionUtilService.decryptUserMetadata reads (strict: raises instead of returning {})."""
    raw = base64.b64decode(blob)
    nonce, sealed = raw[:12], raw[12:]
    return json.loads(AESGCM(metadata_key(master_hex)).decrypt(nonce, sealed, None).decode())
