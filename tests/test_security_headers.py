"""Security headers on every response, and a theme that a strict CSP does not break."""

import re

import pytest
from bs4 import BeautifulSoup

from comments_service import create_app, security
from support import MENTOR_URL, ORIGIN, ROOT, TEST_PASSWORD_HASH, submit_comment, wait_until_true

TEMPLATE_DIRS = [ROOT / "theme" / "templates", ROOT / "comments_service" / "templates"]


def make_client(live_site, tmp_path, **config):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SITE_URL": ORIGIN,
            "COMMENTS_DB": str(tmp_path / "comments.db"),
            "SITE_DIR": str(live_site.path),
            "PASSWORD_HASH": TEST_PASSWORD_HASH,
            **config,
        }
    )
    return app.test_client()


@pytest.fixture
def production_client(live_site, tmp_path):
    return make_client(live_site, tmp_path, DEVELOPMENT=False)


@pytest.fixture
def development_client(live_site, tmp_path):
    return make_client(live_site, tmp_path, DEVELOPMENT=True)


def directives(response):
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def assert_public_headers(response, production=True):
    for name, value in security.static_site_headers(production).items():
        assert response.headers.get(name) == value, name
    csp = directives(response)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'self'"
    assert csp["form-action"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_a_static_page_carries_the_headers(production_client):
    response = production_client.get(MENTOR_URL)
    assert response.status_code == 200
    assert_public_headers(response)
    stylesheet = BeautifulSoup(response.data, "html.parser").select_one('link[rel="stylesheet"]')
    assert_public_headers(production_client.get(stylesheet["href"]))


def test_service_pages_carry_the_headers(production_client):
    error_page = submit_comment(production_client, json=False, body="x")
    assert error_page.status_code == 400
    assert b"Leave a Reply." in error_page.data
    assert_public_headers(error_page)
    status = production_client.get("/privacy/status")
    assert status.get_json()["opted_out"] is False
    assert_public_headers(status)


@pytest.mark.parametrize("path", ["/admin/login", "/admin/"])
def test_admin_pages_cannot_be_framed_and_send_no_referrer_elsewhere(production_client, path):
    response = production_client.get(path)
    assert response.status_code in {200, 302}
    assert directives(response)["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for name, value in security.admin_headers(production=True).items():
        assert response.headers.get(name) == value, name


def test_the_404_page_carries_the_headers(production_client):
    response = production_client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.data
    assert_public_headers(response)


def test_hsts_in_production_only(production_client, development_client):
    assert production_client.get("/").headers["Strict-Transport-Security"] == "max-age=31536000"
    assert production_client.get("/admin/login").headers["Strict-Transport-Security"]
    for path in ("/", "/admin/login", "/privacy/status"):
        response = development_client.get(path)
        assert "Strict-Transport-Security" not in response.headers, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_allowed_analytics_origin_may_load_and_report(live_site, tmp_path):
    client = make_client(live_site, tmp_path, CSP_ANALYTICS_ORIGINS="https://stats.example.com")
    csp = directives(client.get("/"))
    for directive in ("script-src", "connect-src", "img-src"):
        assert csp[directive] == "'self' https://stats.example.com"
    admin = directives(client.get("/admin/login"))
    assert admin["script-src"] == "'self'", "no third-party script on admin pages"


def template_sources():
    for folder in TEMPLATE_DIRS:
        for path in sorted(folder.rglob("*.html")):
            yield path, path.read_text(encoding="utf-8")


def test_templates_carry_nothing_a_strict_policy_would_block():
    for path, source in template_sources():
        assert not re.search(r"\son[a-z]+\s*=", source), f"event handler in {path}"
        assert not re.search(r"\sstyle\s*=", source), f"style attribute in {path}"
        assert "<style" not in source, f"style element in {path}"
        assert not re.search(r"=\s*[\"']?\s*javascript:", source, re.I), f"javascript: in {path}"
        for tag in re.findall(r"<script\b[^>]*>", source):
            # A script is a file, or inert data (consent.js starts it, by src).
            assert "src=" in tag or 'type="text/plain"' in tag, (path, tag)


def test_built_pages_carry_no_inline_script_or_style(site):
    for path in site.html_pages():
        page = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        for script in page.find_all("script"):
            assert script.get("src"), (path, script)
            assert not script.string, (path, script)
        assert not page.find_all("style"), path
        for tag in page.find_all(True):
            assert "style" not in tag.attrs, (path, tag)
            assert not [a for a in tag.attrs if a.startswith("on")], (path, tag)


# Collects what the browser blocks, from before the page's first script runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_in_a_browser_nothing_is_blocked_and_the_form_still_works(page, comment_server):
    base = comment_server.base_url
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)

    post = page.goto(base + MENTOR_URL)
    assert "frame-ancestors 'none'" in post.headers["content-security-policy"]
    page.get_by_label("Name", exact=True).fill("Grace Reader")
    page.get_by_label("Comment", exact=True).fill("Thanks, this works with the policy on.")
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("status").filter(has_text="awaiting approval").wait_for()
    assert page.url == base + MENTOR_URL
    # consent.js ran too: it asked /privacy/status and marked the banner.
    wait_until_true(
        page,
        "document.getElementById('cookie-banner').getAttribute('data-state') === 'none'"
        " && document.getElementById('cookie-banner').hasAttribute('data-js')",
    )
    assert page.evaluate("window.__cspViolations") == []

    login = page.goto(base + "/admin/login")
    assert login.headers["referrer-policy"] == "same-origin"
    page.get_by_label("Username").wait_for()
    assert page.evaluate("window.__cspViolations") == []
    assert not [text for text in console if "Content Security Policy" in text], console

    # The listener does hear the policy: an inline script is blocked and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.text = 'window.__inlineRan = true'; document.head.appendChild(s); }"
    )
    wait_until_true(page, "window.__cspViolations.length > 0")
    assert page.evaluate("window.__inlineRan === undefined")
    assert any("script-src" in v for v in page.evaluate("window.__cspViolations"))
