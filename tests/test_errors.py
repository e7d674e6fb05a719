"""Unexpected failures reach people as a sentence in their format, never a traceback."""

import errno
import sqlite3

import pytest

from comments_service import db


@pytest.fixture
def failing_app(app):
    """The app with routes that fail the ways a server does, and handlers on
    (the test config otherwise re-raises exceptions into the test)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    failures = {
        "bug": KeyError("secret_internal_name"),
        "sqlite-full": sqlite3.OperationalError("database or disk is full"),
        "enospc": OSError(errno.ENOSPC, "No space left on device"),
        "db-full": db.DiskFull("database or disk is full"),
    }

    def fail(kind):
        raise failures[kind]

    app.add_url_rule("/comments/fail/<kind>", view_func=fail)
    return app


@pytest.mark.parametrize("kind", ["bug", "sqlite-full", "enospc", "db-full"])
def test_json_clients_get_json(failing_app, kind):
    client = failing_app.test_client()
    response = client.get(f"/comments/fail/{kind}", headers={"Accept": "application/json"})
    expected = 500 if kind == "bug" else 503
    assert response.status_code == expected
    assert response.is_json and response.json["error"]
    assert "secret_internal_name" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_bug_gives_others_the_themed_page(failing_app):
    response = failing_app.test_client().get("/comments/fail/bug")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side" in page and "Career Notes" in page
    assert "secret_internal_name" not in page and "Traceback" not in page


def test_a_full_disk_is_a_503_with_retry_after(failing_app):
    response = failing_app.test_client().get("/comments/fail/sqlite-full")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "120"
    assert "disk is full" in response.get_data(as_text=True)
