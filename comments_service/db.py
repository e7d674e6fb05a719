"""The one owner of the SQLite database: connection, schema, migrations, queries.

Views, the CLI and the Pelican plugin call the named functions below and
contain no SQL. The schema grows only through ``migrations`` (sqlite-utils
``Migrations``: applied in order, recorded, never drop-and-recreate).

Durability: WAL journal with ``synchronous=FULL``. In WAL mode FULL syncs the
log on every commit, so a comment acknowledged to a reader survives a power
cut, not only a crash of the process; NORMAL would be faster but may lose the
last commits on power loss.
"""

import fcntl
import hashlib
import hmac
import os
import re
import sqlite3
import threading
from collections import OrderedDict
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

STATUSES = ("pending", "approved", "spam", "trash")
IP_HASH_DAYS = 30

migrations = Migrations("career_notes")


@migrations()
def m001_comments_and_admins(db):
    db["comments"].create(
        {
            "id": int,
            "post_slug": str,
            "parent_id": int,
            "author_name": str,
            "email": str,
            "website": str,
            "body": str,
            "status": str,
            "is_author": int,
            "created_at": str,
            "decided_at": str,
            "decided_by": str,
            "reason": str,
            "ip_hash": str,
        },
        pk="id",
        not_null={"post_slug", "author_name", "body", "status", "created_at"},
        defaults={"status": "pending", "is_author": 0, "email": "", "website": ""},
    )
    db["comments"].create_index(["status", "created_at"])
    db["comments"].create_index(["post_slug", "status"])
    db["decisions"].create(
        {"id": int, "comment_id": int, "action": str, "by": str, "at": str, "reason": str},
        pk="id",
        not_null={"comment_id", "action", "by", "at"},
    )
    db["decisions"].create_index(["comment_id"])
    db["admins"].create(
        {
            "id": int,
            "username": str,
            "password_hash": str,
            "created_at": str,
            # Bumped at logout: every session cookie that carries the old
            # value stops working, on every browser.
            "session_version": int,
        },
        pk="id",
        not_null={"username", "password_hash", "created_at"},
        defaults={"session_version": 1},
    )
    db["admins"].create_index(["username"], unique=True)


@migrations()
def m002_page_views(db):
    # One row per post and day: a count, and nothing about who read it.
    db["page_views"].create(
        {"post_slug": str, "day": str, "views": int},
        pk=("post_slug", "day"),
        not_null={"post_slug", "day", "views"},
    )
    db["page_views"].create_index(["day"])


@migrations()
def m003_decisions_post_slug(db):
    # The publisher re-renders the posts decided on since a build started,
    # including posts of comments deleted since.
    db["decisions"].add_column("post_slug", str)
    db.execute(
        "update decisions set post_slug = "
        "(select post_slug from comments where comments.id = decisions.comment_id)"
    )
    db["decisions"].create_index(["id", "post_slug"])


@migrations()
def m004_comments_of_a_post_in_order(db):
    # One post's approved comments, oldest first (each decision reads them):
    # with only (post_slug, status), SQLite preferred the (status, created_at)
    # index for the order and scanned every approved comment of the site.
    db["comments"].create_index(["post_slug", "status", "created_at", "id"])
    db.execute("drop index if exists idx_comments_post_slug_status")


@migrations()
def m005_comment_ids_never_reused(db):
    # Without AUTOINCREMENT SQLite hands out max(id) + 1, so after the newest
    # comment was deleted permanently the next one got its id: an admin's
    # button still showing the erased comment acted on the new one, which also
    # inherited the erased one's decisions. AUTOINCREMENT cannot be added in
    # place: rebuild the table (the documented 12-step way, in the migration's
    # one transaction, under the writers' lock ``connect`` holds) keeping its
    # rows, columns, constraints and indexes; references from other tables name
    # ``comments`` and survive the rename (checked at commit: deferred).
    create_sql = db.execute(
        "select sql from sqlite_master where type = 'table' and name = 'comments'"
    ).fetchone()[0]
    if "AUTOINCREMENT" in create_sql.upper():
        return
    index_sqls = [
        row[0]
        for row in db.execute(
            "select sql from sqlite_master "
            "where type = 'index' and tbl_name = 'comments' and sql is not null"
        )
    ]
    new_sql, found = re.subn(
        r"^(CREATE TABLE\s+(?:IF NOT EXISTS\s+)?)(\[comments\]|\"comments\"|comments)",
        r"\1[comments_autoincrement]",
        create_sql,
        flags=re.IGNORECASE,
    )
    new_sql, pk_found = re.subn(
        r"(\[id\]|\"id\"|\bid)(\s+INTEGER\s+PRIMARY\s+KEY)",
        r"\1\2 AUTOINCREMENT",
        new_sql,
        count=1,
        flags=re.IGNORECASE,
    )
    if not (found and pk_found):
        raise RuntimeError(f"unexpected schema of comments: {create_sql}")
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.execute(new_sql)
    db.execute("insert into comments_autoincrement select * from comments")
    db.execute("drop table comments")
    db.execute("alter table comments_autoincrement rename to comments")
    for sql in index_sqls:
        db.execute(sql)
    # The highest id ever handed out: erased comments leave only their
    # decisions behind (``delete_permanently``), and their ids stay used.
    highest = db.execute(
        "select max(coalesce((select max(id) from comments), 0), "
        "coalesce((select max(comment_id) from decisions), 0))"
    ).fetchone()[0]
    db.execute("delete from sqlite_sequence where name = 'comments'")
    db.execute("insert into sqlite_sequence (name, seq) values ('comments', ?)", [highest])


@migrations()
def m009_comment_import_source(db):
    # Comments brought from WordPress or Disqus remember the system and their
    # id there, so that running an import again adds nothing twice; the unique
    # index is the guarantee, also against two imports at once. Comments of
    # our own have NULLs, which a unique index never counts as equal.
    db["comments"].add_column("import_source", str)
    db["comments"].add_column("import_id", str)
    db["comments"].create_index(["import_source", "import_id"], unique=True)


def now():
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(path, migrate=True):
    """Open the database at ``path``; with ``migrate``, create it or bring its schema
    up to date first (done once at start-up; per-request connections skip it)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Readers' emails and the admins' password hashes: the owner's eyes only.
    # Created here rather than by SQLite (which honours the umask, often 022);
    # SQLite gives the -wal and -shm files the database file's mode.
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # timeout: how long a writer waits for another one's transaction to end.
    conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
    db = Database(conn)
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    if migrate:
        # Several gunicorn workers start at once and each migrates: the
        # writers' flock makes them take turns instead of failing with
        # "database is locked" (the later ones find nothing left to do).
        with writers_lock(f"{path}.write-lock"):
            db.execute("PRAGMA journal_mode=WAL")  # kept in the file from then on
            migrations.apply(db)
    return db


@contextmanager
def writing(db):
    """A write transaction, one writer at a time across threads and processes.

    Writers queue on an flock beside the database before SQLite's own lock:
    the kernel wakes the next writer the moment the lock is free, whereas
    SQLite's busy handler polls with sleeps of up to 100 ms, which under
    concurrent comments (several gunicorn workers) left the CPU idle and made
    p99 latency hundreds of milliseconds. BEGIN IMMEDIATE then takes SQLite's
    write lock up front, so a transaction that reads before it writes cannot
    fail half-way with "database is locked".
    """
    with writers_lock(_write_lock_path(db)):
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.rollback()
            raise
        db.conn.commit()


@contextmanager
def writers_lock(lock_path):
    """The exclusive flock every writer of one database takes turns on."""
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock_fd)  # closing releases the flock


def _write_lock_path(db):
    if not hasattr(db, "write_lock_path"):
        db.write_lock_path = db.execute("PRAGMA database_list").fetchone()[2] + ".write-lock"
    return db.write_lock_path


# One connection per thread and database, kept between requests. Opening and
# closing a connection per request (as Flask's tutorial does) costs more than
# a comment's whole insert here: closing the last connection to a WAL
# database checkpoints it. gunicorn's threads live long, so they reuse theirs.
_connections = threading.local()
KEPT_PER_THREAD = 4  # tests open many databases; keep only the latest few


def get_db():
    """This thread's connection to the app's database."""
    from flask import current_app  # here: the Pelican plugin imports this module too

    path = current_app.config["COMMENTS_DB"]
    kept = getattr(_connections, "by_path", None)
    if kept is None:
        kept = _connections.by_path = OrderedDict()
    if path in kept:
        kept.move_to_end(path)
    else:
        kept[path] = connect(path, migrate=False)
        while len(kept) > KEPT_PER_THREAD:
            kept.popitem(last=False)[1].close()
    return kept[path]


def end_request(_exc=None):
    """Leave the thread's connection clean for its next request."""
    from flask import current_app

    kept = getattr(_connections, "by_path", None)
    database = kept.get(current_app.config["COMMENTS_DB"]) if kept else None
    if database is not None and database.conn.in_transaction:
        database.conn.rollback()


def init_app(app):
    """Close nothing at teardown (see get_db); create or migrate the database now."""
    app.teardown_appcontext(end_request)
    connect(app.config["COMMENTS_DB"]).close()  # create or migrate at start-up


def _rows(db, sql, params=()):
    return [dict(row) for row in db.query(sql, params)]


# --- comments -----------------------------------------------------------


def hash_ip(secret, ip):
    """A keyed hash: lets the service spot one sender again without keeping the address."""
    return hmac.new(secret.encode(), (ip or "").encode(), hashlib.sha256).hexdigest()


class GroupCommit:
    """Commit the concurrent inserts of a process together: one fsync for many.

    With ``synchronous=FULL`` every commit waits for the disk, and one writer
    at a time holds the lock meanwhile: that wait, not the CPU, capped comment
    intake. The first thread to arrive leads: it commits everything queued
    so far in one transaction while the others wait, and loops until the queue
    is empty. Every comment is still on disk before its reader is answered.
    """

    def __init__(self):
        self._mutex = threading.Lock()
        self._queue = []
        self._leading = False

    def insert(self, db, table, row):
        """Insert ``row`` and return its id once it is committed."""
        slot = {"row": row, "done": threading.Event()}
        with self._mutex:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if lead:
            self._commit_all(db, table)
        slot["done"].wait()
        if "error" in slot:
            raise slot["error"]
        return slot["id"]

    def _commit_all(self, db, table):
        while True:
            with self._mutex:
                batch, self._queue = self._queue, []
                if not batch:
                    self._leading = False
                    return
            try:
                with writing(db):
                    for slot in batch:
                        columns = list(slot["row"])
                        cursor = db.conn.execute(
                            f"insert into {table} ({', '.join(columns)}) "
                            f"values ({', '.join('?' for _ in columns)})",
                            [slot["row"][c] for c in columns],
                        )
                        slot["id"] = cursor.lastrowid
            # Rows were validated before they got here; if the batch fails
            # anyway (disk full...), every reader in it gets the error.
            except Exception as exc:
                for slot in batch:
                    slot["error"] = exc
            finally:
                for slot in batch:
                    slot["done"].set()


_group_commits = {}
_group_commits_lock = threading.Lock()


def _group_commit_for(db):
    path = _write_lock_path(db)
    with _group_commits_lock:
        return _group_commits.setdefault(path, GroupCommit())


def add_pending_comment(
    db,
    *,
    post_slug,
    author_name,
    body,
    email="",
    website="",
    parent_id=None,
    reason=None,
    ip_hash=None,
    status="pending",
):
    """Queue a reader's comment and return its id (committed, on disk)."""
    row = {
        "post_slug": post_slug,
        "parent_id": parent_id,
        "author_name": author_name,
        "email": email,
        "website": website,
        "body": body,
        "status": status,
        "is_author": 0,
        "created_at": now(),
        "reason": reason,
        "ip_hash": ip_hash,
    }
    return _group_commit_for(db).insert(db, "comments", row)


def get_comment(db, comment_id):
    rows = _rows(db, "select * from comments where id = ?", [comment_id])
    return rows[0] if rows else None


def comments_with_status(db, status):
    """Comments in one status; the pending queue oldest first, the others newest first."""
    order = "asc" if status == "pending" else "desc"
    return _rows(
        db,
        f"select * from comments where status = ? order by created_at {order}, id {order}",
        [status],
    )


def counts_by_status(db):
    counts = dict.fromkeys(STATUSES, 0)
    for row in db.query("select status, count(*) as n from comments group by status"):
        counts[row["status"]] = row["n"]
    return counts


def approved_comments(db):
    """Every approved comment of the site, oldest first: one query for a whole build."""
    return _rows(
        db,
        "select id, post_slug, parent_id, author_name, website, body, is_author, created_at "
        "from comments where status = 'approved' order by created_at, id",
    )


def approved_comments_for_post(db, post_slug):
    """One post's approved comments, oldest first (the warm publisher's query)."""
    return _rows(
        db,
        "select id, post_slug, parent_id, author_name, website, body, is_author, created_at "
        "from comments where status = 'approved' and post_slug = ? order by created_at, id",
        [post_slug],
    )


# The comments a post page shows: approved top-level comments, and approved
# replies to those (the same rule as ``render.comment_threads``).
_SHOWN = (
    "select c.post_slug as slug, count(*) as shown from comments c "
    "left join comments p on p.id = c.parent_id "
    "where c.status = 'approved' and (c.parent_id is null or (p.status = 'approved' "
    "and p.parent_id is null and p.post_slug = c.post_slug)) {where} "
    "group by c.post_slug"
)


def shown_comment_counts(db, slugs=None):
    """slug -> number of comments its page shows; for ``slugs`` only, if given."""
    if slugs is None:
        rows = db.conn.execute(_SHOWN.format(where=""))
    else:
        slugs = list(slugs)
        marks = ", ".join("?" for _ in slugs)
        rows = db.conn.execute(_SHOWN.format(where=f"and c.post_slug in ({marks})"), slugs)
    return dict(rows.fetchall())


def last_decision_id(db):
    rows = list(db.query("select max(id) as last from decisions"))
    return rows[0]["last"] or 0


def posts_decided_since(db, decision_id):
    """Slugs of the posts with a decision after ``decision_id``."""
    rows = db.query(
        "select distinct post_slug from decisions where id > ? and post_slug is not null",
        [decision_id],
    )
    return {row["post_slug"] for row in rows}


def approved_parent(db, comment_id, post_slug):
    """The approved top-level comment a reply attaches to, or None.

    Replies are one level deep: replying to a reply attaches to its parent.
    """
    comment = get_comment(db, comment_id)
    if comment and comment["parent_id"]:
        comment = get_comment(db, comment["parent_id"])
    if comment and comment["status"] == "approved" and comment["post_slug"] == post_slug:
        return comment
    return None


def _record(db, comment_id, action, by, reason, post_slug):
    db["decisions"].insert(
        {
            "comment_id": comment_id,
            "action": action,
            "by": by,
            "at": now(),
            "reason": reason,
            "post_slug": post_slug,
        }
    )


def set_status(db, comment_ids, status, *, by, reason):
    """Move comments to ``status``, recording who, when and why.

    Returns the slugs of the posts whose public pages change.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    changed_posts = set()
    with writing(db):
        for comment_id in comment_ids:
            comment = get_comment(db, comment_id)
            if comment is None or comment["status"] == status:
                continue
            db["comments"].update(
                comment_id,
                {"status": status, "decided_at": now(), "decided_by": by, "reason": reason},
            )
            _record(db, comment_id, status, by, reason, comment["post_slug"])
            if "approved" in (status, comment["status"]):
                changed_posts.add(comment["post_slug"])
    return changed_posts


def edit_comment(db, comment_id, *, author_name, body, by):
    """Change a comment's name or text; returns the post slug if readers see it."""
    comment = get_comment(db, comment_id)
    if comment is None:
        return None
    with writing(db):
        db["comments"].update(comment_id, {"author_name": author_name, "body": body})
        _record(db, comment_id, "edit", by, "edited by the admin", comment["post_slug"])
    return comment["post_slug"] if comment["status"] == "approved" else None


def add_author_reply(db, parent, *, author_name, body, by):
    """Publish the author's reply to ``parent`` at once; returns its id."""
    top = parent if not parent["parent_id"] else get_comment(db, parent["parent_id"])
    with writing(db):
        comment_id = (
            db["comments"]
            .insert(
                {
                    "post_slug": top["post_slug"],
                    "parent_id": top["id"],
                    "author_name": author_name,
                    "email": "",
                    "website": "",
                    "body": body,
                    "status": "approved",
                    "is_author": 1,
                    "created_at": now(),
                    "decided_at": now(),
                    "decided_by": by,
                    "reason": "reply by the author",
                }
            )
            .last_pk
        )
        _record(db, comment_id, "approved", by, "reply by the author", top["post_slug"])
    return comment_id


def delete_permanently(db, comment_ids, *, by):
    """Erase comments (and their replies) for good; returns the posts that change."""
    changed_posts = set()
    with writing(db):
        for comment_id in comment_ids:
            comment = get_comment(db, comment_id)
            if comment is None:
                continue
            if comment["status"] == "approved":
                changed_posts.add(comment["post_slug"])
            ids = [comment_id] + [
                r["id"]
                for r in db.query("select id from comments where parent_id = ?", [comment_id])
            ]
            for doomed in ids:
                db["comments"].delete(doomed)
                # Keep the fact of the decision, not the erased person's data.
                _record(db, doomed, "deleted", by, "deleted permanently", comment["post_slug"])
    return changed_posts


def forget_old_ip_hashes(db, days=IP_HASH_DAYS):
    cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    with writing(db):
        db.execute(
            "update comments set ip_hash = null where ip_hash is not null and created_at < ?",
            [cutoff],
        )


def decisions_for(db, comment_id):
    return _rows(db, "select * from decisions where comment_id = ? order by id", [comment_id])


def export_comments(db):
    return _rows(db, "select * from comments order by id")


def import_comments(db, rows, *, by="console import"):
    """Insert exported comments, keeping ids; existing ids are replaced. Returns the count.

    Each is recorded as a decision: publishers catch up on the posts that
    have decisions (``posts_decided_since``)."""
    with writing(db):
        for row in rows:
            replaced = get_comment(db, row["id"])
            if replaced and replaced["post_slug"] != row["post_slug"]:
                _record(db, row["id"], "imported", by, "moved by an import", replaced["post_slug"])
            _record(db, row["id"], "imported", by, "imported", row["post_slug"])
        db["comments"].insert_all(rows, pk="id", replace=True)
    return len(rows)


def imported_comment(db, import_source, import_id):
    """The comment an earlier import made of ``import_id`` from ``import_source``, or None."""
    rows = _rows(
        db,
        "select id, parent_id, post_slug from comments where import_source = ? and import_id = ?",
        [import_source, import_id],
    )
    return rows[0] if rows else None


def add_imported_comments(db, rows, *, by="console import"):
    """Insert comments from another system, in one transaction, under new ids.

    A row may name its parent by ``parent_index``, the position of an earlier
    row of the same call, instead of ``parent_id``. Returns ``(id, inserted)``
    per row: a row whose ``import_source`` and ``import_id`` are stored already
    (another import ran meanwhile) is not inserted, and its id is the stored one.
    Each insert is recorded as a decision, so publishers catch up on its post.
    """
    results = []
    with writing(db):
        for row in rows:
            row = dict(row)
            index = row.pop("parent_index", None)
            if index is not None:
                row["parent_id"] = results[index][0]
            if row["status"] != "pending":
                row.update(decided_at=now(), decided_by=by)
            columns = list(row)
            cursor = db.conn.execute(
                f"insert into comments ({', '.join(columns)}) "
                f"values ({', '.join('?' for _ in columns)}) "
                "on conflict (import_source, import_id) do nothing",
                [row[c] for c in columns],
            )
            if cursor.rowcount:
                results.append((cursor.lastrowid, True))
                _record(db, cursor.lastrowid, "imported", by, row["reason"], row["post_slug"])
            else:
                stored = imported_comment(db, row["import_source"], row["import_id"])
                results.append((stored["id"], False))
    return results


# --- page views ---------------------------------------------------------


def today():
    return datetime.now(UTC).date().isoformat()


def count_view(db, post_slug, day=None):
    """Add one view to a post's count for the day."""
    with writing(db):
        db.execute(
            "insert into page_views (post_slug, day, views) values (?, ?, 1) "
            "on conflict (post_slug, day) do update set views = views + 1",
            [post_slug, day or today()],
        )


def views_since(db, days=30):
    """Views per post over the last ``days`` days (today included): slug -> count."""
    first_day = (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
    rows = db.query(
        "select post_slug, sum(views) as views from page_views where day >= ? group by post_slug",
        [first_day],
    )
    return {row["post_slug"]: row["views"] for row in rows}


# --- admins -------------------------------------------------------------


def get_admin(db, *, username=None, admin_id=None):
    if username is not None:
        rows = _rows(db, "select * from admins where username = ?", [username])
    else:
        rows = _rows(db, "select * from admins where id = ?", [admin_id])
    return rows[0] if rows else None


def admin_count(db):
    return db["admins"].count


def save_admin(db, username, password_hash):
    """Create the admin, or set a new password (which also ends their sessions)."""
    with writing(db):
        existing = get_admin(db, username=username)
        if existing:
            db["admins"].update(
                existing["id"],
                {
                    "password_hash": password_hash,
                    "session_version": existing["session_version"] + 1,
                },
            )
            return existing["id"]
        return (
            db["admins"]
            .insert(
                {
                    "username": username,
                    "password_hash": password_hash,
                    "created_at": now(),
                    "session_version": 1,
                }
            )
            .last_pk
        )


def end_sessions(db, admin_id):
    with writing(db):
        db.execute(
            "update admins set session_version = session_version + 1 where id = ?", [admin_id]
        )
