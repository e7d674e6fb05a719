"""Signed one-tap moderation links, minted for the admin's email and checked
by the pages they open (``comments_service.email_actions``).

A link carries ``ID.ACTION.VERSION``, timestamped and signed with
``SECRET_KEY`` (itsdangerous's ``TimestampSigner``, with a salt of its own,
so no other signed value of the app can pass for one). It is:

* bound to one comment and one action: the signature covers both, and the
  page acts only with the action the link names;
* single-use, by the comment's ``version``: ``db.moderate`` refuses, under
  the writers' lock, a decision on a comment that is no longer the version
  the link was minted for, and every decision moves the version on. So a
  used link is dead, and so are the other links of the same email and any
  link of an email about a comment decided on in the queue meanwhile: exactly
  once, without a table of used links to keep and purge;
* limited in time (``EMAIL_LINK_MAX_AGE_DAYS``, 7 by default).

Changing ``SECRET_KEY`` invalidates every link sent. No Flask import: the
links are minted inside the comment's write transaction.
"""

import functools
import re
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired
from itsdangerous.timed import TimestampSigner

from comments_service.moderation import ACTIONS, buttons

SALT = "career-notes.email-action.v1"
# The path of the page a link opens (the blueprint's prefix) and of a
# comment in the admin; links are built on SITE_URL, never on a Host header.
ACTION_PATH = "/admin/act/"
COMMENT_PATH = "/admin/comments/"
# The actions an email offers: those of a pending comment (Approve, Spam, Trash).
EMAIL_ACTIONS = tuple(action.name for action in buttons("pending"))
# Longer than any token minted here: a longer one is refused before decoding.
TOKEN_MAX = 200
DEFAULT_MAX_AGE_DAYS = 7
_PAYLOAD = re.compile(r"(\d{1,19})\.([a-z]+)\.(\d{1,19})")


def clock():
    """Seconds since the epoch; the tests move it."""
    return time.time()


class _Signer(TimestampSigner):
    def get_timestamp(self):
        return int(clock())


@functools.lru_cache(maxsize=4)
def _signer(secret):
    # Cached: links are minted inside the comment's write transaction, where
    # every microsecond holds up the other readers' comments.
    return _Signer(secret, salt=SALT)


@dataclass(frozen=True)
class Link:
    comment_id: int
    action: str
    version: int

    @property
    def label(self):
        return ACTIONS[self.action].label


class BadLink(Exception):
    """Not a link of ours (tampered, cut short, made up)."""


class ExpiredLink(Exception):
    """A link of ours, older than the setting allows; ``link`` says which."""

    def __init__(self, link):
        super().__init__(link)
        self.link = link


def max_age_seconds(config):
    return int(float(config.get("EMAIL_LINK_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS)) * 86400)


def make_token(secret, comment_id, action, version):
    """``ID.ACTION.VERSION.TIMESTAMP.SIGNATURE``: readable, not secret; unforgeable."""
    if action not in EMAIL_ACTIONS:
        raise ValueError(f"not an email action: {action!r}")
    return _signer(secret).sign(f"{comment_id}.{action}.{version}").decode()


def _link(value):
    match = _PAYLOAD.fullmatch(value.decode("ascii", "replace"))
    if not match or match[2] not in EMAIL_ACTIONS:
        raise BadLink("not a moderation link")
    return Link(int(match[1]), match[2], int(match[3]))


def read_token(secret, token, max_age):
    """The ``Link`` a token carries; raises ``BadLink`` or ``ExpiredLink``."""
    if not token or len(token) > TOKEN_MAX or not token.isascii():
        raise BadLink("not a moderation link")
    try:
        return _link(_signer(secret).unsign(token, max_age=max_age))
    except SignatureExpired as expired:
        # The signature is good (checked before the age): the payload is ours.
        raise ExpiredLink(_link(expired.payload)) from None
    except BadSignature:
        raise BadLink("not a moderation link") from None


def action_url(site_url, token):
    return f"{site_url.rstrip('/')}{ACTION_PATH}{token}"


def comment_url(site_url, comment_id):
    return f"{site_url.rstrip('/')}{COMMENT_PATH}{comment_id}"
