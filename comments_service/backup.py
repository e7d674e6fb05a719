"""Online backups of the comment database, and restoring one.

Copying the database file while comments arrive loses rows: a WAL database
is the main file *and* its ``-wal`` log, and a copy of either taken
mid-commit is torn. ``backup`` uses SQLite's backup API instead, in one
step: it reads every page of one consistent snapshot (a read transaction,
which in WAL mode never blocks the service's writers), so the copy holds
every comment committed before it started, in every table the file has
(comments, decisions, admins, page views, migrations and whatever a later
migration adds). It is written beside its destination and renamed into
place, mode 0600, so a backup file is either whole or absent.

``restore`` refuses a file that fails ``PRAGMA integrity_check`` or is not
one of our databases, then writes the backup into the live database through
the same backup API, holding the writers' flock (``db.writers_lock``) that
every writer of the service queues on. Restoring is therefore safe while the
service runs: writers wait for the few milliseconds it takes, readers see
the old database or the restored one, never a mix, and SQLite's WAL index
tells every open connection that the file changed. Comments committed
after the backup was taken are not in it: the console command first saves
the database as it was, beside the backups. Restart the service after a
restore anyway (``systemctl restart career-notes``): its warm publishers
keep their place in the decisions table, which a restore moves back.

Console (``flask --app comments_service db ...``; `make backup`, `make restore`):

    db backup [FILE] [--keep N]  online backup (default: backups/ beside the database)
    db restore FILE              check FILE, save the database as it is, restore FILE
    db purge-ip                  drop the IP hashes older than 30 days
"""

import os
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import click
from flask import current_app
from flask.cli import AppGroup
from sqlite_utils import Database

from comments_service import db, outbox, subscriptions
from comments_service.cli import republish

DEFAULT_KEEP = 14  # two weeks of the daily timer's backups
BACKUP_GLOB = "comments-*.db"
SQLITE_HEADER = b"SQLite format 3\x00"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is one sentence."""


def backup(db_path, dest):
    """Copy the database at ``db_path`` to ``dest`` (mode 0600), online; return ``dest``."""
    db_path, dest = Path(db_path), Path(dest)
    if not db_path.is_file():
        raise BackupError(f"There is no database at {db_path}.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600 whatever the umask; SQLite keeps that mode.
    fd, temp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(temp_name)
    try:
        source = sqlite3.connect(db_path, timeout=10)
        target = sqlite3.connect(temp)
        try:
            source.backup(target)  # pages=-1: the whole snapshot in one step
            # A self-contained file: no -wal beside it, whatever the source's mode.
            target.execute("PRAGMA journal_mode=DELETE")
            problems = _integrity_problems(target)
        finally:
            target.close()
            source.close()
        if problems:
            raise BackupError(f"The backup failed its integrity check: {problems}.")
        _fsync(temp)
        temp.replace(dest)
        _fsync(dest.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return dest


def check_backup(src):
    """Raise ``BackupError`` unless ``src`` is a sound SQLite file of this service."""
    src = Path(src)
    if not src.is_file():
        raise BackupError(f"There is no file at {src}.")
    with open(src, "rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{src} is not a SQLite database.")
    try:
        conn = sqlite3.connect(f"file:{quote(str(src.absolute()))}?mode=ro", uri=True)
        try:
            problems = _integrity_problems(conn)
            tables = Database(conn).table_names()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed"...
        problems = str(exc)
    if problems:
        raise BackupError(f"{src} is damaged, nothing restored: {problems}.")
    if "comments" not in tables:
        raise BackupError(f"{src} is not a backup of the comments database (no comments table).")


def restore(src, db_path, save_current_to=None):
    """Replace the database at ``db_path`` with the backup ``src``, online.

    The service may keep running (see the module docstring). With
    ``save_current_to``, the database as it is now is backed up there first.
    """
    check_backup(src)
    db_path = Path(db_path)
    if save_current_to and db_path.is_file():
        backup(db_path, save_current_to)
    db.connect(db_path, migrate=False).close()  # creates it (mode 0600) if missing
    source = sqlite3.connect(f"file:{quote(str(Path(src).absolute()))}?mode=ro", uri=True)
    try:
        with db.writers_lock(f"{db_path}.write-lock"):
            target = sqlite3.connect(db_path, timeout=10)
            try:
                # Into a WAL database the backup API writes through the log in
                # one transaction, and keeps the file in WAL mode.
                source.backup(target)
            finally:
                target.close()
    finally:
        source.close()
    db.connect(db_path).close()  # an older backup gets today's migrations


def timestamped_name(prefix="comments", when=None):
    when = when or datetime.now(UTC)
    return f"{prefix}-{when.strftime('%Y%m%dT%H%M%SZ')}.db"


def prune(folder, keep):
    """Delete all but the newest ``keep`` automatic backups in ``folder``; return them."""
    # The UTC timestamp in the name sorts them oldest first.
    doomed = sorted(Path(folder).glob(BACKUP_GLOB))[:-keep] if keep > 0 else []
    for path in doomed:
        path.unlink()
    return doomed


def backups_folder(db_path):
    """Where backups go by default: ``backups/`` beside the database, owner only."""
    folder = Path(db_path).parent / "backups"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _integrity_problems(conn):
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return "" if rows == ["ok"] else "; ".join(rows[:3])


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- console ------------------------------------------------------------

db_cli = AppGroup("db", help="Back up and restore the comment database.")


@db_cli.command("backup")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--keep",
    default=DEFAULT_KEEP,
    show_default=True,
    help="Backups to keep in the default folder (older ones are deleted).",
)
def db_backup(file, keep):
    """Back up the database online, to FILE or to backups/comments-<UTC time>.db."""
    db_path = current_app.config["COMMENTS_DB"]
    try:
        if file:
            dest = backup(db_path, file)
        else:
            folder = backups_folder(db_path)
            dest = backup(db_path, folder / timestamped_name())
            for old in prune(folder, keep):
                click.echo(f"Deleted the old backup {old}.")
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backed up to {dest}.")


@db_cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
def db_restore(file):
    """Restore the database from FILE, saving the current one first."""
    db_path = current_app.config["COMMENTS_DB"]
    saved = backups_folder(db_path) / timestamped_name("pre-restore")
    try:
        restore(file, db_path, save_current_to=saved)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    if saved.exists():
        click.echo(f"The database as it was is saved in {saved}.")
    click.echo(f"Restored {file}.")
    republish()  # every page may show other comments now: a full build
    click.echo("Restart the service to reload it (e.g. systemctl restart career-notes).")


@db_cli.command("purge-ip")
def db_purge_ip():
    """Drop IP hashes older than 30 days, and notification requests left
    unconfirmed for 7 (the daily timer runs it)."""
    db.forget_old_ip_hashes(db.get_db())
    forgotten = subscriptions.forget_unconfirmed(db.get_db(), outbox.utcnow())
    click.echo(
        f"IP hashes older than {db.IP_HASH_DAYS} days dropped; "
        f"{forgotten} unconfirmed notification address(es) forgotten."
    )
