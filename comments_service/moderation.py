"""The moderation vocabulary: statuses, actions, which action each status allows.

Defined once, here, and imported by ``db.py`` (which enforces the table
inside the write transaction, whatever a form or a script sends), ``admin.py``
(its buttons and messages), the admin templates and the console commands. No
Flask import: this is plain data and sentences.

A refused request raises one of the small exceptions below inside ``db.py``;
each comment's outcome (done, or refused and why) is collected in a
``Report`` that the web queue flashes and the console prints.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

STATUSES = ("pending", "approved", "spam", "trash")
VIEWS = {"pending": "Pending", "approved": "Approved", "spam": "Spam", "trash": "Trash"}
# For sentences: "it is in the trash already", "a spam comment cannot be approved".
IS = {
    "pending": "pending",
    "approved": "approved",
    "spam": "marked as spam",
    "trash": "in the trash",
}
A_COMMENT = {
    "pending": "a pending comment",
    "approved": "an approved comment",
    "spam": "a spam comment",
    "trash": "a comment in the trash",
}


@dataclass(frozen=True)
class Action:
    name: str  # what a form or a console command sends
    label: str  # the button's accessible name (the contract: "Approve", "Spam", "Trash")
    to: str | None  # the status it moves a comment to; None: erased with its replies
    done: str  # past tense: messages, and the reason the decision records
    secondary: bool = False  # drawn as a secondary button


ACTIONS = {
    action.name: action
    for action in (
        Action("approve", "Approve", "approved", "approved"),
        Action("unapprove", "Unapprove", "pending", "unapproved"),
        Action("spam", "Spam", "spam", "marked as spam", secondary=True),
        Action("trash", "Trash", "trash", "moved to trash", secondary=True),
        Action("restore", "Restore", "pending", "restored to the queue"),
        # For erasure requests; only what was set aside first, so that one
        # click in the queue can never erase a reader's comment.
        Action("delete", "Delete permanently", None, "deleted permanently", secondary=True),
    )
}

# Which actions each status allows, in the order of its buttons. The one
# transition table: buttons, the server's check and the console all read it.
ALLOWED = {
    "pending": ("approve", "spam", "trash"),
    "approved": ("unapprove", "spam", "trash"),
    "spam": ("restore", "delete"),
    "trash": ("restore", "delete"),
}


def buttons(status):
    """The actions a comment in ``status`` offers, in order."""
    return [ACTIONS[name] for name in ALLOWED[status]]


def action_moving(status, to):
    """The action that moves a comment from ``status`` to ``to``, or None."""
    return next((a for a in buttons(status) if a.to == to), None)


# What a recorded decision (``decisions.action``) did, for "approved by alice at 14:02".
DECISION_DONE = {
    "approved": "approved",
    "pending": "put back in the queue",
    "spam": "marked as spam",
    "trash": "moved to trash",
    "edit": "edited",
    "deleted": "deleted permanently",
    "imported": "replaced by an import",
}


def when(iso, today=None):
    """'at 14:02 UTC', with the date when it was not today."""
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    today = today or datetime.now(UTC).date()
    day = "" if moment.date() == today else f" on {moment:%B} {moment.day}, {moment:%Y}"
    return f"at {moment:%H:%M} UTC{day}"


class Refused(Exception):
    """A request that was not carried out. ``why()`` says why, for the admin."""

    verb = "Not changed"

    def why(self, doing="reading"):
        return str(self.args[0]) if self.args else "refused"

    def __str__(self):
        return f"{self.verb}: {self.why()}."


class NotAllowed(Refused):
    """The comment's status does not allow the action (the table above)."""

    def __init__(self, action, status):
        super().__init__(action, status)
        self.action, self.status = action, status

    def why(self, doing="reading"):
        if self.action.to == self.status:
            return f"it is {IS[self.status]} already"
        choices = ", ".join(a.label for a in buttons(self.status))
        return f"{A_COMMENT[self.status]} cannot be {self.action.done} (its choices: {choices})"


class Changed(Refused):
    """The comment changed (a decision, an edit, an erasure) after the admin saw it."""

    def __init__(self, decision):
        super().__init__(decision)
        self.decision = decision  # the last row of ``decisions`` for it, or None

    def why(self, doing="reading"):
        d = self.decision
        if d is None:
            return f"the comment changed while you were {doing}"
        done = DECISION_DONE.get(d["action"], d["action"])
        return f"{done} by {d['by']} {when(d['at'])} while you were {doing}"


class NoSuchComment(Refused):
    """No comment ever had this id."""

    def __init__(self, comment_id):
        super().__init__(comment_id)
        self.comment_id = comment_id

    def why(self, doing="reading"):
        return "there is no such comment"

    def __str__(self):
        return f"No comment with id {self.comment_id}."


class Unseen(Refused):
    """The request did not say which version of the comment the admin saw."""

    def why(self, doing="reading"):
        return "the form did not say which version of the comment you saw; reload the page"


@dataclass
class Outcome:
    """What became of one comment: done, or refused (and why)."""

    comment_id: int
    author_name: str = ""
    refused: Refused | None = None

    @property
    def done(self):
        return self.refused is None

    def label(self):
        return f"#{self.comment_id}" + (f" by {self.author_name}" if self.author_name else "")


@dataclass
class Report:
    """The outcome of one request, per comment, and the posts whose pages change."""

    outcomes: list = field(default_factory=list)
    changed_posts: set = field(default_factory=set)
    new_id: int | None = None  # the comment a request created (the author's reply)

    @property
    def done(self):
        return [o for o in self.outcomes if o.done]

    @property
    def refused(self):
        return [o for o in self.outcomes if not o.done]


# --- intake rules ---------------------------------------------------------
# Rules the admin sets on /admin/rules decide what becomes of a new comment
# (``comments_service/rules.py`` matches them). What a rule looks at:
WORD_RULE, DOMAIN_RULE, ADDRESS_RULE = "word", "domain", "address"
RULE_KINDS = {
    WORD_RULE: "Word or phrase",
    DOMAIN_RULE: "Link domain",
    # A keyed hash of the address (``db.hash_ip``), never the address itself.
    ADDRESS_RULE: "Sender's address",
}


@dataclass(frozen=True)
class RuleOutcome:
    name: str  # stored in ``rules.outcome``
    label: str  # in the admin's form and list
    status: str  # the status a comment it matches is stored with
    prefix: str  # of the reason recorded: "held: word 'casino' (rule 12)"
    effect: str  # "comments with the word 'casino' are held for review"


# What a rule, or a built-in check, does to a new comment, strongest first:
# when several match, the first outcome here wins, and the reason names the
# checks of that outcome. A later "approve" outcome (a commenter approved
# before, by confirmed email) goes last, after "hold": a held word still
# holds a known commenter's comment, as in WordPress.
SPAM, HOLD = "spam", "hold"
RULE_OUTCOMES = {
    outcome.name: outcome
    for outcome in (
        RuleOutcome(SPAM, "Send to spam", "spam", "spam", "go to spam"),
        RuleOutcome(HOLD, "Hold for review", "pending", "held", "are held for review"),
    )
}
# Bounds what a rule change rebuilds and what the rules page shows.
RULES_MAX = 1000
