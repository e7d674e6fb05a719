"""The shipped deployment, for real: Debian's nginx with deploy/nginx/ in front
of gunicorn on a Unix socket, in production mode, everything through nginx.

The shipped files are rendered for a temporary folder by plain string
replacement of their default paths and listen lines (``render_site``), so
what runs here is what a user copies to /etc/nginx. The HTTPS server runs
too, with a self-signed certificate for 127.0.0.1: the production session
cookie is Secure, and HSTS and the redirect from plain HTTP are part of the
site.
"""

import contextlib
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from comments_service import subscription_links
from comments_service.security import admin_headers, static_site_headers
from support import (
    MENTOR_SLUG,
    MENTOR_URL,
    ROOT,
    copy_project,
    draft_posts,
    project_env,
    published_posts,
)

DEPLOY = ROOT / "deploy" / "nginx"
NGINX_PACKAGE_HINT = (
    "tests/test_nginx.py runs Debian's nginx: `make test` installs it as root, or run "
    "`sudo apt-get install nginx libnginx-mod-http-brotli-filter openssl`"
)
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so")
ADMIN_USER, ADMIN_PASSWORD = "editor", "a-long-deployment-test-password"
FINGERPRINTED = re.compile(r"\.[0-9a-f]{8,}\.(css|js|svg|png|jpe?g|webp|avif|woff2)$")
TOO_MANY = "Too many requests from your address"
# Connections from other loopback addresses have rate-limit allowances of
# their own, so the burst tests do not lock out the rest of the module.
LOGIN_BURST_ADDRESS = "127.0.0.2"
COMMENT_BURST_ADDRESS = "127.0.0.3"
SLOW_BODY_ADDRESS = "127.0.0.4"


def nginx_binary():
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(binary, os.X_OK):
        pytest.fail(f"nginx is not installed. {NGINX_PACKAGE_HINT}", pytrace=False)
    return binary


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_site(folder, *, http_port, https_port, site_root, socket_path, cert, key):
    """Copy deploy/nginx/ into ``folder`` with its default paths and listen lines
    replaced; return the rendered career-notes.conf. Every replaced text must be
    in the shipped files, so a change there cannot go untested unnoticed."""
    replacements = {
        "/etc/nginx/snippets/career-notes": str(folder / "snippets"),
        "/srv/career-notes/var/site": str(site_root),
        "/run/career-notes/gunicorn.sock": str(socket_path),
        "/etc/letsencrypt/live/careers.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/careers.example.com/privkey.pem": str(key),
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        # No IPv6 on every CI machine.
        "listen [::]:80;": "",
        "listen [::]:443 ssl http2;": "",
    }
    sources = [DEPLOY / "career-notes.conf", *sorted((DEPLOY / "snippets").iterdir())]
    shipped = "".join(path.read_text() for path in sources)
    for old in replacements:
        assert old in shipped, f"deploy/nginx/ no longer contains {old!r}"
    (folder / "snippets").mkdir(parents=True)
    for path in sources:
        text = path.read_text()
        for old, new in replacements.items():
            text = text.replace(old, new)
        target = folder / path.relative_to(DEPLOY)
        target.write_text(text)
    return folder / "career-notes.conf"


def main_config(folder, site_conf, modules=()):
    """The test's nginx.conf: what Debian's /etc/nginx/nginx.conf provides
    (mime types, gzip on), with every path in ``folder``."""
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "temp" / name).mkdir(parents=True, exist_ok=True)
    # As root (CI), workers would otherwise run as nobody, who cannot read tmp_path.
    user = "user root root;" if os.geteuid() == 0 else ""
    load = "".join(f"load_module {module};\n" for module in modules)
    config = folder / "nginx.conf"
    config.write_text(
        f"""{load}{user}
worker_processes 2;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    gzip on;
    access_log {folder}/access.log;
    client_body_temp_path {folder}/temp/client_body;
    proxy_temp_path {folder}/temp/proxy;
    fastcgi_temp_path {folder}/temp/fastcgi;
    uwsgi_temp_path {folder}/temp/uwsgi;
    scgi_temp_path {folder}/temp/scgi;
    include {site_conf};
}}
"""
    )
    return config


def self_signed_certificate(folder):
    if not shutil.which("openssl"):
        pytest.fail(f"openssl is not installed. {NGINX_PACKAGE_HINT}", pytrace=False)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def running_nginx(folder, config, https_port):
    binary = nginx_binary()
    directives = f"daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log notice;"
    command = [binary, "-p", str(folder), "-c", str(config), "-g", directives]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    with open(folder / "nginx.out", "w") as out:
        nginx = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: port_open(https_port), nginx, folder / "error.log")
        yield nginx
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)


def port_open(port):
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def wait_until(condition, process, log, timeout=180):
    """Poll for a server to be ready (a functional wait, bounded, not a speed check)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, Path(log).read_text() if Path(log).exists() else ""
        assert time.monotonic() < deadline, Path(log).read_text() if Path(log).exists() else ""
        time.sleep(0.2)


class Deployment:
    """nginx + gunicorn running; ``request`` talks HTTPS to nginx like a client."""

    def __init__(self, folder, http_port, https_port, site_root, db_path, cert):
        self.folder, self.http_port, self.https_port = folder, http_port, https_port
        self.site_root, self.db_path = site_root, db_path
        self.origin = f"https://127.0.0.1:{https_port}"
        self.tls = ssl.create_default_context(cafile=str(cert))

    @property
    def live_site(self):
        return self.site_root / "live" / "site"

    def request(self, method, path, body=None, headers=None, source="127.0.0.1", tls=True):
        """One request on a fresh connection; returns (status, headers, body bytes)."""
        if tls:
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.https_port, context=self.tls, timeout=60,
                source_address=(source, 0),
            )  # fmt: skip
        else:
            connection = http.client.HTTPConnection(
                "127.0.0.1", self.http_port, timeout=60, source_address=(source, 0)
            )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def get(self, path, **headers):
        return self.request("GET", path, headers=headers)

    def post_form(self, path, fields, source="127.0.0.1", **headers):
        """A form post as a browser without JavaScript sends it from our own page."""
        all_headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": self.origin,
            "Sec-Fetch-Site": "same-origin",
            **headers,
        }
        body = urllib.parse.urlencode(fields)
        return self.request("POST", path, body=body, headers=all_headers, source=source)

    def raw_socket(self, source):
        raw = socket.create_connection(
            ("127.0.0.1", self.https_port), timeout=60, source_address=(source, 0)
        )
        return self.tls.wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """The production service and the shipped nginx site, started once for this module."""
    folder = tmp_path_factory.mktemp("deployment")
    http_port, https_port = free_port(), free_port()
    site_root, db_path = folder / "site-root", folder / "var" / "comments.db"
    socket_path = folder / "gunicorn.sock"
    cert, key = self_signed_certificate(folder)
    site_conf = render_site(
        folder / "nginx",
        http_port=http_port,
        https_port=https_port,
        site_root=site_root,
        socket_path=socket_path,
        cert=cert,
        key=key,
    )
    config = main_config(folder / "nginx", site_conf)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "GUNICORN_")) and key not in ("PORT", "BLOG_ENV")
    }
    env.update(
        BLOG_ENV="production",
        SITE_URL=f"https://127.0.0.1:{https_port}",
        SECRET_KEY="deployment-test-secret-key",
        COMMENTS_DB=str(db_path),
        SITE_ROOT=str(site_root),
        FLASK_TRUSTED_PROXIES="1",
        GUNICORN_BIND=f"unix:{socket_path}",
        WEB_CONCURRENCY="2",
        ADMIN_USERNAME=ADMIN_USER,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    # A clone of the project, with the test posts, as the working folder: the
    # service builds the content/ beside its code (support.copy_project).
    project = copy_project(folder / "project", code=True)
    env = project_env(project, env)
    log = folder / "gunicorn.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with open(log, "w") as out:
        service = subprocess.Popen(
            [
                gunicorn,
                "--config",
                str(project / "comments_service" / "gunicorn_conf.py"),
                "comments_service:create_app()",
            ],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # The master builds the first release, then binds and forks.
        wait_until(lambda: socket_path.exists(), service, log)
        wait_until(lambda: (site_root / "live" / "site" / "index.html").exists(), service, log)
        with running_nginx(folder / "nginx", config, https_port):
            yield Deployment(folder, http_port, https_port, site_root, db_path, cert)
    finally:
        os.killpg(service.pid, signal.SIGTERM)
        service.wait(timeout=60)


@pytest.fixture
def https_page(browser):
    """A browser tab that accepts the test's self-signed certificate."""
    context = browser.new_context(ignore_https_errors=True)
    yield context.new_page()
    context.close()


def test_a_post_page_is_served_with_the_security_headers_and_revalidated(deployment):
    status, headers, body = deployment.get(MENTOR_URL)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = BeautifulSoup(body, "html.parser")
    mentor = next(post for post in published_posts() if post.slug == MENTOR_SLUG)
    assert page.h1.get_text(strip=True) == mentor.title
    assert page.find(id="comment-form")
    for name, value in static_site_headers(production=True).items():
        assert headers[name] == value, name
    assert headers["Cache-Control"] == "no-cache"
    assert headers["ETag"] and headers["Last-Modified"]
    status, again, body = deployment.get(MENTOR_URL, **{"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    status, _, _ = deployment.get(MENTOR_URL, **{"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304


def test_fingerprinted_assets_are_cached_for_a_year_and_plain_names_revalidated(deployment):
    page = deployment.get(MENTOR_URL)[2].decode()
    assets = re.findall(r'(?:href|src)="https://127\.0\.0\.1:\d+(/theme/[^"]+)"', page)
    fingerprinted = [a for a in assets if FINGERPRINTED.search(a)]
    assert any(a.endswith(".css") for a in fingerprinted), assets
    assert any(a.endswith(".js") for a in fingerprinted), assets
    for asset in fingerprinted:
        status, headers, _ = deployment.get(asset)
        assert status == 200, asset
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert headers["X-Content-Type-Options"] == "nosniff"
    css = next(a for a in fingerprinted if a.endswith(".css"))
    assert deployment.get(css)[1]["Content-Type"].startswith("text/css")
    plain = FINGERPRINTED.sub(r".\1", css)  # the same file under its plain name
    status, headers, _ = deployment.get(plain)
    assert (status, headers["Cache-Control"]) == (200, "no-cache")
    missing = FINGERPRINTED.sub(r".0123456789.\1", css)
    status, headers, body = deployment.get(missing)
    assert status == 404 and headers["Cache-Control"] == "no-cache"
    assert b"Page not found" in body


@pytest.mark.parametrize(
    "path, media_type",
    [
        ("/feeds/comments.atom.xml", "application/atom+xml"),
        ("/feeds/all.atom.xml", "application/atom+xml"),
        ("/feeds/all.rss.xml", "application/rss+xml"),
    ],
)
def test_feeds_have_their_media_type_and_are_revalidated(deployment, path, media_type):
    status, headers, body = deployment.get(path)
    assert status == 200
    assert headers["Content-Type"] == f"{media_type}; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    status, _, body = deployment.get(path, **{"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    assert deployment.get(path, **{"Accept-Encoding": "gzip"})[1]["Content-Encoding"] == "gzip"


def test_only_feeds_under_feeds_are_static_a_service_url_stays_the_services(deployment):
    # The admin pages' own Referrer-Policy says the service answered, not nginx.
    _status, headers, _ = deployment.get("/admin/comments.atom.xml")
    assert headers["Referrer-Policy"] == admin_headers(production=True)["Referrer-Policy"]


def test_text_is_gzipped_when_asked_and_brotli_needs_its_module(deployment):
    status, headers, body = deployment.get(MENTOR_URL, **{"Accept-Encoding": "br, gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"  # no brotli.conf: gzip, and the site works
    assert headers["Vary"] == "Accept-Encoding"
    assert "Leave a Reply." in gzip.decompress(body).decode()
    status, headers, body = deployment.get(MENTOR_URL)
    assert headers["Content-Encoding"] is None and b"Leave a Reply." in body
    css = re.search(r'href="https://[^"]+(/theme/css/[^"]+\.css)"', body.decode())[1]
    assert deployment.get(css, **{"Accept-Encoding": "gzip"})[1]["Content-Encoding"] == "gzip"


def test_plain_http_redirects_to_the_https_host(deployment):
    status, headers, _ = deployment.request("GET", "/2022/12/?page=2", tls=False)
    assert status == 301
    assert headers["Location"] == "https://careers.example.com/2022/12/?page=2"


def test_a_folder_without_its_slash_redirects_to_a_path(deployment):
    status, headers, _ = deployment.get("/2022/12")
    assert (status, headers["Location"]) == (301, "/2022/12/")


def private_paths(deployment):
    """Paths nginx must refuse, with a file planted in the live site behind each
    one that could be there, so each rule is tested, not just an absent file."""
    drafts = draft_posts()
    assert drafts, "the sample content has a draft"
    site = deployment.live_site
    planted = {
        f"/drafts/{drafts[0].slug}/": "drafts/" + drafts[0].slug + "/index.html",
        "/var/comments.db": "var/comments.db",
        "/.git/config": ".git/config",
        "/.publish-lock": ".publish-lock",
        "/theme/.secret": "theme/.secret",
        "/releases/": "releases/index.html",
        "/sources/pelicanconf.py": "sources/pelicanconf.py",
    }
    for rel in planted.values():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text("private")
    return [*planted, "/var/", "/.git/", "/post-registry.json"]


def test_drafts_var_git_dot_files_and_everything_outside_the_release_are_404(deployment):
    # What is really there beside the live release, and must stay unreachable.
    assert (deployment.site_root / ".publish-lock").exists()
    assert list((deployment.site_root / "releases").glob("*/sources/pelicanconf.py"))
    assert (deployment.live_site / "post-registry.json").exists()
    for path in private_paths(deployment):
        status, headers, body = deployment.get(path)
        assert status == 404, path
        assert b"private" not in body and b"Page not found" in body, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
    # Out of the root: nginx refuses the path itself.
    for path in ("/../releases/", "/%2e%2e/.publish-lock", "/theme/../../sources/"):
        status, _, body = deployment.get(path)
        assert status in (400, 404) and b"private" not in body, path
    status, headers, body = deployment.get("/.well-known/gpc.json")
    assert status == 200 and json.loads(body)["gpc"] is True


def test_a_reader_comments_with_and_without_javascript_and_the_admin_approves(
    deployment, browser, https_page
):
    # Without JavaScript: the plain form post, answered with a confirmation page.
    status, headers, _ = deployment.post_form(
        "/comments/",
        {"post_slug": MENTOR_SLUG, "name": "Nora NoScript", "body": "Sent as a plain form."},
    )
    assert status == 303, headers
    thanks = headers["Location"]
    assert thanks.startswith("/comments/thanks")
    status, _, body = deployment.get(thanks)
    assert status == 200 and b"awaiting approval" in body

    # With JavaScript, in a real browser.
    reader = https_page
    reader.goto(deployment.origin + MENTOR_URL)
    reader.get_by_label("Name", exact=True).fill("Jay Script")
    reader.get_by_label("Comment", exact=True).fill("Sent by the page's script.")
    reader.get_by_role("button", name="Submit").click()
    reader.get_by_role("status").filter(has_text="awaiting approval").wait_for()
    page_text = deployment.get(MENTOR_URL)[2].decode()
    assert "Sent as a plain form." not in page_text, "pending text is never public"

    context = browser.new_context(ignore_https_errors=True)
    admin = context.new_page()
    try:
        admin.goto(deployment.origin + "/admin/")
        admin.get_by_label("Username").fill(ADMIN_USER)
        admin.get_by_label("Password").fill(ADMIN_PASSWORD)
        admin.get_by_role("button", name="Log in").click()
        admin.get_by_role("heading", name="Pending comments").wait_for()
        for text in ("Sent as a plain form.", "Sent by the page's script."):
            item = admin.locator("article.queued").filter(has_text=text)
            item.get_by_role("button", name="Approve", exact=True).click()
            admin.get_by_text("1 comment approved.").wait_for()
    finally:
        context.close()

    status, headers, body = deployment.get(MENTOR_URL)
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    assert "Sent as a plain form." in body.decode()
    assert "Sent by the page's script." in body.decode()
    reader.reload()
    assert reader.locator(".comment").filter(has_text="Sent by the page's script.").is_visible()
    # The decision wrote the post's comment feed into the live release too.
    status, headers, body = deployment.get(f"/feeds/comments/{MENTOR_SLUG}.atom.xml")
    assert status == 200
    assert headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert b"Sent as a plain form." in body


def test_the_admin_pages_carry_the_services_headers_through_nginx(deployment):
    status, headers, body = deployment.get("/admin/login")
    assert status == 200 and b"Log in" in body
    for name, value in admin_headers(production=True).items():
        assert headers[name] == value, name
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert len(headers.get_all("Content-Security-Policy")) == 1, "nginx adds none of its own"
    assert headers["Content-Encoding"] is None  # the service's pages are never compressed
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("session=") and "Secure" in cookie and "HttpOnly" in cookie


def test_a_reader_opts_out_of_cookies(deployment, https_page):
    page = https_page
    page.goto(deployment.origin + MENTOR_URL)
    page.get_by_role("button", name="Opt Out of Cookies").click()
    page.get_by_role("button", name="Opt back in").wait_for()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["privacy_choice"]["secure"] is True
    status = page.evaluate(
        "() => fetch('/privacy/status', {headers: {Accept: 'application/json'}})"
        ".then(r => r.json())"
    )
    assert status["opted_out"] is True


def test_half_sent_bodies_do_not_stop_the_service_answering(deployment):
    held = []
    try:
        for client in range(1, 21):
            # Twenty clients (addresses), each under its rate limit.
            connection = deployment.raw_socket(f"127.0.1.{client}")
            held.append(connection)
            connection.sendall(
                b"POST /comments/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Sec-Fetch-Site: same-origin\r\nContent-Length: 5000\r\n\r\n"
                b"post_slug=" + MENTOR_SLUG.encode() + b"&name=Slow&body=" + b"x" * 200
            )
        # Meanwhile, a reader's comment and a proxied GET are answered.
        status, _, body = deployment.post_form(
            "/comments/",
            {"post_slug": MENTOR_SLUG, "name": "Prompt", "body": "Answered while others stall."},
            source=SLOW_BODY_ADDRESS,
            Accept="application/json",
        )
        assert status == 202, body
        status, _, body = deployment.request(
            "GET", "/privacy/status", headers={"Accept": "application/json"}
        )
        assert status == 200 and json.loads(body)["opted_out"] is False
        # nginx gives up on a silent body (client_body_timeout) and closes it;
        # none of them ever reached the service.
        held[0].settimeout(60)
        answer = held[0].recv(4096)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
    finally:
        for connection in held:
            connection.close()
    status, _, body = deployment.post_form(
        "/comments/",
        {"post_slug": MENTOR_SLUG, "name": "After", "body": "Still answering afterwards."},
        source=SLOW_BODY_ADDRESS,
        Accept="application/json",
    )
    assert status == 202, body
    with contextlib.closing(sqlite3.connect(deployment.db_path)) as database:
        names = [row[0] for row in database.execute("SELECT author_name FROM comments")]
    assert "Prompt" in names and "After" in names
    assert "Slow" not in names, "a half-sent body never reaches the service"


def test_the_links_of_readers_emails_reach_the_service(deployment):
    # RFC 8058: the mail provider POSTs to the List-Unsubscribe URL with no
    # Origin of ours; nginx passes it to the service, which answers 200.
    token = subscription_links.unsubscribe_token("deployment-test-secret-key", [424242])
    path = f"/comments/subscriptions/unsubscribe/{token}"
    status, headers, body = deployment.request(
        "POST",
        path,
        body="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and b"You are unsubscribed" in body
    assert headers["Cache-Control"] == "no-store"
    status, _, body = deployment.get("/comments/subscriptions/confirm/not-a-token")
    assert status == 400 and b"This link does not work" in body


def test_a_burst_of_admin_logins_gets_429_from_nginx(deployment):
    answers = [
        deployment.post_form(
            "/admin/login",
            {"username": ADMIN_USER, "password": "wrong"},
            source=LOGIN_BURST_ADDRESS,
        )
        for _ in range(12)
    ]
    statuses = [status for status, _, _ in answers]
    assert 429 not in statuses[:4], statuses  # a burst of 3 after the first
    limited = [(headers, body) for status, headers, body in answers if status == 429]
    assert limited, statuses
    headers, body = limited[0]
    assert TOO_MANY in body.decode() and headers["Retry-After"] == "60"
    # Reading the login page is not limited, even from that address.
    status, _, _ = deployment.request("GET", "/admin/login", source=LOGIN_BURST_ADDRESS)
    assert status == 200


def test_a_burst_of_comment_posts_gets_429_from_nginx(deployment):
    statuses, bodies = [], []
    for _ in range(30):
        # Invalid on purpose (no text): the service refuses it without counting it.
        status, _, body = deployment.post_form(
            "/comments/",
            {"post_slug": MENTOR_SLUG, "name": "Burst", "body": ""},
            source=COMMENT_BURST_ADDRESS,
            Accept="application/json",
        )
        statuses.append(status)
        bodies.append(body)
    assert statuses[0] == 400, statuses
    assert 429 in statuses, statuses
    assert TOO_MANY in bodies[statuses.index(429)].decode()


def test_brotli_where_the_module_is_installed(tmp_path, site):
    """The optional brotli.conf, with Debian's module loaded: static files only."""
    if not BROTLI_MODULE.exists():
        pytest.fail(f"Debian's brotli module is not installed. {NGINX_PACKAGE_HINT}", pytrace=False)
    site_root = tmp_path / "site-root"
    (site_root / "live").mkdir(parents=True)
    shutil.copytree(site.path, site_root / "live" / "site")
    cert, key = self_signed_certificate(tmp_path)
    https_port = free_port()
    site_conf = render_site(
        tmp_path / "nginx",
        http_port=free_port(),
        https_port=https_port,
        site_root=site_root,
        socket_path=tmp_path / "no-service.sock",
        cert=cert,
        key=key,
    )
    snippets = tmp_path / "nginx" / "snippets"
    shutil.copy(snippets / "brotli.conf.example", snippets / "brotli.conf")
    config = main_config(tmp_path / "nginx", site_conf, modules=[BROTLI_MODULE])
    with running_nginx(tmp_path / "nginx", config, https_port):
        connection = http.client.HTTPSConnection(
            "127.0.0.1", https_port, context=ssl.create_default_context(cafile=str(cert))
        )
        connection.request("GET", MENTOR_URL, headers={"Accept-Encoding": "br, gzip"})
        response = connection.getresponse()
        response.read()
        connection.close()
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "br"
    assert response.headers["Vary"] == "Accept-Encoding"
