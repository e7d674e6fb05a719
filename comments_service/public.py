"""Blueprint for readers: comment submission and its no-JavaScript pages.

CSRF design. The comment form lives on cached static pages, so it cannot
carry a per-session token (readers have no session, and we set no cookie on
them). Instead every POST here must come from our own origin, checked by
``same_origin.refuse_cross_site_posts`` (see that module for why this is
sound). Admin forms, which have sessions, use flask-wtf tokens.

A valid comment is stored as ``pending``; its text is shown to nobody until
the admin approves it. With ``Accept: application/json`` the answers are
202 / 400 / 403 / 404 / 429 / 503 JSON for the page's script; otherwise HTML
pages in the site's look.

A submission is stored once however often it is sent: a retry (the reader's
connection dropped after we stored it) gets the same answer as the first
time and no second row; see ``submission_keys`` for how a retry is
recognised. With the disk full nothing is stored: 503 with ``Retry-After``,
JSON for the script, else the form again with everything typed in it.
"""

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from comments_service import db, publish, registry, rules, submission_keys, subscriptions
from comments_service.errors import MESSAGES, RETRY_LATER, error_response, wants_json
from comments_service.extensions import csrf, limiter
from comments_service.forms import MAX_ID, CommentForm
from comments_service.notify import new_comment_email
from comments_service.render import display_comment
from comments_service.same_origin import refuse_cross_site_posts

bp = Blueprint("public", __name__, url_prefix="/comments")

CONFIRMATION = "Thank you! Your comment is awaiting approval and will appear once it is approved."
PUBLISHED = "Thank you! Your comment is published."
# The same words whatever the address's state (unknown, waiting, confirmed):
# the answer must tell nobody whether an address is subscribed already.
NOTIFICATIONS = (
    "For the emails you asked for, confirm your address with the link we send it "
    "(at most one email a day; none if it is confirmed already). "
    "Nothing else is sent to it before that."
)

bp.before_request(refuse_cross_site_posts)


def comment_rate_limit():
    return current_app.config["COMMENT_RATE_LIMIT"]


def counts_against_the_limit(response):
    # Only comments stored count: neither a reader fixing a typo after an
    # error nor the retry of a comment already stored is throttled.
    return response.status_code in (202, 303) and not g.get("repeated_submission")


@bp.post("/")
@csrf.exempt  # cached static pages carry no token: see the module docstring
@limiter.limit(comment_rate_limit, deduct_when=counts_against_the_limit)
def submit():
    form = CommentForm(request.form)
    post = registry.find_post(form.post_slug.data or "")
    if post is None:
        return error_response(404, "This post does not exist, so it cannot take comments.")
    if not registry.accepts_comments(post):
        return error_response(403, "Comments are closed for this post.")

    parent = None
    valid = form.validate()
    if valid and form.parent_id.data:
        parent = db.approved_parent(db.get_db(), form.parent_id.data, post["slug"])
        if parent is None:
            form.body.errors = ["The comment you are replying to is not available."]
            valid = False
    if not valid:
        if wants_json():
            return jsonify(errors=form.first_errors()), 400
        return form_page(
            form, post, 400, title="Please check your comment", errors=form.first_errors()
        )

    ip_hash = db.hash_ip(current_app.config["SECRET_KEY"], request.remote_addr)
    fields = dict(
        post_slug=post["slug"],
        author_name=form.name.data,
        email=form.email.data or "",
        website=form.website.data or "",
        body=form.body.data,
        parent_id=parent["id"] if parent else None,
        ip_hash=ip_hash,
    )
    if form.homepage.data:
        # A bot filled the hidden field. Keep it out of the queue (spam is
        # reversible if a person was wrong-footed) and answer as usual so
        # the bot learns nothing.
        status, reason = "spam", "honeypot filled"
    else:
        # The built-in checks and the admin's rules (comments_service/rules.py).
        status, reason = rules.judge(
            rules.current(db.get_db()),
            author_name=fields["author_name"],
            email=fields["email"],
            website=fields["website"],
            body=fields["body"],
            ip_hash=ip_hash,
        )
    decided_by = None
    if status == "pending" and reason is None:  # never what a rule held or set aside
        approved = subscriptions.auto_approval(current_app.config, db.get_db(), fields["email"])
        if approved:
            status, reason, decided_by = "approved", approved, subscriptions.AUTO_APPROVED_BY
    notice = asked = None
    if status == "pending":
        notice = new_comment_email(current_app.config, post, {**fields, "reason": reason})
    if status != "spam":  # a bot's request would only mail its victims
        asked = subscriptions.intake(
            current_app.config, post, fields["email"], form.notifications(), fields["parent_id"]
        )
    keys = submission_keys.keys_for(fields, form.submission_key.data)
    try:
        submission = db.add_submission(
            db.get_db(),
            submission_keys=keys,
            **fields,
            status=status,
            reason=reason,
            decided_by=decided_by,
            # The admin's email and the reader's request (and its confirmation
            # email) are written in the comment's transaction: stored together
            # or not at all (notify.py, subscriptions.py, outbox.py); none for a retry.
            on_stored=in_order(notice, asked),
        )
    except db.DiskFull:
        if wants_json():
            return jsonify(error=MESSAGES[503]), 503, RETRY_LATER
        response = form_page(
            form, post, 503, title="Your comment could not be saved yet", problem=MESSAGES[503]
        )
        response.headers.update(RETRY_LATER)
        return response
    g.repeated_submission = not submission.is_new
    published = status == "approved"
    if published and submission.is_new:
        # Saved whatever happens here; a failed publish is retried in the background.
        publish.publish_decision(current_app.config, {post["slug"]})
    notify = bool(form.notifications())
    if wants_json():
        message = thanks_message(published, notify)
        return jsonify(status=status if published else "pending", message=message), 202
    thanks_args = {"published": 1} if published else {}
    if notify:
        thanks_args["notify"] = 1
    return redirect(url_for(".thanks", post=post["slug"], **thanks_args), 303)


def in_order(*callbacks):
    """One ``on_stored`` callback running the given ones (None skipped) in order."""
    callbacks = [callback for callback in callbacks if callback is not None]
    if not callbacks:
        return None

    def run(database, comment_id):
        for callback in callbacks:
            callback(database, comment_id)

    return run


def thanks_message(published, notify):
    message = PUBLISHED if published else CONFIRMATION
    return f"{message} {NOTIFICATIONS}" if notify else message


def form_page(form, post, status, *, title, errors=None, problem=None):
    """The form on a page of its own, with what the reader typed, for another try."""
    return fresh_form_page(
        render_template(
            "comments/form_page.html",
            post=post,
            parent=parent_for_display(form.parent_id.data, post),
            values=form.values(),
            errors=errors or {},
            problem=problem,
            title=title,
            # The key of this attempt, if it had one: sending again is a retry.
            submission_key=form.submission_key.data or submission_keys.new_client_key(),
        ),
        status,
    )


def fresh_form_page(html, status=200):
    # The page carries a submission key of its own: a stored copy shown to
    # someone else would give them the same key.
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def parent_for_display(parent_id, post):
    """The approved comment a reply answers, as the static page shows it, or None."""
    if not parent_id or not 0 < parent_id <= MAX_ID:  # beyond SQLite's range: none
        return None
    parent = db.approved_parent(db.get_db(), parent_id, post["slug"])
    return display_comment(parent) if parent else None


@bp.get("/thanks")
def thanks():
    """The submitter's confirmation (no-JS path). Shows no comment text at all."""
    post = registry.find_post(request.args.get("post", ""))
    message = thanks_message(bool(request.args.get("published")), bool(request.args.get("notify")))
    return render_template("comments/thanks.html", post=post, message=message)


# Beyond SQLite's integer range there is no such comment: 404.
@bp.get(f"/reply/<int(max={MAX_ID}):comment_id>")
def reply(comment_id):
    """The form to answer an approved comment, for readers without JavaScript."""
    comment = db.get_comment(db.get_db(), comment_id)
    post = registry.find_post(comment["post_slug"]) if comment else None
    if post is None or comment["status"] != "approved" or not registry.accepts_comments(post):
        abort(404)
    return fresh_form_page(
        render_template(
            "comments/form_page.html",
            post=post,
            parent=parent_for_display(comment_id, post),
            values={"parent_id": comment_id},
            errors={},
            title=f"Reply to {comment['author_name']}",
            submission_key=submission_keys.new_client_key(),
        )
    )
