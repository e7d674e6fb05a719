"""The site in a real browser (Debian's chromium through Playwright): accessibility
with axe-core, and the layout at phone and desktop widths in both colour schemes."""

import pytest
from axe_playwright_python.sync_playwright import Axe

from support import MENTOR_SLUG, published_posts

POST = next(p for p in published_posts() if p.slug == MENTOR_SLUG)
PAGES = {
    "home": "/",
    "post": POST.url,
    "month archive": "/2022/12/",
    "category": "/category/networking/",
    "404": "/no-such-page/",
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_violations(page, live_server, name, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto(live_server + PAGES[name])
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_the_404_page_is_served_with_status_404(page, live_server):
    response = page.goto(live_server + "/no-such-page/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("name", ["home", "post"])
def test_pages_fit_the_screen_without_sideways_scrolling(browser, live_server, name, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(live_server + PAGES[name])
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    banner_button = page.get_by_role("button", name="Opt Out of Cookies")
    assert banner_button.is_visible()
    box = banner_button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    context.close()


def test_sidebar_sits_beside_the_post_on_desktop_and_below_it_on_a_phone(browser, live_server):
    for width, beside in [(1280, True), (360, False)]:
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        page.goto(live_server + POST.url)
        main = page.locator("main").bounding_box()
        sidebar = page.get_by_role("complementary", name="Sidebar").bounding_box()
        if beside:
            assert sidebar["x"] >= main["x"] + main["width"]
        else:
            assert sidebar["y"] >= main["y"] + main["height"]
        context.close()


def test_page_makes_no_request_to_another_origin(page, live_server):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(live_server + POST.url)
    page.wait_for_load_state("networkidle")
    assert requests
    assert all(url.startswith(live_server) for url in requests), requests


def test_comment_form_fields_have_their_accessible_names(page, live_server):
    page.goto(live_server + POST.url)
    for label in ["Name", "Email", "Website", "Comment"]:
        assert page.get_by_label(label, exact=True).is_visible()
    assert page.get_by_role("button", name="Submit").is_visible()
    assert page.get_by_text("Your comment will be posted after it is approved.").is_visible()
