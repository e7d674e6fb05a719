"""Pelican settings for production (`make publish`): absolute URLs from SITE_URL."""

import importlib.util
import os
from pathlib import Path

from comments_service.static_site import images, releases

# Run the pelicanconf.py beside this file, whatever the working directory, and
# afresh each time: a running service builds several releases, each with its
# own copy (a plain import would reuse the first one it ever loaded).
_spec = importlib.util.spec_from_file_location(
    "pelicanconf_for_publish",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "pelicanconf.py"),
)
_development = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_development)
globals().update({k: v for k, v in vars(_development).items() if k.isupper()})

SITEURL = os.environ.get("SITE_URL", "").rstrip("/")
if not SITEURL.startswith(("https://", "http://")):
    raise SystemExit(
        "SITE_URL must be the production origin, e.g. "
        "SITE_URL=https://careers.example.com make publish"
    )
SITE_ORIGIN = SITEURL
FEED_DOMAIN = SITEURL
RELATIVE_URLS = False
DELETE_OUTPUT_DIRECTORY = True
# No draft of any kind is written in production (posts, pages, translations).
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""
DRAFT_PAGE_LANG_SAVE_AS = ""

# Images (comments_service/static_site/images.py): a release writes its own
# image cache (under CACHE_PATH, beside this file) and no other. On a miss it
# reads the live release's, so a new release encodes only the new images.
_sources = Path(__file__).resolve().parent
_root = _sources.parent.parent.parent  # SITE_ROOT, when this file is a release's copy
if _sources.parent.parent == releases.releases_dir(_root) and releases.live_release(_root):
    _live_sources = releases.settings_of(releases.live_release(_root)).parent
    IMAGES = {
        "SEED_CACHE_PATHS": [
            str(images.cache_dir({"CACHE_PATH": str(_live_sources / _development.CACHE_PATH)}))
        ]
    }
