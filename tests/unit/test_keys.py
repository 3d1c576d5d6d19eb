"""Where master keys come from: explicit file, environment, or the key file beside a SQLite database."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reconciler.crypto import Keyring
from reconciler.errors import CryptoError, SecretError
from reconciler.keys import KeyringResult, load_keyring, require_keyring, sqlite_key_path

KEY_HEX = "11" * 32
OLD_HEX = "22" * 32
OLDER_HEX = "33" * 32
PG_URL = "postgresql+psycopg://user:pw@localhost/tooljet"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_env_key() -> None:
    result = load_keyring(PG_URL, environ={"RECONCILER_MASTER_KEY": f" {KEY_HEX}\n"})
    assert result == KeyringResult(Keyring(bytes.fromhex(KEY_HEX)), None)


def test_master_key_file_wins_over_env(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(KEY_HEX + "\n")
    key_file.chmod(0o600)
    result = load_keyring(PG_URL, environ={"RECONCILER_MASTER_KEY": OLD_HEX}, master_key_file=str(key_file))
    assert result.keyring == Keyring(bytes.fromhex(KEY_HEX))
    assert result.notice is None


def test_missing_master_key_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SecretError) as info:
        load_keyring(PG_URL, environ={}, master_key_file=str(tmp_path / "nope.key"))
    assert "nope.key" in str(info.value)


def test_previous_keys_are_parsed_and_blanks_ignored() -> None:
    environ = {
        "RECONCILER_MASTER_KEY": KEY_HEX,
        "RECONCILER_PREVIOUS_KEYS": f" {OLD_HEX} ,, {OLDER_HEX},\n",
    }
    keyring = require_keyring(load_keyring(PG_URL, environ=environ))
    assert keyring.current == bytes.fromhex(KEY_HEX)
    assert keyring.previous == (bytes.fromhex(OLD_HEX), bytes.fromhex(OLDER_HEX))


def test_invalid_env_key_names_the_variable_but_not_the_value() -> None:
    bad = KEY_HEX[:-1] + "z"
    with pytest.raises(CryptoError) as info:
        load_keyring(PG_URL, environ={"RECONCILER_MASTER_KEY": bad})
    text = f"{info.value} {info.value.hint}"
    assert "RECONCILER_MASTER_KEY" in text
    assert bad not in text and KEY_HEX[:20] not in text


def test_invalid_previous_key_names_the_entry_but_not_the_value() -> None:
    bad = OLD_HEX[:40]
    with pytest.raises(CryptoError) as info:
        load_keyring(
            PG_URL,
            environ={"RECONCILER_MASTER_KEY": KEY_HEX, "RECONCILER_PREVIOUS_KEYS": f"{OLDER_HEX},{bad}"},
        )
    text = f"{info.value} {info.value.hint}"
    assert "RECONCILER_PREVIOUS_KEYS (entry 2)" in text
    assert bad not in text and OLDER_HEX not in text


def test_invalid_key_file_names_the_file_but_not_the_value(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text("deadbeef" * 7 + "\n")
    with pytest.raises(CryptoError) as info:
        load_keyring(PG_URL, environ={}, master_key_file=str(key_file))
    assert str(key_file) in str(info.value)
    assert "deadbeef" not in f"{info.value} {info.value.hint}"


def test_sqlite_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    key_path = tmp_path / "state.db.key"

    first = load_keyring(url, environ={}, create=True)
    assert first.keyring is not None
    assert first.notice is not None
    assert str(key_path) in first.notice and "0600" in first.notice and "Back it up" in first.notice
    assert _mode(key_path) == 0o600
    content = key_path.read_text()
    assert content == first.keyring.current.hex() + "\n"
    assert len(content) == 65
    assert [p.name for p in tmp_path.iterdir()] == ["state.db.key"]  # no temporary file left behind

    second = load_keyring(f"sqlite+pysqlite:///{db}", environ={}, create=True)
    assert second == KeyringResult(first.keyring, None)


def test_sqlite_key_file_mode_is_exact_despite_a_permissive_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        result = load_keyring(f"sqlite:///{tmp_path / 'a.db'}", environ={}, create=True)
    finally:
        os.umask(old_umask)
    assert result.keyring is not None
    assert _mode(tmp_path / "a.db.key") == 0o600


def test_sqlite_without_key_file_and_without_create_has_no_keyring(tmp_path: Path) -> None:
    result = load_keyring(f"sqlite:///{tmp_path / 'state.db'}", environ={})
    assert result == KeyringResult(None, None)
    assert not (tmp_path / "state.db.key").exists()


def test_existing_sqlite_key_file_with_loose_mode_is_used_with_a_warning(tmp_path: Path) -> None:
    key_path = tmp_path / "state.db.key"
    key_path.write_text(KEY_HEX + "\n")
    key_path.chmod(0o644)
    result = load_keyring(f"sqlite:///{tmp_path / 'state.db'}", environ={"RECONCILER_PREVIOUS_KEYS": OLD_HEX})
    assert result.keyring == Keyring(bytes.fromhex(KEY_HEX), (bytes.fromhex(OLD_HEX),))
    assert result.notice is not None and "0644" in result.notice
    assert KEY_HEX not in result.notice


def test_env_key_wins_over_sqlite_key_file(tmp_path: Path) -> None:
    result = load_keyring(f"sqlite:///{tmp_path / 'state.db'}", environ={"RECONCILER_MASTER_KEY": KEY_HEX}, create=True)
    assert result.keyring == Keyring(bytes.fromhex(KEY_HEX))
    assert result.notice is None
    assert not (tmp_path / "state.db.key").exists()


def test_sqlite_key_file_in_missing_directory_is_a_secret_error(tmp_path: Path) -> None:
    with pytest.raises(SecretError):
        load_keyring(f"sqlite:///{tmp_path / 'missing' / 'state.db'}", environ={}, create=True)


@pytest.mark.parametrize(
    "url",
    [PG_URL, "postgresql://localhost/x", "sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:"],
)
def test_no_implicit_key_for_postgres_or_memory(url: str) -> None:
    result = load_keyring(url, environ={}, create=True)
    assert result == KeyringResult(None, None)


def test_sqlite_key_path() -> None:
    assert sqlite_key_path("sqlite:////var/lib/r/state.db") == "/var/lib/r/state.db.key"
    assert sqlite_key_path("sqlite:///state.db") == "state.db.key"
    assert sqlite_key_path("sqlite+pysqlite:///data/state.db") == "data/state.db.key"
    assert sqlite_key_path("sqlite:///:memory:") is None
    assert sqlite_key_path(PG_URL) is None


def test_require_keyring() -> None:
    keyring = Keyring(bytes.fromhex(KEY_HEX))
    assert require_keyring(KeyringResult(keyring, None)) is keyring
    with pytest.raises(SecretError) as info:
        require_keyring(KeyringResult(None, None))
    assert str(info.value) == "metadata is configured but no master key is available"
    assert "RECONCILER_MASTER_KEY" in (info.value.hint or "") and "--master-key-file" in (info.value.hint or "")
