"""The warm publisher: a moderation decision is live in milliseconds.

A full Pelican build of a large site takes seconds. The publisher builds once
and keeps the build's generators (posts, context, compiled templates) in
memory. A decision on a post then re-renders only the pages that show that
post's comments or comment count, through the same templates and context as
a full build, so each page it writes is byte-identical to what a full build of
the same data writes (tests/test_warm_publish.py checks this):

* the post page itself;
* the home page (the page of it that lists the post), the post's category,
  tag and month archive pages;
* the post's comment feed and the site's (``comment_feeds``).

What depends on every post at once is the "Popular Posts" sidebar, on every
page. The publisher keeps every post ranked and, at each decision, updates
just the posts decided on since it last looked (``SiteIndex``). When a
decision changes the top of that ranking, a full build is scheduled,
debounced (several quick decisions cause one build), in the background.

Several processes (gunicorn workers, the console) may publish: every write
happens under the site's publishing lock, comment counts are read fresh from
the database at each decision, and a full build re-renders, before it lets
go of the lock, the posts decided on while it was building. So the site
converges on the database whoever publishes.
"""

import bisect
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pelican.generators import ArticlesGenerator
from pelican.paginator import Paginator
from pelican.utils import sanitised_join

from comments_service import db
from comments_service.popularity import COMMENT_WEIGHT, is_featured
from comments_service.render import comment_threads
from comments_service.static_site import comment_feeds
from comments_service.static_site.build import (
    BuildError,
    SwitchedAway,
    build_site,
    fingerprint_after_edit,
    publishing_lock,
    read_sources_stamp,
    write_sources_stamp,
)
from comments_service.static_site.pelican_plugin import render_sidebar, set_comments_open
from comments_service.static_site.releases import PublishTarget, folder_target

DEBOUNCE_SECONDS = 2.0
# After a failed publish, retry after these many seconds (then every last one),
# until the site has caught up with the database.
RETRY_DELAYS = (1, 2, 5, 15, 30, 60, 120, 300)


class WarmPublisher:
    """Publishes one site: ``target`` (a ``releases.PublishTarget``) says with which
    settings, into which folder, under which lock, and whether it must be live."""

    def __init__(self, target, db_path, debounce=DEBOUNCE_SECONDS):
        self.target = target
        self.settings_file = target.settings_file
        self.output_dir = Path(target.output_dir).resolve()
        self.db_path = str(db_path)
        self.debounce = debounce
        self.articles = None  # the warm ArticlesGenerator
        self.sources = None  # fingerprint of the posts, theme and settings of the warm build
        self._state_lock = threading.Lock()
        self._timer = None
        self._retry_timer = None
        self.retry_delays = RETRY_DELAYS
        self.failures = 0  # publishes failed in a row
        self.last_error = None  # (when, message) of the last failure, until one succeeds
        # Called after a background full build succeeded (the front door
        # mirrors the site to a bucket there); this module calls nothing above it.
        self.after_background_build = None

    # --- full builds --------------------------------------------------------

    @classmethod
    def for_folder(cls, settings_file, output_dir, db_path, **kwargs):
        """A publisher writing straight into ``output_dir`` (development, tests)."""
        return cls(folder_target(settings_file, output_dir), db_path, **kwargs)

    def full_build(self, before_unlock=None):
        """Rebuild everything, then catch up on decisions made meanwhile.

        ``before_unlock()`` runs last, still under the site's lock (`make
        publish` switches the live release there). Raises ``SwitchedAway``,
        writing nothing, when the target is a release no longer live."""
        database = db.connect(self.db_path)
        try:
            first_unseen = db.last_decision_id(database)
        finally:
            database.close()

        built = []

        def catch_up(generators):
            site = SiteIndex(
                next(g for g in generators if isinstance(g, ArticlesGenerator)), first_unseen
            )
            built.append(site)
            # The build read every decision up to ``first_unseen``; the ones
            # made since are re-rendered now, before the lock is let go.
            write_published_mark(self.output_dir, first_unseen)
            database = db.connect(self.db_path, migrate=False)
            try:
                self._render_and_write(site, database, set())
            finally:
                database.close()
            if before_unlock:
                before_unlock()

        settings, _generators = build_site(
            self.settings_file,
            self.output_dir,
            {"COMMENTS": {"DB": self.db_path}},
            catch_up,
            lock_file=self.target.lock_file,
            still_live=self.target.still_live,
        )
        with self._state_lock:
            self.articles = built[0]
            self.sources = settings["SOURCES_FINGERPRINT"]

    def forget_warm_build(self):
        """Drop the build kept in memory: the next publish builds everything
        (the live preview changed it, then could not finish)."""
        with self._state_lock:
            self.articles = None
            self.sources = None

    def adopt(self, other):
        """Take the warm build of ``other``, a publisher of the same site under
        another target (the release it built just went live)."""
        with other._state_lock:
            articles, sources = other.articles, other.sources
        with self._state_lock:
            self.articles, self.sources = articles, sources

    def schedule_full_build(self):
        """Run one full build after ``debounce`` seconds without a new request."""
        with self._state_lock:
            if self._timer:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce, self._background_build)
            self._timer.daemon = True
            self._timer.start()

    def _background_build(self):
        # In a child process: a full build of a large site is seconds of CPU,
        # and in a thread of this process it would hold the GIL against the
        # decisions this process serves meanwhile. The child catches up on
        # decisions made during its build before it lets go of the lock.
        done = subprocess.run(
            [sys.executable, "-m", "comments_service.static_site.warm", *self._arguments()],
            check=False,
        )
        if done.returncode:
            print("Background build failed, live site unchanged (see the message above).")
            self._failed(BuildError("the background rebuild of every page failed (see the log)"))
            return
        self._succeeded()
        if self.after_background_build and self.target.still_live():
            self.after_background_build()

    def _arguments(self):
        target = self.target
        live_root = [target.live_root] if target.live_root else []
        return [target.settings_file, target.output_dir, self.db_path, target.lock_file, *live_root]

    # --- healing --------------------------------------------------------------

    def _failed(self, exc):
        """Remember the failure and retry later: the site must converge on the
        database without a restart (a full disk freed, a template fixed)."""
        with self._state_lock:
            self.failures += 1
            if self.last_error is None:
                self.last_error = (time.time(), f"{type(exc).__name__}: {exc}")
            else:
                self.last_error = (self.last_error[0], f"{type(exc).__name__}: {exc}")
            delay = self.retry_delays[min(self.failures, len(self.retry_delays)) - 1]
            if self._retry_timer:
                self._retry_timer.cancel()
            self._retry_timer = threading.Timer(delay, self.retry)
            self._retry_timer.daemon = True
            self._retry_timer.start()

    def _succeeded(self):
        with self._state_lock:
            self.failures = 0
            self.last_error = None

    def retry(self):
        """Publish whatever is decided but not yet on the site (the retry timer's job)."""
        with self._state_lock:
            self._retry_timer = None
        try:
            self.publish_posts(set())
        except SwitchedAway:
            pass  # a new release went live, built with every decision
        except Exception:  # noqa: BLE001 -- recorded and rescheduled by publish_posts
            pass

    def cancel_pending(self):
        with self._state_lock:
            for timer in (self._timer, self._retry_timer):
                if timer:
                    timer.cancel()
            self._timer = self._retry_timer = None

    def flush(self):
        """Run a scheduled full build now (for tests and shutdown)."""
        with self._state_lock:
            timer, self._timer = self._timer, None
        if timer:
            timer.cancel()
            self.full_build()

    # --- decisions ------------------------------------------------------------

    def publish_posts(self, slugs):
        """Re-render the pages that show these posts' comments, and those of
        every post decided on but not yet published (a publish that failed or
        was killed); return the paths written (relative to the output), or
        None after a full build.

        A failure is raised to the caller (the decision is saved; the admin is
        told) and retried in the background with back-off until it succeeds."""
        try:
            written = self._publish_posts(slugs)
        except SwitchedAway:
            raise
        except Exception as exc:
            self._failed(exc)
            raise
        self._succeeded()
        return written

    def warm_site(self):
        """The warm build (a ``SiteIndex``), or None when there is none or the
        site was rebuilt since from changed posts, pages, theme or settings."""
        with self._state_lock:
            articles, sources = self.articles, self.sources
        if articles is None or sources != read_sources_stamp(self.output_dir):
            return None
        return articles

    def record_edit(self, source_path):
        """The live preview re-rendered the post at ``source_path``: record that the
        site is built from new sources (so that other processes' warm builds know
        theirs is out of date, as after a full build)."""
        with self._state_lock:
            self.sources = fingerprint_after_edit(self.sources, source_path)
            write_sources_stamp(self.output_dir, self.sources)

    def _publish_posts(self, slugs):
        articles = self.warm_site()
        if articles is None:
            # First decision in this process, or the site was rebuilt since
            # from changed posts, pages, theme or settings (`make html`, a
            # restart's build, another worker): warm up with a full build, so
            # this decision does not put back what the pages were before.
            self.full_build()
            return None
        database = db.connect(self.db_path, migrate=False)
        try:
            with publishing_lock(self.target.lock_file):
                if not self.target.still_live():
                    raise SwitchedAway(self.output_dir)
                popular_changed, written = self._render_and_write(articles, database, slugs)
        finally:
            database.close()
        if popular_changed:
            self.schedule_full_build()
        return written

    def _render_and_write(self, site, database, slugs):
        """Refresh the data, render the affected pages, write them; return
        whether Popular Posts changed (every page's sidebar then needs a full
        build) and the paths written. Runs under the site's lock.

        Besides ``slugs``, the posts decided on since the last publish that
        completed (the mark beside the output) are rendered too: whoever
        publishes next finishes what a failed or killed publish left. Only
        what these pages show is refreshed, so the work does not grow with
        the number of posts."""
        last = db.last_decision_id(database)  # first: no decision up to it is missed
        mark = read_published_mark(self.output_dir)
        if mark is not None and mark < last:
            slugs = set(slugs) | db.posts_decided_since(database, mark)
        generator = site.generator
        changed = [site.by_slug[slug] for slug in slugs if slug in site.by_slug]
        for article in changed:
            article.comments = comment_threads(
                db.approved_comments_for_post(database, article.slug)
            )
            # As a full build now would: the post may have closed since the warm build.
            set_comments_open(article, generator.settings)
        site.catch_up_on_counts(database)
        popular = site.popular(
            db.views_since(database, days=30), generator.settings.get("POPULAR_POSTS_COUNT", 5)
        )
        popular_changed = [a.slug for a in popular] != [
            a.slug for a in generator.context.get("popular_posts", [])
        ]
        generator.context["popular_posts"] = popular
        render_sidebar(generator)

        def refresh_counts(shown):
            counts = db.shown_comment_counts(database, [a.slug for a in shown])
            for article in shown:
                article.comment_count = counts.get(article.slug, 0)

        pages = {}
        for article in changed:
            pages.update(render_pages_showing(site, article, refresh_counts))
        pages.update(comment_feeds.render_for(generator, database, changed, site.by_slug))
        write_atomically(self.output_dir, pages)
        write_published_mark(self.output_dir, last)
        return popular_changed, list(pages)


class SiteIndex:
    """Look-ups over a warm build, made once per build, so that a decision
    costs the same whether the site has a hundred posts or ten thousand."""

    def __init__(self, generator, seen_decision):
        self.generator = generator
        self.seen_decision = seen_decision
        self.refresh()

    def refresh(self):
        """Index the generator's posts again (the live preview changed them)."""
        generator = self.generator
        self.by_slug = {article.slug: article for article in generator.articles}
        self.month_of = {
            id(article): period
            for period in generator.period_archives.get("month", [])
            for article in period["articles"]
        }
        # ``[a for a in dates if a in posts]`` of each category and tag, as
        # Pelican computes it for those pages: once per build, not per decision.
        self._date_ordered = {}
        listings = [(("category", c.slug), posts) for c, posts in generator.categories]
        listings += [(("tag", t.slug), posts) for t, posts in generator.tags.items()]
        for key, posts in listings:
            wanted = {id(post) for post in posts}
            self._date_ordered[key] = [a for a in generator.dates if id(a) in wanted]

        # Popular Posts, kept ranked between decisions. ``rank_popular`` orders
        # posts by (score, Featured, date), best first, equal keys in site
        # order: the tie-break is a post's place in this fallback order.
        fallback = sorted(generator.articles, key=lambda a: (is_featured(a), a.date), reverse=True)
        self._tie_rank = {article.slug: n for n, article in enumerate(fallback)}
        # Shown comments per post, as of decision ``seen_decision`` (the
        # build read them), and every post ranked by its comments alone.
        self.shown = {a.slug: getattr(a, "comment_count", 0) for a in generator.articles}
        self._by_comments = sorted(self._comment_key(slug) for slug in self.shown)

    def replace(self, old, new):
        """Put ``new`` where ``old`` is: the live preview read a post again, and
        nothing that orders or groups it changed."""
        self.by_slug[new.slug] = new
        if id(old) in self.month_of:
            self.month_of[id(new)] = self.month_of.pop(id(old))
        keys = [("category", new.category.slug)] if hasattr(new, "category") else []
        keys += [("tag", tag.slug) for tag in getattr(new, "tags", [])]
        for key in keys:
            posts = self._date_ordered.get(key, [])
            if old in posts:
                posts[posts.index(old)] = new

    def in_date_order(self, key, posts):
        return self._date_ordered[key]

    def _comment_key(self, slug):
        return (-COMMENT_WEIGHT * self.shown[slug], self._tie_rank[slug], slug)

    def catch_up_on_counts(self, database):
        """Re-read the comment counts of the posts decided on since the last
        look, by any process: the work grows with those decisions, not with
        the site."""
        last = db.last_decision_id(database)  # first: no decision up to it is missed
        decided = db.posts_decided_since(database, self.seen_decision) & self.shown.keys()
        counts = db.shown_comment_counts(database, decided)
        for slug in decided:
            self._set_shown(slug, counts.get(slug, 0))
        self.seen_decision = last

    def _set_shown(self, slug, count):
        if self.shown[slug] != count:
            del self._by_comments[bisect.bisect_left(self._by_comments, self._comment_key(slug))]
            self.shown[slug] = count
            bisect.insort(self._by_comments, self._comment_key(slug))

    def popular(self, views, limit):
        """What ``rank_popular`` returns over every post (views + 5 x comments),
        computed from the posts that can win: those with views, and the best
        ``limit`` of the others, whose score is their comments alone."""
        others = []
        for _key, _rank, slug in self._by_comments:
            if len(others) == limit:
                break
            if slug not in views:
                others.append(slug)
        candidates = others + [slug for slug in views if slug in self.shown]

        def rank(slug):
            score = views.get(slug, 0) + COMMENT_WEIGHT * self.shown[slug]
            return (-score, self._tie_rank[slug])

        return [self.by_slug[slug] for slug in sorted(candidates, key=rank)[:limit]]


def render_pages_showing(site, article, refresh_counts):
    """Render every page that shows ``article``'s comments or count: {save_as: html}.

    Mirrors ``ArticlesGenerator.generate_pages`` and ``Writer.write_file`` for
    just these pages (and, of a paginated listing, just the page with the post).
    ``refresh_counts(posts)`` updates the comment counts of the posts a page lists.
    """
    generator = site.generator
    settings, context = generator.settings, generator.context
    pages = {}
    refresh_counts([article])

    def render(*args, **kwargs):
        pages.update(render_one(site, article, refresh_counts, *args, **kwargs))

    render(
        article.save_as,
        generator.get_template(article.template),
        context,
        article=article,
        category=getattr(article, "category", None),
        override_output=hasattr(article, "override_save_as"),
        url=article.url,
        blog=True,
    )
    index_save_as = settings.get("INDEX_SAVE_AS", "index.html")
    if "index" in settings["DIRECT_TEMPLATES"] and index_save_as:
        render(
            index_save_as,
            generator.get_template("index"),
            context,
            articles=generator.articles,
            dates=generator.dates,
            blog=True,
            template_name="index",
            page_name=os.path.splitext(index_save_as)[0],
            url=settings.get("INDEX_URL", "index.html"),
        )
    period = site.month_of.get(id(article))
    if period is not None:
        period_context = context.copy()
        period_context["period"] = period["period"]
        period_context["period_num"] = period["period_num"]
        render(
            period["save_as"],
            generator.get_template("period_archives"),
            period_context,
            articles=period["articles"],
            dates=period["dates"],
            template_name="period_archives",
            blog=True,
            url=period["url"],
            all_articles=generator.articles,
        )
    for category, posts in generator.categories:
        if category == article.category:
            render(
                category.save_as,
                generator.get_template("category"),
                context,
                url=category.url,
                category=category,
                articles=posts,
                dates=site.in_date_order(("category", category.slug), posts),
                template_name="category",
                blog=True,
                page_name=category.page_name,
                all_articles=generator.articles,
            )
    for tag in getattr(article, "tags", []):
        posts = generator.tags[tag]
        render(
            tag.save_as,
            generator.get_template("tag"),
            context,
            tag=tag,
            url=tag.url,
            articles=posts,
            dates=site.in_date_order(("tag", tag.slug), posts),
            template_name="tag",
            blog=True,
            page_name=tag.page_name,
            all_articles=generator.articles,
        )
    return pages


def page_numbers_to_try(paginator, article):
    """The page that should list ``article`` first, then every page (orphans)."""
    try:
        position = paginator.object_list.index(article)
    except ValueError:
        return []
    guess = position // paginator.per_page + 1
    return [guess, *range(1, paginator.num_pages + 1)]


def render_one(
    site,
    post,
    refresh_counts,
    name,
    template,
    local_context,
    template_name=None,
    url=None,
    **kwargs,
):
    """``Writer.write_file`` without the writing, for one page (of a listing, the
    page that lists ``post``): {save_as: html}. Named ``post`` because the
    template arguments (``kwargs``) may hold an ``article``."""
    if not name:
        return {}
    settings = site.generator.settings
    kwargs.pop("override_output", None)
    paginators = listing_paginators(settings, name, url, template_name, kwargs)
    if not paginators:
        for key in ("articles", "dates"):
            if key in kwargs:
                refresh_counts(kwargs[key])
        return {name: render_page(settings, template, local_context, name, kwargs)}
    first = next(iter(paginators.values()))
    for number in page_numbers_to_try(first, post):
        if number > first.num_pages or post not in first.page(number).object_list:
            continue
        save_as, extra = listing_page_arguments(paginators, number, kwargs)
        for key in paginators:
            refresh_counts(extra[f"{key}_page"].object_list)
        return {save_as: render_page(settings, template, local_context, save_as, extra)}
    return {}


def listing_paginators(settings, name, url, template_name, kwargs):
    """The paginators ``Writer.write_file`` makes for these template arguments
    ({"articles": ..., "dates": ...}), or {} for a page that is not paginated."""
    paginated = {key: val for key, val in kwargs.items() if key in {"articles", "dates"}}
    if not (paginated and template_name in settings["PAGINATED_TEMPLATES"]):
        return {}
    per_page = settings["PAGINATED_TEMPLATES"][template_name] or settings["DEFAULT_PAGINATION"]
    return {
        key: Paginator(name, url, values, settings, per_page) for key, values in paginated.items()
    }


def listing_page_arguments(paginators, number, kwargs):
    """The save_as and template arguments of page ``number`` of a listing, as
    ``Writer.write_file`` gives them."""
    extra = dict(kwargs)
    for key, paginator in paginators.items():
        extra.update(
            {
                f"{key}_paginator": paginator,
                f"{key}_page": paginator.page(number),
                f"{key}_previous_page": paginator.page(number - 1) if number > 1 else None,
                f"{key}_next_page": (
                    paginator.page(number + 1) if number < paginator.num_pages else None
                ),
            }
        )
    first = next(iter(paginators.values()))
    return first.page(number).save_as, extra


def render_page(settings, template, local_context, save_as, kwargs):
    """One page as ``Writer.write_file`` renders it (its local context, no writing)."""
    if settings["RELATIVE_URLS"]:
        raise NotImplementedError("the warm publisher assumes RELATIVE_URLS = False")
    values = local_context.copy()
    values["localsiteurl"] = values.get("localsiteurl", None)
    values["output_file"] = save_as
    values.update(kwargs)
    return template.render(values)


def write_atomically(output_dir, pages):
    """Write each page to a temporary file, then rename it into place; a page
    given as None is removed (a post's comment feed, when its last comment goes).

    The temporary files live in a folder beside the output, never inside it,
    so no reader can ever fetch one; that folder is emptied first (the
    caller holds the site's lock: anything in it was left by a killed publish)."""
    if not pages:
        return
    staging = pages_staging_dir(output_dir)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name, html in pages.items():
            path = Path(sanitised_join(str(output_dir), name))
            if html is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=staging, delete=False) as f:
                f.write(html.encode("utf-8"))
            os.chmod(f.name, 0o644)
            os.replace(f.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def pages_staging_dir(output_dir):
    output_dir = Path(output_dir)
    return output_dir.parent / f".{output_dir.name}-build-pages"


def published_mark_path(output_dir):
    output_dir = Path(output_dir)
    return output_dir.parent / f".{output_dir.name}.published"


def read_published_mark(output_dir):
    """The last decision whose pages are all written into ``output_dir`` (None: unknown)."""
    try:
        return int(published_mark_path(output_dir).read_text())
    except (FileNotFoundError, ValueError):
        return None


def write_published_mark(output_dir, decision_id):
    mark = published_mark_path(output_dir)
    temporary = mark.with_name(mark.name + ".tmp")
    temporary.write_text(str(decision_id))
    os.replace(temporary, mark)


_publishers = {}
_publishers_lock = threading.Lock()


def all_publishers():
    with _publishers_lock:
        return list(_publishers.values())


def publisher_for(target, db_path, generation=None):
    """The process's publisher for this target and database (created on first use).

    For a live release, ``generation`` names the switch that made it live: a
    new one retires the publishers of the site's earlier releases (their warm
    builds are memory, and their pending builds would write a site no longer
    live)."""
    key = (target, str(db_path), generation)
    with _publishers_lock:
        if key not in _publishers:
            if target.live_root is not None:
                for old_key in [k for k in _publishers if k[0].live_root == target.live_root]:
                    _publishers.pop(old_key).cancel_pending()
            _publishers[key] = WarmPublisher(target, db_path)
        return _publishers[key]


def main(argv=None):
    """``python -m comments_service.static_site.warm SETTINGS OUTPUT DB LOCK [LIVE_ROOT]``: one
    full build with catch-up (the publisher's debounced build runs this in a child)."""
    settings_file, output_dir, db_path, lock_file, *live_root = (
        argv if argv is not None else sys.argv[1:]
    )
    target = PublishTarget(settings_file, output_dir, lock_file, *live_root)
    try:
        WarmPublisher(target, db_path).full_build()
    except BuildError as exc:
        print(f"Build failed, live site unchanged: {exc}", file=sys.stderr)
        return 1
    except SwitchedAway:
        pass  # a new release went live meanwhile, complete with its own build
    return 0


if __name__ == "__main__":
    sys.exit(main())
