"""The live preview: a saved post is re-rendered, not the whole site rebuilt.

`make serve` watches the author's files. A full build of 1,000 posts takes
seconds, and most saves change one post, shown on a handful of pages.
``publish_edit`` reads that one post again with Pelican's reader, into the
build the warm publisher keeps in memory (``warm.WarmPublisher``), and
re-renders the pages that show it through the same templates and context as
a full build, so that the site it leaves is byte-identical to a full build
of the same sources (tests/test_preview.py checks this after each kind of
edit). Files are written only when their bytes change.

What an edit of a published post re-renders, in two steps:

1. its page, and of each listing that shows it (the home page, its
   category, its tags, its month), the pages with the post, or whose posts
   moved (a new date reorders a listing; a new tag adds a listing, an
   abandoned one is deleted). These are written first and reported at once
   (``pages_written``): the page the author looks at reloads then;
2. the feeds that carry the post and, if its header changed (a body edit
   leaves them alone: they show what headers say), the pages listing every
   post (archives, sitemap, any other direct template) and the registry.

A draft is listed nowhere: an edited or new draft re-renders its page only.
The build checks (``checks``) run on the post read again; a mistake fails
the edit (``BuildError``, the site unchanged), as it fails a full build.

A full build is needed (``NeedsFullBuild``, which says why) for anything
else: a template, the settings, a page (its title is in every page's menu),
a static file; several files at once (a checkout); a new or deleted post,
or a changed status (every page counts the posts); a new address (slug, or
a date in another month: other posts link to it); a new category; a change
of the sidebar (a Popular Post's title, or a new ranking: the sidebar is on
every page); a {static} link to a file not yet in the site, or a changed
{attach} link (a file to copy or move); translations, author pages, relative
URLs. So the preview never has to re-render every page.

Plugins: what a plugin does for each content object at Pelican's
generator-level signals (``all_generators_finalized``...), which the
preview does not send again, it must also do for the post read again, on
``signals.content_reread``. What every page shows of the posts must come
from the sidebar, rendered once per build (``pelican_plugin.render_sidebar``),
which the preview compares.

The Pelican internals it leans on are those of ``warm`` (``render_page``
and the listing helpers mirror ``Writer.write_file``), and
``ArticlesGenerator.generate_context`` (reading, ordering and grouping the
posts: ``rederive`` repeats its end), ``generate_pages`` (the arguments of
each page) and ``generate_feeds``, checked against Pelican 4.12.0.

This module runs around a Pelican build: it never imports Flask.
"""

import contextlib
import fnmatch
import os
from collections import defaultdict
from dataclasses import dataclass
from io import StringIO
from operator import attrgetter
from pathlib import Path

from pelican import signals as pelican_signals
from pelican.contents import Article, SkipStub
from pelican.generators import PelicanTemplateNotFound
from pelican.utils import order_content, process_translations, sanitised_join
from pelican.writers import Writer

from comments_service import db
from comments_service.popularity import is_featured
from comments_service.registry import REGISTRY_FILE
from comments_service.static_site.build import (
    BuildError,
    pelican_lock,
    pelican_log,
    publishing_lock,
)
from comments_service.static_site.checks import ContentProblems, problems_in_reread
from comments_service.static_site.pelican_plugin import registry_text, render_sidebar
from comments_service.static_site.signals import content_reread
from comments_service.static_site.warm import (
    listing_page_arguments,
    listing_paginators,
    render_page,
    write_atomically,
)

POST_STATUSES = ("published", "hidden", "draft")
GRANULARITIES = ("year", "month", "day")


class NeedsFullBuild(Exception):
    """The change is not one the preview re-renders; the message says why."""


def publish_edit(publisher, changes, pages_written=None):
    """Re-render what ``changes`` (watchfiles' (change, path) pairs) edited into the
    publisher's site; return the paths written or removed (relative to the output).

    ``pages_written(paths)`` is called as soon as the first pages are on disk,
    then with the rest. Raises ``NeedsFullBuild`` (the warm build is dropped:
    the full build makes a new one) or ``BuildError`` (the checks failed;
    nothing written, the warm build kept)."""
    site = publisher.warm_site()
    if site is None:
        raise NeedsFullBuild("no build of this site in memory yet")
    source = edited_post(site.generator, changes)
    if source is None:
        return []  # only files no build reads (an editor's temporary files)
    with publishing_lock(publisher.target.lock_file), pelican_lock:
        try:
            with pelican_log() as errors:
                return Edit(publisher, site, source, errors).publish(pages_written or _ignore)
        except BuildError:
            raise
        except NeedsFullBuild:
            publisher.forget_warm_build()
            raise
        # Whatever else went wrong (a template failing on the post), the full
        # build repeats it and reports it with the site's other problems.
        except Exception as exc:
            publisher.forget_warm_build()
            raise NeedsFullBuild(f"the preview failed ({type(exc).__name__}: {exc})") from exc


def _ignore(_paths):
    pass


def under(path, folders):
    """Whether ``path`` (relative to the content folder) is in one of ``folders``."""
    return any(
        not f or path == f.strip("/") or path.startswith(f.strip("/") + "/") for f in folders
    )


def edited_post(generator, changes):
    """The one post source (relative to PATH) that ``changes`` touched, or None
    if no file a build reads changed; ``NeedsFullBuild`` for anything else."""
    settings, context = generator.settings, generator.context
    content_root = Path(settings["PATH"]).resolve()
    posts = set()
    for _change, changed in changes:
        path = Path(changed).resolve()
        try:
            relative = path.relative_to(content_root).as_posix()
        except ValueError:
            raise NeedsFullBuild(f"{changed} changed (theme or settings)") from None
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in settings["IGNORE_FILES"]):
            continue
        extension = os.path.splitext(path.name)[1][1:]
        is_source = extension in generator.readers.extensions
        if is_source and under(relative, settings["PAGE_PATHS"]):
            raise NeedsFullBuild(f"the page {relative} changed (page titles are on every page)")
        if (
            is_source
            and under(relative, settings["ARTICLE_PATHS"])
            and not under(relative, settings["ARTICLE_EXCLUDES"])
        ):
            posts.add(relative)
        elif (
            relative in context["static_content"]
            or relative in context["static_links"]
            or under(relative, settings["STATIC_PATHS"])
        ):
            raise NeedsFullBuild(f"the file {relative} changed (the site copies it)")
        elif any(known.startswith(relative + "/") for known in context["generated_content"]):
            raise NeedsFullBuild(f"the folder {relative} changed")
        # Anything else is read by no build: an editor's temporary file.
    if len(posts) > 1:
        raise NeedsFullBuild(f"{len(posts)} posts changed at once")
    return posts.pop() if posts else None


@dataclass
class Listing:
    """One listing (the home page, a category, a tag, a month) with the
    arguments ``ArticlesGenerator.generate_pages`` writes it with."""

    name: str  # save_as of its first page
    url: str
    template: object
    template_name: str
    context: dict
    kwargs: dict  # the template arguments: articles, dates, ...

    def paginators(self, settings):
        return listing_paginators(settings, self.name, self.url, self.template_name, self.kwargs)

    def render(self, settings, number, paginators):
        """{save_as: html} of page ``number`` (any number if not paginated)."""
        if not paginators:
            return {
                self.name: render_page(
                    settings, self.template, self.context, self.name, self.kwargs
                )
            }
        save_as, extra = listing_page_arguments(paginators, number, self.kwargs)
        return {save_as: render_page(settings, self.template, self.context, save_as, extra)}

    def pages(self, settings):
        """{save_as: what decides the page}: page count, number, the posts on it."""
        paginators = self.paginators(settings)
        if not paginators:
            posts = tuple(tuple(p.slug for p in self.kwargs[key]) for key in ("articles", "dates"))
            return {self.name: (1, 1, posts)}
        first = next(iter(paginators.values()))
        count = first.num_pages
        pages = {}
        for number in range(1, count + 1):
            posts = tuple(
                tuple(p.slug for p in paginator.page(number).object_list)
                for paginator in paginators.values()
            )
            pages[first.page(number).save_as] = (count, number, posts)
        return pages


def listing_keys(settings, post):
    """The listings that show ``post`` (a published post)."""
    keys = [
        ("direct", name)
        for name in settings["DIRECT_TEMPLATES"]
        if name in settings["PAGINATED_TEMPLATES"] and direct_save_as(settings, name)
    ]
    keys += [
        ("period", granularity, period_number(post.date, granularity))
        for granularity in GRANULARITIES
        if settings[f"{granularity.upper()}_ARCHIVE_SAVE_AS"]
    ]
    if getattr(post, "category", None) is not None:
        keys.append(("category", post.category.slug))
    keys += [("tag", tag.slug) for tag in getattr(post, "tags", [])]
    return keys


def period_number(date, granularity):
    """An archive's ``period_num``, as ``_build_period_archives`` makes it."""
    return {"year": (date.year,), "month": (date.year, date.month)}.get(
        granularity, (date.year, date.month, date.day)
    )


def direct_save_as(settings, name):
    return settings.get(f"{name.upper()}_SAVE_AS", f"{name}.html")


def listing(site, key):
    """The listing ``key`` names in the site as it is now (None: it has no post)."""
    generator = site.generator
    settings, context = generator.settings, generator.context
    kind = key[0]
    if kind == "direct":
        name = key[1]
        save_as = direct_save_as(settings, name)
        return Listing(
            save_as,
            settings.get(f"{name.upper()}_URL", f"{name}.html"),
            generator.get_template(name),
            name,
            context,
            {
                "articles": generator.articles,
                "dates": generator.dates,
                "blog": True,
                "page_name": os.path.splitext(save_as)[0],
            },
        )
    if kind == "period":
        for period in generator.period_archives.get(key[1], []):
            if tuple(period["period_num"]) == key[2]:
                period_context = context.copy()
                period_context["period"] = period["period"]
                period_context["period_num"] = period["period_num"]
                return Listing(
                    period["save_as"],
                    period["url"],
                    period_template(generator),
                    "period_archives",
                    period_context,
                    {
                        "articles": period["articles"],
                        "dates": period["dates"],
                        "blog": True,
                        "all_articles": generator.articles,
                    },
                )
        return None
    groups = generator.categories if kind == "category" else generator.tags.items()
    for group, posts in groups:
        if group.slug == key[1]:
            return Listing(
                group.save_as,
                group.url,
                generator.get_template(kind),
                kind,
                context,
                {
                    kind: group,
                    "articles": posts,
                    "dates": site.in_date_order(key, posts),
                    "blog": True,
                    "page_name": group.page_name,
                    "all_articles": generator.articles,
                },
            )
    return None


def period_template(generator):
    try:
        return generator.get_template("period_archives")
    except PelicanTemplateNotFound:
        return generator.get_template("archives")


class Edit:
    """One post read again and published into the warm build's site."""

    def __init__(self, publisher, site, source, errors):
        self.publisher, self.site, self.source = publisher, site, source
        self.generator = site.generator
        self.settings, self.context = self.generator.settings, self.generator.context
        self.errors = errors  # what Pelican logged as errors meanwhile
        self.old = self.context["generated_content"].get(source)

    def publish(self, pages_written):
        self.check_site()
        new = self.read()
        self.check_change(new)
        self.check(new)
        content_reread.send(self.generator, content=new, output_dir=self.publisher.output_dir)
        old, listed = self.old, new.status == "published"  # the status is as before
        keys = list(dict.fromkeys(self.keys(old) + self.keys(new)))
        in_place = old is not None and placement(self.settings, old) == placement(
            self.settings, new
        )
        if in_place:
            self.put_in_place(old, new)
            pages, removed = self.pages_showing(new, keys), []
        else:
            before = {key: self.pages_of(key) for key in keys}
            self.rederive(new, ranked=listed and rank(old) != rank(new))
            pages, removed = self.pages_changed(new, keys, before)
        sidebar = self.context.get("sidebar_html")
        render_sidebar(self.generator)
        if self.context["sidebar_html"] != sidebar:
            raise NeedsFullBuild("the sidebar changed (it is on every page)")
        pages.update(self.post_page(new))
        written = self.write(pages, removed)
        pages_written(written)
        later = {}
        if listed:
            later.update(self.feeds(new, in_place))
            # Pages listing every post, and the registry, show what a post's
            # header says (title, date, category...), never its body.
            if old is None or old.metadata != new.metadata:
                later.update(self.direct_pages())
                later[REGISTRY_FILE] = registry_text(self.generator)
        later = self.write(later, [])
        if self.errors:
            raise NeedsFullBuild("Pelican reported an error while rendering (see above)")
        if later:
            pages_written(later)
        self.publisher.record_edit(new.source_path)
        return written + later

    # --- what may be previewed ------------------------------------------------

    def check_site(self):
        settings, generator = self.settings, self.generator
        if settings["RELATIVE_URLS"]:
            raise NeedsFullBuild("RELATIVE_URLS is on")
        if any(settings.get(k) for k in ("AUTHOR_SAVE_AS", "AUTHOR_FEED_ATOM", "AUTHOR_FEED_RSS")):
            raise NeedsFullBuild("the site has author pages")
        if generator.translations or generator.hidden_translations or generator.drafts_translations:
            raise NeedsFullBuild("the site has translations")
        if self.old is not None and not isinstance(self.old, Article):
            raise NeedsFullBuild(f"{self.source} was not a post")

    def read(self):
        """The post as ``ArticlesGenerator.generate_context`` reads it (a
        ``BuildError`` naming the problem if Pelican cannot use it)."""
        generator = self.generator
        try:
            post = generator.readers.read_file(
                base_path=generator.path,
                path=self.source,
                content_class=Article,
                context=self.context,
                preread_signal=pelican_signals.article_generator_preread,
                preread_sender=generator,
                context_signal=pelican_signals.article_generator_context,
                context_sender=generator,
            )
        except FileNotFoundError:
            raise NeedsFullBuild(f"{self.source} was deleted or renamed") from None
        # What the generator would log and skip, the checks name for the author.
        except Exception:  # noqa: BLE001
            post = None
        if isinstance(post, SkipStub):
            raise NeedsFullBuild(f"{self.source} is skipped")
        if post is None or not post.is_valid():
            problems = problems_in_reread(self.context, generator.readers, self.source, None)
            report = ContentProblems(problems)
            raise BuildError(str(report), report.problems)
        process_translations([post], translation_id=self.settings["ARTICLE_TRANSLATION_ID"])
        return post

    def check(self, new):
        """The build checks, on the post read again (what a full build would report)."""
        generator = self.generator
        others = [self.site.by_slug.get(new.slug), *generator.drafts, *generator.hidden_articles]
        same_slug = [
            other
            for other in others
            if other is not None
            and other is not self.old
            and other.slug == new.slug
            and getattr(other, "lang", None) == getattr(new, "lang", None)
        ]
        problems = problems_in_reread(self.context, generator.readers, self.source, new, same_slug)
        if problems:
            report = ContentProblems(problems)
            raise BuildError(str(report), report.problems)
        if self.errors:  # what a full build fails on too (``build.build_site``)
            raise BuildError("; ".join(self.errors))

    def check_change(self, new):
        old = self.old
        if new.status not in POST_STATUSES:
            raise NeedsFullBuild(f"status {new.status!r}")
        if getattr(new, "lang", None) != self.settings["DEFAULT_LANG"]:
            raise NeedsFullBuild("a post in another language (a translation)")
        if old is None:
            if new.status != "draft":
                raise NeedsFullBuild("a new post (every page counts the posts)")
        elif new.status != old.status:
            raise NeedsFullBuild(f"its status changed ({old.status} to {new.status})")
        elif (new.save_as, new.url) != (old.save_as, old.url):
            raise NeedsFullBuild(f"its address changed ({old.url} to {new.url})")
        elif new.status == "published" and str(getattr(new, "category", "")) != str(
            getattr(old, "category", "")
        ):
            raise NeedsFullBuild("its category changed (every page counts the posts)")
        if attach_links(new) != (attach_links(old) if old is not None else set()):
            raise NeedsFullBuild("its {attach} links changed (the files move with them)")
        if new.get_static_links() - self.context["static_content"].keys():
            raise NeedsFullBuild("it links a file the site has not copied yet")

    # --- the site's lists --------------------------------------------------

    def keys(self, post):
        if post is None or post.status != "published":
            return []
        return listing_keys(self.settings, post)

    def pages_of(self, key):
        found = listing(self.site, key)
        return found.pages(self.settings) if found is not None else {}

    def put_in_place(self, old, new):
        """Put ``new`` where ``old`` is in every list: nothing that orders or
        groups the posts changed (``placement``)."""
        generator, context = self.generator, self.context
        context["generated_content"][self.source] = new
        lists = [
            generator.articles,
            generator.dates,
            generator.drafts,
            generator.hidden_articles,
            context.get("popular_posts", []),
        ]
        if new.status == "published":
            lists += [posts for category, posts in generator.categories if category == new.category]
            lists += [generator.tags[tag] for tag in getattr(new, "tags", [])]
            for granularity, periods in generator.period_archives.items():
                number = period_number(new.date, granularity)
                for period in periods:
                    if tuple(period["period_num"]) == number:
                        lists += [period["articles"], period["dates"]]
            self.site.replace(old, new)
        for posts in lists:
            replace(posts, old, new)

    def rederive(self, new, ranked):
        """Put ``new`` in, then make every list of posts again, as the end of
        ``ArticlesGenerator.generate_context`` does; with ``ranked`` (the post's
        rank may have moved), Popular Posts too."""
        generator, context, settings = self.generator, self.context, self.settings
        context["generated_content"][self.source] = new
        read = defaultdict(list)
        for content in context["generated_content"].values():
            if isinstance(content, Article):
                read[content.status].append(content)
        generator.articles = originals(settings, read["published"])
        generator.hidden_articles = originals(settings, read["hidden"])
        generator.drafts = originals(settings, read["draft"])
        categories, tags, authors = defaultdict(list), defaultdict(list), defaultdict(list)
        for article in generator.articles:
            if hasattr(article, "category"):
                categories[article.category].append(article)
            for tag in getattr(article, "tags", []):
                tags[tag].append(article)
            for author in getattr(article, "authors", []):
                authors[author].append(article)
        generator.dates = sorted(
            generator.articles, key=attrgetter("date"), reverse=context["NEWEST_FIRST_ARCHIVES"]
        )
        generator.period_archives = generator._build_period_archives(
            generator.dates, generator.articles, settings
        )
        generator.categories = sorted(
            categories.items(), reverse=settings["REVERSE_CATEGORY_ORDER"]
        )
        generator.tags = tags
        generator.authors = sorted(authors.items())
        generator._update_context(
            ("articles", "drafts", "hidden_articles", "dates", "tags", "categories", "authors")
        )
        context["period_archives"] = generator.period_archives
        generator.authors = []  # as pelican_plugin leaves it (no author pages)
        self.site.refresh()
        if not ranked:
            return
        database = db.connect(self.publisher.db_path, migrate=False)
        try:
            views = db.views_since(database, days=30)
        finally:
            database.close()
        context["popular_posts"] = self.site.popular(views, settings.get("POPULAR_POSTS_COUNT", 5))

    # --- pages ------------------------------------------------------------

    def pages_showing(self, post, keys):
        """The pages of each listing with ``post`` on them (its place in every
        list is as before, so no other page changed)."""
        pages = {}
        for key in keys:
            found = listing(self.site, key)
            paginators = found.paginators(self.settings)
            numbers = {1}
            if paginators:
                numbers = {
                    paginator.object_list.index(post) // paginator.per_page + 1
                    for paginator in paginators.values()
                }
            for number in numbers:
                pages.update(found.render(self.settings, number, paginators))
        return pages

    def pages_changed(self, post, keys, before):
        """The pages of these listings that differ from ``before`` or show
        ``post``, and those no longer there."""
        pages, removed = {}, []
        for key in keys:
            found = listing(self.site, key)
            now = found.pages(self.settings) if found is not None else {}
            paginators = found.paginators(self.settings) if found is not None else {}
            for save_as, (_count, number, posts) in now.items():
                if before[key].get(save_as) != now[save_as] or any(
                    post.slug in slugs for slugs in posts
                ):
                    pages.update(found.render(self.settings, number, paginators))
            removed += [save_as for save_as in before[key] if save_as not in now]
        return pages, removed

    def post_page(self, post):
        generator = self.generator
        if not post.save_as:
            return {}
        if post.status == "draft":  # ArticlesGenerator.generate_drafts
            arguments = {
                "article": post,
                "category": post.category,
                "blog": True,
                "all_articles": generator.articles,
            }
        else:  # generate_articles
            pelican_signals.article_generator_write_article.send(generator, content=post)
            arguments = {"article": post, "category": getattr(post, "category", None), "blog": True}
        template = generator.get_template(post.template)
        return {
            post.save_as: render_page(
                self.settings, template, self.context, post.save_as, arguments
            )
        }

    def direct_pages(self):
        """The direct templates that are not listings (archives, sitemap, ...)."""
        generator, settings = self.generator, self.settings
        pages = {}
        for name in settings["DIRECT_TEMPLATES"]:
            save_as = direct_save_as(settings, name)
            if not save_as or name in settings["PAGINATED_TEMPLATES"]:
                continue
            arguments = {
                "articles": generator.articles,
                "dates": generator.dates,
                "blog": True,
                "page_name": os.path.splitext(save_as)[0],
            }
            pages[save_as] = render_page(
                settings, generator.get_template(name), self.context, save_as, arguments
            )
        return pages

    def feeds(self, post, in_place):
        """The feeds ``generate_feeds`` writes that may carry ``post``: {path: text}."""
        generator, settings = self.generator, self.settings
        writer = FeedTexts(self.publisher.output_dir, settings)
        limit = settings["FEED_MAX_ITEMS"]
        old = self.old

        def feed(setting, elements, feed_type="atom", title=None, slug=None):
            path = settings.get(setting)
            if not path:
                return
            if in_place and post not in elements[:limit]:
                return  # the same list as before, and the post is not in the feed
            url = settings.get(f"{setting}_URL", str(path))
            if slug is not None:
                path, url = str(path).format(slug=slug), str(url).format(slug=slug)
            writer.write_feed(elements, self.context, path, url, feed_type, feed_title=title)

        feed("FEED_ATOM", generator.articles)
        feed("FEED_RSS", generator.articles, "rss")
        if settings.get("FEED_ALL_ATOM") or settings.get("FEED_ALL_RSS"):
            everything = order_content(list(generator.articles), settings["ARTICLE_ORDER_BY"])
            feed("FEED_ALL_ATOM", everything)
            feed("FEED_ALL_RSS", everything, "rss")
        groups = {}
        for content in (old, post):
            if content is not None and content.status == "published":
                groups[("category", content.category.slug)] = None
                groups.update({("tag", tag.slug): None for tag in getattr(content, "tags", [])})
        for kind, slug in groups:
            found = listing(self.site, (kind, slug))
            if found is None:
                continue  # a tag no post has now: Pelican writes no feed for it either
            group, posts = found.kwargs[kind], found.kwargs["articles"]
            prefix = kind.upper()
            feed(f"{prefix}_FEED_ATOM", posts, title=group.name, slug=slug)
            feed(f"{prefix}_FEED_RSS", posts, "rss", title=group.name, slug=slug)
        if settings.get("TRANSLATION_FEED_ATOM") or settings.get("TRANSLATION_FEED_RSS"):
            # No translations (check_site): the feed of the post's language.
            lang = post.lang
            items = order_content(
                [a for a in generator.articles if a.lang == lang], settings["ARTICLE_ORDER_BY"]
            )
            for setting, feed_type in (
                ("TRANSLATION_FEED_ATOM", "atom"),
                ("TRANSLATION_FEED_RSS", "rss"),
            ):
                path = settings.get(setting)
                if path:
                    url = str(settings.get(f"{setting}_URL", str(path))).format(lang=lang)
                    writer.write_feed(
                        items, self.context, str(path).format(lang=lang), url, feed_type
                    )
        return writer.texts

    # --- writing ------------------------------------------------------------

    def write(self, pages, removed):
        """Write the pages whose bytes changed and delete ``removed``; return both."""
        output = self.publisher.output_dir
        changed = {}
        for name, text in pages.items():
            path = Path(sanitised_join(str(output), name))
            try:
                if path.read_bytes() == text.encode("utf-8"):
                    continue
            except FileNotFoundError:
                pass
            changed[name] = text
        write_atomically(output, changed)
        gone = []
        for name in removed:
            path = Path(sanitised_join(str(output), name))
            if name not in pages and path.is_file():
                path.unlink()
                gone.append(name)
                remove_empty_folders(output, path.parent)
        return [*changed, *gone]


def placement(settings, post):
    """What decides where a post is listed and in which order (and its Popular
    Posts tie-break): while it stays the same, every list keeps its order."""
    order_by = settings["ARTICLE_ORDER_BY"]
    if callable(order_by):
        order = order_by(post)
    else:
        name = str(order_by).removeprefix("reversed-")
        order = (
            os.path.basename(post.source_path) if name == "basename" else getattr(post, name, None)
        )
    return (
        post.status,
        post.slug,
        post.date,
        order,
        str(getattr(post, "category", "")),
        tuple(tag.slug for tag in getattr(post, "tags", [])),
        is_featured(post),
    )


def originals(settings, contents):
    """What ``generate_context``'s ``_process`` returns in a site without
    translations: the contents ordered by their translation id, then by
    ``ARTICLE_ORDER_BY`` (a stable sort: equal dates keep the first order)."""
    translation_id = settings["ARTICLE_TRANSLATION_ID"]
    if translation_id:
        names = {translation_id} if isinstance(translation_id, str) else translation_id
        contents.sort(key=attrgetter(*names))
    return order_content(contents, settings["ARTICLE_ORDER_BY"])


def attach_links(content):
    """The {attach} links of a content object (each moves the file it names)."""
    return {
        match.group("value")
        for match in content._get_intrasite_link_regex().finditer(content._content or "")
        if match.group("what") == "attach"
    }


def rank(post):
    """What Popular Posts ranks a post by, besides readers' comments and views."""
    return None if post is None else (is_featured(post), post.date)


def replace(posts, old, new):
    """Put ``new`` where ``old`` is in ``posts`` (contents compare by identity)."""
    with contextlib.suppress(ValueError):
        posts[posts.index(old)] = new


def remove_empty_folders(output, folder):
    """Remove ``folder`` and its parents while empty, as a full build's sync does."""
    output = Path(output)
    while folder != output and output in folder.parents and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


class FeedTexts(Writer):
    """Pelican's feed writer, keeping each feed's text ({path: text}) instead of
    writing it (``write_feed`` writes through ``_open_w``)."""

    def __init__(self, output_dir, settings):
        super().__init__(str(output_dir), settings=settings)
        self.texts = {}

    def _open_w(self, filename, encoding, override=False):
        return _KeptText(self.texts, os.path.relpath(filename, self.output_path))


class _KeptText(StringIO):
    def __init__(self, texts, name):
        super().__init__()
        self._texts, self._name = texts, name

    def close(self):
        if not self.closed:
            self._texts[self._name] = self.getvalue()
        super().close()
