"""Console commands for an admin at a terminal (``flask --app comments_service ...``).

    admin create NAME          create an admin (asks for the password)
    admin set-password NAME    change a password (ends that admin's sessions)
    comments list [--status S] list comments, pending by default
    comments approve|unapprove|spam|trash|restore|delete ID...
                               the admin queue's actions, with its rules
    comments export FILE       every comment, as JSON
    comments import FILE       load an export back (same ids are replaced)
    comments close-old-posts   re-publish posts whose comments closed (daily)

Decisions and imports re-publish the site, as the web queue does.
"""

import json
import os
import secrets
from datetime import datetime

import click
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask.cli import AppGroup
from werkzeug.security import generate_password_hash

from comments_service import db, publish, registry
from comments_service.forms import BODY_MAX, EMAIL_MAX, MAX_ID, NAME_MAX, WEBSITE_MAX
from comments_service.moderation import ACTIONS, ALLOWED, STATUSES
from comments_service.render import clean_line, clean_text, safe_website


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
    document = json.dumps({"comments": rows}, indent=1, ensure_ascii=False) + "\n"
    if file == "-":
        click.echo(document, nl=False)
        return
    # Readers' emails: the owner's eyes only, whatever the umask (fchmod: an
    # existing file would keep its mode).
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(document)
    click.echo(f"{len(rows)} comments exported.", err=True)


@comments_cli.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
def comments_import(file):
    """Load comments exported by `comments export`."""
    try:
        rows, refused = validated_rows(json.load(file))
    except ValueError as exc:  # bad JSON or not an export at all
        raise click.ClickException(f"Nothing imported: {exc}") from exc
    except RecursionError:  # JSON nested thousands deep: no export looks like that
        raise click.ClickException("Nothing imported: the file is nested too deeply") from None
    for reason in refused:
        click.echo(f"Refused {reason}", err=True)
    if not rows:
        raise click.ClickException(
            "Nothing imported: " + ("; ".join(refused) or "the file has no comments")
        )
    count = db.import_comments(db.get_db(), rows)
    republish()  # everything may have changed: a full build
    click.echo(f"{count} comments imported" + (f", {len(refused)} refused." if refused else "."))


IMPORT_FIELDS = {
    "id": int,
    "post_slug": str,
    "parent_id": (int, type(None)),
    "author_name": str,
    "email": str,
    "website": str,
    "body": str,
    "status": str,
    "is_author": int,
    "created_at": str,
    "decided_at": (str, type(None)),
    "decided_by": (str, type(None)),
    "reason": (str, type(None)),
    "ip_hash": (str, type(None)),
}
REQUIRED = {"id", "post_slug", "author_name", "body", "status", "created_at"}


def validated_rows(data):
    """Allow-list an export, row by row, as the comment form would.

    Returns the rows that pass (clean text, a known status) and, for each
    that does not, "comment N: why". A file that is not an export at all
    raises ``ValueError``."""
    if not isinstance(data, dict) or not isinstance(data.get("comments"), list):
        raise ValueError('expected {"comments": [...]}, as written by `comments export`')
    rows, refused = [], []
    for number, item in enumerate(data["comments"], 1):
        try:
            rows.append(validated_row(item))
        except ValueError as exc:
            refused.append(f"comment {number}: {exc}")
    return rows, refused


def validated_row(item):
    if not isinstance(item, dict):
        raise ValueError("not an object")
    unknown = set(item) - set(IMPORT_FIELDS)
    missing = REQUIRED - set(item)
    if unknown or missing:
        raise ValueError(f"unknown {sorted(unknown)}, missing {sorted(missing)}")
    for key, kind in IMPORT_FIELDS.items():
        if key in item and not isinstance(item[key], kind):
            raise ValueError(f"{key} has the wrong type")
    if not 0 < item["id"] <= MAX_ID or not 0 <= (item.get("parent_id") or 0) <= MAX_ID:
        raise ValueError("an id beyond SQLite's integer range")
    if item["status"] not in STATUSES:
        raise ValueError(f"unknown status {item['status']!r}")
    datetime.fromisoformat(item["created_at"])  # raises ValueError if it is not a date
    email = clean_line(item.get("email", ""))
    if email:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            raise ValueError(f"invalid email {email[:EMAIL_MAX]!r}") from None
    post = registry.find_post(item["post_slug"])
    if item["status"] == "approved" and post is not None and not post["comments_open"]:
        raise ValueError(f"approved, but comments on {item['post_slug']!r} are closed")
    return {
        **item,
        "author_name": clean_line(item["author_name"])[:NAME_MAX],
        "email": email[:EMAIL_MAX],
        "website": safe_website(item.get("website", ""))[:WEBSITE_MAX],
        "body": clean_text(item["body"])[:BODY_MAX],
        "is_author": 1 if item.get("is_author") else 0,
        # 0 is no parent: stored as NULL, as every query expects.
        "parent_id": item.get("parent_id") or None,
    }


def init_app(app):
    app.cli.add_command(admin_cli)
    app.cli.add_command(comments_cli)
