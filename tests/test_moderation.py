"""Moderation that cannot go wrong: one vocabulary of statuses and actions,
enforced by the server; every request names the version of each comment the
admin saw, and a comment that changed meanwhile is left alone with a sentence
saying who changed it and when; one view of a comment for every page."""

import shutil
import threading
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from comments_service import db, publish
from comments_service.moderation import ACTIONS, ALLOWED, STATUSES
from support import MENTOR_SLUG, MENTOR_URL, AdminSession

TRIALS = 20


def add(database, body="A thoughtful comment.", name="Ada Reader"):
    return db.add_pending_comment(database, post_slug=MENTOR_SLUG, author_name=name, body=body)


def arrange(database, comment_id, status):
    if status != "pending":
        assert db.set_status(database, [comment_id], status, by="test", reason="arranged").done


def page(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def published_bodies(live_site):
    return [
        " ".join(c.get_text().split()) for c in live_site.page(MENTOR_URL).select(".comment-body")
    ]


def hh_mm(decision):
    return decision["at"][11:16]  # ISO time in UTC, as the messages show it


@pytest.fixture
def alice(app, admin):
    """A second admin, logged in on a browser of her own."""
    session = AdminSession(app, app.test_client(), "alice", "alice-has-a-long-password")
    session.login()
    return session


def race(*calls):
    """Run the calls in threads released at the same moment; their results, in order."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# --- the vocabulary -------------------------------------------------------------

NOT_ALLOWED = [
    (status, action) for status in STATUSES for action in ACTIONS if action not in ALLOWED[status]
]


@pytest.mark.parametrize(("status", "action"), NOT_ALLOWED)
def test_an_action_the_status_does_not_allow_is_refused_by_the_server(
    admin, database, status, action
):
    comment_id = add(database)
    arrange(database, comment_id, status)
    admin.login()
    before = db.get_comment(database, comment_id), db.decisions_for(database, comment_id)
    # Posted by hand: the page shows no such button, but a form can be forged.
    response = admin.act(action, comment_id, view=status)
    assert response.status_code == 303
    [message] = admin.messages(response.headers["Location"])
    assert message.startswith("Not changed: "), message
    assert ("already" if ACTIONS[action].to == status else "cannot be") in message
    assert (db.get_comment(database, comment_id), db.decisions_for(database, comment_id)) == before


def test_each_view_offers_exactly_the_buttons_of_the_table(admin, database):
    for status in STATUSES:
        arrange(database, add(database), status)
    admin.login()
    for status in STATUSES:
        view = "/admin/" if status == "pending" else f"/admin/{status}"
        [queued] = page(admin.client.get(view)).select("article.queued")
        labels = [b.get_text() for b in queued.select(".actions button")]
        assert labels == [ACTIONS[name].label for name in ALLOWED[status]]


def test_the_console_follows_the_same_table(runner, database):
    spam = add(database, "Cheap watches")
    arrange(database, spam, "spam")
    result = runner.invoke(args=["comments", "approve", str(spam)])
    assert result.exit_code != 0
    assert f"#{spam}: Not changed: a spam comment cannot be approved" in result.output
    assert db.get_comment(database, spam)["status"] == "spam"
    restored = runner.invoke(args=["comments", "restore", str(spam)])
    assert restored.exit_code == 0, restored.output
    assert db.get_comment(database, spam)["status"] == "pending"


# --- the state the admin saw ------------------------------------------------------


def test_an_old_database_gets_versions_past_every_decision_kept(tmp_path):
    path = tmp_path / "comments.db"
    shutil.copy(Path(__file__).parent / "fixtures" / "schema-v1.db", path)
    database = db.connect(path)
    try:
        rows = list(database["comments"].rows)
        assert len(rows) == 3
        for row in rows:
            assert row["version"] == 1 + len(db.decisions_for(database, row["id"]))
    finally:
        database.close()


def test_a_decision_another_admin_took_meanwhile_stands_and_is_named(admin, alice, database):
    comment_id = add(database)
    admin.login()
    seen = admin.seen()  # the editor reads the queue...
    alice.act("approve", comment_id)  # ...alice approves meanwhile...
    response = admin.act("trash", comment_id, seen=seen)  # ...the editor presses Trash
    assert response.status_code == 303
    [decision] = db.decisions_for(database, comment_id)
    [message] = admin.messages()
    assert message.startswith(f"Not changed: approved by alice at {hh_mm(decision)} UTC"), message
    assert message.endswith("while you were reading.")
    assert db.get_comment(database, comment_id)["status"] == "approved"


def test_acting_on_a_comment_deleted_meanwhile_says_who_deleted_it(admin, alice, database):
    trashed, queued = add(database, "Set aside"), add(database, "Spam, really")
    arrange(database, trashed, "trash")
    admin.login()
    trash_seen, queue_seen = admin.seen("trash"), admin.seen()
    alice.act("delete", trashed, view="trash")
    alice.act("spam", queued)
    alice.act("delete", queued, view="spam")

    admin.act("restore", trashed, view="trash", seen=trash_seen)
    [restore_message] = admin.messages("/admin/trash")
    admin.act("spam", queued, seen=queue_seen)
    [spam_message] = admin.messages()
    for comment_id, message in ((trashed, restore_message), (queued, spam_message)):
        deleted = db.decisions_for(database, comment_id)[-1]
        assert deleted["action"] == "deleted"
        expected = f"Not changed: deleted permanently by alice at {hh_mm(deleted)} UTC"
        assert message.startswith(expected), message
        assert db.get_comment(database, comment_id) is None
    assert db.counts_by_status(database) == dict.fromkeys(STATUSES, 0)


def test_a_request_that_does_not_say_what_the_admin_saw_changes_nothing(admin, database):
    comment_id = add(database)
    admin.login()
    data = admin.form("approve", comment_id)
    del data[f"seen-{comment_id}"]
    assert admin.client.post("/admin/moderate", data=data).status_code == 303
    [message] = admin.messages()
    assert message.startswith("Not changed:") and "reload the page" in message
    assert db.get_comment(database, comment_id)["status"] == "pending"
    assert db.decisions_for(database, comment_id) == []


def test_an_edit_that_does_not_say_what_the_admin_saw_is_not_saved(admin, database):
    comment_id = add(database, "Original words")
    admin.login()
    edit_path = f"/admin/comments/{comment_id}/edit"
    form = page(admin.client.get(edit_path))
    data = {
        "csrf_token": form.select_one('input[name="csrf_token"]')["value"],
        "author_name": "Ada Reader",
        "body": "Words saved blind",
    }
    response = admin.client.post(edit_path, data=data)
    assert response.status_code == 409
    assert "reload the page" in page(response).select_one(".flash-error").get_text()
    assert page(response).select_one("#body").get_text() == "Words saved blind"
    assert db.get_comment(database, comment_id)["body"] == "Original words"


def test_two_admins_pressing_at_the_same_moment_one_wins_the_other_is_told(admin, alice, database):
    admin.login()
    for trial in range(TRIALS):
        comment_id = add(database, f"Raced comment {trial}")
        approve = admin.form("approve", comment_id)
        trash = alice.form("trash", comment_id)
        assert approve[f"seen-{comment_id}"] == trash[f"seen-{comment_id}"]
        responses = race(
            lambda a=approve: admin.client.post("/admin/moderate", data=a),
            lambda t=trash: alice.client.post("/admin/moderate", data=t),
        )
        assert [r.status_code for r in responses] == [303, 303]
        decisions = db.decisions_for(database, comment_id)
        assert len(decisions) == 1, (trial, decisions)
        won = db.get_comment(database, comment_id)["status"]
        winner, loser = (admin, alice) if won == "approved" else (alice, admin)
        assert decisions[0]["by"] == winner.username
        done = {"approved": "approved", "trash": "moved to trash"}[won]
        assert winner.messages() == [f"1 comment {done}."]
        [refusal] = loser.messages()
        assert refusal.startswith(
            f"Not changed: {done} by {winner.username} at {hh_mm(decisions[0])} UTC"
        ), (trial, refusal)


def test_an_edit_racing_an_approval_is_never_saved_with_the_old_text_live(
    admin, alice, database, live_site
):
    admin.login()
    for trial in range(TRIALS):
        old, new = f"Old text number {trial}", f"New text number {trial}"
        comment_id = add(database, old)
        edit_path = f"/admin/comments/{comment_id}/edit"
        form = page(admin.client.get(edit_path))
        edit = {
            "csrf_token": form.select_one('input[name="csrf_token"]')["value"],
            "seen": form.select_one('input[name="seen"]')["value"],
            "author_name": "Ada Reader",
            "body": new,
        }
        approve = alice.form("approve", comment_id)
        edited, _approved = race(
            lambda e=edit, p=edit_path: admin.client.post(p, data=e),
            lambda a=approve: alice.client.post("/admin/moderate", data=a),
        )
        row = db.get_comment(database, comment_id)
        saved = edited.status_code == 303
        # Exactly one of the two happened: both saw the same version.
        assert saved != (row["status"] == "approved"), trial
        if saved:
            assert row["body"] == new and row["status"] == "pending"
            assert admin.messages() == ["Comment saved."]
            assert alice.messages()[0].startswith("Not changed: edited by editor at")
        else:
            assert edited.status_code == 409
            text = " ".join(page(edited).get_text(" ").split())
            assert "Not saved: approved by alice at" in text
            assert page(edited).select_one("#body").get_text() == new, "the typed text is kept"
            assert row["body"] == old
            assert old in published_bodies(live_site)
        assert new not in published_bodies(live_site) or saved


def test_an_edit_after_a_decision_meanwhile_shows_the_conflict_and_keeps_the_text(
    admin, alice, database, live_site
):
    comment_id = add(database, "Typo in teh text")
    admin.login()
    edit_path = f"/admin/comments/{comment_id}/edit"
    form = page(admin.client.get(edit_path))
    data = {
        "csrf_token": form.select_one('input[name="csrf_token"]')["value"],
        "seen": form.select_one('input[name="seen"]')["value"],
        "author_name": "Ada Reader",
        "body": "Typo fixed in the text",
    }
    alice.act("approve", comment_id)
    conflict = admin.client.post(edit_path, data=data)
    assert conflict.status_code == 409
    shown = page(conflict)
    assert "Not saved: approved by alice at" in shown.select_one(".flash-error").get_text()
    assert shown.select_one("#body").get_text() == "Typo fixed in the text"
    assert "status: approved" in shown.get_text()
    assert db.get_comment(database, comment_id)["body"] == "Typo in teh text"
    assert published_bodies(live_site) == ["Typo in teh text"]
    # Saving again, now knowing, is a decision of its own: it applies and publishes.
    data["seen"] = shown.select_one('input[name="seen"]')["value"]
    assert admin.client.post(edit_path, data=data).status_code == 303
    assert published_bodies(live_site) == ["Typo fixed in the text"]


def test_an_author_reply_to_a_comment_unapproved_meanwhile_is_not_published(admin, alice, database):
    comment_id = add(database)
    arrange(database, comment_id, "approved")
    admin.login()
    reply_path = f"/admin/comments/{comment_id}/reply"
    token = page(admin.client.get(reply_path)).select_one('input[name="csrf_token"]')["value"]
    alice.act("unapprove", comment_id, view="approved")
    response = admin.client.post(reply_path, data={"csrf_token": token, "body": "Thanks, Ada!"})
    assert response.status_code == 409
    shown = page(response)
    assert "Not published: put back in the queue by alice at" in shown.get_text()
    assert shown.select_one("#body").get_text() == "Thanks, Ada!"
    assert [c["id"] for c in db.export_comments(database)] == [comment_id]


def test_a_bulk_action_reports_each_comment_done_or_refused(admin, alice, database):
    fresh, stale, gone = (add(database, f"Comment {n}", name=f"Reader {n}") for n in range(3))
    admin.login()
    seen = admin.seen()
    alice.act("approve", stale)
    alice.act("trash", gone)
    alice.act("delete", gone, view="trash")
    response = admin.act("trash", fresh, stale, gone, bulk=True, seen=seen)
    assert response.status_code == 303
    done, refused = admin.messages()
    assert done == f"1 comment moved to trash. #{fresh} Reader 0"
    approved = db.decisions_for(database, stale)[-1]
    deleted = db.decisions_for(database, gone)[-1]
    assert refused.startswith("2 comments not changed:")
    assert f"Approved by alice at {hh_mm(approved)} UTC" in refused
    assert f"while you were reading: #{stale} Reader 1." in refused
    assert f"Deleted permanently by alice at {hh_mm(deleted)} UTC" in refused
    # An erased comment's name is gone with it: its number only.
    assert f"while you were reading: #{gone}." in refused
    assert db.get_comment(database, fresh)["status"] == "trash"
    assert db.get_comment(database, stale)["status"] == "approved"
    assert db.get_comment(database, gone) is None
    assert [d["by"] for d in db.decisions_for(database, stale)] == ["alice"]


def test_a_forged_bulk_of_thousands_of_ids_gets_a_report_that_fits_its_cookie(admin, database):
    admin.login()
    ids = range(1_000_000, 1_002_000)  # no such comments
    response = admin.act("spam", *ids, bulk=True)
    assert response.status_code == 303
    [refused] = admin.messages()
    assert refused.startswith("2000 comments not changed: There is no such comment: #1000000, ")
    assert refused.endswith("And 1900 more.")
    assert db.counts_by_status(database) == dict.fromkeys(STATUSES, 0)


# --- one view of a comment ----------------------------------------------------------


def test_the_reply_page_shows_the_parent_as_the_static_page_does(app, client, database, live_site):
    # Imported before websites were checked on import: a javascript: address.
    row = {
        "id": 1,
        "post_slug": MENTOR_SLUG,
        "parent_id": None,
        "author_name": "Imported Ida",
        "email": "",
        "website": "javascript:alert(1)",
        "body": "Written *long* ago.",
        "status": "approved",
        "is_author": 0,
        "created_at": "2023-03-04T05:06:00+00:00",
        "decided_at": "2023-03-04T06:00:00+00:00",
        "decided_by": "editor",
        "reason": "approved",
        "ip_hash": None,
    }
    db.import_comments(database, [row])
    with app.app_context():
        publish.publish_site(app.config, {MENTOR_SLUG})
    static = live_site.page(MENTOR_URL).select_one("#comment-1")
    reply = page(client.get("/comments/reply/1")).select_one("#comment-1")
    assert reply.select_one("time").get_text() == "March 4, 2023 at 05:06"
    assert reply.select_one("a[href]") is None, "an unsafe website is not a link"
    assert str(reply.header) == str(static.header)
    assert str(reply.select_one(".comment-body")) == str(static.select_one(".comment-body"))
