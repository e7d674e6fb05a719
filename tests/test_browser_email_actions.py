"""From the admin's email to an approved comment on a phone: open the link,
tap the one button. Nothing typed, no scrolling, no login."""

import pytest
from axe_playwright_python.sync_playwright import Axe

from comments_service import db, outbox
from mail_server import links, smtp_settings
from support import MENTOR_URL

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
TEXT = "Approved from my phone, in two taps."


@pytest.fixture
def mailing_server(comment_server, smtp_server):
    """The comment server sending its email through the test SMTP server, with
    the links on its own address, and its sender thread running."""
    app = comment_server
    app.config.update(smtp_settings(smtp_server[0]), SITE_URL=app.base_url)
    sender = outbox.start_sender(app.config)
    yield app
    sender.stop()


def test_two_taps_from_the_email_to_the_comment_on_the_post(browser, mailing_server, smtp_server):
    app, inbox = mailing_server, smtp_server[1]
    reader = browser.new_context(java_script_enabled=False).new_page()
    reader.goto(app.base_url + MENTOR_URL)
    reader.get_by_label("Name", exact=True).fill("Grace Reader")
    reader.get_by_label("Comment", exact=True).fill(TEXT)
    reader.get_by_role("button", name="Submit").click()
    reader.wait_for_url("**/comments/thanks**")
    assert inbox.wait_for(1), "the admin's email did not arrive"
    approve = links(inbox.messages[0])["Approve"]

    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    taps = 0
    page.goto(approve)  # tap 1: the link in the mail app
    taps += 1
    assert page.locator("input:visible, textarea:visible, select:visible").count() == 0
    assert page.get_by_role("button").count() == 1
    button = page.get_by_role("button", name="Approve", exact=True)
    box = button.bounding_box()
    assert box["y"] + box["height"] <= 844, "the button is on the first screen"
    assert box["height"] >= 44 and box["width"] >= 300, "a thumb-sized button"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling"
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    with app.app_context():
        assert db.get_comment(db.get_db(), 1)["status"] == "pending", "opening changes nothing"

    button.tap()  # tap 2
    taps += 1
    page.get_by_role("heading", name="Approved.").wait_for()
    assert taps == 2
    with app.app_context():
        assert db.get_comment(db.get_db(), 1)["status"] == "approved"

    page.get_by_role("status").get_by_role("link").tap()  # "It is live on <post>"
    page.wait_for_url("**" + MENTOR_URL)
    assert page.locator(".comment").filter(has_text=TEXT).is_visible()
    phone.close()
    reader.context.close()
