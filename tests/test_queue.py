"""The status views at scale: pages of a bounded size walked by (created_at, id),
filtered by post, searched by name, email and text, and always answering a
readable page, whatever the query string holds."""

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from comments_service import db, imports, registry
from comments_service.forms import MAX_ID
from support import MENTOR_SLUG

FIXTURES = Path(__file__).parent / "fixtures"
NO_MATCH = "comment matches"


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def shown_ids(page):
    return [int(a["id"].removeprefix("comment-")) for a in page.select("article.queued")]


def add(database, body="A thoughtful comment.", post_slug=MENTOR_SLUG, **fields):
    fields = {"author_name": "Ada Reader", "email": "ada@example.com", **fields}
    return db.add_pending_comment(database, post_slug=post_slug, body=body, **fields)


def at_times(monkeypatch, times):
    """Make the next comments' created_at the given times, in turn."""
    times, real_now = list(times), db.now
    monkeypatch.setattr(db, "now", lambda: times.pop(0) if times else real_now())


def walk(client, url, rel="next"):
    """Follow the pager's ``rel`` links from ``url``: [(url, ids shown)] per page."""
    pages = []
    while url and len(pages) < 20:
        response = client.get(url)
        assert response.status_code == 200
        page = soup(response)
        pages.append((url, shown_ids(page)))
        link = page.select_one(f'nav[aria-label="Pages"] a[rel="{rel}"]')
        url = link["href"] if link else None
    return pages


def other_post_slug(app):
    posts = registry.load(app.config["SITE_DIR"])["posts"]
    return next(p["slug"] for p in posts if p["slug"] != MENTOR_SLUG)


# --- pages ---------------------------------------------------------------------


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_the_pages_show_every_comment_exactly_once_both_ways(
    admin, client, database, monkeypatch, order
):
    monkeypatch.setattr(db, "PAGE_SIZE", 4)
    # Eleven comments in three seconds, not in id order: either way, pages of
    # four end inside a run of equal created_at, where only the id tells them apart.
    seconds = [2, 0, 1, 2, 0, 1, 1, 1, 1, 0, 2]
    at_times(monkeypatch, [f"2026-03-01T10:00:0{s}+00:00" for s in seconds])
    ids = [add(database, body=f"Comment {n}") for n in range(len(seconds))]
    by_position = [i for _s, i in sorted(zip(seconds, ids, strict=True))]
    expected = by_position[::-1] if order == "newest" else by_position
    admin.login()

    pages = walk(client, f"/admin/?order={order}")
    assert [len(shown) for _url, shown in pages] == [4, 4, 3]
    assert sum((shown for _url, shown in pages), []) == expected

    back = walk(client, pages[-1][0], rel="prev")
    assert [shown for _url, shown in back] == [shown for _url, shown in reversed(pages)]


def test_newest_first_is_the_default_of_every_view(admin, client, database):
    first, second = add(database), add(database)
    db.set_status(database, [first, second], "spam", by="test", reason="test")
    admin.login()
    assert shown_ids(soup(client.get("/admin/spam"))) == [second, first]
    older = add(database)
    newer = add(database, body="The newest, first in the queue")
    assert shown_ids(soup(client.get("/admin/"))) == [newer, older]


def test_a_page_holds_at_most_fifty_comments(admin, client, database):
    database.execute("PRAGMA synchronous=OFF")  # only to arrange 51 rows quickly
    ids = [add(database, body=f"Comment {n}") for n in range(51)]
    admin.login()
    pages = walk(client, "/admin/")
    assert [len(shown) for _url, shown in pages] == [50, 1]
    assert sorted(sum((shown for _url, shown in pages), [])) == ids


def test_a_page_emptied_by_decisions_says_so_and_links_back(admin, client, database):
    add(database)
    admin.login()
    # The last page, after its comments were all decided on.
    page = soup(client.get("/admin/?after=2000-01-01T00:00:00%2B00:00,1"))
    assert shown_ids(page) == []
    assert "No more comments here." in page.get_text()
    assert page.find("a", string="Back to the first page")["href"] == "/admin/"
    previous = page.select_one('nav[aria-label="Pages"] a[rel="prev"]')["href"]
    assert len(shown_ids(soup(client.get(previous)))) == 1


# --- filters -------------------------------------------------------------------


def test_the_filters_are_a_plain_get_form_with_labelled_controls(admin, client, app):
    admin.login()
    form = soup(client.get("/admin/approved")).select_one('form[role="search"]')
    assert form["method"] == "get" and form["action"] == "/admin/approved"
    labels = {label.get_text(strip=True): label["for"] for label in form.select("label")}
    assert list(labels) == ["Search", "Post", "Order"]
    assert all(form.select_one(f"#{control}") for control in labels.values())
    options = [o.get_text() for o in form.select("#post option")]
    titles = [p["title"] for p in registry.load(app.config["SITE_DIR"])["posts"]]
    assert options == ["All posts", *titles]
    assert [o.get_text() for o in form.select("#order option")] == ["Newest first", "Oldest first"]


def test_filter_by_post(admin, client, database, app):
    other = other_post_slug(app)
    mine = [add(database), add(database)]
    add(database, post_slug=other)
    admin.login()
    page = soup(client.get(f"/admin/?post={MENTOR_SLUG}"))
    assert shown_ids(page) == mine[::-1]
    assert page.select_one("#post option[selected]")["value"] == MENTOR_SLUG
    page = soup(client.get(f"/admin/approved?post={other}"))
    assert "No approved comments on this post." in page.get_text()


@pytest.mark.parametrize(
    ("field", "value", "query"),
    [
        ("author_name", "Grace Hopper", "hopper"),
        ("email", "grace@navy.example", "grace@navy.example"),
        ("email", "grace@navy.example", "navy"),
        ("body", "Compilers changed my career.", "compilers"),
        ("body", "Compilers changed my career.", "compiler career"),  # every word, stemmed
    ],
)
def test_search_by_name_email_and_text(admin, client, database, field, value, query):
    add(database, author_name="Someone Else", email="else@example.com", body="Nothing alike.")
    wanted = add(database, **{field: value})
    add(database, body="Compilers only.")
    admin.login()
    page = soup(client.get("/admin/", query_string={"q": query}))
    if query == "compilers":
        assert wanted in shown_ids(page) and len(shown_ids(page)) == 2
    else:
        assert shown_ids(page) == [wanted]
    assert page.select_one("#q")["value"] == query


@pytest.mark.parametrize(
    "query",
    ['"', '""', "*", "NEAR(", "NEAR(a b", "(a", "a)", 'a"b"c"', "NOT", "OR AND",
     "body:x", "-x", "^x", "'; drop table comments; --", "x\x00y", "{a b}:c", "\U0001f600"],
)  # fmt: skip
def test_search_syntax_typed_by_the_admin_is_plain_text(admin, client, database, query):
    add(database, body="An ordinary comment about mentors.")
    admin.login()
    response = client.get("/admin/", query_string={"q": query})
    assert response.status_code == 200
    page = soup(response)
    assert shown_ids(page) == []
    assert NO_MATCH in page.get_text() and "plain text" in page.get_text()
    assert db.counts_by_status(database)["pending"] == 1


@pytest.mark.parametrize("query", ['"mentors', "(mentors)", "mentors*", "MENTORS"])
def test_a_word_wrapped_in_search_syntax_is_still_found(admin, client, database, query):
    wanted = add(database, body="An ordinary comment about mentors.")
    add(database, body="An ordinary comment about networks.")
    admin.login()
    assert shown_ids(soup(client.get("/admin/", query_string={"q": query}))) == [wanted]


def search(client, query, view=""):
    return shown_ids(soup(client.get(f"/admin/{view}", query_string={"q": query})))


def test_the_search_follows_edits_and_deletes(admin, client, database):
    comment = add(database, author_name="Zed Writer", body="Zebras in the office.")
    admin.login()
    assert search(client, "zebras") == [comment]
    saved = admin.edit(comment, author_name="Yan Writer", body="Giraffes instead.")
    assert saved.status_code == 303
    assert search(client, "zebras") == [] and search(client, "zed") == []
    assert search(client, "giraffes") == [comment] and search(client, "yan") == [comment]

    admin.act("spam", comment)
    assert search(client, "giraffes", "spam") == [comment]
    admin.act("delete", comment, view="spam")
    assert search(client, "giraffes", "spam") == []
    # Erased from the index too, not only unreachable through it.
    indexed = "select count(*) from comments_fts where comments_fts match 'giraffes OR yan'"
    assert database.execute(indexed).fetchone()[0] == 0


def test_an_import_that_replaces_a_comment_replaces_what_search_finds(
    admin, client, database, runner, tmp_path
):
    comment = add(database, body="Zebras in the office.")
    exported = db.get_comment(database, comment)
    row = {k: v for k, v in exported.items() if k in imports.IMPORT_FIELDS}
    path = tmp_path / "comments.json"
    path.write_text(json.dumps({"comments": [{**row, "body": "Giraffes instead."}]}))
    assert runner.invoke(args=["comments", "import", str(path)]).exit_code == 0
    admin.login()
    assert search(client, "zebras") == []
    assert search(client, "giraffes") == [comment]


def test_an_old_database_is_searchable_once_migrated(tmp_path):
    path = tmp_path / "comments.db"
    shutil.copy(FIXTURES / "schema-v1.db", path)
    database = db.connect(path)
    try:
        assert [c["id"] for c in db.comments_page(database, "pending", search="unicode").comments]
        assert [c["author_name"] for c in db.comments_page(database, "approved", search="ada")
                .comments] == ["Ada Reader"]  # fmt: skip
    finally:
        database.close()


# --- links and redirects keep the filters ----------------------------------------


def test_next_and_previous_links_keep_the_filters(admin, client, database, app, monkeypatch):
    monkeypatch.setattr(db, "PAGE_SIZE", 2)
    wanted = [add(database, body=f"Mentors, part {n}.") for n in range(5)]
    add(database, body="Mentors elsewhere.", post_slug=other_post_slug(app))
    add(database, body="Nothing to find here.")
    admin.login()
    start = f"/admin/?q=mentors&post={MENTOR_SLUG}&order=oldest"
    pages = walk(client, start)
    assert sum((shown for _url, shown in pages), []) == wanted
    back = walk(client, pages[-1][0], rel="prev")
    assert sum((shown for _url, shown in reversed(back)), []) == wanted
    for url, _shown in pages[1:] + back[1:]:
        params = parse_qs(urlsplit(url).query)
        assert params["q"] == ["mentors"] and params["post"] == [MENTOR_SLUG]
        assert params["order"] == ["oldest"]


def moderate_from(client, url, action, comment_id, **overrides):
    """Press a comment's button on the page at ``url``, sending the form's hidden fields."""
    form = soup(client.get(url)).select_one('form[action="/admin/moderate"]')
    data = {i["name"]: i.get("value", "") for i in form.select('input[type="hidden"]')}
    data.update(action=f"{action}:{comment_id}", **overrides)
    return client.post("/admin/moderate", data=data)


def test_a_decision_returns_to_the_same_page_and_filters(admin, client, database, monkeypatch):
    monkeypatch.setattr(db, "PAGE_SIZE", 2)
    ids = [add(database, body=f"Mentors, part {n}.") for n in range(5)]
    db.set_status(database, ids, "trash", by="test", reason="test")
    admin.login()
    pages = walk(client, "/admin/trash?q=mentors&order=oldest")
    second_url, second_ids = pages[1]
    response = moderate_from(client, second_url, "restore", second_ids[0])
    assert response.status_code == 303
    assert response.headers["Location"] == second_url
    assert db.get_comment(database, second_ids[0])["status"] == "pending"
    # The same page, one comment fewer: the next one moves up.
    assert shown_ids(soup(client.get(second_url))) == [second_ids[1], ids[4]]


@pytest.mark.parametrize(
    ("view", "query", "kept"),
    [
        ("//evil.example", "q=x", {"q": ["x"]}),
        ("pending", "next=https://evil.example/&q=x", {"q": ["x"]}),
        ("spam", "q=%0d%0aSet-Cookie:+x=1", {"q": ["\r\nSet-Cookie: x=1"]}),
        ("pending", "order=oldest&q=" + "x" * 5000, {"order": ["oldest"]}),
    ],
)
def test_the_return_address_is_a_status_view_here_with_its_filters(
    admin, client, database, view, query, kept
):
    comment = add(database)
    admin.login()
    response = moderate_from(client, "/admin/", "trash", comment, view=view, query=query)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert not location.scheme and not location.netloc
    assert location.path == ("/admin/spam" if view == "spam" else "/admin/")
    assert parse_qs(location.query) == kept
    assert "\n" not in response.headers["Location"] and "\r" not in response.headers["Location"]


# --- odd query strings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("after=garbage", "That page link is broken"),
        ("after=,", "That page link is broken"),
        ("before=2026-01-01T00:00:00%2B00:00,abc", "That page link is broken"),
        ("after=2026-01-01T00:00:00%2B00:00,0", "That page link is broken"),
        ("after=2026-01-01T00:00:00%2B00:00,-5", "That page link is broken"),
        (f"after=2026-01-01T00:00:00%2B00:00,{MAX_ID + 1}", "That page link is broken"),
        ("after=2026-01-01T00:00:00%2B00:00,99999999999999999999999", "That page link is broken"),
        ("after=not-a-date,5", "That page link is broken"),
        ("after=2026-01-01T00:00:00%2B00:00,1&before=2026-01-01T00:00:00%2B00:00,2",
         "That page link is broken"),
        ("post=no-such-post", "There is no such post on the site"),
        ("post=../../etc/passwd", "There is no such post on the site"),
        ("order=sideways", "Choose newest or oldest first."),
        ("q=" + "x" * 201, "Search for at most 200 characters."),
    ],
)  # fmt: skip
def test_odd_parameters_get_a_400_that_says_why(admin, client, database, query, message):
    add(database)
    admin.login()
    for view in ("/admin/", "/admin/approved"):
        response = client.get(f"{view}?{query}")
        assert response.status_code == 400
        page = soup(response)
        assert message in page.get_text()
        assert shown_ids(page) == []
        assert page.select_one('form[role="search"]'), "the form is there to try again"


def test_unknown_parameters_are_ignored(admin, client, database, app):
    comment = add(database)
    add(database, post_slug=other_post_slug(app))
    admin.login()
    response = client.get(f"/admin/?page=7&utm_source=x&id={MAX_ID + 1}&post={MENTOR_SLUG}")
    assert response.status_code == 200
    assert shown_ids(soup(response)) == [comment]


def test_a_long_search_comes_back_as_typed(admin, client):
    admin.login()
    typed = "mentors " * 30
    page = soup(client.get("/admin/", query_string={"q": typed}))
    assert page.select_one("#q")["value"] == typed.strip()
    assert page.select_one("#q-error")
