"""One-tap moderation from the admin's email: the email, the signed links and
the page they open (GET shows one button, POST acts once), and the comment's
own page in the admin."""

import time
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from comments_service import action_links, db, outbox, publish
from mail_server import links, smtp_settings, text_of
from support import ADMIN_USER, MENTOR_URL, submit_comment

TEXT = "Informational interviews got me my first job."
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def words(response):
    return " ".join(soup(response).get_text(" ").split())


@pytest.fixture
def email(app, client, database, smtp_server):
    """A comment submitted, and the admin's email about it as the SMTP server got it."""
    port, inbox = smtp_server
    app.config.update(smtp_settings(port), SITE_URL="https://careers.example")
    submit_comment(
        client,
        name="Ada Reader",
        body=f"{TEXT}\nApprove: https://evil.example/steal",
        headers={"Host": "evil.example"},
    )
    assert outbox.send_due(app.config, database).sent == 1
    return inbox.messages[0]


@pytest.fixture
def link(email):
    """The path of each one-tap link of the email (the test client has no host)."""
    return {label: urlsplit(url).path for label, url in links(email).items()}


def status_of(database, comment_id=1):
    return db.get_comment(database, comment_id)["status"]


def press(client, path, action, headers=SAME_ORIGIN):
    return client.post(path, data={"action": action}, headers=headers)


# --- the email ----------------------------------------------------------------------


def test_the_email_names_the_post_the_commenter_and_quotes_the_text(email):
    text = text_of(email)
    assert email["Subject"].startswith("New comment awaiting approval on “How to Meet")
    assert "Name:    Ada Reader" in text
    assert f"Post:    https://careers.example{MENTOR_URL}" in text
    # Quoted line by line: the reader's "Approve:" line cannot pass for ours.
    assert f"> {TEXT}\n> Approve: https://evil.example/steal\n" in text
    assert set(links(email)) == {"Approve", "Spam", "Trash"}
    assert all(
        url.startswith("https://careers.example/admin/act/") for url in links(email).values()
    )
    assert "In the admin: https://careers.example/admin/comments/1" in text
    assert email["Auto-Submitted"] == "auto-generated"
    assert email["Message-ID"] and email["Date"]


# --- a link opened: one button, nothing changed --------------------------------------


def test_opening_a_link_changes_nothing_and_shows_one_button(client, database, link):
    for _ in range(3):  # a link scanner, a preview, the admin
        response = client.get(link["Approve"])
        assert response.status_code == 200
    assert status_of(database) == "pending"
    assert db.get_comment(database, 1)["version"] == 1
    page = soup(response)
    assert [b.get_text(strip=True) for b in page.select("button")] == ["Approve"]
    assert page.select("input:not([type=hidden]), textarea") == []  # nothing to type
    assert page.h1.get_text(strip=True) == "Approve this comment?"
    assert TEXT in page.select_one(".comment-body").get_text()


def test_the_page_shows_that_comment_and_nothing_else_of_the_admins(client, database, link, admin):
    submit_comment(client, name="Other Reader", body="Another comment in the queue.")
    response = client.get(link["Spam"])
    text = words(response)
    assert "ada@example.com" not in text  # the reader's email stays in the admin
    assert "Another comment" not in text and "Pending (" not in text
    assert "Set-Cookie" not in response.headers  # no session: the link is the permission
    assert response.headers["Referrer-Policy"] == "same-origin"  # the link goes nowhere else
    assert response.headers["Cache-Control"] == "no-store"


# --- pressing the button ------------------------------------------------------------


def test_approve_publishes_the_comment_and_says_where(client, database, link, live_site):
    response = press(client, link["Approve"], "approve")
    assert response.status_code == 200
    assert "Approved. It is live on How to Meet Potential Mentors" in words(response)
    post_link = soup(response).select_one("[role=status] a")["href"]
    assert post_link == f"https://careers.example{MENTOR_URL}"
    comment = db.get_comment(database, 1)
    assert (comment["status"], comment["decided_by"]) == ("approved", "email link")
    assert TEXT in live_site.page(MENTOR_URL).select_one(".comment-body").get_text()


def test_spam_sets_it_aside(client, database, link):
    response = press(client, link["Spam"], "spam")
    assert response.status_code == 200
    assert "Marked as spam. Readers will not see it." in words(response)
    assert status_of(database) == "spam"


def test_a_used_link_is_gone_and_changes_nothing(client, database, link):
    assert press(client, link["Approve"], "approve").status_code == 200
    decisions = db.decisions_for(database, 1)
    for response in (client.get(link["Approve"]), press(client, link["Approve"], "approve")):
        assert response.status_code == 410
        assert "This link has been used" in words(response)
        assert "The comment was approved from the email at" in words(response)
    # The email's other links were spent with it.
    assert press(client, link["Trash"], "trash").status_code == 410
    assert status_of(database) == "approved"
    assert db.decisions_for(database, 1) == decisions


def test_an_expired_link_is_gone(client, database, link, monkeypatch):
    eight_days_later = time.time() + 8 * 86400
    monkeypatch.setattr(action_links, "clock", lambda: eight_days_later)
    for response in (client.get(link["Approve"]), press(client, link["Approve"], "approve")):
        assert response.status_code == 410
        assert "This link has expired" in words(response)
        assert "work for 7 days" in words(response)
        assert soup(response).find("a", string="See the comment in the admin")
    assert status_of(database) == "pending"


def test_a_link_still_works_on_its_last_day(client, database, link, monkeypatch):
    almost_seven_days_later = time.time() + 7 * 86400 - 60
    monkeypatch.setattr(action_links, "clock", lambda: almost_seven_days_later)
    assert press(client, link["Approve"], "approve").status_code == 200


@pytest.mark.parametrize(
    "tamper",
    [
        # The signature changed: not in its last character, whose low bits are
        # base64 padding that decodes the same (the test then passed the token).
        lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:],
        lambda t: action_links.make_token("another-secret", 1, "approve", 1),
        lambda t: t.split(".", 1)[0],  # cut short by a mail program
        lambda t: "x" * 5000,
        lambda t: "not-a-token",
    ],
)
def test_a_tampered_link_is_refused_with_a_clear_page(client, database, link, tamper):
    token = tamper(link["Approve"].rsplit("/", 1)[1])
    for response in (
        client.get(f"/admin/act/{token}"),
        press(client, f"/admin/act/{token}", "approve"),
    ):
        assert response.status_code == 400
        assert "This link does not work" in words(response)
        assert "Traceback" not in response.get_data(as_text=True)
    assert status_of(database) == "pending"


def test_a_link_changed_to_another_comment_or_action_is_refused(client, database, link):
    # The link's comment, action and version are readable, not secret;
    # changing any of them breaks the signature.
    token = link["Approve"].rsplit("/", 1)[1]
    assert token.startswith("1.approve.1.")
    submit_comment(client, body="A second comment.")
    for forged in ("2.approve.1.", "1.trash.1.", "1.approve.2."):
        path = f"/admin/act/{forged}{token.removeprefix('1.approve.1.')}"
        assert client.get(path).status_code == 400
        assert press(client, path, forged.split(".")[1]).status_code == 400
    assert status_of(database, 1) == status_of(database, 2) == "pending"


def test_a_spam_link_cannot_approve(client, database, link):
    response = press(client, link["Spam"], "approve")
    assert response.status_code == 400
    assert "This link can only spam the comment" in words(response)
    assert status_of(database) == "pending"


def test_after_another_admin_decided_the_page_says_who_and_when(client, database, link, admin):
    admin.login()
    admin.act("trash", 1)
    response = press(client, link["Approve"], "approve")
    assert response.status_code == 409
    assert f"Not changed: moved to trash by {ADMIN_USER} at" in words(response)
    assert "while you were reading the email." in words(response)
    assert status_of(database) == "trash"


def test_a_cross_site_post_is_refused(client, database, link):
    response = press(client, link["Approve"], "approve", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert status_of(database) == "pending"


def test_a_failed_publish_keeps_the_decision_and_says_so(client, database, link, monkeypatch):
    def broken(config, changed_posts=None):
        raise publish.BuildError("the theme has a syntax error")

    monkeypatch.setattr(publish, "publish_site", broken)
    response = press(client, link["Approve"], "approve")
    assert response.status_code == 200
    assert (
        "Saved, but the site is not updated: the theme has a syntax error. "
        "It is retried automatically." in words(response)
    )
    assert status_of(database) == "approved"


# --- the comment's page in the admin -----------------------------------------------


def test_the_admin_link_opens_that_comment_with_its_buttons(client, database, email, admin):
    path = "/admin/comments/1"
    assert client.get(path).status_code == 302  # a login first
    admin.login()
    response = client.get(path)
    page = soup(response)
    assert [a.h2.get_text(" ", strip=True) for a in page.select("article.queued")] == [
        "Ada Reader on How to Meet Potential Mentors Through Informational Interviews"
    ]
    assert [b.get_text(strip=True) for b in page.select("article button")] == [
        "Approve",
        "Spam",
        "Trash",
    ]
    assert "ada@example.com" in words(response)
    token = page.select_one('input[name="csrf_token"]')["value"]
    response = client.post(
        "/admin/moderate",
        data={"csrf_token": token, "view": "pending", "seen-1": "1", "action": "approve:1"},
    )
    assert response.status_code == 303
    assert status_of(database) == "approved"
    assert client.get("/admin/comments/99").status_code == 404
