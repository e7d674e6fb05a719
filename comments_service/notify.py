"""The admin's email about each new pending comment, when SMTP is configured.

The email is written into the outbox in the comment's own transaction
(``new_comment_email``, run by ``db.add_pending_comment``), and sent by the
outbox's sender: a slow or absent mail server never slows down or fails a
reader's submission, and no email is lost when the process stops.

Plain text only, so nothing in a comment can render as HTML in a mail
client; header fields are single lines; the reader's text is quoted line by
line with ``> ``, so it cannot forge lines that look like ours (a fake
"Approve:" link). The email names the post, the commenter and the text, and
carries one-tap Approve, Spam and Trash links (``action_links``) and a link
to the comment in the admin, all on ``SITE_URL``, never on a request's Host.

Everything but the links is written before the comment's transaction: that
transaction holds the writers' lock for every comment committed with it
(``db.GroupCommit``), so inside it only the links are signed (three HMACs)
and the row inserted, some 50 µs a comment.
"""

import logging

from comments_service import action_links, db, outbox
from comments_service.moderation import ACTIONS

log = logging.getLogger(__name__)

# A subject line is cut there: mail clients show less anyway.
SUBJECT_MAX = 200


def notifications_enabled(config):
    return bool(config.get("SMTP_HOST") and config.get("SMTP_TO"))


def new_comment_email(config, post, comment):
    """What ``db.add_pending_comment`` runs in the comment's transaction to
    enqueue the admin's email (its ``on_stored``); None when email is off.

    ``comment``: the fields being stored (``author_name``, ``email``,
    ``website``, ``body``, ``reason``)."""
    if not notifications_enabled(config):
        return None
    try:
        to = outbox.recipient(config["SMTP_TO"])
    # Checked here, before the comment's transaction: a wrong setting must
    # cost the admin's email, not the readers' comments committed with it.
    except ValueError:
        log.error("SMTP_TO is not an email address (%r): no email sent", config["SMTP_TO"])
        return None
    secret = config["SECRET_KEY"]
    site_url = config["SITE_URL"].rstrip("/")
    subject, head = compose_head(site_url, post, comment)
    days = action_links.max_age_seconds(config) / 86400

    def enqueue(database, comment_id):
        body = head + compose_links(secret, site_url, comment_id, db.FIRST_VERSION, days)
        outbox.enqueue(database, to=to, subject=subject, body=body, kind="new-comment")

    return enqueue


def quoted(text):
    """The reader's text, every line behind ``> `` (an empty one too)."""
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines() or [""])


def compose_head(site_url, post, comment):
    """The subject, and the body down to the links: what the comment says."""
    subject = f"New comment awaiting approval on “{post['title']}”"[:SUBJECT_MAX]
    lines = [
        f"A new comment on “{post['title']}” is waiting for your approval.",
        "",
        f"Post:    {site_url}{post['url']}",
        f"Name:    {comment['author_name']}",
        f"Email:   {comment['email'] or '(none)'}",
        f"Website: {comment['website'] or '(none)'}",
    ]
    if comment.get("reason"):
        lines.append(f"Held:    {comment['reason']}")
    lines += ["", "The comment:", "", quoted(comment["body"]), "", ""]
    return subject, "\n".join(lines)


def compose_links(secret, site_url, comment_id, version, days):
    """The body's end: a link per action, and one to the comment in the admin."""
    width = max(len(ACTIONS[name].label) for name in action_links.EMAIL_ACTIONS) + 1
    lines = [
        f"{ACTIONS[name].label + ':':<{width}}  "
        + action_links.action_url(
            site_url, action_links.make_token(secret, comment_id, name, version)
        )
        for name in action_links.EMAIL_ACTIONS
    ]
    lines += [
        "",
        "Each link opens a page with one button: nothing changes until you press it.",
        f"The links work for {days:g} day{'s' if days != 1 else ''}, once, and only while "
        "the comment is as shown here.",
        "",
        f"In the admin: {action_links.comment_url(site_url, comment_id)}",
        "",
    ]
    return "\n".join(lines)
