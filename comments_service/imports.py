"""Importing comments: our own JSON export, a WordPress (WXR) export or a Disqus export.

One row check for every format, ``checked_comment``: the comment form's rules
(``forms.py``'s limits, the same cleaning), so a file cannot put in the
database what a reader could not type. A row it refuses is reported with the
reason and the rest are imported. Per field, as the form does: a name is
required and at most NAME_MAX characters; an email, if any, must be valid and
at most EMAIL_MAX; a comment between BODY_MIN and BODY_MAX characters; an
approved comment is refused on a post whose comments are closed. A website the
form would refuse (not http(s), or longer than WEBSITE_MAX) is dropped and the
comment kept: the JSON import always did so, and a bad link is no reason to
lose a reader's words. Dates become UTC ISO 8601, as ``db.now()`` writes them.

WordPress and Disqus (``foreign_exports.py`` reads the files and maps each
system's fields and statuses) are mapped onto our comments here:

* **Posts.** A thread belongs to one of our posts (the post registry) when the
  URL path of its ``<link>`` is the post's URL; else when WordPress's
  ``<wp:post_name>`` or Disqus's thread ``<id>`` is a slug of ours; else when
  the last segment of the link's path is (WordPress's day-based permalinks,
  ``/2022/12/06/slug/``, end in our slug). A comment for no post of ours is
  refused, with the link and slug it had.
* **Ids.** Ours are AUTOINCREMENT and never reused: imported comments get new
  ids. Each remembers its system and id (``import_source``, ``import_id``,
  unique together), so running an import again skips what is already there
  ("skipped (already imported)") and adds only the rest: an import stopped
  half-way (killed, disk full) is finished by running it again.
* **Threads.** Our threads are one level deep (``db.approved_parent``): a reply
  to a reply is attached to its top-level ancestor. A reply whose parent was
  refused is refused too ("replies to ..., which was refused"): attached at top
  level it would read out of context, and once the parent is fixed in the file
  a second run imports both, in place. A reply to a comment deleted on Disqus
  takes that comment's place (see ``foreign_exports.DELETED``). A parent later in
  the file is waited for; one in no file is looked up among earlier imports,
  then the reply is refused.
* **Personal data.** IP addresses are not imported (we keep only a keyed hash
  of a sender's address, for 30 days); emails are kept, never published.
* **Writing.** Rows are written 500 to a transaction: a big import never holds
  the writers' lock long enough to keep readers' comments waiting.
  ``--dry-run`` does everything but write.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from email_validator import EmailNotValidError, validate_email

from comments_service import db, foreign_exports, registry
from comments_service.forms import BODY_MAX, BODY_MIN, EMAIL_MAX, MAX_ID, NAME_MAX, WEBSITE_MAX
from comments_service.moderation import STATUSES
from comments_service.render import clean_line, clean_text, safe_website

BATCH = 500


def checked_comment(fields):
    """Check a comment that comes from a file as the comment form would.

    ``fields`` has post_slug, author_name, email, website, body, status and
    created_at; returns them cleaned, or raises ``ValueError`` saying why not.
    """
    if fields["status"] not in STATUSES:
        raise ValueError(f"unknown status {fields['status']!r}")
    name = clean_line(fields["author_name"])
    if not name:
        raise ValueError("no name")
    if len(name) > NAME_MAX:
        raise ValueError(f"a name longer than {NAME_MAX} characters")
    email = clean_line(fields.get("email") or "")
    if len(email) > EMAIL_MAX:
        raise ValueError(f"an email address longer than {EMAIL_MAX} characters")
    if email:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            raise ValueError(f"invalid email {email!r}") from None
    website = safe_website(fields.get("website"))
    body = clean_text(fields["body"]).strip()
    if not body:
        raise ValueError("an empty comment")
    if not BODY_MIN <= len(body) <= BODY_MAX:
        raise ValueError(f"a comment is between {BODY_MIN} and {BODY_MAX:,} characters")
    post = registry.find_post(fields["post_slug"])
    if fields["status"] == "approved" and post is not None and not post["comments_open"]:
        raise ValueError(f"approved, but comments on {fields['post_slug']!r} are closed")
    return {
        "post_slug": fields["post_slug"],
        "author_name": name,
        "email": email,
        "website": website if len(website) <= WEBSITE_MAX else "",
        "body": body,
        "status": fields["status"],
        "created_at": utc_timestamp(fields["created_at"]),
    }


def utc_timestamp(value):
    """An ISO 8601 date as ``db.now()`` writes it (UTC, seconds); naive ones are UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"no valid date {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- our own JSON export -------------------------------------------------

IMPORT_FIELDS = {
    "id": int,
    "post_slug": str,
    "parent_id": (int, type(None)),
    "author_name": str,
    "email": str,
    "website": str,
    "body": str,
    "status": str,
    "is_author": int,
    "created_at": str,
    "decided_at": (str, type(None)),
    "decided_by": (str, type(None)),
    "reason": (str, type(None)),
    "ip_hash": (str, type(None)),
    "import_source": (str, type(None)),
    "import_id": (str, type(None)),
}
REQUIRED = {"id", "post_slug", "author_name", "body", "status", "created_at"}


def validated_rows(data):
    """Allow-list an export of ours, row by row, as the comment form would.

    Returns the rows that pass and, for each that does not, "comment N: why".
    A file that is not an export at all raises ``ValueError``."""
    if not isinstance(data, dict) or not isinstance(data.get("comments"), list):
        raise ValueError('expected {"comments": [...]}, as written by `comments export`')
    rows, refused = [], []
    for number, item in enumerate(data["comments"], 1):
        try:
            rows.append(validated_row(item))
        except ValueError as exc:
            refused.append(f"comment {number}: {exc}")
    return rows, refused


def validated_row(item):
    if not isinstance(item, dict):
        raise ValueError("not an object")
    unknown = set(item) - set(IMPORT_FIELDS)
    missing = REQUIRED - set(item)
    if unknown or missing:
        raise ValueError(f"unknown {sorted(unknown)}, missing {sorted(missing)}")
    for key, kind in IMPORT_FIELDS.items():
        if key in item and not isinstance(item[key], kind):
            raise ValueError(f"{key} has the wrong type")
    if not 0 < item["id"] <= MAX_ID or not 0 <= (item.get("parent_id") or 0) <= MAX_ID:
        raise ValueError("an id beyond SQLite's integer range")
    return {
        **item,
        **checked_comment(item),
        "is_author": 1 if item.get("is_author") else 0,
        # 0 is no parent: stored as NULL, as every query expects.
        "parent_id": item.get("parent_id") or None,
    }


# --- WordPress and Disqus ------------------------------------------------


class PostMatcher:
    """Which of our posts a WordPress or Disqus thread was (see the module docstring)."""

    def __init__(self, posts):
        self.by_slug = {post["slug"]: post for post in posts}
        self.by_path = {_path(post["url"]): post for post in posts}

    def find(self, thread):
        links = [value for value in (thread.link, thread.identifier) if "/" in value]
        for link in links:
            if post := self.by_path.get(_path(link)):
                return post
        last_segments = [_path(link).rsplit("/", 1)[-1] for link in links]
        for slug in (thread.slug, thread.identifier, *last_segments):
            if post := self.by_slug.get(slug):
                return post
        return None


def _path(url):
    """A URL's path, decoded, without its trailing slash: how two URLs of one page compare."""
    return unquote(urlsplit(url.strip()).path).rstrip("/")


# One of these per comment stays in memory to the end of an import (its
# replies may come later): small, and without the comment's text.
@dataclass(eq=False, slots=True)
class _Placed:
    """A comment of the file that is stored, or will be: where its replies attach."""

    post_slug: str
    top: "_Placed | None" = None  # the top-level comment it replies to
    our_id: int | None = None  # once written (or when an earlier import wrote it)
    batch_index: int | None = None  # while waiting in the batch


@dataclass(eq=False, slots=True)
class _Refused:
    label: str


@dataclass(eq=False, slots=True)
class _Missing:
    """A parent in no file imported."""

    source_id: str


@dataclass(eq=False, slots=True)
class _Dropped:
    """Deleted on Disqus: its replies take its place, under ``stand_in`` (None: top level)."""

    stand_in: "_Placed | _Refused | _Missing | None"


_WAITING = object()


@dataclass
class ImportReport:
    imported: int = 0
    refused: int = 0
    skipped: int = 0
    changed_posts: set = field(default_factory=set)

    def summary(self, dry_run=False):
        noun = "comment" if self.imported == 1 else "comments"
        parts = [f"{self.imported} {noun} " + ("would be imported" if dry_run else "imported")]
        if self.refused:
            parts.append(f"{self.refused} refused")
        if self.skipped:
            parts.append(f"{self.skipped} skipped (already imported)")
        text = ", ".join(parts) + "."
        return f"Dry run, nothing written: {text}" if dry_run else text


class ForeignImport:
    """Import the comments of a WordPress or Disqus export, one at a time, in file order.

    ``add`` each ``foreign_exports.ForeignComment``, then ``finish``. ``refused``
    is called with one line per comment not imported; ``report`` counts."""

    def __init__(self, database, posts, *, refused, dry_run=False, by="console import"):
        self.database, self.dry_run, self.by = database, dry_run, by
        self.matcher = PostMatcher(posts)
        self.on_refused = refused
        self.report = ImportReport()
        self.seen = {}  # (source, source id) -> _Placed, _Refused, _Missing, _Dropped, _WAITING
        self.waiting = {}  # (source, parent's source id) -> comments waiting for it
        self.batch = []  # (_Placed, row)

    def add(self, comment):
        key = (comment.source, comment.source_id)
        if key in self.seen:  # the first one keeps the id; "no id" ones all say so
            self._refuse(comment, comment.refused or "its id appears twice in the file", False)
            return
        parent_key = (comment.source, comment.parent_id)
        if (
            comment.refused is None
            and comment.parent_id is not None
            and self.seen.get(parent_key, _WAITING) is _WAITING
        ):
            self.seen[key] = _WAITING
            self.waiting.setdefault(parent_key, []).append(comment)
            return
        self._settle(comment)

    def finish(self):
        """Settle the replies whose parents never came, and write the last batch."""
        for parent_key in [key for key in self.waiting if key not in self.seen]:
            # Not in this file: imported from another one, or nowhere.
            self.seen[parent_key] = self._imported_before(*parent_key) or _Missing(parent_key[1])
            for comment in self.waiting.pop(parent_key):
                self._settle(comment)
        while self.waiting:  # what still waits waits for itself: parents in a loop
            _parent_key, comments = self.waiting.popitem()
            for comment in comments:
                comment.refused = "its parents go round in a loop"
                self._settle(comment)
        self._flush()
        return self.report

    def _settle(self, first):
        queue = [first]
        while queue:
            comment = queue.pop(0)
            self.seen[(comment.source, comment.source_id)] = self._place(comment)
            queue.extend(self.waiting.pop((comment.source, comment.source_id), []))

    def _place(self, comment):
        """Import, skip or refuse one comment; return what its replies attach to."""
        if comment.refused is not None:
            return self._refuse(comment, comment.refused)
        parent = self._parent(comment)
        if comment.deleted:
            self._refuse(comment, foreign_exports.DELETED, record=False)
            return _Dropped(parent)
        earlier = self._imported_before(comment.source, comment.source_id)
        if earlier is not None:
            self.report.skipped += 1
            return earlier
        if isinstance(parent, _Refused):
            return self._refuse(comment, f"replies to {parent.label}, which was refused")
        if isinstance(parent, _Missing):
            return self._refuse(comment, f"it replies to {parent.source_id}, not in the file")
        post = self.matcher.find(comment.thread)
        if post is None:
            return self._refuse(comment, f"no post here matches {_where(comment.thread)}")
        if parent is not None and parent.post_slug != post["slug"]:
            return self._refuse(comment, "its parent is on another post")
        try:
            row = checked_comment(
                {
                    "post_slug": post["slug"],
                    "author_name": comment.author_name,
                    "email": comment.email,
                    "website": comment.website,
                    "body": comment.markdown(),
                    "status": comment.status,
                    "created_at": comment.created_at,
                }
            )
        except ValueError as exc:
            return self._refuse(comment, str(exc))
        placed = _Placed(post["slug"], top=(parent.top or parent) if parent else None)
        row.update(
            import_source=comment.source,
            import_id=comment.source_id,
            reason=f"imported from {comment.system}",
        )
        self._add_row(placed, row)
        return placed

    def _parent(self, comment):
        """What a reply attaches to: a _Placed, _Refused, _Missing, or None (top level)."""
        if comment.parent_id is None:
            return None
        parent = self.seen[(comment.source, comment.parent_id)]
        while isinstance(parent, _Dropped):
            parent = parent.stand_in
        return parent

    def _imported_before(self, source, source_id):
        stored = db.imported_comment(self.database, source, source_id)
        if stored is None:
            return None
        top = _Placed(stored["post_slug"], our_id=stored["parent_id"])
        return _Placed(
            stored["post_slug"], top=top if stored["parent_id"] else None, our_id=stored["id"]
        )

    def _refuse(self, comment, reason, record=True):
        self.report.refused += 1
        self.on_refused(f"Refused {comment.label}: {reason}")
        return _Refused(comment.label) if record else None

    def _add_row(self, placed, row):
        parent = placed.top
        if parent is not None:
            if parent.our_id is not None:
                row["parent_id"] = parent.our_id
            else:
                row["parent_index"] = parent.batch_index
        placed.batch_index = len(self.batch)
        self.batch.append((placed, row))
        if len(self.batch) >= BATCH:
            self._flush()

    def _flush(self):
        batch, self.batch = self.batch, []
        if not batch:
            return
        if self.dry_run:
            ids = [(0, True)] * len(batch)
        else:
            ids = db.add_imported_comments(self.database, [row for _, row in batch], by=self.by)
        for (placed, row), (our_id, inserted) in zip(batch, ids, strict=True):
            placed.our_id, placed.batch_index = our_id, None
            if not inserted:  # another import stored it a moment ago
                self.report.skipped += 1
                continue
            self.report.imported += 1
            if row["status"] == "approved":
                self.report.changed_posts.add(row["post_slug"])


def _where(thread):
    said = [f"link {thread.link[:200]!r}"] if thread.link else []
    said += [f"slug {thread.slug[:200]!r}"] if thread.slug else []
    said += [f"id {thread.identifier[:200]!r}"] if thread.identifier else []
    return " or ".join(said) or "(its thread gives no link)"
