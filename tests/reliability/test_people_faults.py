"""Issue 14, people and keys: a lost SQLite key file, faults around invitation emails, people commands racing an
apply. Real ``reconciler`` processes where the fault is a process's (a kill, a lock), the CLI in-process where
the fault is injected into the database connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rel_support import full_dump, run_reconciler, subprocess_env
from sqlalchemy import text

from reconciler.backends.builtin.db import create_engine_for
from reconciler.mail import DirectoryTransport

CONFIG = """\
version: 1
workspaces:
  - slug: acme
    name: Acme
    users:
      - {email: alice@acme.example, first_name: Alice, role: admin, metadata: {api_key: one}}
      - {email: bob@acme.example, first_name: Bob, role: builder}
"""


def dump(url: str) -> dict:
    engine = create_engine_for(url)
    try:
        return full_dump(engine)
    finally:
        engine.dispose()


@pytest.mark.reliability(
    area="Keys",
    fault="SQLite: the key file <database>.key is deleted while the database holds encrypted metadata and "
    "queued emails; then apply (with new metadata), plan --out and invites send",
    outcome="each refuses, naming the missing key file and RECONCILER_MASTER_KEY / RECONCILER_MASTER_KEY_FILE; "
    "no new key file is created and the database is unchanged; with the key restored, everything works",
)
def test_a_lost_sqlite_key_file_is_never_replaced_by_a_new_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'access.db'}"
    key_file = tmp_path / "access.db.key"
    config = tmp_path / "workspace.yaml"
    config.write_text(CONFIG)
    env = subprocess_env(tmp_path, RECONCILER_MASTER_KEY=None, RECONCILER_OUTBOX_DIR=None)
    first = run_reconciler(
        ["--database", url, "apply", "-f", str(config), "--auto-approve"], env=env, directory=tmp_path
    )
    assert first.returncode == 0, first.output
    assert key_file.exists()
    saved = key_file.read_bytes()
    key_file.unlink()
    before = dump(url)

    config.write_text(
        CONFIG + "      - {email: carol@acme.example, first_name: Carol, role: end-user, metadata: {api_key: two}}\n"
    )
    for args in (
        ["apply", "-f", str(config), "--auto-approve"],
        ["plan", "-f", str(config), "--out", str(tmp_path / "plan.json")],
    ):
        result = run_reconciler(["--database", url, *args], env=env, directory=tmp_path)
        assert result.returncode == 1, result.output
        assert result.stderr.startswith(
            f"Error: the master key is missing: the database holds encrypted metadata or invitation emails, but its "
            f"key file {key_file} does not exist; a new key would not open them, so none is created\n"
        ), result.stderr
        assert f"Hint: restore {key_file} from a backup, or provide the key with RECONCILER_MASTER_KEY" in result.stderr
        assert "RECONCILER_MASTER_KEY_FILE" in result.stderr
        assert "Traceback" not in result.output
        assert not key_file.exists()
        assert dump(url) == before

    key_file.write_bytes(saved)
    key_file.chmod(0o600)
    again = run_reconciler(
        ["--database", url, "apply", "-f", str(config), "--auto-approve"], env=env, directory=tmp_path
    )
    assert again.returncode == 0, again.output
    plan = run_reconciler(["--database", url, "plan", "-f", str(config)], env=env, directory=tmp_path)
    assert plan.stdout.strip() == "No changes. The database matches the configuration.", plan.output


def many_users(count: int) -> str:
    lines = [
        "version: 1",
        "workspaces:",
        "  - slug: acme",
        "    name: Acme",
        "    users:",
        "      - {email: admin@acme.example, first_name: Ada, role: admin}",
    ]
    lines += [f"      - {{email: u{i:04d}@acme.example, first_name: U{i}, role: end-user}}" for i in range(count)]
    return "\n".join(lines) + "\n"


def outbox_statuses(url: str) -> list[str]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT status FROM outbox ORDER BY id"))]
    finally:
        engine.dispose()


@pytest.mark.reliability(
    area="Invitations",
    fault="`invites send` (300 pending emails, directory transport) killed with SIGKILL after 20 to 250 files "
    "were written, then run again",
    outcome="every email is delivered; at most one is delivered twice (each is marked sent in its own commit)",
)
def test_invites_send_killed_midway_sends_at_most_one_email_twice(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time
    from collections import Counter

    from rel_support import RECONCILER

    url = f"sqlite:///{tmp_path / 'access.db'}"
    config = tmp_path / "workspace.yaml"
    config.write_text(many_users(300))
    quiet = subprocess_env(tmp_path, RECONCILER_OUTBOX_DIR=None)  # no transport: the emails stay pending
    applied = run_reconciler(
        ["--database", url, "apply", "-f", str(config), "--auto-approve"], env=quiet, directory=tmp_path
    )
    assert applied.returncode == 0, applied.output
    assert outbox_statuses(url).count("pending") == 301
    outbox = tmp_path / "outbox"
    env = subprocess_env(tmp_path)
    process = subprocess.Popen(
        [str(RECONCILER), "--database", url, "invites", "send"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(outbox.glob("*.eml")) if outbox.exists() else []) < 20:
        time.sleep(0.0005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(list(outbox.glob("*.eml")))
    assert 20 <= written < 301, f"the kill came too late to test anything ({written} files)"
    again = run_reconciler(["--database", url, "invites", "send"], env=env, directory=tmp_path)
    assert again.returncode == 0, again.output
    recipients = Counter(path.name.split("-", 1)[1] for path in outbox.glob("*.eml"))
    assert len(recipients) == 301  # everyone got their invitation
    assert sum(count - 1 for count in recipients.values()) <= 1  # and at most one got it twice
    assert set(outbox_statuses(url)) == {"sent"}
    assert not list(outbox.glob(".*.tmp"))


class FaultyDelivery(DirectoryTransport):
    """The directory transport, with a fault injected into the database right after the 2nd email was handed
    over: before that email is marked as sent."""

    def __init__(self, directory: Path, fault) -> None:
        super().__init__(directory)
        self.fault = fault
        self.count = 0

    def send(self, message, *, sender: str, recipient: str) -> None:
        super().send(message, sender=sender, recipient=recipient)
        self.count += 1
        if self.count == 2:
            self.fault()


@pytest.mark.reliability(
    area="Invitations",
    fault="the database fails while a committed apply records its email deliveries: SQLite disk full (SQLITE_FULL "
    "on the outbox update), PostgreSQL connection killed (pg_terminate_backend)",
    outcome="exit 0: 'Apply complete!', then a warning that the apply committed, which emails stay pending and "
    "to run invites send, which delivers them (one at most twice); no internal error; final plan empty",
)
def test_a_failed_email_bookkeeping_after_commit_is_a_warning(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets
    from collections import Counter

    import sqlalchemy.exc
    from helpers import run_cli
    from sqlalchemy import event
    from sqlalchemy.engine import Engine, make_url

    import reconciler.mail

    mails = tmp_path / "mails"
    broken = {"on": False}
    # Only this test's connections are killed (tagged by application_name), never another run's on the server.
    tag = f"reconciler-fault-{secrets.token_hex(4)}"
    if not database_url.startswith("sqlite"):
        database_url = (
            make_url(database_url).update_query_dict({"application_name": tag}).render_as_string(hide_password=False)
        )

    def disk_full(_conn, _cursor, statement, _params, _context, _many) -> None:
        if broken["on"] and statement.startswith("UPDATE outbox"):
            raise sqlalchemy.exc.OperationalError(statement, {}, Exception("database or disk is full"))

    def fault() -> None:
        if database_url.startswith("sqlite"):
            broken["on"] = True
            return
        killer = create_engine_for(database_url)
        with killer.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND application_name = :tag"
                ),
                {"tag": tag},
            )
        killer.dispose()

    monkeypatch.setattr(reconciler.mail, "transport_from_env", lambda environ: FaultyDelivery(mails, fault))
    event.listen(Engine, "before_cursor_execute", disk_full)
    config = tmp_path / "workspace.yaml"
    config.write_text(many_users(2))
    env = {"RECONCILER_MASTER_KEY": "5e" * 32, "RECONCILER_OUTBOX_DIR": str(mails), "RECONCILER_BASE_URL": "https://x"}
    try:
        result = run_cli(["--database", database_url, "apply", "-f", str(config), "--auto-approve"], env=env)
    finally:
        event.remove(Engine, "before_cursor_execute", disk_full)
    assert result.exit_code == 0, result.output
    assert "Apply complete!" in result.stdout
    assert "internal error" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0] == f"Wrote 1 invitation email(s) to {mails}."
    assert lines[1].startswith(
        "Warning: the apply committed, but recording the delivery of invitation emails failed ("
    ), lines
    assert lines[1].endswith(
        "): 2 email(s) stay pending (u0000@acme.example, u0001@acme.example). "
        "Deliver them with 'reconciler invites send'."
    )
    assert lines[2] == (
        "Note: the email to u0000@acme.example was handed over but could not be marked as sent; it will be sent again."
    )
    assert outbox_statuses(database_url) == ["sent", "pending", "pending"]

    monkeypatch.undo()
    again = run_cli(["--database", database_url, "invites", "send"], env=env)
    assert again.exit_code == 0, again.output
    assert again.stdout == f"Wrote 2 invitation email(s) to {mails}.\n"
    recipients = Counter(path.name.split("-", 1)[1] for path in mails.glob("*.eml"))
    assert recipients == {"admin@acme.example.eml": 1, "u0000@acme.example.eml": 2, "u0001@acme.example.eml": 1}
    plan = run_cli(["--database", database_url, "plan", "-f", str(config)], env=env)
    assert plan.stdout.strip() == "No changes. The database matches the configuration."


@pytest.mark.reliability(
    area="Concurrency",
    fault="accept-invite and invite-url while an apply holds the lock; accept-invite racing an apply that "
    "archives the same member",
    outcome="they wait for the lock (--lock-timeout, default 10 s) or fail naming the holder; the accept runs "
    "after the archive and is refused, so the member stays archived (the archive is never lost)",
)
def test_people_commands_wait_for_the_apply_lock(database_url: str, tmp_path: Path) -> None:
    import os
    import threading

    from helpers import asleep, run_cli, wait_until

    from reconciler.backends.builtin.backend import BuiltinBackend

    config = tmp_path / "workspace.yaml"
    config.write_text(many_users(2))
    env = {"RECONCILER_MASTER_KEY": "5e" * 32, "RECONCILER_OUTBOX_DIR": str(tmp_path / "mails")}
    assert run_cli(["--database", database_url, "apply", "-f", str(config), "--auto-approve"], env=env).exit_code == 0
    link = run_cli(["--database", database_url, "invite-url", "u0000@acme.example", "--workspace", "acme"], env=env)
    assert link.exit_code == 0, link.output
    token_link = link.stdout.strip()

    holder = BuiltinBackend(database_url)
    try:
        with holder._locked(60, "ops"):
            for args in (
                ["accept-invite", token_link, "--lock-timeout", "0.3"],
                ["invite-url", "u0001@acme.example", "--workspace", "acme", "--lock-timeout", "0.3"],
            ):
                busy = run_cli(["--database", database_url, *args], env=env)
                assert busy.exit_code == 1, busy.output
                assert busy.stderr.startswith("Error: another apply holds the lock: "), busy.stderr
                assert "gave up after waiting 0.3s" in busy.stderr and "internal error" not in busy.stderr

        # the race: an apply holding the lock archives the member while accept-invite runs
        results: list = []
        with holder._locked(60, "ops") as conn:
            thread = threading.Thread(
                target=lambda: results.append(
                    run_cli(["--database", database_url, "accept-invite", token_link], env=env)
                )
            )
            thread.start()
            wait_until(lambda: asleep(os.getpid(), thread.native_id), "waited for the lock", alive=thread.is_alive)
            conn.execute(
                text(
                    "UPDATE memberships SET status = 'archived', invitation_token_hash = NULL "
                    "WHERE user_id = (SELECT id FROM users WHERE email = 'u0000@acme.example')"
                )
            )
            assert not results  # accept-invite is still waiting for the lock
        thread.join(30)
    finally:
        holder.close()
    (accepted,) = results
    assert accepted.exit_code == 1
    assert accepted.stderr.startswith("Error: this invitation token is unknown or was already used")
    engine = create_engine_for(database_url)
    with engine.connect() as c:
        status = c.execute(
            text(
                "SELECT m.status FROM memberships m JOIN users u ON u.id = m.user_id "
                "WHERE u.email = 'u0000@acme.example'"
            )
        ).scalar_one()
    engine.dispose()
    assert status == "archived"
