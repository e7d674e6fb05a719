"""Pelican settings for development (`make serve`, `make html`).

Links are root-relative (SITEURL is empty) so the site works on any host and
port; absolute URLs (canonical, Open Graph, feeds, sitemap) use SITE_ORIGIN.
`publishconf.py` overrides both for production.
"""

import os

AUTHOR = "Maya Okafor"
SITENAME = "Career Notes"
SITESUBTITLE = "Practical advice for the next step in your career"
AUTHOR_SIGNOFF = "Keep going, and tell me how it goes. — Maya"
SITEURL = ""
SITE_ORIGIN = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
FEED_DOMAIN = SITE_ORIGIN

PATH = "content"
ARTICLE_PATHS = ["posts"]
PAGE_PATHS = ["pages"]
STATIC_PATHS = ["images"]
THEME = "theme"
# Pelican's default, named: the image cache is CACHE_PATH/images (relative to
# this file; publishconf.py finds a release's there).
CACHE_PATH = "cache"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
DEFAULT_DATE_FORMAT = "%B %-d, %Y"
DEFAULT_METADATA = {"status": "published"}

# The site's categories, spelled as the pages show them. A post's `Category:`
# must be one of these, capitals included: the build refuses anything else and
# suggests the nearest ("job search" would otherwise rename "Job Search" on
# every page, and "Job Serach" would start a new category). `make newpost`
# lists them. Add a new category here first.
CATEGORIES = ["Growth", "Job Search", "Networking"]

# Our own theme escapes everything by default; trusted HTML (post bodies,
# summaries) is marked |safe where it is rendered.
JINJA_ENVIRONMENT = {
    "trim_blocks": True,
    "lstrip_blocks": True,
    "autoescape": True,
    # A build renders thousands of pages with the same templates: do not stat
    # every template file again at every include (each build starts afresh).
    "auto_reload": False,
}
TEMPLATE_EXTENSIONS = [".html", ".xml", ".txt", ".json"]

# URLs: /2022/12/slug/ for posts, /2022/12/ for that month, /category/x/ ...
# Pages must not live under the service's prefixes (/comments/, /admin/,
# /privacy/, /stats/), hence /privacy-policy/ for the Privacy page.
ARTICLE_URL = "{date:%Y}/{date:%m}/{slug}/"
ARTICLE_SAVE_AS = ARTICLE_URL + "index.html"
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = PAGE_URL + "index.html"
CATEGORY_URL = "category/{slug}/"
CATEGORY_SAVE_AS = CATEGORY_URL + "index.html"
TAG_URL = "tag/{slug}/"
TAG_SAVE_AS = TAG_URL + "index.html"
MONTH_ARCHIVE_URL = "{date:%Y}/{date:%m}/"
MONTH_ARCHIVE_SAVE_AS = MONTH_ARCHIVE_URL + "index.html"
YEAR_ARCHIVE_SAVE_AS = ""
INDEX_URL = ""  # page 1 of the home page is /, not /index.html
ARCHIVES_URL = "archives/"
ARCHIVES_SAVE_AS = "archives/index.html"
# One author: no author pages, no category/tag index pages (the sidebar lists them).
AUTHOR_SAVE_AS = ""
AUTHORS_SAVE_AS = ""
CATEGORIES_SAVE_AS = ""
TAGS_SAVE_AS = ""

DIRECT_TEMPLATES = ["index", "archives", "sitemap", "robots", "404", "gpc"]
SITEMAP_SAVE_AS = "sitemap.xml"
ROBOTS_SAVE_AS = "robots.txt"
# Global Privacy Control support statement (https://privacycg.github.io/gpc-spec/).
GPC_SAVE_AS = ".well-known/gpc.json"
GPC_LAST_UPDATE = "2026-11-27"
# "404" is saved as 404.html, Pelican's default for a direct template.

# Every listing is paginated: pages stay light, and a moderation decision
# re-renders one page of each listing, however many posts the site has.
PAGINATED_TEMPLATES = {"index": None, "category": 20, "tag": 20, "period_archives": 20}
DEFAULT_PAGINATION = 5
PAGINATION_PATTERNS = (
    (1, "{url}", "{save_as}"),
    (2, "{base_name}/page/{number}/", "{base_name}/page/{number}/index.html"),
)

FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
CATEGORY_FEED_ATOM = "feeds/{slug}.atom.xml"
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
RSS_FEED_SUMMARY_ONLY = True
# Atom feeds of the approved comments: the site's newest, and each post's
# (comments_service/static_site/comment_feeds.py). Never under /comments/,
# the service's prefix, which would shadow them.
COMMENTS_FEED_ATOM = "feeds/comments.atom.xml"
POST_COMMENTS_FEED_ATOM = "feeds/comments/{slug}.atom.xml"

# Markdown as Pelican reads it by default (code coloured by Pygments,
# Markdown Extra, metadata), plus curly quotes and dashes and a link on every
# heading (comments_service/static_site/typography.py).
MARKDOWN = {
    "extension_configs": {
        "markdown.extensions.codehilite": {"css_class": "highlight"},
        "markdown.extensions.extra": {},
        "markdown.extensions.meta": {},
        "comments_service.static_site.typography": {},
    },
    "output_format": "html5",
}

# checks: the build fails, naming file and line, on a missing or impossible
# date, a slug used twice, a category not in CATEGORIES, a broken {filename}/
# {static}/{attach} link or a missing cover or image (all listed at once).
# assets: fingerprinted copies of the theme's CSS/JS (cached for a year), linked by the templates.
# images: covers and photos in posts resized into srcsets (AVIF, WebP), and a
# share image for every post; encoded once, then kept in cache/images/.
PLUGINS = [
    "comments_service.static_site.checks",
    "comments_service.static_site.assets",
    "comments_service.static_site.pelican_plugin",
    "comments_service.static_site.images",
]
POPULAR_POSTS_COUNT = 5
# Close comments on posts older than this many days (counted from a post's
# `Date:`); None keeps them open (a post can still say `Comments: closed`).
# The build writes each post's closing time into the post registry: the
# service refuses comments from that moment, and the daily maintenance
# (`flask --app comments_service comments close-old-posts`) re-publishes the
# posts that closed since, so their pages say "Comments are closed".
COMMENTS_CLOSE_AFTER_DAYS = None

# Consent: "opt-out" (default: non-essential scripts run until the reader opts
# out) or "opt-in" (nothing non-essential until the reader accepts). Either
# way a Global Privacy Control signal counts as an opt-out, and without
# JavaScript nothing non-essential ever runs.
CONSENT_MODE = "opt-out"

# Optional third-party analytics, none by default. Rendered inert
# (type="text/plain") and started by theme/static/js/consent.js only when the
# reader allows it. Example:
#   ANALYTICS = {"src": "https://stats.example.com/script.js"}
# The Content-Security-Policy blocks it until its origin is allowed:
# FLASK_CSP_ANALYTICS_ORIGINS="https://stats.example.com" for the service, and
# the same origin in the nginx site's CSP (comments_service/security.py says
# how). An "inline" snippet is inline script, which the policy never runs.
# Add the cookies it sets to SITE_COOKIES, kind "Analytics", so that opting out
# expires them and the Privacy page lists them.
ANALYTICS = None

# Every cookie the site can set, with why: the one list. The Privacy page
# renders it, and opting out expires every cookie not "Strictly necessary".
SITE_COOKIES = [
    {
        "name": "privacy_choice",
        "purpose": "Remembers your cookie choice (opted out, or accepted in opt-in mode).",
        "kind": "Strictly necessary",
        "lifetime": "6 months",
        "who": "Readers who make a choice in the banner",
    },
    {
        "name": "session",
        "purpose": "Keeps the administrator signed in to the moderation pages.",
        "kind": "Strictly necessary",
        "lifetime": "Until the browser closes",
        "who": "Administrators only",
    },
]

# Drafts (`Status: draft`) are previewable at /drafts/<slug>/ while writing;
# they never appear in listings, feeds or the sitemap, and publishconf.py does
# not write them at all.
DRAFT_URL = "drafts/{slug}/"
DRAFT_SAVE_AS = DRAFT_URL + "index.html"
