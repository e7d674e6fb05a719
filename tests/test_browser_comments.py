"""Comments in a real browser: a reader with and without JavaScript, the admin
approving and taking back, and axe-core on every page the service renders."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from comments_service import db
from support import ADMIN_PASSWORD, ADMIN_USER, MENTOR_URL


def assert_accessible(page):
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


@pytest.fixture
def no_js_page(browser):
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.fixture
def blocked_script_page(browser):
    """A reader whose blocker stops our script: the plain-HTML path, in a page
    where axe-core (itself JavaScript) can still run."""
    context = browser.new_context()
    page = context.new_page()
    # Any name of the script: the plain one and its fingerprinted copy.
    page.route("**/theme/js/comments*.js", lambda route: route.abort())
    yield page
    context.close()


def fill_comment(page, name="Grace Reader", body="The thank-you note advice is gold."):
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill("grace@example.com")
    page.get_by_label("Website", exact=True).fill("https://grace.example")
    page.get_by_label("Comment", exact=True).fill(body)


def stored(app):
    with app.app_context():
        return db.export_comments(db.get_db())


def test_with_javascript_the_confirmation_appears_on_the_post_page(page, comment_server):
    app = comment_server
    page.goto(app.base_url + MENTOR_URL)
    fill_comment(page)
    page.get_by_role("button", name="Submit").click()
    status = page.get_by_role("status").filter(has_text="awaiting approval")
    status.wait_for()
    assert page.url == app.base_url + MENTOR_URL
    assert [(c["author_name"], c["status"]) for c in stored(app)] == [("Grace Reader", "pending")]
    assert page.locator(".comment").count() == 0, "pending text is not shown"
    assert_accessible(page)


def test_with_javascript_errors_show_per_field_and_nothing_typed_is_lost(page, comment_server):
    app = comment_server
    page.goto(app.base_url + MENTOR_URL)
    fill_comment(page, body="x")
    page.get_by_label("Website", exact=True).fill("ftp://nope.example")
    page.get_by_role("button", name="Submit").click()
    page.locator("#body-error").wait_for()
    assert "between 2 and 5,000" in page.locator("#body-error").inner_text()
    assert "http:// or https://" in page.locator("#website-error").inner_text()
    assert page.get_by_label("Name", exact=True).input_value() == "Grace Reader"
    assert page.get_by_label("Comment", exact=True).input_value() == "x"
    assert stored(app) == []
    assert_accessible(page)
    page.get_by_label("Website", exact=True).fill("")
    page.get_by_label("Comment", exact=True).fill("Fixed it, thanks.")
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("status").filter(has_text="awaiting approval").wait_for()
    assert page.locator(".error").count() == 0


class LosingAnswers:
    """A network that delivers the first ``lose`` comment posts to the service
    but drops their answers (a connection reset on the way back)."""

    def __init__(self, lose):
        self.lose = lose
        self.keys = []

    def __call__(self, route):
        body = route.request.post_data_buffer or b""
        key = re.search(rb'name="submission_key"\r\n\r\n([^\r]*)\r\n', body)
        self.keys.append(key[1].decode() if key else None)
        if len(self.keys) <= self.lose:
            route.fetch()  # the service gets it, and stores the comment
            route.abort("connectionreset")
        else:
            route.continue_()


def test_a_lost_answer_is_sent_again_by_the_script_and_stored_once(page, comment_server):
    app = comment_server
    network = LosingAnswers(lose=1)
    page.route("**/comments/", network)
    page.goto(app.base_url + MENTOR_URL)
    fill_comment(page)
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("status").filter(has_text="awaiting approval").wait_for()
    assert len(network.keys) == 2
    assert network.keys[0] and network.keys[0] == network.keys[1]
    assert [c["author_name"] for c in stored(app)] == ["Grace Reader"]


def test_when_every_try_is_lost_the_reader_sends_again_and_it_is_stored_once(page, comment_server):
    app = comment_server
    network = LosingAnswers(lose=3)  # the first try and the script's two retries
    page.route("**/comments/", network)
    page.goto(app.base_url + MENTOR_URL)
    fill_comment(page)
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("status").filter(has_text="could not be sent").wait_for()
    assert page.get_by_label("Comment", exact=True).input_value() == (
        "The thank-you note advice is gold."
    )
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("status").filter(has_text="awaiting approval").wait_for()
    assert len(network.keys) == 4 and len(set(network.keys)) == 1
    assert len(stored(app)) == 1


@pytest.mark.parametrize("reader", ["no_js_page", "blocked_script_page"])
def test_without_javascript_the_form_posts_and_a_page_confirms(request, comment_server, reader):
    app, page = comment_server, request.getfixturevalue(reader)
    page.goto(app.base_url + MENTOR_URL)
    fill_comment(page)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/comments/thanks**")
    assert "awaiting approval" in page.get_by_role("status").inner_text()
    if reader == "blocked_script_page":
        assert_accessible(page)
    page.get_by_role("link", name="Back to").click()
    assert page.url.endswith(MENTOR_URL + "#comments")
    assert len(stored(app)) == 1


@pytest.mark.parametrize("reader", ["no_js_page", "blocked_script_page"])
def test_without_javascript_a_failed_form_comes_back_filled_in(request, comment_server, reader):
    app, page = comment_server, request.getfixturevalue(reader)
    page.goto(app.base_url + MENTOR_URL)
    fill_comment(page, name="")
    page.get_by_role("button", name="Submit").click()
    assert page.get_by_role("heading", name="Please check your comment").is_visible()
    assert page.get_by_label("Comment", exact=True).input_value() == (
        "The thank-you note advice is gold."
    )
    assert page.get_by_text("Please enter your name.").first.is_visible()
    if reader == "blocked_script_page":
        assert_accessible(page)


def log_in(page, app):
    page.goto(app.base_url + "/admin/")
    assert_accessible(page)
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Pending comments").wait_for()


def test_the_admin_approves_and_the_post_shows_the_comment_then_spam_removes_it(
    browser, comment_server
):
    app = comment_server
    reader = browser.new_context(java_script_enabled=False).new_page()
    reader.goto(app.base_url + MENTOR_URL)
    fill_comment(reader, body="Approved in a real browser.")
    reader.get_by_role("button", name="Submit").click()

    admin_context = browser.new_context()
    admin = admin_context.new_page()
    log_in(admin, app)
    item = admin.locator("article.queued").filter(has_text="Approved in a real browser.")
    assert item.count() == 1
    for name in ("Approve", "Spam", "Trash"):
        assert item.get_by_role("button", name=name, exact=True).is_visible()
    assert_accessible(admin)
    item.get_by_role("button", name="Approve", exact=True).click()
    admin.get_by_text("1 comment approved.").wait_for()

    reader.goto(app.base_url + MENTOR_URL)
    comment = reader.locator(".comment").filter(has_text="Approved in a real browser.")
    assert comment.is_visible()
    assert reader.get_by_role("heading", name="1 Comment").is_visible()

    admin.get_by_role("link", name="Approved").click()
    assert_accessible(admin)
    admin.locator("article.queued").filter(has_text="Approved in a real browser.").get_by_role(
        "button", name="Spam", exact=True
    ).click()
    admin.get_by_text("1 comment marked as spam.").wait_for()
    reader.goto(app.base_url + MENTOR_URL)
    assert reader.locator(".comment").count() == 0
    assert reader.get_by_role("heading", name="0 Comments").is_visible()

    admin.get_by_role("link", name="Spam").click()
    assert_accessible(admin)
    admin.get_by_role("button", name="Restore", exact=True).click()
    admin.get_by_role("link", name="Pending").click()
    admin.get_by_role("button", name="Trash", exact=True).click()
    admin.get_by_text("1 comment moved to trash.").wait_for()
    assert [c["status"] for c in stored(app)] == ["trash"]
    admin_context.close()


def test_admin_edit_and_reply_pages_are_accessible(browser, comment_server, blocked_script_page):
    no_js_page = blocked_script_page
    app = comment_server
    no_js_page.goto(app.base_url + MENTOR_URL)
    fill_comment(no_js_page)
    no_js_page.get_by_role("button", name="Submit").click()
    with app.app_context():
        db.set_status(db.get_db(), [1], "approved", by="test", reason="approved")
    context = browser.new_context()
    admin = context.new_page()
    log_in(admin, app)
    admin.goto(app.base_url + "/admin/comments/1/edit")
    assert_accessible(admin)
    admin.goto(app.base_url + "/admin/comments/1/reply")
    assert_accessible(admin)
    admin.get_by_label("Your reply").fill("Glad it helped!")
    admin.get_by_role("button", name="Publish reply").click()
    admin.get_by_text("Your reply is published.").wait_for()
    # The reader's reply page (no JavaScript needed) is accessible too.
    no_js_page.goto(app.base_url + "/comments/reply/1")
    assert no_js_page.get_by_role("heading", name="Reply to Grace Reader").is_visible()
    assert_accessible(no_js_page)
    context.close()


def test_the_queue_fits_a_phone_without_sideways_scrolling(browser, comment_server):
    app = comment_server
    reader = browser.new_context(java_script_enabled=False).new_page()
    reader.goto(app.base_url + MENTOR_URL)
    fill_comment(reader, body="Read on a phone.")
    reader.get_by_role("button", name="Submit").click()
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    admin = phone.new_page()
    log_in(admin, app)
    # The post filter lists whole post titles, wider than a phone.
    assert admin.get_by_label("Post").is_visible()
    assert admin.evaluate("document.documentElement.scrollWidth") <= 390
    item = admin.locator("article.queued").filter(has_text="Read on a phone.")
    assert item.get_by_role("button", name="Approve", exact=True).is_visible()
    phone.close()
