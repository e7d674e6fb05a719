"""The post registry written by the Pelican plugin at every build.

The service accepts comments only for posts listed here and takes titles and
URLs from here, never from the request. The file also carries the few site
settings the service's own pages need to look like the rest of the site.

Each post says whether its page was built with the comment form
(``comments_open``) and when its comments close (``comments_close_at``, UTC,
from ``COMMENTS_CLOSE_AFTER_DAYS``; None: never). A page built before that
time still shows the form afterwards, so the service decides with the time
(``accepts_comments``), and the daily maintenance re-publishes the posts that
closed since their pages were built (``closed_since_built``).
"""

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

REGISTRY_FILE = "post-registry.json"
CLOSES_AT = "comments_close_at"

_cache = {}
_cache_lock = threading.Lock()


def load(site_dir):
    """Return the registry of the site built in ``site_dir`` (re-read when the file changes)."""
    path = Path(site_dir) / REGISTRY_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {"posts": [], "site": {}, "by_slug": {}}
    with _cache_lock:
        cached = _cache.get(path)
        # The inode too: after a release switch the same path is another file.
        version = (stat.st_ino, stat.st_mtime_ns)
        if cached and cached[0] == version:
            return cached[1]
        registry = json.loads(path.read_text(encoding="utf-8"))
        registry["by_slug"] = {post["slug"]: post for post in registry["posts"]}
        _cache[path] = (version, registry)
        return registry


def current():
    """The registry of the app's site (inside a request or app context)."""
    from flask import current_app  # here: the Pelican plugin imports this module too

    return load(current_app.config["SITE_DIR"])


def find_post(slug):
    """The registry entry of a published post, or None."""
    return current()["by_slug"].get(slug)


def _closed_by_time(post, now):
    closes_at = post.get(CLOSES_AT)
    return closes_at is not None and (now or datetime.now(UTC)) >= datetime.fromisoformat(closes_at)


def accepts_comments(post, now=None):
    """Whether ``post`` (a registry entry) takes comments now."""
    return bool(post["comments_open"]) and not _closed_by_time(post, now)


def closed_since_built(posts, now=None):
    """The posts whose pages show the comment form though their comments have closed."""
    return [post for post in posts if post["comments_open"] and _closed_by_time(post, now)]


def posts_by_slug():
    return current()["by_slug"]


def site_context():
    """Template variables that make the service's pages match the static site."""
    # THEME_ASSETS: empty until the first build writes the registry (links then render empty).
    return {"SITEURL": "", "THEME_ASSETS": {}, **current().get("site", {})}
