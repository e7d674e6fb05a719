"""Publishing heals itself: a publish that fails or is killed halfway is finished
by the next one, or by the background retry, and never leaves a temporary
file in the site."""

import errno
import os
import threading
import time

import pytest

from comments_service import db, publish
from comments_service.static_site import build, releases, warm
from support import MENTOR_SLUG, published_posts

OTHER_SLUG = next(p.slug for p in published_posts() if p.slug != MENTOR_SLUG)


@pytest.fixture
def setup(warm_site):
    publisher, database, folder = warm_site
    return publisher, database, folder / "live"


def approve(database, slug, body):
    comment_id = db.add_pending_comment(database, post_slug=slug, author_name="Ada", body=body)
    db.set_status(database, [comment_id], "approved", by="test", reason="approved")


def post_page(live, slug):
    return next(live.glob(f"*/*/{slug}/index.html")).read_text()


def leftovers(live):
    """Temporary or staging files anywhere a reader could reach, or beside the site."""
    inside = [p for p in live.rglob(".*") if p.name != ".well-known"]  # gpc.json is public
    beside = [p for p in live.parent.iterdir() if "-build-" in p.name]
    return inside + beside


class Killed(BaseException):
    """Stands for the process dying (a BaseException: nothing may catch it)."""


def test_a_publish_killed_between_renames_is_finished_by_the_next(setup, monkeypatch):
    publisher, database, live = setup
    approve(database, MENTOR_SLUG, "Approved while the worker died.")
    real_replace, calls = os.replace, []

    def dies_after_the_first_page(source, destination):
        calls.append(destination)
        if len(calls) == 2:
            raise Killed()
        return real_replace(source, destination)

    monkeypatch.setattr(warm.os, "replace", dies_after_the_first_page)
    with pytest.raises(Killed):
        publisher.publish_posts({MENTOR_SLUG})
    monkeypatch.setattr(warm.os, "replace", real_replace)
    never_renamed = calls[1]  # a listing page still showing the old comment count
    stale = never_renamed.read_text()
    # What a real kill leaves (no `finally` runs): a temporary file, outside the site.
    staging = warm.pages_staging_dir(live)
    staging.mkdir(exist_ok=True)
    (staging / "tmp-left-by-a-kill").write_text("half a page")

    # A later decision on another post also finishes the first one's pages.
    approve(database, OTHER_SLUG, "A later decision elsewhere.")
    publisher.publish_posts({OTHER_SLUG})
    assert "Approved while the worker died." in post_page(live, MENTOR_SLUG)
    assert never_renamed.read_text() != stale
    assert leftovers(live) == []


def test_a_failed_publish_is_retried_in_the_background_until_the_site_catches_up(
    setup, monkeypatch
):
    publisher, database, live = setup
    publisher.retry_delays = (0.05,)
    approve(database, MENTOR_SLUG, "Approved while the disk was full.")
    real_write, full = warm.write_atomically, threading.Event()
    attempts = []

    def disk_full_twice(output_dir, pages):
        attempts.append(1)
        if len(attempts) <= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(output_dir, pages)
        full.set()

    monkeypatch.setattr(warm, "write_atomically", disk_full_twice)
    with pytest.raises(OSError, match="No space left"):
        publisher.publish_posts({MENTOR_SLUG})
    assert publisher.last_error and "No space left" in publisher.last_error[1]
    assert "Approved while the disk was full." not in post_page(live, MENTOR_SLUG)

    assert full.wait(30), "the background retry never succeeded"
    assert "Approved while the disk was full." in post_page(live, MENTOR_SLUG)
    assert len(attempts) == 3
    for _ in range(300):  # the retry records its success just after writing (bounded wait)
        if publisher.failures == 0:
            break
        threading.Event().wait(0.01)
    assert publisher.last_error is None and publisher.failures == 0
    assert leftovers(live) == []


def test_a_decision_saved_by_a_worker_killed_before_publishing_reaches_the_site(setup):
    publisher, database, live = setup
    approve(database, MENTOR_SLUG, "Saved, then the worker was killed.")  # never published
    approve(database, OTHER_SLUG, "The next decision, in another worker.")
    publisher.publish_posts({OTHER_SLUG})
    assert "Saved, then the worker was killed." in post_page(live, MENTOR_SLUG)
    assert "The next decision, in another worker." in post_page(live, OTHER_SLUG)


def test_staging_left_by_a_killed_full_build_is_removed_by_the_next(setup):
    publisher, _database, live = setup
    abandoned = live.parent / ".live-build-killed"
    (abandoned / "2022").mkdir(parents=True)
    (abandoned / "2022" / "index.html").write_text("half a build")
    recent = live.parent / ".live-build-running-elsewhere"
    recent.mkdir()
    old = time.time() - build.ABANDONED_AFTER_SECONDS - 60
    os.utime(abandoned, (old, old))
    publisher.full_build()
    assert not abandoned.exists()
    assert recent.exists()  # may be another process's build in progress


def test_the_site_state_says_how_far_behind_it_is_and_why(tmp_path, monkeypatch, fixture_project):
    db_path, live = tmp_path / "comments.db", tmp_path / "live"
    db.connect(db_path).close()
    target = releases.folder_target(fixture_project / "pelicanconf.py", live)
    publisher = warm.publisher_for(target, db_path)
    publisher.retry_delays = (3600,)  # no retry during this test
    publisher.full_build()
    config = {"SITE_ROOT": None, "SITE_DIR": str(live), "COMMENTS_DB": str(db_path)}
    assert publish.site_state(config).up_to_date

    database = db.connect(db_path)
    approve(database, MENTOR_SLUG, "Saved while the disk was full.")
    database.close()

    def disk_full(output_dir, pages):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(warm, "write_atomically", disk_full)
    with pytest.raises(OSError):
        publisher.publish_posts({MENTOR_SLUG})
    state = publish.site_state(config)
    assert state.posts_behind == 1
    assert "No space left on device" in state.last_error and state.failing_since

    monkeypatch.undo()
    publisher.publish_posts(set())
    assert publish.site_state(config).up_to_date
    publisher.cancel_pending()


def test_the_admin_is_told_the_site_is_behind_until_it_catches_up(
    app, admin, client, database, live_site, monkeypatch
):
    from support import MENTOR_URL, submit_comment

    submit_comment(client, body="Approved on a full disk.")
    admin.login()

    def disk_full(output_dir, pages):
        raise OSError(errno.ENOSPC, "No space left on device")

    publish.publish_site(app.config)  # warm, as the service is after its start-up build
    for publisher in warm.all_publishers():
        publisher.retry_delays = (3600,)  # no background retry during this test
    monkeypatch.setattr(warm, "write_atomically", disk_full)
    response = admin.act("approve", 1)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved, but the site is not updated: OSError: [Errno 28] No space left" in page
    assert "The live site is behind the decisions: 1 post not yet updated" in page
    assert db.get_comment(database, 1)["status"] == "approved"
    assert "Approved on a full disk." not in live_site.text(MENTOR_URL)

    monkeypatch.undo()  # space is back
    for publisher in warm.all_publishers():
        publisher.retry()
    assert "Approved on a full disk." in live_site.text(MENTOR_URL)
    assert "The live site is behind" not in client.get("/admin/").get_data(as_text=True)


def test_decisions_readers_cannot_see_never_make_the_site_behind(
    app, admin, client, database, live_site
):
    from support import submit_comment

    for body in ("Goes to the trash.", "Marked as spam.", "Edited, then deleted."):
        submit_comment(client, body=body)
    admin.login()
    publish.publish_site(app.config)  # the service's start-up build
    admin.act("trash", 1)
    admin.act("spam", 2)
    admin.act("trash", 3)
    admin.act("delete", 3, view="trash")
    page = client.get("/admin/trash").get_data(as_text=True)
    assert "The live site is behind" not in page
    assert publish.site_state(app.config).up_to_date
