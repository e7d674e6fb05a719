"""The outbox: every email the service sends is a row first, then a delivery.

``enqueue(db, to=..., subject=..., body=..., headers=...)`` writes the email
into the ``outbox`` table inside the caller's ``db.writing`` transaction, so
it exists exactly when what caused it does (a comment stored, later a reply
published): a rolled-back comment leaves no email, and a stored one always
has its email, even if the process dies the next instant.

A ``Sender`` (a thread in each serving process: `make serve`, each gunicorn
worker) delivers what is due. It is woken when a transaction that enqueued
commits, and otherwise polls every ``OUTBOX_POLL_SECONDS``. It claims due rows
atomically under the writers' lock (``db.outbox_claim``: one UPDATE ...
RETURNING), so two senders, in two threads or two processes, never send the
same row; a claim is a lease (``LEASE``): the rows of a sender that died are
taken up again once it has run out. Each email is marked sent right after
the SMTP server accepted it (its ``250`` to DATA), in its own transaction.
A failure is retried with exponential back-off (15 s, 30 s, 1 min, ... every
10 min at most) until the email is ``OUTBOX_GIVE_UP_HOURS`` old (72), then
given up and shown on the admin pages. A graceful stop (gunicorn's
``worker_exit``, Ctrl+C in `make serve`) finishes the email being sent and
gives back the others it claimed, for the next sender.

At least once, not exactly once. One window remains: if the process is
killed (kill -9) after the SMTP server accepted an email and before
``sent_at`` is committed, the email is sent again once the lease has run
out; so it is after a power cut within a moment of the commit (the sender's
own commits do not wait for the disk: ``db.connect(flush_each_commit=False)``).
Every attempt of one row carries the same ``Message-ID`` (its
``message_key``), so a receiving server or mail client can drop the copy.

What is stored: recipients, subjects and bodies (the admin's address, the
addresses of readers who asked for notifications, and the text of comments).
Sent rows are deleted after ``OUTBOX_KEEP_DAYS`` (7), given-up ones after
``FAILED_KEEP_DAYS`` (30).
"""

import json
import logging
import re
import secrets
import smtplib
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import AppGroup

from comments_service import db
from comments_service.render import clean_line

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)  # longer than one batch can take (SMTP_TIMEOUT per step)
SMTP_TIMEOUT = 30  # seconds per SMTP step (connect, each command)
BATCH = 20  # emails claimed at a time, sent over one SMTP connection
FIRST_RETRY = timedelta(seconds=15)
LONGEST_RETRY = timedelta(minutes=10)
FAILED_KEEP_DAYS = 30
PURGE_EVERY = timedelta(hours=1)
# Header fields the outbox writes itself; a caller's ``headers`` cannot set them.
OWN_HEADERS = {"from", "to", "subject", "date", "message-id", "auto-submitted"}
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def utcnow():
    return datetime.now(UTC)


def iso(moment):
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- writing -----------------------------------------------------------------


def enqueue(database, *, to, subject, body, headers=None, kind="email"):
    """Add an email to the outbox, inside the caller's ``db.writing`` transaction.

    ``to``: one address; ``subject`` and ``headers`` ({name: value}) become
    header fields, cut to single lines; ``body`` is plain text. Returns the
    row's id. Raises ``RuntimeError`` outside a write transaction: an email
    written apart from what caused it could outlive it, or be lost with it.
    """
    to, subject = recipient(to), clean_line(subject)
    extra = {}
    for name, value in (headers or {}).items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in OWN_HEADERS:
            raise ValueError(f"not a header the outbox lets a caller set: {name!r}")
        extra[name] = clean_line(str(value))
    created = utcnow()
    row = {
        "kind": kind,
        "recipient": to,
        "subject": subject[:200],
        "body": body,
        "headers": json.dumps(extra, ensure_ascii=False),
        "message_key": f"{created:%Y%m%d%H%M%S}.{secrets.token_hex(8)}",
        "created_at": iso(created),
        "next_attempt_at": iso(created),
    }
    path = _db_path(database)
    # First: it raises outside db.writing. One wake-up per transaction.
    db.after_commit(database, lambda: wake(path), key=("outbox-wake", path))
    return db.outbox_add(database, row)


def recipient(address):
    """``address`` as one clean line; ``ValueError`` if it is no email address.

    Callers check their setting with it before their transaction: a bad
    setting must not fail the readers' comments committed with it."""
    address = clean_line(address or "")
    if "@" not in address.strip("@"):
        raise ValueError(f"not an email address: {address!r}")
    return address


# --- sending -----------------------------------------------------------------


def mail_settings(config):
    keys = ("HOST", "PORT", "USER", "PASSWORD", "FROM", "TO", "STARTTLS")
    settings = {k.lower(): config.get(f"SMTP_{k}") for k in keys}
    settings["from"] = settings["from"] or settings["to"]
    return settings


def sending_enabled(config):
    return bool(config.get("SMTP_HOST"))


def message_for(row, settings, site_url=None):
    """The email of an outbox row, as sent: the same bytes at every attempt
    but for the From (the setting of the day)."""
    message = EmailMessage()
    # Never the recipient's own address: mail servers checking DMARC refuse
    # a reader's domain sent from ours.
    message["From"] = settings["from"] or f"noreply@{message_id_domain(settings, site_url)}"
    message["To"] = row["recipient"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(datetime.fromisoformat(row["created_at"]))
    message["Message-ID"] = f"<{row['message_key']}@{message_id_domain(settings, site_url)}>"
    # RFC 3834: no vacation or out-of-office replies to this.
    message["Auto-Submitted"] = "auto-generated"
    for name, value in json.loads(row["headers"] or "{}").items():
        message[name] = value
    message.set_content(row["body"])
    return message


def message_id_domain(settings, site_url=None):
    address = settings.get("from") or ""
    if "@" in address:
        return address.rsplit("@", 1)[1].strip(" >") or "localhost"
    return urlsplit(site_url or "").hostname or "localhost"


def smtp_connection(settings):
    """An open SMTP connection with STARTTLS and login as configured."""
    smtp = smtplib.SMTP(settings["host"], int(settings["port"] or 25), timeout=SMTP_TIMEOUT)
    try:
        if str(settings["starttls"]).lower() in {"1", "true", "yes"}:
            smtp.starttls()
        if settings["user"]:
            smtp.login(settings["user"], settings["password"] or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def retry_delay(attempts):
    """The wait after the ``attempts``-th failure: 15 s, doubling, 10 minutes at most."""
    return min(LONGEST_RETRY, FIRST_RETRY * 2 ** min(attempts - 1, 16))


def give_up_after(config):
    return timedelta(hours=float(config.get("OUTBOX_GIVE_UP_HOURS", 72)))


class Tally:
    """What one pass of a sender did."""

    def __init__(self):
        self.sent = self.retried = self.given_up = 0

    def __str__(self):
        return f"{self.sent} sent, {self.retried} to retry, {self.given_up} given up"


# Work that becomes emails after the commit that caused it, run at the start
# of every sending pass: a comment's approval becomes an email per subscriber
# (``subscriptions.expand_due``). Registered by the module that owns the work
# (``register_producer``), which imports this one: the outbox knows none of them.
_producers = []


def register_producer(produce):
    """Run ``produce(config, database, clock=...)`` before each pass sends."""
    if produce not in _producers:
        _producers.append(produce)
    return produce


def send_due(config, database, *, clock=utcnow, stop=None, claimer="console"):
    """Send every email that is due now (the producers' first); return a ``Tally``.

    ``stop`` (a ``threading.Event``): once set, finish the email being sent,
    give back the rest and return. Nothing is sent without ``SMTP_HOST``.
    """
    tally = Tally()
    if not sending_enabled(config):
        return tally
    for produce in list(_producers):
        produce(config, database, clock=clock)
    while stop is None or not stop.is_set():
        batch = _Batch(
            config, database, clock, stop, tally, claim=f"{claimer}:{secrets.token_hex(6)}"
        )
        if not batch.claim_rows():
            break
        try:
            batch.deliver()
        finally:
            # Whatever was claimed and not sent (a stop, a broken connection):
            # due again now, for this sender's next round or another sender.
            db.outbox_release(database, batch.claim)
    return tally


class _Batch:
    """Up to ``BATCH`` emails claimed together and sent over one SMTP connection."""

    def __init__(self, config, database, clock, stop, tally, claim):
        self.config, self.database, self.clock = config, database, clock
        self.stop, self.tally, self.claim = stop, tally, claim
        self.settings = mail_settings(config)
        self.rows = []

    def claim_rows(self):
        now = self.clock()
        self.rows = db.outbox_claim(
            self.database, self.claim, now=iso(now), until=iso(now + LEASE), limit=BATCH
        )
        return self.rows

    def deliver(self):
        try:
            smtp = smtp_connection(self.settings)
        # The server is down, refuses us or our login, or a setting is wrong
        # (a port that is no number): every email of the batch waits for its
        # next attempt, and is named on the admin pages meanwhile.
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            for row in self.rows:
                self.failed(row, exc)
            return
        try:
            self.send_each(smtp)
        finally:
            try:
                smtp.quit()
            # Every accepted email is recorded already: a failed goodbye changes nothing.
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def send_each(self, smtp):
        site_url = self.config.get("SITE_URL")
        for row in self.rows:
            if self.stop is not None and self.stop.is_set():
                return
            try:
                message = message_for(row, self.settings, site_url)
            # A row no email can be made of (edited by hand?): it is retried,
            # then given up, and shown to the admin; the others go on.
            except (ValueError, TypeError) as exc:
                self.failed(row, exc)
                continue
            try:
                smtp.send_message(message)
            # This email was refused (an address, a rule of the server): the
            # others may still go through.
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
                self.failed(row, exc)
                continue
            # The connection broke: this email is retried later; the others
            # are given back (``send_due``) and claimed again at once.
            except (OSError, smtplib.SMTPException) as exc:
                self.failed(row, exc)
                return
            # Accepted: recorded before anything else happens.
            db.outbox_sent(self.database, row["id"], now=iso(self.clock()))
            self.tally.sent += 1

    def failed(self, row, exc):
        now = self.clock()
        error = clean_line(f"{type(exc).__name__}: {exc}")[:500]
        attempts = row["attempts"] + 1
        too_old = now - datetime.fromisoformat(row["created_at"]) >= give_up_after(self.config)
        if too_old:
            log.error("Gave up sending email %s after %s attempts: %s", row["id"], attempts, error)
            self.tally.given_up += 1
        else:
            log.warning("Email %s not sent (attempt %s): %s", row["id"], attempts, error)
            self.tally.retried += 1
        db.outbox_failed(
            self.database,
            row["id"],
            self.claim,
            error=error,
            retry_at=iso(now + retry_delay(attempts)),
            given_up_at=iso(now) if too_old else None,
        )


def purge(config, database, *, clock=utcnow):
    """Forget sent emails after ``OUTBOX_KEEP_DAYS``, given-up ones after 30 days."""
    now = clock()
    keep = timedelta(days=float(config.get("OUTBOX_KEEP_DAYS", 7)))
    return db.outbox_purge(
        database,
        sent_before=iso(now - keep),
        failed_before=iso(now - timedelta(days=FAILED_KEEP_DAYS)),
    )


# --- the background sender ------------------------------------------------------

_senders = {}  # database path -> the senders of this process on it
_senders_lock = threading.Lock()


def _db_path(database):
    # Kept on the connection: a post's notifications enqueue thousands of rows.
    if not hasattr(database, "outbox_path"):
        database.outbox_path = database.execute("PRAGMA database_list").fetchone()[2]
    return database.outbox_path


def wake(path):
    """Wake this process's senders on the database at ``path``."""
    with _senders_lock:
        senders = list(_senders.get(path, ()))
    for sender in senders:
        sender.wake()


# A comment's approval queues its notifications in ``db``: wake the senders to expand them.
db.notification_listeners.append(wake)


class Sender:
    """A thread that sends the outbox of one app's database (see the module docstring)."""

    def __init__(self, config, *, clock=utcnow, name="sender"):
        self.config = config  # the app's config: read at each pass
        self.clock = clock
        self.claimer = f"{name}:{secrets.token_hex(4)}"
        self.poll = float(config.get("OUTBOX_POLL_SECONDS", 30))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"outbox-{name}", daemon=True)
        self._path = None
        self._last_purge = None
        self.passes = 0  # passes done, for whoever waits for one (wait_for_pass)
        self._passed = threading.Condition()

    def start(self):
        database = db.connect(self.config["COMMENTS_DB"], migrate=False)
        try:
            self._path = _db_path(database)
        finally:
            database.close()
        with _senders_lock:
            _senders.setdefault(self._path, set()).add(self)
        self._thread.start()
        return self

    def wake(self):
        self._wake.set()

    def wait_for_pass(self, count=1, timeout=10):
        """True once the sender has looked at the outbox ``count`` times."""
        with self._passed:
            return self._passed.wait_for(lambda: self.passes >= count, timeout)

    def stop(self, timeout=10):
        """Finish the email being sent, give back the others, and stop.

        Returns False if the thread is still busy after ``timeout`` seconds
        (an SMTP server that hangs): its rows come back when their lease ends."""
        self._stop.set()
        self._wake.set()
        with _senders_lock:
            _senders.get(self._path, set()).discard(self)
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self):
        # Its commits (claims, "sent") skip the disk flush: a power cut may
        # forget one, which costs an email sent twice (same Message-ID), not a
        # lost one; waiting on the disk for each would slow the readers' comments.
        database = db.connect(self.config["COMMENTS_DB"], migrate=False, flush_each_commit=False)
        try:
            while not self._stop.is_set():
                # Cleared before the pass: a wake during it makes the next wait short.
                self._wake.clear()
                passed = self._pass(database)
                with self._passed:
                    self.passes += 1
                    self._passed.notify_all()
                self._wake.wait(self._seconds_to_next(database) if passed else self.poll)
        finally:
            database.close()

    def _pass(self, database):
        """Send what is due, and purge once an hour; False if that failed."""
        try:
            send_due(self.config, database, clock=self.clock, stop=self._stop, claimer=self.claimer)
            now = self.clock()
            if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
                self._last_purge = now
                purge(self.config, database, clock=self.clock)
        # The thread must outlive any failure (a full disk, a locked
        # database): the rows stay in the table and the next pass retries.
        except Exception:
            log.exception("The email sender's pass failed; retrying at the next poll")
            return False
        return True

    def _seconds_to_next(self, database):
        try:
            due = db.outbox_next_due(database)
        except Exception:  # noqa: BLE001 (as in _pass: the next poll tries again)
            return self.poll
        if due is None:
            return self.poll
        wait = (datetime.fromisoformat(due) - self.clock()).total_seconds()
        # At least a second: an email due now that this pass did not take
        # (another sender has it) must not make a busy loop.
        return min(self.poll, max(wait, 1.0))


def start_sender(config, **kwargs):
    """Start a sender for the app with ``config`` if it can send (``SMTP_HOST``); or None."""
    if not sending_enabled(config):
        return None
    return Sender(config, **kwargs).start()


def stop_senders(timeout=10):
    """Stop every sender of this process (a graceful stop); True if all stopped."""
    with _senders_lock:
        senders = [s for group in _senders.values() for s in group]
    return all([sender.stop(timeout) for sender in senders])


# --- console ---------------------------------------------------------------------

outbox_cli = AppGroup("outbox", help="The emails the service sends.")


@outbox_cli.command("send")
def outbox_send():
    """Send the emails that are due now (for cron, or after a long SMTP outage)."""
    config = current_app.config
    database = db.get_db()
    if not sending_enabled(config):
        waiting = db.outbox_summary(database)["waiting"]
        raise click.ClickException(f"FLASK_SMTP_HOST is not set: nothing sent ({waiting} waiting).")
    outcome = send_due(config, database)
    purge(config, database)
    click.echo(f"{outcome}; {db.outbox_summary(database)['waiting']} waiting.")


@outbox_cli.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def outbox_list(limit):
    """List the newest emails: waiting, sent or given up."""
    rows = db.outbox_rows(db.get_db(), limit)
    if not rows:
        click.echo("The outbox is empty.")
    for row in rows:
        click.echo(
            f"#{row['id']}  {row['created_at']}  {row_state(row)}  "
            f"attempts {row['attempts']}  to {row['recipient']}\n    {row['subject']}"
            + (f"\n    last error: {row['last_error']}" if row["last_error"] else "")
        )


def row_state(row):
    if row["sent_at"]:
        return f"sent {row['sent_at']}"
    if row["failed_at"]:
        return f"GIVEN UP {row['failed_at']}"
    return f"waiting (next attempt {row['next_attempt_at']})"


# --- what the admin pages say ----------------------------------------------------


def admin_notice(config, database):
    """One sentence for the admin pages' state banner when email is not going
    out as it should (given up, being retried, or no server set), else None."""
    summary = db.outbox_summary(database)
    parts = []
    if summary["failed"]:
        count = summary["failed"]
        parts.append(
            f"{count} email{'s' if count != 1 else ''} could not be sent and "
            f"{'were' if count != 1 else 'was'} given up (last error: {summary['failed_error']})."
        )
    if summary["waiting"] and not sending_enabled(config):
        parts.append(f"{summary['waiting']} waiting, but SMTP_HOST is not set.")
    elif summary["retrying"]:
        count = summary["retrying"]
        since = datetime.fromisoformat(summary["oldest_waiting"]).strftime("%Y-%m-%d %H:%M UTC")
        parts.append(
            f"{count} not sent yet, retried automatically (waiting since {since}; "
            f"last error: {summary['retry_error']})."
        )
    if not parts:
        return None
    return "Email: " + " ".join(parts) + " `flask outbox list` shows them."
