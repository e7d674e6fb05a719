"""`make serve`: the built site through the app factory, and rebuild on change."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from comments_service import create_app, serve
from comments_service.config import ConfigError
from support import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    MENTOR_SLUG,
    MENTOR_URL,
    POSTS_DIR,
    ROOT,
    copy_project,
    project_env,
    published_posts,
)


def test_home_and_a_post_are_served(client):
    home = client.get("/")
    assert home.status_code == 200
    assert b"Latest posts" in home.data
    post = published_posts()[0]
    page = client.get(post.url)
    assert page.status_code == 200
    assert post.title.encode() in page.data
    assert client.get("/theme/css/site.css").mimetype == "text/css"


def test_a_folder_without_slash_redirects_like_nginx(client):
    response = client.get("/2022/12")
    assert response.status_code == 301
    assert response.headers["Location"] == "/2022/12/"


@pytest.mark.parametrize(
    "path",
    [
        "/no-such-page/",
        "/2022/13/",
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/admin/nothing",
    ],
)
def test_missing_pages_get_the_themed_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"Page not found" in response.data
    assert b"Popular Posts" in response.data


@pytest.mark.parametrize("missing", ["SECRET_KEY", "SITE_URL"])
def test_production_refuses_to_start_without_a_setting(monkeypatch, tmp_path, missing):
    monkeypatch.setenv("BLOG_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s")
    monkeypatch.setenv("SITE_URL", "https://careers.example")
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        create_app({"COMMENTS_DB": str(tmp_path / "c.db")})


def test_development_keeps_its_generated_secret_key_in_var(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    config = {"DEVELOPMENT": True, "COMMENTS_DB": str(tmp_path / "var" / "comments.db")}
    first = create_app(config).config["SECRET_KEY"]
    assert len(first) == 64
    assert create_app(config).config["SECRET_KEY"] == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_contract_environment_variables_configure_the_app(monkeypatch, tmp_path):
    monkeypatch.setenv("BLOG_ENV", "production")
    monkeypatch.setenv("COMMENTS_DB", str(tmp_path / "env.db"))
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("SITE_URL", "https://careers.example")
    monkeypatch.setenv("RATELIMIT_ENABLED", "0")
    app = create_app()
    assert app.config["COMMENTS_DB"] == str(tmp_path / "env.db")
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["SITE_URL"] == "https://careers.example"
    assert app.config["RATELIMIT_ENABLED"] is False


@pytest.mark.parametrize("missing", ["SITE_URL", "SECRET_KEY"])
def test_serve_prod_without_a_setting_says_so_in_one_line(tmp_path, missing):
    env = {
        **os.environ,
        "SITE_URL": "https://careers.example",
        "SECRET_KEY": "s",
        "SITE_ROOT": str(tmp_path / "site"),
        "COMMENTS_DB": str(tmp_path / "c.db"),
    }
    del env[missing]
    done = subprocess.run(
        ["make", "--no-print-directory", "serve-prod"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert lines == [lines[0]] and lines[0].startswith(f"Not starting: {missing} is not set")
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "site").exists()


def wait_for(condition, timeout=60):
    """Poll until the watcher has rebuilt (a functional wait, not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def app_for_project(project, tmp_path):
    """An app serving a copy of the author's project, built into tmp_path/live."""
    return create_app(
        {
            "SECRET_KEY": "x",
            "COMMENTS_DB": str(tmp_path / "c.db"),
            "SITE_DIR": str(tmp_path / "live"),
            "PELICAN_SETTINGS": str(project / "pelicanconf.py"),
        }
    )


def test_saving_a_post_or_template_rebuilds_the_served_site(project_copy, tmp_path):
    app = app_for_project(project_copy, tmp_path)
    assert serve.rebuild(app)
    client = app.test_client()
    stop = threading.Event()
    watcher = threading.Thread(target=serve.watch_and_rebuild, args=(app, stop), daemon=True)
    watcher.start()
    try:
        time.sleep(0.5)  # let the watcher start watching before the edit
        post = project_copy / "content" / "posts" / "keep-a-brag-document.md"
        post.write_text(
            post.read_text().replace("Title: Why You Should", "Title: Why We All Should")
        )
        assert wait_for(lambda: b"Why We All Should" in client.get("/").data)

        base = project_copy / "theme" / "templates" / "base.html"
        base.write_text(base.read_text().replace("All posts</a>", "Every post</a>"))
        assert wait_for(lambda: b"Every post</a>" in client.get("/about/").data)
    finally:
        stop.set()
        watcher.join(timeout=10)


def test_a_broken_edit_keeps_serving_the_last_good_site(project_copy, tmp_path, capsys):
    app = app_for_project(project_copy, tmp_path)
    assert serve.rebuild(app)
    (project_copy / "theme" / "templates" / "base.html").write_text("{% if %}")
    assert not serve.rebuild(app)
    assert "Build failed" in capsys.readouterr().err
    assert b"Latest posts" in app.test_client().get("/").data


def first_popular(page):
    """The URL path of the first post in a page's Popular Posts sidebar."""
    html = page.read_text()
    sidebar = html[html.index('id="popular-heading"') :]
    return urllib.parse.urlsplit(re.search(r'<a href="([^"]+)"', sidebar)[1]).path


def test_serve_prod_builds_once_and_its_workers_start_warm(tmp_path):
    """`make serve-prod`'s gunicorn: the master builds the site before forking,
    and a worker's first moderation decision re-renders pages instead of
    building the whole site again (Pelican says "Done: Processed ..." per build).
    It runs in production: the first release is built with publishconf.py, and
    the admin named by ADMIN_USERNAME/ADMIN_PASSWORD exists. It runs a copy of
    the project, so that it builds the test posts (support.copy_project)."""
    project = copy_project(tmp_path / "project", code=True)
    site_root, db_path = tmp_path / "site", tmp_path / "comments.db"
    site_dir = site_root / "live" / "site"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **project_env(project, os.environ),
        "BLOG_ENV": "production",
        "PORT": str(port),
        "SITE_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": "serve-prod-test-secret",
        "COMMENTS_DB": str(db_path),
        "SITE_ROOT": str(site_root),
        "ADMIN_USERNAME": ADMIN_USER,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "FLASK_SESSION_COOKIE_SECURE": "false",  # plain http on loopback
        "WEB_CONCURRENCY": "2",
    }
    log_path = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                gunicorn,
                "--config",
                "comments_service/gunicorn_conf.py",
                "comments_service:create_app()",
            ],
            cwd=project,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )

    def fetch(path, data=None, headers=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(base + path, data=body, headers=headers or {})
        with browser.open(request, timeout=60) as answer:
            return answer.read().decode()

    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                home = fetch("/")
                break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        assert "Career Notes" in home and (site_dir / "index.html").exists()
        built_from = site_root / "live" / "sources" / "content" / "posts"
        assert sorted(p.name for p in built_from.iterdir()) == sorted(
            p.name for p in POSTS_DIR.iterdir()
        ), "the release is built from the test posts"

        fetch(
            "/comments/",
            {"post_slug": MENTOR_SLUG, "name": "Ada", "body": "Served warm, I hope."},
            {"Sec-Fetch-Site": "same-origin", "Accept": "application/json"},
        )
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', fetch("/admin/login"))[1]
        fetch(
            "/admin/login",
            {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf_token": token},
        )
        queue = fetch("/admin/")
        comment_id = re.search(r'value="approve:(\d+)"', queue)[1]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', queue)[1]
        seen = re.search(rf'name="seen-{comment_id}" value="(\d+)"', queue)[1]
        fetch(
            "/admin/moderate",
            {
                "csrf_token": token,
                "view": "pending",
                "action": f"approve:{comment_id}",
                f"seen-{comment_id}": seen,
            },
        )

        post = fetch(MENTOR_URL)
        assert "Served warm, I hope." in post
        assert f'<link rel="canonical" href="{env["SITE_URL"]}{MENTOR_URL}">' in post
        assert not (site_dir / "drafts").exists()
        assert log_path.read_text().count("Done: Processed") == 1, log_path.read_text()

        # The comment put the post on top of Popular Posts; the pages the
        # decision did not render get it from a debounced build, which a
        # graceful stop right now must still run (gunicorn's worker_exit).
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert first_popular(site_dir / "about" / "index.html") == MENTOR_URL
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def test_gunicorn_asks_glibc_for_two_malloc_arenas(monkeypatch):
    # (The soak of bench goal 6 measures what it saves.)
    from comments_service import gunicorn_conf

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert gunicorn_conf.limit_malloc_arenas() is True
