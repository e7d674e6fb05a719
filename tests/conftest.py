"""Shared fixtures: the test site (built from tests/fixtures/site/, never from
the author's content/), the Flask app and client, a browser."""

import os
import shutil
import threading

import pytest
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from comments_service import config, create_app, db
from comments_service.extensions import limiter
from comments_service.static_site.build import build_site
from comments_service.static_site.warm import WarmPublisher
from support import (
    CHROMIUM_ARGS,
    ORIGIN,
    TEST_PASSWORD_HASH,
    AdminSession,
    Site,
    copy_project,
)

# The suite runs as a developer's checkout does (development paths, pelicanconf.py,
# no releases); a test of production says BLOG_ENV=production itself.
os.environ["BLOG_ENV"] = "development"
# The author's database and releases are not the tests' either: a test that
# needs one sets it (a build reads COMMENTS_DB for its approved comments).
os.environ.pop("COMMENTS_DB", None)
os.environ.pop("SITE_ROOT", None)


@pytest.fixture(autouse=True)
def no_background_builds_after_a_test():
    """A decision may schedule a debounced full build; it must not outlive its test."""
    yield
    from comments_service.static_site.warm import all_publishers

    for publisher in all_publishers():
        publisher.cancel_pending()


@pytest.fixture(scope="session", autouse=True)
def fixture_project(tmp_path_factory):
    """The project the whole suite runs in: theme and settings as they are,
    content/ from tests/fixtures/site/ (``support.copy_project``). Read-only:
    a test that changes sources takes ``project_copy``.

    The service finds its settings file, theme and default paths under
    ``config.PROJECT_ROOT``; pointing it here makes every app a test creates
    (and every publish it triggers) build the test posts, never content/.
    """
    project = copy_project(tmp_path_factory.mktemp("project"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "PROJECT_ROOT", project)
        yield project


@pytest.fixture(scope="session")
def site(tmp_path_factory, fixture_project):
    """The test site, built once per test session with the development settings."""
    output = tmp_path_factory.mktemp("site") / "output"
    build_site(fixture_project / "pelicanconf.py", output, {"SITE_ORIGIN": ORIGIN})
    return Site(output)


@pytest.fixture(scope="session")
def published_site(tmp_path_factory, fixture_project):
    """The test site built for production (`make publish`), with absolute URLs."""
    output = tmp_path_factory.mktemp("published") / "output"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SITE_URL", ORIGIN)
        build_site(fixture_project / "publishconf.py", output)
    return Site(output)


@pytest.fixture
def project_copy(tmp_path):
    """A copy of the project (the test posts, theme, settings) to change freely."""
    return copy_project(tmp_path)


@pytest.fixture
def live_site(site, tmp_path):
    """A writable copy of the built site: moderation re-publishes into it."""
    destination = tmp_path / "live-site"
    shutil.copytree(site.path, destination)
    return Site(destination)


@pytest.fixture
def app(tmp_path, live_site):
    app = create_app(
        {
            "TESTING": True,
            "DEVELOPMENT": False,  # production's cookies and headers
            "SECRET_KEY": "test-secret",
            "COMMENTS_DB": str(tmp_path / "comments.db"),
            "SITE_DIR": str(live_site.path),
            "PASSWORD_HASH": TEST_PASSWORD_HASH,
        }
    )
    limiter.reset()  # the limiter's counters live in the process, not the app
    return app


@pytest.fixture
def without_rate_limits(app):
    """For tests that submit many comments on purpose."""
    limiter.enabled = False
    yield
    limiter.enabled = True


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def database(app):
    """The app's database, for arranging and asserting its state."""
    database = db.connect(app.config["COMMENTS_DB"])
    yield database
    database.close()


@pytest.fixture
def admin(app, client):
    """An admin account and a logged-in client (see support.AdminSession)."""
    return AdminSession(app, client)


@pytest.fixture(scope="session")
def live_server(site, tmp_path_factory):
    """The app on a real port in a thread, for the browser tests (read-only site)."""
    app = create_app(
        {
            "SECRET_KEY": "browser-test-secret",
            "COMMENTS_DB": str(tmp_path_factory.mktemp("db") / "comments.db"),
            "SITE_DIR": str(site.path),
        }
    )
    server, thread = serve_in_thread(app)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def serve_in_thread(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def comment_server(site, tmp_path):
    """A server with its own copy of the site and database, an admin, and
    nothing else: for browser tests that submit and moderate comments."""
    destination = tmp_path / "served-site"
    shutil.copytree(site.path, destination)
    app = create_app(
        {
            "SECRET_KEY": "browser-test-secret",
            "COMMENTS_DB": str(tmp_path / "comments.db"),
            "SITE_DIR": str(destination),
            "PASSWORD_HASH": TEST_PASSWORD_HASH,
            "SESSION_COOKIE_SECURE": False,  # plain http on loopback
        }
    )
    limiter.reset()
    AdminSession(app, app.test_client())
    server, thread = serve_in_thread(app)
    app.base_url = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    thread.join()


@pytest.fixture
def warm_site(tmp_path, fixture_project):
    """A warm publisher over the test site built into tmp_path/live, its
    database (open), and tmp_path."""
    db_path = tmp_path / "comments.db"
    db.connect(db_path).close()
    publisher = WarmPublisher.for_folder(
        fixture_project / "pelicanconf.py", tmp_path / "live", db_path
    )
    publisher.full_build()
    database = db.connect(db_path)
    yield publisher, database, tmp_path
    publisher.cancel_pending()
    database.close()


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3-compatible server on a free loopback port (object storage, Litestream)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (Playwright cannot download browsers here)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is needed: `make test` installs it (apt-get)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
