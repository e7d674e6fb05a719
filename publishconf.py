"""Pelican settings for production (`make publish`): absolute URLs from SITE_URL."""

import os
import sys

# Import pelicanconf from beside this file, whatever the working directory.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pelicanconf import *  # noqa: E402, F403

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
DRAFT_SAVE_AS = ""
