"""Console commands for a reader's requests about their data (GDPR articles 15 and 17):

    privacy export EMAIL [FILE]   everything stored about EMAIL, as JSON
    privacy erase EMAIL           erase it, then re-publish the pages it was on

A person is found by their email address (case and spaces ignored), the one
thing the service stores that is theirs alone: their comments (``email``),
their address's subscriptions, and the emails to it still in the outbox.

Erasure follows "Delete permanently": each comment of theirs goes to the
trash first unless set aside already (the moderation table allows deleting
only from spam or trash), then is deleted with the replies under it, as the
admin's button does. Decision records stay (which comment, which action,
who, when), with no personal data; the IP hashes go with the comments. What
this cannot reach: backups and replicas (``db backup``, Litestream), which
keep the data until they are rotated.
"""

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from comments_service import cli, db, subscriptions

privacy_cli = AppGroup("privacy", help="A reader's data: export it, or erase it.")
ERASED_BY = "console: erasure request"


def address_argument(email):
    address = subscriptions.normalised(email)
    if "@" not in address.strip("@"):
        raise click.BadParameter(f"not an email address: {email!r}", param_hint="EMAIL")
    return address


@privacy_cli.command("export")
@click.argument("email")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True), default="-")
def privacy_export(email, file):
    """Write everything stored about EMAIL to FILE as JSON (default: standard output)."""
    address = address_argument(email)
    data = db.person_data(db.get_db(), address)
    document = {
        "email": address,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "comments": data["comments"],
        "subscriptions": {
            "address": data["subscriber"],
            "asked_for": data["subscriptions"],
        },
        "emails": data["emails"],
    }
    if cli.write_private_json(file, document):
        click.echo(summary("Exported", address, data), err=True)


def summary(verb, address, data):
    return (
        f"{verb} {address}: {len(data['comments'])} comment(s), "
        f"{len(data['subscriptions'])} subscription(s), "
        f"{len(data['emails'])} email(s) in the outbox."
    )


@privacy_cli.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def privacy_erase(email, yes):
    """Erase EMAIL's comments (and the replies under them), subscriptions and
    emails, then re-publish the pages they were on."""
    address = address_argument(email)
    found = db.person_data(db.get_db(), address)
    if not (found["comments"] or found["subscriber"] or found["emails"]):
        click.echo(f"Nothing is stored about {address}.")
        return
    click.echo(summary("Found for", address, found))
    if not yes:
        click.confirm("Erase it all, for good?", abort=True)
    erasure = db.erase_person(db.get_db(), address, by=ERASED_BY)
    if erasure.changed_posts:
        cli.republish(erasure.changed_posts)
        cli.flush_pending_build()
    others = (
        f" (and {erasure.replies_by_others} repl{'y' if erasure.replies_by_others == 1 else 'ies'} "
        "by others under them)"
        if erasure.replies_by_others
        else ""
    )
    click.echo(
        f"Erased {address}: {erasure.comments} comment(s){others}, "
        f"{erasure.subscriptions} subscription(s), {erasure.emails} email(s). "
        "Kept: the decisions' records (which comment, which action, who, when). "
        "Backups keep the data until they are rotated."
    )
