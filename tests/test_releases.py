"""Production: `make publish` makes releases, the service publishes into the live
one, and `make rollback` goes back; nothing ever builds with the development
settings there."""

import os
import re
import time

import pytest

from comments_service import config, create_app, db, publish
from comments_service.extensions import limiter
from comments_service.static_site import releases
from support import (
    MENTOR_SLUG,
    MENTOR_URL,
    TEST_PASSWORD_HASH,
    AdminSession,
    Site,
    draft_posts,
    submit_comment,
)

SITE_URL = "https://careers.example.com"


@pytest.fixture
def production(project_copy, tmp_path, monkeypatch):
    """The environment of a production server, on a copy of the project."""
    monkeypatch.setattr(config, "PROJECT_ROOT", project_copy)
    for name, value in {
        "BLOG_ENV": "production",
        "SITE_URL": SITE_URL,
        "SECRET_KEY": "production-test-secret",
        "SITE_ROOT": str(tmp_path / "site"),
        "COMMENTS_DB": str(tmp_path / "comments.db"),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "site"


def production_app():
    app = create_app({"TESTING": True, "PASSWORD_HASH": TEST_PASSWORD_HASH})
    limiter.reset()
    return app


def live(root):
    return Site(releases.live_site_dir(root))


def approve_a_comment(app, body):
    client = app.test_client()
    assert submit_comment(client, body=body).status_code == 202
    admin = AdminSession(app, client)
    admin.login()
    database = db.connect(app.config["COMMENTS_DB"])
    comment_id = database.execute("select max(id) from comments").fetchone()[0]
    database.close()
    response = admin.act("approve", comment_id)
    assert response.status_code == 303, response.get_data(as_text=True)


def absolute_links(site):
    """Every canonical, feed and sitemap link of the built site."""
    links = []
    for page in site.html_pages():
        links += re.findall(r'<link rel="canonical" href="([^"]+)"', page.read_text())
    for feed in (site.path / "feeds").glob("*.xml"):
        links += re.findall(r'<link href="([^"]+)"', feed.read_text())
        links += re.findall(r"<link>([^<]+)</link>", feed.read_text())
    links += re.findall(r"<loc>([^<]+)</loc>", (site.path / "sitemap.xml").read_text())
    return links


def test_production_decisions_keep_the_site_on_site_url_without_drafts(production):
    pages = config.PROJECT_ROOT / "content" / "pages"
    (pages / "draft-page.md").write_text(
        "Title: A Page Still Being Written\nSlug: draft-page\nStatus: draft\n\nNot yet.\n"
    )
    assert publish.main([]) == 0
    app = production_app()
    assert app.config["PELICAN_SETTINGS"].endswith("publishconf.py")

    approve_a_comment(app, "Published in production, through the live release.")

    site = live(production)
    assert "Published in production, through the live release." in site.text(MENTOR_URL)
    links = absolute_links(site)
    assert len(links) > 20
    assert [link for link in links if not link.startswith(SITE_URL + "/")] == []
    assert not (site.path / "drafts").exists()
    for title in [draft.title for draft in draft_posts()] + ["A Page Still Being Written"]:
        assert not any(title in page.read_text() for page in site.html_pages())


def test_publish_makes_a_new_release_and_rollback_returns_to_the_previous(production, monkeypatch):
    assert publish.main([]) == 0
    first = releases.live_release(production)
    about = config.PROJECT_ROOT / "content" / "pages" / "about.md"
    about.write_text(about.read_text() + "\n\nA sentence added for the second release.\n")
    assert publish.main([]) == 0
    second = releases.live_release(production)
    assert second != first and second.parent == first.parent
    assert "added for the second release" in live(production).text("/about/")
    assert os.readlink(releases.live_link(production)) == f"releases/{second.name}"

    assert publish.main(["--rollback"]) == 0
    assert releases.live_release(production) == first
    assert "added for the second release" not in live(production).text("/about/")


def test_a_decision_after_a_rollback_keeps_the_rolled_back_release(production):
    assert publish.main([]) == 0
    first = releases.live_release(production)
    about = config.PROJECT_ROOT / "content" / "pages" / "about.md"
    about.write_text(about.read_text() + "\n\nOnly in the second release.\n")
    assert publish.main([]) == 0
    app = production_app()
    approve_a_comment(app, "Approved while the second release was live.")
    assert publish.main(["--rollback"]) == 0

    # The running service notices the switch: this decision is written into
    # the rolled-back release, rebuilt from that release's own sources.
    approve_a_comment(app, "Approved after the rollback.")
    site = live(production)
    assert releases.live_release(production) == first
    assert "Only in the second release." not in site.text("/about/")
    page = site.text(MENTOR_URL)
    assert "Approved while the second release was live." in page
    assert "Approved after the rollback." in page


def test_a_failed_publish_leaves_the_live_release_and_no_new_one(production):
    assert publish.main([]) == 0
    before = releases.all_releases(production)
    index = config.PROJECT_ROOT / "theme" / "templates" / "index.html"
    index.write_text("{% block %}")
    assert publish.main([]) == 1
    assert releases.all_releases(production) == before
    assert releases.live_release(production) == before[0]
    assert (releases.live_site_dir(production) / "index.html").is_file()


def test_only_the_last_releases_are_kept(production):
    for _ in range(releases.KEEP_RELEASES + 2):
        assert publish.main([]) == 0
    kept = releases.all_releases(production)
    assert len(kept) == releases.KEEP_RELEASES
    assert releases.live_release(production) == kept[-1]


def test_rollback_without_an_earlier_release_says_so(production, capsys):
    assert publish.main([]) == 0
    assert publish.main(["--rollback"]) == 2
    assert "no earlier release" in capsys.readouterr().err


def test_the_first_decision_on_a_new_server_builds_the_first_release(production):
    app = production_app()
    with app.app_context():
        assert releases.live_release(production) is None
        publish.publish_site(app.config)
    assert (releases.live_site_dir(production) / "index.html").is_file()
    assert MENTOR_SLUG in (releases.live_site_dir(production) / "post-registry.json").read_text()


def test_development_and_production_never_share_an_output_folder(monkeypatch):
    monkeypatch.setenv("BLOG_ENV", "development")
    development = config.load()
    monkeypatch.setenv("BLOG_ENV", "production")
    production = config.load()
    assert development.settings_file.name == "pelicanconf.py"
    assert production.settings_file.name == "publishconf.py"
    assert development.site_dir != production.site_dir
    assert production.site_root not in development.site_dir.parents
    assert development.site_dir not in production.site_dir.parents


def test_a_release_whose_build_was_killed_is_never_rolled_back_to(production):
    assert publish.main([]) == 0
    first = releases.live_release(production)
    assert publish.main([]) == 0
    # A `make publish` killed while building: its folder exists, unmarked.
    killed = releases.new_release(production, config.PROJECT_ROOT)
    assert killed not in releases.all_releases(production)
    assert publish.main(["--rollback"]) == 0
    assert releases.live_release(production) == first
    old = time.time() - releases.ABANDONED_AFTER_SECONDS - 60
    os.utime(killed, (old, old))
    assert publish.main([]) == 0  # prunes what was abandoned
    assert not killed.exists()
