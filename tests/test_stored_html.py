"""A comment is rendered once, when it is stored, and shown from its stored HTML
until the renderer changes (``render.py``'s docstring, issue 10's bounded cost)."""

import fcntl
import os
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from adversarial_comments import ADVERSARIAL, NESTED, fill
from comments_service import action_links, db, render
from comments_service.forms import BODY_MAX
from comments_service.static_site import comment_feeds
from comments_service.static_site.build import build_site
from support import MENTOR_SLUG, csrf_token, submit_comment

FIXTURES = Path(__file__).parent / "fixtures"
MARKDOWN = "A *fine* point, see [my notes](https://ada.example/notes).\n\n- one\n- two"


@pytest.fixture
def renders(monkeypatch):
    """The texts ``render.render_comment`` is asked to render, in order."""
    texts = []
    real = render.render_comment

    def counted(text):
        texts.append(text)
        return real(text)

    monkeypatch.setattr(render, "render_comment", counted)
    return texts


def deploy_a_new_renderer(monkeypatch):
    """As if a changed render.py (or Markdown, nh3...) had been deployed."""
    monkeypatch.setattr(render, "RENDERER_VERSION", "a-changed-renderer")


def stored(database, comment_id):
    row = db.get_comment(database, comment_id)
    return row["body_html"], row["body_html_renderer"]


def approved_comment(database, body=MARKDOWN, **fields):
    comment_id = db.add_pending_comment(
        database, post_slug=MENTOR_SLUG, author_name="Ada Reader", body=body, **fields
    )
    db.set_status(database, [comment_id], "approved", by="test", reason="approved")
    return comment_id


# --- writes store the HTML --------------------------------------------------------


def test_a_submitted_comment_is_stored_with_its_html_and_the_renderer(client, database):
    assert submit_comment(client, body=MARKDOWN).status_code == 202
    [row] = database["comments"].rows
    assert row["body_html"] == render.render_comment(MARKDOWN)
    assert '<a href="https://ada.example/notes" rel="nofollow ugc noopener">' in row["body_html"]
    assert row["body_html_renderer"] == render.RENDERER_VERSION


def test_an_edit_stores_the_html_of_the_new_text(admin, database):
    admin.login()
    comment_id = db.add_pending_comment(
        database, post_slug=MENTOR_SLUG, author_name="Ada", body="The first text"
    )
    assert admin.edit(comment_id, body="The **second** text").status_code == 303
    assert stored(database, comment_id) == (
        "<p>The <strong>second</strong> text</p>",
        render.RENDERER_VERSION,
    )


def test_the_authors_reply_is_stored_with_its_html(admin, client, database):
    admin.login()
    parent = approved_comment(database)
    path = f"/admin/comments/{parent}/reply"
    client.post(path, data={"csrf_token": csrf_token(client, path), "body": "Thanks, *Ada*."})
    reply = db.get_comment(database, parent + 1)
    assert reply["is_author"] == 1
    assert stored(database, reply["id"]) == (
        "<p>Thanks, <em>Ada</em>.</p>",
        render.RENDERER_VERSION,
    )


def test_imports_render_the_text_whatever_html_the_rows_carry(database):
    forged = {"body_html": "<script>alert(1)</script>", "body_html_renderer": "anything"}
    row = {
        "post_slug": MENTOR_SLUG,
        "author_name": "Ada",
        "email": "",
        "website": "",
        "body": "Imported *text*",
        "status": "approved",
        "is_author": 0,
        "created_at": "2024-01-01T00:00:00+00:00",
        "reason": "imported",
    }
    db.import_comments(database, [{**row, "id": 7, **forged}])
    [(new_id, inserted)] = db.add_imported_comments(
        database, [{**row, "import_source": "wordpress", "import_id": "12", **forged}]
    )
    assert inserted
    for comment_id in (7, new_id):
        assert stored(database, comment_id) == (
            "<p>Imported <em>text</em></p>",
            render.RENDERER_VERSION,
        )


def test_the_export_leaves_the_html_out_and_imports_back(runner, database, tmp_path):
    approved_comment(database)
    export = tmp_path / "export.json"
    assert runner.invoke(args=["comments", "export", str(export)]).exit_code == 0
    assert "body_html" not in export.read_text()
    result = runner.invoke(args=["comments", "import", str(export)])
    assert result.exit_code == 0, result.output
    assert stored(database, 1) == (render.render_comment(MARKDOWN), render.RENDERER_VERSION)


def test_no_writer_waits_while_a_comment_is_rendered(app, admin, client, database, monkeypatch):
    lock_path = app.config["COMMENTS_DB"] + ".write-lock"
    rendered_under_the_lock, rendered = [], []
    real = render.stored_html

    def checked(text):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another writer's turn now?
        except BlockingIOError:
            rendered_under_the_lock.append(text)
        finally:
            os.close(fd)
        rendered.append(text)
        return real(text)

    monkeypatch.setattr(render, "stored_html", checked)
    admin.login()
    submit_comment(client, body="Sent")
    comment_id = approved_comment(database, body="Approved")
    admin.edit(comment_id, body="Edited")
    path = f"/admin/comments/{comment_id}/reply"
    client.post(path, data={"csrf_token": csrf_token(client, path), "body": "Replied"})
    row = db.export_comments(database)[0]
    db.import_comments(database, [{**row, "id": 99}])
    foreign = {**row, "id": None, "import_source": "disqus", "import_id": "1"}
    db.add_imported_comments(database, [foreign])
    deploy_a_new_renderer(monkeypatch)
    db.rerender_stale(database)

    assert rendered[:6] == ["Sent", "Approved", "Edited", "Replied", "Sent", "Sent"]
    assert len(rendered) == 6 + 5  # and the five comments rendered again
    assert rendered_under_the_lock == []


def test_a_text_changed_without_its_html_is_never_shown_with_the_old_html(database):
    # What the previous version of the service, still running during an
    # upgrade, or a hand-made UPDATE does: it knows nothing of the HTML.
    comment_id = approved_comment(database, body="Old words")
    with db.writing(database):
        database.execute("update comments set body = 'New words' where id = ?", [comment_id])
    assert stored(database, comment_id) == (None, None)
    view = render.display_comment(db.get_comment(database, comment_id))
    assert view["body_html"] == "<p>New words</p>"


# --- reads show the stored HTML ----------------------------------------------------

# The slowest comments the form accepts, 50 of them: a page of the queue.
HOSTILE = [fill(unit) for unit in ADVERSARIAL] + NESTED
HOSTILE = (HOSTILE * 2)[: db.PAGE_SIZE]


def test_the_queue_renders_no_comment_while_their_html_is_current(
    admin, client, database, runner, renders, monkeypatch
):
    assert all(len(text) <= BODY_MAX for text in HOSTILE)
    for n, text in enumerate(HOSTILE):
        db.add_pending_comment(database, post_slug=MENTOR_SLUG, author_name=f"Bot {n}", body=text)
    admin.login()
    renders.clear()

    page = client.get("/admin/").get_data(as_text=True)
    assert page.count('class="queued"') == len(HOSTILE)
    assert renders == []

    # A new renderer: each comment is rendered as it is shown, once, and the
    # page reads the same as before.
    deploy_a_new_renderer(monkeypatch)
    fallback = client.get("/admin/").get_data(as_text=True)
    assert Counter(renders) == Counter(HOSTILE)
    assert strip_tokens(fallback) == strip_tokens(page)

    # Until `comments rerender` has stored the new renderer's HTML.
    result = runner.invoke(args=["comments", "rerender"])
    assert result.exit_code == 0, result.output
    assert f"{len(HOSTILE)} comment(s) rendered again; 0 still stale" in result.output
    renders.clear()
    assert strip_tokens(client.get("/admin/").get_data(as_text=True)) == strip_tokens(page)
    assert renders == []


def strip_tokens(page):
    """The page without what changes at each load (the CSRF token)."""
    return "\n".join(line for line in page.splitlines() if "csrf_token" not in line)


def one_comment_pages(app, comment_id):
    """Every page that shows one comment: the admin's comment, edit and reply
    pages, the email's one-tap link, and the readers' no-JS reply page."""
    version = db.get_comment(db.connect(app.config["COMMENTS_DB"]), comment_id)["version"]
    token = action_links.make_token(app.config["SECRET_KEY"], comment_id, "trash", version)
    return [
        f"/admin/comments/{comment_id}",
        f"/admin/comments/{comment_id}/edit",
        f"/admin/comments/{comment_id}/reply",
        f"{action_links.ACTION_PATH}{token}",
        f"/comments/reply/{comment_id}",
    ]


def test_the_one_comment_pages_render_nothing_while_the_html_is_current(
    app, admin, client, database, renders
):
    comment_id = approved_comment(database, body=fill("*["))
    admin.login()
    renders.clear()
    for path in one_comment_pages(app, comment_id):
        assert client.get(path).status_code == 200, path
    assert renders == []


def test_after_a_change_of_renderer_pages_render_the_text_again(
    app, admin, client, database, renders, monkeypatch
):
    comment_id = approved_comment(database, body=MARKDOWN)
    admin.login()
    deploy_a_new_renderer(monkeypatch)
    renders.clear()
    for path in one_comment_pages(app, comment_id):
        response = client.get(path)
        assert 'rel="nofollow ugc noopener">my notes</a>' in response.get_data(as_text=True), path
    assert renders == [MARKDOWN] * 5


# --- comments rerender -------------------------------------------------------------


def test_rerender_stores_the_new_renderers_html_in_batches(runner, database, monkeypatch):
    ids = [approved_comment(database, body=f"Comment *{n}*") for n in range(5)]
    with db.writing(database):  # one never rendered (stored by an older version)
        database.execute(
            "update comments set body_html = null, body_html_renderer = null where id = ?", [ids[0]]
        )
    deploy_a_new_renderer(monkeypatch)

    result = runner.invoke(args=["comments", "rerender", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "5 comment(s) rendered again; 0 still stale (renderer a-changed-renderer)." in (
        result.output
    )
    for n, comment_id in enumerate(ids):
        assert stored(database, comment_id) == (
            f"<p>Comment <em>{n}</em></p>",
            "a-changed-renderer",
        )
    again = runner.invoke(args=["comments", "rerender"])
    assert "0 comment(s) rendered again; 0 still stale" in again.output


def test_rerender_keeps_an_edit_made_while_it_rendered(app, database, monkeypatch):
    comment_id = approved_comment(database, body="The text as it was")
    deploy_a_new_renderer(monkeypatch)
    real = render.stored_html

    def edited_meanwhile(text):
        html = real(text)
        if text == "The text as it was":  # the admin saves an edit from another process
            other = db.connect(app.config["COMMENTS_DB"], migrate=False)
            version = db.get_comment(other, comment_id)["version"]
            db.edit_comment(
                other, comment_id, author_name="Ada", body="The *edited* text", by="a", seen=version
            )
            other.close()
        return html

    monkeypatch.setattr(render, "stored_html", edited_meanwhile)
    assert db.rerender_stale(database) == 0
    assert stored(database, comment_id) == ("<p>The <em>edited</em> text</p>", "a-changed-renderer")


def test_the_renderer_version_follows_the_renderers_source_and_dependencies(tmp_path, monkeypatch):
    assert render._renderer_version() == render.RENDERER_VERSION
    changed = tmp_path / "render.py"
    changed.write_text(Path(render.__file__).read_text() + "\n# a fix\n")
    monkeypatch.setattr(render, "__file__", str(changed))
    assert render._renderer_version() != render.RENDERER_VERSION
    monkeypatch.undo()
    monkeypatch.setattr(render.nh3, "__version__", "99.0")
    assert render._renderer_version() != render.RENDERER_VERSION


# --- builds --------------------------------------------------------------------------


def test_a_build_shows_the_stored_html_and_writes_what_rendering_writes(
    fixture_project, app, database, tmp_path, renders, monkeypatch
):
    parent = approved_comment(database, body=MARKDOWN)
    approved_comment(database, body="A reply with `code`", parent_id=parent)
    approved_comment(database, body=fill("[a]("))
    overrides = {"COMMENTS": {"DB": app.config["COMMENTS_DB"]}}
    renders.clear()

    build_site(fixture_project / "pelicanconf.py", tmp_path / "stored", overrides)
    assert renders == []

    deploy_a_new_renderer(monkeypatch)
    comment_feeds._displayed.cache_clear()  # it remembers what the first build showed
    build_site(fixture_project / "pelicanconf.py", tmp_path / "rendered", overrides)
    assert set(renders) == {MARKDOWN, "A reply with `code`", fill("[a](")}

    stored_site, rendered_site = snapshot(tmp_path / "stored"), snapshot(tmp_path / "rendered")
    assert stored_site == rendered_site
    post = next(name for name in stored_site if name.endswith(f"{MENTOR_SLUG}/index.html"))
    assert 'rel="nofollow ugc noopener">my notes</a>' in stored_site[post].decode()


def snapshot(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


# --- the migration -------------------------------------------------------------------


def test_the_migration_renders_the_comments_of_a_database_of_the_first_schema(
    tmp_path, runner, app, monkeypatch
):
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "schema-v1.db", path)
    with sqlite3.connect(path) as old:  # and a pile of spam, left to `comments rerender`
        old.execute(
            "insert into comments (post_slug, author_name, body, status, created_at) "
            "values (?, 'Bot', 'Buy *now*', 'spam', '2026-11-27T10:00:00+00:00')",
            [MENTOR_SLUG],
        )
    old.close()

    database = db.connect(path)
    rows = {row["id"]: row for row in database["comments"].rows}
    for comment_id in (1, 2, 3):  # approved, an approved reply, pending
        assert rows[comment_id]["body_html"] == render.render_comment(rows[comment_id]["body"])
        assert rows[comment_id]["body_html_renderer"] == render.RENDERER_VERSION
    assert rows[3]["body_html"] == "<p>Still waiting, with ünïcode.</p>"
    [spam] = [row for row in rows.values() if row["status"] == "spam"]
    assert (spam["body_html"], spam["body_html_renderer"]) == (None, None)
    assert db.stale_html_count(database) == 1

    assert db.rerender_stale(database) == 1
    assert stored(database, spam["id"]) == ("<p>Buy <em>now</em></p>", render.RENDERER_VERSION)
    database.close()


def test_the_daily_maintenance_renders_what_is_stale(runner):
    unit = Path(__file__).parent.parent / "deploy/systemd/career-notes-maintenance.service"
    commands = [
        line.partition("--app comments_service ")[2].split()
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=")
    ]
    assert ["comments", "rerender"] in commands
    for command in commands:  # each one a command the service has
        assert runner.invoke(args=[*command, "--help"]).exit_code == 0, command
