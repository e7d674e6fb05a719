"""Readers' email notifications: commenters kept in the loop, by their own choice.

The comment form offers three boxes: replies to my comment, new comments on
this post, and an email when my comment is published. Ticking one needs an
email address (``forms.CommentForm``). What follows, and why:

**Double opt-in.** The request is stored with the comment, in its
transaction (``intake``, run by ``db.add_submission``'s ``on_stored``), and
the address gets one email: a link to confirm. Nothing else is ever sent to
an address that has not confirmed. Confirmation is of the address, as
comment-subscription systems do: its later requests take effect without
another email, and every email carries one-click unsubscribe links. The
reader's answer on the page is the same whatever the address's state
(unknown, waiting, confirmed): the form tells nobody anything about other
people's subscriptions.

**No mail bombs.** The confirmation email is the service's only email to an
address nobody vouched for, so a stranger could type someone else's address:
an address gets at most one confirmation email a day (``CONFIRMATION_EVERY``;
later requests that day join the waiting one), on top of the comment rate
limit per sender address; a comment sent to spam (the honeypot) asks nothing.
Unconfirmed addresses, and what they asked for, are forgotten once their last
confirmation link has expired (7 days: ``forget_unconfirmed``).

**Only what readers can see.** A comment's approval (the queue, an email's
one-tap link, the console, the author's reply, a rule at intake) queues ONE
row in the approving transaction (``db.queue_notifications``, called where
the status becomes ``approved``): a rolled-back decision leaves nothing, and
a post with 10,000 subscribers costs the decision one insert, not 10,000
signed emails written while every reader's comment waits for the writers'
lock. The outbox's senders expand it after the commit (``expand_due``,
registered as an outbox producer), ``FAN_OUT_BATCH`` subscribers per
transaction, with a cursor in the row, so two senders never write one email
twice and no transaction is long. Each batch checks again that the comment is
on its page (``db.is_shown``): a comment unapproved meanwhile, or a reply
whose parent is not shown, is announced to no one. A comment is announced
once, whatever happens to it later; its author never gets an email about
their own comment (except "your comment is live", which they asked for).
A job older than the outbox's give-up time is dropped, not sent stale.

**Unsubscribing.** Every notification has a ``List-Unsubscribe`` URL and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), for the
subscriptions that caused it, and the same link plus one for everything in
its text (``subscription_pages``). The confirmation email has neither: it is
no list email (RFC 2369, 8058), just the answer to a request, and ignoring it
is already the way out: nothing more is sent and the address is forgotten.
RFC 8058 also asks that the message be DKIM-signed over those two fields:
that is the outgoing mail server's job (``SMTP_HOST``).

No Flask import: intake runs inside the comment's transaction and the
expansion in the outbox's sender thread; both get the app's config.
"""

import logging
from datetime import datetime, timedelta

from comments_service import db, outbox, registry, subscription_links
from comments_service.notify import SUBJECT_MAX, quoted
from comments_service.render import clean_line

log = logging.getLogger(__name__)

# The boxes of the comment form, by the kind of subscription each asks for.
KINDS = ("replies", "post", "live")
CONFIRMATION_EVERY = timedelta(days=1)
UNCONFIRMED_KEPT = timedelta(days=subscription_links.CONFIRM_MAX_AGE_DAYS)
# Subscribers told per transaction of a job's expansion, which holds the
# writers' lock meanwhile. Measured (a post with 10,000 confirmed subscribers,
# this project's shared 2-core machine): the approving decision 2.6 ms; the
# expansion 51 transactions, 29 ms each (median; 90 ms the longest), 1.7 s in all.
FAN_OUT_BATCH = 200
# The auto-approval rule (off unless AUTO_APPROVE_KNOWN_COMMENTERS).
AUTO_APPROVED_BY = "rule: previously approved commenter"
AUTO_APPROVED_REASON = "approved: previously approved commenter (confirmed email)"
# The outbox kinds of its emails (defined in db: unsubscribing drops unsent ones).
CONFIRM_KIND, NOTIFICATION_KIND = db.SUBSCRIPTION_EMAIL_KINDS
ASKED = {
    "replies": "replies to your comment",
    "post": "new comments on this post",
    "live": "an email when your comment is published",
}


def normalised(email):
    """An address as subscriptions key it: one line, trimmed, lower case."""
    return clean_line(email or "").strip().lower()


def site_name(config):
    return registry.load(config["SITE_DIR"]).get("site", {}).get("SITENAME") or "the blog"


# --- the moderation rule -----------------------------------------------------------


def auto_approval(config, database, email):
    """The reason to publish a comment from ``email`` at once, or None.

    Only with ``AUTO_APPROVE_KNOWN_COMMENTERS`` on, for an address that was
    confirmed (through a subscription) and has an approved comment. Call it
    only for a comment that no rule held or sent to spam."""
    if not config.get("AUTO_APPROVE_KNOWN_COMMENTERS") or not email:
        return None
    return AUTO_APPROVED_REASON if db.known_commenter(database, normalised(email)) else None


# --- intake: the request, with the comment -----------------------------------------


def intake(config, post, email, kinds, parent_id=None):
    """What ``db.add_submission`` runs in the comment's transaction to store a
    reader's request (``kinds``, of ``KINDS``) and, when due, enqueue the
    confirmation email; None when nothing was asked.

    Everything but the link is written before the transaction (it holds the
    writers' lock for every comment committed with it)."""
    address = normalised(email)
    kinds = [kind for kind in KINDS if kind in set(kinds)]
    if not kinds or not address:
        return None
    try:
        address = outbox.recipient(address)
    except ValueError:  # the form checked it: nothing to send to otherwise
        return None
    secret, site_url = config["SECRET_KEY"], config["SITE_URL"]
    subject, head, tail = confirmation_text(site_name(config), post, kinds)

    def store(database, comment_id):
        thread = parent_id or comment_id  # replies attach to the top-level comment
        targets = {"post": None, "replies": thread, "live": comment_id}
        wanted = [(kind, post["slug"], targets[kind]) for kind in kinds]
        now = outbox.utcnow()
        subscriber_id, send = db.request_subscriptions(
            database,
            address,
            wanted,
            now=outbox.iso(now),
            resend_before=outbox.iso(now - CONFIRMATION_EVERY),
        )
        if send:
            link = subscription_links.confirm_url(
                site_url, subscription_links.confirm_token(secret, subscriber_id)
            )
            outbox.enqueue(
                database, to=address, subject=subject, body=head + link + tail, kind=CONFIRM_KIND
            )

    return store


def confirmation_text(name, post, kinds):
    """The confirmation email's subject, and its body around the link."""
    subject = f"Confirm your email for comments on “{post['title']}”"[:SUBJECT_MAX]
    asked = "".join(f"- {ASKED[kind]}\n" for kind in kinds)
    head = (
        f"Someone, probably you, commented on “{post['title']}” at {name} and asked "
        f"for emails at this address:\n\n{asked}\n"
        "To start them, open this link and press Confirm:\n\n"
    )
    days = subscription_links.CONFIRM_MAX_AGE_DAYS
    tail = (
        f"\n\nThe link works for {days} days. If you did not ask for this, ignore this "
        "email: nothing else will be sent to this address, and it is forgotten "
        f"in {days} days.\n"
    )
    return subject, head, tail


# --- the fan-out: a comment's approval, one email per subscriber ---------------------


def expand_due(config, database, *, clock=outbox.utcnow):
    """Turn the notification jobs waiting into emails, and forget unconfirmed
    addresses whose time is up (an outbox producer: each sending pass)."""
    forget_unconfirmed(database, clock())
    jobs = db.notification_jobs_due(database)  # a read: idle passes take no lock
    if not jobs:
        return
    missing = [name for name in ("SITE_URL", "SECRET_KEY") if not config.get(name)]
    if missing:
        # The emails carry signed links to the site: the jobs wait until set,
        # and the other emails (the admin's) still go.
        log.error("%s not set: %d notification job(s) wait", " and ".join(missing), len(jobs))
        return
    posts = registry.load(config["SITE_DIR"])["by_slug"]
    letters = Letters(config)
    for job in jobs:
        while _expand_batch(config, database, job["id"], posts, letters, clock):
            pass


outbox.register_producer(expand_due)


def forget_unconfirmed(database, now):
    """Forget the requests of addresses not confirmed in ``UNCONFIRMED_KEPT``
    (each sending pass, and the daily `db purge-ip`, for a site without SMTP)."""
    return db.forget_unconfirmed(database, sent_before=outbox.iso(now - UNCONFIRMED_KEPT))


def _expand_batch(config, database, job_id, posts, letters, clock):
    """Write the emails of the job's next batch of subscribers, in one
    transaction; True while more remain."""
    with db.writing(database):
        job = db.get_notification_job(database, job_id)
        if job is None or job["done_at"]:
            return False  # another sender finished it
        comment = db.get_comment(database, job["comment_id"])
        post = posts.get(comment["post_slug"]) if comment else None
        if post is None or not db.is_shown(database, comment["id"]):
            db.drop_notification_job(database, job_id)
            return False
        now = clock()
        if now - datetime.fromisoformat(job["created_at"]) > outbox.give_up_after(config):
            db.finish_notification_job(database, job, now=outbox.iso(now))  # too late to tell
            return False
        recipients = db.subscribers_to_notify(
            database, job, comment, author_email=normalised(comment["email"]), limit=FAN_OUT_BATCH
        )
        parent = db.get_comment(database, comment["parent_id"]) if comment["parent_id"] else None
        for recipient in recipients:
            outbox.enqueue(
                database,
                **letters.notification(post, comment, parent, recipient),
                kind=NOTIFICATION_KIND,
            )
        if len(recipients) < FAN_OUT_BATCH:
            db.finish_notification_job(database, job, now=outbox.iso(now))
            return False
        db.advance_notification_job(database, job_id, recipients[-1]["subscriber_id"])
        return True


class Letters:
    """The notification emails, composed with one app's settings."""

    def __init__(self, config):
        self.secret = config["SECRET_KEY"]
        self.site_url = config["SITE_URL"].rstrip("/")
        self.name = site_name(config)

    def notification(self, post, comment, parent, recipient):
        """The email telling ``recipient`` (a row of ``db.subscribers_to_notify``)
        of ``comment``: to, subject, body and the RFC 8058 headers."""
        kinds = set(recipient["kinds"].split(","))
        ids = sorted({int(i) for i in recipient["subscription_ids"].split(",")})
        title, who = post["title"], comment["author_name"]
        comment_url = f"{self.site_url}{post['url']}#comment-{comment['id']}"
        everything = subscription_links.unsubscribe_url(
            self.site_url,
            subscription_links.unsubscribe_everything_token(
                self.secret, recipient["subscriber_id"]
            ),
        )
        if "live" in kinds:
            # Asked once, for this comment: the request is spent with this
            # email, so its one-click link stops everything else.
            subject = f"Your comment is live on “{title}”"
            lines = [
                f"Your comment on “{title}” has been approved: it is on the page now.",
                "",
                comment_url,
                "",
                "You asked for this email when you sent the comment; it is the only one about it.",
            ]
            these = None
        else:
            if "replies" in kinds:
                subject = f"New reply to your comment on “{title}”"
                intro = f"{who} replied to your comment on “{title}”:"
            else:
                subject = f"New comment on “{title}”"
                to = f" to {parent['author_name']}" if parent else ""
                intro = f"{who} {'replied' + to if parent else 'commented'} on “{title}”:"
            asked = " and ".join(ASKED[k] for k in ("replies", "post") if k in kinds)
            lines = [
                intro,
                "",
                quoted(comment["body"]),
                "",
                f"Read it and reply: {comment_url}",
                "",
                f"You get this email because you asked for {asked}.",
            ]
            these = subscription_links.unsubscribe_url(
                self.site_url, subscription_links.unsubscribe_token(self.secret, ids)
            )
            lines.append(f"Stop these emails: {these}")
        lines += [f"Stop every email from {self.name}: {everything}", ""]
        return {
            "to": recipient["email"],
            "subject": subject[:SUBJECT_MAX],
            "body": "\n".join(lines),
            "headers": {
                "List-Unsubscribe": f"<{these or everything}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        }


# --- what the pages need -------------------------------------------------------------


def described(subscriptions, posts):
    """Each subscription in words, for the reader's pages: "New comments on “Title”"."""
    words = {
        "post": "New comments on",
        "replies": "Replies to your comment on",
        "live": "An email when your comment is published on",
    }
    titles = {slug: post["title"] for slug, post in posts.items()}
    return [
        f"{words[s['kind']]} “{titles.get(s['post_slug'], s['post_slug'])}”" for s in subscriptions
    ]
