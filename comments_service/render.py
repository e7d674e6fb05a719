"""Comment text -> safe HTML. The one renderer for every path that shows a comment.

Comments are stored exactly as typed. Two layers turn the text into HTML:

1. Markdown, cut down to a small subset: paragraphs, emphasis, links, lists,
   quotes and code (no headings: ``# x`` shows as typed). Raw HTML and
   images are switched off, so ``<b>`` typed in a comment shows as text
   instead of being interpreted.
2. nh3 (the Ammonia sanitizer) with an allow-list of those tags, ``href`` on
   links only, http/https URLs only (no relative ones) and
   ``rel="nofollow ugc noopener"``. Whatever Markdown lets through, this is
   the boundary.

Rendering is bounded (issue 10): stock Python-Markdown is quadratic on some
inputs (a comment of 5,000 ``[`` took 3 s, ``[a][`` repeated 0.7 s, a
backtick scan 0.9 s, 1,250 setext headings 0.13 s, 1,666 ``1. `` on one line
overflowed the stack), and even its linear work is slow (2,500 ``*[`` pairs
took 60 ms). Every comment is rendered when it is stored and again whenever
the renderer changes. Four bounds keep any comment the form accepts (5,000
characters) within a few tens of milliseconds without changing what ordinary
comments render to: ``_BoundedScans`` (links and code spans),
``_TailSearch`` (block searches), ``bound_nesting`` and ``_BoundMarkup`` (the
first MARKUP_MAX marks and PIECES_MAX pieces of text are interpreted, the
rest shows as typed); headings, which the allow-list never let through, are
not parsed at all.
tests/test_render_bounds.py holds the cost to a count of steps per character.

Rendered once, shown many times. A comment is rendered when it is stored
(intake, an edit, an import: ``db.py`` calls ``stored_html`` before it takes
the writers' lock) and its HTML is kept beside its text with the version of
the renderer that made it. Pages show the stored HTML (``comment_html``): the
admin queue, the reply page and a build pay nothing per comment, however
hostile its text. ``RENDERER_VERSION`` is not a number anyone bumps: it is a
hash of this file's source, the Markdown and nh3 versions, the Unicode tables,
the Python version and the allow-list, so any change to what decides the HTML
(a fix here, an upgraded dependency) makes every stored copy stale at once. A
stale copy is never shown: ``comment_html`` renders the text again (pages stay
right the moment a new renderer is deployed), and ``flask comments rerender``
(the daily maintenance job) stores the new HTML. So the old promise holds: a
fix to this module protects every comment ever stored. (Everything that
decides the HTML must stay in this module, or be added to the hash.)
"""

import hashlib
import re
import sys
import threading
import unicodedata
from datetime import datetime
from pathlib import Path

import markdown
import nh3
from markdown import blockprocessors, inlinepatterns, preprocessors, treeprocessors, util

ALLOWED_TAGS = {"p", "br", "em", "strong", "a", "ul", "ol", "li", "blockquote", "code", "pre"}
LINK_REL = "nofollow ugc noopener"

_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes={"a": {"href"}},
    url_schemes={"http", "https"},
    url_relative="deny",
    link_rel=LINK_REL,
    strip_comments=True,
)


def _renderer_version():
    """A short hash of everything that decides a comment's HTML (see the module docstring)."""
    decides = (
        Path(__file__).read_bytes(),
        markdown.__version__,
        nh3.__version__,
        unicodedata.unidata_version,
        sys.version_info[:2],
        sorted(ALLOWED_TAGS),
        LINK_REL,
    )
    return hashlib.sha256(repr(decides).encode()).hexdigest()[:16]


RENDERER_VERSION = _renderer_version()

# Direction overrides and invisible formatting characters let a comment make
# its text read differently from what it is ("Trojan Source"); none has a
# place in a name or a comment.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text):
    """Normalise typed text: NFC, no control or bidi-override characters, LF newlines."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", _INVISIBLE.sub("", text))


def clean_line(text):
    """Like ``clean_text`` for one-line fields (names, websites): also no newlines."""
    return " ".join(clean_text(text).split())


# Forward scans. For every ``[`` the link patterns scan forward, one Python
# step a character, for the matching ``]`` and then ``(...)``, and for every
# opening backtick the code span pattern scans for a closing run of as many; a
# failed scan runs to the end of the text, so n brackets or backticks cost
# n * n steps. Each scan is cut to a window (no honest link text, address or
# code span is that long) and all scans of one comment share a budget of
# characters, ten times the longest comment: once it is spent, a further
# ``[`` or backtick is plain text. Successful scans consume what they scan, so
# ordinary comments never come near the budget.
LINK_TEXT_MAX = 1000
LINK_URL_MAX = 2000
CODE_SPAN_MAX = 2000
SCAN_BUDGET = 50_000


class _BoundedScans:
    """Mixin for Python-Markdown's link and code processors: windowed, budgeted scans."""

    def _window(self, index, window):
        # Never below index: a negative slice end would open the whole text again.
        return index + max(0, min(window, self.md.scan_budget))

    def _spend(self, index, reached):
        self.md.scan_budget -= max(1, reached - index)

    def _link_scan(self, scan, data, index, window):
        result = scan(data[: self._window(index, window)], index)
        # Every link scan returns the index it reached as its second-to-last value.
        self._spend(index, result[-2])
        return result

    def getText(self, data, index):  # noqa: N802 (Python-Markdown's name)
        return self._link_scan(super().getText, data, index, LINK_TEXT_MAX)

    def getLink(self, data, index):  # noqa: N802
        return self._link_scan(super().getLink, data, index, LINK_URL_MAX)

    def find_code_spans(self, start, text):
        # The window always takes the opening backticks in, so that with the
        # budget spent they are still stepped over as text (an empty window
        # would have Markdown try the same position again and again).
        opened = _BACKTICKS.match(text, start).end()
        end = max(opened, self._window(start, CODE_SPAN_MAX))
        code_start, code_end = super().find_code_spans(start, text[:end])
        # A closing run as long as the opening one ends the scan there; anything
        # else (none, or a shorter run taken instead) scanned the whole window.
        if code_end is not None and code_start == opened:
            end = code_end
        self._spend(start, end)
        return code_start, code_end


_BACKTICKS = re.compile("`*")


class _Link(_BoundedScans, inlinepatterns.LinkInlineProcessor):
    pass


class _Reference(_BoundedScans, inlinepatterns.ReferenceInlineProcessor):
    pass


class _ShortReference(_BoundedScans, inlinepatterns.ShortReferenceInlineProcessor):
    pass


class _Backtick(_BoundedScans, inlinepatterns.BacktickInlineProcessor):
    def __init__(self, pattern, md):
        super().__init__(pattern)
        self.md = md


# Nesting. Quote and list markers on one line (``> > > x``, ``1. 1. 1. x``)
# each open a level that Python-Markdown parses by recursion, re-scanning the
# rest of the line: 5,000 ``>`` cost 55 ms and 1,666 ``1. `` overflowed the
# stack (a 500). Beyond NESTING_MAX markers on a line the next marker is
# backslash-escaped, so it and the rest of the line are text. Lines indented
# four spaces or more are left alone (they may be code). It runs as a
# preprocessor after Markdown's own, so it sees lines as the block parser
# will (tabs expanded: ``*\t*`` is two markers to Markdown).
NESTING_MAX = 8
_MARKER = r"[ \t]*(?:>|[*+-](?=[ \t])|\d{1,9}[.)](?=[ \t]))"
# (Not on a line that is a horizontal rule to Markdown, such as ``- - - -``:
# Markdown's own rule pattern, which allows at most two spaces between marks.)
_DEEP_LINE = re.compile(
    rf"^(?= {{0,3}}\S)(?!{blockprocessors.HRProcessor.RE})"
    rf"(?P<start>(?:{_MARKER}){{{NESTING_MAX}}}[ \t]*)(?P<digits>\d*)(?P<mark>\S)",
    re.M,
)


def bound_nesting(text):
    """Escape the quote or list marker past NESTING_MAX on any line."""

    def escape(m):
        start, digits, mark = m.group("start", "digits", "mark")
        if not digits and mark not in ">*+-":
            return m.group(0)
        return f"{start}{digits}\\{mark}"

    return _DEEP_LINE.sub(escape, text)


class _BoundNesting(preprocessors.Preprocessor):
    def run(self, lines):
        return bound_nesting("\n".join(lines)).split("\n")


# Blocks. Python-Markdown splits a comment into blocks at blank lines; some
# block processors take one piece off the front of a block (a heading, a
# rule, a link definition) and hand back the rest, and before each piece the
# heading, rule, quote and definition processors search all of the rest
# again: 1,250 setext headings ("a\n=\n") cost 130 ms. What is handed back
# is a tail of a block searched before, so each search remembers the first
# match it found past the start of a block, and a search of a tail reuses it
# while it lies ahead. Exact for these patterns: none looks behind, so a
# match at a position other than 0 does not depend on what precedes the tail.
class _TailSearch:
    """A block processor's pattern whose ``search`` of a tail resumes where it stopped."""

    REMEMBERED = 4  # blocks: a piece taken off the front is parsed before the rest
    SHORT = 200  # characters: a short block is cheaper to search again than to remember

    def __init__(self, regex):
        self.regex = regex
        self._seen = []  # [(block, first match past position 0 or None)], latest first
        self._last = self._last_found = None

    def __getattr__(self, name):
        return getattr(self.regex, name)

    def search(self, block):
        if len(block) < self.SHORT:
            return self.regex.search(block)
        if block is self._last:  # run() searching the block test() just searched
            return self._last_found
        found = self.regex.match(block)
        if not found:
            found = self._search_past_start(block)
        self._last, self._last_found = block, found
        return found

    def _search_past_start(self, block):
        size = len(block)
        for i, (seen, found) in enumerate(self._seen):
            offset = len(seen) - size
            if offset >= 0 and (found is None or found.start() > offset) and seen.endswith(block):
                del self._seen[i]
                found = found and self.regex.match(block, found.start() - offset)
                break
        else:
            found = self.regex.search(block, 1)
            del self._seen[self.REMEMBERED - 1 :]
        self._seen.insert(0, (block, found))
        return found


# Marks and pieces. Even where linear, Python-Markdown's inline processing
# costs 10 to 15 microseconds a mark it matches or tries (2,500 "*[" pairs
# took 60 ms, 2,500 "*a" 35 ms) and about 20 a piece of text it walks, a
# paragraph or a list item (1,250 "- a" items took 30 ms). So a comment has
# its first MARKUP_MAX marks (the characters that start an inline pattern:
# escapes, code, links, autolinks, entities, emphasis) and its first
# PIECES_MAX pieces of text interpreted; further ones show as typed. No
# honest comment comes near (100 links and 100 emphasised words use 400
# marks; a comment of 5,000 characters in 50 paragraphs has 50 pieces). A mark
# past the limit becomes Markdown's own escaped form of the character, which
# no pattern matches and its unescape step turns back into the character; a
# piece past the limit is atomic, which inline processing skips. It runs on
# the block parser's output, so lists, quotes and code blocks (their text is
# atomic already) are left to it.
MARKUP_MAX = 500
PIECES_MAX = 250
_MARKS = "\\`*_[<&"
_MARK = re.compile(f"[{re.escape(_MARKS)}]")
_AS_TYPED = {ord(c): f"{util.STX}{ord(c)}{util.ETX}" for c in _MARKS}


def bound_markup(text, allowance):
    """``text`` with its marks past ``allowance`` made plain, and what is left of it."""
    for mark in _MARK.finditer(text):
        if allowance == 0:
            return text[: mark.start()] + text[mark.start() :].translate(_AS_TYPED), 0
        allowance -= 1
    return text, allowance


class _BoundMarkup(treeprocessors.Treeprocessor):
    def run(self, root):
        marks, pieces = MARKUP_MAX, PIECES_MAX
        for element in root.iter():
            for side in ("text", "tail"):
                text = getattr(element, side)
                if not text or isinstance(text, util.AtomicString) or text.isspace():
                    continue
                if pieces == 0:
                    setattr(element, side, util.AtomicString(text))
                    continue
                pieces -= 1
                text, marks = bound_markup(text, marks)
                setattr(element, side, text)


def _new_markdown():
    md = markdown.Markdown(extensions=[], output_format="html")
    # Raw HTML is text in a comment; images would be third-party requests.
    md.preprocessors.deregister("html_block")
    for pattern in ("html", "image_link", "image_reference", "short_image_ref", "automail"):
        md.inlinePatterns.deregister(pattern)
    md.preprocessors.register(_BoundNesting(md), "bound_nesting", 25)
    md.treeprocessors.register(_BoundMarkup(md), "bound_markup", 30)  # before "inline"
    # The same patterns at Python-Markdown's own priorities, with bounded scans.
    for cls, name, priority in (
        (_Reference, "reference", 170),
        (_Link, "link", 160),
        (_ShortReference, "short_reference", 130),
    ):
        md.inlinePatterns.register(cls(inlinepatterns.LINK_RE, md), name, priority)
    md.inlinePatterns.register(_Backtick(inlinepatterns.BACKTICK_RE, md), "backtick", 190)
    blocks = md.parser.blockprocessors
    # Headings are not in the allow-list (a comment has no sections): a line
    # typed "# Step one" or underlined with "===" shows as typed, where nh3
    # used to drop the marks, and the slowest blocks to parse (1,250 "a\n#\n"
    # took 55 ms) are plain paragraphs.
    blocks.deregister("hashheader")
    blocks.deregister("setextheader")
    for name, attribute in (
        ("hr", "SEARCH_RE"),
        ("quote", "RE"),
        ("reference", "RE"),
    ):
        processor = blocks[name]
        setattr(processor, attribute, _TailSearch(getattr(processor, attribute)))
    return md


# Setting up a Markdown instance costs more than converting a comment, and a
# build renders every approved comment: each thread keeps one and resets it
# between comments (an instance is not safe to share between threads).
_per_thread = threading.local()


def render_comment(text):
    """Return sanitized HTML for a stored comment body."""
    md = getattr(_per_thread, "markdown", None)
    if md is None:
        md = _per_thread.markdown = _new_markdown()
    md.reset()
    md.scan_budget = SCAN_BUDGET
    try:
        html = md.convert(clean_text(text))
    except BaseException:
        # A conversion cut short leaves the instance's parser state behind
        # (seen after a RecursionError: later comments lost their <p>).
        _per_thread.markdown = None
        raise
    return _cleaner.clean(html)


def stored_html(text):
    """What to store beside a comment's text: ``(html, renderer version)``."""
    return render_comment(text), RENDERER_VERSION


def comment_html(row):
    """A stored comment's HTML: the copy stored with it if this renderer made it,
    else rendered now (a stale copy, right after a new renderer was deployed,
    until ``flask comments rerender`` has stored the new one)."""
    if row.get("body_html_renderer") == RENDERER_VERSION and row.get("body_html") is not None:
        return row["body_html"]
    return render_comment(row["body"])


_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def link_urls(text):
    """The links a comment carries, in Markdown or as bare URLs (``www.`` ones too),
    as written: a Markdown link's closing parenthesis may trail."""
    return _URL.findall(text)


def count_links(text):
    """Count the links a comment carries, in Markdown or as bare URLs."""
    return len(link_urls(text))


def safe_website(url):
    """A commenter's website as a link target, or '' (defence for imported data)."""
    url = clean_line(url or "")
    return url if re.match(r"https?://[^\s/]", url, re.IGNORECASE) else ""


def display_comment(row, *, private=False):
    """What the templates need from a stored comment: the one view of a comment.

    The static pages, the reply page readers see and every admin page use it,
    so a comment reads the same everywhere (same date, same cleaned website).
    With ``private``, also what only the admin sees: email, status, the last
    decision and the version the admin's forms send back.
    """
    created = datetime.fromisoformat(row["created_at"])
    view = {
        "id": row["id"],
        "parent_id": row.get("parent_id"),
        "author_name": clean_line(row["author_name"]),
        "website": safe_website(row.get("website")),
        "is_author": bool(row.get("is_author")),
        "created_at": row["created_at"],
        "created_label": f"{created:%B} {created.day}, {created:%Y} at {created:%H:%M}",
        "body_html": comment_html(row),
        "replies": [],
    }
    if private:
        view.update(
            post_slug=row["post_slug"],
            email=row.get("email") or "",
            status=row["status"],
            reason=row.get("reason"),
            decided_by=row.get("decided_by"),
            version=row["version"],
        )
    return view


def comment_threads(rows):
    """Group one post's approved comments: top-level ones, each with its replies.

    A reply whose parent is not approved is not shown: it would read out of context.
    """
    threads, by_id = [], {}
    for row in rows:
        if not row.get("parent_id"):
            comment = display_comment(row)
            by_id[comment["id"]] = comment
            threads.append(comment)
    for row in rows:
        parent = by_id.get(row.get("parent_id"))
        if parent is not None:
            parent["replies"].append(display_comment(row))
    return threads


def count_shown(threads):
    return sum(1 + len(t["replies"]) for t in threads)
