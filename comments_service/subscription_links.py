"""Signed links in the emails readers asked for: confirm an address, unsubscribe.

Both are signed with ``SECRET_KEY`` by itsdangerous, each with a salt of its
own (no other signed value of the app, such as a one-tap moderation link,
can pass for one), and built on ``SITE_URL`` under the public ``/comments/``
prefix, never on a request's Host header. They carry ids, not addresses, so
an address never appears in a URL (nor in a server's access log).

* A **confirmation** link carries the address's row id (``subscribers``) and
  its signing time, and works for ``CONFIRM_MAX_AGE_DAYS`` (7): the address
  is forgotten after that if unconfirmed (``subscriptions.py``).
* An **unsubscribe** link never expires (an old email must still stop the
  emails), and names what it stops: some subscriptions (``some``: the ones
  that caused the email) or an address and everything it asked for (``all``).
  Ids are never reused (AUTOINCREMENT), so a link outliving its rows stops
  nothing else.

Changing ``SECRET_KEY`` invalidates every link sent. No Flask import: the
links are made inside write transactions and by the outbox's sender thread.
"""

import functools
import re
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, Signer
from itsdangerous.timed import TimestampSigner

CONFIRM_SALT = "career-notes.subscription-confirm.v1"
UNSUBSCRIBE_SALT = "career-notes.unsubscribe.v1"
# The pages the links open (subscription_pages.py): under /comments/, the
# public prefix that nginx proxies to the service.
PREFIX = "/comments/subscriptions"
CONFIRM_PATH = f"{PREFIX}/confirm/"
UNSUBSCRIBE_PATH = f"{PREFIX}/unsubscribe/"
CONFIRM_MAX_AGE_DAYS = 7
# Longer than any token made here: a longer one is refused before decoding.
TOKEN_MAX = 200
# An email is caused by at most a post's subscription and a thread's.
MAX_IDS = 4
_ID = r"[1-9][0-9]{0,18}"
_UNSUBSCRIBE = re.compile(rf"(all)\.({_ID})|(some)\.({_ID}(?:-{_ID}){{0,{MAX_IDS - 1}}})")


def clock():
    """Seconds since the epoch; the tests move it."""
    return time.time()


class _TimestampSigner(TimestampSigner):
    def get_timestamp(self):
        return int(clock())


@functools.lru_cache(maxsize=4)
def _confirm_signer(secret):
    return _TimestampSigner(secret, salt=CONFIRM_SALT)


@functools.lru_cache(maxsize=4)
def _unsubscribe_signer(secret):
    # Cached: a post's notifications sign a link or two per subscriber.
    return Signer(secret, salt=UNSUBSCRIBE_SALT)


class BadToken(Exception):
    """Not a link of ours (tampered, cut short, made up)."""


class ExpiredToken(Exception):
    """A confirmation link of ours, older than ``CONFIRM_MAX_AGE_DAYS``."""


@dataclass(frozen=True)
class Unsubscribe:
    """What an unsubscribe link stops: everything of ``subscriber_id``, or ``subscription_ids``."""

    subscriber_id: int | None = None
    subscription_ids: tuple = ()

    @property
    def everything(self):
        return self.subscriber_id is not None


def _readable(token):
    if not token or len(token) > TOKEN_MAX or not token.isascii():
        raise BadToken("not a link of ours")
    return token


def confirm_token(secret, subscriber_id):
    return _confirm_signer(secret).sign(str(subscriber_id)).decode()


def read_confirm_token(secret, token):
    """The subscriber id a confirmation link carries; raises ``BadToken`` or ``ExpiredToken``."""
    try:
        value = _confirm_signer(secret).unsign(
            _readable(token), max_age=CONFIRM_MAX_AGE_DAYS * 86400
        )
    except SignatureExpired:
        raise ExpiredToken("the confirmation link has expired") from None
    except BadSignature:
        raise BadToken("not a link of ours") from None
    if not re.fullmatch(_ID, value.decode("ascii", "replace")):
        raise BadToken("not a link of ours")
    return int(value)


def unsubscribe_everything_token(secret, subscriber_id):
    return _unsubscribe_signer(secret).sign(f"all.{subscriber_id}").decode()


def unsubscribe_token(secret, subscription_ids):
    ids = sorted(subscription_ids)
    if not 0 < len(ids) <= MAX_IDS:
        raise ValueError(f"an unsubscribe link names 1 to {MAX_IDS} subscriptions")
    return _unsubscribe_signer(secret).sign("some." + "-".join(map(str, ids))).decode()


def read_unsubscribe_token(secret, token):
    """The ``Unsubscribe`` a link carries; raises ``BadToken``."""
    try:
        value = _unsubscribe_signer(secret).unsign(_readable(token))
    except BadSignature:
        raise BadToken("not a link of ours") from None
    match = _UNSUBSCRIBE.fullmatch(value.decode("ascii", "replace"))
    if not match:
        raise BadToken("not a link of ours")
    if match[1]:
        return Unsubscribe(subscriber_id=int(match[2]))
    return Unsubscribe(subscription_ids=tuple(int(i) for i in match[4].split("-")))


def confirm_url(site_url, token):
    return f"{site_url.rstrip('/')}{CONFIRM_PATH}{token}"


def unsubscribe_url(site_url, token):
    return f"{site_url.rstrip('/')}{UNSUBSCRIBE_PATH}{token}"
