"""The comment renderer is safe and its cost bounded for any text the form accepts.

Safety: whatever is typed, the HTML holds only the allow-listed tags, ``href``
only on links and only to http/https, every link ``rel="nofollow ugc
noopener"``, and a ``<`` typed never makes a tag. Checked with hypothesis over
arbitrary text and over text mixing Markdown's syntax.

Cost (issue 10: "rendering any accepted comment costs at most 50 ms"): no timed
assertion here (the machine is shared; bench/run.py goal 5 times the worst
cases). Instead one render's work is counted, deterministically:

* every line of Python executed (``sys.settrace`` line events), which counts
  Python-Markdown's character-by-character scans; and
* every character a regular expression examined (Markdown's patterns are
  swapped for counting ones), which counts the scans done in C.

The limit is WORK_PER_CHAR steps a character plus a fixed allowance for the
link and code span scan budget (``render.SCAN_BUDGET``, spent whatever the
length): 1.4 million steps at 5,000 characters. Why 200: the slowest linear
inputs found (emphasis and brackets repeated, hypothesis included) use up to
three quarters of the limit and an ordinary comment a seventh, while the
quadratic inputs go over it at 5,000 characters (the setext headings at
d18d0a9 by 2.5 times, 5,000 ``[`` before d18d0a9 by far more): these tests fail
on 20 inputs of the table and 3 nested ones with the renderer before d18d0a9,
and on 7 inputs with the one of d18d0a9. In time, a step cost 15 to 100 ns here (about 50 ns on the
slowest inputs), so the limit is roughly the 50 ms the issue allows.
"""

import re
import sys
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adversarial_comments import ADVERSARIAL, NESTED, fill
from comments_service import render
from comments_service.forms import BODY_MAX

# --- counting the work of one render -----------------------------------------

# Steps per character of the comment (lines of Python plus characters examined
# by regular expressions): see the module docstring.
WORK_PER_CHAR = 200
# The link and code span scans of one comment share render.SCAN_BUDGET
# characters whatever its length; a character of that scan costs about 8 steps.
SCAN_ALLOWANCE = 8 * render.SCAN_BUDGET


def work_limit(text):
    return WORK_PER_CHAR * len(text) + SCAN_ALLOWANCE


class TooMuchWork(Exception):
    """Raised inside the render once it has used more steps than allowed."""


class _Steps:
    def __init__(self, limit):
        self.lines = self.regex = 0
        self.limit = limit

    def add_regex(self, n):
        self.regex += max(1, n)
        self._check()

    def _check(self):
        if self.lines + self.regex > self.limit:
            raise TooMuchWork(f"{self.lines:,} lines + {self.regex:,} regex characters")

    def tracer(self, frame, event, arg):
        if event == "call" and frame.f_code.co_filename == __file__:
            return None  # the counting itself is not the render's work
        if event == "line":
            self.lines += 1
            if self.lines & 1023 == 0:
                self._check()
        return self.tracer


class _CountingPattern:
    """A compiled pattern that counts the characters each call examines: up to
    the end of what it matched, or to the end of the text when a search fails
    (a failed ``match`` at one position counts 1)."""

    def __init__(self, pattern, steps):
        self._pattern, self._steps = pattern, steps

    def __getattr__(self, name):
        return getattr(self._pattern, name)

    def _end(self, string, endpos):
        return min(len(string), endpos)

    def search(self, string, pos=0, endpos=sys.maxsize):
        m = self._pattern.search(string, pos, endpos)
        self._steps.add_regex((m.end() if m else self._end(string, endpos)) - pos)
        return m

    def match(self, string, pos=0, endpos=sys.maxsize):
        m = self._pattern.match(string, pos, endpos)
        self._steps.add_regex(m.end() - pos if m else 1)
        return m

    def fullmatch(self, string, pos=0, endpos=sys.maxsize):
        m = self._pattern.fullmatch(string, pos, endpos)
        self._steps.add_regex(m.end() - pos if m else 1)
        return m

    def finditer(self, string, pos=0, endpos=sys.maxsize):
        last = pos
        for m in self._pattern.finditer(string, pos, endpos):
            self._steps.add_regex(m.end() - last)
            last = m.end()
            yield m
        self._steps.add_regex(self._end(string, endpos) - last)

    def sub(self, repl, string, count=0):
        self._steps.add_regex(len(string))
        return self._pattern.sub(repl, string, count)

    def split(self, string, maxsplit=0):
        self._steps.add_regex(len(string))
        return self._pattern.split(string, maxsplit)

    def findall(self, string, pos=0, endpos=sys.maxsize):
        self._steps.add_regex(self._end(string, endpos) - pos)
        return self._pattern.findall(string, pos, endpos)


def _count_patterns(obj, steps, seen):
    """Swap every compiled pattern reachable from a Markdown instance (held by its
    processors, their helpers and the renderer's wrappers) for a counting one."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        values = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        values = list(obj)
    elif type(obj).__module__.startswith(("markdown", "comments_service")):
        values = []
        for name, value in vars(obj).items():
            if isinstance(value, re.Pattern):
                setattr(obj, name, _CountingPattern(value, steps))
            else:
                values.append(value)
        for name in dir(type(obj)):
            held = getattr(type(obj), name, None)
            if isinstance(held, re.Pattern) and name not in vars(obj):
                setattr(obj, name, _CountingPattern(held, steps))
    else:
        return
    for value in values:
        _count_patterns(value, steps, seen)


def render_work(text, limit):
    """Render ``text`` as render_comment does and return (lines, regex characters).

    Raises TooMuchWork as soon as the render has used more than ``limit`` steps.
    """
    steps = _Steps(limit)
    md = render._new_markdown()
    _count_patterns(md, steps, set())
    saved = getattr(render._per_thread, "markdown", None)
    render._per_thread.markdown = md
    sys.settrace(steps.tracer)
    try:
        render.render_comment(text)
    finally:
        sys.settrace(None)
        render._per_thread.markdown = saved
    return steps.lines, steps.regex


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_work_on_adversarial_comments_is_bounded(unit):
    text = fill(unit)
    lines, regex = render_work(text, work_limit(text))
    assert lines + regex <= work_limit(text)


@pytest.mark.parametrize("text", NESTED)
def test_work_on_nested_emphasis_and_links_is_bounded(text):
    lines, regex = render_work(text, work_limit(text))
    assert lines + regex <= work_limit(text)


def test_deep_nesting_on_one_line_renders_as_text_beyond_the_cap():
    html = render.render_comment("1. " * 1666)
    assert [name for name, _ in tags(html)].count("ol") == render.NESTING_MAX
    # The markers past the cap are the innermost item's text.
    assert BeautifulSoup(html, "html.parser").get_text().count("1.") == 1666 - render.NESTING_MAX


def test_headings_show_as_typed():
    # Not in the allow-list: the marks stay (nh3 used to drop them), and
    # 1,250 of them are a paragraph, not 1,250 blocks to parse.
    assert render.render_comment("# Step one\n\nAsk.") == "<p># Step one</p>\n<p>Ask.</p>"
    assert render.render_comment("Title\n=====") == "<p>Title\n=====</p>"
    html = render.render_comment(fill("a\n#\n"))
    assert [name for name, _ in tags(html)] == ["p"]


def test_marks_past_the_limit_show_as_typed():
    # 250 emphasised words are the limit's 500 marks; after them code, an
    # ampersand, an escape, links and emphasis are text.
    tail = "`c*d` AT&T \\* [l](https://x.example/a_b) <https://y.example> *e*"
    html = render.render_comment("*a* " * (render.MARKUP_MAX // 2) + tail)
    assert [name for name, _ in tags(html)].count("em") == render.MARKUP_MAX // 2
    assert BeautifulSoup(html, "html.parser").get_text().endswith(tail)
    assert "\x02" not in html and "\x03" not in html


def test_pieces_past_the_limit_show_as_typed():
    item = "[x](https://x.example)"
    html = render.render_comment(f"- {item}\n" * (render.PIECES_MAX + 50))
    names = [name for name, _ in tags(html)]
    assert names.count("li") == render.PIECES_MAX + 50
    assert names.count("a") == render.PIECES_MAX
    assert BeautifulSoup(html, "html.parser").get_text().count(item) == 50


def test_a_hostile_comment_leaves_the_next_one_unchanged():
    ordinary = "First line.\n\nSecond *paragraph* with [a link](https://example.com)."
    expected = render.render_comment(ordinary)
    for unit in ("[", "1. ", "`[", "a\n=\n", "*    "):
        render.render_comment(fill(unit))
        assert render.render_comment(ordinary) == expected


# --- properties of the output, for any input -----------------------------------

ALLOWED_ATTRIBUTES = {"a": {"href", "rel"}}
MARKDOWN_PIECES = [
    "[",
    "]",
    "(",
    ")",
    "`",
    "``",
    "*",
    "**",
    "_",
    "__",
    ">",
    "> ",
    "<",
    "&",
    "#",
    "# ",
    "-",
    "- ",
    "+ ",
    "* ",
    "1. ",
    "1) ",
    "=",
    "---",
    "!",
    "\\",
    " ",
    "  ",
    "    ",
    "\t",
    "\n",
    "\n\n",
    ":",
    '"',
    "'",
    "a",
    "word",
    "é",
    "😀",
    "\u202e",
    "&amp;",
    "&lt;",
    "&#60;",
    "&#x3c;",
    "&#106;",
    "&quot;",
    "<script>",
    "</script>",
    "<em>",
    "<a href='https://x.example'>",
    "</a>",
    "<p>",
    "<img src=x onerror=alert(1)>",
    "<!--",
    "-->",
    "<b",
    "javascript:alert(1)",
    "JaVaScRiPt:",
    "java\tscript:",
    "data:text/html,x",
    "vbscript:",
    "https://ok.example/a_b",
    "http://x.y",
    "//evil.example",
    "www.example.com",
    "<https://auto.example>",
    "[x](",
    "](",
    "[x]: ",
    "[x][",
    "![",
]
markdown_text = st.lists(
    st.one_of(st.sampled_from(MARKDOWN_PIECES), st.text(max_size=3)), max_size=60
).map("".join)
any_text = st.text(max_size=400)
SAFETY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tags(html):
    """Every start tag of an HTML fragment with its attributes: [(name, {attr: value})]."""
    found = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    parser = Tags(convert_charrefs=True)
    parser.feed(html)
    parser.close()
    return found


def assert_safe(html):
    for name, attrs in tags(html):
        assert name in render.ALLOWED_TAGS, (name, attrs)
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(name, set()), (name, attrs)
        if name == "a":
            assert attrs.get("rel") == render.LINK_REL, attrs
            if "href" in attrs:
                assert urlsplit(attrs["href"]).scheme.lower() in ("http", "https"), attrs


@SAFETY
@given(st.one_of(any_text, markdown_text))
def test_any_comment_renders_to_allowed_tags_and_links(text):
    assert_safe(render.render_comment(text))


# Backslashes are marks: after this, every mark of the text is past the limit.
ALL_MARKS_SPENT = "\\\\" * (render.MARKUP_MAX // 2) + "\n\n"


@SAFETY
@given(st.one_of(any_text, markdown_text))
def test_any_comment_past_the_marks_limit_renders_safely_as_text(text):
    html = render.render_comment(ALL_MARKS_SPENT + text)
    assert_safe(html)
    assert "\x02" not in html and "\x03" not in html


@SAFETY
@given(markdown_text.filter(lambda text: "://" not in text))
def test_a_typed_less_than_sign_never_makes_a_tag(text):
    """The same comment with every ``<`` replaced by ``{`` has the same elements.

    (Without "://" no ``<`` can open an automatic link, the one Markdown
    construct that consumes it.)
    """
    assert tags(render.render_comment(text)) == tags(render.render_comment(text.replace("<", "{")))


# --- the work bound, for any short pattern repeated to fill the form ---------------

WORK = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same inputs every run: a slow search must not make CI flaky
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@WORK
@given(
    unit=st.lists(st.sampled_from(MARKDOWN_PIECES), min_size=1, max_size=8).map("".join),
    prefix=st.sampled_from(["", "a\n", "> ", "1. ", "    ", "[", "`", "*"]),
)
def test_work_on_any_repeated_pattern_is_bounded(unit, prefix):
    text = prefix + fill(unit, BODY_MAX - len(prefix))
    lines, regex = render_work(text, work_limit(text))
    assert lines + regex <= work_limit(text)
