"""Console commands for an admin at a terminal (``flask --app comments_service ...``).

    admin create NAME          create an admin (asks for the password)
    admin set-password NAME    change a password (ends that admin's sessions)
    comments list [--status S] list comments, pending by default
    comments approve|unapprove|spam|trash|restore|delete ID...
                               the admin queue's actions, with its rules
    comments export FILE       every comment, as JSON
    comments import FILE [--dry-run]
                               load our own export back (same ids are replaced),
                               or a WordPress (WXR) or Disqus export (new ids)
    comments close-old-posts   re-publish posts whose comments closed (daily)
    comments rerender          store the HTML of the comments another renderer made
                               (after an upgrade; the daily maintenance job runs it)

Decisions and imports re-publish the site, as the web queue does.
"""

import json
import os
import secrets
import sqlite3

import click
from flask import current_app
from flask.cli import AppGroup
from werkzeug.security import generate_password_hash

from comments_service import db, foreign_exports, imports, publish, registry, render
from comments_service.forms import MAX_ID
from comments_service.moderation import ACTIONS, ALLOWED, STATUSES


def hash_password(password):
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH"])


def set_admin_password(database, username, password):
    username = username.strip().lower()
    if not username:
        raise click.ClickException("The username is empty.")
    if len(password) < 10:
        raise click.ClickException("Use a password of at least 10 characters.")
    db.save_admin(database, username, hash_password(password))


def ensure_admin(database, username=None, password=None):
    """What `make serve` does: the admin from the environment, or a first admin.

    With a password: make sure that admin exists with it. Without: if there is
    no admin at all, create ``admin`` with a random password and return it
    (printed once); otherwise change nothing.
    """
    username = (username or "admin").strip().lower()
    if password:
        set_admin_password(database, username, password)
        return None
    if db.admin_count(database) == 0:
        password = secrets.token_urlsafe(12)
        set_admin_password(database, username, password)
        return password
    return None


def republish(changed_posts=None):
    try:
        publish.publish_site(current_app.config, changed_posts)
    except publish.ConfigError as exc:
        raise click.ClickException(f"Saved, but the site was not rebuilt: {exc}") from exc
    except publish.BuildError as exc:
        raise click.ClickException(f"Saved, but the site could not be rebuilt: {exc}") from exc


def flush_pending_build():
    """A console command ends its process: run a scheduled full build now."""
    publish.flush_pending(current_app.config)


admin_cli = AppGroup("admin", help="Manage admin accounts.")
comments_cli = AppGroup("comments", help="Moderate comments from the terminal.")


@admin_cli.command("create")
@click.argument("username")
@click.password_option()
def admin_create(username, password):
    """Create an admin."""
    database = db.get_db()
    if db.get_admin(database, username=username.strip().lower()):
        raise click.ClickException(f"{username} exists already; use `admin set-password`.")
    set_admin_password(database, username, password)
    click.echo(f"Admin {username} created.")


@admin_cli.command("set-password")
@click.argument("username")
@click.password_option()
def admin_set_password(username, password):
    """Change an admin's password (and log them out everywhere)."""
    database = db.get_db()
    if not db.get_admin(database, username=username.strip().lower()):
        raise click.ClickException(f"There is no admin called {username}.")
    set_admin_password(database, username, password)
    click.echo(f"Password of {username} changed.")


@comments_cli.command("list")
@click.option("--status", type=click.Choice(STATUSES), default="pending", show_default=True)
def comments_list(status):
    """List comments with one status."""
    rows = db.comments_with_status(db.get_db(), status)
    if not rows:
        click.echo(f"No {status} comments.")
    for row in rows:
        held = f"  [{row['reason']}]" if row["reason"] else ""
        first_line = " ".join(row["body"].split())[:70]
        click.echo(
            f"#{row['id']}  {row['created_at']}  {row['post_slug']}  "
            f"{row['author_name']}{held}\n    {first_line}"
        )


def decide(action):
    @comments_cli.command(action.name)
    @click.argument("ids", nargs=-1, type=click.IntRange(1, MAX_ID), required=True)
    def command(ids):
        # The console names ids, not a version it saw: each comment is taken
        # as it is now, with the same transition rules as the web queue.
        report = db.moderate(
            db.get_db(),
            action.name,
            dict.fromkeys(ids),
            by="console",
            reason=f"{action.done} (console)",
            seen_required=False,
        )
        for outcome in report.refused:
            click.echo(f"#{outcome.comment_id}: {outcome.refused}", err=True)
        if report.changed_posts:
            republish(report.changed_posts)
            flush_pending_build()
        if report.done:
            click.echo(f"{len(report.done)} comment(s) {action.done}.")
        if report.refused:
            raise click.ClickException(f"{len(report.refused)} comment(s) not changed.")

    allowed_from = [status for status, names in ALLOWED.items() if action.name in names]
    command.__doc__ = f"{action.label} comments (those in {' or '.join(allowed_from)})."
    return command


for _action in ACTIONS.values():
    decide(_action)


@comments_cli.command("close-old-posts")
def comments_close_old_posts():
    """Re-publish the posts whose comments closed since their pages were built
    (COMMENTS_CLOSE_AFTER_DAYS), so that they say so; the daily maintenance runs it."""
    due = registry.closed_since_built(registry.current()["posts"])
    if not due:
        click.echo("No post has closed its comments since the site was built.")
        return
    # A full build: the pages of those posts and the registry, which then
    # lists them as closed (the next run finds nothing to do).
    republish()
    flush_pending_build()
    click.echo(
        f"Comments are closed on {len(due)} more post(s), re-published: "
        + ", ".join(post["slug"] for post in due)
    )


@comments_cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
def comments_export(file):
    """Write every comment to FILE as JSON ('-' for standard output)."""
    rows = db.export_comments(db.get_db())
    if write_private_json(file, {"comments": rows}):
        click.echo(f"{len(rows)} comments exported.", err=True)


def write_private_json(file, document):
    """Write ``document`` as JSON to ``file`` (mode 0600) or, for '-', to
    standard output; True if it went to a file."""
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if file == "-":
        click.echo(text, nl=False)
        return False
    # Readers' emails: the owner's eyes only, whatever the umask (fchmod: an
    # existing file would keep its mode).
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return True


@comments_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and report everything; write nothing.")
def comments_import(file, dry_run):
    """Load comments from FILE: a `comments export` file (JSON), a WordPress
    export (WXR) or a Disqus export, recognised from the file itself.

    Each comment is checked as the comment form would check it; the ones
    refused are listed with the reason, the others imported. WordPress and
    Disqus comments get new ids and are skipped when imported already, so
    running the same import again adds nothing twice.
    """
    with open(file, "rb") as f:
        start = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"<"):
        import_foreign(file, dry_run)
    else:
        import_json(file, dry_run)


def import_json(file, dry_run):
    try:
        with open(file, encoding="utf-8") as f:
            rows, refused = imports.validated_rows(json.load(f))
    except ValueError as exc:  # bad JSON or not an export at all
        raise click.ClickException(
            f"Nothing imported: {exc} (expected a `comments export` file, "
            "a WordPress export or a Disqus export)"
        ) from exc
    except RecursionError:  # JSON nested thousands deep: no export looks like that
        raise click.ClickException("Nothing imported: the file is nested too deeply") from None
    for reason in refused:
        click.echo(f"Refused {reason}", err=True)
    if not rows:
        raise click.ClickException(
            "Nothing imported: " + ("; ".join(refused) or "the file has no comments")
        )
    report = imports.ImportReport(imported=len(rows), refused=len(refused))
    if not dry_run:
        db.import_comments(db.get_db(), rows)
        republish()  # everything may have changed: a full build
    click.echo(report.summary(dry_run))


def import_foreign(file, dry_run):
    """A WordPress or Disqus export: read twice, so a file malformed half-way
    is refused before anything of it is written."""
    try:
        with open(file, "rb") as f:
            foreign_exports.export_format(f)
    except foreign_exports.ExportError as exc:
        raise click.ClickException(f"Nothing imported: {exc}") from None
    posts = registry.current()["posts"]
    if not posts:
        raise click.ClickException(
            "Nothing imported: the site has no posts yet to attach comments to; "
            "build it first (make html, or make publish in production)"
        )
    run = imports.ForeignImport(
        db.get_db(),
        posts,
        refused=lambda line: click.echo(line, err=True),
        dry_run=dry_run,
    )
    try:
        with open(file, "rb") as f:
            for comment in foreign_exports.comments_in(f):
                run.add(comment)
        report = run.finish()
    except (foreign_exports.ExportError, db.DiskFull, sqlite3.Error) as exc:
        # The file changed since the first reading, or the disk is full: the
        # batches written stay (their posts are re-published at the next
        # decision or build), and running the import again adds the rest.
        raise click.ClickException(
            f"Import stopped: {exc}. {run.report.summary()} Run it again to add the rest."
        ) from None
    if not (report.imported or report.skipped):
        raise click.ClickException(
            "Nothing imported: "
            + (f"all {report.refused} refused" if report.refused else "the file has no comments")
        )
    if report.changed_posts and not dry_run:
        republish(report.changed_posts)
        flush_pending_build()
    click.echo(report.summary(dry_run))


@comments_cli.command("rerender")
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=db.RERENDER_BATCH,
    show_default=True,
    help="Comments stored per write transaction.",
)
def comments_rerender(batch):
    """Store the HTML of every comment whose stored copy another version of
    render.py (or of Markdown, nh3, Python) made.

    Pages are right without it (they render a stale comment again each time
    they show it); this makes them cheap again. Batched, each batch in a short
    transaction of its own: safe while the service runs, and an interrupted
    run is finished by running it again. No page changes, so nothing is
    re-published."""
    database = db.get_db()
    stored = db.rerender_stale(database, batch=batch)
    # Not 0 only if a process running another renderer stored comments meanwhile.
    left = db.stale_html_count(database)
    click.echo(
        f"{stored} comment(s) rendered again; {left} still stale "
        f"(renderer {render.RENDERER_VERSION})."
    )


def init_app(app):
    app.cli.add_command(admin_cli)
    app.cli.add_command(comments_cli)
