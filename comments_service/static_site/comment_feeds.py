"""Atom feeds of the comments readers see: one for the site, one per post with comments.

The feeds are static files, like the pages: a full build writes them all
(``write_all``), and the warm publisher re-renders, at each decision, the
site's feed and the feed of each post decided on (``render_for``), byte for
byte what a full build of the same data writes. Both take their entries from
``db.comments_for_feeds``, in its order, and render them with the same
functions below.

A post has a feed while its page shows a comment (``has_feed``; its page
links the feed on the same condition, in ``article.html``). A feed for
every post was measured on the benchmark's 1,000 posts: writing them took
14% of the build (creating a file costs about as much as a page's); with
feeds for the posts with comments (a fifth there), 1%. Whoever wants to
follow a post before its first comment has the site's feed, linked from
every page.

What is in an entry, and why:

* only what the post page shows (approved comments, and approved replies to
  them): pending text is never in a feed, and every link resolves to a
  ``#comment-<id>`` anchor on the post page;
* the newest ``FEED_ENTRIES`` first, by each comment's latest decision (its
  approval, or a later edit): a comment approved days after it was written
  enters the feed at the top, where readers look for what is new;
* ``updated`` is the time of that decision. Feed readers decide what is new,
  and whether to fetch an entry again, by it, so it is when the comment became
  public or last changed, not when it was written (that may be before the
  reader's last visit). No ``published``: some readers take it for the date of
  newness, and the comment was written before it became public;
* ``id`` is the comment's address on its post page, stable as posts' URLs are;
* the body rendered by ``render.py`` (sanitized HTML, ``type="html"``), the
  name as plain text, and the website as the author's ``uri`` only when
  ``render.safe_website`` accepts it. Never the email.

feedgenerator writes the XML (Pelican's own dependency, which writes the
site's post feeds): it escapes every text and attribute, refuses control
characters, and formats the dates, so nothing here builds XML by hand.

Settings (all optional)::

    COMMENTS_FEED_ATOM = "feeds/comments.atom.xml"             # the site's
    POST_COMMENTS_FEED_ATOM = "feeds/comments/{slug}.atom.xml"  # each post's

A false value turns that feed off. Not under ``/comments/``: the service
answers there, and would shadow a static file.
"""

import os
from datetime import UTC, datetime
from functools import lru_cache

from feedgenerator import Atom1Feed
from markupsafe import Markup

from comments_service import db
from comments_service.render import display_comment

SITE_FEED_DEFAULT = "feeds/comments.atom.xml"
POST_FEED_DEFAULT = "feeds/comments/{slug}.atom.xml"
FEED_ENTRIES = 50
# The date of an empty site feed on a site without posts (Atom requires one).
_NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)


def site_feed_path(settings):
    """Where the site's comment feed is written (relative to the output), or None."""
    return settings.get("COMMENTS_FEED_ATOM", SITE_FEED_DEFAULT) or None


def post_feed_path(settings, article):
    """Where ``article``'s comment feed is written, or None."""
    pattern = settings.get("POST_COMMENTS_FEED_ATOM", POST_FEED_DEFAULT)
    return pattern.format(slug=article.slug) if pattern else None


def has_feed(article):
    """Whether ``article`` has a comment feed: while its page shows a comment."""
    return bool(getattr(article, "comment_count", 0))


def origin(settings):
    """The absolute origin feeds link to (production: SITE_URL)."""
    return (settings.get("SITE_ORIGIN") or settings["SITEURL"]).rstrip("/")


class CommentFeed(Atom1Feed):
    """An Atom feed whose date, when it has no entry, is given (feedgenerator
    would take the time of the build, and no two builds would agree)."""

    def __init__(self, *args, empty_date, **kwargs):
        super().__init__(*args, **kwargs)
        self.empty_date = empty_date

    def latest_post_date(self):
        return super().latest_post_date() if self.items else self.empty_date


def displayed(row):
    """``render.display_comment`` of a feed row, remembered: the site's feed is
    rendered again at each decision, mostly with the same comments. Keyed by
    the whole row, so a changed comment is rendered afresh."""
    return _displayed(tuple(row.items()))


@lru_cache(maxsize=4 * FEED_ENTRIES)
def _displayed(row_items):
    return display_comment(dict(row_items))


def _add_entry(feed, settings, article, row, comment, with_post_title):
    name = comment["author_name"]
    kind = "Reply" if comment["parent_id"] else "Comment"
    author = " (the author)" if comment["is_author"] else ""
    title = f"{kind} by {name}{author}"
    if with_post_title:
        title += f" on {Markup(article.title).striptags()}"
    link = f"{origin(settings)}/{article.url}#comment-{comment['id']}"
    feed.add_item(
        title=title,
        link=link,
        description=None,
        content=comment["body_html"],
        author_name=name,
        author_link=comment["website"] or None,
        unique_id=link,
        updateddate=datetime.fromisoformat(row["updated_at"]),
    )


def _new_feed(settings, title, page_url, path, empty_date):
    return CommentFeed(
        title=title,
        link=page_url,
        description="",
        language=settings.get("DEFAULT_LANG", "en"),
        feed_url=f"{origin(settings)}/{path}",
        feed_guid=f"{origin(settings)}/{path}",
        empty_date=empty_date,
    )


def post_feed(settings, article, rows):
    """The XML of ``article``'s feed: ``rows`` are its newest comments, in feed order.

    Each comment is shown as the post page shows it (``article.comments``,
    rendered once by the build); one missing there (approved since the build
    read the comments) is rendered from its row."""
    path = post_feed_path(settings, article)
    title = Markup(article.title).striptags()
    feed = _new_feed(
        settings,
        f"Comments on {title}",
        f"{origin(settings)}/{article.url}#comments",
        path,
        article.date,
    )
    on_page = {}
    for thread in getattr(article, "comments", []):
        on_page[thread["id"]] = thread
        on_page.update((reply["id"], reply) for reply in thread["replies"])
    for row in rows:
        comment = on_page.get(row["id"]) or displayed(row)
        _add_entry(feed, settings, article, row, comment, with_post_title=False)
    return feed.writeString("utf-8")


def site_feed(settings, by_slug, rows):
    """The XML of the site's feed: ``rows`` are its newest comments, in feed order."""
    path = site_feed_path(settings)
    # Without entries, the feed is as new as the newest post (looked for only then).
    empty_date = _NO_DATE if rows else max((a.date for a in by_slug.values()), default=_NO_DATE)
    feed = _new_feed(
        settings, f"Comments on {settings['SITENAME']}", f"{origin(settings)}/", path, empty_date
    )
    for row in rows:
        _add_entry(feed, settings, by_slug[row["post_slug"]], row, displayed(row), True)
    return feed.writeString("utf-8")


def newest_on_the_site(database, by_slug):
    """The site feed's rows: the newest ``FEED_ENTRIES`` comments on posts of the
    site (a post removed or unpublished keeps its comments in the database)."""
    wanted = FEED_ENTRIES
    while True:
        rows = db.comments_for_feeds(database, limit=wanted)
        kept = [row for row in rows if row["post_slug"] in by_slug][:FEED_ENTRIES]
        if len(kept) == FEED_ENTRIES or len(rows) < wanted:
            return kept
        wanted *= 4


def render_for(generator, database, articles, by_slug):
    """The feeds a decision on ``articles`` changes: {path: xml}, the site's
    feed and each of these posts' (the warm publisher's part); None for the
    feed of a post that no longer shows a comment (the file goes).

    Their comment counts must be current (the warm publisher has just
    re-rendered their pages)."""
    settings = generator.settings
    feeds = {}
    for article in articles:
        path = post_feed_path(settings, article)
        if path and has_feed(article):
            rows = db.comments_for_feeds(database, limit=FEED_ENTRIES, post_slug=article.slug)
            feeds[path] = post_feed(settings, article, rows)
        elif path:
            feeds[path] = None
    path = site_feed_path(settings)
    if path and articles:
        feeds[path] = site_feed(settings, by_slug, newest_on_the_site(database, by_slug))
    return feeds


def pelican_feed_paths(generator):
    """The feeds Pelican writes itself, after this module's (Pelican 4.12's settings)."""
    settings = generator.settings
    paths = {settings.get(k) for k in ("FEED_ATOM", "FEED_RSS", "FEED_ALL_ATOM", "FEED_ALL_RSS")}
    for kind, items in (
        ("CATEGORY", [c for c, _ in generator.categories]),
        ("TAG", generator.tags),
    ):
        for pattern in (settings.get(f"{kind}_FEED_ATOM"), settings.get(f"{kind}_FEED_RSS")):
            if pattern:
                paths.update(pattern.format(slug=item.slug) for item in items)
    return paths - {None, ""}


def refuse_collisions(generator, paths):
    """Fail the build rather than let Pelican overwrite a comment feed with one of
    its own (a category named "Comments" has ``feeds/comments.atom.xml``)."""
    taken = sorted(set(paths) & pelican_feed_paths(generator))
    if taken:
        raise ValueError(
            f"the comment feed {taken[0]} is also a feed Pelican writes (a category or tag "
            "of that name?): set COMMENTS_FEED_ATOM or POST_COMMENTS_FEED_ATOM to another path"
        )


def write_all(generator, rows):
    """Write every comment feed of the site into the output (the full build's part).

    ``rows`` are every comment readers see, in feed order (one query for the
    site, ``db.comments_for_feeds``); each post's feed takes the first of its own."""
    settings = generator.settings
    by_slug = {article.slug: article for article in generator.articles}
    of_post = {}
    for row in rows:
        if row["post_slug"] in by_slug:
            of_post.setdefault(row["post_slug"], []).append(row)
    feeds = {}
    for article in generator.articles:
        path = post_feed_path(settings, article)
        if path and has_feed(article):
            feeds[path] = post_feed(settings, article, of_post.get(article.slug, [])[:FEED_ENTRIES])
    path = site_feed_path(settings)
    if path:
        newest = [row for row in rows if row["post_slug"] in by_slug][:FEED_ENTRIES]
        feeds[path] = site_feed(settings, by_slug, newest)
    refuse_collisions(generator, feeds)
    for path, xml in feeds.items():
        target = os.path.join(settings["OUTPUT_PATH"], path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(xml.encode("utf-8"))
