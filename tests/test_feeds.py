"""The comment feeds: the site's and each post's Atom feed of the comments
readers see, written by a full build and kept current by the warm publisher."""

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from comments_service import db
from comments_service.render import render_comment
from comments_service.static_site.build import BuildError, build_site
from comments_service.static_site.comment_feeds import FEED_ENTRIES
from comments_service.static_site.warm import WarmPublisher
from support import MENTOR_SLUG, ROOT, Site, draft_posts, published_posts

A = "{http://www.w3.org/2005/Atom}"
SITE_FEED = "feeds/comments.atom.xml"
OTHER_SLUG = next(p.slug for p in published_posts() if p.slug != MENTOR_SLUG and p.comments_open)


def edit(database, comment_id, **fields):
    """Edit as the admin's page would: naming the version it showed."""
    seen = db.get_comment(database, comment_id)["version"]
    return db.edit_comment(database, comment_id, by="test", seen=seen, **fields)


def post_feed(slug):
    return f"feeds/comments/{slug}.atom.xml"


def feed_files(folder):
    """Every comment feed of a built site: {relative path: bytes}."""
    folder = Path(folder)
    files = [folder / SITE_FEED, *sorted((folder / "feeds" / "comments").glob("*.atom.xml"))]
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def entries(xml_bytes):
    """A feed's entries as a reader sees them, after checking what Atom requires."""
    feed = ET.fromstring(xml_bytes)
    assert feed.tag == f"{A}feed"
    for required in ("id", "title", "updated"):
        assert feed.find(f"{A}{required}").text, required
    assert feed.find(f"{A}link[@rel='self']").get("href").endswith(".atom.xml")
    found = []
    for entry in feed.findall(f"{A}entry"):
        content = entry.find(f"{A}content")
        assert content.get("type") == "html"
        link = entry.find(f"{A}link[@rel='alternate']").get("href")
        assert entry.findtext(f"{A}id") == link
        author = entry.find(f"{A}author")
        found.append(
            {
                "title": entry.findtext(f"{A}title"),
                "link": link,
                "updated": datetime.fromisoformat(entry.findtext(f"{A}updated")),
                "name": author.findtext(f"{A}name"),
                "uri": author.findtext(f"{A}uri"),
                "content": content.text or "",
            }
        )
    return found


def comment_ids(xml_bytes):
    return [int(e["link"].rpartition("#comment-")[2]) for e in entries(xml_bytes)]


def add(database, body, slug=MENTOR_SLUG, status="approved", **fields):
    fields.setdefault("author_name", "Reader")
    comment_id = db.add_pending_comment(database, post_slug=slug, body=body, **fields)
    if status != "pending":
        db.set_status(database, [comment_id], status, by="test", reason=status)
    return comment_id


def full_build(tmp_path, db_path, name="fresh"):
    """A full build of the same data, beside the warm publisher's site."""
    build_site(ROOT / "pelicanconf.py", tmp_path / name, {"COMMENTS": {"DB": str(db_path)}})
    return tmp_path / name


@pytest.fixture
def clock(monkeypatch):
    """Decisions a minute apart, so that each has a time of its own."""
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    minutes = itertools.count()
    monkeypatch.setattr(
        db, "now", lambda: (start + timedelta(minutes=next(minutes))).isoformat(timespec="seconds")
    )
    return start


def test_the_feeds_are_atom_with_only_the_comments_the_pages_show(warm_site):
    publisher, database, tmp_path = warm_site
    shown = add(database, "Approved and *shown*.", website="https://ada.example")
    reply = add(database, "An approved reply.", parent_id=shown, author_name="Bo")
    add(database, "PENDING-TEXT never public.", status="pending")
    add(database, "SPAM-TEXT never public.", status="spam")
    hidden_parent = add(database, "PENDING-PARENT never public.", status="pending")
    add(database, "ORPHAN-REPLY to a pending comment.", parent_id=hidden_parent)
    publisher.full_build()
    live = Site(tmp_path / "live")
    origin = publisher.articles.generator.settings["SITE_ORIGIN"]

    files = feed_files(live.path)
    assert set(files) == {SITE_FEED, post_feed(MENTOR_SLUG)}, "posts without comments have none"
    for name, xml in files.items():
        entries(xml)  # every feed is Atom
        for secret in (b"PENDING-TEXT", b"SPAM-TEXT", b"PENDING-PARENT", b"ORPHAN-REPLY"):
            assert secret not in xml, name
    mentor = next(p for p in published_posts() if p.slug == MENTOR_SLUG)
    for feed in (SITE_FEED, post_feed(MENTOR_SLUG)):
        found = entries(files[feed])
        assert [e["link"] for e in found] == [
            f"{origin}{mentor.url}#comment-{reply}",
            f"{origin}{mentor.url}#comment-{shown}",
        ]
        assert [(e["name"], e["uri"]) for e in found] == [
            ("Bo", None),
            ("Reader", "https://ada.example"),
        ]
        assert found[1]["content"] == render_comment("Approved and *shown*.")
    assert [e["title"] for e in entries(files[SITE_FEED])] == [
        f"Reply by Bo on {mentor.title}",
        f"Comment by Reader on {mentor.title}",
    ]
    # Every link leads to a comment on its post page.
    page = live.page(mentor.url)
    for entry in entries(files[SITE_FEED]):
        anchor = entry["link"].rpartition("#")[2]
        assert page.find(id=anchor), anchor


def test_newest_first_by_approval_or_edit_with_its_time_as_updated(warm_site, clock):
    publisher, database, tmp_path = warm_site
    first = add(database, "Written first, approved last.", status="pending")
    second = add(database, "Written second, approved first.", slug=OTHER_SLUG)
    db.set_status(database, [first], "approved", by="test", reason="approved")
    publisher.full_build()
    live = tmp_path / "live"
    site_feed = entries((live / SITE_FEED).read_bytes())
    assert comment_ids((live / SITE_FEED).read_bytes()) == [first, second]
    assert [e["updated"] for e in site_feed] == [
        datetime.fromisoformat(db.decisions_for(database, first)[-1]["at"]),
        datetime.fromisoformat(db.decisions_for(database, second)[-1]["at"]),
    ]
    feed = ET.fromstring((live / SITE_FEED).read_bytes())
    assert datetime.fromisoformat(feed.findtext(f"{A}updated")) == site_feed[0]["updated"]

    # An edit changes what readers see: the entry is updated, and comes first.
    edit(database, second, author_name="Reader", body="Edited.")
    publisher.publish_posts({OTHER_SLUG})
    site_feed = entries((live / SITE_FEED).read_bytes())
    assert comment_ids((live / SITE_FEED).read_bytes()) == [second, first]
    assert site_feed[0]["content"] == render_comment("Edited.")
    assert site_feed[0]["updated"] > site_feed[1]["updated"]
    assert comment_ids((live / post_feed(OTHER_SLUG)).read_bytes()) == [second]


def test_feeds_hold_the_newest_comments_only(warm_site):
    publisher, database, tmp_path = warm_site
    ids = [add(database, f"Comment number {n}.", status="pending") for n in range(FEED_ENTRIES + 3)]
    db.set_status(database, ids, "approved", by="test", reason="approved")  # in this order
    publisher.full_build()
    newest = ids[::-1][:FEED_ENTRIES]
    for feed in (SITE_FEED, post_feed(MENTOR_SLUG)):
        assert comment_ids((tmp_path / "live" / feed).read_bytes()) == newest, feed
    # The page still shows every comment.
    page = Site(tmp_path / "live").page(
        next(p.url for p in published_posts() if p.slug == MENTOR_SLUG)
    )
    assert len(page.select(".comment")) == len(ids)


def test_hostile_names_and_bodies_stay_text_and_sanitized(warm_site):
    publisher, database, tmp_path = warm_site
    name = '<script>alert("name")</script> & Co'
    body = '<script>alert("body")</script> **bold** [x](javascript:alert(1)) <img src=x onerror=y>'
    hostile = add(database, body, author_name=name)
    # An import may carry what the form refuses: never a javascript: link.
    db.import_comments(
        database, [{**db.get_comment(database, hostile), "website": "javascript:alert(2)"}]
    )
    publisher.full_build()
    for feed in (SITE_FEED, post_feed(MENTOR_SLUG)):
        xml = (tmp_path / "live" / feed).read_bytes()
        assert b"<script" not in xml and b"<img" not in xml
        (entry,) = entries(xml)
        assert entry["name"] == name, "a name is plain text"
        assert entry["title"].startswith(f"Comment by {name}")
        assert entry["uri"] is None
        assert entry["content"] == render_comment(body)
        html = BeautifulSoup(entry["content"], "html.parser")
        assert html.strong.get_text() == "bold"
        assert html.find_all(["script", "img"]) == [], "typed HTML is text"
        assert "<script" in html.get_text()
        assert all(a["href"].startswith("https://") for a in html.find_all("a", href=True))


def feed_links(page):
    """The hrefs of a page's <link rel="alternate"> to Atom feeds."""
    found = page.select('link[rel="alternate"][type="application/atom+xml"]')
    return [link["href"] for link in found]


def test_every_page_links_the_site_feed_and_a_post_with_comments_its_own(warm_site):
    publisher, database, tmp_path = warm_site
    closed = next(p for p in published_posts() if not p.comments_open)
    kept = add(database, "Said before comments closed.", slug=closed.slug)
    add(database, "On the mentors post.")
    publisher.full_build()
    site = Site(tmp_path / "live")
    for page in site.html_pages():
        url = "/" + str(page.relative_to(site.path)).removesuffix("index.html")
        assert f"/{SITE_FEED}" in feed_links(site.page(url)), url
    assert site.file(f"/{SITE_FEED}").is_file()
    for post in published_posts():
        page, feed = site.page(post.url), f"/{post_feed(post.slug)}"
        has_comments = post.slug in (MENTOR_SLUG, closed.slug)
        assert (feed in feed_links(page)) is has_comments, post.slug
        assert bool(page.select_one(f'.comments a[href="{feed}"]')) is has_comments
        assert site.file(feed).is_file() is has_comments
    # Comments closed: the feed of the comments it has stays.
    assert comment_ids(site.file(f"/{post_feed(closed.slug)}").read_bytes()) == [kept]
    for draft in draft_posts():
        assert not site.file(f"/{post_feed(draft.slug)}").exists()


def test_each_decision_writes_the_feeds_a_full_build_writes(warm_site):
    publisher, database, tmp_path = warm_site
    live = tmp_path / "live"
    builds = itertools.count()

    def decide_and_compare(slug, decide):
        before = feed_files(live)
        decide()
        written = publisher.publish_posts({slug})
        assert written is not None, "the warm path"
        assert {SITE_FEED, post_feed(slug)} <= set(written)
        after = feed_files(live)
        assert after == feed_files(full_build(tmp_path, publisher.db_path, f"full-{next(builds)}"))
        return {
            name for name in after.keys() | before.keys() if after.get(name) != before.get(name)
        }

    parent = add(database, "A parent.")
    reply = add(database, "A reply.", parent_id=parent)
    changed = decide_and_compare(MENTOR_SLUG, lambda: None)
    assert changed == {SITE_FEED, post_feed(MENTOR_SLUG)}
    other = add(database, "On another post.", slug=OTHER_SLUG, status="pending")
    decide_and_compare(
        OTHER_SLUG, lambda: db.set_status(database, [other], "approved", by="t", reason="ok")
    )
    decide_and_compare(
        MENTOR_SLUG,
        lambda: edit(database, reply, author_name="Renamed", body="Edited."),
    )
    # Unapproving the parent takes its reply off the page too: the post shows
    # no comment, and its feed goes.
    decide_and_compare(
        MENTOR_SLUG, lambda: db.set_status(database, [parent], "pending", by="t", reason="undo")
    )
    assert not (live / post_feed(MENTOR_SLUG)).exists()
    assert comment_ids((live / SITE_FEED).read_bytes()) == [other]
    decide_and_compare(
        MENTOR_SLUG, lambda: db.set_status(database, [parent], "approved", by="t", reason="ok")
    )
    decide_and_compare(
        OTHER_SLUG, lambda: db.set_status(database, [other], "trash", by="t", reason="gone")
    )
    decide_and_compare(OTHER_SLUG, lambda: db.delete_permanently(database, [other], by="t"))
    assert comment_ids((live / SITE_FEED).read_bytes()) == [parent, reply]
    assert not (live / post_feed(OTHER_SLUG)).exists()


def test_a_publisher_behind_on_another_post_still_writes_the_current_site_feed(warm_site):
    """Two publishers stand for two gunicorn workers: each keeps the comments
    of the posts it rendered in memory, and the other may have changed them since."""
    publisher, database, tmp_path = warm_site
    other = WarmPublisher(publisher.target, publisher.db_path)
    other.full_build()
    comment = add(database, "As first approved.")
    publisher.publish_posts({MENTOR_SLUG})
    edit(database, comment, author_name="Reader", body="As edited.")
    other.publish_posts({MENTOR_SLUG})
    add(database, "On another post.", slug=OTHER_SLUG)
    publisher.publish_posts({OTHER_SLUG})  # its memory of the first post is old
    other.cancel_pending()
    live = feed_files(tmp_path / "live")
    assert b"As edited." in live[SITE_FEED]
    assert live == feed_files(full_build(tmp_path, publisher.db_path))


def test_the_services_pages_link_the_site_feed_too(client):
    page = BeautifulSoup(client.get(f"/comments/thanks?post={MENTOR_SLUG}").data, "html.parser")
    assert f"/{SITE_FEED}" in feed_links(page)


def test_a_comment_feed_where_pelican_writes_a_feed_fails_the_build(tmp_path):
    with pytest.raises(BuildError, match="COMMENTS_FEED_ATOM"):
        build_site(
            ROOT / "pelicanconf.py",
            tmp_path / "site",
            {
                "COMMENTS": {"DB": str(tmp_path / "none.db")},
                "COMMENTS_FEED_ATOM": "feeds/all.atom.xml",
            },
        )
