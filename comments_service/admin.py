"""Blueprint for the admin: log in, work through the queue, publish decisions.

Every form here carries a flask-wtf CSRF token. A decision that changes what
readers see (approve, unapprove, edit, spam or trash of an approved comment,
delete, author reply) re-publishes the site before the answer, so the admin
sees the result live; if that build fails the decision is kept, the live site
stays as it was, and the admin is told.
"""

import functools
import time
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.security import check_password_hash

from comments_service import db, moderation, outbox, publish, registry, rules
from comments_service.errors import MESSAGES, RETRY_LATER
from comments_service.extensions import LoginThrottle
from comments_service.forms import (
    MAX_ID,
    EditCommentForm,
    ListFilterForm,
    LoginForm,
    ModerationForm,
    ReplyForm,
    RuleForm,
    position_text,
)
from comments_service.moderation import ACTIONS, ADDRESS_RULE, RULE_KINDS, RULE_OUTCOMES, VIEWS
from comments_service.render import clean_line, display_comment

bp = Blueprint("admin", __name__, url_prefix="/admin")
LOGIN_FAILED = "Invalid username or password."
LOGIN_THROTTLED = "Too many failed attempts from your address. Please wait a minute and try again."
# Checked when the username is unknown, so that a wrong username takes as
# long as a wrong password and the answer does not reveal which was wrong.
_DUMMY_HASH = None


@bp.before_request
def load_logged_in_admin():
    admin_id = session.get("admin_id")
    admin = db.get_admin(db.get_db(), admin_id=admin_id) if admin_id else None
    # A session from before the last logout (or password change) is dead.
    alive = admin and session.get("v") == admin["session_version"] and not session_expired()
    g.admin = admin if alive else None


def clock():
    """Seconds since the epoch, for the login's age (the tests move it)."""
    return time.time()


def session_lifetime(remembered):
    """How long a login lasts: ``PERMANENT_SESSION_LIFETIME`` (30 days) with
    "Remember me", else ``ADMIN_SESSION_HOURS`` (12)."""
    if remembered:
        lifetime = current_app.permanent_session_lifetime
    else:
        lifetime = timedelta(hours=float(current_app.config["ADMIN_SESSION_HOURS"]))
    return lifetime.total_seconds()


def session_expired():
    """True once the login is older than its lifetime, counted from the login.

    Flask checks a cookie's signature against PERMANENT_SESSION_LIFETIME
    only, and a browser that restores its tabs keeps a "session" cookie for
    ever: the login time inside the cookie bounds both kinds."""
    since = session.get("since")
    if not isinstance(since, int | float):
        return True
    return clock() - since > session_lifetime(session.permanent)


@bp.after_request
def never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def login_required(view):
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.admin is None:
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        return view(**kwargs)

    return wrapped


def safe_next(target):
    """Only a path inside /admin/ of this site: never an open redirect."""
    # A control character (CR/LF) would split the Location header: ignore it.
    if any(ord(c) < 32 or ord(c) == 127 for c in target or ""):
        return url_for("admin.queue")
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin/"):
        return url_for("admin.queue")
    return target


def login_username():
    return (request.form.get("username") or "").strip().lower()


def password_matches(admin, password):
    global _DUMMY_HASH
    if admin is None:
        if _DUMMY_HASH is None:
            from werkzeug.security import generate_password_hash

            _DUMMY_HASH = generate_password_hash("x", method=current_app.config["PASSWORD_HASH"])
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(admin["password_hash"], password)


@bp.record_once
def create_login_throttle(state):
    """One throttle per app (its counters: see ``LoginThrottle``)."""
    config = state.app.config
    state.app.extensions["login_throttle"] = LoginThrottle(
        pair_limit=config["LOGIN_RATE_LIMIT"],
        address_limit=config.get("LOGIN_ADDRESS_RATE_LIMIT", "20 per minute"),
    )


def client_address():
    # The peer, or the client nginx saw when TRUSTED_PROXIES lets ProxyFix say so.
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    throttle = current_app.extensions["login_throttle"]
    throttled = request.method == "POST" and current_app.config["RATELIMIT_ENABLED"]
    username, address = login_username(), client_address()
    if throttled and (wait := throttle.retry_after(username, address)):
        # Refused before the password is even looked at, so a refused guess
        # learns nothing; the form comes back with the username typed.
        flash(LOGIN_THROTTLED, "error")
        page = render_template("admin/login.html", form=form)
        return page, 429, {"Retry-After": str(max(1, round(wait)))}
    if form.validate_on_submit():
        if throttled:
            # Before the check, so a guess spread over many addresses is slowed
            # without ever locking out the admin's own address.
            throttle.slow_down(username)
        admin = db.get_admin(db.get_db(), username=username)
        if password_matches(admin, form.password.data):
            throttle.succeeded(username, address)
            session.clear()
            session["admin_id"] = admin["id"]
            session["v"] = admin["session_version"]
            session["since"] = int(clock())
            # Ticked: a cookie that outlives the browser, for 30 days; else
            # one the browser drops when it closes.
            session.permanent = bool(form.remember.data)
            return redirect(safe_next(request.args.get("next")), 303)
        if throttled:
            throttle.failed(username, address)
        flash(LOGIN_FAILED, "error")
        return render_template("admin/login.html", form=form), 401
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Log out everywhere: every session of this admin ends, on every browser.

    The only logout, on purpose: sessions are signed cookies, so one that
    ended only here would leave any copy of it valid for up to 30 days
    ("Remember me"); and the phone's one-tap email links need no session,
    so logging the other browsers out costs little."""
    if ModerationForm().validate_on_submit():
        db.end_sessions(db.get_db(), g.admin["id"])
        session.clear()
        flash("You are logged out, on every browser.", "info")
    return redirect(url_for("admin.login"), 303)


def for_display(comment, posts):
    """The one view of a comment (``render.display_comment``), with its post."""
    post = posts.get(comment["post_slug"])
    return {
        **display_comment(comment, private=True),
        "post_title": post["title"] if post else comment["post_slug"],
        "post_url": post["url"] if post else None,
    }


@bp.context_processor
def moderation_vocabulary():
    # The templates draw their buttons from the one transition table.
    return {"buttons_for": moderation.buttons}


def render_admin(template, **context):
    """An admin page, with the counts per status its navigation shows."""
    return render_template(
        template,
        counts=db.counts_by_status(db.get_db()),
        views=VIEWS,
        site_state=publish.site_state(current_app.config),
        mail_notice=outbox.admin_notice(current_app.config, db.get_db()),
        **context,
    )


# The query parameters of a status view (ListFilterForm), the only ones its
# links and the redirect after a decision carry.
LIST_PARAMS = ("q", "post", "order", "after", "before")
PARAM_MAX = 300  # longer than any valid value (SEARCH_MAX, a slug, a position)


def list_url(status, params=None):
    """The address of a status view with ``params``: built here, never copied
    from the request, so it cannot point anywhere else."""
    params = {k: v for k, v in (params or {}).items() if k in LIST_PARAMS and v}
    if status == "pending":
        return url_for("admin.queue", **params)
    return url_for("admin.status_view", status=status, **params)


def return_url(status, query):
    """Where a decision sends the admin back: the view, filters and page they were on."""
    if status not in VIEWS:
        status = "pending"
    params = {}
    for name, value in parse_qsl(query):
        if len(value) <= PARAM_MAX:  # keeps the Location header short
            params.setdefault(name, value)  # the first, as the view itself reads it
    return list_url(status, params)


def render_list(status):
    """One page of a status view, as the filters in the query string ask.

    It reads at most one page of comments (db.PAGE_SIZE) and renders only
    those, whatever the number waiting. Parameters that make no sense (a
    broken page link, a post that is not on the site) get a 400 page that
    says so and keeps the form as typed.
    """
    posts = registry.posts_by_slug()
    filters = ListFilterForm(request.args)
    filters.offer_posts(posts)
    valid = filters.validate()
    page = db.Page([])
    if valid:
        page = db.comments_page(
            db.get_db(),
            status,
            newest_first=filters.order.data == "newest",
            post_slug=filters.post.data or None,
            search=filters.q.data or None,
            after=filters.after.data,
            before=filters.before.data,
        )
    chosen = filters.chosen()
    links = {
        "plain": list_url(status),
        "first": list_url(status, chosen),
        "previous": page.previous
        and list_url(status, {**chosen, "before": position_text(page.previous)}),
        "next": page.next and list_url(status, {**chosen, "after": position_text(page.next)}),
    }
    shown = {**chosen, "after": request.args.get("after"), "before": request.args.get("before")}
    html = render_admin(
        "admin/list.html",
        status=status,
        comments=with_senders(page.comments, [for_display(c, posts) for c in page.comments]),
        form=ModerationForm(),
        filters=filters,
        filtered=bool(chosen),
        paged=bool(filters.after.data or filters.before.data),
        links=links,
        # The page as it is, for the redirect after a decision (return_url).
        return_query=urlencode({k: v for k, v in shown.items() if v}) if valid else "",
    )
    return html, 200 if valid else 400


@bp.get("/")
@login_required
def queue():
    db.forget_old_ip_hashes(db.get_db())
    return render_list("pending")


@bp.get("/<any(approved, spam, trash):status>")
@login_required
def status_view(status):
    return render_list(status)


def republish(changed_posts):
    """Rebuild the site when readers' pages changed; tell the admin if it failed."""
    reason = publish.publish_decision(current_app.config, changed_posts)
    if reason:
        flash(
            f"Saved, but the site is not updated: {reason}. It is retried automatically; "
            "the banner above says when the site has caught up.",
            "error",
        )


def admin_name():
    return g.admin["username"]


def seen_versions(ids):
    """id -> the version of it the admin's page showed (hidden ``seen-<id>`` fields).

    A missing one is None (refused per comment by ``db.moderate``); one that is
    not a number is a form no page of ours sends: 400."""
    seen = {}
    for comment_id in ids:
        raw = request.form.get(f"seen-{comment_id}")
        if raw is None:
            seen[comment_id] = None
        elif raw.isascii() and raw.isdigit() and len(raw) <= 19:
            seen[comment_id] = int(raw)
        else:
            abort(400)
    return seen


# A bulk report names each comment by number and name; names are cut short
# and the comments named counted, so that the report fits in the session
# cookie it travels in, whatever a forged form sends.
REPORT_NAME_MAX = 24
REPORT_NAMED_MAX = 100


def short_label(outcome):
    name = outcome.author_name
    if len(name) > REPORT_NAME_MAX:
        name = name[: REPORT_NAME_MAX - 1] + "…"
    return f"#{outcome.comment_id}" + (f" {name}" if name else "")


def report_items(outcomes):
    """One line per comment done, or per reason refused naming its comments."""
    named, rest = outcomes[:REPORT_NAMED_MAX], len(outcomes) - REPORT_NAMED_MAX
    if named[0].done:
        items = [short_label(o) for o in named]
    else:
        by_reason = {}
        for outcome in named:
            by_reason.setdefault(outcome.refused.why(), []).append(short_label(outcome))
        items = [f"{why[:1].upper()}{why[1:]}: {', '.join(ids)}." for why, ids in by_reason.items()]
    return items + ([f"And {rest} more."] if rest > 0 else [])


def flash_report(action, report, bulk):
    """Tell the admin what became of each comment: done, or not changed and why."""
    done, refused = report.done, report.refused
    if done:
        text = f"{len(done)} comment{'s' if len(done) != 1 else ''} {action.done}."
        flash({"text": text, "items": report_items(done)} if bulk else text, "info")
    if refused and not bulk:
        flash(str(refused[0].refused), "error")
    elif refused:
        text = f"{len(refused)} comment{'s' if len(refused) != 1 else ''} not changed:"
        flash({"text": text, "items": report_items(refused)}, "error")


@bp.post("/moderate")
@login_required
def moderate():
    """One button (``action=approve:ID``) or a bulk action on the ticked ids.

    Each id comes with the version the admin's page showed (``seen-ID``);
    ``db.moderate`` refuses, inside the write transaction, whatever changed
    since or whatever the comment's status does not allow."""
    form = ModerationForm()
    back_url = return_url(request.form.get("view"), request.form.get("query", ""))
    if not form.validate_on_submit():
        abort(400)
    single = request.form.get("action", "")
    if single:
        action, _, raw_id = single.partition(":")
        ids = [raw_id]
    else:
        action = request.form.get("bulk", "")
        ids = request.form.getlist("ids")
    try:
        ids = [int(i) for i in ids]
    except ValueError:
        abort(400)
    if any(not 0 < i <= MAX_ID for i in ids):
        abort(400)  # no comment has such an id, and SQLite cannot even compare it
    if not ids:
        flash("Select at least one comment first.", "error")
        return redirect(back_url, 303)
    if action not in ACTIONS:
        abort(400)
    report = db.moderate(db.get_db(), action, seen_versions(ids), by=admin_name())
    flash_report(ACTIONS[action], report, bulk=not single)
    republish(report.changed_posts)
    return redirect(back_url, 303)


def get_comment_or_404(comment_id):
    comment = db.get_comment(db.get_db(), comment_id)
    if comment is None:
        abort(404)
    return comment


def status_url(status):
    return (
        url_for("admin.queue")
        if status == "pending"
        else url_for("admin.status_view", status=status)
    )


@bp.route(f"/comments/<int(max={MAX_ID}):comment_id>/edit", methods=["GET", "POST"])
@login_required
def edit(comment_id):
    """Edit a comment's name and text; the form carries the version it was loaded at."""
    comment = db.get_comment(db.get_db(), comment_id)
    if comment is None and request.method == "GET":
        abort(404)
    # ``seen`` only from the posted form: a default here would fill in the
    # version of now for a form that did not send one.
    form = EditCommentForm(data=comment)
    if form.validate_on_submit():
        report = db.edit_comment(
            db.get_db(),
            comment_id,
            author_name=form.author_name.data,
            body=form.body.data,
            by=admin_name(),
            seen=form.seen.data,
        )
        [outcome] = report.outcomes
        if outcome.done:
            flash("Comment saved.", "info")
            republish(report.changed_posts)
            return redirect(status_url(comment["status"]), 303)
        # Decided, edited or erased meanwhile: keep what the admin typed, show
        # the comment as it is now, and let a second Save be a choice.
        flash(
            f"Not saved: {outcome.refused.why('editing')}. Your text is still in the form.", "error"
        )
        comment = db.get_comment(db.get_db(), comment_id)
        return edit_page(form, comment, seen=comment and comment["version"]), 409
    return edit_page(
        form, comment, seen=form.seen.data if form.is_submitted() else comment["version"]
    )


def edit_page(form, comment, seen):
    comment = comment and for_display(comment, registry.posts_by_slug())
    return render_admin("admin/edit.html", form=form, comment=comment, seen=seen)


@bp.route(f"/comments/<int(max={MAX_ID}):comment_id>/reply", methods=["GET", "POST"])
@login_required
def reply(comment_id):
    comment = db.get_comment(db.get_db(), comment_id)
    if request.method == "GET" and (comment is None or comment["status"] != "approved"):
        abort(404)
    form = ReplyForm()
    if form.validate_on_submit():
        author = registry.current().get("site", {}).get("AUTHOR") or admin_name()
        report = db.add_author_reply(
            db.get_db(),
            comment_id,
            author_name=clean_line(author),
            body=form.body.data,
            by=admin_name(),
        )
        [outcome] = report.outcomes
        if outcome.done:
            flash("Your reply is published.", "info")
            republish(report.changed_posts)
            return redirect(url_for("admin.status_view", status="approved"), 303)
        flash(
            f"Not published: {outcome.refused.why('writing')}. Your reply is still in the form.",
            "error",
        )
        comment = db.get_comment(db.get_db(), comment_id)
        return reply_page(form, comment), 409
    return reply_page(form, comment)


@bp.get(f"/comments/<int(max={MAX_ID}):comment_id>")
@login_required
def show_comment(comment_id):
    """One comment with its buttons: where the admin's email links to."""
    comment = get_comment_or_404(comment_id)
    return render_admin(
        "admin/comment.html",
        comment=for_display(comment, registry.posts_by_slug()),
        status=comment["status"],
        form=ModerationForm(),
    )


def reply_page(form, comment):
    comment = comment and for_display(comment, registry.posts_by_slug())
    return render_admin("admin/reply.html", form=form, comment=comment)


@bp.get("/stats")
@login_required
def stats():
    """Views per post over the last 30 days: a bar chart drawn on the server, and a table."""
    views = db.views_since(db.get_db(), days=30)
    rows = sorted(
        (
            {"title": p["title"], "url": p["url"], "views": views.get(p["slug"], 0)}
            for p in registry.current()["posts"]
        ),
        key=lambda row: (-row["views"], row["title"]),
    )
    return render_admin(
        "admin/stats.html",
        rows=rows,
        most=max([row["views"] for row in rows] + [1]),
        total=sum(row["views"] for row in rows),
        status="stats",
    )


# --- intake rules (comments_service/rules.py) --------------------------------


def with_senders(rows, shown):
    """Each shown comment with ``sender``: None when its sender's address is
    not known (forgotten after 30 days, an import, the author), else the
    address rule on it, if any (``{"rule": ...}``). The address itself, or
    its hash, never reaches the page: the buttons name the comment."""
    ruleset = rules.current(db.get_db())
    for row, comment in zip(rows, shown, strict=True):
        known = bool(row.get("ip_hash"))
        comment["sender"] = {"rule": ruleset.address_rule(row["ip_hash"])} if known else None
    return shown


@bp.context_processor
def rules_vocabulary():
    return {
        "rule_kinds": RULE_KINDS,
        "rule_outcomes": RULE_OUTCOMES,
        "shown_pattern": rules.shown_pattern,
    }


def render_rules(form, status=200):
    all_rules = db.all_rules(db.get_db())
    page = render_admin(
        "admin/rules.html",
        form=form,
        delete_form=ModerationForm(),
        rules=all_rules,
        rules_max=moderation.RULES_MAX,
        ip_hash_days=db.IP_HASH_DAYS,
        status="rules",
    )
    return page, status


@bp.route("/rules", methods=["GET", "POST"])
@login_required
def rules_page():
    """The intake rules: the list, and a form to add one (what was typed comes
    back with a message per field when it cannot be a rule)."""
    form = RuleForm()
    if not form.is_submitted():
        return render_rules(form)
    if form.validate():
        try:
            rule_id = db.add_rule(
                db.get_db(),
                kind=form.kind.data,
                pattern=form.normalised,
                outcome=form.outcome.data,
                note=form.note.data or "",
                by=admin_name(),
            )
        except db.RuleExists as exists:
            rule = exists.rule
            form.pattern.errors.append(
                f"Rule {rule['id']} is on this already: {rules.sentence(rule)}. "
                "Delete it first to change what it does."
            )
        except db.TooManyRules:
            form.pattern.errors.append(
                f"There are {moderation.RULES_MAX:,} rules, the most the service keeps: "
                "delete some first."
            )
        except db.DiskFull:
            # Nothing was saved: the form comes back as typed, to send again later.
            flash(MESSAGES[503], "error")
            page, _ = render_rules(form)
            return page, 503, RETRY_LATER
        else:
            added = {**form.data, "pattern": form.normalised}
            flash(f"Rule {rule_id} added: {rules.sentence(added)}.", "info")
            return redirect(url_for("admin.rules_page"), 303)
    return render_rules(form, 400)


@bp.post("/rules/delete")
@login_required
def delete_rule():
    if not ModerationForm().validate_on_submit():
        abort(400)
    raw = request.form.get("rule", "")
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID):
        abort(400)
    rule = db.delete_rule(db.get_db(), int(raw))
    if rule is None:
        flash(f"Rule {raw} was deleted already.", "info")
    else:
        flash(f"Rule {rule['id']} deleted. It said: {rules.sentence(rule)}.", "info")
    return redirect(url_for("admin.rules_page"), 303)


@bp.post("/rules/sender")
@login_required
def sender_rule():
    """ "Hold (or spam) everything from this sender": an address rule made from
    a comment's stored hash (``sender=hold:ID``, from a status view's form)."""
    form = ModerationForm()
    back_url = return_url(request.form.get("view"), request.form.get("query", ""))
    if not form.validate_on_submit():
        abort(400)
    outcome, _, raw_id = request.form.get("sender", "").partition(":")
    if outcome not in RULE_OUTCOMES or not (raw_id.isascii() and raw_id.isdigit()):
        abort(400)
    if not 0 < int(raw_id) <= MAX_ID:
        abort(400)
    comment = db.get_comment(db.get_db(), int(raw_id))
    if comment is None:
        flash(f"No comment with id {raw_id}.", "error")
        return redirect(back_url, 303)
    if not comment["ip_hash"]:
        flash(
            f"The sender of #{comment['id']} is not known any more: addresses are "
            f"forgotten after {db.IP_HASH_DAYS} days.",
            "error",
        )
        return redirect(back_url, 303)
    note = f"the sender of comment #{comment['id']} ({comment['author_name']})"
    try:
        rule_id = db.add_rule(
            db.get_db(),
            kind=ADDRESS_RULE,
            pattern=comment["ip_hash"],
            outcome=outcome,
            note=note if len(note) <= rules.NOTE_MAX else note[: rules.NOTE_MAX - 2] + "…)",
            by=admin_name(),
        )
    except db.RuleExists as exists:
        flash(f"Rule {exists.rule['id']} is on it already: {rules.sentence(exists.rule)}.", "info")
    except db.TooManyRules:
        flash(
            f"There are {moderation.RULES_MAX:,} rules, the most the service keeps: "
            "delete some on the Rules page first.",
            "error",
        )
    else:
        added = rules.sentence({"kind": ADDRESS_RULE, "pattern": "", "outcome": outcome})
        flash(
            f"Rule {rule_id} added: from now on, {added}, for {db.IP_HASH_DAYS} days "
            f"(the sender of #{comment['id']}). This comment stays where it is.",
            "info",
        )
    return redirect(back_url, 303)
