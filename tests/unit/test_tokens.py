"""Invitation tokens: long enough, stored as hashes, and safe to paste on a command line."""

from __future__ import annotations

import pytest

from reconciler.backends.builtin import executor


def test_a_token_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["-looks-like-an-option", "Zm9vYmFyYmF6cXV4cXV1eHg"])
    monkeypatch.setattr(executor.secrets, "token_urlsafe", lambda n: next(drawn))
    token, digest = executor.new_token()
    assert token == "Zm9vYmFyYmF6cXV4cXV1eHg"
    assert digest == executor.hash_token(token) and len(digest) == 64


def test_tokens_carry_at_least_128_random_bits() -> None:
    tokens = {executor.new_token()[0] for _ in range(200)}
    assert len(tokens) == 200
    assert min(len(t) for t in tokens) >= 32  # 24 random bytes -> 32 URL-safe characters (192 bits)
