"""How a post's text looks: curly quotes and dashes, heading links, code colours.

``Typography`` is a Markdown extension (``MARKDOWN`` in pelicanconf.py):

* straight quotes become curly ones ("a" -> “a”, it's -> it’s), ``--`` an en
  dash, ``---`` an em dash, ``...`` an ellipsis, outside code;
* every heading gets an ``id`` and a "#" link to itself, for sharing a
  section: ``<div class="heading"><h2 id="why">Why</h2><a class="heading-link"
  href="#why" aria-label="Link to section: Why">#</a></div>``. The link sits
  beside the heading, not in it, so the heading's accessible name stays its
  text; the link's name says where it goes. It is named by ``aria-label``
  rather than hidden text because the Atom feed carries posts whole, and a
  feed reader shows hidden text (it has no stylesheet): there it is just "#".

Python-Markdown's ``smarty`` and ``toc`` extensions do the same, but smarty
runs a second inline pass over every text node and toc renders a table of
contents for every post: measured on the benchmark corpus they made the
Markdown step 2.2x and 1.2x as slow (1.6 ms -> 3.5 ms a post), which the
build-overhead goal (bench/run.py, goal 1) cannot afford at 10,000 posts. These
two tree passes cost a few hundredths of a millisecond. Ids are made by toc's
own ``slugify``, so links are the ones toc would make.

Code blocks are coloured by Pygments (``codehilite``, ``class="highlight"``)
with ``CODE_STYLES``, a light style and a dark one, each with at least 4.5:1
contrast for every token. Their stylesheet, ``theme/static/css/code.css``, is
generated from them (``python -m comments_service.static_site.typography``;
tests/test_typography.py checks it is up to date) and linked only by pages that
have code, so other pages do not pay for it.
"""

import re
import sys
import xml.etree.ElementTree as etree
from pathlib import Path

from markdown.extensions import Extension
from markdown.extensions.toc import slugify
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString
from pygments.formatters import HtmlFormatter
from pygments.styles import get_style_by_name
from pygments.token import Text

CODE_STYLES = {"light": "default", "dark": "github-dark"}
CODE_CSS = Path(__file__).resolve().parents[2] / "theme" / "static" / "css" / "code.css"
# What codehilite wraps a block in (Pelican's default ``css_class``).
CODE_CLASS = "highlight"

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Text inside these is code or not prose: its quotes are meant straight.
VERBATIM = {"code", "pre", "kbd", "samp", "var", "script", "style", "math", "svg"}
# A quote opens after a space, the start of a block or one of these, and
# before a word: one followed by a space or one of CLOSERS closes.
OPENERS = set("([{<-/\u2013\u2014\"'\u201c\u2018")
CLOSERS = set(")]}>.,;:!?")
PUNCTUATION = re.compile(r"-{2,3}|\.\.\.|[\"']")
# Python-Markdown's placeholders for raw HTML and entities: STX ... ETX.
PLACEHOLDER = re.compile("\x02[^\x03]*\x03")


def educate(text, before):
    """``text`` with typographic punctuation, and its last character.

    ``before`` is the character preceding ``text`` in its block ("" at the
    start of one): it decides whether a quote at the start opens or closes."""
    if not ('"' in text or "'" in text or "--" in text or "..." in text):
        return text, text[-1:] or before

    def replace(match):
        found, at = match.group(), match.start()
        if found == "---":
            return "\u2014"
        if found == "--":
            return "\u2013"
        if found == "...":
            return "\u2026"
        previous = text[at - 1] if at else before
        following = text[at + 1 : at + 2]
        opening = (
            (not previous or previous.isspace() or previous in OPENERS)
            and following
            and not following.isspace()
            and following not in CLOSERS
        )
        if found == '"':
            return "\u201c" if opening else "\u201d"
        # An apostrophe before digits ('90s) is not an opening quote.
        return "\u2018" if opening and not following.isdigit() else "\u2019"

    return PUNCTUATION.sub(replace, text), text[-1]


class SmartPunctuation(Treeprocessor):
    """Curly quotes, dashes and ellipses in text, after the inline patterns ran."""

    def run(self, root):
        # A set, not Markdown's list behind ``is_block_level``: asked per element.
        self.blocks = set(self.md.block_level_elements)
        self.walk(root, "")

    def walk(self, element, before):
        if element.tag in self.blocks:
            before = ""
        if element.tag in VERBATIM:
            return "".join(element.itertext())[-1:] or before  # code reads as a word
        if element.text:
            if isinstance(element.text, AtomicString):
                before = element.text[-1]
            else:
                element.text, before = educate(element.text, before)
        for child in element:
            before = self.walk(child, before)
            if child.tag in self.blocks:
                before = ""
            if child.tail:
                child.tail, before = educate(child.tail, before)
        return before


class HeadingLinks(Treeprocessor):
    """An ``id`` on every heading and a "#" link to it beside the heading."""

    def run(self, root):
        used = {element.get("id") for element in root.iter() if element.get("id")}
        for parent in list(root.iter()):
            for index, heading in enumerate(list(parent)):
                if heading.tag in HEADINGS:
                    parent[index] = self.linked(heading, used)

    def linked(self, heading, used):
        title = " ".join(PLACEHOLDER.sub("", "".join(heading.itertext())).split())
        if not heading.get("id"):
            slug = base = slugify(title, "-") or "section"
            number = 0
            while slug in used:
                number += 1
                slug = f"{base}_{number}"
            used.add(slug)
            heading.set("id", slug)
        wrapper = etree.Element("div", {"class": "heading"})
        wrapper.tail, heading.tail = heading.tail, None
        wrapper.append(heading)
        link = etree.SubElement(
            wrapper,
            "a",
            {
                "class": "heading-link",
                "href": f"#{heading.get('id')}",
                "aria-label": f"Link to section: {title}",
            },
        )
        link.text = "#"
        return wrapper


class Typography(Extension):
    """Curly quotes, dashes and ellipses; a link on every heading."""

    def extendMarkdown(self, md):
        # After the inline patterns (20) and prettify (10), so that they see
        # the final text; punctuation first, so that the links' labels have it.
        md.treeprocessors.register(SmartPunctuation(md), "smart_punctuation", 6)
        md.treeprocessors.register(HeadingLinks(md), "heading_links", 5)


def makeExtension(**kwargs):  # noqa: N802 -- the name Markdown looks for
    return Typography(**kwargs)


# --- code colours -----------------------------------------------------------------


def style_rules(name):
    """One Pygments style as compact rules under ``.highlight``, text colour included."""
    style = get_style_by_name(name)
    rules = []
    for line in HtmlFormatter(style=name).get_style_defs(f".{CODE_CLASS}").splitlines():
        if not line.startswith(f".{CODE_CLASS}"):
            continue  # line numbers and `pre`: not used here
        rule = line.split(" /* ")[0].strip()
        rule = rule.replace(" { ", "{").replace(" }", "}").replace(": ", ":").replace("; ", ";")
        rules.append(rule.replace(";}", "}"))
    if any(rule.startswith(f".{CODE_CLASS}{{") and "color:" in rule for rule in rules):
        return rules
    text = style.style_for_token(Text)["color"]
    if not text:
        # Unstyled text: black or white, whichever the background needs.
        background = style.background_color.lstrip("#")
        if len(background) == 3:
            background = "".join(c * 2 for c in background)
        dark = sum(int(background[i : i + 2], 16) for i in (0, 2, 4)) < 3 * 128
        text = "ffffff" if dark else "000000"
    rules.append(f".{CODE_CLASS}{{color:#{text}}}")
    return rules


def code_stylesheet(styles=None):
    """The stylesheet of code blocks: the light style, and the dark one for a dark scheme."""
    styles = styles or CODE_STYLES
    header = (
        "/* Code colours: Pygments styles "
        f"{styles['light']!r} (light) and {styles['dark']!r} (dark). Generated by\n"
        "   `python -m comments_service.static_site.typography`: do not edit. */\n"
    )
    light = "\n".join(style_rules(styles["light"]))
    dark = "\n".join(f"  {rule}" for rule in style_rules(styles["dark"]))
    return (
        f"{header}@media (prefers-color-scheme: light) {{\n"
        + "\n".join(f"  {rule}" for rule in light.splitlines())
        + f"\n}}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
    )


def main():
    """Write ``theme/static/css/code.css`` from ``CODE_STYLES``."""
    CODE_CSS.write_text(code_stylesheet(), encoding="utf-8")
    print(f"Wrote {CODE_CSS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
