"""Commenters kept in the loop: the form's notification boxes, double opt-in,
notifications of approved comments only, RFC 8058 one-click unsubscribe, the
mail-bomb limit, and the "previously approved commenter" rule. Every email
goes through a real SMTP server (tests/mail_server.py)."""

import itertools
import re
import sqlite3
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from comments_service import db, outbox, subscription_links, subscriptions
from mail_server import smtp_settings, text_of
from support import MENTOR_SLUG, MENTOR_URL, ORIGIN, submit_comment

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
ADA, BOB, CAROL = "ada@example.com", "bob@example.com", "carol@example.com"
OTHER_SLUG = "ask-for-feedback-that-helps"
NUMBERS = itertools.count(1)


@pytest.fixture
def inbox(app, smtp_server):
    """The app sending through the test SMTP server; the admin's own
    new-comment email off (no SMTP_TO), so the inbox holds the readers' emails."""
    port, inbox = smtp_server
    app.config.update(smtp_settings(port), SMTP_TO=None, SITE_URL=ORIGIN)
    return inbox


def deliver(app, database):
    """One pass of a sender: expand notifications, send what is due."""
    return outbox.send_due(app.config, database)


def mail_to(inbox, address):
    return [m for m in inbox.messages if m["To"] == address]


def comment(client, database, email, *boxes, name=None, **fields):
    """Submit a comment (asking for the notifications ``boxes``); return its id."""
    boxes_ticked = {f"notify_{box}": "y" for box in boxes}
    response = submit_comment(
        client,
        name=name or email.split("@")[0].title(),
        email=email,
        # Distinct texts, none that a rule holds (an address, a phone number).
        body=fields.pop("body", f"Comment number {next(NUMBERS)} of the test."),
        **boxes_ticked,
        **fields,
    )
    assert response.status_code == 202, response.get_json()
    return database.execute("select max(id) from comments").fetchone()[0]


def approve(database, *ids):
    report = db.set_status(database, list(ids), "approved", by="test", reason=None)
    assert len(report.done) == len(ids)


def link_in(message, kind):
    """The path of the message's ``confirm`` or ``unsubscribe`` link (the first one)."""
    url = re.search(
        rf"https://careers\.example/comments/subscriptions/{kind}/\S+", text_of(message)
    )
    return urlsplit(url[0]).path


def confirmations(inbox, address):
    return [m for m in mail_to(inbox, address) if m["Subject"].startswith("Confirm your email")]


def confirm(app, client, database, inbox, address):
    """Deliver, open the confirmation email's link and press Confirm."""
    deliver(app, database)
    [message] = confirmations(inbox, address)
    response = client.post(link_in(message, "confirm"), headers=SAME_ORIGIN)
    assert response.status_code == 200
    return message


def words(response):
    return " ".join(
        BeautifulSoup(response.get_data(as_text=True), "html.parser").get_text(" ").split()
    )


def buttons(response):
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return [b.get_text(strip=True) for b in page.select("main button")]


@pytest.fixture
def subscribed(app, client, database, inbox, without_rate_limits):
    """Ada commented asking for replies and for the post's new comments, and
    confirmed; her comment is approved. Returns its id."""
    ada = comment(client, database, ADA, "replies", "post")
    confirm(app, client, database, inbox, ADA)
    approve(database, ada)
    deliver(app, database)
    return ada


# --- the form --------------------------------------------------------------------


def test_the_form_offers_the_boxes_with_labels(site):
    page = site.page(MENTOR_URL)
    form = page.select_one("#comment-form")
    labels = {label["for"]: label.get_text(strip=True) for label in form.select("label")}
    assert labels["notify_replies"] == "Notify me of replies to my comment"
    assert labels["notify_post"] == "Notify me of new comments on this post"
    assert labels["notify_live"] == "Email me when my comment is published"
    assert form.select_one("#notify_post")["type"] == "checkbox"


def test_a_box_ticked_without_an_email_is_refused_on_the_email_field(client, database, inbox):
    response = submit_comment(client, email="", notify_post="y")
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"email": "Enter your email to get notified."}
    # Without JavaScript: the form again, with what was typed and the box still ticked.
    response = submit_comment(
        client, json=False, email="", notify_replies="y", body="Keep this text, please."
    )
    assert response.status_code == 400
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.select_one("#email-error").get_text() == "Enter your email to get notified."
    assert page.select_one("#notify_replies").has_attr("checked")
    assert not page.select_one("#notify_post").has_attr("checked")
    assert page.select_one("#body").get_text() == "Keep this text, please."
    assert database.execute("select count(*) from comments").fetchone()[0] == 0


# --- double opt-in ---------------------------------------------------------------


def test_asking_sends_one_confirmation_email_and_nothing_else_until_confirmed(
    app, client, database, inbox, without_rate_limits
):
    ada = comment(client, database, ADA, "replies", "post", "live")
    approve(database, ada)  # her "live" email may not go: she has not confirmed
    bob = comment(client, database, BOB, parent_id=ada)
    approve(database, bob)  # a reply to her, and a new comment on her post
    deliver(app, database)
    [message] = mail_to(inbox, ADA)
    assert message["Subject"] == (
        "Confirm your email for comments on “How to Meet Potential Mentors "
        "Through Informational Interviews”"
    )
    text = text_of(message)
    assert "- replies to your comment\n- new comments on this post\n" in text
    assert "ignore this email: nothing else will be sent" in text
    assert message["Auto-Submitted"] == "auto-generated"
    # Not a list email: no unsubscribe header (see subscriptions.py).
    assert message["List-Unsubscribe"] is None
    assert link_in(message, "confirm").startswith("/comments/subscriptions/confirm/")


def test_the_confirmation_link_shows_a_button_and_only_its_post_confirms(
    app, client, database, inbox
):
    comment(client, database, ADA, "post")
    deliver(app, database)
    path = link_in(confirmations(inbox, ADA)[0], "confirm")
    for _ in range(3):  # a link scanner, a preview, Ada
        response = client.get(path)
    assert response.status_code == 200
    assert buttons(response) == ["Confirm"]
    assert "New comments on “How to Meet Potential Mentors" in words(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert db.get_subscriber(database, 1)["confirmed_at"] is None

    response = client.post(path, headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert "Your email is confirmed" in words(response)
    assert db.get_subscriber(database, 1)["confirmed_at"] is not None
    assert client.get(path).status_code == 200  # opened again: says so, changes nothing


def test_a_confirmation_is_refused_from_another_site(app, client, database, inbox):
    comment(client, database, ADA, "post")
    deliver(app, database)
    path = link_in(confirmations(inbox, ADA)[0], "confirm")
    response = client.post(path, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert db.get_subscriber(database, 1)["confirmed_at"] is None


def test_an_expired_or_tampered_confirmation_link_gets_a_clear_page(
    app, client, database, inbox, monkeypatch
):
    comment(client, database, ADA, "post")
    deliver(app, database)
    path = link_in(confirmations(inbox, ADA)[0], "confirm")
    token = path.rsplit("/", 1)[1]
    for bad in (token[:-3], "x" * 5000, "not-a-token", token.split(".", 1)[0]):
        for response in (
            client.get(f"/comments/subscriptions/confirm/{bad}"),
            client.post(f"/comments/subscriptions/confirm/{bad}", headers=SAME_ORIGIN),
        ):
            assert response.status_code == 400
            assert "This link does not work" in words(response)
    eight_days_later = time.time() + 8 * 86400
    monkeypatch.setattr(subscription_links, "clock", lambda: eight_days_later)
    response = client.post(path, headers=SAME_ORIGIN)
    assert response.status_code == 410
    assert "This link has expired" in words(response)
    assert db.get_subscriber(database, 1)["confirmed_at"] is None


def test_unconfirmed_requests_are_forgotten_after_seven_days(app, client, database, inbox):
    comment(client, database, ADA, "post")
    deliver(app, database)
    path = link_in(confirmations(inbox, ADA)[0], "confirm")
    outbox.send_due(app.config, database, clock=lambda: outbox.utcnow() + timedelta(days=6))
    assert db.get_subscriber(database, 1) is not None
    outbox.send_due(
        app.config, database, clock=lambda: outbox.utcnow() + timedelta(days=7, hours=1)
    )
    assert db.get_subscriber(database, 1) is None
    assert database.execute("select count(*) from subscriptions").fetchone()[0] == 0
    response = client.post(path, headers=SAME_ORIGIN)
    assert response.status_code == 410
    assert "no longer stored" in words(response)


def test_the_daily_purge_forgets_them_too_on_a_site_without_smtp(app, client, database, runner):
    # No SMTP_HOST: no sender runs, the confirmation waits in the outbox.
    comment(client, database, ADA, "post")
    comment(client, database, BOB, "post")
    long_ago = (outbox.utcnow() - timedelta(days=8)).isoformat(timespec="seconds")
    database.execute("update subscribers set confirmation_sent_at = ? where id = 1", [long_ago])
    result = runner.invoke(args=["db", "purge-ip"])
    assert result.exit_code == 0, result.output
    assert "1 unconfirmed notification address(es) forgotten" in result.output
    assert [row["email"] for row in database["subscribers"].rows] == [BOB]


def test_the_answer_is_the_same_whether_or_not_the_address_is_subscribed(
    app, client, database, inbox, subscribed
):
    # Ada is confirmed and subscribed; Bob is unknown. Their answers match.
    answers = []
    for address in (ADA, BOB):
        response = submit_comment(client, email=address, notify_post="y", body=f"From {address}.")
        answers.append((response.status_code, response.get_json()))
        response = submit_comment(
            client, json=False, email=address, notify_post="y", body=f"Again, {address}."
        )
        answers.append((response.status_code, words(client.get(response.headers["Location"]))))
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert "confirm your address with the link we send it" in answers[0][1]["message"]


# --- the mail-bomb limit ------------------------------------------------------------


def test_an_address_gets_at_most_one_confirmation_email_a_day(
    app, client, database, inbox, monkeypatch
):
    # A stranger types someone else's address, from three addresses of their own.
    for n, address in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
        response = client.post(
            "/comments/",
            data={
                "post_slug": MENTOR_SLUG,
                "name": "Not Carol",
                "email": "Carol@Example.com " if n else CAROL,
                "body": f"Spam number {n}.",
                "notify_post": "y",
            },
            headers={**SAME_ORIGIN, "Accept": "application/json"},
            environ_base={"REMOTE_ADDR": address},
        )
        assert response.status_code == 202
    deliver(app, database)
    assert len(mail_to(inbox, CAROL)) == 1
    # A day later, one more may go (her requests wait until she confirms or
    # they are forgotten).
    tomorrow = outbox.utcnow() + timedelta(days=1, minutes=1)
    monkeypatch.setattr(outbox, "utcnow", lambda: tomorrow)
    comment(client, database, CAROL, "replies")
    outbox.send_due(app.config, database, clock=lambda: tomorrow)
    assert len(mail_to(inbox, CAROL)) == 2


def test_a_comment_sent_to_spam_asks_for_nothing(app, client, database, inbox):
    response = submit_comment(client, email=CAROL, notify_post="y", homepage="https://bot.example")
    assert response.status_code == 202
    deliver(app, database)
    assert mail_to(inbox, CAROL) == []
    assert database.execute("select count(*) from subscribers").fetchone()[0] == 0


# --- notifications ------------------------------------------------------------------


def test_an_approved_reply_notifies_the_threads_subscriber_once(
    app, client, database, inbox, subscribed
):
    ada = subscribed
    pending = comment(client, database, BOB, parent_id=ada, body="Pending reply, unseen.")
    spam = comment(client, database, BOB, parent_id=ada, body="Spam reply, unseen.")
    db.set_status(database, [spam], "spam", by="test", reason=None)
    deliver(app, database)
    assert [m["Subject"] for m in mail_to(inbox, ADA)] == [
        "Confirm your email for comments on “How to Meet Potential Mentors "
        "Through Informational Interviews”"
    ]
    approve(database, pending)
    deliver(app, database)
    db.set_status(database, [pending], "pending", by="test", reason=None)
    approve(database, pending)  # approved again: told once
    deliver(app, database)
    [_, reply] = mail_to(inbox, ADA)
    assert reply["Subject"] == (
        "New reply to your comment on “How to Meet Potential Mentors Through Informational "
        "Interviews”"
    )
    text = text_of(reply)
    assert "Bob replied to your comment on “How to Meet Potential Mentors" in text
    assert "> Pending reply, unseen.\n" in text
    assert f"Read it and reply: {ORIGIN}{MENTOR_URL}#comment-{pending}" in text
    assert "Spam reply" not in text
    assert "you asked for replies to your comment and new comments on this post" in text


def test_without_site_url_notifications_wait_and_other_emails_still_go(
    app, client, database, inbox, subscribed, caplog
):
    ada = subscribed
    reply = comment(client, database, BOB, parent_id=ada, body="A reply while unset.")
    approve(database, reply)
    app.config.update(SITE_URL=None)
    with db.writing(database):
        outbox.enqueue(database, to=CAROL, subject="Another email", body="b")
    deliver(app, database)  # no traceback: the admin's kind of email still goes
    assert [m["Subject"] for m in mail_to(inbox, CAROL)] == ["Another email"]
    assert len(mail_to(inbox, ADA)) == 1  # only her confirmation, from before
    assert "SITE_URL not set: 1 notification job(s) wait" in caplog.text
    app.config.update(SITE_URL=ORIGIN)
    deliver(app, database)
    assert mail_to(inbox, ADA)[-1]["Subject"].startswith("New reply to your comment")


def test_nobody_is_told_of_their_own_comment(app, client, database, inbox, subscribed):
    ada = subscribed
    own_reply = comment(client, database, "ADA@example.com ", parent_id=ada, name="Ada")
    own_comment = comment(client, database, ADA, name="Ada")
    approve(database, own_reply, own_comment)
    deliver(app, database)
    assert len(mail_to(inbox, ADA)) == 1  # the confirmation only


def test_post_subscribers_are_told_of_new_approved_comments_on_that_post_only(
    app, client, database, inbox, subscribed
):
    elsewhere = comment(client, database, BOB, post_slug=OTHER_SLUG)
    pending = comment(client, database, BOB, body="Still waiting for approval.")
    here = comment(client, database, CAROL, body="Informational interviews are underrated.")
    approve(database, elsewhere, here)
    deliver(app, database)
    [_, news] = mail_to(inbox, ADA)
    assert news["Subject"].startswith("New comment on “How to Meet Potential Mentors")
    text = text_of(news)
    assert "Carol commented on “How to Meet" in text
    assert "> Informational interviews are underrated.\n" in text
    assert "Still waiting" not in text and pending


def test_a_reply_is_not_told_while_its_thread_is_not_shown(
    app, client, database, inbox, subscribed
):
    ada = subscribed
    reply = comment(client, database, BOB, parent_id=ada, body="Under a hidden comment.")
    db.set_status(database, [ada], "pending", by="test", reason=None)  # unapproved
    approve(database, reply)  # approved, but not on the page: its parent is not
    deliver(app, database)
    assert len(mail_to(inbox, ADA)) == 1


def test_your_comment_is_live(app, client, database, inbox):
    ada = comment(client, database, ADA, "live")
    confirm(app, client, database, inbox, ADA)
    approve(database, ada)
    deliver(app, database)
    [_, live] = mail_to(inbox, ADA)
    assert live["Subject"] == (
        "Your comment is live on “How to Meet Potential Mentors Through Informational Interviews”"
    )
    assert f"{ORIGIN}{MENTOR_URL}#comment-{ada}" in text_of(live)
    # Asked once: spent. Its one-click link stops everything else.
    assert database.execute("select count(*) from subscriptions").fetchone()[0] == 0
    assert "/unsubscribe/" in live["List-Unsubscribe"]


def test_every_notification_has_one_click_unsubscribe_headers_and_links(
    app, client, database, inbox, subscribed
):
    approve(database, comment(client, database, BOB))
    deliver(app, database)
    news = mail_to(inbox, ADA)[-1]
    header = news["List-Unsubscribe"]
    assert re.fullmatch(
        r"<https://careers\.example/comments/subscriptions/unsubscribe/\S+>", header
    )
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert news["Auto-Submitted"] == "auto-generated"
    text = text_of(news)
    these = re.search(r"^Stop these emails: (\S+)$", text, re.MULTILINE)[1]
    everything = re.search(r"^Stop every email from Career Notes: (\S+)$", text, re.MULTILINE)[1]
    assert header == f"<{these}>" and everything != these


def test_a_post_with_many_subscribers_costs_its_decision_one_row(
    app, client, database, inbox, without_rate_limits, monkeypatch
):
    monkeypatch.setattr(subscriptions, "FAN_OUT_BATCH", 2)  # several batches for 5 readers
    readers = [f"reader{n}@example.com" for n in range(5)]
    for address in readers:
        comment(client, database, address, "post")
        confirm(app, client, database, inbox, address)
    news = comment(client, database, BOB, body="News for five readers.")
    before = database.execute("select count(*) from outbox").fetchone()[0]
    approve(database, news)
    # The decision wrote one job, no email yet: the sender expands it.
    assert database.execute("select count(*) from outbox").fetchone()[0] == before
    assert database.execute("select count(*) from notification_jobs").fetchone()[0] == 1
    deliver(app, database)
    for address in readers:
        assert [m["Subject"] for m in mail_to(inbox, address)][1:] == [
            "New comment on “How to Meet Potential Mentors Through Informational Interviews”"
        ]
    deliver(app, database)
    assert len(inbox.messages) == 2 * len(readers)  # nothing twice


def test_a_decision_that_rolls_back_leaves_no_email(app, client, database, inbox, subscribed):
    bob = comment(client, database, BOB)
    database.execute(
        "create trigger no_decisions before insert on decisions "
        "begin select raise(abort, 'the disk is full'); end"
    )
    with pytest.raises(sqlite3.DatabaseError):
        approve(database, bob)
    database.execute("drop trigger no_decisions")
    assert db.get_comment(database, bob)["status"] == "pending"
    assert (
        database.execute(
            "select count(*) from notification_jobs where comment_id = ?", [bob]
        ).fetchone()[0]
        == 0
    )
    deliver(app, database)
    assert len(mail_to(inbox, ADA)) == 1  # the confirmation only
    # And the other way round: no notifications, no decision.
    database.execute(
        "create trigger no_jobs before insert on notification_jobs "
        "begin select raise(abort, 'the disk is full'); end"
    )
    with pytest.raises(sqlite3.DatabaseError):
        approve(database, bob)
    assert db.get_comment(database, bob)["status"] == "pending"


def test_the_admins_approval_in_the_queue_notifies(app, client, database, inbox, subscribed, admin):
    bob = comment(client, database, BOB, body="Approved from the queue.")
    admin.login()
    admin.act("approve", bob)
    deliver(app, database)
    assert "> Approved from the queue." in text_of(mail_to(inbox, ADA)[-1])


def test_the_authors_reply_notifies(app, client, database, inbox, subscribed):
    ada = subscribed
    report = db.add_author_reply(database, ada, author_name="Maya", body="Glad it helped!", by="t")
    assert report.new_id
    deliver(app, database)
    reply = mail_to(inbox, ADA)[-1]
    assert "Maya replied to your comment" in text_of(reply)


# --- unsubscribing ---------------------------------------------------------------------


@pytest.fixture
def notification(app, client, database, inbox, subscribed):
    """A notification Ada got, about Bob's approved reply to her comment (both
    her subscriptions, to replies and to the post, asked for it)."""
    approve(database, comment(client, database, BOB, parent_id=subscribed))
    deliver(app, database)
    return mail_to(inbox, ADA)[-1]


def one_click_path(message):
    return urlsplit(message["List-Unsubscribe"].strip("<>")).path


def subscription_count(database):
    return database.execute("select count(*) from subscriptions").fetchone()[0]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a mail provider's POST: no Origin, no cookie
        {"Origin": "https://mail.example", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_rfc_8058_one_click_unsubscribes_without_our_origin(
    app, client, database, inbox, notification, headers
):
    response = client.post(
        one_click_path(notification),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    assert response.status_code == 200
    assert "You are unsubscribed" in words(response)
    # The email came from her replies and post subscriptions: both stop.
    assert subscription_count(database) == 0
    approve(database, comment(client, database, CAROL))
    deliver(app, database)
    assert len(mail_to(inbox, ADA)) == 2  # the confirmation and the first notification


def test_the_unsubscribe_link_shows_a_button_and_its_post_unsubscribes(
    app, client, database, notification
):
    path = link_in(notification, "unsubscribe")
    response = client.get(path)
    assert response.status_code == 200
    assert buttons(response) == ["Unsubscribe"]
    assert "Stop these emails?" in words(response)
    assert subscription_count(database) == 2
    response = client.post(path, data={"List-Unsubscribe": "One-Click"}, headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert subscription_count(database) == 0
    assert db.get_subscriber(database, 1) is not None  # the address stays confirmed
    again = client.post(path, headers=SAME_ORIGIN)
    assert again.status_code == 200 and "You are unsubscribed" in words(again)
    assert "You are unsubscribed" in words(client.get(path))


def test_one_subscription_stops_and_the_others_go_on(app, client, database, inbox, subscribed):
    # Ada also follows another post; unsubscribing from this one keeps that one.
    comment(client, database, ADA, "post", post_slug=OTHER_SLUG)
    approve(database, comment(client, database, BOB, post_slug=OTHER_SLUG))
    deliver(app, database)
    elsewhere = mail_to(inbox, ADA)[-1]
    assert elsewhere["Subject"] == "New comment on “How to Ask for Feedback You Can Actually Use”"
    client.post(one_click_path(elsewhere), data="List-Unsubscribe=One-Click")
    assert [s["kind"] for s in db.subscriptions_of(database, 1)] == ["replies", "post"]


def test_unsubscribing_from_everything_forgets_the_address(
    app, client, database, inbox, notification
):
    comment(client, database, ADA, "post", post_slug=OTHER_SLUG)
    path = re.search(
        r"^Stop every email from Career Notes: https://careers\.example(\S+)$",
        text_of(notification),
        re.MULTILINE,
    )[1]
    response = client.get(path)
    assert "Stop every email from Career Notes?" in words(response)
    assert buttons(response) == ["Unsubscribe"]
    response = client.post(path, headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert db.get_subscriber(database, 1) is None
    assert subscription_count(database) == 0
    approve(database, comment(client, database, CAROL))
    deliver(app, database)
    assert len(mail_to(inbox, ADA)) == 2


def test_a_tampered_unsubscribe_link_is_refused(app, client, database, notification):
    path = one_click_path(notification)
    forged = subscription_links.unsubscribe_everything_token("another-secret", 1)
    for bad in (path[:-3], f"/comments/subscriptions/unsubscribe/{forged}"):
        response = client.post(bad, data="List-Unsubscribe=One-Click")
        assert response.status_code == 400
        assert "This link does not work" in words(response)
    assert subscription_count(database) == 2


def test_unsubscribe_links_do_not_expire(app, client, database, notification, monkeypatch):
    a_year_later = time.time() + 365 * 86400
    monkeypatch.setattr(subscription_links, "clock", lambda: a_year_later)
    client.post(one_click_path(notification), data="List-Unsubscribe=One-Click")
    assert subscription_count(database) == 0


# --- the "previously approved commenter" rule -------------------------------------------


def test_the_rule_is_off_by_default(app, client, database, inbox, subscribed):
    later = comment(client, database, ADA, name="Ada")
    assert db.get_comment(database, later)["status"] == "pending"


def test_the_rule_publishes_a_confirmed_commenter_with_an_approved_comment(
    app, client, database, inbox, subscribed, live_site
):
    app.config["AUTO_APPROVE_KNOWN_COMMENTERS"] = True
    response = submit_comment(
        client, name="Ada", email=" Ada@Example.com", body="Back with another question."
    )
    assert response.status_code == 202
    assert response.get_json()["message"] == "Thank you! Your comment is published."
    later = database.execute("select max(id) from comments").fetchone()[0]
    stored = db.get_comment(database, later)
    assert stored["status"] == "approved"
    assert stored["reason"] == "approved: previously approved commenter (confirmed email)"
    [decision] = db.decisions_for(database, later)
    assert (decision["action"], decision["by"]) == (
        "approved",
        "rule: previously approved commenter",
    )
    assert "Back with another question." in live_site.text(MENTOR_URL)
    # Its notifications go out as any approval's (Carol follows the post).
    comment(client, database, CAROL, "post")
    confirm(app, client, database, inbox, CAROL)
    submit_comment(client, name="Ada", email=ADA, body="And a third one.")
    deliver(app, database)
    assert "> And a third one." in text_of(mail_to(inbox, CAROL)[-1])


@pytest.mark.parametrize(
    "case",
    ["unconfirmed", "no approved comment", "held by a rule", "honeypot"],
)
def test_the_rule_approves_nothing_else(app, client, database, inbox, without_rate_limits, case):
    app.config["AUTO_APPROVE_KNOWN_COMMENTERS"] = True
    first = comment(client, database, ADA, "post")
    if case != "unconfirmed":
        confirm(app, client, database, inbox, ADA)
    if case != "no approved comment":
        approve(database, first)
    fields = {"body": "A plain follow-up."}
    if case == "held by a rule":
        fields["body"] = "See https://a.example and https://b.example"
    if case == "honeypot":
        fields["homepage"] = "https://bot.example"
    response = submit_comment(client, name="Ada", email=ADA, **fields)
    assert response.status_code == 202
    assert "awaiting approval" in response.get_json()["message"]
    later = db.get_comment(database, database.execute("select max(id) from comments").fetchone()[0])
    assert later["status"] == ("spam" if case == "honeypot" else "pending")
