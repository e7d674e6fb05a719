"""Online backups and restores of the comment database (`make backup`, `make restore`)."""

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlite_utils import Database

from comments_service import db
from comments_service.backup import BackupError, backup, restore
from support import MENTOR_SLUG, MENTOR_URL, submit_comment

WAIT_SECONDS = 60  # bound of every wait for the writers below


@pytest.fixture(autouse=True)
def usual_umask():
    """A server's usual umask (022): files left to it would be world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def new_database(path):
    db.connect(path).close()
    return path


def add(database, body, slug=MENTOR_SLUG):
    return db.add_pending_comment(database, post_slug=slug, author_name="Writer", body=body)


@contextmanager
def opened(path):
    database = Database(path)
    try:
        yield database
    finally:
        database.close()


def ids_in(path):
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("select id from comments")}
    finally:
        conn.close()


def wait_until(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class ThreadWriters:
    """Threads inserting comments through ``db``, each on its own connection,
    recording each id once ``add_pending_comment`` has returned it."""

    MAX_INSERTS = 5000  # each; they stop sooner, when told

    def __init__(self, db_path, count=2):
        self.db_path = db_path
        self.acknowledged = []
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(count)]

    def _write(self, number):
        database = db.connect(self.db_path, migrate=False)
        try:
            for i in range(self.MAX_INSERTS):
                if self.stop.is_set():
                    return
                self.acknowledged.append(add(database, f"thread {number} comment {i}"))
        except Exception as exc:  # reported by the test, not lost in the thread
            self.errors.append(exc)
        finally:
            database.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(WAIT_SECONDS)
        assert not self.errors


WRITER_PROCESS = """
import os, sys
from comments_service import db
database = db.connect(sys.argv[1], migrate=False)
for i in range(5000):
    if os.path.exists(sys.argv[2]):
        break
    print(db.add_pending_comment(database, post_slug="p", author_name="Process",
                                 body=f"process comment {i}"), flush=True)
"""


class ProcessWriter:
    """Another process inserting comments (as a second gunicorn worker would);
    it prints each id once committed."""

    def __init__(self, db_path, stop_file):
        self.stop_file = stop_file
        self.acknowledged = []
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER_PROCESS, str(db_path), str(stop_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.acknowledged.append(int(line))

    def close(self):
        self.stop_file.touch()
        assert self.process.wait(WAIT_SECONDS) == 0
        self.reader.join(WAIT_SECONDS)
        self.process.stdout.close()


def test_a_backup_taken_while_comments_arrive_keeps_every_acknowledged_one(tmp_path):
    db_path = new_database(tmp_path / "comments.db")
    process = ProcessWriter(db_path, tmp_path / "stop")
    try:
        with ThreadWriters(db_path) as threads:
            wait_until(
                lambda: len(threads.acknowledged) >= 100 and len(process.acknowledged) >= 30,
                "the writers to get going",
            )
            acknowledged = set(threads.acknowledged) | set(process.acknowledged)
            copy = backup(db_path, tmp_path / "backups" / "copy.db")
            # The writers carried on: the backup did not stop them.
            after = len(threads.acknowledged) + len(process.acknowledged)
            wait_until(
                lambda: len(threads.acknowledged) + len(process.acknowledged) > after + 20,
                "writes after the backup",
            )
    finally:
        process.close()
    restored = tmp_path / "restored.db"
    restore(copy, restored)
    in_backup = ids_in(restored)
    assert acknowledged <= in_backup, f"lost: {sorted(acknowledged - in_backup)[:10]}"
    assert len(ids_in(db_path)) > len(in_backup), "the live database kept growing"


def test_a_backup_holds_every_table_and_every_file_is_private(database, app, tmp_path):
    comment = add(database, "Backed up with its decision")
    db.set_status(database, [comment], "approved", by="editor", reason="fine")
    db.save_admin(database, "editor", "not-a-real-hash")
    db.count_view(database, MENTOR_SLUG)
    db_path = app.config["COMMENTS_DB"]

    copy = backup(db_path, tmp_path / "elsewhere" / "copy.db")

    with opened(db_path) as live, opened(copy) as saved:
        assert {"comments", "decisions", "admins", "page_views"} <= set(saved.table_names())
        assert saved.table_names() == live.table_names()
        for table in live.table_names():
            assert list(saved[table].rows) == list(live[table].rows), table
        assert saved.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not os.path.exists(f"{copy}-wal"), "a backup is one self-contained file"
    for path in (db_path, f"{db_path}-wal", f"{db_path}-shm", copy):
        assert mode(path) == 0o600, path
    assert os.listdir(copy.parent) == ["copy.db"], "no temporary file left"


def test_the_export_file_is_private_even_if_it_existed(runner, database, tmp_path):
    add(database, "Exported privately")
    fresh, existing = tmp_path / "fresh.json", tmp_path / "existing.json"
    existing.write_text("old")
    existing.chmod(0o644)
    for path in (fresh, existing):
        result = runner.invoke(args=["comments", "export", str(path)])
        assert result.exit_code == 0, result.output
        assert "Exported privately" in path.read_text()
        assert mode(path) == 0o600
    to_stdout = runner.invoke(args=["comments", "export", "-"])
    assert '"body": "Exported privately"' in to_stdout.output


def damaged_copy(database, db_path, tmp_path):
    """A backup whose table pages were overwritten: SQLite opens it, the check fails."""
    for i in range(300):
        add(database, f"filler comment {i} " + "x" * 200)
    copy = backup(db_path, tmp_path / "damaged.db")
    with open(copy, "r+b") as f:
        f.seek(4096 * 3)  # past the header page and the schema
        f.write(b"\xff" * 4096 * 4)
    return copy


def not_ours(tmp_path):
    path = tmp_path / "other.db"
    with opened(path) as other:
        other["recipes"].insert({"name": "soup"})
    return path


def not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("This is a text file, not a database.\n" * 100)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda database, path, tmp: damaged_copy(database, path, tmp), "damaged"),
        (lambda database, path, tmp: not_a_database(tmp), "is not a SQLite database"),
        (lambda database, path, tmp: not_ours(tmp), "not a backup of the comments database"),
        (lambda database, path, tmp: tmp / "missing.db", "There is no file at"),
    ],
    ids=["damaged", "not-sqlite", "another-database", "missing"],
)
def test_restore_refuses_a_bad_file_and_leaves_the_database_alone(
    make, message, runner, database, app, tmp_path
):
    db_path = app.config["COMMENTS_DB"]
    add(database, "Still here after a refused restore")
    bad = make(database, db_path, tmp_path)
    before = ids_in(db_path)

    result = runner.invoke(args=["db", "restore", str(bad)])

    assert result.exit_code == 1
    assert message in result.output
    assert result.output.count("\n") == 1, "one readable line"
    assert "Traceback" not in result.output
    assert ids_in(db_path) == before
    with opened(db_path) as live:
        assert live.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with pytest.raises(BackupError, match=message):
        restore(bad, db_path)


def test_restore_brings_back_the_backup_while_the_service_keeps_writing(tmp_path):
    db_path = new_database(tmp_path / "comments.db")
    service = db.connect(db_path, migrate=False)  # a worker's kept connection
    kept = add(service, "In the backup")
    copy = backup(db_path, tmp_path / "copy.db")
    add(service, "Written after the backup")

    restored = threading.Event()
    after_restore = []  # bodies of inserts begun once restore had returned
    stop = threading.Event()

    def write():
        database = db.connect(db_path, migrate=False)
        for i in range(5000):
            if stop.is_set():
                break
            began_after = restored.is_set()
            add(database, f"concurrent {i}")
            if began_after:
                after_restore.append(f"concurrent {i}")
        database.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.05)  # let it write a little first (not a timing assertion)
        restore(copy, db_path)
        restored.set()
        wait_until(lambda: len(after_restore) >= 20, "writes after the restore")
    finally:
        stop.set()
        writer.join(WAIT_SECONDS)

    bodies = {row["body"] for row in db.export_comments(service)}
    assert "In the backup" in bodies
    assert "Written after the backup" not in bodies
    assert set(after_restore) <= bodies, "every write after the restore is kept"
    assert db.get_comment(service, kept)["body"] == "In the backup"
    assert service.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert service.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert mode(db_path) == 0o600
    service.close()


def test_db_backup_command_names_and_prunes_its_backups(runner, app, database, tmp_path):
    add(database, "In every backup")
    folder = tmp_path / "backups"
    folder.mkdir()
    old = [folder / f"comments-2000010{day}T030000Z.db" for day in (1, 2, 3)]
    for path in old:
        path.write_text("an old backup")
    other = folder / "keep-me.txt"
    other.write_text("not a backup")

    started = datetime.now(UTC)
    result = runner.invoke(args=["db", "backup", "--keep", "2"])

    assert result.exit_code == 0, result.output
    made = sorted(folder.glob("comments-2*.db"))[-1]
    days = {f"comments-{when:%Y%m%d}T" for when in (started, datetime.now(UTC))}  # midnight
    assert made.name[: len("comments-YYYYMMDDT")] in days
    assert f"Backed up to {made}" in result.output
    assert sorted(folder.iterdir()) == sorted([old[2], made, other])
    assert mode(made) == 0o600
    assert ids_in(made) == ids_in(app.config["COMMENTS_DB"])

    named = runner.invoke(args=["db", "backup", str(tmp_path / "named.db")])
    assert named.exit_code == 0, named.output
    assert ids_in(tmp_path / "named.db") == ids_in(app.config["COMMENTS_DB"])


def test_db_restore_command_saves_the_current_database_and_republishes(
    runner, client, database, live_site, tmp_path, app
):
    submit_comment(client, body="Approved before the backup")
    assert runner.invoke(args=["comments", "approve", "1"]).exit_code == 0
    assert "Approved before the backup" in live_site.text(MENTOR_URL)
    copy = tmp_path / "copy.db"
    assert runner.invoke(args=["db", "backup", str(copy)]).exit_code == 0
    assert runner.invoke(args=["comments", "trash", "1"]).exit_code == 0
    assert "Approved before the backup" not in live_site.text(MENTOR_URL)

    result = runner.invoke(args=["db", "restore", str(copy)])

    assert result.exit_code == 0, result.output
    assert "Approved before the backup" in live_site.text(MENTOR_URL)
    assert db.get_comment(database, 1)["status"] == "approved"
    saved = next((tmp_path / "backups").glob("pre-restore-*.db"))
    assert f"saved in {saved}" in result.output
    with opened(saved) as before_restore:
        assert before_restore["comments"].get(1)["status"] == "trash"
    assert mode(saved) == 0o600 and mode(saved.parent) == 0o700


def test_db_purge_ip_drops_only_the_hashes_older_than_30_days(runner, client, database):
    submit_comment(client, body="Old")
    submit_comment(client, body="Recent")
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    database["comments"].update(1, {"created_at": old})

    result = runner.invoke(args=["db", "purge-ip"])

    assert result.exit_code == 0, result.output
    assert "older than 30 days" in result.output
    assert db.get_comment(database, 1)["ip_hash"] is None
    assert db.get_comment(database, 2)["ip_hash"]
