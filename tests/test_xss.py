"""Hostile text through every write path ends escaped or removed wherever it is shown:
the built post page and the admin pages."""

import json

import pytest
from bs4 import BeautifulSoup

from comments_service import db
from comments_service.static_site import assets
from support import MENTOR_URL, ROOT, csrf_token, submit_comment

PAYLOADS = [
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](  javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '"><script>alert(1)</script>',
    "<scr<script>ipt>alert(1)</script>",
    "<iframe src=https://evil.example></iframe>",
    "<style>body{display:none}</style>",
    "<b onmouseover=alert(1)>hover</b>",
    "![x](https://evil.example/pixel.png)",
    "<<script>>alert(1)<</script>>",
    "`<script>`alert(1)",
    "\u202egnp.exe\u202c <script>alert(1)</script>",
    "<a href='https://ok.example' onclick='alert(1)'>ok</a>",
    "<form action=https://evil.example><input name=password></form>",
    "<!--<script>alert(1)//-->",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]
# The theme's scripts, by the fingerprinted names the pages link.
OUR_SCRIPTS = {
    "/" + url for name, url in assets.theme_assets(ROOT / "theme").items() if name.endswith(".js")
}
HOSTILE_NAME = '<img src=x onerror=alert("name")>'
HOSTILE_WEBSITE = "javascript:alert(document.cookie)"


def assert_nothing_runs(html, where):
    """No script but our own file, no event handler, no script or data URL, no frame."""
    page = BeautifulSoup(html, "html.parser")
    for script in page.find_all("script"):
        assert script.get("src", "") in OUR_SCRIPTS, where
        assert not script.string, where
    for tag in page.find_all(True):
        assert tag.name not in {"iframe", "object", "embed", "svg", "math", "style"}, where
        assert not [a for a in tag.attrs if a.lower().startswith("on")], (where, tag)
        for attr in ("href", "src", "action", "formaction"):
            value = (tag.get(attr) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), (where, tag)
    for img in page.find_all("img"):
        assert img["src"].startswith("/images/"), (where, img)
    for form in page.find_all("form"):
        assert form.get("action", "/").startswith("/"), (where, form)
    assert "\u202e" not in html, where


def approve_all(admin, database):
    ids = [row["id"] for row in db.comments_with_status(database, "pending")]
    if ids:
        admin.act("approve", *ids, bulk=True)


@pytest.fixture
def logged_in(admin):
    admin.login()
    return admin


def test_submitted_payloads_are_harmless_on_the_post_page_and_admin_pages(
    client, database, logged_in, live_site, without_rate_limits
):
    for payload in PAYLOADS:
        response = submit_comment(
            client, name=HOSTILE_NAME, website="", body=f"before {payload} after"
        )
        assert response.status_code == 202, payload
    assert submit_comment(client, website=HOSTILE_WEBSITE).status_code == 400
    assert_nothing_runs(client.get("/admin/").get_data(as_text=True), "queue")
    approve_all(logged_in, database)
    assert_nothing_runs(client.get("/admin/approved").get_data(as_text=True), "approved view")
    html = live_site.text(MENTOR_URL)
    assert_nothing_runs(html, "post page")
    page = BeautifulSoup(html, "html.parser")
    assert len(page.select(".comment")) == len(PAYLOADS)
    # What was typed as markup is shown as text, not lost.
    assert "<script>alert('xss')</script>" in page.select(".comment-body")[0].get_text()
    assert page.select_one(".comment-author").get_text() == HOSTILE_NAME


def test_admin_edit_and_author_reply_cannot_inject_either(
    app, client, database, logged_in, live_site
):
    submit_comment(client, body="Harmless")
    approve_all(logged_in, database)
    for payload in PAYLOADS:
        saved = logged_in.edit(1, author_name=HOSTILE_NAME, body=payload)
        assert saved.status_code == 303, payload  # saved, so the page below shows it
        assert_nothing_runs(live_site.text(MENTOR_URL), f"edit: {payload}")
        assert_nothing_runs(client.get("/admin/comments/1/edit").get_data(as_text=True), payload)
    token = csrf_token(client, "/admin/comments/1/reply")
    client.post("/admin/comments/1/reply", data={"csrf_token": token, "body": PAYLOADS[1]})
    assert_nothing_runs(live_site.text(MENTOR_URL), "author reply")
    assert db.get_comment(database, 2)["is_author"] == 1


def test_imported_payloads_cannot_inject(app, runner, database, live_site, tmp_path):
    rows = [
        {
            "id": n,
            "post_slug": "meet-mentors-through-informational-interviews",
            "author_name": HOSTILE_NAME,
            "website": HOSTILE_WEBSITE,
            "email": "x@example.com",
            "body": payload,
            "status": "approved",
            "created_at": "2026-01-01T10:00:00+00:00",
        }
        for n, payload in enumerate(PAYLOADS, 1)
    ]
    export = tmp_path / "hostile.json"
    export.write_text(json.dumps({"comments": rows}))
    result = runner.invoke(args=["comments", "import", str(export)])
    assert result.exit_code == 0, result.output
    assert db.get_comment(database, 1)["website"] == ""  # not http(s): dropped
    html = live_site.text(MENTOR_URL)
    assert_nothing_runs(html, "imported")
    assert len(BeautifulSoup(html, "html.parser").select(".comment")) == len(PAYLOADS)


def test_a_link_defined_in_one_comment_does_not_reach_the_next():
    """Comments are rendered by a reused Markdown instance: a reference link
    defined in one comment must not turn text in another into a link."""
    from comments_service.render import render_comment

    assert "spam.example" not in render_comment("Thanks!\n\n[shop]: https://spam.example/buy")
    second = render_comment("See [shop] for more, or [shop][].")
    assert "<a" not in second and "spam.example" not in second
    assert "[shop]" in second
