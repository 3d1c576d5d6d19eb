"""Metadata in user_details: ToolJet's Lockbox scheme, checked against an independent implementation.

The known-answer vectors below were computed with ``lockbox_reference.py`` (HKDF spelled out with hmac); the
seed holds them as alice's metadata, so reading the seed proves the tool reads what ToolJet wrote, and decrypting
what the tool wrote with the reference proves ToolJet can read it.
"""

from __future__ import annotations

import json

import pytest
from lockbox_reference import (
    TEST_LOCKBOX_KEY,
    metadata_key,
    tooljet_decrypt_metadata,
    tooljet_encrypt_metadata,
)
from tooljet_harness import ACME_ID, ToolJetDb, base_config, user

from reconciler import crypto
from reconciler.backends.tooljet import ToolJetBackend, lockbox
from reconciler.errors import CryptoError, SecretError
from reconciler.render.text import render_text
from reconciler.state import Metadata

KNOWN_ANSWERS = [
    # (metadata, nonce hex, base64(nonce || ciphertext || tag)) under TEST_LOCKBOX_KEY
    (
        {"department": "finance"},
        "000102030405060708090a0b",
        "AAECAwQFBgcICQoLv2nlGgBIT5ExYh7AZ7XJ+sXQ3Qeo4wJgfh0yKRnwb0ikhcfwS0QPSA==",
    ),
    (
        {"team": "payroll", "badge": "B-7"},
        "0c0d0e0f1011121314151617",
        "DA0ODxAREhMUFRYXujFpcq85HmDL0cWSVmNkeFNDgQRMSQlIPpuH1+u7BPf9PI08NwXHl/JTkwfzxwuD",
    ),
]
DERIVED_KEY = "06a0b2963e6e0cbfda8ec1249e13f4dcce5a9e0e01c426544b320c887438996c"


def metadata_blob(db: ToolJetDb, email: str) -> str | None:
    return db.one(
        "SELECT d.user_metadata FROM user_details d JOIN users u ON u.id = d.user_id "
        "WHERE u.email = :e AND d.organization_id = :o",
        e=email,
        o=ACME_ID,
    )


@pytest.mark.parametrize(("metadata", "nonce", "expected"), KNOWN_ANSWERS)
def test_known_answer_vectors(metadata: dict[str, str], nonce: str, expected: str, monkeypatch) -> None:
    master = bytes.fromhex(TEST_LOCKBOX_KEY)
    assert metadata_key().hex() == DERIVED_KEY
    assert tooljet_encrypt_metadata(metadata, nonce=bytes.fromhex(nonce)) == expected
    monkeypatch.setattr(crypto, "_random_bytes", lambda n: bytes.fromhex(nonce))
    plaintext = json.dumps(metadata, separators=(",", ":"))
    assert lockbox.tooljet_encrypt(master, plaintext, table="user_details", column="userMetadata") == expected
    assert lockbox.tooljet_decrypt(master, expected, table="user_details", column="userMetadata") == plaintext


def test_metadata_tooljet_wrote_is_read(tooljet: ToolJetDb) -> None:
    snapshot = tooljet.backend().read_snapshot(["acme"], None)
    assert snapshot.workspaces["acme"].memberships["alice@acme.example"].metadata == Metadata.of(
        {"department": "finance"}
    )
    assert snapshot.workspaces["acme"].memberships["bob@acme.example"].metadata == Metadata.EMPTY  # SSO-only row
    config = base_config(tooljet.variant)
    user(config, "alice@acme.example")["metadata"] = {"department": "finance"}
    tooljet.assert_no_changes(config)


def test_metadata_the_tool_writes_is_what_tooljet_reads(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "alice@acme.example")["metadata"] = {"department": "ops", "api_key": "s3cr3t-✓"}
    user(config, "bob@acme.example")["metadata"] = {"crm_token": "tok-123"}

    planned, _ = tooljet.apply(config)

    text = render_text(planned.plan)
    assert "metadata.api_key" in text and "s3cr3t" not in text and "tok-123" not in text
    alice = metadata_blob(tooljet, "alice@acme.example")
    assert tooljet_decrypt_metadata(alice) == {"department": "ops", "api_key": "s3cr3t-✓"}
    assert json.dumps(tooljet_decrypt_metadata(alice), separators=(",", ":"), ensure_ascii=False).encode() == (
        _plaintext(alice)
    )  # JSON.stringify form: no spaces, UTF-8 kept
    assert tooljet_decrypt_metadata(metadata_blob(tooljet, "bob@acme.example")) == {"crm_token": "tok-123"}
    assert tooljet.one(
        "SELECT count(*), max(sso_user_info::text) FROM user_details WHERE user_id = "
        "'0b000000-0000-4000-8000-000000000002' AND organization_id = :o",
        o=ACME_ID,
    ) == (1, '{"sub": "bob-sso-id"}')  # upserted in place: the SSO data stays
    tooljet.assert_no_changes(config)

    user(config, "alice@acme.example")["metadata"] = {}
    tooljet.apply(config)
    assert tooljet_decrypt_metadata(metadata_blob(tooljet, "alice@acme.example")) == {}
    tooljet.assert_no_changes(config)


def _plaintext(blob: str) -> bytes:
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.b64decode(blob)
    return AESGCM(metadata_key()).decrypt(raw[:12], raw[12:], None)


def test_metadata_written_by_tooljet_after_the_plan_is_compared_by_value(tooljet: ToolJetDb) -> None:
    blob = tooljet_encrypt_metadata({"shift": "night"})
    tooljet.query(
        "INSERT INTO user_details (user_id, organization_id, user_metadata) "
        "VALUES ('0b000000-0000-4000-8000-000000000003', :o, :b) RETURNING id",
        o=ACME_ID,
        b=blob,
    )
    config = base_config(tooljet.variant)
    user(config, "carol@acme.example")["metadata"] = {"shift": "night"}
    tooljet.assert_no_changes(config)
    user(config, "carol@acme.example")["metadata"] = {"shift": "day"}
    assert "~ metadata.shift: (sensitive value changed)" in tooljet.plan_text(config)


def test_a_wrong_or_missing_key_is_a_clear_error(tooljet: ToolJetDb, monkeypatch) -> None:
    backend = ToolJetBackend(tooljet.url)
    try:
        monkeypatch.setenv("LOCKBOX_MASTER_KEY", "00" * 32)
        with pytest.raises(CryptoError) as wrong:
            backend.read_snapshot(["acme"], None)
        assert "alice@acme.example" in wrong.value.message and "LOCKBOX_MASTER_KEY" in (wrong.value.hint or "")
        monkeypatch.delenv("LOCKBOX_MASTER_KEY")
        with pytest.raises(SecretError) as missing:
            backend.read_snapshot(["acme"], None)
        assert "LOCKBOX_MASTER_KEY is not set" in missing.value.message
        assert backend.read_snapshot(["other-than-acme"], None).workspaces == {}  # no metadata read, no key needed
    finally:
        backend.close()
