"""Blueprint for the links in readers' notification emails (``/comments/subscriptions/``).

As with the admin's one-tap links (``email_actions``), the signed link is the
permission (``subscription_links``), and opening one changes nothing: mail
programs and link scanners fetch every URL of an email. A GET shows a page
with ONE button; pressing it POSTs the same URL, which acts.

* ``confirm/<token>``: the address's double opt-in. Its POST comes from our
  own page, so it passes the same-origin check of the public forms
  (``same_origin``); it needs no session, hence no CSRF token.
* ``unsubscribe/<token>``: also the ``List-Unsubscribe`` URL of every
  notification. RFC 8058's one-click unsubscribe is a POST to it, with the
  body ``List-Unsubscribe=One-Click``, sent by the reader's mail provider,
  with no cookie and no Origin of ours: so this POST skips the same-origin
  check (and CSRF). That is safe because all it can ever do is stop emails,
  and only those its unforgeable link names. It answers 200 with the page,
  never a redirect. Unsubscribing twice is no error.

Answers: 200; 400 for a link that is not ours (tampered, cut short); 410 for
an expired confirmation link or an address no longer stored. Never a traceback.
"""

from flask import Blueprint, current_app, render_template

from comments_service import db, outbox, registry, subscription_links, subscriptions
from comments_service.extensions import csrf
from comments_service.same_origin import refuse_cross_site_posts

bp = Blueprint("subscriptions", __name__, url_prefix=subscription_links.PREFIX)


@bp.after_request
def private_page(response):
    # The URL is the permission: out of caches and search engines, and its
    # Referer stays on this site.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


class Answer(Exception):
    """A page that ends the request early: a bad or expired link."""

    def __init__(self, status, title, message):
        super().__init__(title)
        self.status, self.title, self.message = status, title, message


@bp.errorhandler(Answer)
def answer(exc):
    return page(exc.status, title=exc.title, message=exc.message)


def page(status=200, **context):
    return render_template("comments/subscription.html", **context), status


BAD_LINK = Answer(
    400,
    "This link does not work",
    "It is not a link this site sent, or your mail program cut it short. "
    "Copy the whole link from the email into your browser.",
)
GONE = Answer(
    410,
    "This request is no longer stored",
    "Unconfirmed requests are forgotten after "
    f"{subscription_links.CONFIRM_MAX_AGE_DAYS} days, and unsubscribing forgets them too. "
    "To get notifications, tick a box when you next comment.",
)


def asked_for(subscriber_id=None, subscription_ids=None):
    rows = db.subscriptions_of(
        db.get_db(), subscriber_id=subscriber_id, subscription_ids=subscription_ids
    )
    return subscriptions.described(rows, registry.posts_by_slug())


# --- confirming an address --------------------------------------------------------


def confirming(token):
    """The subscriber row a confirmation link names, or an ``Answer``."""
    secret = current_app.config["SECRET_KEY"]
    try:
        subscriber_id = subscription_links.read_confirm_token(secret, token)
    except subscription_links.BadToken:
        raise BAD_LINK from None
    except subscription_links.ExpiredToken:
        raise Answer(
            410,
            "This link has expired",
            f"Confirmation links work for {subscription_links.CONFIRM_MAX_AGE_DAYS} days. "
            "To get notifications, tick a box when you next comment.",
        ) from None
    subscriber = db.get_subscriber(db.get_db(), subscriber_id)
    if subscriber is None:
        raise GONE
    return subscriber


@bp.get("/confirm/<token>")
def confirm_page(token):
    """What the address will get, and ONE button; changes nothing."""
    subscriber = confirming(token)
    if subscriber["confirmed_at"]:
        return page(title="Your email is confirmed", asked=asked_for(subscriber["id"]))
    return page(
        title="Confirm your email",
        asked=asked_for(subscriber["id"]),
        button="Confirm",
        note="Nothing is sent to this address until you press Confirm.",
    )


@bp.post("/confirm/<token>")
@csrf.exempt  # no session to bind a token to: the link is the token
def confirm(token):
    refused = refuse_cross_site_posts()
    if refused is not None:
        return refused
    subscriber = confirming(token)
    db.confirm_subscriber(db.get_db(), subscriber["id"], now=outbox.iso(outbox.utcnow()))
    return page(
        title="Your email is confirmed",
        asked=asked_for(subscriber["id"]),
        done="You will get an email when something you asked for happens. "
        "Every email has a link to stop them.",
    )


# --- unsubscribing -------------------------------------------------------------------


def unsubscribing(token):
    try:
        return subscription_links.read_unsubscribe_token(current_app.config["SECRET_KEY"], token)
    except subscription_links.BadToken:
        raise BAD_LINK from None


def remaining(link):
    """What the link would still stop, in words (empty: nothing left)."""
    if link.everything:
        subscriber = db.get_subscriber(db.get_db(), link.subscriber_id)
        return (asked_for(link.subscriber_id) or ["Every email"]) if subscriber else []
    return asked_for(subscription_ids=link.subscription_ids)


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token):
    """What the link stops, and ONE button; changes nothing (scanners fetch it)."""
    link = unsubscribing(token)
    asked = remaining(link)
    if not asked:
        return page(title="You are unsubscribed", done="No more of these emails will be sent.")
    name = subscriptions.site_name(current_app.config)
    return page(
        title=f"Stop every email from {name}?" if link.everything else "Stop these emails?",
        asked=asked,
        button="Unsubscribe",
        one_click=True,
    )


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058: the mail provider's POST has no session (module docstring)
def unsubscribe(token):
    """Unsubscribe: from the page's button, or a mail provider's one-click POST."""
    link = unsubscribing(token)
    db.unsubscribe(
        db.get_db(), subscription_ids=link.subscription_ids, subscriber_id=link.subscriber_id
    )
    if link.everything:
        done = "This address gets no more emails from us, and its subscriptions are forgotten."
    else:
        done = "No more of these emails will be sent."
    return page(title="You are unsubscribed", done=done)
