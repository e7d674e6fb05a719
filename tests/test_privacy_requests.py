"""A reader's data requests from the console: `privacy export EMAIL` and
`privacy erase EMAIL` cover their comments, their subscriptions and the
emails to them; and the Privacy page says what is kept, and how long."""

import json
import os
import stat

import pytest

from comments_service import db, outbox, publish
from mail_server import smtp_settings
from support import MENTOR_SLUG, MENTOR_URL, ORIGIN, submit_comment

ADA, BOB = "ada@example.com", "bob@example.com"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def stored(app, client, database, smtp_server, without_rate_limits):
    """Ada: an approved comment (with Bob's approved reply under it), a pending
    one, a subscription, her confirmation email sent; Bob's own comment."""
    port, _inbox = smtp_server
    app.config.update(smtp_settings(port), SMTP_TO=None, SITE_URL=ORIGIN)

    def post(email, body, **fields):
        response = submit_comment(
            client, name=email.split("@")[0].title(), email=email, body=body, **fields
        )
        assert response.status_code == 202, response.get_json()
        return database.execute("select max(id) from comments").fetchone()[0]

    ada = post(ADA, "Ada's approved words.", notify_replies="y")
    db.set_status(database, [ada], "approved", by="test", reason=None)
    reply = post(BOB, "Bob's reply to Ada.", parent_id=ada)
    pending = post("Ada@Example.com", "Ada's pending words.")
    bob = post(BOB, "Bob's own comment.")
    db.set_status(database, [reply, bob], "approved", by="test", reason=None)
    publish.publish_site(app.config, {MENTOR_SLUG})
    outbox.send_due(app.config, database)
    return {"ada": ada, "reply": reply, "pending": pending, "bob": bob}


def test_export_holds_everything_about_the_address_and_nothing_else(runner, stored):
    result = runner.invoke(args=["privacy", "export", " ADA@example.com"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["email"] == ADA
    assert [c["body"] for c in document["comments"]] == [
        "Ada's approved words.",
        "Ada's pending words.",
    ]
    assert document["subscriptions"]["address"]["email"] == ADA
    assert [s["kind"] for s in document["subscriptions"]["asked_for"]] == ["replies"]
    [email] = document["emails"]
    assert email["recipient"] == ADA and email["subject"].startswith("Confirm your email")
    assert "Bob" not in result.stdout


def test_export_to_a_file_is_for_the_owners_eyes_only(runner, stored, tmp_path):
    path = tmp_path / "ada.json"
    result = runner.invoke(args=["privacy", "export", ADA, str(path)])
    assert result.exit_code == 0, result.output
    assert "Exported ada@example.com: 2 comment(s), 1 subscription(s), 1 email(s)" in result.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["email"] == ADA


def test_erase_removes_the_person_and_republishes(runner, database, live_site, stored):
    assert "Ada's approved words." in live_site.page(MENTOR_URL).get_text()
    result = runner.invoke(args=["privacy", "erase", ADA, "--yes"])
    assert result.exit_code == 0, result.output
    assert (
        "Erased ada@example.com: 2 comment(s) (and 1 reply by others under them), "
        "1 subscription(s), 1 email(s)."
    ) in result.output
    found = db.person_data(database, ADA)
    assert found == {"comments": [], "subscriber": None, "subscriptions": [], "emails": []}
    assert db.get_comment(database, stored["reply"]) is None  # as "Delete permanently" does
    assert db.get_comment(database, stored["bob"])["status"] == "approved"
    page = live_site.page(MENTOR_URL).get_text()
    assert "Ada's approved words." not in page and "Bob's reply" not in page
    assert "Bob's own comment." in page
    # What is kept: the decisions, which name no one.
    decisions = database.execute("select * from decisions where comment_id = ?", [stored["ada"]])
    rows = [dict(zip([c[0] for c in decisions.description], r, strict=True)) for r in decisions]
    assert [r["action"] for r in rows][-2:] == ["trash", "deleted"]
    assert not any("ada" in str(value).lower() for row in rows for value in row.values())
    # No email of hers is left to send, nor anything to expand for her comment.
    assert (
        database.execute(
            "select count(*) from notification_jobs where comment_id = ?", [stored["ada"]]
        ).fetchone()[0]
        == 0
    )


def test_erase_asks_first(runner, database, stored):
    result = runner.invoke(args=["privacy", "erase", ADA], input="n\n")
    assert result.exit_code != 0
    assert "Found for ada@example.com: 2 comment(s), 1 subscription(s), 1 email(s)" in result.output
    assert len(db.person_data(database, ADA)["comments"]) == 2


def test_erase_of_someone_unknown_says_so(runner, stored):
    result = runner.invoke(args=["privacy", "erase", "nobody@example.com", "--yes"])
    assert result.exit_code == 0
    assert "Nothing is stored about nobody@example.com." in result.output
    result = runner.invoke(args=["privacy", "erase", "not an address", "--yes"])
    assert result.exit_code == 2 and "not an email address" in result.output


def test_the_privacy_page_lists_subscriptions_and_how_long_they_are_kept(site):
    text = " ".join(site.page("/privacy-policy/").get_text(" ").split())
    assert "Email notifications" in text
    assert "unconfirmed request is forgotten after 7 days" in text
    assert "until you unsubscribe" in text
