"""Console commands for a terminal admin, and what `make serve` does to admins."""

import json
import os
import subprocess
import sys
from pathlib import Path

from werkzeug.security import check_password_hash

from comments_service import cli, db
from support import MENTOR_URL, submit_comment


def test_admin_create_and_set_password(runner, database):
    result = runner.invoke(args=["admin", "create", "Maya"], input="a-strong-secret\n" * 2)
    assert result.exit_code == 0, result.output
    admin = db.get_admin(database, username="maya")
    assert check_password_hash(admin["password_hash"], "a-strong-secret")
    again = runner.invoke(args=["admin", "create", "maya"], input="another-secret\n" * 2)
    assert again.exit_code != 0 and "exists already" in again.output
    changed = runner.invoke(args=["admin", "set-password", "maya"], input="new-secret-123\n" * 2)
    assert changed.exit_code == 0, changed.output
    admin_after = db.get_admin(database, username="maya")
    assert check_password_hash(admin_after["password_hash"], "new-secret-123")
    assert admin_after["session_version"] == admin["session_version"] + 1


def test_short_passwords_and_unknown_admins_are_refused(runner):
    short = runner.invoke(args=["admin", "create", "maya"], input="short\nshort\n")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    unknown = runner.invoke(args=["admin", "set-password", "ghost"], input="long-enough-1\n" * 2)
    assert unknown.exit_code != 0 and "no admin called ghost" in unknown.output


def test_ensure_admin_from_the_environment_or_a_random_first_password(app, database):
    with app.app_context():
        first = cli.ensure_admin(db.get_db())
        assert first and len(first) >= 12
        assert check_password_hash(db.get_admin(database, username="admin")["password_hash"], first)
        assert cli.ensure_admin(db.get_db()) is None, "printed once: an admin exists now"
        assert cli.ensure_admin(db.get_db(), "Editor", "from-the-environment") is None
    editor = db.get_admin(database, username="editor")
    assert check_password_hash(editor["password_hash"], "from-the-environment")


def test_list_and_decide_by_id_republish_the_site(runner, client, database, live_site):
    submit_comment(client, name="Terminal Fan", body="Moderated from a shell")
    submit_comment(client, body="See https://a.example https://b.example")
    listing = runner.invoke(args=["comments", "list"])
    assert "#1" in listing.output and "Terminal Fan" in listing.output
    assert "[held: 2 links]" in listing.output
    result = runner.invoke(args=["comments", "approve", "1"])
    assert result.exit_code == 0, result.output
    assert db.get_comment(database, 1)["decided_by"] == "console"
    assert "Moderated from a shell" in live_site.text(MENTOR_URL)
    runner.invoke(args=["comments", "spam", "2"])
    runner.invoke(args=["comments", "trash", "1"])
    assert "Moderated from a shell" not in live_site.text(MENTOR_URL)
    assert db.counts_by_status(database) == {"pending": 0, "approved": 0, "spam": 1, "trash": 1}
    missing = runner.invoke(args=["comments", "approve", "42"])
    assert missing.exit_code != 0 and "No comment with id 42" in missing.output


def test_export_then_import_restores_every_comment(runner, client, database, tmp_path, live_site):
    submit_comment(client, body="Kept across an export")
    runner.invoke(args=["comments", "approve", "1"])
    submit_comment(client, body="Still pending")
    export = tmp_path / "comments.json"
    assert runner.invoke(args=["comments", "export", str(export)]).exit_code == 0
    exported = json.loads(export.read_text())["comments"]
    assert [c["body"] for c in exported] == ["Kept across an export", "Still pending"]
    runner.invoke(args=["comments", "trash", "1", "2"])
    assert len(db.delete_permanently(database, [1, 2], by="test").done) == 2
    assert "Kept across an export" not in live_site.text(MENTOR_URL)
    result = runner.invoke(args=["comments", "import", str(export)])
    assert result.exit_code == 0 and "2 comments imported." in result.output
    assert db.export_comments(database) == exported
    assert "Kept across an export" in live_site.text(MENTOR_URL)


def test_an_imported_comment_with_parent_0_is_a_top_level_comment(
    runner, client, database, tmp_path, live_site
):
    submit_comment(client, body="Written by another tool")
    row = {**db.export_comments(database)[0], "parent_id": 0, "status": "approved"}
    db.set_status(database, [row["id"]], "trash", by="test", reason="erasure")
    assert db.delete_permanently(database, [row["id"]], by="test").done
    export = tmp_path / "comments.json"
    export.write_text(json.dumps({"comments": [row]}))
    assert runner.invoke(args=["comments", "import", str(export)]).exit_code == 0
    assert db.get_comment(database, row["id"])["parent_id"] is None
    assert db.shown_comment_counts(database) == {row["post_slug"]: 1}
    assert "1 Comment" in live_site.text(MENTOR_URL)


def test_import_refuses_a_file_that_fails_the_allow_list(runner, database, tmp_path):
    bad = tmp_path / "bad.json"
    for content, message in [
        ("not json", "Nothing imported"),
        (json.dumps({"rows": []}), "as written by `comments export`"),
        (json.dumps({"comments": [{"id": 1}]}), "missing"),
        (
            json.dumps(
                {
                    "comments": [
                        {
                            "id": 1,
                            "post_slug": "x",
                            "author_name": "a",
                            "body": "b",
                            "status": "published",
                            "created_at": "2026-01-01T00:00:00+00:00",
                        }
                    ]
                }
            ),
            "unknown status",
        ),
    ]:
        bad.write_text(content)
        result = runner.invoke(args=["comments", "import", str(bad)])
        assert result.exit_code != 0 and message in result.output, content
    assert db.export_comments(database) == []


def console(*args, env, input=None):
    """The real `flask` console command, as an admin types it on the server."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "comments_service", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SITE_URL")}
    return {
        **env,
        "BLOG_ENV": "production",
        "COMMENTS_DB": str(tmp_path / "comments.db"),
        "SITE_ROOT": str(tmp_path / "site"),
        **extra,
    }


def test_console_commands_that_sign_nothing_work_in_production_without_the_secret(tmp_path):
    env = production_env(tmp_path)
    created = console("admin", "create", "maya", env=env, input="a-strong-secret\n" * 2)
    assert created.returncode == 0, created.stderr
    changed = console("admin", "set-password", "maya", env=env, input="another-secret\n" * 2)
    assert changed.returncode == 0, changed.stderr
    listed = console("comments", "list", env=env)
    assert listed.returncode == 0 and "No pending comments." in listed.stdout
    database = db.connect(tmp_path / "comments.db")
    assert check_password_hash(
        db.get_admin(database, username="maya")["password_hash"], "another-secret"
    )
    database.close()


def test_a_console_decision_without_site_url_saves_and_says_what_is_missing(tmp_path):
    env = production_env(tmp_path)
    database = db.connect(tmp_path / "comments.db")
    comment_id = db.add_pending_comment(
        database, post_slug="some-post", author_name="Ada", body="Approve me from a terminal."
    )
    database.close()
    approved = console("comments", "approve", str(comment_id), env=env)
    assert approved.returncode == 1
    assert approved.stderr.strip().splitlines() == [
        "Error: Saved, but the site was not rebuilt: SITE_URL is not set: production needs "
        "the site's origin, e.g. SITE_URL=https://careers.example.com (BLOG_ENV=development "
        "for a local preview)."
    ]
    database = db.connect(tmp_path / "comments.db")
    assert db.get_comment(database, comment_id)["status"] == "approved"
    database.close()


def test_a_bad_mode_is_one_line_at_the_console(tmp_path):
    result = console("comments", "list", env=production_env(tmp_path, BLOG_ENV="staging"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "BLOG_ENV must be 'production' or 'development', not 'staging'." in result.stderr
