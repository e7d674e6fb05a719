"""Test helpers: the built site read as a browser would, the admin's session,
a copy of the project over the test posts, and those posts' Markdown headers
(so site tests compare the built site with the sources instead of with
numbers copied into the tests).

The suite never builds the author's ``content/`` (one smoke test in
``test_authors_content.py`` aside): its posts, pages and images are
``tests/fixtures/site/content/``, ours to change for what a test needs, so
writing, editing or deleting a post never changes a test's outcome. Build
from the ``fixture_project`` fixture (read-only) or ``project_copy`` (to
change), never from ``ROOT / "pelicanconf.py"``, whose content/ is the author's.
"""

import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bs4 import BeautifulSoup

from comments_service.static_site.releases import SOURCES

ROOT = Path(__file__).resolve().parent.parent
# The test site's Markdown posts and pages, and their images.
FIXTURE_CONTENT = ROOT / "tests" / "fixtures" / "site" / "content"
ORIGIN = "https://careers.example"
# Cheap hashes keep the suite fast; test_admin checks the production default.
TEST_PASSWORD_HASH = "scrypt:1024:8:1"
ADMIN_USER, ADMIN_PASSWORD = "editor", "a-long-test-password"
# A post of the test site (tests/fixtures/site/README.md says what each is for).
MENTOR_SLUG = "meet-mentors-through-informational-interviews"
MENTOR_URL = "/2022/12/meet-mentors-through-informational-interviews/"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Site:
    """A built site in a folder, read the way a reader's browser would."""

    def __init__(self, path):
        self.path = Path(path)

    def file(self, url_path):
        """Return the file behind a URL path like /2022/12/slug/."""
        rel = url_path.lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        return self.path / rel

    def text(self, url_path):
        return self.file(url_path).read_text(encoding="utf-8")

    def page(self, url_path):
        return BeautifulSoup(self.text(url_path), "html.parser")

    def html_pages(self):
        return sorted(self.path.rglob("*.html"))


def wait_until_true(page, expression, timeout=30):
    """Poll the JavaScript ``expression`` in a browser page until it is truthy
    (a functional wait, not a speed check).

    Not ``page.wait_for_function``: its poller compiles the expression with
    eval() inside the page, which the site's Content-Security-Policy (no
    'unsafe-eval') refuses as soon as a first check is false; ``page.evaluate``
    is not subject to the page's policy."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(100)


def csrf_token(client, path):
    """The CSRF token of the form on an admin page."""
    page = BeautifulSoup(client.get(path).get_data(as_text=True), "html.parser")
    return page.select_one('input[name="csrf_token"]')["value"]


class AdminSession:
    """Creates an admin (the test admin by default) and drives the admin pages
    like a person would."""

    def __init__(self, app, client, username=ADMIN_USER, password=ADMIN_PASSWORD):
        self.app, self.client = app, client
        self.username, self.password = username, password
        with app.app_context():
            from comments_service import cli, db

            cli.set_admin_password(db.get_db(), username, password)

    def login(self, username=None, password=None):
        token = csrf_token(self.client, "/admin/login")
        return self.client.post(
            "/admin/login",
            data={
                "username": username or self.username,
                "password": password or self.password,
                "csrf_token": token,
            },
        )

    def seen(self, view="pending", page=None):
        """{id: version} of the comments a status view shows, as its form sends them."""
        if page is None:
            page = self.client.get(view_path(view)).get_data(as_text=True)
        return {
            int(field["name"].removeprefix("seen-")): int(field["value"])
            for field in BeautifulSoup(page, "html.parser").select('input[name^="seen-"]')
        }

    def form(self, action, *ids, view="pending", bulk=False, seen=None):
        """The moderation form a press of a button sends, from the page as it is now.

        ``seen`` ({id: version}) replaces the versions the page shows: what a
        page loaded earlier sends."""
        page = self.client.get(view_path(view)).get_data(as_text=True)
        token = BeautifulSoup(page, "html.parser").select_one('input[name="csrf_token"]')["value"]
        data = {"csrf_token": token, "view": view}
        shown = {**self.seen(page=page), **(seen or {})}
        data.update({f"seen-{i}": str(version) for i, version in shown.items()})
        if bulk:
            data.update(bulk=action, ids=[str(i) for i in ids])
        else:
            data["action"] = f"{action}:{ids[0]}"
        return data

    def act(self, action, *ids, view="pending", bulk=False, seen=None):
        """Press a moderation button (or tick ids and press a bulk button)."""
        data = self.form(action, *ids, view=view, bulk=bulk, seen=seen)
        return self.client.post("/admin/moderate", data=data)

    def edit(self, comment_id, **fields):
        """Open a comment's edit page and save it with ``fields`` changed, sending
        the hidden fields (CSRF token, the version seen) the page carries."""
        path = f"/admin/comments/{comment_id}/edit"
        page = BeautifulSoup(self.client.get(path).get_data(as_text=True), "html.parser")
        data = {field["name"]: field.get("value", "") for field in page.select("input[name]")}
        data["body"] = page.select_one("textarea[name=body]").get_text()
        return self.client.post(path, data={**data, **fields})

    def messages(self, path="/admin/"):
        """The flashed messages a page shows, as text (reading them uses them up);
        not the banner saying whether the live site is up to date."""
        page = BeautifulSoup(self.client.get(path).get_data(as_text=True), "html.parser")
        return [" ".join(m.get_text(" ").split()) for m in page.select(".flash:not(.site-state)")]


def view_path(view):
    return "/admin/" if view == "pending" else f"/admin/{view}"


NEW_KEY = object()


def submit_comment(client, json=True, headers=None, submission_key=NEW_KEY, **fields):
    """Post the comment form as a reader's browser would (same-origin).

    Each call is a new submission: it carries a new submission key, as the
    page's script sends; pass a key to send one again (a retry), or None to
    post as a static page without JavaScript does (no key)."""
    data = {
        "post_slug": MENTOR_SLUG,
        "name": "Ada Reader",
        "email": "ada@example.com",
        "website": "https://ada.example",
        "body": "This helped me prepare for my first informational interview.",
        **fields,
    }
    if submission_key is NEW_KEY:
        submission_key = str(uuid.uuid4())
    if submission_key is not None:
        data["submission_key"] = submission_key
    all_headers = {"Sec-Fetch-Site": "same-origin", **(headers or {})}
    if json:
        all_headers["Accept"] = "application/json"
    return client.post("/comments/", data=data, headers=all_headers)


def copy_project(destination, code=False):
    """Copy the project's sources (``releases.SOURCES``: theme and settings as
    they are, ``content/`` from the test posts) into ``destination``.

    With ``code``, the service's code too, for subprocesses run with
    ``project_env``: the service finds its project (``config.PROJECT_ROOT``)
    beside its own code, so only a copy of the code builds the copy's posts.
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        source = FIXTURE_CONTENT if name == "content" else ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy(source, destination / name)
    if code:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "comments_service", destination / "comments_service", ignore=ignore)
    return destination


def project_env(project, env):
    """``env`` for a subprocess that runs the code of ``copy_project(project, code=True)``."""
    paths = [str(project), env.get("PYTHONPATH", "")]
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


POSTS_DIR = FIXTURE_CONTENT / "posts"


@dataclass
class Post:
    title: str
    slug: str
    date: datetime
    category: str
    tags: list
    status: str
    featured: bool
    comments_open: bool

    @property
    def url(self):
        return f"/{self.date:%Y}/{self.date:%m}/{self.slug}/"

    @property
    def month_name(self):
        return f"{self.date:%B %Y}"


def read_header(path):
    header = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        header[key.strip().lower()] = value.strip()
    return header


def all_posts(posts_dir=POSTS_DIR):
    posts = []
    for path in sorted(Path(posts_dir).glob("*.md")):
        h = read_header(path)
        posts.append(
            Post(
                title=h["title"],
                slug=h.get("slug", path.stem),
                date=datetime.strptime(h["date"], "%Y-%m-%d %H:%M"),
                category=h["category"],
                tags=[t.strip() for t in h.get("tags", "").split(",") if t.strip()],
                status=h.get("status", "published"),
                featured=h.get("featured", "").lower() == "yes",
                comments_open=h.get("comments", "open").lower() != "closed",
            )
        )
    return posts


def published_posts(posts_dir=POSTS_DIR):
    """Published posts, newest first."""
    posts = [p for p in all_posts(posts_dir) if p.status == "published"]
    return sorted(posts, key=lambda p: p.date, reverse=True)


def draft_posts(posts_dir=POSTS_DIR):
    return [p for p in all_posts(posts_dir) if p.status == "draft"]
