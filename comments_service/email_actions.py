"""Blueprint for the one-tap links in the admin's email (``/admin/act/<token>``).

The signed link is the authority, not a login: the admin is on a phone,
reading the email. So each link is scoped (``action_links``): one comment,
one action, the version of the comment the email showed, 7 days; and the
page it opens shows that comment and nothing else of the admin's.

GET changes nothing: it shows the comment and ONE button. Link scanners and
mail clients that fetch every URL of an email to check it (they do) must
never moderate. Pressing the button POSTs the same token; the decision goes
through ``db.moderate`` with the version from the token, inside the writers'
lock, as every decision does: a comment decided on meanwhile (another link of
the email, the queue) is left as it is and the page says who decided what.
Then the site is re-published as after a decision in the queue.

CSRF: the POST carries no session and needs none. A forged POST would have
to carry a valid token, which is unguessable and is itself the permission;
the same-origin check of the public forms (``same_origin``) is required too.

Answers: 200 with the button or the result; 400 for a link that is not ours
(tampered, cut short) or a form that does not match its link; 410 for an
expired or used link; 409 when someone else decided first. Never a traceback.
"""

from flask import Blueprint, current_app, render_template, request

from comments_service import action_links, db, publish, registry
from comments_service.extensions import csrf
from comments_service.moderation import ACTIONS, DECISION_DONE, Changed, when
from comments_service.render import display_comment
from comments_service.same_origin import refuse_cross_site_posts

bp = Blueprint("email_actions", __name__, url_prefix=action_links.ACTION_PATH.rstrip("/"))
bp.before_request(refuse_cross_site_posts)

# Who the decisions record: the email's link, not an admin account.
DECIDED_BY = "email link"
QUESTIONS = {
    "approve": "Approve this comment?",
    "spam": "Mark this comment as spam?",
    "trash": "Move this comment to the trash?",
}


@bp.after_request
def private_page(response):
    # The URL is the permission: keep it out of caches and search engines.
    # Its Referer goes to this site only (the admin's "same-origin" policy,
    # security.py), never to a link in the comment; not "no-referrer", with
    # which browsers send "Origin: null" and the button's POST would fail the
    # same-origin check.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


class Answer(Exception):
    """A page that ends the request early: a bad, expired or used link."""

    def __init__(self, status, title, message, comment_id=None):
        super().__init__(title)
        self.status, self.title, self.message, self.comment_id = status, title, message, comment_id


@bp.errorhandler(Answer)
def answer(exc):
    return page(exc.status, title=exc.title, message=exc.message, comment_id=exc.comment_id)


def page(status=200, **context):
    site_url = current_app.config["SITE_URL"]
    comment_id = context.get("comment_id")
    return render_template(
        "admin/email_action.html",
        admin_url=f"{site_url.rstrip('/')}/admin/",
        comment_admin_url=comment_id and action_links.comment_url(site_url, comment_id),
        **context,
    ), status


def read_link(token):
    """The link a token carries, or an ``Answer`` (400 or 410)."""
    config = current_app.config
    try:
        return action_links.read_token(
            config["SECRET_KEY"], token, action_links.max_age_seconds(config)
        )
    except action_links.BadLink:
        raise Answer(
            400,
            "This link does not work",
            "It is not a link this site sent, or your mail program cut it short. "
            "You can decide on the comment in the admin.",
        ) from None
    except action_links.ExpiredLink as expired:
        days = action_links.max_age_seconds(config) / 86400
        raise Answer(
            410,
            "This link has expired",
            f"The links in the email work for {days:g} days. "
            "You can still decide on the comment in the admin.",
            expired.link.comment_id,
        ) from None


def refusal(link, refused):
    """The page for a link whose comment moved on since the email (an ``Answer``)."""
    decision = getattr(refused, "decision", None)
    if isinstance(refused, Changed) and decision and decision["by"] == DECIDED_BY:
        done = DECISION_DONE.get(decision["action"], decision["action"])
        return Answer(
            410,
            "This link has been used",
            f"The comment was {done} from the email {when(decision['at'])}. "
            "The links of an email work once.",
            link.comment_id,
        )
    return Answer(
        409,
        "Nothing changed",
        f"{refused.verb}: {refused.why('reading the email')}.",
        link.comment_id,
    )


def moved_on(link, comment):
    """The refusal if ``comment`` is no longer the version the link was made for."""
    if comment is not None and comment["version"] == link.version:
        return None
    decisions = db.decisions_for(db.get_db(), link.comment_id)
    return refusal(link, Changed(decisions[-1] if decisions else None))


def comment_view(comment):
    """The comment as the page shows it: the reader's view and why it was held,
    not the admin's other data (the link may be opened by anyone holding it)."""
    post = registry.posts_by_slug().get(comment["post_slug"])
    return {
        **display_comment(comment),
        "reason": comment["reason"],
        "post_title": post["title"] if post else comment["post_slug"],
        "post_url": post_url(post),
    }


def post_url(post):
    return post and current_app.config["SITE_URL"].rstrip("/") + post["url"]


@bp.get("/<token>")
def confirm(token):
    """The comment and ONE button; changes nothing (link scanners fetch this)."""
    link = read_link(token)
    comment = db.get_comment(db.get_db(), link.comment_id)
    refused = moved_on(link, comment)
    if refused:
        raise refused
    return page(
        title=QUESTIONS[link.action],
        link=link,
        comment=comment_view(comment),
        comment_id=link.comment_id,
    )


@bp.post("/<token>")
@csrf.exempt  # no session to bind a token to: the link is the token (module docstring)
def act(token):
    """Carry out the link's action, if the comment is still as the email showed it."""
    link = read_link(token)
    if request.form.get("action") != link.action:
        raise Answer(
            400,
            "This button does not belong to this link",
            f"This link can only {ACTIONS[link.action].label.lower()} the comment. "
            "Open the link from the email again.",
            link.comment_id,
        )
    report = db.moderate(db.get_db(), link.action, {link.comment_id: link.version}, by=DECIDED_BY)
    [outcome] = report.outcomes
    if not outcome.done:
        raise refusal(link, outcome.refused)
    problem = publish.publish_decision(current_app.config, report.changed_posts)
    comment = db.get_comment(db.get_db(), link.comment_id)
    post = registry.posts_by_slug().get(comment["post_slug"])
    return page(
        title=f"{ACTIONS[link.action].done.capitalize()}.",
        done=link.action,
        post_title=post["title"] if post else comment["post_slug"],
        post_url=post_url(post),
        problem=problem,
        comment_id=link.comment_id,
    )
