"""Live reload under `make serve`: a page open in the browser shows a saved post
by itself, and a failed build's banner, and nothing of it reaches production."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest
from playwright.sync_api import expect
from watchfiles import Change
from werkzeug.serving import make_server

from comments_service import create_app, live_reload, publish, serve
from comments_service.static_site.build import build_site
from preview_site import OLD, edit_post, post_path, write_project
from support import ROOT, TEST_PASSWORD_HASH

POST_URL = f"/2024/01/post-{OLD}/"
SCRIPT_TAG = re.compile(r'<script src="/__livereload\.js" data-events="([^"]+)" defer></script>')


# --- which pages a build reloads ---------------------------------------------


def test_a_page_reloads_only_after_a_build_that_changed_it():
    builds = live_reload.Builds()
    stream = builds.stream("/2024/01/post-3/", builds.version)
    assert next(stream).startswith("retry:")
    builds.built(["2024/02/post-9/index.html", "feeds/all.atom.xml"])
    assert next(stream) == ": still here\n\n"
    builds.built(["index.html", "2024/01/post-3/index.html"])
    assert next(stream) == live_reload.RELOAD


@pytest.mark.parametrize("path", ["/", "/about/", "/2024/01/post-3/"])
def test_a_full_or_failed_build_reloads_every_page(path):
    builds = live_reload.Builds()
    stream = builds.stream(path, builds.version)
    next(stream)
    builds.built(None)
    assert next(stream) == live_reload.RELOAD


def test_a_page_served_before_a_build_reloads_when_it_asks_after_it():
    builds = live_reload.Builds()
    served_at = builds.version
    builds.built(["tag/caf\u00e9/index.html"])
    stream = builds.stream(live_reload.page_path("/tag/caf%C3%A9/index.html"), served_at)
    next(stream)
    assert next(stream) == live_reload.RELOAD


def test_a_page_from_another_run_of_the_server_reloads_at_once():
    stream = live_reload.Builds().stream("/", live_reload.Builds().version)
    next(stream)
    assert next(stream) == live_reload.RELOAD


def test_a_page_older_than_the_builds_remembered_reloads():
    builds = live_reload.Builds(remembered=2)
    served_at = builds.version
    for _ in range(3):
        builds.built(["elsewhere/index.html"])
    stream = builds.stream("/", served_at)
    next(stream)
    assert next(stream) == live_reload.RELOAD


# --- the script on the development server only ------------------------------


@pytest.fixture
def built_project(tmp_path):
    """The small preview project, built for development into tmp_path/live."""
    project = write_project(tmp_path / "project")
    config = {
        "PELICAN_SETTINGS": str(project / "pelicanconf.py"),
        "SITE_DIR": str(tmp_path / "live"),
        "SITE_ROOT": None,
        "COMMENTS_DB": str(tmp_path / "comments.db"),
    }
    publish.publish_site(config)
    return project, config


def app_serving(config, development):
    app = create_app(
        {
            **config,
            "SECRET_KEY": "live-reload-test",
            "DEVELOPMENT": development,
            "PASSWORD_HASH": TEST_PASSWORD_HASH,
        }
    )
    if development:
        live_reload.init_app(app)  # what serve.main does
    return app


def test_the_dev_server_adds_the_script_to_the_sites_pages(built_project):
    _project, config = built_project
    client = app_serving(config, development=True).test_client()
    page = client.get(POST_URL)
    events = SCRIPT_TAG.search(page.get_data(as_text=True))
    assert events, "the page carries the script"
    assert events[1].startswith("/__livereload?version=") and "path=/2024/01/post-3/" in events[1]
    # A file, allowed by the policy that runs no inline script.
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    script = client.get("/__livereload.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert "EventSource" in script.get_data(as_text=True)
    # Never "304 Not Modified": the browser's copy carries an older build.
    again = client.get(POST_URL, headers={"If-Modified-Since": page.headers.get("Date", "")})
    assert again.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    assert SCRIPT_TAG.search(client.get("/no-such-page/").get_data(as_text=True)), "404 page too"
    assert "__livereload" not in client.get("/admin/login").get_data(as_text=True)


def test_production_has_no_live_reload(built_project, tmp_path, monkeypatch):
    project, config = built_project
    client = app_serving(config, development=False).test_client()
    assert client.get("/__livereload.js").status_code == 404
    assert client.get("/__livereload").status_code == 404
    assert "__livereload" not in client.get(POST_URL).get_data(as_text=True)
    # Neither the development build (`make html`) nor a production release
    # (`make publish`, publishconf.py) has anything of it in its files.
    monkeypatch.setenv("SITE_URL", "https://careers.example")
    build_site(project / "publishconf.py", tmp_path / "release")
    for folder in (tmp_path / "live", tmp_path / "release"):
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert len(files) > 20
        assert not [p for p in files if b"livereload" in p.read_bytes()], folder.name


def test_the_stream_is_server_sent_events_over_http(built_project):
    _project, config = built_project
    app = app_serving(config, development=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    builds = app.extensions[live_reload.KEY]
    try:
        url = f"http://127.0.0.1:{server.server_port}/__livereload?version={builds.version}&path=/"
        with urllib.request.urlopen(url, timeout=60) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            assert stream.readline().startswith(b"retry:")
            stream.readline()
            builds.built(["index.html"])
            assert stream.readline() == b"event: reload\n"
    finally:
        builds.close()
        server.shutdown()


def test_after_a_failed_build_the_next_save_publishes_what_failed_too(built_project, monkeypatch):
    """A post saved with a mistake, then another post saved: the second save
    must not clear the banner while the first post is still broken."""
    project, config = built_project
    app = app_serving(config, development=True)
    serve.show_build_failures(app)
    builds = app.extensions[live_reload.KEY]
    broken = edit_post(project, OLD, body="See [the plan]({filename}no-such-plan.md).\n")
    other = edit_post(project, 4, title="Another post, edited")
    saves = iter([{(Change.modified, str(broken))}, {(Change.modified, str(other))}])
    monkeypatch.setattr(serve, "watch", lambda *paths, stop_event: saves)
    serve.watch_and_rebuild(app, threading.Event())
    assert "no-such-plan.md" in app.extensions[serve.BUILD_FAILURE]
    assert builds.number == 2, "each failed save reloaded the open pages (banner)"
    page = app.test_client().get(POST_URL).get_data(as_text=True)
    assert 'role="alert"' in page and "Post number 3" in page


# --- in a browser, against `make serve` ---------------------------------------


@pytest.fixture
def dev_server(tmp_path):
    """`make serve` (``python -m comments_service.serve``) over the small project,
    on a free port: (base URL, project)."""
    project = write_project(tmp_path / "project")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "BLOG_ENV": "development",
        "PORT": str(port),
        "COMMENTS_DB": str(tmp_path / "comments.db"),
        "FLASK_PELICAN_SETTINGS": str(project / "pelicanconf.py"),
        "FLASK_SITE_DIR": str(tmp_path / "live"),
        "FLASK_PASSWORD_HASH": TEST_PASSWORD_HASH,
        "ADMIN_PASSWORD": "a-long-test-password",
    }
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "comments_service.serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = False
        for _ in range(600):
            assert server.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(base + "/", timeout=5):
                    ready = True
                    break
            except OSError:
                threading.Event().wait(0.2)
        assert ready, log.read_text()
        yield base, project, log
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def save_until_shown(edit, expectation, attempts=6):
    """Save, then wait for the open page to show it. The first save may come
    before the server's watcher has started watching: saved again then."""
    for attempt in range(attempts):
        edit()
        try:
            expectation(timeout=20_000)
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise


def test_a_saved_post_shows_in_the_open_page_without_reloading_by_hand(dev_server, page):
    base, project, log = dev_server
    about = page.context.new_page()
    about.goto(base + "/about/")
    about.evaluate("window.neverReloaded = true")
    page.goto(base + POST_URL)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Post number 3")

    save_until_shown(
        lambda: edit_post(project, OLD, title="Edited while the page is open"),
        lambda timeout: expect(heading).to_have_text(
            "Edited while the page is open", timeout=timeout
        ),
    )
    edit_post(project, OLD, body="A second save, shown as well.\n")
    expect(page.locator(".body")).to_contain_text("A second save, shown as well.", timeout=30_000)
    # The About page shows nothing of that post: it was left alone.
    assert about.evaluate("window.neverReloaded") is True
    assert "Rebuilding the whole site" not in log.read_text(), "each save was re-rendered"


def test_a_failed_build_shows_its_banner_and_the_fix_takes_it_away(dev_server, page):
    base, project, _log = dev_server
    page.goto(base + POST_URL)
    alert = page.get_by_role("alert")
    save_until_shown(
        lambda: edit_post(project, OLD, body="See [the plan]({filename}no-such-plan.md).\n"),
        lambda timeout: expect(alert).to_contain_text("no-such-plan.md", timeout=timeout),
    )
    expect(alert).to_contain_text("content/posts/post-3.md")
    edit_post(project, OLD, body="Fixed, and the banner is gone.\n")
    expect(page.locator(".body")).to_contain_text("Fixed, and the banner is gone.", timeout=30_000)
    expect(alert).to_have_count(0)
    assert post_path(project, OLD).is_file()


def served(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as answer:
        return answer.read().decode()


def wait_until_served(base, path, text, attempts=300):
    """Wait until the server has published ``text`` at ``path`` (a functional wait)."""
    for _ in range(attempts):
        if text in served(base, path):
            return
        threading.Event().wait(0.2)
    raise AssertionError(f"{text!r} never published at {path}")


def set_visibility(page, state):
    """What the browser does when the author switches tabs."""
    page.evaluate(
        """state => {
          Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_a_hidden_tab_catches_up_when_shown_again(dev_server, page):
    base, project, _log = dev_server
    page.goto(base + POST_URL)
    page.evaluate("window.servedBefore = true")
    # The author switches to the editor's tab: this one is hidden, and lets
    # its connection go.
    set_visibility(page, "hidden")
    edit_post(project, OLD, title="Saved while the tab was hidden")
    threading.Event().wait(1)  # the first save may come before the watcher watches
    edit_post(project, OLD, title="Saved while the tab was hidden")
    wait_until_served(base, POST_URL, "Saved while the tab was hidden")
    assert page.evaluate("window.servedBefore") is True, "a hidden tab does not reload"
    set_visibility(page, "visible")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Saved while the tab was hidden", timeout=30_000
    )


def test_a_page_with_a_comment_being_typed_is_not_reloaded(dev_server, page):
    base, project, _log = dev_server
    page.goto(base + POST_URL)
    comment = page.get_by_label("Comment", exact=True)
    comment.fill("Half a thought I do not want to lose")
    edit_post(project, OLD, title="Edited while a comment is typed")
    threading.Event().wait(1)  # the first save may come before the watcher watches
    edit_post(project, OLD, title="Edited while a comment is typed")
    wait_until_served(base, POST_URL, "Edited while a comment is typed")
    page.wait_for_timeout(1000)  # what a reload would need, had one been asked for
    expect(comment).to_have_value("Half a thought I do not want to lose")
    expect(page.get_by_role("heading", level=1)).to_have_text("Post number 3")


def test_an_untouched_form_with_tick_boxes_does_not_stop_the_reload(dev_server, page):
    """A box's value is "on" whatever its state: only a tick the reader made
    counts as something being typed (the notification boxes once stopped
    every post page from reloading)."""
    base, project, _log = dev_server
    page.goto(base + POST_URL)
    box = page.get_by_label("Notify me of replies to my comment")
    expect(box).not_to_be_checked()
    heading = page.get_by_role("heading", level=1)
    save_until_shown(
        lambda: edit_post(project, OLD, title="Edited with the boxes unticked"),
        lambda timeout: expect(heading).to_have_text(
            "Edited with the boxes unticked", timeout=timeout
        ),
    )
    box = page.get_by_label("Notify me of replies to my comment")
    box.check()
    edit_post(project, OLD, title="Edited after a box was ticked")
    wait_until_served(base, POST_URL, "Edited after a box was ticked")
    page.wait_for_timeout(1000)  # what a reload would need, had one been asked for
    expect(box).to_be_checked()
    expect(heading).to_have_text("Edited with the boxes unticked")
