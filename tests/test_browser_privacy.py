"""The cookie banner in a real browser: opting out really stops analytics and the
page-view beacon (checked on the network), with and without JavaScript, with
Global Privacy Control, and in opt-in mode."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import serve_in_thread
from pelican.settings import get_settings_from_file

from comments_service import create_app, db
from comments_service.extensions import limiter
from comments_service.static_site.build import build_site
from support import MENTOR_URL, wait_until_true

# A stand-in for a third-party analytics script, served by the test site so
# that no request leaves the machine. It sets a cookie, as trackers do.
FAKE_ANALYTICS = "document.cookie = '_fake_analytics=1; path=/'; window.analyticsRan = true;\n"
ANALYTICS_COOKIE = {
    "name": "_fake_analytics",
    "purpose": "Test analytics",
    "kind": "Analytics",
    "lifetime": "1 year",
    "who": "Readers who allow analytics",
}


def build_with_analytics(project, output, mode):
    SITE_COOKIES = get_settings_from_file(str(project / "pelicanconf.py"))["SITE_COOKIES"]
    build_site(
        project / "pelicanconf.py",
        output,
        {
            "CONSENT_MODE": mode,
            "ANALYTICS": {"src": "/fake-analytics.js"},
            "SITE_COOKIES": [*SITE_COOKIES, ANALYTICS_COOKIE],
        },
    )
    (output / "fake-analytics.js").write_text(FAKE_ANALYTICS)


def start_server(project, folder, mode):
    build_with_analytics(project, folder / "site", mode)
    app = create_app(
        {
            "SECRET_KEY": "privacy-test",
            "COMMENTS_DB": str(folder / "comments.db"),
            "SITE_DIR": str(folder / "site"),
            "DEVELOPMENT": True,  # plain http on loopback: no Secure cookies
        }
    )
    limiter.reset()
    http, thread = serve_in_thread(app)
    app.base_url = f"http://127.0.0.1:{http.server_port}"
    return app, http, thread


def running_server(project, tmp_path_factory, mode):
    app, http, thread = start_server(project, tmp_path_factory.mktemp(f"privacy-{mode}"), mode)
    yield app
    http.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def server(fixture_project, tmp_path_factory):
    yield from running_server(fixture_project, tmp_path_factory, "opt-out")


@pytest.fixture(scope="module")
def opt_in_server(fixture_project, tmp_path_factory):
    yield from running_server(fixture_project, tmp_path_factory, "opt-in")


class Visit:
    """A reader's browser context that records what it requests."""

    def __init__(self, browser, **context_options):
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.requests = []
        self.page.on("request", lambda request: self.requests.append(request.url))

    def open(self, url):
        self.requests.clear()
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")

    def loaded_analytics(self):
        return any(url.endswith("/fake-analytics.js") for url in self.requests)

    def sent_beacon(self):
        return any(url.endswith("/stats/") for url in self.requests)

    def cookie_names(self):
        return {cookie["name"] for cookie in self.context.cookies()}

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser):
    visits = []

    def make(**options):
        visits.append(Visit(browser, **options))
        return visits[-1]

    yield make
    for v in visits:
        v.close()


def views(app):
    with app.app_context():
        return db.views_since(db.get_db())


def assert_accessible(page):
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_opting_out_with_javascript_stops_analytics_and_the_beacon(server, visit):
    reader = visit()
    reader.open(server.base_url + MENTOR_URL)
    assert reader.loaded_analytics() and reader.sent_beacon()
    assert "_fake_analytics" in reader.cookie_names()
    before = sum(views(server).values())
    assert before >= 1, "the beacon was counted"
    assert_accessible(reader.page)

    reader.page.get_by_role("button", name="Opt Out of Cookies").click()
    reader.page.get_by_text("You have opted out of cookies").wait_for()
    assert reader.page.get_by_role("button", name="Opt back in").is_visible()
    assert reader.page.url == server.base_url + MENTOR_URL, "updated in place"
    assert "_fake_analytics" not in reader.cookie_names(), "the tracker's cookie is expired"
    assert "privacy_choice" in reader.cookie_names()
    assert_accessible(reader.page)

    reader.open(server.base_url + MENTOR_URL)
    assert not reader.loaded_analytics() and not reader.sent_beacon()
    assert reader.page.get_by_role("button", name="Opt back in").is_visible()
    assert reader.page.evaluate("window.analyticsRan === undefined")
    assert sum(views(server).values()) == before

    reader.page.get_by_role("button", name="Opt back in").click()
    reader.page.get_by_text("You are opted in to cookies again.").wait_for()
    reader.open(server.base_url + MENTOR_URL)
    assert reader.loaded_analytics() and reader.sent_beacon()


def test_opting_out_without_javascript_shows_the_new_state(server, visit):
    reader = visit(java_script_enabled=False)
    reader.open(server.base_url + MENTOR_URL)
    assert not reader.loaded_analytics() and not reader.sent_beacon()
    reader.page.get_by_role("button", name="Opt Out of Cookies").click()
    reader.page.wait_for_url(f"**{MENTOR_URL}#cookie-choice-out")
    assert reader.page.get_by_text("You have opted out of cookies").is_visible()
    assert reader.page.get_by_role("button", name="Opt back in").is_visible()
    assert not reader.page.get_by_role("button", name="Opt Out of Cookies").is_visible()
    assert "privacy_choice" in reader.cookie_names()
    assert not reader.loaded_analytics()
    reader.page.get_by_role("button", name="Opt back in").click()
    reader.page.wait_for_url(f"**{MENTOR_URL}#cookie-choice-in")
    assert "privacy_choice" not in reader.cookie_names()


def test_global_privacy_control_means_no_analytics_and_no_beacon(server, visit):
    reader = visit(extra_http_headers={"Sec-GPC": "1"})
    reader.open(server.base_url + MENTOR_URL)
    reader.page.get_by_text("Global Privacy Control").wait_for()
    assert not reader.loaded_analytics() and not reader.sent_beacon()
    assert "_fake_analytics" not in reader.cookie_names()
    assert_accessible(reader.page)


def test_dismissing_the_banner_is_remembered_without_a_cookie(server, visit):
    reader = visit()
    reader.open(server.base_url + "/about/")
    # Analytics (allowed by default in opt-out mode) sets its cookie; let it,
    # however late a loaded machine runs it, before counting the cookies.
    wait_until_true(reader.page, "window.analyticsRan === true")
    cookies_before = reader.cookie_names()
    reader.page.get_by_role("button", name="Close").click()
    assert not reader.page.get_by_role("region", name="Cookies on this site").is_visible()
    reader.open(server.base_url + "/archives/")
    wait_until_true(reader.page, "document.getElementById('cookie-banner').dataset.state")
    assert not reader.page.locator("#cookie-banner").is_visible()
    assert reader.cookie_names() == cookies_before
    reader.page.get_by_role("link", name="Cookie settings").click()
    assert reader.page.get_by_role("button", name="Opt Out of Cookies").is_visible()


def test_opt_in_mode_loads_nothing_non_essential_before_accepting(opt_in_server, visit):
    reader = visit()
    reader.open(opt_in_server.base_url + MENTOR_URL)
    accept = reader.page.get_by_role("button", name="Accept cookies")
    refuse = reader.page.get_by_role("button", name="Refuse cookies")
    assert accept.is_visible() and refuse.is_visible()
    style = "el => [getComputedStyle(el).backgroundColor, getComputedStyle(el).fontSize]"
    assert accept.evaluate(style) == refuse.evaluate(style), "equal weight"
    assert not reader.loaded_analytics() and not reader.sent_beacon()
    assert views(opt_in_server) == {}
    assert_accessible(reader.page)

    accept.click()
    reader.page.get_by_text("You accepted cookies.").wait_for()
    wait_until_true(reader.page, "window.analyticsRan === true")
    reader.open(opt_in_server.base_url + MENTOR_URL)
    assert reader.loaded_analytics() and reader.sent_beacon()


def test_refusing_in_opt_in_mode_keeps_everything_off(opt_in_server, visit):
    reader = visit()
    reader.open(opt_in_server.base_url + MENTOR_URL)
    reader.page.get_by_role("button", name="Refuse cookies").click()
    reader.page.get_by_text("You have opted out of cookies").wait_for()
    reader.open(opt_in_server.base_url + MENTOR_URL)
    assert not reader.loaded_analytics() and not reader.sent_beacon()
