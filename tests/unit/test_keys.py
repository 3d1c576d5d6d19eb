"""Where master keys come from: explicit file, environment, or the key file beside a SQLite database."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reconciler.crypto import METADATA_PURPOSE, DecryptionError, Keyring, decrypt_metadata, encrypt_metadata
from reconciler.errors import CryptoError, SecretError
from reconciler.keys import (
    KeyringResult,
    abandon_key_file_rotation,
    finish_key_file_rotation,
    load_keyring,
    require_keyring,
    sqlite_key_path,
    stage_key_file_rotation,
)

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
    assert second == KeyringResult(first.keyring, None, str(key_path))
    assert first.key_file == str(key_path)


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
    assert result.key_file == str(key_path)
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


# --- RECONCILER_MASTER_KEY_FILE and where each key came from -------------------------------------------------


def _key_file(tmp_path: Path, name: str, hex_key: str) -> Path:
    path = tmp_path / name
    path.write_text(hex_key + "\n")
    path.chmod(0o600)
    return path


def test_master_key_file_variable_is_read(tmp_path: Path) -> None:
    path = _key_file(tmp_path, "env.key", KEY_HEX)
    result = load_keyring(PG_URL, environ={"RECONCILER_MASTER_KEY_FILE": str(path), "RECONCILER_MASTER_KEY": OLD_HEX})
    assert result.keyring == Keyring(bytes.fromhex(KEY_HEX))  # the file variable wins over the key variable
    assert result.keyring.source == f"RECONCILER_MASTER_KEY_FILE ({path})"
    assert result.key_file is None  # a file the user manages: keys rotate never rewrites it


def test_master_key_file_option_wins_over_the_variable(tmp_path: Path) -> None:
    option = _key_file(tmp_path, "option.key", KEY_HEX)
    variable = _key_file(tmp_path, "variable.key", OLD_HEX)
    result = load_keyring(PG_URL, environ={"RECONCILER_MASTER_KEY_FILE": str(variable)}, master_key_file=str(option))
    assert result.keyring == Keyring(bytes.fromhex(KEY_HEX))
    assert result.keyring.source == f"--master-key-file {option}"


def test_empty_master_key_file_variable_counts_as_unset() -> None:
    result = load_keyring(PG_URL, environ={"RECONCILER_MASTER_KEY_FILE": " ", "RECONCILER_MASTER_KEY": KEY_HEX})
    assert result.keyring is not None and result.keyring.source == "RECONCILER_MASTER_KEY"


def test_missing_master_key_file_variable_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SecretError) as info:
        load_keyring(PG_URL, environ={"RECONCILER_MASTER_KEY_FILE": str(tmp_path / "nope.key")})
    assert str(info.value).startswith(f"RECONCILER_MASTER_KEY_FILE ({tmp_path / 'nope.key'}) cannot be read")


def test_sqlite_key_file_source_names_the_file(tmp_path: Path) -> None:
    result = load_keyring(f"sqlite:///{tmp_path / 'state.db'}", environ={}, create=True)
    assert result.keyring is not None
    assert result.keyring.source == f"the key file {tmp_path / 'state.db.key'}"


@pytest.mark.parametrize(
    ("environ", "source"),
    [
        ({"RECONCILER_MASTER_KEY": OLD_HEX}, "the master key from RECONCILER_MASTER_KEY"),
        (
            {"RECONCILER_MASTER_KEY": OLD_HEX, "RECONCILER_PREVIOUS_KEYS": OLDER_HEX},
            "the master key from RECONCILER_MASTER_KEY (and 1 previous key(s))",
        ),
    ],
)
def test_a_wrong_key_is_named_and_suggested_first(environ: dict[str, str], source: str) -> None:
    blob = encrypt_metadata(Keyring(bytes.fromhex(KEY_HEX)), "m-1", {"token": "s3cret"})
    keyring = require_keyring(load_keyring(PG_URL, environ=environ))
    with pytest.raises(DecryptionError) as info:
        decrypt_metadata(keyring, "m-1", blob, what='the metadata of bob@acme.example in workspace "acme"')
    assert info.value.message == (
        f'the metadata of bob@acme.example in workspace "acme" could not be decrypted with {source}: '
        "most likely the key is wrong"
    )
    assert (info.value.hint or "").startswith("check that this is the key the data was encrypted with")
    assert "RECONCILER_PREVIOUS_KEYS" in (info.value.hint or "")
    assert "s3cret" not in f"{info.value} {info.value.hint}" and OLD_HEX not in f"{info.value} {info.value.hint}"
    moved = info.value.about("the metadata of carol@acme.example")
    assert moved.message.startswith("the metadata of carol@acme.example could not be decrypted with the master key")
    assert moved.hint == info.value.hint


def test_a_value_without_a_name_is_named_by_its_purpose() -> None:
    keyring = Keyring(bytes.fromhex(OLD_HEX), source="RECONCILER_MASTER_KEY")
    blob = Keyring(bytes.fromhex(KEY_HEX)).encrypt(b"x", purpose=METADATA_PURPOSE, associated_data=b"m")
    with pytest.raises(DecryptionError, match=r"^A membership-metadata value could not be decrypted with the master"):
        keyring.decrypt(blob, purpose=METADATA_PURPOSE, associated_data=b"m")


# --- rotating the SQLite key file ----------------------------------------------------------------------------


def _sqlite_keyring(tmp_path: Path) -> tuple[KeyringResult, Path]:
    result = load_keyring(f"sqlite:///{tmp_path / 'state.db'}", environ={}, create=True)
    return result, tmp_path / "state.db.key"


def test_staging_keeps_the_old_key_and_writes_the_new_one_beside_it(tmp_path: Path) -> None:
    loaded, key_path = _sqlite_keyring(tmp_path)
    assert loaded.keyring is not None
    old = loaded.keyring.current
    rotation = stage_key_file_rotation(str(key_path), loaded.keyring)

    previous = Path(rotation.previous_file)
    assert previous.name.startswith("state.db.key.previous-") and previous.read_text() == old.hex() + "\n"
    assert _mode(previous) == 0o600
    staged = Path(rotation.staged_file)
    assert staged == tmp_path / "state.db.key.new" and _mode(staged) == 0o600
    assert rotation.keyring.current.hex() + "\n" == staged.read_text() and rotation.keyring.current != old
    assert rotation.keyring.previous == (old,)
    assert key_path.read_text() == old.hex() + "\n"  # untouched until the re-encryption committed
    assert not rotation.resumed

    # Until the rename, loading the key file also loads the new key (for data already committed under it).
    reloaded = load_keyring(f"sqlite:///{tmp_path / 'state.db'}", environ={})
    assert reloaded.keyring == Keyring(old, (rotation.keyring.current,))
    assert reloaded.notice is not None and "did not finish" in reloaded.notice
    assert "reconciler keys rotate" in reloaded.notice and rotation.keyring.current.hex() not in reloaded.notice

    finish_key_file_rotation(rotation)
    assert key_path.read_text() == rotation.keyring.current.hex() + "\n" and _mode(key_path) == 0o600
    assert not staged.exists()
    done = load_keyring(f"sqlite:///{tmp_path / 'state.db'}", environ={})
    assert done == KeyringResult(Keyring(rotation.keyring.current), None, str(key_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db.key", previous.name]  # no temporary files


def test_an_interrupted_rotation_is_resumed_with_the_same_new_key(tmp_path: Path) -> None:
    loaded, key_path = _sqlite_keyring(tmp_path)
    assert loaded.keyring is not None
    first = stage_key_file_rotation(str(key_path), loaded.keyring)
    # the process stopped (after or before the commit): the next run loads both keys and resumes
    reloaded = load_keyring(f"sqlite:///{tmp_path / 'state.db'}", environ={})
    assert reloaded.keyring is not None
    second = stage_key_file_rotation(str(key_path), reloaded.keyring)
    assert second.resumed
    assert second.keyring.current == first.keyring.current  # never a third key while data may be under the second
    assert second.previous_file == first.previous_file  # the same old key is not kept twice
    abandon_key_file_rotation(second)  # a resumed rotation keeps its staged key even when refused
    assert Path(second.staged_file).exists()
    abandon_key_file_rotation(first)
    assert not Path(first.staged_file).exists()


def test_no_key_file_is_created_for_a_database_that_already_holds_encrypted_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    key_path = tmp_path / "state.db.key"
    with pytest.raises(SecretError) as caught:
        load_keyring(url, environ={}, create=True, holds_encrypted_data=lambda: True)
    assert f"its key file {key_path} does not exist" in caught.value.message
    assert "RECONCILER_MASTER_KEY" in (caught.value.hint or "")
    assert "RECONCILER_MASTER_KEY_FILE" in (caught.value.hint or "")
    assert not key_path.exists()
    # an empty database gets its key file; a configured key never asks the database
    assert load_keyring(url, environ={}, create=True, holds_encrypted_data=lambda: False).keyring is not None
    asked = []
    environ = {"RECONCILER_MASTER_KEY": KEY_HEX}
    assert load_keyring(url, environ=environ, create=True, holds_encrypted_data=lambda: asked.append(1) or True)
    assert asked == []
