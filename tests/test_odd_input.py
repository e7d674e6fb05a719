"""Odd input answers a readable 4xx, never a 500: ids beyond SQLite's integer
range, a NUL byte in a static path, a CR/LF in the login ``next=``."""

import json

import pytest

from comments_service import db
from support import ADMIN_PASSWORD, ADMIN_USER, MENTOR_SLUG, csrf_token, submit_comment

HUGE = str(2**70)
CLOSED_SLUG = "answer-tell-me-about-yourself"  # its comments are closed


def statuses(database):
    return [(c["id"], c["status"]) for c in database["comments"].rows]


@pytest.mark.parametrize("json", [True, False])
def test_a_parent_id_beyond_sqlites_range_is_a_400_with_a_message(client, database, json):
    response = submit_comment(client, json=json, parent_id=HUGE)
    assert response.status_code == 400
    assert "The comment you are replying to is not available." in response.get_data(as_text=True)
    assert statuses(database) == []


def test_the_reply_page_for_an_id_beyond_sqlites_range_is_404(client):
    response = client.get(f"/comments/reply/{HUGE}")
    assert response.status_code == 404


def test_admin_ids_beyond_sqlites_range_are_refused(admin, client, database):
    admin.login()
    submit_comment(client)
    before = statuses(database)
    for path in (f"/admin/comments/{HUGE}/edit", f"/admin/comments/{HUGE}/reply"):
        assert client.get(path).status_code == 404
    assert admin.act("approve", HUGE).status_code == 400
    response = admin.act("spam", 1, HUGE, bulk=True)
    assert response.status_code == 400
    assert "not understood" in response.get_data(as_text=True)
    assert statuses(database) == before == [(1, "pending")]


def test_a_nul_byte_in_a_static_path_is_404(client):
    assert client.get("/index%00.html").status_code == 404
    assert client.get("/2022/%00/").status_code == 404


@pytest.mark.parametrize("next_", ["/admin/spam%0d%0aSet-Cookie:%20x=1", "/admin/%0a"])
def test_a_cr_lf_in_the_login_next_is_ignored(admin, client, next_):
    token = csrf_token(client, "/admin/login")
    data = {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf_token": token}
    response = client.post(f"/admin/login?next={next_}", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    assert "x=1" not in response.headers.get("Set-Cookie", "")


def test_a_valid_parent_id_still_works(admin, client, database):
    """The range check does not refuse real ids."""
    admin.login()
    submit_comment(client)
    admin.act("approve", 1)
    response = submit_comment(client, parent_id="1", post_slug=MENTOR_SLUG)
    assert response.status_code == 202
    assert db.get_comment(database, 2)["parent_id"] == 1


def good_row(**fields):
    return {
        "id": 1,
        "post_slug": MENTOR_SLUG,
        "author_name": "Ada",
        "email": "ada@example.com",
        "body": "Imported text.",
        "status": "approved",
        "created_at": "2026-01-01T00:00:00+00:00",
        **fields,
    }


def import_file(runner, tmp_path, text):
    path = tmp_path / "import.json"
    path.write_text(text)
    return runner.invoke(args=["comments", "import", str(path)])


def test_an_import_nested_100000_deep_is_refused_without_a_traceback(runner, database, tmp_path):
    result = import_file(runner, tmp_path, "[" * 100_000 + "]" * 100_000)
    assert result.exit_code == 1
    assert "Nothing imported: the file is nested too deeply" in result.output
    assert "Traceback" not in result.output
    assert statuses(database) == []


def test_an_import_refuses_bad_rows_one_by_one_and_imports_the_rest(runner, database, tmp_path):
    rows = [
        good_row(id=2**70),
        good_row(id=2, email="not an email"),
        good_row(id=3, post_slug=CLOSED_SLUG),
        good_row(id=4, post_slug=CLOSED_SLUG, status="pending"),
        good_row(id=5),
    ]
    result = import_file(runner, tmp_path, json.dumps({"comments": rows}))
    assert result.exit_code == 0, result.output
    assert "comment 1: an id beyond SQLite's integer range" in result.output
    assert "comment 2: invalid email 'not an email'" in result.output
    assert f"comment 3: approved, but comments on '{CLOSED_SLUG}' are closed" in result.output
    assert "2 comments imported, 3 refused." in result.output
    assert statuses(database) == [(4, "pending"), (5, "approved")]
