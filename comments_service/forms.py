"""Declarative forms (flask-wtf). Limits are stated once, here, and in the README.

``CommentForm`` is posted from cached static pages, which cannot carry a
session's CSRF token: it is a plain WTForms form guarded by the cross-origin
check in ``same_origin.py`` instead. Every admin form is a flask-wtf form with
its CSRF token.
"""

import re
from datetime import datetime
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    Form,
    HiddenField,
    IntegerField,
    PasswordField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)
from wtforms.widgets import HiddenInput

from comments_service import submission_keys
from comments_service.db import Position
from comments_service.moderation import (
    DOMAIN_RULE,
    HOLD,
    RULE_KINDS,
    RULE_OUTCOMES,
    SPAM,
    WORD_RULE,
)
from comments_service.render import clean_line, clean_text
from comments_service.rules import NOTE_MAX, PATTERN_MAX, normalise_pattern

NAME_MAX = 100
EMAIL_MAX = 254
WEBSITE_MAX = 200
BODY_MIN, BODY_MAX = 2, 5000
# The largest id SQLite can store: a bigger one is no comment (and would overflow).
MAX_ID = 2**63 - 1
SEARCH_MAX = 200


def http_url(form, field):
    """Websites must be absolute http(s) URLs: anything else could run script when clicked."""
    parts = urlsplit(field.data)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in field.data:
        raise ValidationError("Enter a web address starting with http:// or https://.")


def strip_line(value):
    return clean_line(value) if isinstance(value, str) else value


def strip_text(value):
    return clean_text(value).strip() if isinstance(value, str) else value


# The notification boxes of the comment form, by the kind each asks for.
NOTIFY_FIELDS = {"replies": "notify_replies", "post": "notify_post", "live": "notify_live"}
NOTIFY_NEEDS_EMAIL = "Enter your email to get notified."


class CommentForm(Form):
    """The reader's form. A plain WTForms form: it has no CSRF token to check
    (see the module docstring), so flask-wtf would only add work to the
    service's busiest request. Build it with ``CommentForm(request.form)``."""

    post_slug = HiddenField(validators=[DataRequired(message="Which post is this comment for?")])
    parent_id = IntegerField(
        validators=[
            Optional(),
            NumberRange(
                min=1, max=MAX_ID, message="The comment you are replying to is not available."
            ),
        ]
    )
    name = StringField(
        "Name",
        filters=[strip_line],
        validators=[
            DataRequired(message="Please enter your name."),
            Length(max=NAME_MAX, message=f"Please keep your name under {NAME_MAX} characters."),
        ],
    )
    email = StringField(
        "Email",
        filters=[strip_line],
        validators=[
            Optional(),
            Length(max=EMAIL_MAX, message="That email address is too long."),
            Email(message="That does not look like an email address."),
        ],
    )
    website = StringField(
        "Website",
        filters=[strip_line],
        validators=[
            Optional(),
            Length(
                max=WEBSITE_MAX, message=f"Please keep the address under {WEBSITE_MAX} characters."
            ),
            http_url,
        ],
    )
    body = TextAreaField(
        "Comment",
        filters=[strip_text],
        validators=[
            DataRequired(message="Please write a comment."),
            Length(
                min=BODY_MIN,
                max=BODY_MAX,
                message=f"A comment is between {BODY_MIN} and {BODY_MAX:,} characters.",
            ),
        ],
    )
    # Email notifications (subscriptions.py); each needs the Email field.
    # Their labels are the static page's (theme/templates/partials/comment_form.html).
    notify_replies = BooleanField()
    notify_post = BooleanField()
    notify_live = BooleanField()
    # Honeypot: hidden from people (CSS and aria-hidden), filled in by bots.
    homepage = StringField()
    # Sent by the page's script, or by a form the service rendered; a malformed
    # one is None, never an error (see submission_keys).
    submission_key = HiddenField(filters=[submission_keys.client_key])

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        # Here, not on the field: an empty Email stops its own validators.
        if self.notifications() and not self.email.data and not self.email.errors:
            self.email.errors = [NOTIFY_NEEDS_EMAIL]
            valid = False
        return valid

    def notifications(self):
        """The kinds of notification asked for (``subscriptions.KINDS``)."""
        return [kind for kind, field in NOTIFY_FIELDS.items() if self[field].data]

    def values(self):
        """What the reader typed, to put back in the form after an error."""
        return {
            "name": self.name.data or "",
            "email": self.email.data or "",
            "website": self.website.data or "",
            "body": self.body.data or "",
            "parent_id": self.parent_id.data or "",
            **{field: bool(self[field].data) for field in NOTIFY_FIELDS.values()},
        }

    def first_errors(self):
        """One message per field, for the form and the JSON answer."""
        return {name: messages[0] for name, messages in self.errors.items()}


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[InputRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1000)])
    remember = BooleanField("Remember me")


class ModerationForm(FlaskForm):
    """The queue and status views: one form, per-comment buttons and bulk actions."""


class EditCommentForm(FlaskForm):
    # The version of the comment the form was loaded at: a Save after another
    # admin's decision or edit is refused instead of overwriting it.
    seen = IntegerField(widget=HiddenInput(), validators=[Optional()])
    author_name = StringField(
        "Name", filters=[strip_line], validators=[DataRequired(), Length(max=NAME_MAX)]
    )
    body = TextAreaField(
        "Comment", filters=[strip_text], validators=[DataRequired(), Length(BODY_MIN, BODY_MAX)]
    )


class ReplyForm(FlaskForm):
    body = TextAreaField(
        "Your reply",
        filters=[strip_text],
        validators=[DataRequired(message="Write a reply first."), Length(BODY_MIN, BODY_MAX)],
    )


ORDERS = {"newest": "Newest first", "oldest": "Oldest first"}
BROKEN_PAGE_LINK = "That page link is broken: start again from the first page."


class PositionField(Field):
    """A page link's position in a status view, written ``created_at,id``
    (``position_text``); its data is a ``db.Position`` or None."""

    def _value(self):
        return position_text(self.data) if self.data else ""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0]:
            return
        created_at, _, raw_id = valuelist[0].rpartition(",")
        # Digits only: int() would also take "+1", " 1" and "1_000".
        if not re.fullmatch(r"[0-9]{1,19}", raw_id) or not 0 < int(raw_id) <= MAX_ID:
            raise ValueError(BROKEN_PAGE_LINK)
        try:
            datetime.fromisoformat(created_at)  # every stored created_at is one
        except ValueError:
            raise ValueError(BROKEN_PAGE_LINK) from None
        self.data = Position(created_at, int(raw_id))


def position_text(position):
    return f"{position.created_at},{position.id}"


class ListFilterForm(Form):
    """What a status view shows: a search, one post, the order, and the page.

    Read from the query string (a GET form that changes nothing, so it has no
    CSRF token). The posts to choose from are the registry's (``offer_posts``).
    """

    q = SearchField(
        "Search",
        filters=[strip_line],
        render_kw={"maxlength": SEARCH_MAX},
        validators=[
            Optional(),
            Length(max=SEARCH_MAX, message=f"Search for at most {SEARCH_MAX} characters."),
        ],
    )
    post = SelectField("Post", choices=[], validate_choice=False)
    order = SelectField(
        "Order",
        choices=[SelectChoice(value, label) for value, label in ORDERS.items()],
        default="newest",
        validate_choice=False,  # validate_order says it in words
    )
    after = PositionField()
    before = PositionField()

    def offer_posts(self, posts_by_slug):
        self.post.choices = [SelectChoice("", "All posts")] + [
            SelectChoice(slug, post["title"]) for slug, post in posts_by_slug.items()
        ]

    def validate_post(self, field):
        if field.data and field.data not in {choice.value for choice in field.choices}:
            raise ValidationError("There is no such post on the site: choose one from the list.")

    def validate_order(self, field):
        if field.data not in ORDERS:
            raise ValidationError("Choose newest or oldest first.")

    def validate_before(self, field):
        if field.data and self.after.data:
            raise ValidationError(BROKEN_PAGE_LINK)

    def chosen(self):
        """The filters chosen (not the page), for links that keep them."""
        chosen = {"q": self.q.data, "post": self.post.data}
        if self.order.data != self.order.default:
            chosen["order"] = self.order.data
        return {name: value for name, value in chosen.items() if value}


class RuleForm(FlaskForm):
    """A new intake rule on /admin/rules: a word or phrase, or a link domain.

    Address rules are made from a queued comment ("Hold everything from this
    sender"): the admin never sees an address, nor needs its hash. After
    ``validate``, ``normalised`` is the pattern as stored and matched."""

    kind = SelectField(
        "Looks for",
        choices=[SelectChoice(kind, RULE_KINDS[kind]) for kind in (WORD_RULE, DOMAIN_RULE)],
        default=WORD_RULE,
        validate_choice=False,  # validate_kind says it in words
    )
    pattern = StringField(
        "Word, phrase or domain",
        filters=[strip_line],
        render_kw={"maxlength": PATTERN_MAX},
        validators=[DataRequired(message="Enter a word, a phrase or a domain.")],
    )
    outcome = SelectField(
        "Then",
        choices=[SelectChoice(name, RULE_OUTCOMES[name].label) for name in (HOLD, SPAM)],
        default=HOLD,
        validate_choice=False,
    )
    note = StringField(
        "Note (optional)",
        filters=[strip_line],
        render_kw={"maxlength": NOTE_MAX},
        validators=[
            Optional(),
            Length(max=NOTE_MAX, message=f"A note is at most {NOTE_MAX} characters."),
        ],
    )
    normalised = None

    def validate_kind(self, field):
        if field.data not in {choice.value for choice in field.choices}:
            raise ValidationError("Choose a word or phrase, or a link domain.")

    def validate_outcome(self, field):
        if field.data not in RULE_OUTCOMES:
            raise ValidationError(
                "Choose to hold such comments for review, or to send them to spam."
            )

    def validate_pattern(self, field):
        try:
            self.normalised = normalise_pattern(self.kind.data, field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
