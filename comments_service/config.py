"""Development or production, and everything that follows from it, decided once.

``load()`` reads the environment; ``create_app``, the console commands,
`make serve`, `make html`, `make publish`, `make serve-prod` (gunicorn's
start-up build) and every moderation decision take from it the Pelican
settings file, the folder the site is served from, the database, the site's
origin and the secret. No other module of the service reads these
variables (``publishconf.py`` reads ``SITE_URL`` too, as Pelican settings do).

``BLOG_ENV`` names the mode: ``production`` (the default, so that a server
whose environment forgot it is never silently a development one) or
``development`` (`make serve`, `make html` and `make newpost` set it).

Development builds ``pelicanconf.py`` into ``output/`` (drafts previewable,
links on ``http://127.0.0.1:$PORT``) and keeps a generated secret in ``var/``.
Production builds ``publishconf.py`` only, into releases under ``SITE_ROOT``
(``comments_service.static_site.releases``), needs ``SITE_URL`` and, to serve, ``SECRET_KEY``.
The two never share an output folder.

This module is imported by build-time code too: it must not import Flask.
"""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from comments_service.static_site.releases import (
    DEVELOPMENT_SETTINGS,
    PRODUCTION_SETTINGS,
    live_site_dir,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODES = ("production", "development")
MISSING_SITE_URL = (
    "SITE_URL is not set: production needs the site's origin, e.g. "
    "SITE_URL=https://careers.example.com (BLOG_ENV=development for a local preview)."
)
NEW_SECRET_HINT = "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line for a person."""


@dataclass(frozen=True)
class Deployment:
    development: bool
    settings_file: Path  # the project's Pelican settings for this mode
    site_dir: Path  # the folder the site is served from
    site_root: Path | None  # production: where the releases live
    db_path: Path
    site_url: str | None  # production origin, from SITE_URL
    secret_key: str | None
    port: int

    @property
    def mode(self):
        return "development" if self.development else "production"

    @property
    def site_origin(self):
        """Where readers reach the site: links in emails and pages are built on it,
        never on a request's ``Host`` header."""
        if self.development:
            return f"http://127.0.0.1:{self.port}"
        return self.site_url

    def require(self, *names):
        """Raise ``ConfigError`` naming what production still needs (no-op in development)."""
        if self.development:
            return
        if "SITE_URL" in names and not self.site_url:
            raise ConfigError(MISSING_SITE_URL)
        if "SITE_URL" in names and not self.site_url.startswith(("https://", "http://")):
            raise ConfigError(f"SITE_URL must start with https:// or http://: {self.site_url!r}.")
        if "SECRET_KEY" in names and not self.secret_key:
            raise ConfigError(f"SECRET_KEY is not set: production needs one: {NEW_SECRET_HINT}")

    def as_mapping(self):
        """The settings as the Flask app's config keys (also what ``publish`` reads)."""
        return {
            "DEVELOPMENT": self.development,
            "PELICAN_SETTINGS": str(self.settings_file),
            "SITE_DIR": str(self.site_dir),
            "SITE_ROOT": str(self.site_root) if self.site_root else None,
            "COMMENTS_DB": str(self.db_path),
            "SITE_URL": self.site_origin,
            "SECRET_KEY": self.secret_key,
        }


def development_secret(db_path):
    """Development's secret, kept in ``secret_key`` beside the database (created once).

    Outside development there is no such fallback: a guessable or per-process
    key would let anyone forge sessions, or end them at every restart."""
    key_file = Path(db_path).parent / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def load(environ=None):
    """The deployment described by ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    mode = env.get("BLOG_ENV", "production").strip().lower() or "production"
    if mode not in MODES:
        raise ConfigError(f"BLOG_ENV must be 'production' or 'development', not {mode!r}.")
    development = mode == "development"
    try:
        port = int(env.get("PORT", "8000"))
    except ValueError:
        raise ConfigError(f"PORT must be a number, not {env['PORT']!r}.") from None
    db_path = Path(env.get("COMMENTS_DB") or PROJECT_ROOT / "var" / "comments.db")
    if development:
        site_root = None
        site_dir = PROJECT_ROOT / "output"
        settings_file = PROJECT_ROOT / DEVELOPMENT_SETTINGS
    else:
        site_root = Path(env.get("SITE_ROOT") or PROJECT_ROOT / "var" / "site").absolute()
        site_dir = live_site_dir(site_root)
        settings_file = PROJECT_ROOT / PRODUCTION_SETTINGS
    site_url = (env.get("SITE_URL") or "").strip().rstrip("/") or None
    return Deployment(
        development=development,
        settings_file=settings_file,
        site_dir=site_dir,
        site_root=site_root,
        db_path=db_path.absolute(),
        site_url=None if development else site_url,
        secret_key=env.get("SECRET_KEY") or None,
        port=port,
    )
