"""A reader's comment: validation, answers, anti-spam and the cross-origin check."""

from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from comments_service import create_app, db, outbox
from comments_service.extensions import limiter
from comments_service.notify import new_comment_email
from mail_server import parse, smtp_settings
from support import MENTOR_SLUG, MENTOR_URL, submit_comment


def only_comment(database):
    rows = db.export_comments(database)
    assert len(rows) == 1
    return rows[0]


def test_a_valid_comment_is_queued_as_pending(client, database):
    response = submit_comment(client)
    assert response.status_code == 202
    assert response.json == {
        "status": "pending",
        "message": "Thank you! Your comment is awaiting approval "
        "and will appear once it is approved.",
    }
    row = only_comment(database)
    assert row["post_slug"] == MENTOR_SLUG
    assert row["status"] == "pending"
    assert (row["author_name"], row["email"], row["website"]) == (
        "Ada Reader",
        "ada@example.com",
        "https://ada.example",
    )
    assert row["body"] == "This helped me prepare for my first informational interview."
    assert row["reason"] is None
    assert datetime.fromisoformat(row["created_at"]) > datetime.now(UTC) - timedelta(minutes=1)


def test_without_javascript_the_reader_gets_a_confirmation_page(client):
    response = submit_comment(client, json=False)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/comments/thanks?post={MENTOR_SLUG}"
    page = BeautifulSoup(client.get(response.headers["Location"]).data, "html.parser")
    status = page.select_one('[role="status"]')
    assert "awaiting approval" in status.get_text()
    back = page.find("a", string=lambda s: s and "Back to" in s)
    assert back["href"] == MENTOR_URL + "#comments"
    assert "Career Notes" in page.title.get_text()


def test_a_reader_gets_no_cookie(client):
    response = submit_comment(client, json=False)
    assert "Set-Cookie" not in response.headers


VALIDATION = [
    ({"name": ""}, "name", "Please enter your name."),
    ({"name": "   "}, "name", "Please enter your name."),
    ({"name": "x" * 101}, "name", "under 100 characters"),
    ({"email": "not-an-email"}, "email", "does not look like an email address"),
    ({"email": "a@b"}, "email", "does not look like an email address"),
    ({"website": "javascript:alert(1)"}, "website", "http:// or https://"),
    ({"website": "ftp://files.example"}, "website", "http:// or https://"),
    ({"website": "www.example.com"}, "website", "http:// or https://"),
    ({"website": "https://" + "a" * 200 + ".example"}, "website", "under 200 characters"),
    ({"body": ""}, "body", "Please write a comment."),
    ({"body": "x"}, "body", "between 2 and 5,000 characters"),
    ({"body": "x" * 5001}, "body", "between 2 and 5,000 characters"),
]


@pytest.mark.parametrize(("fields", "field", "message"), VALIDATION)
def test_each_rule_answers_400_with_a_message_for_that_field(
    client, database, fields, field, message
):
    response = submit_comment(client, **fields)
    assert response.status_code == 400
    assert set(response.json["errors"]) == {field}
    assert message in response.json["errors"][field]
    assert db.export_comments(database) == []


@pytest.mark.parametrize(
    "fields",
    [{"email": ""}, {"website": ""}, {"name": "x" * 100}, {"body": "ok"}, {"body": "y" * 5000}],
)
def test_optional_fields_and_limits_that_are_allowed(client, fields):
    assert submit_comment(client, **fields).status_code == 202


def test_a_failed_form_comes_back_with_everything_typed_and_a_message_per_field(client):
    typed = {
        "name": "Ada <b>Reader</b>",
        "email": "ada-at-example",
        "website": "ftp://ada.example",
        "body": "A long thought\nover two lines & symbols <3",
    }
    response = submit_comment(client, json=False, **typed)
    assert response.status_code == 400
    page = BeautifulSoup(response.data, "html.parser")
    form = page.select_one("form.comment-form")
    assert form.select_one("#name")["value"] == typed["name"]
    assert form.select_one("#email")["value"] == typed["email"]
    assert form.select_one("#website")["value"] == typed["website"]
    assert form.select_one("#body").get_text() == typed["body"]
    assert "does not look like an email address" in form.select_one("#email-error").get_text()
    assert "http:// or https://" in form.select_one("#website-error").get_text()
    assert form.select_one("#email")["aria-invalid"] == "true"
    assert form.select_one("#name").get("aria-invalid") is None
    assert len(page.select('[role="alert"] li')) == 2
    assert form.select_one('input[name="post_slug"]')["value"] == MENTOR_SLUG


@pytest.mark.parametrize("as_json", [True, False])
def test_an_unknown_post_is_404_with_a_clear_message(client, as_json):
    response = submit_comment(client, json=as_json, post_slug="no-such-post")
    assert response.status_code == 404
    assert b"This post does not exist, so it cannot take comments." in response.data


@pytest.mark.parametrize("as_json", [True, False])
def test_a_post_with_comments_closed_is_403(client, database, as_json):
    response = submit_comment(client, json=as_json, post_slug="answer-tell-me-about-yourself")
    assert response.status_code == 403
    assert b"Comments are closed for this post." in response.data
    assert db.export_comments(database) == []


def test_the_honeypot_answers_as_usual_but_files_the_comment_as_spam(client, database):
    response = submit_comment(client, homepage="http://spam.example")
    assert response.status_code == 202
    row = only_comment(database)
    assert (row["status"], row["reason"]) == ("spam", "honeypot filled")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("See https://one.example and https://two.example", "held: 2 links"),
        ("[a](https://a.example) [b](http://b.example) www.c.example", "held: 3 links"),
        ("Write to me at someone@example.com please", "held: contains an email address"),
        ("Call me on +44 20 7946 0958 tonight", "held: contains a phone number"),
        ("Only one link: https://one.example", None),
        ("I applied to 12 jobs in 2023 and got 3 interviews", None),
    ],
)
def test_suspicious_comments_are_held_with_the_reason_recorded(client, database, body, reason):
    assert submit_comment(client, body=body).status_code == 202
    row = only_comment(database)
    assert row["status"] == "pending"
    assert row["reason"] == reason


def test_the_sixth_comment_in_a_minute_is_429_with_a_readable_message(client, database):
    for _ in range(5):
        assert submit_comment(client).status_code == 202
    response = submit_comment(client)
    assert response.status_code == 429
    assert "wait a minute" in response.json["error"]
    html = submit_comment(client, json=False)
    assert html.status_code == 429
    assert b"Please wait a minute and try again." in html.data
    assert len(db.export_comments(database)) == 5


def test_failed_validation_does_not_use_up_the_rate_limit(client):
    for _ in range(6):
        assert submit_comment(client, name="").status_code == 400
    assert submit_comment(client).status_code == 202


def test_rate_limits_can_be_switched_off_for_benchmarks(monkeypatch, tmp_path, live_site):
    monkeypatch.setenv("RATELIMIT_ENABLED", "0")
    app = create_app(
        {"SECRET_KEY": "x", "COMMENTS_DB": str(tmp_path / "c.db"), "SITE_DIR": str(live_site.path)}
    )
    client = app.test_client()
    try:
        for _ in range(7):
            assert submit_comment(client).status_code == 202
    finally:
        limiter.enabled = True  # the limiter is shared by every app in this process


def test_an_oversized_request_is_refused_with_413(client, database):
    response = submit_comment(client, body="x" * 100_000)
    assert response.status_code == 413
    assert "too long" in response.json["error"]
    assert db.export_comments(database) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_a_post_from_another_site_is_403(client, database, headers):
    response = submit_comment(client, headers=headers)
    assert response.status_code == 403
    assert "own pages" in response.json["error"]
    assert db.export_comments(database) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "https://careers.example"},  # SITE_URL, behind a proxy
    ],
)
def test_a_post_from_our_own_pages_is_accepted(app, client, headers):
    app.config["SITE_URL"] = "https://careers.example"
    assert submit_comment(client, headers=headers).status_code == 202


def test_pending_text_is_never_served_publicly(app, client, live_site):
    secret = "A pending remark nobody may read yet"
    submit_comment(client, body=secret, json=False)
    for path in live_site.html_pages():
        assert secret not in path.read_text()
    assert secret.encode() not in client.get(MENTOR_URL).data
    assert secret.encode() not in client.get(f"/comments/thanks?post={MENTOR_SLUG}").data
    assert client.get("/comments/reply/1").status_code == 404


def approve_directly(database, comment_id):
    db.set_status(database, [comment_id], "approved", by="test", reason="approved")


def test_a_reply_to_an_approved_comment_is_stored_under_it(client, database):
    submit_comment(client)
    approve_directly(database, 1)
    assert submit_comment(client, parent_id="1", body="Same here!").status_code == 202
    assert db.get_comment(database, 2)["parent_id"] == 1
    # Replies stay one level deep: answering the reply attaches to the top comment.
    approve_directly(database, 2)
    assert submit_comment(client, parent_id="2", body="And me.").status_code == 202
    assert db.get_comment(database, 3)["parent_id"] == 1


@pytest.mark.parametrize("case", ["pending parent", "other post", "missing"])
def test_a_reply_needs_an_approved_comment_on_the_same_post(client, database, case):
    submit_comment(client)
    parent_id = "1"
    if case == "other post":
        submit_comment(client, post_slug="keep-a-brag-document")
        approve_directly(database, 2)
        parent_id = "2"
    elif case == "missing":
        parent_id = "99"
    response = submit_comment(client, parent_id=parent_id, body="A reply")
    assert response.status_code == 400
    assert "not available" in response.json["errors"]["body"]


def test_the_reply_page_works_without_javascript(client, database):
    submit_comment(client, name="First Reader", body="What a *useful* list.")
    approve_directly(database, 1)
    page = BeautifulSoup(client.get("/comments/reply/1").data, "html.parser")
    assert page.h1.get_text(strip=True) == "Reply to First Reader"
    assert page.select_one(".comment-body em").get_text() == "useful"
    assert page.select_one('input[name="parent_id"]')["value"] == "1"
    assert page.select_one('input[name="post_slug"]')["value"] == MENTOR_SLUG


def test_the_ip_address_is_kept_only_as_a_keyed_hash_and_forgotten_after_30_days(client, database):
    submit_comment(client, headers={"X-Forwarded-For": "203.0.113.9"})
    row = only_comment(database)
    assert row["ip_hash"] and "127.0.0.1" not in row["ip_hash"]
    assert row["ip_hash"] == db.hash_ip("test-secret", "127.0.0.1")
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    database["comments"].update(row["id"], {"created_at": old})
    db.forget_old_ip_hashes(database)
    assert only_comment(database)["ip_hash"] is None


def test_the_admin_is_emailed_about_a_new_comment(app, client, database, smtp_server):
    port, inbox = smtp_server
    app.config.update(smtp_settings(port), SITE_URL="https://careers.example")
    submit_comment(
        client,
        name="Eve\r\nBcc: x@evil.example",
        body="<script>alert(1)</script> hi",
        headers={"Host": "evil.example"},  # the links must not follow a forged Host
    )
    assert outbox.send_due(app.config, database).sent == 1
    envelope = inbox.envelopes[0]
    assert envelope.rcpt_tos == ["maya@careers.example"]
    message = parse(envelope)
    assert message["Bcc"] is None
    assert message["Subject"] == (
        "New comment awaiting approval on “How to Meet Potential Mentors Through "
        "Informational Interviews”"
    )
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    text = message.get_content()
    assert "> <script>alert(1)</script> hi" in text  # quoted plain text, never HTML
    assert "Name:    Eve Bcc: x@evil.example" in text
    assert "In the admin: https://careers.example/admin/comments/1" in text
    assert "evil.example/" not in text


def test_no_email_is_written_without_smtp_settings(app, client, database):
    assert new_comment_email(app.config, {"title": "t", "url": "/t/"}, {}) is None
    submit_comment(client)
    assert db.outbox_rows(database) == []
