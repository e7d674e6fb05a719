"""A full disk: comments are refused with a readable 503 and Retry-After while
it lasts, nothing typed is lost, and the service recovers by itself (no
restart) once space returns, giving the WAL's space back.

Simulated in-process (SQLite's ``max_page_count``, an ENOSPC from the
system) and for real on a 4 MB tmpfs in a mount namespace of its own."""

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing, contextmanager, suppress

import pytest
from bs4 import BeautifulSoup

from comments_service import db
from comments_service.errors import MESSAGES
from support import ROOT, submit_comment

WAIT_SECONDS = 30  # only a wedged submission takes this long
LONG_BODY = "A comment long enough to need pages of its own. " * 90  # about 4.4 KB


class SimulatedDisk:
    """A disk that fills and empties, the two ways SQLite and the system say so.

    ``sqlite``: SQLite's ``max_page_count`` caps every connection the service
    opens at the database's size, so a write that needs a new page fails with
    SQLite's own "database or disk is full". ``enospc``: the system refuses
    the writers' lock file with ENOSPC."""

    def __init__(self, monkeypatch, kind):
        self.kind, self.full, self.connections = kind, False, []
        with closing(sqlite3.connect(":memory:")) as probe:
            self.unlimited = probe.execute("PRAGMA max_page_count").fetchone()[0]
        real_connect, real_lock = db.connect, db.writers_lock

        def connect(*args, **kwargs):
            database = real_connect(*args, **kwargs)
            self.connections.append(database)
            self._cap(database)
            return database

        @contextmanager
        def writers_lock(path):
            if self.full and self.kind == "enospc":
                raise OSError(errno.ENOSPC, "No space left on device", path)
            with real_lock(path):
                yield

        monkeypatch.setattr(db, "connect", connect)
        monkeypatch.setattr(db, "writers_lock", writers_lock)

    def _cap(self, database):
        if self.kind != "sqlite":
            return
        # 1 is below any database's size: SQLite caps it at the current size.
        limit = 1 if self.full else self.unlimited
        with suppress(sqlite3.ProgrammingError):  # closed: the service discarded it
            database.execute(f"PRAGMA max_page_count = {limit}")

    def fill(self):
        self.full = True
        for database in self.connections:
            self._cap(database)

    def free(self):
        self.full = False
        for database in self.connections:
            self._cap(database)


@pytest.fixture(params=["sqlite", "enospc"])
def disk(request, monkeypatch, app):
    return SimulatedDisk(monkeypatch, request.param)


def wal_size(app):
    return os.path.getsize(app.config["COMMENTS_DB"] + "-wal")


def test_comments_are_refused_while_the_disk_is_full_and_accepted_once_it_is_freed(
    app, client, database, disk
):
    assert submit_comment(client, body=LONG_BODY).status_code == 202
    assert wal_size(app) > 0
    disk.fill()

    as_json = submit_comment(client, body=LONG_BODY)
    assert as_json.status_code == 503
    assert as_json.headers["Retry-After"] == "120"
    assert as_json.json == {"error": MESSAGES[503]}

    page = submit_comment(client, json=False, body=LONG_BODY, name="Grace Reader")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "120"
    html = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert "disk is full" in html.select_one('[role="alert"]').get_text()
    # Everything typed is back in the form, ready to send again.
    assert html.select_one("textarea#body").get_text() == LONG_BODY.strip()
    assert html.select_one("input#name")["value"] == "Grace Reader"
    assert len(db.export_comments(database)) == 1

    disk.free()
    assert submit_comment(client, body=LONG_BODY).status_code == 202
    assert len(db.export_comments(database)) == 2
    # The WAL's space is given back (SQLite would otherwise keep the file's size).
    assert wal_size(app) == 0


def test_the_connection_that_saw_the_full_disk_is_replaced(app, client, disk):
    with app.app_context():
        before = db.get_db()
    disk.fill()
    assert submit_comment(client, body=LONG_BODY).status_code == 503
    with app.app_context():
        after = db.get_db()
    assert after is not before
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        before.execute("select 1")
    disk.free()
    assert submit_comment(client, body=LONG_BODY).status_code == 202


class WorkerAbort(BaseException):
    """What a server raises in a thread it stops (a timeout, an interrupt)."""


def test_a_leader_stopped_mid_commit_does_not_wedge_the_comments_queued_behind_it(app, monkeypatch):
    path = app.config["COMMENTS_DB"]
    real_lock, release = db.writers_lock, threading.Event()
    aborted = []

    @contextmanager
    def lock_that_stops_the_first_writer(lock_path):
        if not aborted:
            aborted.append(True)
            release.wait(WAIT_SECONDS)
            raise WorkerAbort
        with real_lock(lock_path):
            yield

    monkeypatch.setattr(db, "writers_lock", lock_that_stops_the_first_writer)
    group = db._group_commit_for(db.connect(path, migrate=False))
    outcomes = {}

    def submit(name):
        database = db.connect(path, migrate=False)
        try:
            outcomes[name] = db.add_pending_comment(
                database, post_slug="p", author_name=name, body="Hi."
            )
        except WorkerAbort:
            outcomes[name] = "stopped"
        finally:
            database.close()

    leader = threading.Thread(target=submit, args=("leader",), daemon=True)
    leader.start()
    wait_for(lambda: aborted and group._leading and not group._queue, "the leader")
    follower = threading.Thread(target=submit, args=("follower",), daemon=True)
    follower.start()
    wait_for(lambda: len(group._queue) == 1, "the follower queued")
    release.set()
    leader.join(WAIT_SECONDS)
    follower.join(WAIT_SECONDS)
    assert not follower.is_alive(), "the comment behind the stopped leader was never committed"
    assert outcomes["leader"] == "stopped"
    check = db.connect(path, migrate=False)
    try:
        assert [c["author_name"] for c in db.export_comments(check)] == ["follower"]
    finally:
        check.close()
    # And later comments still go through.
    submit("later")
    assert outcomes["later"] == outcomes["follower"] + 1


def wait_for(condition, what):
    done = threading.Event()
    for _ in range(WAIT_SECONDS * 100):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# The real thing: the database on a 4 MB tmpfs mounted in a mount namespace of
# the test's own (`unshare`, so no root needed where user namespaces are
# allowed, as on Debian). A file takes all but the last 600 KB; comments go in
# until the disk refuses one; then the file is deleted.
ON_A_REAL_FULL_DISK = """
import json, os, sys
from comments_service import create_app
disk, site = sys.argv[1], sys.argv[2]
db_path = os.path.join(disk, "comments.db")
app = create_app({"SECRET_KEY": "s", "COMMENTS_DB": db_path, "SITE_DIR": site,
                  "RATELIMIT_ENABLED": False})
client = app.test_client()
def submit(n, html=False):
    return client.post("/comments/", data={
        "post_slug": "meet-mentors-through-informational-interviews",
        "name": "Reader", "body": f"Comment {n}: " + "words of advice " * 300,
        "submission_key": f"real-disk-comment-{n:06d}"},
        headers={"Accept": "text/html" if html else "application/json"})
free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
with open(os.path.join(disk, "filler"), "wb") as filler:
    filler.write(b"x" * (free - 600_000))
report = {"accepted": 0}
for n in range(2000):
    response = submit(n)
    if response.status_code != 202:
        break
    report["accepted"] += 1
report["full_json"] = [response.status_code, response.headers.get("Retry-After"),
                       response.get_json()]
page = submit(n, html=True)
report["full_html"] = [page.status_code, page.headers.get("Retry-After"),
                       "disk is full" in page.get_data(as_text=True)]
report["wal_while_full"] = os.path.getsize(db_path + "-wal")
os.remove(os.path.join(disk, "filler"))
report["after"] = [submit(n).status_code]
report["wal_after"] = os.path.getsize(db_path + "-wal")
report["after"].append(submit(n + 1).status_code)
from comments_service import db
with app.app_context():
    report["stored"] = len(db.export_comments(db.get_db()))
print(json.dumps(report))
"""


def test_on_a_real_full_disk_comments_get_503_then_go_through_once_space_returns(site, tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare is needed (Debian: always installed)"
    script = (
        f"mount -t tmpfs -o size=4m tmpfs {mount_point} && "
        f'exec {sys.executable} -c "$0" {mount_point} {site.path}'
    )
    result = subprocess.run(
        [unshare, "--map-root-user", "--mount", "sh", "-c", script, ON_A_REAL_FULL_DISK],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["accepted"] > 0
    assert report["full_json"] == [503, "120", {"error": MESSAGES[503]}]
    assert report["full_html"] == [503, "120", True]
    assert report["wal_while_full"] > 0
    # The first comment after space returned is the one refused: sent again,
    # it is stored (once), and so is the next.
    assert report["after"] == [202, 202]
    assert report["stored"] == report["accepted"] + 2
    assert report["wal_after"] == 0  # given back by the first write that succeeded


def test_a_commit_that_fails_leaves_no_transaction_behind(database):
    """SQLite may keep a transaction open after a failed COMMIT (it asks for a
    ROLLBACK): left open, it held the write lock and every later write failed.
    A deferred constraint is a failure that reliably happens at COMMIT."""
    database.execute("create table parent (id integer primary key)")
    database.execute(
        "create table child (parent_id integer references parent(id) deferrable initially deferred)"
    )
    with pytest.raises(sqlite3.IntegrityError), db.writing(database):
        database.execute("insert into child (parent_id) values (42)")
    assert not database.conn.in_transaction
    with db.writing(database):
        database.execute("insert into parent (id) values (42)")
    assert database["parent"].count == 1
