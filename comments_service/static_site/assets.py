"""Pelican plugin: fingerprinted copies of the theme's static files.

Every build writes, beside each file Pelican copies from the theme's static
folders, a copy named after a hash of its bytes::

    theme/css/site.css  ->  theme/css/site.1a2b3c4d5e.css

The named copy of a stylesheet or script is minified (``served_bytes``). The
name changes exactly when the bytes do, so a web server can let browsers
and CDNs keep these files for a year (``Cache-Control: public,
max-age=31536000, immutable``): a page that links a new version links a new
name. The plain copies stay, for pages cached before a change of theme.

Templates link the fingerprinted names through ``THEME_ASSETS``, a dict from a
file's path under the theme's static folder to its URL path under the site
root (no leading slash, like Pelican's own ``url`` attributes)::

    <link rel="stylesheet" href="{{ SITEURL }}/{{ THEME_ASSETS['css/site.css'] }}">

The map is derived from the theme's bytes alone, so a full build and the warm
publisher's re-render of one page (same context) write the same page. The
post registry carries the map to the comment service, whose pages extend the
same layout. No settings; it follows Pelican's ``THEME``,
``THEME_STATIC_PATHS``, ``THEME_STATIC_DIR`` and ``IGNORE_FILES``. This module
runs inside the build: it never imports Flask.
"""

import hashlib
import logging
import os
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

import rcssmin
import rjsmin
from pelican import signals

logger = logging.getLogger(__name__)

# Hex digits of SHA-256 in a fingerprinted name (40 bits: a stale name after a
# change is a one-in-a-trillion event). The web server's pattern for
# fingerprinted files, `\.[0-9a-f]{10}\.[A-Za-z0-9]+$`, depends on it.
HASH_LENGTH = 10


# The served copies of the theme's stylesheets and scripts are minified: their
# comments and indentation are for whoever edits the theme, not for readers'
# phones (about 4 KB of every post page). The plain copies stay as written.
MINIFIERS = {".css": rcssmin.cssmin, ".js": rjsmin.jsmin}


def served_bytes(source):
    """The bytes the site serves of the theme file ``source`` (a ``Path``)."""
    data = source.read_bytes()
    minify = MINIFIERS.get(source.suffix)
    return minify(data.decode()).encode() if minify else data


def fingerprinted_name(name, data):
    """``site.css`` + its bytes -> ``site.<hash>.css`` (the hash before the last suffix)."""
    digest = hashlib.sha256(data).hexdigest()[:HASH_LENGTH]
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{digest}.{suffix}" if dot and stem else f"{name}.{digest}"


def theme_static_files(theme, static_paths=("static",), ignore_files=()):
    """Each file Pelican copies from the theme: {path under the static dir: source file}.

    Mirrors ``StaticGenerator.generate_output`` (Pelican 4.12): a folder in
    ``THEME_STATIC_PATHS`` is merged into the static dir, a file lands at its
    base name, and any file or folder whose name matches ``IGNORE_FILES`` is
    skipped.
    """

    def ignored(name):
        return any(fnmatch(name, pattern) for pattern in ignore_files)

    files = {}
    for static_path in static_paths:
        source = Path(theme, static_path)
        if ignored(source.name):
            continue
        if source.is_file():
            files[source.name] = source
            continue
        for folder, subfolders, names in os.walk(source, followlinks=True):
            subfolders[:] = sorted(s for s in subfolders if not ignored(s))
            for name in sorted(names):
                path = Path(folder, name)
                if not ignored(name) and path.is_file():
                    files[path.relative_to(source).as_posix()] = path
    return files


def fingerprinted_url_path(static_dir, name, data):
    """``theme``, ``css/site.css`` and its bytes -> ``theme/css/site.<hash>.css``."""
    relative = PurePosixPath(name)
    hashed = relative.with_name(fingerprinted_name(relative.name, data))
    return str(PurePosixPath(static_dir, hashed))


def theme_assets(theme, static_paths=("static",), static_dir="theme", ignore_files=()):
    """The ``THEME_ASSETS`` map of a theme: {'css/site.css': 'theme/css/site.<hash>.css'}."""
    return {
        name: fingerprinted_url_path(static_dir, name, served_bytes(source))
        for name, source in theme_static_files(theme, static_paths, ignore_files).items()
    }


def _settings_args(settings):
    return (
        settings["THEME"],
        settings["THEME_STATIC_PATHS"],
        settings["THEME_STATIC_DIR"],
        settings["IGNORE_FILES"],
    )


def add_theme_assets(pelican):
    """Put ``THEME_ASSETS`` in the settings, which Pelican copies into every context."""
    pelican.settings["THEME_ASSETS"] = theme_assets(*_settings_args(pelican.settings))


def write_fingerprinted_copies(pelican):
    """Write each fingerprinted copy, from the bytes its name was computed from."""
    settings = pelican.settings
    theme, static_paths, static_dir, ignore_files = _settings_args(settings)
    linked = settings.get("THEME_ASSETS", {})
    for name, source in theme_static_files(theme, static_paths, ignore_files).items():
        data = served_bytes(source)
        url_path = fingerprinted_url_path(static_dir, name, data)
        if linked.get(name) != url_path:
            # The file changed during the build: its pages link other bytes.
            # Logged as an error, so that the build fails and the next one is
            # consistent, rather than a year of caching the wrong file.
            logger.error("%s changed during the build; build again", source)
        target = Path(settings["OUTPUT_PATH"], url_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def register():
    # Before any generator exists: Pelican copies the settings into the
    # context every template renders with (the warm publisher's too), and
    # the post-registry writer reads the map from the settings.
    signals.initialized.connect(add_theme_assets)
    # After every generator wrote its output: a build that empties the output
    # folder first (DELETE_OUTPUT_DIRECTORY) does so after `initialized`.
    signals.finalized.connect(write_fingerprinted_copies)
