"""Read WordPress (WXR) and Disqus export files: safely, streaming, as plain comments.

What the formats hold, from the sources we relied on:

* **WordPress eXtended RSS (WXR)**, versions 1.0 to 1.2. It has no specification;
  WordPress core's exporter (``wp-admin/includes/export.php``, ``export_wp``) is the
  reference. ``<rss><channel>`` carries ``<wp:base_blog_url>``, then one ``<item>``
  per post: ``<link>`` (the permalink), ``<wp:post_name>`` (the slug) and other
  fields, then its ``<wp:comment>`` elements: ``wp:comment_id``,
  ``wp:comment_author``, ``wp:comment_author_email``, ``wp:comment_author_url``
  (passed through ``esc_url_raw``), ``wp:comment_author_IP``,
  ``wp:comment_date_gmt`` (``YYYY-MM-DD HH:MM:SS`` in UTC), ``wp:comment_content``
  (the text as WordPress stores it: some HTML, and newlines that mean line and
  paragraph breaks, since WordPress applies ``wpautop`` only when it shows a
  comment), ``wp:comment_approved`` (``1``, ``0``, ``spam``, ``trash``,
  ``post-trashed``), ``wp:comment_type`` (empty or ``comment``; ``pingback``,
  ``trackback``) and ``wp:comment_parent`` (``0`` for none). The exporter leaves
  spam out (``comment_approved <> 'spam'``) but a hand-made file may have it.
* **Disqus**: its export documentation (docs.disqus.com, "Comments Export", with
  the schema ``disqus.com/api/schemas/1.0/disqus.xsd``): a ``<disqus>`` root in
  the ``http://disqus.com`` namespace, categories, then threads, then posts,
  "in a standard tree order: parents should always exist before they are
  referenced". ``<thread dsq:id>`` has ``<id>`` (the page's
  ``disqus_identifier``, often empty or a URL), ``<link>`` and ``<title>``;
  ``<post dsq:id>`` has ``<message>`` (HTML in CDATA), ``<createdAt>`` (ISO 8601,
  UTC), ``<isDeleted>``, ``<isSpam>``, ``<author>`` (``<name>``, ``<email>``,
  ``<isAnonymous>``, ``<username>``), ``<ipAddress>``, ``<thread dsq:id>`` and,
  for a reply, ``<parent dsq:id>``. There is no author website.
* How two other comment systems read them: Isso's ``isso/migrate.py`` (threads by
  the URL path of ``<link>``; WordPress ``1`` shown and the rest queued; Disqus
  replies re-mapped to the new ids, deleted ones kept in a "deleted" mode) and
  Remark42's ``backend/app/migrator`` (``wordpress.go`` imports approved comments
  only; ``disqus.go`` drops spam and takes ``<id>`` when ``dsq:id`` is missing).

Where a value maps to something of ours (statuses, names, text) the decision is
made here, per format; ``imports.py`` decides what is common (posts, parents,
validation, writing). The mapping, in short: WordPress ``1`` -> approved, ``0``
-> pending, ``spam`` -> spam, ``trash``/``post-trashed`` -> trash, pingbacks and
trackbacks refused (they are not comments); Disqus spam -> spam, deleted -> not
imported (see ``DELETED``), everything else approved (the export has no
pending state). An empty author name becomes "Anonymous", as both systems
display it; Disqus's ``isAnonymous`` (a guest rather than an account) changes
nothing here, where nobody has an account. IP addresses are never read.

Hostile files. The parser is defusedxml's, with DTDs forbidden: no WordPress or
Disqus export has a ``<!DOCTYPE>``, and refusing it refuses every entity trick at
once (billion laughs, quadratic blow-up, external entities reading local files
or URLs). The file is fed in 64 KiB chunks to a target that keeps only the
fields read here, each cut at ``FIELD_MAX`` characters, and hands over each
comment as soon as it ends: memory stays bounded however large the export, or
however large one element in it. Comment HTML is converted by markdownify
(over BeautifulSoup's ``html.parser``) to the Markdown subset ``render.py``
shows, links kept only for http(s) addresses; the renderer sanitizes at output
anyway.
"""

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser
from markdownify import MarkdownConverter

from comments_service.forms import BODY_MAX
from comments_service.render import ALLOWED_TAGS, safe_website

CHUNK = 64 * 1024
# A comment's HTML may be longer than its text: four times the longest
# comment is generous. Longer ones are refused unconverted (conversion cost
# stays bounded); every field is cut one character past it, so a cut field is
# still seen to be too long.
RAW_BODY_MAX = 4 * BODY_MAX
FIELD_MAX = RAW_BODY_MAX + 1
# Nesting deeper than this is no export (WXR needs 4 levels, Disqus 3).
DEPTH_MAX = 64
SOURCE_ID_MAX = 200
URL_MAX = 2000
ANONYMOUS = "Anonymous"

WORDPRESS, DISQUS = "WordPress", "Disqus"
# A comment deleted on Disqus (by its author or a moderator) is not imported:
# whoever deleted it meant it gone, and we keep no personal data we need not.
# Its replies, which Disqus still shows, move up to its place in the thread.
DELETED = "deleted on Disqus: not imported"

WORDPRESS_STATUSES = {
    "1": "approved",
    "0": "pending",
    "spam": "spam",
    "trash": "trash",
    "post-trashed": "trash",  # a comment of a post in WordPress's trash
}
WORDPRESS_COMMENT_TYPES = {"", "comment"}

# The elements read, by their path from the root ("wp:" is any WXR version's
# namespace, "dsq:" Disqus's internals). A record is handed over when it ends;
# its fields are its descendants at these relative paths.
RECORDS = {
    ("rss", "channel"): "channel",
    ("rss", "channel", "item"): "item",
    ("rss", "channel", "item", "wp:comment"): "wp:comment",
    ("disqus", "thread"): "thread",
    ("disqus", "post"): "post",
}
FIELDS = {
    "channel": {"link", "wp:base_blog_url"},
    "item": {"link", "wp:post_name"},
    "wp:comment": {
        "wp:comment_id",
        "wp:comment_author",
        "wp:comment_author_email",
        "wp:comment_author_url",
        "wp:comment_date_gmt",
        "wp:comment_content",
        "wp:comment_approved",
        "wp:comment_type",
        "wp:comment_parent",
    },
    "thread": {"id", "link"},
    "post": {
        "id",
        "message",
        "createdAt",
        "isDeleted",
        "isSpam",
        "author/name",
        "author/email",
        "thread",
        "parent",
    },
}
ROOTS = {"rss": WORDPRESS, "disqus": DISQUS}

_WXR_NAMESPACE = re.compile(r"https?://wordpress\.org/export/\d+\.\d+/$")
_NAMESPACES = {"http://disqus.com": "", "http://disqus.com/disqus-internals": "dsq:"}


class ExportError(ValueError):
    """The file cannot be read as an export at all (one readable sentence)."""


@dataclass(slots=True)
class Thread:
    """What an export says about the post a comment belongs to."""

    link: str = ""
    slug: str = ""  # WordPress's post_name
    identifier: str = ""  # Disqus's disqus_identifier


@dataclass
class ForeignComment:
    """One comment of an export, mapped to our fields (not yet validated)."""

    system: str  # WORDPRESS or DISQUS
    source: str  # what import_source records: the system, and which WordPress site
    source_id: str
    thread: Thread
    parent_id: str | None = None  # the parent's source id
    author_name: str = ""
    email: str = ""
    website: str = ""
    html: str = ""  # the text as the export has it
    newlines_break: bool = False  # WordPress: newlines are line and paragraph breaks
    created_at: str = ""
    status: str = ""
    refused: str | None = None  # why it cannot be imported whatever else holds
    deleted: bool = False  # Disqus: see DELETED

    @property
    def label(self):
        return f"{self.system} comment {self.source_id[:SOURCE_ID_MAX] or '(no id)'}"

    def markdown(self):
        """The text as Markdown, converted when asked (not for comments skipped or
        refused anyway); raises ``ValueError`` if it cannot be."""
        if len(self.html) > RAW_BODY_MAX:
            raise ValueError(f"its text is longer than {RAW_BODY_MAX:,} characters even as HTML")
        try:
            return html_to_markdown(_paragraphs(self.html) if self.newlines_break else self.html)
        except RecursionError:  # thousands of nested tags: no person wrote that
            raise ValueError("its HTML is nested too deeply") from None


def export_format(file):
    """Parse the whole export without keeping anything: WORDPRESS or DISQUS.

    Run first, so that a file malformed half-way is refused before anything of
    it is written. Raises ``ExportError``."""
    collector = _Collector(keep=False)
    for _chunk in _parse(file, collector, collector.take):
        pass
    if collector.root is None:
        raise ExportError("the file is empty")
    return ROOTS[collector.root]


def comments_in(file) -> Iterator[ForeignComment]:
    """Yield the comments of a WordPress or Disqus export opened in binary mode."""
    collector = _Collector(keep=True)
    threads = {}  # Disqus thread dsq:id -> Thread (threads come before posts)
    mapped = []

    def drain():
        for kind, record in collector.take():
            if kind == "wp:comment":
                mapped.append(_wordpress_comment(record))
            elif kind == "thread":
                thread_id = record["@"].get("dsq:id") or ""
                # Kept until the end of the file: cut to what an address can be.
                threads[thread_id[:SOURCE_ID_MAX]] = Thread(
                    link=record.get("link", "").strip()[:URL_MAX],
                    identifier=record.get("id", "").strip()[:URL_MAX],
                )
            elif kind == "post":
                mapped.append(_disqus_comment(record, threads))

    for _chunk in _parse(file, collector, drain):
        yield from mapped
        mapped.clear()


def _parse(file, collector, drain):
    """Feed ``file`` to the safe parser, calling ``drain`` and yielding after each chunk."""
    parser = DefusedXMLParser(target=collector, forbid_dtd=True)
    try:
        while chunk := file.read(CHUNK):
            parser.feed(chunk)
            drain()
            yield
        parser.close()
        drain()
    except DTDForbidden:
        raise ExportError(
            "the file has a document type declaration (<!DOCTYPE>), which no WordPress "
            "or Disqus export has; refused, as it can define entities that expand without "
            "end or read other files"
        ) from None
    except DefusedXmlException as exc:  # entities or external references (no DTD needed)
        raise ExportError(f"the file uses XML entities or external references ({exc})") from None
    except ParseError as exc:
        if collector.root is None and exc.code == 3:  # expat's "no element found"
            raise ExportError("the file is empty") from None
        raise ExportError(f"the file is not well-formed XML ({exc})") from None
    yield


class _Collector:
    """An expat target (the ``XMLParser`` target protocol) keeping only what RECORDS
    and FIELDS name, each text cut at FIELD_MAX characters."""

    def __init__(self, keep):
        self.keep = keep
        self.root = None
        self.path = []
        self.open = []  # (depth, kind, record) of the records being read
        self.field = None  # (depth, relative path, text parts, length) being read
        self.done = []

    def start(self, tag, attrib):
        name = _short(tag)
        if self.root is None:
            if name not in ROOTS:
                raise ExportError(
                    f"not a WordPress (WXR) or Disqus export: its root element is <{name}>"
                )
            self.root = name
        self.path.append(name)
        depth = len(self.path)
        if depth > DEPTH_MAX:
            raise ExportError(f"elements nested more than {DEPTH_MAX} deep: not an export")
        if not self.keep:
            return
        kind = RECORDS.get(tuple(self.path))
        if kind:
            attributes = {_short(k): v[:FIELD_MAX] for k, v in attrib.items()}
            parent = self.open[-1][2] if self.open else None
            self.open.append((depth, kind, {"@": attributes, "^": parent}))
        elif self.open and self.field is None:
            record_depth, kind, record = self.open[-1]
            relative = "/".join(self.path[record_depth:])
            if relative in FIELDS[kind]:
                for key, value in attrib.items():
                    record[f"{relative}@{_short(key)}"] = value[:FIELD_MAX]
                self.field = (depth, relative, [], 0)

    def data(self, text):
        if self.field is not None:
            depth, relative, parts, length = self.field
            if length < FIELD_MAX:
                parts.append(text[: FIELD_MAX - length])
                self.field = (depth, relative, parts, length + len(parts[-1]))

    def end(self, tag):
        if self.field is not None and self.field[0] == len(self.path):
            _depth, relative, parts, _length = self.field
            self.open[-1][2][relative] = "".join(parts)
            self.field = None
        elif self.open and self.open[-1][0] == len(self.path):
            _depth, kind, record = self.open.pop()
            if kind != "channel":  # the channel ends with the file: its fields were read
                self.done.append((kind, record))
        self.path.pop()

    def close(self):
        return None

    def take(self):
        done, self.done = self.done, []
        return done


def _short(tag):
    """``{namespace}local`` -> ``wp:local``, ``dsq:local`` or ``local`` for the ones we read."""
    if not tag.startswith("{"):
        return tag
    namespace, local = tag[1:].split("}", 1)
    if _WXR_NAMESPACE.match(namespace):
        return "wp:" + local
    if namespace in _NAMESPACES:
        return _NAMESPACES[namespace] + local
    return tag


def _wordpress_comment(record):
    item = record["^"] or {}
    channel = item.get("^") or {}
    site = (channel.get("wp:base_blog_url") or channel.get("link") or "").strip().rstrip("/")
    comment = ForeignComment(
        system=WORDPRESS,
        # WordPress numbers comments per site: two blogs' comment 5 are two comments.
        source=f"wordpress {site}".strip(),
        source_id=record.get("wp:comment_id", "").strip(),
        thread=Thread(link=item.get("link", "").strip(), slug=item.get("wp:post_name", "").strip()),
        parent_id=_parent(record.get("wp:comment_parent", "")),
        author_name=record.get("wp:comment_author", "").strip() or ANONYMOUS,
        email=record.get("wp:comment_author_email", "").strip(),
        website=record.get("wp:comment_author_url", "").strip(),
        created_at=record.get("wp:comment_date_gmt", "").strip(),
    )
    kind = record.get("wp:comment_type", "").strip()
    approved = record.get("wp:comment_approved", "").strip()
    if kind in ("pingback", "trackback"):
        comment.refused = f"a {kind}, not a comment"
    elif kind not in WORDPRESS_COMMENT_TYPES:
        comment.refused = f"not a comment (type {kind[:50]!r})"
    elif approved not in WORDPRESS_STATUSES:
        comment.refused = f"unknown wp:comment_approved {approved[:50]!r}"
    else:
        comment.status = WORDPRESS_STATUSES[approved]
        comment.html, comment.newlines_break = record.get("wp:comment_content", ""), True
    return _checked_ids(comment)


def _disqus_comment(record, threads):
    thread_id = record.get("thread@dsq:id", "")[:SOURCE_ID_MAX]
    comment = ForeignComment(
        system=DISQUS,
        source="disqus",  # Disqus's ids are unique across all of Disqus
        source_id=(record["@"].get("dsq:id") or record.get("id", "")).strip(),
        thread=threads.get(thread_id, Thread()),
        parent_id=_parent(record.get("parent@dsq:id", "")),
        author_name=record.get("author/name", "").strip() or ANONYMOUS,
        email=record.get("author/email", "").strip(),
        created_at=record.get("createdAt", "").strip(),
    )
    spam, deleted = _flag(record.get("isSpam", "")), _flag(record.get("isDeleted", ""))
    if spam is None or deleted is None:
        comment.refused = "isSpam and isDeleted must be true or false"
    elif deleted:
        comment.deleted = True
    elif thread_id not in threads:
        comment.refused = f"its thread {thread_id[:SOURCE_ID_MAX]!r} is not in the file"
    else:
        comment.status = "spam" if spam else "approved"
        comment.html = record.get("message", "")
    return _checked_ids(comment)


def _checked_ids(comment):
    if comment.refused is None:
        if not comment.source_id:
            comment.refused = "it has no id"
        elif len(comment.source_id) > SOURCE_ID_MAX:
            comment.refused = f"an id longer than {SOURCE_ID_MAX} characters"
    return comment


def _parent(value):
    value = value.strip()
    return None if value in ("", "0") else value


def _flag(value):
    return {"true": True, "1": True, "false": False, "0": False, "": False}.get(
        value.strip().lower()
    )


def _paragraphs(text):
    """What WordPress's ``wpautop`` does when it shows a comment, in short: a blank
    line ends a paragraph, a single newline is a line break."""
    paragraphs = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").strip())
    return "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip())


# Tags whose content is no part of the comment's text.
_DROPPED = {
    "script",
    "style",
    "template",
    "noscript",
    "iframe",
    "object",
    "embed",
    "img",
    "svg",
    "math",
    "head",
    "title",
    "textarea",
    "select",
    "button",
    "input",
    "video",
    "audio",
    "picture",
    "source",
}
# Block elements our subset lacks: each becomes a paragraph of its text.
_BLOCKS = {
    "div",
    "section",
    "article",
    "aside",
    "header",
    "footer",
    "nav",
    "main",
    "center",
    "address",
    "figure",
    "figcaption",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "caption",
    "tr",
    "td",
    "th",
    "dl",
    "dt",
    "dd",
    "details",
    "summary",
    "form",
    "fieldset",
    "hr",
}
# What render.py shows, plus the old spellings markdownify writes the same way.
_KEPT = ALLOWED_TAGS | {"b", "i"}


class _CommentMarkdown(MarkdownConverter):
    """markdownify, kept to the Markdown subset ``render.py`` shows."""

    def convert(self, html):
        with warnings.catch_warnings():
            # BeautifulSoup warns when a comment looks like a URL or a file name
            # ("https://example.com" alone): it is a comment, parsed as meant.
            warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            soup = BeautifulSoup(html, "html.parser")
        # Innermost first, so that none is inside one already gone
        # (``Tag.decomposed`` would search the whole subtree each time).
        for tag in reversed(soup.find_all(_DROPPED)):
            tag.decompose()
        # Renamed in place: other tags are left in the tree for markdownify,
        # which writes only their text (the ``convert`` option). Unwrapping
        # them here instead cost time quadratic in their nesting (minutes for
        # 3,000 nested <font>s).
        for tag in soup.find_all(_BLOCKS):
            tag.name, tag.attrs = "p", {}
        return self.convert_soup(soup)

    def convert_a(self, el, text, parent_tags):
        # Only http(s) addresses, no title; without an href markdownify keeps the words.
        el.attrs = {"href": safe_website(el.get("href"))}
        return super().convert_a(el, text, parent_tags)


_converter = _CommentMarkdown(autolinks=False, convert=sorted(_KEPT))


def html_to_markdown(html):
    """Comment HTML -> Markdown: links, paragraphs, emphasis, lists, quotes, code;
    every other tag reduced to its text."""
    return _converter.convert(html).strip()
