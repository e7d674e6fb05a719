"""The outbox: every email is a row written with what caused it, sent by a
background sender with retries; nothing is lost and nothing is sent twice."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from comments_service import create_app, db, outbox
from mail_server import Inbox, free_port, running_smtp_server, smtp_settings
from support import AdminSession, submit_comment


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start=None):
        self.now = start or datetime.now(UTC)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


def rows(database):
    return list(reversed(db.outbox_rows(database, 10_000)))


def enqueue_emails(database, count, subject="Hello"):
    with db.writing(database):
        for n in range(count):
            outbox.enqueue(database, to="maya@careers.example", subject=f"{subject} {n}", body="x")


@pytest.fixture
def mail_app(app, smtp_server):
    """The app sending through the test SMTP server (no sender thread started)."""
    port, _inbox = smtp_server
    app.config.update(smtp_settings(port), SITE_URL="https://careers.example")
    return app


# --- written with what caused it ------------------------------------------------


def test_a_comment_writes_one_email_in_its_own_transaction(mail_app, client, database):
    submit_comment(client, body="Thanks for the tip about thank-you notes.")
    [row] = rows(database)
    assert row["kind"] == "new-comment"
    assert row["recipient"] == "maya@careers.example"
    assert row["sent_at"] is None and row["attempts"] == 0
    assert "> Thanks for the tip about thank-you notes." in row["body"]
    assert db.get_comment(database, 1)["status"] == "pending"


def test_a_retried_submission_writes_no_second_email(mail_app, client, database):
    key = str(uuid.uuid4())
    submit_comment(client, submission_key=key, body="Sent twice: the answer was lost.")
    submit_comment(client, submission_key=key, body="Sent twice: the answer was lost.")
    assert len(rows(database)) == 1


def test_a_comment_that_is_not_stored_leaves_no_email(mail_app, client, database):
    mail_app.config["PROPAGATE_EXCEPTIONS"] = False  # the reader gets the error page
    database.execute(
        "create trigger no_comments before insert on comments "
        "begin select raise(abort, 'the disk is full'); end"
    )
    assert submit_comment(client).status_code == 500
    assert rows(database) == []


def test_an_email_that_cannot_be_written_leaves_no_comment(mail_app, client, database):
    # The other way round: the comment and its email are committed together.
    mail_app.config["PROPAGATE_EXCEPTIONS"] = False
    database.execute(
        "create trigger no_emails before insert on outbox "
        "begin select raise(abort, 'the disk is full'); end"
    )
    assert submit_comment(client).status_code == 500
    assert db.export_comments(database) == []


def test_enqueue_outside_a_write_transaction_is_refused(database):
    with pytest.raises(RuntimeError, match="db.writing"):
        outbox.enqueue(database, to="maya@careers.example", subject="s", body="b")
    assert rows(database) == []


def test_header_fields_are_single_lines_and_ours_cannot_be_replaced(database):
    with db.writing(database):
        outbox.enqueue(
            database,
            to="maya@careers.example",
            subject="Hi\r\nBcc: x@evil.example",
            body="b",
            headers={"In-Reply-To": "<a@b>\nBcc: y@evil.example"},
        )
    [row] = rows(database)
    assert row["subject"] == "Hi Bcc: x@evil.example"
    assert row["headers"] == '{"In-Reply-To": "<a@b> Bcc: y@evil.example"}'
    for name in ("Message-ID", "From", "Bad Name"):
        with pytest.raises(ValueError), db.writing(database):
            outbox.enqueue(database, to="a@b.example", subject="s", body="b", headers={name: "x"})
    assert len(rows(database)) == 1  # the refused ones rolled back with their transaction


def test_an_email_outlives_the_process_that_wrote_it(mail_app, client, database, smtp_server):
    # "Killed" before sending: no sender ever ran in the app that wrote it.
    submit_comment(client)
    assert rows(database)[0]["sent_at"] is None
    # A new process (another app on the same database) starts its sender.
    _port, inbox = smtp_server
    restarted = create_app(dict(mail_app.config))
    sender = outbox.start_sender(restarted.config)
    try:
        assert inbox.wait_for(1)
    finally:
        sender.stop()
    assert inbox.messages[0]["Subject"].startswith("New comment awaiting approval")
    assert rows(database)[0]["sent_at"] is not None


def test_the_sender_is_woken_by_the_commit_not_by_its_poll(mail_app, client, smtp_server):
    mail_app.config["OUTBOX_POLL_SECONDS"] = 3600
    sender = outbox.start_sender(mail_app.config)
    try:
        assert sender.wait_for_pass()  # found nothing; now waits an hour, or a wake
        submit_comment(client)
        assert smtp_server[1].wait_for(1, timeout=20)
    finally:
        sender.stop()


# --- what is sent ----------------------------------------------------------------


def test_the_email_has_the_fields_receivers_expect(mail_app, database, smtp_server):
    with db.writing(database):
        outbox.enqueue(
            database,
            to="maya@careers.example",
            subject="A subject",
            body="Plain text.\n",
            headers={"In-Reply-To": "<x@careers.example>"},
        )
    outbox.send_due(mail_app.config, database)
    [message] = smtp_server[1].messages
    assert message["From"] == "blog@careers.example"
    assert message["To"] == "maya@careers.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["In-Reply-To"] == "<x@careers.example>"
    assert message["Date"].datetime.tzinfo is not None
    assert message["Message-ID"].endswith("@careers.example>")
    assert message.get_content_type() == "text/plain"


def test_without_a_from_setting_the_email_is_from_the_site_never_the_reader(
    mail_app, database, smtp_server
):
    mail_app.config.update(SMTP_FROM=None, SMTP_TO=None)
    with db.writing(database):
        outbox.enqueue(database, to="maya@readers.example", subject="s", body="b")
    outbox.send_due(mail_app.config, database)
    [message] = smtp_server[1].messages
    assert message["From"] == "noreply@careers.example"
    assert message["To"] == "maya@readers.example"


def test_every_attempt_of_one_email_carries_the_same_message_id(mail_app, database):
    clock = Clock()
    inbox = Inbox(refuse_first=1)  # a temporary failure (451) after DATA, then accepted
    with running_smtp_server(inbox=inbox) as (port, _):
        mail_app.config.update(smtp_settings(port))
        enqueue_emails(database, 1)
        assert outbox.send_due(mail_app.config, database, clock=clock).retried == 1
        clock.advance(minutes=1)
        assert outbox.send_due(mail_app.config, database, clock=clock).sent == 1
    first_try = inbox.refused[0].content
    assert b"Message-ID: " in first_try
    assert inbox.message_ids()[0].encode() in first_try


# --- retries, give up, leases -------------------------------------------------


def test_a_server_down_for_an_hour_then_up_gets_each_email_exactly_once(mail_app, database):
    clock = Clock()
    port = free_port()  # nothing listens: connections are refused
    mail_app.config.update(smtp_settings(port))
    enqueue_emails(database, 3)
    tally = outbox.send_due(mail_app.config, database, clock=clock)
    assert (tally.sent, tally.retried) == (0, 3)
    [first, *_] = rows(database)
    assert first["attempts"] == 1 and "ConnectionRefusedError" in first["last_error"]
    waits = []
    for _ in range(60):  # an hour, a minute at a time
        clock.advance(minutes=1)
        before = rows(database)[0]["attempts"]
        outbox.send_due(mail_app.config, database, clock=clock)
        if rows(database)[0]["attempts"] > before:
            waits.append(clock.now)
    gaps = [(b - a).total_seconds() for a, b in zip(waits, waits[1:], strict=False)]
    assert gaps == sorted(gaps) and gaps[-1] == 600, "back-off doubles up to 10 minutes"
    assert all(row["sent_at"] is None and row["failed_at"] is None for row in rows(database))
    with running_smtp_server(port=port) as (_, inbox):
        clock.advance(minutes=10)
        assert outbox.send_due(mail_app.config, database, clock=clock).sent == 3
        for _ in range(5):
            clock.advance(minutes=10)
            assert outbox.send_due(mail_app.config, database, clock=clock).sent == 0
    assert sorted(m["Subject"] for m in inbox.messages) == ["Hello 0", "Hello 1", "Hello 2"]
    assert all(row["sent_at"] for row in rows(database))


def test_an_email_is_given_up_after_three_days_and_the_admin_is_told(mail_app, client, database):
    clock = Clock()
    mail_app.config.update(smtp_settings(free_port()))
    enqueue_emails(database, 1)
    for _ in range(3 * 24 * 6 + 1):  # three days, every 10 minutes
        outbox.send_due(mail_app.config, database, clock=clock)
        clock.advance(minutes=10)
    [row] = rows(database)
    assert row["failed_at"] and row["sent_at"] is None
    AdminSession(mail_app, client).login()
    page = client.get("/admin/").get_data(as_text=True)
    assert "Email: 1 email could not be sent and was given up" in page
    assert "ConnectionRefusedError" in page


def test_the_admin_sees_emails_waiting_for_a_retry(mail_app, client, database):
    mail_app.config.update(smtp_settings(free_port()))
    admin = AdminSession(mail_app, client)
    admin.login()
    assert "Email:" not in client.get("/admin/").get_data(as_text=True)
    enqueue_emails(database, 2)
    outbox.send_due(mail_app.config, database)
    page = client.get("/admin/").get_data(as_text=True)
    assert "Email: 2 not sent yet, retried automatically" in page
    assert admin.messages() == []  # a state line, not a message


def test_a_claim_whose_sender_died_is_taken_up_after_its_lease(mail_app, database, smtp_server):
    clock = Clock()
    enqueue_emails(database, 2)
    now = clock()
    claimed = db.outbox_claim(
        database,
        "dead-worker",
        now=outbox.iso(now),
        until=outbox.iso(now + outbox.LEASE),
        limit=10,
    )
    assert len(claimed) == 2  # ... and the worker holding them is killed
    clock.advance(minutes=9)
    assert outbox.send_due(mail_app.config, database, clock=clock).sent == 0
    clock.advance(minutes=2)
    assert outbox.send_due(mail_app.config, database, clock=clock).sent == 2
    assert len(smtp_server[1].envelopes) == 2


# --- several senders, stopping ----------------------------------------------------


def test_two_senders_never_send_one_email_twice(mail_app, database):
    inbox = Inbox(delay=0.005)
    with running_smtp_server(inbox=inbox) as (port, _):
        mail_app.config.update(smtp_settings(port))
        enqueue_emails(database, 60)
        start = threading.Barrier(2)

        def sender(name):
            connection = db.connect(mail_app.config["COMMENTS_DB"], migrate=False)
            start.wait()
            try:
                # Over and over, as a worker's thread would, until nothing is due.
                while outbox.send_due(mail_app.config, connection, claimer=name).sent:
                    pass
            finally:
                connection.close()

        threads = [threading.Thread(target=sender, args=(n,)) for n in ("one", "two")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    subjects = [m["Subject"] for m in inbox.messages]
    assert sorted(subjects) == sorted(f"Hello {n}" for n in range(60))
    assert len(set(inbox.message_ids())) == 60
    assert all(row["sent_at"] for row in rows(database))


def test_a_graceful_stop_mid_queue_loses_nothing_and_sends_nothing_twice(mail_app, database):
    inbox = Inbox(delay=0.2)  # a slow server: the stop comes mid-queue
    with running_smtp_server(inbox=inbox) as (port, _):
        mail_app.config.update(smtp_settings(port))
        enqueue_emails(database, 10)
        sender = outbox.start_sender(mail_app.config)
        assert inbox.wait_for(2)
        assert sender.stop(timeout=10)
        sent_before_stop = len(inbox.envelopes)
        assert sent_before_stop < 10, "stopped mid-queue"
        waiting = [row for row in rows(database) if row["sent_at"] is None]
        # Every email the server accepted is recorded as sent; the others are
        # given back, not held by the stopped sender.
        assert len(waiting) == 10 - sent_before_stop
        assert all(row["claimed_by"] is None for row in waiting)
        # The next start sends the rest, and only the rest.
        assert outbox.send_due(mail_app.config, database).sent == len(waiting)
    assert sorted(m["Subject"] for m in inbox.messages) == sorted(f"Hello {n}" for n in range(10))


# --- keeping, console ------------------------------------------------------------


def test_sent_emails_are_forgotten_after_seven_days(mail_app, database, smtp_server):
    clock = Clock()
    enqueue_emails(database, 1)
    outbox.send_due(mail_app.config, database, clock=clock)
    clock.advance(days=6)
    enqueue_emails(database, 1, subject="Newer")
    outbox.send_due(mail_app.config, database, clock=clock)
    clock.advance(days=1, minutes=1)
    assert outbox.purge(mail_app.config, database, clock=clock) == 1
    assert [row["subject"] for row in rows(database)] == ["Newer 0"]


def test_the_console_lists_and_sends_the_outbox(mail_app, runner, database, smtp_server):
    assert "The outbox is empty." in runner.invoke(args=["outbox", "list"]).output
    enqueue_emails(database, 2)
    listed = runner.invoke(args=["outbox", "list"]).output
    assert listed.count("waiting (next attempt") == 2 and "Hello 1" in listed
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0 and "2 sent" in result.output
    assert len(smtp_server[1].envelopes) == 2
    assert runner.invoke(args=["outbox", "list"]).output.count("sent 20") == 2


def test_the_console_says_when_no_server_is_set(app, runner, database):
    enqueue_emails(database, 1)
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 1
    assert "FLASK_SMTP_HOST is not set: nothing sent (1 waiting)." in result.output


def test_gunicorn_workers_start_a_sender_and_stop_it_gracefully(mail_app, client, smtp_server):
    from types import SimpleNamespace

    from comments_service import gunicorn_conf

    worker = SimpleNamespace(wsgi=mail_app, pid=4242)
    gunicorn_conf.post_worker_init(worker)
    submit_comment(client)
    assert smtp_server[1].wait_for(1)
    logged = []
    server = SimpleNamespace(log=SimpleNamespace(warning=logged.append, exception=logged.append))
    assert "outbox-worker-4242" in [t.name for t in threading.enumerate()]
    gunicorn_conf.worker_exit(server, worker)
    assert logged == []
    assert "outbox-worker-4242" not in [t.name for t in threading.enumerate()]


def test_a_wrong_recipient_setting_costs_the_email_not_the_comment(mail_app, client, database):
    mail_app.config["SMTP_TO"] = "maya at careers.example"
    assert submit_comment(client).status_code == 202
    assert db.get_comment(database, 1)["status"] == "pending"
    assert rows(database) == []


def test_a_wrong_server_setting_is_retried_and_shown_not_looped_on(mail_app, database):
    mail_app.config["SMTP_PORT"] = "five-eight-seven"
    enqueue_emails(database, 1)
    tally = outbox.send_due(mail_app.config, database)
    assert (tally.sent, tally.retried) == (0, 1)
    assert "ValueError" in rows(database)[0]["last_error"]
    assert "Email: 1 not sent yet" in outbox.admin_notice(mail_app.config, database)
