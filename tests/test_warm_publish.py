"""The warm publisher writes exactly what a full build of the same data writes."""

import random
import threading

import pytest
from bs4 import BeautifulSoup

from comments_service import db
from comments_service.popularity import rank_popular
from comments_service.static_site.build import build_site
from comments_service.static_site.warm import WarmPublisher
from support import MENTOR_SLUG, published_posts

NEWEST_SLUG = published_posts()[0].slug  # on page 1 of the home page
OLDEST_SLUG = published_posts()[-1].slug  # on page 2


def snapshot(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture
def setup(warm_site):
    return warm_site


def comments_section(html):
    return str(BeautifulSoup(html, "html.parser").select_one("#comments"))


def full_build_of_the_same_data(publisher, tmp_path, name="fresh"):
    """What a full build of the publisher's sources and database writes."""
    overrides = {"COMMENTS": {"DB": str(publisher.db_path)}}
    build_site(publisher.settings_file, tmp_path / name, overrides)
    return snapshot(tmp_path / name)


def approve_new_comment(database, slug, body, parent_id=None):
    comment_id = db.add_pending_comment(
        database, post_slug=slug, author_name="Reader", body=body, parent_id=parent_id
    )
    db.set_status(database, [comment_id], "approved", by="test", reason="approved")
    return comment_id


@pytest.mark.parametrize("slug", [NEWEST_SLUG, MENTOR_SLUG, OLDEST_SLUG])
def test_each_page_the_warm_path_writes_equals_the_full_build(setup, slug):
    publisher, database, tmp_path = setup
    before = snapshot(tmp_path / "live")
    for _ in range(3):  # views move Popular Posts too: the warm ranking must agree
        db.count_view(database, "keep-a-brag-document")
    db.count_view(database, NEWEST_SLUG)
    parent = approve_new_comment(database, slug, "A *warm* comment")
    approve_new_comment(database, slug, "And a reply", parent_id=parent)
    publisher.publish_posts({slug})
    after = snapshot(tmp_path / "live")
    written = {name for name in after if after[name] != before.get(name)}
    fresh = full_build_of_the_same_data(publisher, tmp_path)

    assert written, "the warm path wrote pages"
    for name in written:
        assert after[name] == fresh[name], name
    post_page = next(name for name in written if name.endswith(f"{slug}/index.html"))
    assert "A <em>warm</em> comment" in after[post_page].decode()
    assert "2 Comments" in after[post_page].decode()
    position = [p.slug for p in published_posts()].index(slug)
    home = "index.html" if position < 5 else f"page/{position // 5 + 1}/index.html"
    assert home in written


def test_after_the_debounced_build_the_whole_site_equals_a_full_build(setup):
    publisher, database, tmp_path = setup
    for n in range(3):  # enough to move the post to the top of Popular Posts
        approve_new_comment(database, OLDEST_SLUG, f"Comment {n}")
    publisher.publish_posts({OLDEST_SLUG})
    assert publisher._timer is not None, "Popular Posts changed: a full build is scheduled"
    publisher.flush()
    assert snapshot(tmp_path / "live") == full_build_of_the_same_data(publisher, tmp_path)


def test_the_ranking_kept_between_decisions_matches_a_fresh_one(setup):
    """The publisher keeps Popular Posts ranked between decisions and catches up
    on what anyone decided since; after every change it must name the posts a
    full build would (``rank_popular`` over every post)."""
    publisher, database, _tmp_path = setup
    site = publisher.articles
    slugs = sorted(site.by_slug)
    rng = random.Random(7)
    approved = []
    for _step in range(80):
        slug, roll = rng.choice(slugs), rng.random()
        if roll < 0.45:
            approved.append(approve_new_comment(database, slug, "Useful"))
        elif roll < 0.6 and approved:
            comment_id = approved.pop(rng.randrange(len(approved)))
            db.set_status(database, [comment_id], "spam", by="test", reason="spam")
        elif roll < 0.7 and approved:  # an import moves a comment to another post
            row = db.get_comment(database, approved[-1])
            db.import_comments(database, [{**row, "post_slug": slug}])
        else:
            db.count_view(database, slug)
        site.catch_up_on_counts(database)
        views = db.views_since(database, days=30)
        expected = rank_popular(
            site.generator.articles,
            comment_counts=db.shown_comment_counts(database),
            view_counts=views,
            limit=5,
        )
        assert [a.slug for a in site.popular(views, 5)] == [a.slug for a in expected]


def test_unapprove_and_delete_go_through_the_warm_path_too(setup):
    publisher, database, tmp_path = setup
    comment_id = approve_new_comment(database, MENTOR_SLUG, "Short-lived")
    publisher.publish_posts({MENTOR_SLUG})
    db.set_status(database, [comment_id], "trash", by="test", reason="trash")
    publisher.publish_posts({MENTOR_SLUG})
    live = snapshot(tmp_path / "live")
    fresh = full_build_of_the_same_data(publisher, tmp_path)
    page = "2022/12/meet-mentors-through-informational-interviews/index.html"
    assert live[page] == fresh[page]
    assert b"Short-lived" not in live[page]


def test_concurrent_decisions_from_two_processes_converge(setup):
    """Two publishers on one site stand for two gunicorn workers."""
    publisher, database, tmp_path = setup
    other = WarmPublisher(publisher.target, publisher.db_path)
    other.full_build()
    slugs = [MENTOR_SLUG, OLDEST_SLUG, "keep-a-brag-document", "ask-for-feedback-that-helps"]

    def decide(worker, slug):
        approve_new_comment(db.connect(publisher.db_path), slug, f"On {slug}")
        worker.publish_posts({slug})

    threads = [
        threading.Thread(target=decide, args=(publisher if n % 2 else other, slug))
        for n, slug in enumerate(slugs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fresh = full_build_of_the_same_data(publisher, tmp_path)
    live = snapshot(tmp_path / "live")
    for slug in slugs:
        page = next(name for name in fresh if name.endswith(f"/{slug}/index.html"))
        # Each post shows its comment at once; the sidebars (Popular Posts, moved
        # by the later decisions) catch up with the debounced full build below.
        assert comments_section(live[page]) == comments_section(fresh[page]), slug
        assert f"On {slug}".encode() in live[page]
    other.cancel_pending()
    publisher.flush()
    other.flush()
    assert snapshot(tmp_path / "live") == full_build_of_the_same_data(
        publisher, tmp_path, "fresh-2"
    )


def test_a_decision_during_a_full_build_is_not_overwritten_by_it(setup, monkeypatch):
    publisher, database, tmp_path = setup
    from comments_service.static_site import warm

    real_build = warm.build_site

    def slow_build(*args, **kwargs):
        # A decision lands after the build read the database, before it syncs.
        approve_new_comment(db.connect(publisher.db_path), MENTOR_SLUG, "Made mid-build")
        return real_build(*args, **kwargs)

    monkeypatch.setattr(warm, "build_site", slow_build)
    publisher.full_build()
    page = "2022/12/meet-mentors-through-informational-interviews/index.html"
    assert b"Made mid-build" in snapshot(tmp_path / "live")[page]


def test_the_debounced_build_runs_in_a_child_process_and_converges(setup):
    publisher, database, tmp_path = setup
    publisher.debounce = 0.1
    for n in range(3):
        approve_new_comment(database, OLDEST_SLUG, f"Comment {n}")
    publisher.publish_posts({OLDEST_SLUG})
    timer = publisher._timer
    assert timer is not None
    timer.join(120)  # the timer's thread waits for the child build
    assert snapshot(tmp_path / "live") == full_build_of_the_same_data(publisher, tmp_path)


def test_a_decision_does_not_undo_an_edit_published_by_another_build(project_copy, tmp_path):
    """The author edits a post and rebuilds (`make html`) while the service runs
    warm: the next decision must show the edit, not the post as it was."""
    db_path = tmp_path / "comments.db"
    db.connect(db_path).close()
    live = tmp_path / "live"
    publisher = WarmPublisher.for_folder(project_copy / "pelicanconf.py", live, db_path)
    publisher.full_build()
    source = next((project_copy / "content" / "posts").glob(f"*{MENTOR_SLUG}*.md"))
    source.write_text(source.read_text() + "\nA paragraph the author added later.\n")
    build_site(project_copy / "pelicanconf.py", live)  # someone else's build

    approve_new_comment(db.connect(db_path), MENTOR_SLUG, "Approved after the edit")
    publisher.publish_posts({MENTOR_SLUG})
    page = (live / "2022/12/meet-mentors-through-informational-interviews/index.html").read_text()
    assert "A paragraph the author added later." in page
    assert "Approved after the edit" in page
    publisher.cancel_pending()
