"""Production releases: every `make publish` is a complete new folder, put live
with one atomic symlink swap, and `make rollback` swaps back.

    SITE_ROOT/releases/<id>/sources/   content/, theme/ and the settings it is built from
    SITE_ROOT/releases/<id>/site/      the built site (nginx's root is live/site)
    SITE_ROOT/releases/<id>/BUILT      written when its build succeeded, just before it went live
    SITE_ROOT/live -> releases/<id>
    SITE_ROOT/.publish-lock            held by whoever writes the live site

A release keeps its own copy of the sources, so the service re-renders a
release (a moderation decision, a Popular Posts refresh, a rollback) from the
posts and theme it was built from, not from whatever is on disk now: rolling
back stays rolled back. Readers never see a half-built release: a release is
complete before ``switch`` points ``live`` at it, and ``rename(2)`` of the
symlink is atomic.
"""

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from comments_service.static_site.build import default_lock_file

# The last few releases are kept for `make rollback`; older ones are deleted.
KEEP_RELEASES = 5
# Which Pelican settings are production's, and which the development preview's.
PRODUCTION_SETTINGS = "publishconf.py"
DEVELOPMENT_SETTINGS = "pelicanconf.py"  # publishconf.py starts from it
SOURCES = ("content", "theme", DEVELOPMENT_SETTINGS, PRODUCTION_SETTINGS)
BUILT_MARKER = "BUILT"
# A release folder without the marker this old is a build that was killed.
ABANDONED_AFTER_SECONDS = 3600


class ReleaseError(Exception):
    """A release operation cannot be done (no previous release, ...)."""


def releases_dir(root):
    return Path(root) / "releases"


def live_link(root):
    return Path(root) / "live"


def live_site_dir(root):
    """The folder readers are served from: it follows the ``live`` symlink."""
    return live_link(root) / "site"


def lock_path(root):
    return Path(root) / ".publish-lock"


def site_of(release):
    return Path(release) / "site"


def settings_of(release):
    return Path(release) / "sources" / PRODUCTION_SETTINGS


def live_release(root):
    """The release ``live`` points at, or None before the first publish."""
    link = live_link(root)
    if not link.is_symlink():
        return None
    return link.resolve()


def all_releases(root):
    """Every release that was built completely, oldest first (ids sort by time).

    One whose build failed or was killed has no ``BUILT`` marker: it is never
    rolled back to, and does not count among the releases kept."""
    folder = releases_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / BUILT_MARKER).is_file())


def mark_built(release):
    (Path(release) / BUILT_MARKER).touch()


def new_release(root, project_dir):
    """Make a new release folder holding a copy of the project's sources.

    It is built under a dot-name and renamed when its sources are complete, so
    ``all_releases`` never lists a half-copied one."""
    folder = releases_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    release = folder / stamp
    staging = folder / f".{stamp}.copying"
    sources = staging / "sources"
    sources.mkdir(parents=True)
    for name in SOURCES:
        source = Path(project_dir) / name
        if source.is_dir():
            shutil.copytree(source, sources / name)
        else:
            shutil.copy2(source, sources / name)
    (staging / "site").mkdir()
    os.rename(staging, release)
    return release


def switch(root, release):
    """Point ``live`` at ``release`` in one atomic rename."""
    link = live_link(root)
    temporary = link.with_name(".live.new")
    temporary.unlink(missing_ok=True)
    # Relative, so the whole SITE_ROOT can be moved or restored elsewhere.
    temporary.symlink_to(Path(release).resolve().relative_to(Path(root).resolve()))
    os.replace(temporary, link)


def previous_release(root):
    """The release before the live one, for `make rollback`."""
    current = live_release(root)
    older = [r for r in all_releases(root) if current is None or r.name < current.name]
    if not older:
        raise ReleaseError("There is no earlier release to roll back to.")
    return older[-1]


def prune(root, keep=KEEP_RELEASES):
    """Delete all but the newest ``keep`` releases, never the live one (call
    it under the site's lock: a rollback may be about to switch to one)."""
    current = live_release(root)
    releases = all_releases(root)
    for release in releases[: max(0, len(releases) - keep)]:
        if release != current:
            shutil.rmtree(release)
    # What a publish killed halfway left: an hour old, so not one running now.
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    for leftover in releases_dir(root).iterdir():
        unfinished = leftover.name.startswith(".") or not (leftover / BUILT_MARKER).exists()
        if leftover.is_dir() and unfinished and leftover.stat().st_mtime < cutoff:
            shutil.rmtree(leftover, ignore_errors=True)


@dataclass(frozen=True)
class PublishTarget:
    """Where a publisher writes: the settings it builds with, the folder it
    writes, the site's lock, and, for a live release, the site root whose
    ``live`` must still point at it (checked under the lock before each write)."""

    settings_file: str
    output_dir: str
    lock_file: str
    live_root: str | None = None

    def still_live(self):
        if self.live_root is None:
            return True
        return live_release(self.live_root) == Path(self.output_dir).resolve().parent


def folder_target(settings_file, output_dir):
    """Publishing straight into a folder (development's output/, tests)."""
    output_dir = Path(output_dir).resolve()
    return PublishTarget(str(settings_file), str(output_dir), str(default_lock_file(output_dir)))


def release_target(root, release, live=True):
    """Publishing into a release; ``live=False`` while it is being prepared to go live."""
    return PublishTarget(
        str(settings_of(release)),
        str(site_of(release).resolve()),
        str(lock_path(root)),
        str(root) if live else None,
    )
