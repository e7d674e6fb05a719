"""Pelican plugin: responsive images made at build time, and a share image for every post.

Readers on phones should not download a 2400-pixel photo for a 160-pixel
thumbnail. For every raster image the site shows (a post's ``Cover`` and each
``![alt]({static}/images/x.jpg)`` in a post or page) the build writes smaller
copies, never wider than the original, in AVIF (where Pillow has it) and
WebP, plus resized copies in the original's own format, and the pages offer
them as a ``<picture>``::

    <picture>
      <source type="image/avif" srcset="/images/x.320w.1a2b3c4d5e.avif 320w, ..." sizes="...">
      <source type="image/webp" srcset="..." sizes="...">
      <img src="/images/x.jpg" srcset="/images/x.320w.5e4d3c2b1a.jpg 320w, ..." sizes="..."
           width="2400" height="1000" alt="..." loading="lazy" decoding="async">
    </picture>

``width`` and ``height`` are the image's own (no layout shift). An image no
wider than the smallest width, an animated one, or one Pillow cannot read is
left as it is (with its size added where known). SVG stays SVG.

What it puts on the content objects, read by the templates (and so by the warm
publisher's re-render, which reuses these objects):

* ``cover_picture``: a ``Picture`` of the ``Cover`` (its ``html()`` writes the
  markup: one definition for covers, thumbnails and images in posts);
* ``og_image``: an ``OgImage``, a raster share image of at most 1200x630 for
  every post (``og:image``): the raster cover cropped to 1.91:1, the SVG cover
  rasterised with resvg on its own background colour, or, for a post without a
  cover, one card for the whole site with its name (one per site, not one per
  post: a build of 10,000 posts must not draw 10,000 cards);
* ``_content`` of posts and pages: each local raster ``<img>`` becomes a ``<picture>``.

The files are made by ``imaging.py``, named after a hash of the recipe and
the source's bytes (``x.640w.<hash>.webp``, the fingerprint pattern the web
server caches for a year), so they change name exactly when they change. Encoding is the slow
part, so every result is kept in a cache folder outside the output, under the
same hash, written atomically (a killed or concurrent build never leaves a
partial file under a real name): a rebuild encodes nothing it has encoded
before. The cache belongs to one settings file: Pelican's ``CACHE_PATH``
(relative to the settings file) plus ``images/``. A production release
builds from its own copy of the settings, so each release writes its own
cache and no other; ``publishconf.py`` names the live release's cache as a
seed, read on a miss, so that a new release encodes only the new images
(entries are complete files under content hashes: nothing half-written or
stale can be read from another build's cache).

Settings, in one dict (all optional)::

    IMAGES = {
        "WIDTHS": (320, 640, 960, 1280, 1920),   # srcset widths of covers and images in posts
        "THUMBNAIL_WIDTHS": (160, 320, 480),     # also made for covers: the cards' thumbnails
        "CONTENT_SIZES": "(min-width: 46rem) 44rem, calc(100vw - 2rem)",  # an image in a post
        "CACHE_PATH": None,                      # default: <CACHE_PATH>/images
        "SEED_CACHE_PATHS": (),                  # other caches, read on a miss, never written
    }

Pelican internals it relies on (checked against Pelican 4.12): every content
object read is in ``context["generated_content"]`` when
``all_generators_finalized`` is sent (``None`` for files that failed); a
content object's HTML is ``_content``, whose ``{static}`` links Pelican
resolves when a page is rendered (``get_content`` is memoized from the first
render on, so the rewrite happens before any page is rendered); ``save_as``
is empty for what is not written (drafts in production).

This module runs inside the build: it never imports Flask.
"""

import logging
import os
import re
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from markupsafe import Markup
from pelican import signals
from pelican.contents import Article

from comments_service.static_site.imaging import (
    EXTENSIONS,
    MIME_TYPES,
    Cache,
    derivative,
    modern_formats,
    read_source,
    write_derivatives,
)
from comments_service.static_site.signals import content_reread

logger = logging.getLogger(__name__)

DEFAULTS = {
    "WIDTHS": (320, 640, 960, 1280, 1920),
    "THUMBNAIL_WIDTHS": (160, 320, 480),
    "CONTENT_SIZES": "(min-width: 46rem) 44rem, calc(100vw - 2rem)",
    "CACHE_PATH": None,
    "SEED_CACHE_PATHS": (),
}
# The size Facebook, LinkedIn, Mastodon and X show large (1.91:1).
OG_WIDTH, OG_HEIGHT = 1200, 630
IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
STATIC_LINK = re.compile(r"^\{(?:static|attach)\}(?P<path>[^?#]+)")


def image_settings(settings):
    return {**DEFAULTS, **settings.get("IMAGES", {})}


def cache_dir(settings):
    configured = image_settings(settings)["CACHE_PATH"]
    return Path(configured or os.path.join(settings["CACHE_PATH"], "images"))


def site_cache(settings):
    return Cache(cache_dir(settings), image_settings(settings)["SEED_CACHE_PATHS"])


# --- what the templates read --------------------------------------------------


@dataclass(frozen=True)
class Picture:
    """An image as the pages offer it: the original, its size, and smaller copies.

    ``candidates`` holds, per MIME type (modern formats first, the original's
    own format last), ``(url path, width)`` pairs, narrowest first; empty for
    an SVG or an image kept as it is."""

    src: str
    width: int
    height: int
    candidates: tuple = ()

    def html(
        self,
        siteurl,
        alt="",
        sizes="100vw",
        css_class=None,
        max_width=None,
        lazy=True,
        priority=False,
        src=None,
        attributes=(),
    ):
        """The ``<picture>`` (or plain ``<img>``) markup.

        ``max_width`` keeps only the candidates up to that width (a
        thumbnail's srcset); ``lazy`` marks an image below the fold;
        ``priority`` the page's main image (fetched first, never lazy).
        ``src`` overrides the ``<img>``'s ``src`` as written (a post's
        ``{static}`` link, which Pelican resolves); ``attributes`` are more
        ``(name, value)`` pairs for the ``<img>`` (a post's ``title``)."""

        def url(path):
            return f"{siteurl}/{path}"

        def srcset(pairs):
            return ", ".join(f"{url(path)} {width}w" for path, width in pairs)

        offered = [
            (mime, [(path, width) for path, width in pairs if not max_width or width <= max_width])
            for mime, pairs in self.candidates
        ]
        offered = [(mime, pairs) for mime, pairs in offered if pairs]
        img = {"src": src or url(self.src)}
        if offered and max_width and max_width < self.width:
            # A thumbnail: even a browser without srcset gets a small file.
            img["src"] = url(offered[-1][1][-1][0])
        if offered:
            img["srcset"] = srcset(offered[-1][1])
            img["sizes"] = sizes
        img.update(width=self.width, height=self.height, alt=alt)
        if css_class:
            img["class"] = css_class
        if priority:
            img["fetchpriority"] = "high"
        elif lazy:
            img["loading"] = "lazy"
            img["decoding"] = "async"
        img.update(attributes)
        tag = "<img " + " ".join(f'{k}="{escape(str(v))}"' for k, v in img.items()) + ">"
        if len(offered) < 2:
            return Markup(tag)
        sources = "".join(
            f'<source type="{mime}" srcset="{escape(srcset(pairs))}" sizes="{escape(sizes)}">'
            for mime, pairs in offered[:-1]
        )
        return Markup(f"<picture>{sources}{tag}</picture>")


@dataclass(frozen=True)
class OgImage:
    """The raster image a post is shared with (``og:image``)."""

    url: str
    width: int
    height: int
    mime: str
    alt: str


def plan_picture(source, widths):
    """The ``Picture`` of a source image and the derivatives it needs."""
    if source.format == "svg" or source.animated:
        return Picture(source.url_path, source.width, source.height), []
    chosen = sorted({w for w in widths if w < source.width})
    if not chosen:  # already small: kept as it is
        return Picture(source.url_path, source.width, source.height), []
    if source.width <= max(widths):
        chosen.append(source.width)  # the full size too, in the modern formats
    stem = str(PurePosixPath(source.url_path).with_suffix(""))
    made, candidates = [], []
    for fmt in (*modern_formats(), source.format):
        pairs = []
        for width in chosen:
            if fmt == source.format and width == source.width:
                pairs.append((source.url_path, width))  # the original itself
                continue
            height = max(1, round(source.height * width / source.width))
            item = derivative(
                ("resize", fmt),
                source.path,
                source.digest,
                f"{stem}.{width}w",
                EXTENSIONS[fmt],
                width,
                height,
            )
            made.append(item)
            pairs.append((item.url, width))
        candidates.append((MIME_TYPES[fmt], tuple(pairs)))
    return Picture(source.url_path, source.width, source.height, tuple(candidates)), made


def plan_og_image(article, source, settings):
    """The share image of a post, and the derivative that makes it."""
    slug = PurePosixPath("images/og") / article.slug
    if source is None:
        name, subtitle = settings.get("SITENAME", ""), settings.get("SITESUBTITLE", "")
        item = derivative(
            ("og-card", name, subtitle), None, None, "images/og/site", "png", OG_WIDTH, OG_HEIGHT
        )
        alt = f"{name}: {subtitle}" if subtitle else name
        return OgImage(item.url, OG_WIDTH, OG_HEIGHT, "image/png", alt), item
    alt = str(getattr(article, "cover_alt", "") or article.title)
    if source.format == "svg":
        item = derivative(
            ("og-svg",), source.path, source.digest, str(slug), "png", OG_WIDTH, OG_HEIGHT
        )
        return OgImage(item.url, OG_WIDTH, OG_HEIGHT, "image/png", alt), item
    # Cropped to 1.91:1 and never enlarged: a small cover gives a small card.
    width = min(OG_WIDTH, source.width, round(source.height * OG_WIDTH / OG_HEIGHT))
    height = round(width * OG_HEIGHT / OG_WIDTH)
    item = derivative(("og-raster",), source.path, source.digest, str(slug), "jpg", width, height)
    return OgImage(item.url, width, height, "image/jpeg", alt), item


# --- the content objects --------------------------------------------------------


class _ImgAttributes(HTMLParser):
    def __init__(self, tag):
        super().__init__(convert_charrefs=True)
        self.attrs = None
        self.feed(tag)
        self.close()

    def handle_starttag(self, tag, attrs):
        if self.attrs is None:
            self.attrs = dict(attrs)

    handle_startendtag = handle_starttag


class Planner:
    """Plans the pictures of one build; reads each image file once."""

    def __init__(self, settings):
        self.settings = settings
        self.options = image_settings(settings)
        self.content_root = Path(settings["PATH"])
        self.sources = {}
        self.derivatives = {}

    def source(self, relative):
        """The image at ``relative`` (to the content folder), or None."""
        relative = os.path.normpath(relative).replace(os.sep, "/")
        if relative.startswith("../"):
            return None
        if relative not in self.sources:
            self.sources[relative] = read_source(str(self.content_root / relative), relative)
        return self.sources[relative]

    def need(self, items):
        for item in items:
            self.derivatives.setdefault(item.url, item)

    def picture(self, source, widths):
        picture, items = plan_picture(source, widths)
        self.need(items)
        return picture

    def cover(self, content):
        cover = getattr(content, "cover", None)
        if not cover:
            return None
        source = self.source(str(cover).lstrip("/"))
        if source is None:
            logger.warning("%s: its Cover %s is not an image the build can read", content, cover)
        return source

    def plan(self, content):
        """Give ``content`` its pictures, share image and rewritten images."""
        cover = self.cover(content)
        widths = (*self.options["WIDTHS"], *self.options["THUMBNAIL_WIDTHS"])
        content.cover_picture = self.picture(cover, widths) if cover else None
        if isinstance(content, Article):
            content.og_image, item = plan_og_image(content, cover, self.settings)
            self.need([item])
        if content._content and "<img" in content._content:
            content._content = IMG_TAG.sub(
                lambda m: self.inline(content, m.group()), content._content
            )

    def inline(self, content, tag):
        """A ``<picture>`` for one ``<img>`` of a post, or the tag as it was."""
        attrs = _ImgAttributes(tag).attrs or {}
        match = STATIC_LINK.match(attrs.get("src") or "")
        if not match or "srcset" in attrs:
            return tag
        path = unquote(match.group("path"))
        relative = path.lstrip("/") if path.startswith("/") else f"{content.relative_dir}/{path}"
        source = self.source(relative)
        if source is None:
            return tag
        picture = self.picture(source, self.options["WIDTHS"])
        others = {k: v for k, v in attrs.items() if k not in ("src", "alt", "width", "height")}
        return str(
            picture.html(
                self.settings["SITEURL"],
                alt=attrs.get("alt") or "",
                sizes=self.options["CONTENT_SIZES"],
                src=attrs["src"],
                attributes=tuple((k, v or "") for k, v in others.items()),
            )
        )


def add_pictures(generators):
    """Plan every post's and page's pictures, then write the files they need."""
    context = generators[0].context
    settings = generators[0].settings
    planner = Planner(settings)
    written = [c for c in context["generated_content"].values() if c is not None]
    for content in sorted(written, key=lambda c: c.source_path):
        if getattr(content, "save_as", ""):  # drafts in production are not written
            planner.plan(content)
    write_derivatives(
        sorted(planner.derivatives.values(), key=lambda d: d.url),
        settings["OUTPUT_PATH"],
        site_cache(settings),
    )


def add_pictures_reread(generator, content, output_dir):
    """``add_pictures`` for the one post the live preview read again (``signals``)."""
    if not getattr(content, "save_as", ""):
        return
    planner = Planner(generator.settings)
    planner.plan(content)
    write_derivatives(
        sorted(planner.derivatives.values(), key=lambda d: d.url),
        str(output_dir),
        site_cache(generator.settings),
    )


def register():
    # Every post and page has been read, and nothing rendered yet: each one's
    # pictures are planned once, from its Markdown's HTML as read (also when
    # it comes from Pelican's content cache), before a template or the
    # memoized ``content`` sees it; the warm publisher renders the same objects.
    signals.all_generators_finalized.connect(add_pictures)
    # The same for one post read again by the live preview (`make serve`).
    content_reread.connect(add_pictures_reread)
