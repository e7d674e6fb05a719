"""The one owner of the SQLite database: connection, schema, migrations, queries.

Views, the CLI and the Pelican plugin call the named functions below and
contain no SQL. The schema grows only through ``migrations`` (sqlite-utils
``Migrations``: applied in order, recorded, never drop-and-recreate).

Durability: WAL journal with ``synchronous=FULL``. In WAL mode FULL syncs the
log on every commit, so a comment acknowledged to a reader survives a power
cut, not only a crash of the process; NORMAL would be faster but may lose the
last commits on power loss.

A full disk. A write that fails for want of space is rolled back (as SQLite
asks after SQLITE_FULL or an I/O error: it may or may not have rolled back
itself), raises ``DiskFull`` where the caller can answer "try again later",
and the connection that saw it is discarded (``get_db`` opens a new one).
Meanwhile the WAL may have grown (4 MB when it was first seen: checkpoints
cannot copy it into a database file that cannot grow), and SQLite never
shrinks it by itself, so it would go on holding the space the operator freed:
the first write that succeeds afterwards, in each process that saw the
failure, runs ``PRAGMA wal_checkpoint(TRUNCATE)``, retried at the next write
until it completes.
"""

import errno
import fcntl
import hashlib
import hmac
import logging
import os
import re
import sqlite3
import threading
from collections import OrderedDict
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from comments_service import render
from comments_service.moderation import (
    ACTIONS,
    ADDRESS_RULE,
    RULES_MAX,
    STATUSES,
    Changed,
    NoSuchComment,
    NotAllowed,
    Outcome,
    Refused,
    Report,
    Unseen,
    action_moving,
    buttons,
)

IP_HASH_DAYS = 30
# How long a writer waits for another one's transaction to end.
BUSY_TIMEOUT_SECONDS = 10
# SQLite's page cache, per connection, in KiB. Every gunicorn thread keeps a
# connection, and each cache fills up to its size as the database grows: at
# SQLite's default (2,000 KiB) 16 of them may hold 32 MB (in a 120 s soak,
# bench goal 6, the workers grew 18 MB with 256 KiB, 23 MB with the default).
# The file's pages stay in the kernel's page cache, shared by every process.
PAGE_CACHE_KIB = 256
# The WAL truncation after a full disk waits for readers this long at most
# (it holds the writers' lock meanwhile), then tries again at the next write.
CHECKPOINT_WAIT_SECONDS = 1

log = logging.getLogger(__name__)

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
def m006_comment_versions(db):
    # A moderation request names the version of each comment the admin saw,
    # and is refused if the comment changed since (``moderate``). Every change
    # records a decision, so 1 + its decisions is at least any version the
    # comment ever had: a re-imported id never matches a stale page.
    db["comments"].add_column("version", int, not_null_default=1)
    db.execute(
        "update comments set version = 1 + "
        "(select count(*) from decisions where decisions.comment_id = comments.id)"
    )


# What the admin's search looks in: the reader's name, email and text.
SEARCHED_COLUMNS = ("author_name", "email", "body")


@migrations()
def m007_queue_pages_and_search(db):
    # The admin's search: an FTS5 index over the name, email and text, kept in
    # step by triggers. Porter stemming, so "mentor" finds "mentors"; the
    # index holds no copy of the text (content=comments), rowid is the id.
    db["comments"].enable_fts(SEARCHED_COLUMNS, tokenize="porter")
    # sqlite-utils' create_triggers re-indexes a comment on every UPDATE: every
    # decision (status), and the daily purge of address hashes, would rewrite
    # the index of text that did not change. Only a change of a searched
    # column does here ("UPDATE OF"). Deleting from an external-content index
    # needs the old values, hence the 'delete' rows.
    columns = ", ".join(SEARCHED_COLUMNS)
    old = ", ".join(f"old.{c}" for c in SEARCHED_COLUMNS)
    new = ", ".join(f"new.{c}" for c in SEARCHED_COLUMNS)
    for sql in (
        f"create trigger comments_ai after insert on comments begin "
        f"insert into comments_fts (rowid, {columns}) values (new.id, {new}); end",
        f"create trigger comments_ad after delete on comments begin "
        f"insert into comments_fts (comments_fts, rowid, {columns}) "
        f"values ('delete', old.id, {old}); end",
        f"create trigger comments_au after update of {columns} on comments begin "
        f"insert into comments_fts (comments_fts, rowid, {columns}) "
        f"values ('delete', old.id, {old}); "
        f"insert into comments_fts (rowid, {columns}) values (new.id, {new}); end",
    ):
        db.execute(sql)
    # forget_old_ip_hashes runs at every visit of the queue: without an index
    # it read the whole table each time; this one holds only the comments
    # that still have a hash (the last 30 days').
    db.execute(
        "create index idx_comments_ip_hash_created_at on comments (created_at) "
        "where ip_hash is not null"
    )


@migrations()
def m008_submission_keys(db):
    # A retried submission (the reader's connection dropped after we stored
    # it) is recognised by its key and acknowledged without a second row:
    # see ``comments_service/submission_keys.py``. Older rows keep NULL, which
    # a UNIQUE index allows any number of times.
    db["comments"].add_column("submission_key", str)
    db["comments"].create_index(["submission_key"], unique=True)


@migrations()
def m009_comment_import_source(db):
    # Comments brought from WordPress or Disqus remember the system and their
    # id there, so that running an import again adds nothing twice; the unique
    # index is the guarantee, also against two imports at once. Comments of
    # our own have NULLs, which a unique index never counts as equal.
    db["comments"].add_column("import_source", str)
    db["comments"].add_column("import_id", str)
    db["comments"].create_index(["import_source", "import_id"], unique=True)


@migrations()
def m010_outbox(db):
    # Every email is first a row here, written in the transaction of what
    # caused it, then sent by a background sender (``comments_service.outbox``).
    db["outbox"].create(
        {
            "id": int,
            "kind": str,  # what sent it, e.g. "new-comment": for lists and later senders
            "recipient": str,
            "subject": str,
            "body": str,
            "headers": str,  # JSON object of extra header fields
            # The left part of the Message-ID, fixed when the row is written,
            # so that every retry of one mail carries the same Message-ID.
            "message_key": str,
            "created_at": str,
            "attempts": int,
            "next_attempt_at": str,
            "sent_at": str,
            "failed_at": str,  # given up (too old): shown on the admin pages
            "last_error": str,
            "claimed_by": str,  # the claim of the sender sending it now, and until when
            "claimed_until": str,
        },
        pk="id",
        not_null={"recipient", "subject", "body", "message_key", "created_at", "next_attempt_at"},
        defaults={"attempts": 0, "headers": "{}", "kind": "email"},
    )
    # What is still to send, in the order it is due: the senders' one query.
    db.execute(
        "create index outbox_due on outbox (next_attempt_at, id) "
        "where sent_at is null and failed_at is null"
    )
    db["outbox"].create_index(["message_key"], unique=True)


@migrations()
def m011_moderation_rules(db):
    # The admin's intake rules (``comments_service/rules.py``). AUTOINCREMENT:
    # a reason such as "held: word 'casino' (rule 12)" must never come to name
    # another rule after rule 12 is deleted. One rule per kind and pattern.
    db.execute(
        "create table rules ("
        "id integer primary key autoincrement, "
        "kind text not null, "
        "pattern text not null, "
        "outcome text not null, "
        "note text not null default '', "
        "created_by text not null, "
        "created_at text not null, "
        "unique (kind, pattern))"
    )
    # Changed with every change of the rules, in the same transaction: each
    # process (gunicorn worker) compares it with the one its compiled rules
    # were made from, one read of one row per comment. Random rather than a
    # counter, so that a restored backup cannot bring back a value a worker
    # has already seen with other rules.
    db.execute(
        "create table rules_state (id integer primary key check (id = 1), stamp text not null)"
    )
    db.execute("insert into rules_state (id, stamp) values (1, 'initial')")


@migrations()
def m012_subscriptions(db):
    # Readers' email notifications (``comments_service/subscriptions.py``).
    # AUTOINCREMENT: the links of an email name these ids, and must never
    # reach a row made after theirs was deleted.
    #
    # One row per address (normalised: trimmed, lower case), confirmed once
    # (double opt-in); nothing but the confirmation email is sent to it before.
    db.execute(
        "create table subscribers ("
        "id integer primary key autoincrement, "
        "email text not null unique, "
        "created_at text not null, "
        "confirmation_sent_at text, "  # the last confirmation email: one a day at most
        "confirmed_at text)"
    )
    # Unconfirmed addresses are forgotten 7 days after their last confirmation email.
    db.execute(
        "create index subscribers_unconfirmed on subscribers (confirmation_sent_at) "
        "where confirmed_at is null"
    )
    # What an address asked for: ``post`` (new comments on ``post_slug``),
    # ``replies`` (new replies in the thread of ``comment_id``, a top-level
    # comment) or ``live`` (``comment_id`` approved: once).
    db.execute(
        "create table subscriptions ("
        "id integer primary key autoincrement, "
        "subscriber_id integer not null references subscribers (id) on delete cascade, "
        "kind text not null, "
        "post_slug text not null, "
        "comment_id integer, "
        "created_at text not null)"
    )
    db.execute(
        "create unique index subscriptions_once on subscriptions "
        "(subscriber_id, kind, post_slug, ifnull(comment_id, 0))"
    )
    db.execute(
        "create index subscriptions_of_post on subscriptions (post_slug, kind, subscriber_id)"
    )
    db.execute("create index subscriptions_of_comment on subscriptions (comment_id, kind)")
    # One row per comment whose approval notifies its subscribers, written in
    # the approving transaction and expanded into emails by the outbox's
    # senders, a batch of subscribers at a time after ``after_subscriber``.
    # Kept once done (``done_at``): a comment approved again notifies no one twice.
    db.execute(
        "create table notification_jobs ("
        "id integer primary key, "
        "comment_id integer not null unique, "
        "created_at text not null, "
        "after_subscriber integer not null default 0, "
        "done_at text)"
    )
    db.execute("create index notification_jobs_due on notification_jobs (id) where done_at is null")
    # A person's comments, found by their address: the privacy commands, and
    # the "previously approved commenter" rule at each submission.
    db.execute("create index comments_email on comments (lower(email))")


@migrations()
def m013_stored_comment_html(db):
    # Every comment's HTML, rendered once when it is stored and shown from
    # here (render.py's docstring), with the renderer that made it: a copy
    # another renderer made, or none, is stale, never shown, and stored again
    # by ``rerender_stale`` (``flask comments rerender``).
    db["comments"].add_column("body_html", str)
    db["comments"].add_column("body_html_renderer", str)
    # A change of the text that does not store its HTML too (the previous
    # version of the service, still running while an upgrade migrates; a
    # hand-made UPDATE) makes the stored HTML stale: it never shows old text.
    db.execute(
        "create trigger comments_body_html_stale after update of body on comments "
        "when new.body is not old.body and new.body_html is old.body_html "
        "and new.body_html_renderer is old.body_html_renderer begin "
        "update comments set body_html = null, body_html_renderer = null where id = new.id; end"
    )
    # The comments pages and the queue show are rendered now, under the
    # writers' lock the migration holds (100,000 comments of 216 characters
    # on average: 16 s of CPU). Spam and trash, the pile a bot can grow
    # without bound, are left to ``rerender_stale``, which renders outside
    # that lock; until then their admin views render each comment they show.
    after = 0
    while rows := _stale_html(db, after, RERENDER_BATCH, statuses=("approved", "pending")):
        db.conn.executemany(_STORE_HTML, _rendered(rows))
        after = rows[-1]["id"]


# The version of a comment just stored (m006): what the links of the admin's
# email about it are bound to (notify.py).
FIRST_VERSION = 1


def now():
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(path, migrate=True, flush_each_commit=True):
    """Open the database at ``path``; with ``migrate``, create it or bring its schema
    up to date first (done once at start-up; per-request connections skip it).

    ``flush_each_commit=False``: this connection's commits do not wait for the
    disk (``synchronous=NORMAL``: a power cut may lose its last commits, a
    crash of the process does not). For the email sender's bookkeeping, whose
    loss costs at most an email sent twice, and which must not queue an fsync
    per email beside the readers' comments."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Readers' emails and the admins' password hashes: the owner's eyes only.
    # Created here rather than by SQLite (which honours the umask, often 022);
    # SQLite gives the -wal and -shm files the database file's mode.
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
    db = Database(conn)
    db.execute(f"PRAGMA synchronous={'FULL' if flush_each_commit else 'NORMAL'}")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
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

    A failed write (a failed COMMIT included) is rolled back; on a full disk
    it raises ``DiskFull`` (see the module docstring).
    """
    callbacks = _AfterCommit()
    try:
        with writers_lock(_write_lock_path(db)):
            db.after_commit_callbacks = callbacks
            try:
                db.conn.execute("BEGIN IMMEDIATE")
                yield db
                db.conn.commit()
            except BaseException:
                callbacks.clear()  # rolled back: nothing to announce
                _roll_back(db)
                raise
            finally:
                db.after_commit_callbacks = None
            _truncate_wal_after_full_disk(db)
    except Exception as exc:
        if not disk_is_full(exc):
            raise
        db.broken = True
        with _disk_was_full_lock:
            _disk_was_full.add(_write_lock_path(db))
        if isinstance(exc, DiskFull):
            raise
        raise DiskFull(str(exc)) from exc
    for callback in callbacks:
        callback()


class _AfterCommit(list):
    """The callbacks of one transaction (``after_commit``), and the keys given."""

    def __init__(self):
        super().__init__()
        self.keys = set()


class DiskFull(Exception):
    """The database's disk is full: the write was rolled back, nothing of it kept."""


def disk_is_full(exc):
    """True for ``DiskFull``, SQLite's "database or disk is full" and the system's ENOSPC."""
    if isinstance(exc, DiskFull):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _roll_back(db):
    # SQLite may already have rolled back (after SQLITE_FULL, SQLITE_IOERR...);
    # then this does nothing. A connection that cannot roll back is unusable.
    try:
        db.conn.rollback()
    except sqlite3.Error:
        db.broken = True
    if db.conn.in_transaction:
        db.broken = True


# Databases (by their write-lock path) this process failed to write for want
# of space, whose WAL has not been truncated since.
_disk_was_full = set()
_disk_was_full_lock = threading.Lock()


def _truncate_wal_after_full_disk(db):
    """Give the WAL's space back once a write succeeds again (module docstring).

    Runs after a commit, under the writers' lock: the comment is already on
    disk, so a checkpoint that fails only waits for the next write."""
    path = _write_lock_path(db)
    if path not in _disk_was_full:
        return
    try:
        db.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_SECONDS * 1000}")
        try:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    except sqlite3.Error:  # the disk is still too full to copy the WAL in
        log.warning("The WAL could not be truncated yet; trying again at the next write")
        return
    if not busy:
        with _disk_was_full_lock:
            _disk_was_full.discard(path)


def after_commit(db, callback, key=None):
    """Call ``callback()`` once the ``writing`` transaction in progress has
    committed (after the writers' lock is released); never if it rolls back.
    With a ``key``, only the first callback given that key in the transaction.

    For what must only happen to committed data, such as waking the email
    sender (``outbox.enqueue``): woken earlier, it could look before the row
    is visible and sleep until its next poll."""
    callbacks = getattr(db, "after_commit_callbacks", None)
    if callbacks is None:
        raise RuntimeError("after_commit outside a db.writing() transaction")
    if key is not None:
        if key in callbacks.keys:
            return
        callbacks.keys.add(key)
    callbacks.append(callback)


@contextmanager
def writers_lock(lock_path):
    """The exclusive flock every writer of one database takes turns on."""
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock_fd)  # closing releases the flock


def path_of(db):
    """The file of the database ``db`` is connected to."""
    return _write_lock_path(db).removesuffix(".write-lock")


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
    if path in kept and getattr(kept[path], "broken", False):
        # A write failed in a way that may have left it unusable (see writing).
        with suppress(sqlite3.Error):
            kept.pop(path).close()
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


class Submission(NamedTuple):
    comment_id: int
    is_new: bool  # False: a retry of a submission already stored


class GroupCommit:
    """Commit the concurrent inserts of a process together: one fsync for many.

    With ``synchronous=FULL`` every commit waits for the disk, and one writer
    at a time holds the lock meanwhile: that wait, not the CPU, capped comment
    intake. The first thread to arrive leads: it commits everything queued
    so far in one transaction while the others wait, and loops until the queue
    is empty. Every comment is still on disk before its reader is answered.

    A comment whose submission key is already stored (committed earlier, by
    any process, or earlier in the same batch) is not inserted again: the
    UNIQUE index and ``on conflict do nothing`` decide, under the writers'
    lock, and the stored comment's id is returned.

    Leading cannot wedge: a leader that stops abnormally gives up the lead,
    and a waiting thread whose comment is still queued takes it over.
    """

    # How often a waiting thread checks that someone leads (only a leader that
    # died mid-way makes this matter: normally the leader wakes it at once).
    LEADER_CHECK_SECONDS = 0.5

    def __init__(self):
        self._mutex = threading.Lock()
        self._queue = []
        self._leading = False

    def insert(self, db, row, earlier_keys=(), on_stored=None):
        """Insert the comment ``row`` and return a ``Submission`` once it is committed.

        ``earlier_keys``: other keys under which the same submission may be
        stored already (``submission_keys.keys_for``). ``on_stored(db, id)``,
        if given, runs right after a new comment's insert (not for a retry),
        in the same transaction: what it writes (the admin's email in the
        outbox) is committed with the comment or not at all, at no extra
        disk flush."""
        slot = {
            "row": row,
            "earlier_keys": list(earlier_keys),
            "on_stored": on_stored,
            "done": threading.Event(),
        }
        with self._mutex:
            self._queue.append(slot)
        while not slot["done"].is_set():
            with self._mutex:
                lead = not self._leading
                self._leading = True
            if lead:
                self._commit_all(db)
            else:
                slot["done"].wait(self.LEADER_CHECK_SECONDS)
        if "error" in slot:
            error = slot["error"]
            # A new exception per reader: one object raised in many threads
            # would pile every thread's traceback onto one.
            if isinstance(error, DiskFull):
                raise DiskFull(str(error)) from error
            raise error
        return slot["submission"]

    def _commit_all(self, db):
        batch = []
        try:
            while True:
                with self._mutex:
                    batch, self._queue = self._queue, []
                    if not batch:
                        self._leading = False
                        return
                self._commit(db, batch)
        except BaseException as exc:  # the leader's thread is stopping: hand over
            for slot in batch:
                if not slot["done"].is_set():
                    slot["error"] = exc
                    slot["done"].set()
            with self._mutex:
                self._leading = False
            raise

    def _commit(self, db, batch):
        try:
            with writing(db):
                for slot in batch:
                    submission = _insert_comment(db, slot["row"], slot["earlier_keys"])
                    if submission.is_new and slot["on_stored"] is not None:
                        slot["on_stored"](db, submission.comment_id)
                    slot["submission"] = submission
        # Rows were validated before they got here; if the batch fails
        # anyway (disk full...), every reader in it gets the error.
        except BaseException as exc:
            for slot in batch:
                slot.pop("submission", None)  # rolled back with the rest
                slot["error"] = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            for slot in batch:
                slot["done"].set()


def _insert_comment(db, row, earlier_keys):
    key = row.get("submission_key")
    if earlier_keys:
        marks = ", ".join("?" for _ in earlier_keys)
        found = db.conn.execute(
            f"select id from comments where submission_key in ({marks})", earlier_keys
        ).fetchone()
        if found:
            return Submission(found[0], is_new=False)
    columns = list(row)
    cursor = db.conn.execute(
        f"insert into comments ({', '.join(columns)}) "
        f"values ({', '.join('?' for _ in columns)}) "
        "on conflict (submission_key) do nothing",
        [row[c] for c in columns],
    )
    if cursor.rowcount == 1:
        if row["status"] == "approved":
            # Approved at intake (a moderation rule): recorded as a decision,
            # so that publishers catch up on its post, and announced as any
            # approval is.
            _record(
                db, cursor.lastrowid, "approved", row["decided_by"], row["reason"], row["post_slug"]
            )
            queue_notifications(db, cursor.lastrowid)
        return Submission(cursor.lastrowid, is_new=True)
    found = db.conn.execute("select id from comments where submission_key = ?", [key])
    return Submission(found.fetchone()[0], is_new=False)


_group_commits = {}
_group_commits_lock = threading.Lock()


def _group_commit_for(db):
    path = _write_lock_path(db)
    with _group_commits_lock:
        return _group_commits.setdefault(path, GroupCommit())


def add_submission(
    db,
    *,
    submission_keys,
    post_slug,
    author_name,
    body,
    email="",
    website="",
    parent_id=None,
    reason=None,
    ip_hash=None,
    status="pending",
    decided_by=None,
    on_stored=None,
):
    """Queue a reader's comment once, however often it is submitted.

    ``submission_keys``: the key to store it under, then any earlier keys of
    the same submission (``submission_keys.keys_for``); empty for none.
    ``status`` "approved" (a rule approved it: ``decided_by`` names the rule)
    records the decision and queues its notifications in the same transaction.
    ``on_stored(db, comment_id)``: written in the comment's transaction, for a
    new comment only (``GroupCommit.insert``), e.g. ``notify.new_comment_email``.
    Returns a ``Submission`` (committed, on disk); raises ``DiskFull``."""
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
        "decided_at": now() if decided_by else None,
        "decided_by": decided_by,
        "reason": reason,
        "ip_hash": ip_hash,
        "submission_key": submission_keys[0] if submission_keys else None,
        "version": FIRST_VERSION,
    }
    # Rendered here, before the group commit takes the writers' lock.
    row = _with_html(row)
    return _group_commit_for(db).insert(db, row, submission_keys[1:], on_stored)


def add_pending_comment(db, **comment):
    """Queue a comment that carries no submission key; return its id."""
    return add_submission(db, submission_keys=(), **comment).comment_id


def get_comment(db, comment_id):
    rows = _rows(db, "select * from comments where id = ?", [comment_id])
    return rows[0] if rows else None


# --- stored HTML (render.py's docstring) ---------------------------------
# Every write of a comment's text stores its HTML too, rendered before the
# writers' lock is taken: rendering (up to tens of milliseconds for a hostile
# comment) never holds up the other writers.


def _with_html(row):
    """``row`` with the HTML of its ``body``, and the renderer that made it."""
    html, renderer = render.stored_html(row["body"])
    return {**row, "body_html": html, "body_html_renderer": renderer}


# Comments re-rendered per write transaction by ``rerender_stale``: each
# batch is rendered first, then stored in one short transaction.
RERENDER_BATCH = 200
# Only if the text is still the one rendered: an edit meanwhile stored its own.
_STORE_HTML = "update comments set body_html = ?, body_html_renderer = ? where id = ? and body = ?"


def _stale_html(db, after_id, limit, statuses=STATUSES):
    """Comments after ``after_id``, in ``statuses``, whose stored HTML this
    renderer did not make (or none): ``limit`` of them, by id."""
    marks = ", ".join("?" for _ in statuses)
    # "+status": not by the (status, created_at) index, which SQLite would
    # otherwise choose, and then sort every comment of those statuses for
    # each batch; by id, each batch starts where the last one stopped.
    return _rows(
        db,
        f"select id, body from comments where id > ? and +status in ({marks}) "
        "and body_html_renderer is not ? order by id limit ?",
        [after_id, *statuses, render.RENDERER_VERSION, limit],
    )


def _rendered(rows):
    """``_STORE_HTML`` parameters for ``rows`` (id, body), rendered now."""
    return [(*render.stored_html(row["body"]), row["id"], row["body"]) for row in rows]


def rerender_stale(db, *, batch=RERENDER_BATCH):
    """Store the HTML of every comment whose stored copy another renderer made
    (or none): after a change of ``render.py`` or of its dependencies.

    Batched, each batch rendered outside the writers' lock and stored in a
    short transaction of its own, so comments keep arriving meanwhile; stopped
    half-way, it loses at most one batch, and the next run goes on from what
    is still stale. Returns how many comments it stored."""
    stored, after = 0, 0
    while rows := _stale_html(db, after, batch):
        rendered = _rendered(rows)
        with writing(db):
            stored += db.conn.executemany(_STORE_HTML, rendered).rowcount
        after = rows[-1]["id"]
    return stored


def stale_html_count(db):
    """How many comments' stored HTML this renderer did not make."""
    return db.execute(
        "select count(*) from comments where body_html_renderer is not ?",
        [render.RENDERER_VERSION],
    ).fetchone()[0]


def comments_with_status(db, status):
    """Comments in one status; the pending queue oldest first, the others newest first."""
    order = "asc" if status == "pending" else "desc"
    return _rows(
        db,
        f"select * from comments where status = ? order by created_at {order}, id {order}",
        [status],
    )


PAGE_SIZE = 50


@dataclass(frozen=True)
class Position:
    """Where a comment sits in every status view's order: (created_at, id)."""

    created_at: str
    id: int


@dataclass
class Page:
    """One page of a status view, and where the pages before and after it start.

    ``previous`` and ``next`` are None when there is no such page; otherwise
    pass ``previous`` as ``before=`` and ``next`` as ``after=`` to ``comments_page``.
    """

    comments: list
    previous: Position | None = None
    next: Position | None = None


def search_query(db, text):
    """``text`` as an FTS5 query that matches its words literally, or "" if it has none.

    Quotes, ``*``, ``NEAR``, ``OR``, parentheses and column names typed by the
    admin are words to find, never query syntax (sqlite-utils' ``quote_fts``
    quotes each one); control characters, which it does not handle (a NUL
    ends the quoted string early), are spaces.
    """
    text = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)
    return db.quote_fts(text)


def comments_page(
    db,
    status,
    *,
    newest_first=True,
    post_slug=None,
    search=None,
    after=None,
    before=None,
    size=None,
):
    """One page of the comments in ``status``, at most ``size`` (PAGE_SIZE) of them.

    Ordered by (created_at, id), newest or oldest first; optionally only one
    post's, or only those whose name, email or text has every word of
    ``search``. Keyset pagination: a page starts right after the ``after``
    position (or ends right before ``before``), which the indexes on
    (status, created_at) and (post_slug, status, created_at, id) reach
    directly, so the last page costs what the first does (OFFSET would read
    every comment before it), and a decision taken meanwhile shifts nothing.
    """
    size = size or PAGE_SIZE
    where, params = ["status = ?"], [status]
    if post_slug is not None:
        where.append("post_slug = ?")
        params.append(post_slug)
    if search is not None:
        query = search_query(db, search)
        if not query:
            return Page([])
        where.append("id in (select rowid from comments_fts where comments_fts match ?)")
        params.append(query)
    forward = before is None
    position = after if forward else before
    # Walking back to the previous page reads the other way, then turns round.
    descending = newest_first == forward

    def read(position, descending, limit):
        conditions = list(where)
        values = list(params)
        if position is not None:
            conditions.append(f"(created_at, id) {'<' if descending else '>'} (?, ?)")
            values += [position.created_at, position.id]
        order = "desc" if descending else "asc"
        return _rows(
            db,
            f"select * from comments where {' and '.join(conditions)} "
            f"order by created_at {order}, id {order} limit ?",
            [*values, limit],
        )

    rows = read(position, descending, size + 1)
    more = len(rows) > size
    rows = rows[:size]
    if not forward:
        if not more:
            # Nothing before it: this is the first page, shown full.
            return comments_page(
                db, status, newest_first=newest_first, post_slug=post_slug, search=search, size=size
            )
        rows.reverse()

    def at(row):
        return Position(row["created_at"], row["id"])

    # The page's edges: where the next page starts, and whether anything lies
    # before it (an empty page after the last decision still links back).
    first = at(rows[0]) if rows else position
    last = at(rows[-1]) if rows else position
    if forward:
        has_previous = position is not None and bool(read(first, not newest_first, 1))
        has_next = more
    else:
        has_previous = True
        has_next = bool(read(last, newest_first, 1))
    return Page(
        rows,
        previous=first if has_previous else None,
        next=last if has_next else None,
    )


def counts_by_status(db):
    counts = dict.fromkeys(STATUSES, 0)
    for row in db.query("select status, count(*) as n from comments group by status"):
        counts[row["status"]] = row["n"]
    return counts


# What a page shows of a comment (``render.display_comment``).
_SHOWN_COLUMNS = (
    "id, post_slug, parent_id, author_name, website, body, body_html, body_html_renderer, "
    "is_author, created_at"
)


def approved_comments(db):
    """Every approved comment of the site, oldest first: one query for a whole build."""
    return _rows(
        db,
        f"select {_SHOWN_COLUMNS} from comments where status = 'approved' order by created_at, id",
    )


def approved_comments_for_post(db, post_slug):
    """One post's approved comments, oldest first (the warm publisher's query)."""
    return _rows(
        db,
        f"select {_SHOWN_COLUMNS} from comments "
        "where status = 'approved' and post_slug = ? order by created_at, id",
        [post_slug],
    )


# The comments a post page shows: approved top-level comments, and approved
# replies to those (the same rule as ``render.comment_threads``). ``c`` is the
# comment, ``p`` its parent (left-joined).
_IS_SHOWN = (
    "c.status = 'approved' and (c.parent_id is null or (p.status = 'approved' "
    "and p.parent_id is null and p.post_slug = c.post_slug))"
)
_SHOWN = (
    "select c.post_slug as slug, count(*) as shown from comments c "
    f"left join comments p on p.id = c.parent_id where {_IS_SHOWN} {{where}} "
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


def is_shown(db, comment_id):
    """True if the comment is on its post's page (``_IS_SHOWN``): only such a
    comment's text may leave the service, in a page, a feed or an email."""
    return (
        db.execute(
            "select 1 from comments c left join comments p on p.id = c.parent_id "
            f"where c.id = ? and {_IS_SHOWN}",
            [comment_id],
        ).fetchone()
        is not None
    )


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
    """Record a decision. ``post_slug``: the post whose public pages it changes,
    or None when readers see no difference (publishers re-render, and the
    admin's "site is behind" banner counts, only the posts named here)."""
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


# Told the database's path after a transaction that queued notifications
# commits: the outbox adds its senders' wake-up here (``outbox.py``), which
# this module, below it, cannot import.
notification_listeners = []


def queue_notifications(db, comment_id):
    """Announce a comment's approval to its subscribers, inside the approving
    transaction: one row, whatever their number; the outbox's senders expand
    it into emails after the commit (``subscriptions.expand_due``). A comment
    announced before (approved, unapproved, approved again) is not announced twice."""
    cursor = db.conn.execute(
        "insert into notification_jobs (comment_id, created_at) values (?, ?) "
        "on conflict (comment_id) do nothing",
        [comment_id, now()],
    )
    if cursor.rowcount:
        path = db.execute("PRAGMA database_list").fetchone()[2]
        after_commit(
            db,
            lambda: [listener(path) for listener in notification_listeners],
            key=("notification-listeners", path),
        )


def _forget_notifications_of(db, comment_id):
    """A comment erased: its announcement, and what was asked about it
    (replies in its thread, its approval), go with it."""
    db.execute("delete from notification_jobs where comment_id = ?", [comment_id])
    db.execute(
        "delete from subscriptions where comment_id = ? and kind in ('replies', 'live')",
        [comment_id],
    )


def _last_decision(db, comment_id):
    rows = _rows(
        db, "select * from decisions where comment_id = ? order by id desc limit 1", [comment_id]
    )
    return rows[0] if rows else None


def _check_seen(db, comment_id, comment, seen):
    """Raise ``Refused`` unless ``comment`` is still the version the admin saw.

    ``seen`` None: the caller saw no version (the console names ids only)."""
    if comment is None:
        last = _last_decision(db, comment_id)
        raise NoSuchComment(comment_id) if last is None else Changed(last)
    if seen is not None and seen != comment["version"]:
        raise Changed(_last_decision(db, comment_id))


def _move(db, comment, status, *, by, reason):
    """Set one comment's status; returns the posts whose pages change."""
    db.execute(
        "update comments set status = ?, decided_at = ?, decided_by = ?, reason = ?, "
        "version = version + 1 where id = ?",
        [status, now(), by, reason, comment["id"]],
    )
    public = "approved" in (status, comment["status"])
    _record(db, comment["id"], status, by, reason, comment["post_slug"] if public else None)
    if status == "approved" and comment["status"] != "approved":
        queue_notifications(db, comment["id"])
    return {comment["post_slug"]} if public else set()


def _erase(db, comment, *, by, erased):
    """Delete one comment and its replies; returns the posts whose pages change."""
    doomed = [comment] + _rows(db, "select * from comments where parent_id = ?", [comment["id"]])
    public = comment["status"] == "approved"  # replies show only under an approved parent
    for row in doomed:
        db["comments"].delete(row["id"])
        _forget_notifications_of(db, row["id"])
        # Keep the fact of the decision, not the erased person's data.
        slug = comment["post_slug"] if public else None
        _record(db, row["id"], "deleted", by, "deleted permanently", slug)
        erased[row["id"]] = row["author_name"]
    return {comment["post_slug"]} if public else set()


def _decide(db, seen, choose_action, *, by, reason, seen_required):
    """The one loop every moderation decision goes through, inside the writers' lock:
    read each comment, refuse it (with the reason) if it changed since ``seen``
    or its status does not allow the action, else apply the action."""
    report = Report()
    with writing(db):
        erased = {}
        for comment_id, seen_version in seen.items():
            comment = get_comment(db, comment_id)
            if comment is None and comment_id in erased:
                # A reply erased with its parent a moment ago, in this request.
                report.outcomes.append(Outcome(comment_id, erased[comment_id]))
                continue
            outcome = Outcome(comment_id, comment["author_name"] if comment else "")
            report.outcomes.append(outcome)
            try:
                _check_seen(db, comment_id, comment, seen_version)
                if seen_version is None and seen_required:
                    raise Unseen()
                action = choose_action(comment)
            # Refused: this comment stays as it is; the others go on.
            except Refused as refused:
                outcome.refused = refused
                continue
            if action.to is None:
                report.changed_posts |= _erase(db, comment, by=by, erased=erased)
            else:
                why = reason or action.done
                report.changed_posts |= _move(db, comment, action.to, by=by, reason=why)
    return report


def moderate(db, action_name, seen, *, by, reason=None, seen_required=True):
    """Apply one action of ``moderation.ACTIONS`` to comments, recording who, when and why.

    ``seen`` maps each comment id to the version the admin saw; a comment
    that changed since, or whose status does not allow the action, is left
    as it is. With ``seen_required=False`` (the console) a version of None
    means "as it is now". Returns a ``moderation.Report``.
    """
    action = ACTIONS[action_name]

    def allowed(comment):
        if action not in buttons(comment["status"]):
            raise NotAllowed(action, comment["status"])
        return action

    return _decide(db, seen, allowed, by=by, reason=reason, seen_required=seen_required)


def set_status(db, comment_ids, status, *, by, reason):
    """Move comments to ``status`` by the action the table allows from each one's status.

    For callers that name a status rather than an action (tests, benchmarks);
    returns a ``moderation.Report``."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")

    def moving(comment):
        action = action_moving(comment["status"], status)
        if action is None:
            some = next(a for a in ACTIONS.values() if a.to == status)
            raise NotAllowed(some, comment["status"])
        return action

    seen = dict.fromkeys(comment_ids)
    return _decide(db, seen, moving, by=by, reason=reason, seen_required=False)


def delete_permanently(db, comment_ids, *, by):
    """Erase comments set aside as spam or trash, and their replies; returns a Report."""
    return moderate(db, "delete", dict.fromkeys(comment_ids), by=by, seen_required=False)


def edit_comment(db, comment_id, *, author_name, body, by, seen):
    """Change a comment's name or text, if it is still the version the admin saw.

    Returns a Report; its ``changed_posts`` has the post if readers see the comment."""
    report = Report()
    html, renderer = render.stored_html(body)  # before the writers' lock
    with writing(db):
        comment = get_comment(db, comment_id)
        outcome = Outcome(comment_id, comment["author_name"] if comment else "")
        report.outcomes.append(outcome)
        try:
            _check_seen(db, comment_id, comment, seen)
            if seen is None:
                raise Unseen()
        except Refused as refused:
            outcome.refused = refused
            return report
        db.execute(
            "update comments set author_name = ?, body = ?, body_html = ?, "
            "body_html_renderer = ?, version = version + 1 where id = ?",
            [author_name, body, html, renderer, comment_id],
        )
        public = comment["status"] == "approved"
        slug = comment["post_slug"] if public else None
        _record(db, comment_id, "edit", by, "edited by the admin", slug)
        if public:
            report.changed_posts.add(comment["post_slug"])
    return report


def add_author_reply(db, parent_id, *, author_name, body, by):
    """Publish the author's reply to an approved comment at once.

    Replies are one level deep: a reply to a reply answers its parent. Refused
    if that comment is no longer approved. Returns a Report with ``new_id``."""
    report = Report()
    html, renderer = render.stored_html(body)  # before the writers' lock
    with writing(db):
        parent = get_comment(db, parent_id)
        top = get_comment(db, parent["parent_id"]) if parent and parent["parent_id"] else parent
        top_id = parent["parent_id"] if parent and parent["parent_id"] else parent_id
        outcome = Outcome(top_id, top["author_name"] if top else "")
        report.outcomes.append(outcome)
        try:
            _check_seen(db, top_id, top, None)
            if top["status"] != "approved":
                raise Changed(_last_decision(db, top_id))
        except Refused as refused:
            outcome.refused = refused
            return report
        report.new_id = (
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
                    "body_html": html,
                    "body_html_renderer": renderer,
                }
            )
            .last_pk
        )
        _record(db, report.new_id, "approved", by, "reply by the author", top["post_slug"])
        queue_notifications(db, report.new_id)
        report.changed_posts.add(top["post_slug"])
    return report


def forget_old_ip_hashes(db, days=IP_HASH_DAYS):
    """Forget the senders' address hashes, the submission keys derived from
    them (``submission_keys``: only needed for minutes) and the address rules
    made from them, after ``days`` days."""
    cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    with writing(db):
        db.execute(
            "update comments set ip_hash = null, submission_key = null "
            "where (ip_hash is not null or submission_key is not null) and created_at < ?",
            [cutoff],
        )
        # An address rule holds a sender's hash: it is forgotten as the
        # comments' hashes are (addresses change hands; the promise is 30 days).
        forgotten = db.execute(
            "delete from rules where kind = ? and created_at < ?", [ADDRESS_RULE, cutoff]
        ).rowcount
        if forgotten:
            _rules_changed(db)


def decisions_for(db, comment_id):
    return _rows(db, "select * from decisions where comment_id = ? order by id", [comment_id])


# The version is this database's concurrency token (``moderate``), the submission
# key a retry detector, the HTML derived from the text by this renderer: none
# is data. Exports leave them out; imports give each row a new version and
# render its text again.
NOT_EXPORTED = {"version", "submission_key", "body_html", "body_html_renderer"}


def export_comments(db):
    """Every comment, without what is no part of it: the version (a concurrency
    token), the submission key (it only recognises a retry in the minutes
    after it was sent) and the stored HTML (rendered again on import)."""
    columns = [c for c in db["comments"].columns_dict if c not in NOT_EXPORTED]
    return _rows(db, f"select {', '.join(columns)} from comments order by id")


def import_comments(db, rows, *, by="console import"):
    """Insert exported comments, keeping ids; existing ids are replaced. Returns the count.

    Each is recorded as a decision: publishers catch up on the posts that
    have decisions (``posts_decided_since``). A replaced comment gets a new
    version, so an admin's page that showed the old one cannot act on it."""
    rows = [_with_html(row) for row in rows]  # whatever HTML the file had: ours
    with writing(db):
        versioned = []
        for row in rows:
            replaced = get_comment(db, row["id"])
            decided = db.execute(
                "select count(*) from decisions where comment_id = ?", [row["id"]]
            ).fetchone()[0]
            version = 1 + max(replaced["version"] if replaced else 0, decided)
            if replaced and replaced["post_slug"] != row["post_slug"]:
                _record(db, row["id"], "imported", by, "moved by an import", replaced["post_slug"])
            _record(db, row["id"], "imported", by, "imported", row["post_slug"])
            versioned.append({**row, "version": version})
        db["comments"].insert_all(versioned, pk="id", replace=True)
    return len(rows)


# The comment feeds: the comments pages show, the most recently changed first,
# ordered by each comment's latest decision (its approval, or a later edit or
# import), whose time is the entry's ``updated``. Decisions are never deleted
# and their ids grow with time, so the site's newest entries are found by
# reading decisions back from the newest, by primary key, until ``limit`` are
# found: a decision's re-render does not sort every approved comment.
_FEED_COLUMNS = (
    "c.id, c.post_slug, c.parent_id, c.author_name, c.website, c.body, c.body_html, "
    "c.body_html_renderer, c.is_author, c.created_at, d.at as updated_at"
)
_LATEST_DECISION = "(select max(l.id) from decisions l where l.comment_id = c.id)"
_FEED_OF_SITE = (
    f"select {_FEED_COLUMNS} from decisions d "
    # CROSS JOIN keeps decisions the outer loop (read newest first).
    "cross join comments c on c.id = d.comment_id "
    "left join comments p on p.id = c.parent_id "
    f"where d.id = {_LATEST_DECISION} and {_IS_SHOWN} "
    "order by d.id desc limit ?"
)
_FEED_OF_POST = (
    f"select {_FEED_COLUMNS} from comments c "
    "left join comments p on p.id = c.parent_id "
    f"join decisions d on d.id = {_LATEST_DECISION} "
    f"where c.post_slug = ? and {_IS_SHOWN} "
    "order by d.id desc limit ?"
)


def comments_for_feeds(db, limit=None, post_slug=None):
    """The comments readers see, of the site or of one post, the most recently
    approved or edited first (at most ``limit``), each with ``updated_at``."""
    limit = -1 if limit is None else limit  # SQLite: a negative limit is none
    if post_slug is None:
        return _rows(db, _FEED_OF_SITE, [limit])
    return _rows(db, _FEED_OF_POST, [post_slug, limit])


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
    rows = [_with_html(row) for row in rows]
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
                public = row["status"] == "approved"  # else readers see no difference
                slug = row["post_slug"] if public else None
                _record(db, cursor.lastrowid, "imported", by, row["reason"], slug)
            else:
                stored = imported_comment(db, row["import_source"], row["import_id"])
                results.append((stored["id"], False))
    return results


# --- moderation rules ---------------------------------------------------
# The admin's intake rules; ``comments_service/rules.py`` compiles and matches
# them, ``moderation.RULE_KINDS``/``RULE_OUTCOMES`` name their kinds and outcomes.


class RuleExists(Exception):
    """A rule of this kind and pattern exists already; ``rule`` is it."""

    def __init__(self, rule):
        super().__init__(rule["id"])
        self.rule = rule


class TooManyRules(Exception):
    """The rules are at their limit (``moderation.RULES_MAX``)."""


def rules_stamp(db):
    """A value that changes with every change of the rules (``m011_moderation_rules``)."""
    row = db.conn.execute("select stamp from rules_state where id = 1").fetchone()
    return row[0] if row else None


def all_rules(db):
    """Every rule, oldest first."""
    return _rows(db, "select * from rules order by id")


def _rule(db, kind, pattern):
    rows = _rows(db, "select * from rules where kind = ? and pattern = ?", [kind, pattern])
    return rows[0] if rows else None


def _rules_changed(db):
    db.execute("update rules_state set stamp = ? where id = 1", [os.urandom(8).hex()])


def add_rule(db, *, kind, pattern, outcome, note="", by):
    """Store a rule (``pattern`` already normalised by ``rules.normalise_pattern``);
    return its id. Raises ``RuleExists`` or ``TooManyRules``, checked under the
    writers' lock, so two admins adding at once cannot pass the limit."""
    with writing(db):
        existing = _rule(db, kind, pattern)
        if existing:
            raise RuleExists(existing)
        if db.execute("select count(*) from rules").fetchone()[0] >= RULES_MAX:
            raise TooManyRules(RULES_MAX)
        rule_id = (
            db["rules"]
            .insert(
                {
                    "kind": kind,
                    "pattern": pattern,
                    "outcome": outcome,
                    "note": note,
                    "created_by": by,
                    "created_at": now(),
                }
            )
            .last_pk
        )
        _rules_changed(db)
    return rule_id


def delete_rule(db, rule_id):
    """Delete a rule; return it, or None if there was none (deleted meanwhile)."""
    with writing(db):
        rows = _rows(db, "select * from rules where id = ?", [rule_id])
        if not rows:
            return None
        db.execute("delete from rules where id = ?", [rule_id])
        _rules_changed(db)
    return rows[0]


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


# --- outbox (emails; see comments_service/outbox.py) -------------------------
# Times are ISO 8601 strings in UTC, as ``now()`` writes them, so that they
# compare as text; the outbox module passes its clock's time in.

_DUE = "sent_at is null and failed_at is null"


def outbox_add(db, row):
    """Insert one email; inside the caller's transaction (``outbox.enqueue``)."""
    columns = list(row)
    cursor = db.conn.execute(
        f"insert into outbox ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        [row[c] for c in columns],
    )
    return cursor.lastrowid


def outbox_next_due(db):
    """When the next unsent email becomes due (its retry time, or its claim's
    end if a sender holds it), or None when nothing waits."""
    row = db.execute(
        f"select min(max(next_attempt_at, coalesce(claimed_until, ''))) from outbox where {_DUE}"
    ).fetchone()
    return row[0]


def outbox_claim(db, claim, *, now, until, limit):
    """Take up to ``limit`` emails that are due and unclaimed (or whose claim
    ran out: its sender died), for ``claim`` until ``until``; return them.

    One statement under the writers' lock: two senders (threads or
    processes) never take the same row."""
    due = outbox_next_due(db)
    if due is None or due > now:
        return []  # a read, so that an idle sender never takes the writers' lock
    with writing(db):
        rows = _rows(
            db,
            "update outbox set claimed_by = ?, claimed_until = ? where id in ("
            f"select id from outbox where {_DUE} and next_attempt_at <= ? "
            "and (claimed_until is null or claimed_until <= ?) "
            "order by next_attempt_at, id limit ?) returning *",
            [claim, until, now, now, limit],
        )
    return sorted(rows, key=lambda row: (row["next_attempt_at"], row["id"]))


def outbox_sent(db, row_id, *, now):
    """Mark an email sent (the SMTP server accepted it), whoever holds its claim."""
    with writing(db):
        db.execute(
            "update outbox set sent_at = ?, attempts = attempts + 1, last_error = null, "
            "claimed_by = null, claimed_until = null where id = ? and sent_at is null",
            [now, row_id],
        )


def outbox_failed(db, row_id, claim, *, error, retry_at, given_up_at=None):
    """Record a failed attempt: retry at ``retry_at``, or give up (``given_up_at``)."""
    with writing(db):
        db.execute(
            "update outbox set attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
            "failed_at = ?, claimed_by = null, claimed_until = null "
            "where id = ? and claimed_by = ? and sent_at is null",
            [error, retry_at, given_up_at, row_id, claim],
        )


def outbox_release(db, claim):
    """Give back the emails ``claim`` holds and has not sent (a sender stopping)."""
    with writing(db):
        db.execute(
            "update outbox set claimed_by = null, claimed_until = null "
            "where claimed_by = ? and sent_at is null",
            [claim],
        )


def outbox_purge(db, *, sent_before, failed_before):
    """Delete emails sent before ``sent_before`` and given up before ``failed_before``."""
    with writing(db):
        cursor = db.conn.execute(
            "delete from outbox where sent_at < ? or failed_at < ?", [sent_before, failed_before]
        )
    return cursor.rowcount


def outbox_summary(db):
    """What the admin pages say about email: waiting, retrying, given up, and why."""
    row = db.execute(
        f"select count(*), sum(attempts > 0), min(created_at) from outbox where {_DUE}"
    ).fetchone()
    failed = db.execute(
        "select count(*), (select last_error from outbox where failed_at is not null "
        "order by failed_at desc, id desc limit 1) from outbox where failed_at is not null"
    ).fetchone()
    retry_error = db.execute(
        f"select last_error from outbox where {_DUE} and last_error is not null "
        "order by id desc limit 1"
    ).fetchone()
    return {
        "waiting": row[0],
        "retrying": row[1] or 0,
        "oldest_waiting": row[2],
        "retry_error": retry_error[0] if retry_error else None,
        "failed": failed[0],
        "failed_error": failed[1],
    }


def outbox_rows(db, limit=100):
    """The newest emails, for ``flask outbox list``."""
    return _rows(db, "select * from outbox order by id desc limit ?", [limit])


# --- subscriptions (readers' email notifications; see subscriptions.py) ------
# Addresses are normalised by the caller (``subscriptions.normalised``); times
# are ISO 8601 strings in UTC, passed in, as for the outbox.


def request_subscriptions(db, email, wanted, *, now, resend_before):
    """Store what ``email`` asked for, inside the comment's transaction.

    ``wanted``: (kind, post_slug, comment_id) tuples; asking twice stores once.
    Returns ``(subscriber_id, send_confirmation)``: a confirmation email is due
    for an unconfirmed address whose last one was sent before ``resend_before``
    (at most one a day: the form must not let a stranger flood an inbox), and
    is counted as sent from here."""
    db.conn.execute(
        "insert into subscribers (email, created_at) values (?, ?) on conflict (email) do nothing",
        [email, now],
    )
    subscriber_id, confirmed_at, sent_at = db.conn.execute(
        "select id, confirmed_at, confirmation_sent_at from subscribers where email = ?", [email]
    ).fetchone()
    for kind, post_slug, comment_id in wanted:
        db.conn.execute(
            "insert into subscriptions (subscriber_id, kind, post_slug, comment_id, created_at) "
            "values (?, ?, ?, ?, ?) on conflict do nothing",
            [subscriber_id, kind, post_slug, comment_id, now],
        )
    send = confirmed_at is None and (sent_at is None or sent_at < resend_before)
    if send:
        db.conn.execute(
            "update subscribers set confirmation_sent_at = ? where id = ?", [now, subscriber_id]
        )
    return subscriber_id, send


def get_subscriber(db, subscriber_id):
    rows = _rows(db, "select * from subscribers where id = ?", [subscriber_id])
    return rows[0] if rows else None


def subscriptions_of(db, subscriber_id=None, subscription_ids=None):
    """The subscriptions of one address, or those with ``subscription_ids``, oldest first."""
    if subscription_ids is not None:
        ids = list(subscription_ids)
        marks = ", ".join("?" for _ in ids)
        return _rows(db, f"select * from subscriptions where id in ({marks}) order by id", ids)
    return _rows(
        db, "select * from subscriptions where subscriber_id = ? order by id", [subscriber_id]
    )


def confirm_subscriber(db, subscriber_id, *, now):
    """Confirm an address (its subscriptions start); returns its row as it was
    before, or None if it is no longer stored (expired, unsubscribed, erased)."""
    with writing(db):
        subscriber = get_subscriber(db, subscriber_id)
        if subscriber is not None and subscriber["confirmed_at"] is None:
            db.execute("update subscribers set confirmed_at = ? where id = ?", [now, subscriber_id])
    return subscriber


# The kinds of email only a subscription causes: unsent ones are dropped
# when their address unsubscribes from everything.
SUBSCRIPTION_EMAIL_KINDS = ("subscription-confirm", "comment-notification")


def unsubscribe(db, *, subscription_ids=(), subscriber_id=None):
    """Delete the subscriptions ``subscription_ids``, or with ``subscriber_id``
    the address and everything it asked for (its emails not sent yet too).
    Deleting what is gone already is no error; returns how many subscriptions went."""
    with writing(db):
        if subscriber_id is not None:
            subscriber = get_subscriber(db, subscriber_id)
            if subscriber is None:
                return 0
            count = db.execute(
                "select count(*) from subscriptions where subscriber_id = ?", [subscriber_id]
            ).fetchone()[0]
            kinds = ", ".join("?" for _ in SUBSCRIPTION_EMAIL_KINDS)
            db.execute(
                "delete from outbox where recipient = ? and sent_at is null "
                "and claimed_by is null and kind in (" + kinds + ")",
                [subscriber["email"], *SUBSCRIPTION_EMAIL_KINDS],
            )
            db.execute("delete from subscribers where id = ?", [subscriber_id])  # cascades
            return count
        ids = list(subscription_ids)
        marks = ", ".join("?" for _ in ids)
        return db.conn.execute(f"delete from subscriptions where id in ({marks})", ids).rowcount


def forget_unconfirmed(db, *, sent_before):
    """Forget addresses never confirmed whose last confirmation email was sent
    before ``sent_before`` (their links have expired), with what they asked for."""
    waiting = db.execute(
        "select 1 from subscribers where confirmed_at is null and confirmation_sent_at < ? limit 1",
        [sent_before],
    ).fetchone()
    if waiting is None:
        return 0  # a read, so that an idle sender never takes the writers' lock
    with writing(db):
        return db.conn.execute(
            "delete from subscribers where confirmed_at is null and confirmation_sent_at < ?",
            [sent_before],
        ).rowcount


def known_commenter(db, email):
    """True if ``email`` (normalised) was confirmed and has an approved comment."""
    return bool(
        db.execute(
            "select exists(select 1 from subscribers where email = ? and confirmed_at is not null) "
            "and exists(select 1 from comments where lower(email) = ? and status = 'approved')",
            [email, email],
        ).fetchone()[0]
    )


# --- notification jobs (queue_notifications; expanded by subscriptions.py) ---


def notification_jobs_due(db, limit=20):
    return _rows(
        db,
        "select * from notification_jobs where done_at is null order by id limit ?",
        [limit],
    )


def get_notification_job(db, job_id):
    rows = _rows(db, "select * from notification_jobs where id = ?", [job_id])
    return rows[0] if rows else None


def subscribers_to_notify(db, job, comment, *, author_email, limit):
    """The next ``limit`` confirmed addresses to tell of ``comment`` (approved),
    after the job's cursor, in id order; each with the subscriptions that ask
    for it (``subscription_ids``, ``kinds``, comma-separated). Subscribers of
    its post and of its thread (a reply), never its own author (``author_email``,
    normalised); its author only by their own ``live`` subscription."""
    thread = comment["parent_id"] if comment["parent_id"] else -1
    return _rows(
        db,
        "select b.id as subscriber_id, b.email, group_concat(s.id) as subscription_ids, "
        "group_concat(s.kind) as kinds "
        "from subscriptions s join subscribers b on b.id = s.subscriber_id "
        "where b.confirmed_at is not null and b.id > ? and ("
        "(s.kind = 'post' and s.post_slug = ? and b.email != ?) "
        "or (s.kind = 'replies' and s.comment_id = ? and b.email != ?) "
        "or (s.kind = 'live' and s.comment_id = ?)) "
        "group by b.id order by b.id limit ?",
        [
            job["after_subscriber"],
            comment["post_slug"],
            author_email,
            thread,
            author_email,
            comment["id"],
            limit,
        ],
    )


def advance_notification_job(db, job_id, after_subscriber):
    db.execute(
        "update notification_jobs set after_subscriber = ? where id = ?", [after_subscriber, job_id]
    )


def finish_notification_job(db, job, *, now):
    """Everyone told: the job is done, and ``live`` requests for its comment are spent."""
    db.execute("update notification_jobs set done_at = ? where id = ?", [now, job["id"]])
    db.execute(
        "delete from subscriptions where kind = 'live' and comment_id = ?", [job["comment_id"]]
    )


def drop_notification_job(db, job_id):
    """The comment is not shown (any more): tell no one; approving it again queues anew."""
    db.execute("delete from notification_jobs where id = ?", [job_id])


# --- a person's data (the privacy commands) -------------------------------------


def person_data(db, email):
    """Everything stored about ``email`` (normalised): their comments, their
    address's subscriptions, and the emails in the outbox addressed to it."""
    columns = [c for c in db["comments"].columns_dict if c not in NOT_EXPORTED]
    comments = _rows(
        db,
        f"select {', '.join(columns)} from comments where lower(email) = ? order by id",
        [email],
    )
    subscriber = _rows(db, "select * from subscribers where email = ?", [email])
    subscriptions = subscriptions_of(db, subscriber[0]["id"]) if subscriber else []
    emails = _rows(
        db,
        "select id, kind, recipient, subject, body, headers, created_at, sent_at, failed_at "
        "from outbox where lower(recipient) = ? order by id",
        [email],
    )
    return {
        "comments": comments,
        "subscriber": subscriber[0] if subscriber else None,
        "subscriptions": subscriptions,
        "emails": emails,
    }


@dataclass
class Erasure:
    """What ``erase_person`` deleted, and the posts whose pages change."""

    comments: int = 0
    replies_by_others: int = 0
    subscriptions: int = 0
    emails: int = 0
    changed_posts: set = None


def erase_person(db, email, *, by):
    """Erase everything stored about ``email`` (normalised), in one transaction.

    The address and its subscriptions; their comments, as "Delete
    permanently" takes them (the moderation table's way: to the trash first,
    unless set aside already, then deleted, with the replies under them),
    each step recorded as a decision, which keeps the fact, who and when, and
    no personal data; and every email to the address in the outbox."""
    erasure = Erasure(changed_posts=set())
    trash, delete = ACTIONS["trash"], ACTIONS["delete"]
    with writing(db):
        subscriber = _rows(db, "select id from subscribers where email = ?", [email])
        if subscriber:
            erasure.subscriptions = db.execute(
                "select count(*) from subscriptions where subscriber_id = ?", [subscriber[0]["id"]]
            ).fetchone()[0]
            # Before the comments: erasing one also deletes what was asked about it.
            db.execute("delete from subscribers where id = ?", [subscriber[0]["id"]])
        mine = _rows(db, "select * from comments where lower(email) = ? order by id", [email])
        erased = {}
        for comment in mine:
            if comment["id"] in erased:
                continue  # a reply of theirs, erased with their comment above it
            if delete not in buttons(comment["status"]):
                if action_moving(comment["status"], trash.to) is None:
                    raise NotAllowed(trash, comment["status"])
                erasure.changed_posts |= _move(
                    db, comment, trash.to, by=by, reason="erasure request"
                )
                comment = get_comment(db, comment["id"])
            erasure.changed_posts |= _erase(db, comment, by=by, erased=erased)
        ids_of_theirs = {c["id"] for c in mine}
        erasure.comments = len(ids_of_theirs)
        erasure.replies_by_others = len(set(erased) - ids_of_theirs)
        erasure.emails = db.conn.execute(
            "delete from outbox where lower(recipient) = ?", [email]
        ).rowcount
    return erasure
