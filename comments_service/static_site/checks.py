"""Pelican plugin: check the author's work before anything is written.

Pelican builds past most mistakes: a post with an impossible date is skipped,
a broken ``{filename}`` link ships literally, a missing image is a broken image
on the live site, two posts with one slug share their comments and stats, and
``Category: job search`` quietly renames "Job Search" everywhere. This plugin
looks at everything Pelican has read, lists every problem at once (the file,
the line where there is one, and a hint), and fails the build by raising
``ContentProblems``; the build (``build.build_site``) then publishes nothing.

What it checks, in posts, drafts and pages alike (a draft is a post on its way):

* a file Pelican could not use: no ``Date:``, an impossible date, no title,
  an unknown status (Pelican logs these and skips the file);
* one slug for two posts, anywhere in the site (comments, page views and
  Popular Posts follow a post's slug), or for two pages;
* a post's category not in the site's ``CATEGORIES`` setting, spelling and
  capitals included (Pelican treats "job search" as "Job Search" and shows
  whichever it read first); the nearest declared name is suggested;
* a ``{filename}``, ``{static}`` or ``{attach}`` link to no file, and an
  unknown ``{...}`` link kind;
* a ``Cover:`` or an inline image (``<img src>`` with a site path) that is not
  a file of the site;
* a category whose feed would overwrite one of the site's own feeds ("All",
  "Comments").

Settings::

    CATEGORIES = ["Growth", "Job Search", "Networking"]   # none: not checked

The Pelican internals it leans on are listed in this package's docstring.
This module runs inside the build: it never imports Flask.
"""

import difflib
import os
import re
from dataclasses import dataclass
from html import unescape
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlparse

from pelican import signals
from pelican.contents import Article, Page
from pelican.utils import get_date

from comments_service.static_site.assets import theme_static_files
from comments_service.static_site.comment_feeds import site_feed_path

# The link kinds Pelican replaces (``Content._link_replacer``, Pelican 4.12);
# the first three name a file, the others a category, tag, author or the index.
FILE_LINK_KINDS = ("filename", "static", "attach")
LINK_KINDS = (*FILE_LINK_KINDS, "category", "tag", "author", "index")
DATE_HINT = "write it as YYYY-MM-DD HH:MM, e.g. Date: 2026-03-14 09:00"
# <img ... src="..."> in a post's HTML (Markdown's output), quoted either way.
IMAGE_SOURCE = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*(["'])(?P<src>.*?)\1""", re.I | re.S)
# "Key: value" at the top of a Markdown post (":key: value" in reStructuredText).
HEADER_LINE = re.compile(r"^:?(?P<key>[A-Za-z][\w-]*):(?:\s|$)")


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake in one source file, said so that the author can fix it."""

    source: str  # the file, as the author knows it: content/posts/x.md
    line: int  # 0: the whole file
    message: str
    hint: str

    def __str__(self):
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}\n    hint: {self.hint}"


class ContentProblems(Exception):
    """The content has mistakes; nothing of this build may be published."""

    def __init__(self, problems):
        self.problems = sorted(problems)
        super().__init__(self.report())

    def report(self):
        count = len(self.problems)
        heading = f"{count} problem{'s' if count != 1 else ''} in the content"
        return heading + ":\n" + "\n".join(str(p) for p in self.problems)


def declared_categories(settings):
    """The site's categories, as ``CATEGORIES`` spells them (empty: not declared)."""
    return list(settings.get("CATEGORIES") or [])


def nearest_category(name, declared):
    """The declared category ``name`` most likely meant, or None.

    Capitals do not count ("job search" means "Job Search"), typos do a little
    ("Job Serach")."""
    by_lower = {category.lower(): category for category in declared}
    close = difflib.get_close_matches(name.strip().lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def check_site(static_generator):
    """Raise ``ContentProblems`` listing every mistake in what Pelican has read."""
    problems = find_problems(static_generator.context, static_generator.readers)
    if problems:
        raise ContentProblems(problems)


def find_problems(context, readers):
    files = SourceFiles(context)
    read = [c for c in context["generated_content"].values() if c is not None]
    unread = [p for p, c in context["generated_content"].items() if c is None]
    articles = [c for c in read if isinstance(c, Article)]
    problems = [files.unusable(path, readers) for path in unread]
    problems += duplicate_slugs(files, articles, "post")
    problems += duplicate_slugs(files, [c for c in read if isinstance(c, Page)], "page")
    declared = declared_categories(context)
    if declared:
        problems += filter(None, (unknown_category(files, a, declared) for a in articles))
    problems += category_feed_clashes(files, articles, context)
    site_files = SiteFiles(context)
    # Pelican's pattern for {filename}-style links (one per site: from the settings).
    links = read[0]._get_intrasite_link_regex() if read else None
    for content in read:
        problems += broken_links(files, site_files, content, links)
        problems += missing_images(files, site_files, content)
    return problems


def problems_in_reread(context, readers, path, content, same_slug=()):
    """What ``find_problems`` would report about one source file read again
    (the live preview), in a site that had no problem before: ``path``
    relative to PATH, ``content`` what Pelican read (None: it could not use
    the file), ``same_slug`` the site's other posts with its slug and language
    (the caller keeps an index of them; ``duplicate_slugs`` is how a full
    build finds them)."""
    files = SourceFiles(context)
    if content is None:
        return [files.unusable(path, readers)]
    problems = []
    if isinstance(content, Article):
        problems += duplicate_slugs(files, [*same_slug, content], "post")
        declared = declared_categories(context)
        if declared:
            problems += filter(None, [unknown_category(files, content, declared)])
    site_files = SiteFiles(context)
    problems += broken_links(files, site_files, content, content._get_intrasite_link_regex())
    problems += missing_images(files, site_files, content)
    return problems


class SourceFiles:
    """The author's files: their names as the author knows them, and line numbers."""

    def __init__(self, context):
        self.settings = context
        self.content_dir = Path(context["PATH"])
        self._texts = {}

    def name(self, source_path):
        """``/…/content/posts/x.md`` -> ``content/posts/x.md``: the same file in the
        author's checkout, whether the build reads it there or from a release's copy."""
        path = Path(source_path)
        if not path.is_absolute():
            path = self.content_dir / path
        try:
            return str(PurePosixPath(self.content_dir.name, path.relative_to(self.content_dir)))
        except ValueError:
            return str(source_path)

    def text(self, source_path):
        if source_path not in self._texts:
            try:
                self._texts[source_path] = Path(source_path).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError):
                self._texts[source_path] = ""
        return self._texts[source_path]

    def header(self, source_path):
        """{lowercased key: line number} of the metadata at the top of the file."""
        lines = {}
        for number, line in enumerate(self.text(source_path).splitlines()[:60], start=1):
            if not line.strip():
                if lines:
                    break
                continue
            match = HEADER_LINE.match(line)
            if match:
                lines.setdefault(match["key"].lower(), number)
        return lines

    def header_value(self, source_path, key):
        number = self.header(source_path).get(key)
        if not number:
            return 0, None
        line = self.text(source_path).splitlines()[number - 1]
        return number, line.split(":", 2 if line.startswith(":") else 1)[-1].strip()

    def line_of(self, source_path, *needles):
        """The first line holding one of ``needles`` (0 if none does)."""
        for needle in needles:
            for number, line in enumerate(self.text(source_path).splitlines(), start=1):
                if needle and needle in line:
                    return number
        return 0

    def kind(self, path):
        """Article or Page, as the generator that read ``path`` (relative to PATH) would."""
        for folder in self.settings["PAGE_PATHS"]:
            folder = folder.strip("/")
            if not folder or path == folder or path.startswith(folder + "/"):
                return Page
        return Article

    def unusable(self, path, readers):
        """Why Pelican skipped ``path`` (it logged an error and left it out)."""
        source = str(self.content_dir / path)
        name = self.name(source)
        line, date = self.header_value(source, "date")
        if date:
            try:
                get_date(date.replace("_", " "))  # what Pelican's date processor does
            except ValueError:
                return Problem(name, line, f"Date: {date!r} is not a real date", DATE_HINT)
        content_class = self.kind(path)
        try:
            content = readers.read_file(
                base_path=str(self.content_dir), path=path, content_class=content_class
            )
        # Whatever made Pelican skip the file, said once, in its own words.
        except Exception as exc:  # noqa: BLE001
            return Problem(
                name,
                0,
                f"Pelican could not read it: {exc}",
                "fix the file's header (Title:, Date:, ...) or its Markdown",
            )
        for prop in content_class.mandatory_properties:
            if not hasattr(content, prop):
                if prop == "date":
                    return Problem(
                        name, 0, "has no Date: line", f"add one under the title; {DATE_HINT}"
                    )
                return Problem(
                    name, 0, f"has no {prop.title()}: line", "add one at the top of the file"
                )
        allowed = getattr(content_class, "allowed_statuses", ())
        if allowed and content.status not in allowed:
            return Problem(
                name,
                self.header(source).get("status", 0),
                f"Status: {content.status!r} is not a status Pelican knows",
                "use draft (a preview only) or hidden, or remove the line to publish",
            )
        return Problem(name, 0, "Pelican skipped this file", "see Pelican's message above")


# What follows a post's slug: two posts with one slug share all of it.
SLUG_OWNS = {
    "post": "its address, comments, page views and Popular Posts rank",
    "page": "its address",
}


def duplicate_slugs(files, contents, what):
    """One problem per slug used by more than one post (or page) in one language."""
    by_slug = {}
    for content in contents:
        key = (content.slug, getattr(content, "lang", None))
        by_slug.setdefault(key, []).append(content)
    problems = []
    for (slug, _lang), same in by_slug.items():
        if len(same) < 2:
            continue
        names = sorted(files.name(c.source_path) for c in same)
        first = min(same, key=lambda c: files.name(c.source_path))
        problems.append(
            Problem(
                names[0],
                files.header(first.source_path).get("slug", 0),
                f"the slug {slug!r} is used by {len(names)} {what}s: " + " and ".join(names),
                f"give all but one another Slug: line ({SLUG_OWNS[what]} follow the slug)",
            )
        )
    return problems


def unknown_category(files, article, declared):
    category = getattr(article, "category", None)
    name = str(category) if category is not None else ""
    if name in declared:
        return None
    line = files.header(article.source_path).get("category", 0)
    listed = ", ".join(declared)
    if not line:
        return Problem(
            files.name(article.source_path),
            0,
            f"has no Category: line (Pelican would file it under {name!r})",
            f"add one of the site's categories: {listed}",
        )
    nearest = nearest_category(name, declared)
    guess = f"did you mean {nearest!r}? " if nearest else ""
    return Problem(
        files.name(article.source_path),
        line,
        f"category {name!r} is not one of the site's categories ({listed})",
        guess + "a new category is added to CATEGORIES in pelicanconf.py first",
    )


def category_feed_clashes(files, articles, settings):
    """A category whose feed would overwrite one of the site's own feeds
    (``CATEGORY_FEED_ATOM`` is ``feeds/{slug}.atom.xml``: a category "All"
    would replace the feed of all posts), once per category."""
    pattern = settings.get("CATEGORY_FEED_ATOM")
    own = {
        settings.get(name): name
        for name in ("FEED_ALL_ATOM", "FEED_ALL_RSS", "FEED_ATOM", "FEED_RSS")
        if settings.get(name)
    }
    # The comment feed is written even where the setting is absent (its default).
    comment_feed = site_feed_path(settings)
    if comment_feed:
        own[comment_feed] = "COMMENTS_FEED_ATOM"
    if not pattern or not own:
        return []
    problems, seen = [], set()
    for article in sorted(articles, key=lambda a: files.name(a.source_path)):
        category = getattr(article, "category", None)
        if category is None or category.slug in seen:
            continue
        seen.add(category.slug)
        feed = pattern.format(slug=category.slug, lang=getattr(article, "lang", ""))
        if feed in own:
            problems.append(
                Problem(
                    files.name(article.source_path),
                    files.header(article.source_path).get("category", 0),
                    f"category {str(category)!r} would write its feed to {feed}, "
                    f"overwriting the site's {own[feed]}",
                    "name the category otherwise (in CATEGORIES in pelicanconf.py too)",
                )
            )
    return problems


class SiteFiles:
    """The files a build copies into the site, to look links and images up in."""

    def __init__(self, context):
        self.context = context
        self.intrasite = re.compile(context["INTRASITE_LINK_REGEX"])  # "{static}", "|static|"
        self._urls = None

    def content(self, kind, path):
        """The content object ``path`` (relative to PATH) names, if it exists."""
        found = self.context[kind].get(path)
        if found is None:
            return None
        # Pelican makes a Static object for every file linked with {static},
        # whether or not the file is there.
        if kind == "static_content" and not os.path.isfile(found.source_path):
            return None
        return found

    def known(self, kind):
        return [path for path in self.context[kind] if self.content(kind, path)]

    def urls(self):
        """URL paths (no leading slash) of the static files and the theme's files."""
        if self._urls is None:
            settings = self.context
            # get_url_setting, not .url: reading Static.url marks the file's
            # location as used, and an {attach} link could no longer move it.
            self._urls = {
                static.get_url_setting("url")
                for path, static in settings["static_content"].items()
                if self.content("static_content", path)
            }
            theme_files = theme_static_files(
                settings["THEME"], settings["THEME_STATIC_PATHS"], settings["IGNORE_FILES"]
            )
            self._urls |= {f"{settings['THEME_STATIC_DIR']}/{name}" for name in theme_files}
        return self._urls


def linked_content(site_files, content, kind, value):
    """The file a link names, or None: Pelican 4.12's lookup
    (``Content._link_replacer``): the path as written, unquoted, then
    HTML-unescaped; relative to the linking file unless it starts with /;
    a {filename} link may name a static file too (Pelican warns)."""
    url = urlparse(value)

    def find(key, path):
        if path.startswith("/"):
            path = path[1:]
        else:
            path = content.get_relative_source_path(os.path.join(content.relative_dir, path))
        return site_files.content(key, path)

    key = "generated_content" if kind == "filename" else "static_content"
    for path in (url.path, unquote(url.path), urlparse(unescape(value)).path):
        found = find(key, path)
        if found is not None:
            return found
    if kind == "filename":
        return linked_content(site_files, content, "static", value)
    return None


def content_html(content):
    """The HTML of a post before Pelican replaces its links: body and summary."""
    summary = content.metadata.get("summary")
    return [content._content or "", summary if isinstance(summary, str) else ""]


def broken_links(files, site_files, content, pattern):
    problems = []
    for html in content_html(content):
        for match in pattern.finditer(html):
            kind, value = match["what"], match["value"]
            written = match["path"]
            if kind in FILE_LINK_KINDS:
                if linked_content(site_files, content, kind, value) is not None:
                    continue
                message = f"the link {written} names no file"
                hint = file_link_hint(site_files, content, kind, value)
            elif kind in LINK_KINDS or not re.fullmatch(r"[a-z_]+", kind):
                continue
            else:
                nearest = difflib.get_close_matches(kind, LINK_KINDS, n=1)
                message = f"the link {written} is of no kind Pelican knows ({{{kind}}})"
                hint = f"did you mean {{{nearest[0]}}}?" if nearest else "use {filename}"
            line = files.line_of(content.source_path, written, unescape(written), value)
            problems.append(Problem(files.name(content.source_path), line, message, hint))
    return problems


def file_link_hint(site_files, content, kind, value):
    path = unquote(urlparse(value).path)
    key = "generated_content" if kind == "filename" else "static_content"
    wanted = path[1:] if path.startswith("/") else os.path.join(content.relative_dir, path)
    nearest = difflib.get_close_matches(os.path.normpath(wanted), site_files.known(key), n=1)
    if nearest:
        return f"did you mean {{{kind}}}/{nearest[0]}?"
    where = "content/" if kind == "filename" else "a folder of STATIC_PATHS (content/images/)"
    return (
        f"put the file in {where}; a path without a leading / is relative to "
        f"the linking file's folder ({content.relative_dir or 'content'}/)"
    )


def missing_images(files, site_files, content):
    """A ``Cover:`` and every ``<img>`` with a site path must be a file of the site."""
    problems = []
    cover = str(content.metadata.get("cover") or "").strip()
    if cover:
        # The theme writes {{ SITEURL }}/{{ article.cover }}: a path from the site root.
        if cover.startswith("/") or urlparse(cover).scheme:
            problems.append(
                Problem(
                    files.name(content.source_path),
                    files.header(content.source_path).get("cover", 0),
                    f"Cover: {cover!r} is not a path inside the site",
                    "write the image's path from the site root without a leading /, "
                    "e.g. images/covers/my-post.svg",
                )
            )
        elif unquote(cover) not in site_files.urls():
            problems.append(
                Problem(
                    files.name(content.source_path),
                    files.header(content.source_path).get("cover", 0),
                    f"Cover: {cover!r} is not a file of the site",
                    image_hint(site_files, cover),
                )
            )
    for html in content_html(content):
        for match in IMAGE_SOURCE.finditer(html):
            src = unescape(match["src"]).strip()
            url = urlparse(src)
            if not src or url.scheme or url.netloc or site_files.intrasite.match(src):
                continue  # another site's image, or a {static} link (checked above)
            if url.path.startswith("/"):
                path = url.path[1:]
            else:  # relative to the page's own address
                path = urljoin("/" + content.get_url_setting("url"), url.path)[1:]
            if unquote(path) in site_files.urls():
                continue
            problems.append(
                Problem(
                    files.name(content.source_path),
                    files.line_of(content.source_path, match["src"], src),
                    f"the image {src!r} is not a file of the site",
                    image_hint(site_files, path),
                )
            )
    return problems


def image_hint(site_files, path):
    nearest = difflib.get_close_matches(unquote(path), sorted(site_files.urls()), n=1)
    if nearest:
        return f"did you mean {nearest[0]}?"
    return "put the image in content/images/ and write its path from there, e.g. images/x.svg"


def register():
    # Pelican runs the static generator last, after every post and page is
    # read; its signal is the last moment before anything is rendered or
    # written, and before the other plugins' all_generators_finalized work
    # (comments, Popular Posts, the registry) is spent on a site that fails.
    signals.static_generator_finalized.connect(check_site)
