"""The admin: accounts and sessions, the queue, every moderation action and
what it does to the database and to the published pages."""

import pytest
from bs4 import BeautifulSoup
from werkzeug.security import check_password_hash

from comments_service import cli, db
from support import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    MENTOR_URL,
    csrf_token,
    submit_comment,
)


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def published_comments(live_site, url=MENTOR_URL):
    page = live_site.page(url)
    return [
        " ".join(c.select_one(".comment-body").get_text().split()) for c in page.select(".comment")
    ]


def queue_comments(client, path="/admin/"):
    return soup(client.get(path)).select("article.queued")


# --- accounts and sessions -------------------------------------------------


def test_admin_pages_need_a_login(client):
    for path in ["/admin/", "/admin/approved", "/admin/spam", "/admin/trash"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/login?next=")


def test_login_page_has_the_contract_fields(client):
    page = soup(client.get("/admin/login"))
    labels = [label.get_text(strip=True) for label in page.select("form label")]
    assert labels == ["Username", "Password", "Remember me"]
    assert page.select_one("form button").get_text(strip=True) == "Log in"
    assert page.select_one('input[name="csrf_token"]')["value"]


def test_a_successful_login_opens_the_queue_with_a_safe_session_cookie(admin, client):
    response = admin.login()
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert "Pending comments" in client.get("/admin/").get_data(as_text=True)


def test_development_session_cookie_is_not_secure_for_plain_http(app, admin):
    app.config["SESSION_COOKIE_SECURE"] = False  # what DEVELOPMENT=True sets
    assert "Secure" not in admin.login().headers["Set-Cookie"]


@pytest.mark.parametrize(
    ("username", "password"), [(ADMIN_USER, "wrong-password"), ("nobody", ADMIN_PASSWORD)]
)
def test_a_failed_login_gives_one_generic_message(admin, client, username, password):
    response = admin.login(username, password)
    assert response.status_code == 401
    assert "Invalid username or password." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_logins_are_throttled(admin):
    for _ in range(5):
        assert admin.login(password="wrong-password").status_code == 401
    response = admin.login()  # even the right password waits now
    assert response.status_code == 429
    assert "wait a minute" in response.get_data(as_text=True)


def test_logout_ends_the_session_even_for_a_copied_cookie(admin, client, app):
    admin.login()
    stolen = client.get_cookie("session").value
    response = client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 303
    other = app.test_client()
    other.set_cookie("session", stolen)
    assert other.get("/admin/").status_code == 302


def test_next_only_redirects_inside_the_admin(admin, client):
    token = csrf_token(client, "/admin/login")
    data = {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf_token": token}
    response = client.post("/admin/login?next=https://evil.example/", data=data)
    assert response.headers["Location"] == "/admin/"
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    token = csrf_token(client, "/admin/login")
    data["csrf_token"] = token
    response = client.post("/admin/login?next=/admin/spam", data=data)
    assert response.headers["Location"] == "/admin/spam"


def test_admin_posts_without_a_csrf_token_are_400(admin, client, database):
    admin.login()
    submit_comment(client)
    response = client.post("/admin/moderate", data={"action": "approve:1", "view": "pending"})
    assert response.status_code == 400
    assert db.get_comment(database, 1)["status"] == "pending"
    no_token_login = client.post(
        "/admin/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    )
    assert no_token_login.status_code in (400, 401)


def test_passwords_are_hashed_with_scrypt_n_2_17_by_default(app, database):
    from comments_service import create_app

    production = create_app({"SECRET_KEY": "x", "COMMENTS_DB": app.config["COMMENTS_DB"]})
    with production.app_context():
        cli.set_admin_password(db.get_db(), "owner", "correct horse battery")
    stored = db.get_admin(database, username="owner")["password_hash"]
    assert stored.startswith("scrypt:131072:8:1$")
    assert "correct horse" not in stored
    assert check_password_hash(stored, "correct horse battery")


# --- the queue ---------------------------------------------------------------


def test_the_queue_shows_pending_comments_newest_first_with_everything_to_decide(
    admin, client, database
):
    submit_comment(client, name="First", body="An *early* thought")
    submit_comment(client, name="Second", body="See https://a.example and https://b.example")
    submit_comment(client, name="Third", post_slug="keep-a-brag-document", website="")
    admin.login()
    queued = queue_comments(client)
    assert [q.h2.get_text(" ", strip=True).split(" on ")[0] for q in queued] == [
        "Third",
        "Second",
        "First",
    ]
    first = queued[2]
    title_link = first.h2.a
    assert title_link.get_text() == "How to Meet Potential Mentors Through Informational Interviews"
    assert title_link["href"] == MENTOR_URL
    facts = first.select_one("dl").get_text(" ", strip=True)
    assert "ada@example.com" in facts and "https://ada.example" in facts and "UTC" in facts
    assert first.select_one(".comment-body em").get_text() == "early"
    assert [b.get_text() for b in first.select(".actions button")] == ["Approve", "Spam", "Trash"]
    assert "held: 2 links" in queued[1].select_one("dl").get_text()
    nav = soup(client.get("/admin/")).select_one('nav[aria-label="Moderation"]')
    nav = " ".join(nav.get_text(" ").split()).replace(" (", "(")
    assert "Pending(3)" in nav and "Approved(0)" in nav


def test_the_queue_is_empty_message(admin, client):
    admin.login()
    assert "The queue is empty" in client.get("/admin/").get_data(as_text=True)


# --- decisions -----------------------------------------------------------------


def test_approve_publishes_the_comment_on_the_post_page_and_counts(
    admin, client, database, live_site
):
    submit_comment(client, body="Approved words, with **emphasis**.")
    admin.login()
    response = admin.act("approve", 1)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    row = db.get_comment(database, 1)
    assert (row["status"], row["decided_by"], row["reason"]) == ("approved", ADMIN_USER, "approved")
    assert row["decided_at"]
    assert [d["action"] for d in db.decisions_for(database, 1)] == ["approved"]

    assert published_comments(live_site) == ["Approved words, with emphasis."]
    page = live_site.page(MENTOR_URL)
    assert page.select_one("#comments-heading").get_text(strip=True) == "1 Comment"
    author = page.select_one(".comment-author a")
    assert author.get_text() == "Ada Reader" and author["href"] == "https://ada.example"
    assert "nofollow" in author["rel"]
    assert "ada@example.com" not in live_site.text(MENTOR_URL), "emails are never published"
    card = live_site.page("/2022/12/").select_one(".card .meta").get_text(" ", strip=True)
    assert "1 Comment" in card
    assert "1 comment approved." in client.get("/admin/").get_data(as_text=True)


def test_comments_feed_popular_posts(admin, client, live_site):
    for n in range(2):
        submit_comment(client, post_slug="tailor-your-resume-to-a-job-posting", body=f"Nice {n}")
    admin.login()
    admin.act("approve", 1, 2, bulk=True)
    popular = live_site.page("/").select("#popular-heading + ol a")
    assert popular[0].get_text() == "Tailoring Your Resume to a Job Posting in Under an Hour"


@pytest.mark.parametrize("action", ["spam", "trash", "unapprove"])
def test_taking_back_an_approved_comment_removes_it_from_the_page(
    admin, client, database, live_site, action
):
    submit_comment(client, body="Soon gone")
    admin.login()
    admin.act("approve", 1)
    assert published_comments(live_site) == ["Soon gone"]
    admin.act(action, 1, view="approved")
    expected = {"spam": "spam", "trash": "trash", "unapprove": "pending"}[action]
    assert db.get_comment(database, 1)["status"] == expected
    assert published_comments(live_site) == []
    assert live_site.page(MENTOR_URL).select_one("#comments-heading").get_text() == "0 Comments"
    assert [d["action"] for d in db.decisions_for(database, 1)] == ["approved", expected]


def test_spam_and_trash_are_reversible(admin, client, database):
    submit_comment(client)
    submit_comment(client)
    admin.login()
    admin.act("spam", 1)
    admin.act("trash", 2)
    assert [q["id"] for q in db.comments_with_status(database, "spam")] == [1]
    spam_view = queue_comments(client, "/admin/spam")
    assert [b.get_text() for b in spam_view[0].select(".actions button")] == [
        "Restore",
        "Delete permanently",
    ]
    admin.act("restore", 1, view="spam")
    admin.act("restore", 2, view="trash")
    assert db.counts_by_status(database) == {"pending": 2, "approved": 0, "spam": 0, "trash": 0}


def test_delete_permanently_erases_the_comment_and_its_replies(admin, client, database, live_site):
    submit_comment(client, body="Delete me and my data")
    admin.login()
    admin.act("approve", 1)
    submit_comment(client, parent_id="1", body="A reply to it")
    admin.act("approve", 2)
    admin.act("trash", 1, view="approved")
    admin.act("delete", 1, view="trash")
    assert db.export_comments(database) == []
    assert [d["action"] for d in db.decisions_for(database, 1)][-1] == "deleted"
    assert "Delete me" not in live_site.text(MENTOR_URL)
    assert "A reply to it" not in live_site.text(MENTOR_URL)


def test_bulk_actions_act_on_the_selected_comments(admin, client, database, live_site):
    for n in range(3):
        submit_comment(client, body=f"Comment number {n}")
    admin.login()
    response = admin.act("approve", 1, 3, bulk=True)
    assert "2 comments approved." in client.get(response.headers["Location"]).get_data(as_text=True)
    assert [c["id"] for c in db.comments_with_status(database, "approved")] == [3, 1]
    assert published_comments(live_site) == ["Comment number 0", "Comment number 2"]
    admin.act("trash", 2, bulk=True)
    assert db.get_comment(database, 2)["status"] == "trash"


def test_bulk_without_a_selection_says_so(admin, client):
    submit_comment(client)
    admin.login()
    response = admin.act("approve", bulk=True)
    assert "Select at least one comment first." in client.get(
        response.headers["Location"]
    ).get_data(as_text=True)


def test_unknown_actions_are_rejected(admin, client, database):
    submit_comment(client)
    admin.login()
    data = {"csrf_token": csrf_token(client, "/admin/"), "action": "publish-all:1"}
    assert client.post("/admin/moderate", data=data).status_code == 400
    assert db.get_comment(database, 1)["status"] == "pending"


def test_edit_changes_name_and_text_and_republishes(admin, client, database, live_site):
    submit_comment(client, name="Ada", body="Typo in teh text")
    admin.login()
    admin.act("approve", 1)
    response = admin.edit(1, author_name="Ada L.", body="Typo fixed in the text")
    assert response.status_code == 303
    row = db.get_comment(database, 1)
    assert (row["author_name"], row["body"]) == ("Ada L.", "Typo fixed in the text")
    assert db.decisions_for(database, 1)[-1]["action"] == "edit"
    assert published_comments(live_site) == ["Typo fixed in the text"]
    assert live_site.page(MENTOR_URL).select_one(".comment-author").get_text() == "Ada L."


def test_edit_keeps_what_was_typed_when_invalid(admin, client, database):
    submit_comment(client, body="Original")
    admin.login()
    response = admin.edit(1, author_name="", body="New")
    assert response.status_code == 200
    page = soup(response)
    assert page.select_one("#body").get_text() == "New"
    assert page.select_one("#author_name-error")
    assert db.get_comment(database, 1)["body"] == "Original"


def test_the_author_replies_and_the_reply_is_published_marked_author(
    admin, client, database, live_site
):
    submit_comment(client, body="How long should the call be?")
    admin.login()
    admin.act("approve", 1)
    token = csrf_token(client, "/admin/comments/1/reply")
    response = client.post(
        "/admin/comments/1/reply", data={"csrf_token": token, "body": "Twenty minutes is plenty."}
    )
    assert response.status_code == 303
    reply = db.get_comment(database, 2)
    assert (reply["status"], reply["is_author"], reply["parent_id"]) == ("approved", 1, 1)
    assert reply["author_name"] == "Maya Okafor"
    page = live_site.page(MENTOR_URL)
    replies = page.select(".comment .replies .comment")
    assert len(replies) == 1
    assert replies[0].select_one(".badge").get_text() == "Author"
    assert "Twenty minutes is plenty." in replies[0].get_text()
    assert page.select_one("#comments-heading").get_text(strip=True) == "2 Comments"


def test_a_failed_build_keeps_the_decision_tells_the_admin_and_leaves_the_site(
    app, admin, client, database, live_site, project_copy
):
    submit_comment(client, body="Approved while the theme is broken")
    admin.login()
    (project_copy / "theme" / "templates" / "article.html").write_text("{% if %}")
    app.config["PELICAN_SETTINGS"] = str(project_copy / "pelicanconf.py")
    before = live_site.text(MENTOR_URL)
    response = admin.act("approve", 1)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved, but the site is not updated" in page
    assert db.get_comment(database, 1)["status"] == "approved"
    assert live_site.text(MENTOR_URL) == before


def test_workers_starting_together_on_a_new_database_all_migrate_it(tmp_path):
    """gunicorn starts its workers at once; each one migrates the database."""
    import threading

    path = tmp_path / "new.db"
    errors = []

    def start_worker():
        try:
            db.connect(path).close()
        except Exception as exc:  # collected: the assertion below reports it
            errors.append(exc)

    workers = [threading.Thread(target=start_worker) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    database = db.connect(path)
    assert {"comments", "decisions", "admins", "page_views"} <= set(database.table_names())
    database.close()
