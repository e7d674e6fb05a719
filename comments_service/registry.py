"""The post registry written by the Pelican plugin at every build.

The service accepts comments only for posts listed here and takes titles and
URLs from here, never from the request. The file also carries the few site
settings the service's own pages need to look like the rest of the site.
"""

import json
import threading
from pathlib import Path

REGISTRY_FILE = "post-registry.json"

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


def posts_by_slug():
    return current()["by_slug"]


def site_context():
    """Template variables that make the service's pages match the static site."""
    # THEME_ASSETS: empty until the first build writes the registry (links then render empty).
    return {"SITEURL": "", "THEME_ASSETS": {}, **current().get("site", {})}
