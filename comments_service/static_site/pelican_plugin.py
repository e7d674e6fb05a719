"""Pelican plugin: approved comments and their counts, Popular Posts, the post registry.

What it adds to the build:

* ``article.comments`` (threads, rendered by ``render.py``),
  ``article.comment_count`` and ``article.comments_open`` (False when the post
  says ``Comments: closed``, or is older than ``COMMENTS_CLOSE_AFTER_DAYS``)
  on every post, read with one query for the site;
* ``popular_posts`` in every template's context, from ``popularity.rank_popular``,
  and ``sidebar_html``, the sidebar rendered once for every page;
* ``post-registry.json`` in the output: the posts the comment service accepts
  comments for, with their titles and closing times, and the few site
  settings its pages need;
* the comment feeds (``comment_feeds``): the site's, linked from every page
  as ``COMMENTS_FEED_ATOM``, and each post's, as ``article.comments_feed``.

Settings, in one dict (all optional)::

    COMMENTS = {"DB": "var/comments.db"}   # relative to the settings file
    COMMENTS_CLOSE_AFTER_DAYS = None        # close comments N days after a post's date
    POPULAR_POSTS_COUNT = 5
    COMMENTS_FEED_ATOM, POST_COMMENTS_FEED_ATOM   # where the feeds go: see comment_feeds
"""

import json
import os
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from markupsafe import Markup
from pelican import signals
from pelican.generators import ArticlesGenerator

from comments_service import db
from comments_service.popularity import rank_popular
from comments_service.registry import CLOSES_AT, REGISTRY_FILE
from comments_service.render import comment_threads, count_shown
from comments_service.static_site import comment_feeds
from comments_service.static_site.signals import content_reread


def comments_db_path(settings):
    default = os.environ.get("COMMENTS_DB", "var/comments.db")
    path = settings.get("COMMENTS", {}).get("DB", default)
    # Relative paths are relative to the project, like Pelican's own PATH.
    return os.path.join(os.path.dirname(settings["PATH"]), path)


def read_reader_data(settings):
    """Approved comments grouped by post, views per post over 30 days, and the
    comment feeds' entries.

    Three queries for the whole site. No database yet (a fresh clone): none.
    """
    path = comments_db_path(settings)
    grouped = defaultdict(list)
    if not os.path.exists(path):
        return grouped, {}, []
    database = db.connect(path)
    try:
        for row in db.approved_comments(database):
            grouped[row["post_slug"]].append(row)
        views = db.views_since(database, days=30)
        feed_rows = db.comments_for_feeds(database)
    finally:
        database.close()
    return grouped, views, feed_rows


def comments_are_open(article):
    return str(article.metadata.get("comments", "open")).strip().lower() != "closed"


def utc_now():
    return datetime.now(UTC)


def close_after_days(settings):
    """``COMMENTS_CLOSE_AFTER_DAYS``: a whole number of days, or None (never)."""
    days = settings.get("COMMENTS_CLOSE_AFTER_DAYS")
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(
            f"COMMENTS_CLOSE_AFTER_DAYS must be a whole number of days (1 or more) "
            f"or None, not {days!r}"
        )
    return days


def comments_close_at(article, settings):
    """When comments on ``article`` close: its date plus ``COMMENTS_CLOSE_AFTER_DAYS``, or None."""
    days = close_after_days(settings)
    if days is None:
        return None
    date = article.date if article.date.tzinfo else article.date.replace(tzinfo=UTC)
    return date + timedelta(days=days)


def set_comments_open(article, settings, now=None):
    """Whether the post page shows the form, as of ``now`` (the build's time).

    A page built before the closing time shows the form after it: the service
    refuses comments from then on (the registry carries the time), and the
    daily maintenance re-publishes the post (``comments close-old-posts``)."""
    article.comments_close_at = comments_close_at(article, settings)
    article.comments_open = comments_are_open(article) and (
        article.comments_close_at is None or (now or utc_now()) < article.comments_close_at
    )


def attach_comments_and_rank(generators):
    """Give each post its comments and the site its Popular Posts."""
    generator = next(g for g in generators if isinstance(g, ArticlesGenerator))
    settings = generator.settings
    if not any(settings.get(k) for k in ("AUTHOR_SAVE_AS", "AUTHOR_FEED_ATOM", "AUTHOR_FEED_RSS")):
        # No author pages or feeds: spare Pelican's grouping of each author's
        # posts by date, which checks every post against every post of the
        # author (a one-author blog: quadratic in the number of posts).
        generator.authors = []
    comments, views, feed_rows = read_reader_data(generator.settings)
    counts = {}
    now = utc_now()  # one time for the whole build: every page agrees
    for article in generator.articles:
        prepare_post(article, comments.get(article.slug, []), settings, now)
        counts[article.slug] = article.comment_count
    generator.context["COMMENTS_FEED_ATOM"] = comment_feeds.site_feed_path(settings)
    generator.context["popular_posts"] = rank_popular(
        generator.articles,
        comment_counts=counts,
        view_counts=views,
        limit=generator.settings.get("POPULAR_POSTS_COUNT", 5),
    )
    render_sidebar(generator)
    write_registry(generator)
    comment_feeds.write_all(generator, feed_rows)


def prepare_post(article, approved, settings, now=None):
    """Give one published post its comments (``approved``: its rows), count,
    whether comments are open (as of ``now``) and its comment feed."""
    # Pelican recomputes a post's URL from ARTICLE_URL at every use (a
    # dict copy, a relpath, two strftime); listings use it many times.
    # Pinning it through Pelican's own override makes builds faster.
    article.override_url = article.url
    article.comments = comment_threads(approved)
    article.comment_count = count_shown(article.comments)
    set_comments_open(article, settings, now)
    article.comments_feed = comment_feeds.post_feed_path(settings, article)


def prepare_reread_post(generator, content, **_signal_arguments):
    """What ``attach_comments_and_rank`` does for each post, for one post the live
    preview read again (drafts and hidden posts get nothing, as in a build)."""
    if content.status != "published":
        return
    path = comments_db_path(generator.settings)
    approved = []
    if os.path.exists(path):
        database = db.connect(path, migrate=False)
        try:
            approved = db.approved_comments_for_post(database, content.slug)
        finally:
            database.close()
    prepare_post(content, approved, generator.settings)


def render_sidebar(generator):
    """Render the sidebar once for the whole build: it is the same on every page
    (Popular Posts, Categories, Archives), and rendering it again per page was
    a large share of the build's time."""
    template = generator.env.get_template("partials/sidebar.html")
    generator.context["sidebar_html"] = Markup(template.render(generator.context))


def write_registry(generator):
    """Write the posts the comment service accepts comments for, and the site settings
    its own pages use to look like the rest of the site."""
    path = os.path.join(generator.settings["OUTPUT_PATH"], REGISTRY_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(registry_text(generator))


def registry_text(generator):
    """The registry file's text (``write_registry``)."""
    settings = generator.settings
    registry = {
        "posts": [
            {
                "slug": article.slug,
                "url": "/" + article.url,
                "title": article.title,
                "comments_open": article.comments_open,
                CLOSES_AT: (
                    article.comments_close_at.isoformat(timespec="seconds")
                    if article.comments_close_at
                    else None
                ),
            }
            for article in generator.articles
        ],
        "site": {
            "SITENAME": settings["SITENAME"],
            "SITESUBTITLE": settings.get("SITESUBTITLE", ""),
            "AUTHOR": settings.get("AUTHOR", ""),
            "DEFAULT_LANG": settings.get("DEFAULT_LANG", "en"),
            "ARCHIVES_URL": settings.get("ARCHIVES_URL", ""),
            "FEED_ALL_ATOM": settings.get("FEED_ALL_ATOM"),
            "FEED_ALL_RSS": settings.get("FEED_ALL_RSS"),
            "COMMENTS_FEED_ATOM": comment_feeds.site_feed_path(settings),
            "CONSENT_MODE": settings.get("CONSENT_MODE", "opt-out"),
            "COOKIES": settings.get("SITE_COOKIES", []),
            # Fingerprinted theme files (static_site/assets.py), for the same links.
            "THEME_ASSETS": settings.get("THEME_ASSETS", {}),
            "pages": [
                {"url": page.url, "title": page.title}
                for page in generator.context.get("pages", [])
            ],
        },
    }
    return json.dumps(registry, indent=1, ensure_ascii=False)


_pelican_period_archives = ArticlesGenerator._build_period_archives


def period_archives_in_linear_time(generator, sorted_articles, articles, settings):
    """Pelican's month archives, without its quadratic step.

    Pelican 4.12 lists each month's posts with ``[a for a in articles if a in
    dates]``: every post against every post of the month, which is about a
    second of a 10,000-post build. The same lists are made here by position,
    from Pelican's own result (computed with an empty ``articles``).
    """
    archives = _pelican_period_archives(generator, sorted_articles, [], settings)
    position = {id(article): n for n, article in enumerate(articles)}
    for periods in archives.values():
        for archive in periods:
            in_period = (a for a in archive["dates"] if id(a) in position)
            archive["articles"] = sorted(in_period, key=lambda a: position[id(a)])
    return archives


def register():
    # Every post and page is read but nothing is written yet: every page's
    # sidebar (Popular Posts) and every listing (comment counts) needs this
    # data, and the registry lists the pages for the service's navigation.
    signals.all_generators_finalized.connect(attach_comments_and_rank)
    # The same for one post read again by the live preview (`make serve`).
    content_reread.connect(prepare_reread_post)
    ArticlesGenerator._build_period_archives = period_archives_in_linear_time
