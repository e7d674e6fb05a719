"""One comment per submission, however often it is sent: submission keys.

A reader whose connection drops after the service stored the comment sees an
error and sends again (or the page's script does); the browser's "Confirm
form resubmission" does the same without JavaScript. Each retry must be
acknowledged like the first (the same 202 JSON, the same 303 to the thanks
page) without storing the comment a second time.

The form lives on cached static pages that every reader gets byte for byte,
so a key written into that HTML would be shared by all of them. Instead:

- **With JavaScript**, ``theme/static/js/comments.js`` makes a random key
  (``crypto.randomUUID``, else ``crypto.getRandomValues``) when the reader
  first presses Submit, and sends the same one with every retry from that
  page, its own automatic ones included. Forms the service renders itself
  (after a refused submission, the no-JavaScript reply page) are per request
  and carry a fresh key in a hidden field, which a browser's resubmission
  sends again.
- **Without a key** (no JavaScript on the static page, or a script too old
  to have crypto), the key is derived from the submission itself: post,
  reply-to, name, email, website, text and the sender's address hash, within
  a 10-minute window (the current window's key is stored; the previous
  window's is looked up too, so a resubmission across a window's edge is
  recognised). That catches what a browser resubmits, and a double click.

Either way the stored key is a SHA-256 of the reader's key *and* the content:
a key sent again with different text (edited after an error) is a new
comment, never a silently dropped one. The cost of the content key is that
the same person sending the very same text to the same post twice within
minutes gets one comment: that is what a duplicate is.

A client key is 16 to 64 letters, digits, ``-`` or ``_`` (a UUID is 36).
Anything else is ignored, not refused with a 400: no person typed it or can
fix it, so refusing would lose a valid comment over a field the reader cannot
see, whereas ignoring it falls back to the content key, which still catches
retries of the same text.

The stored key lives in ``comments.submission_key`` (UNIQUE; NULL for comments
from before, for the admin's replies and imports). Content keys are derived
from the sender's address hash, so both are forgotten with it after 30 days
(``db.forget_old_ip_hashes``).
"""

import hashlib
import json
import re
import secrets
import time

FIELD = "submission_key"
_CLIENT_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
CONTENT_WINDOW_SECONDS = 10 * 60
# What makes two submissions the same comment, in the names the form posts as.
CONTENT_FIELDS = ("post_slug", "parent_id", "author_name", "email", "website", "body")


def client_key(value):
    """The key the page sent, or None for none or anything not shaped like one."""
    if isinstance(value, str) and _CLIENT_KEY.fullmatch(value):
        return value
    return None


def new_client_key():
    """A key for a form the service renders (one request, one reader)."""
    return secrets.token_urlsafe(24)


def keys_for(comment, client_key=None, *, now=None):
    """The keys a submission is known by: the one to store it under, first,
    then any earlier key under which the same submission may be stored."""
    content = [comment[name] for name in CONTENT_FIELDS]
    if client_key:
        return [_digest("client", client_key, content)]
    window = int((time.time() if now is None else now) // CONTENT_WINDOW_SECONDS)
    return [_digest("content", comment["ip_hash"], w, content) for w in (window, window - 1)]


def _digest(*parts):
    # JSON keeps the parts apart: ("ab", "c") and ("a", "bc") differ.
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()
