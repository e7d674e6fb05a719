"""Build the static site with Pelican and put it live without ever breaking it.

Pelican writes into a fresh staging folder beside the live one. Only when the
whole build succeeded (no exception, no error logged, no problem found by the
content checks of ``checks``) are the changed files moved into the live
folder, one atomic rename each, and files the build no longer produces
removed. A failed build raises ``BuildError`` and leaves the live site exactly
as it was.

Pelican's warnings and errors are shown on stderr while it builds (its
informational messages are not), and its errors also fail the build.

Callers publish through ``comments_service.publish`` (the front door), which
chooses between this full build and the warm publisher's re-render.
"""

import fcntl
import filecmp
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from pelican import Pelican, signals
from pelican.log import LimitFilter
from pelican.settings import read_settings

from comments_service.static_site.checks import ContentProblems


def default_lock_file(output_dir):
    """The lock of a site published straight into ``output_dir`` (development)."""
    output_dir = Path(output_dir)
    return output_dir.parent / f".{output_dir.name}.publish-lock"


@contextmanager
def publishing_lock(lock_file):
    """One publish at a time per site, across threads and processes (gunicorn
    workers, the CLI, `make publish`): an exclusive flock on ``lock_file``."""
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class BuildError(Exception):
    """The site could not be built; the live site is unchanged.

    ``problems`` lists the content checks' findings (``checks.Problem``), if
    that is why; the message says them all."""

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = tuple(problems)


class SwitchedAway(Exception):
    """The live site was switched to another release meanwhile; nothing was written."""


class _ErrorCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextmanager
def pelican_log():
    """Show what Pelican warns about, and collect its errors: it skips a broken
    post instead of raising. Yields the list of error messages."""
    # Pelican's logger drops a message it has logged once in this process, and
    # a kind of message after five (``LimitFilter``): a long-running process
    # (`make serve`, the service) would show a warning at its first build only.
    LimitFilter._raised_messages.clear()
    LimitFilter._group_count.clear()
    shown = logging.StreamHandler(sys.stderr)
    shown.setLevel(logging.WARNING)
    shown.setFormatter(logging.Formatter("pelican %(levelname)s: %(message)s"))
    collector = _ErrorCollector()
    logger = logging.getLogger("pelican")
    logger.addHandler(shown)
    logger.addHandler(collector)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)
        logger.removeHandler(shown)


# Pelican's signals are process-wide, so one Pelican build runs at a time in
# this process (the file watcher and moderation decisions may both ask; the
# live preview holds it while it reads a post).
pelican_lock = threading.Lock()


@contextmanager
def captured_generators():
    """Keep the generators of the build running now (for the warm publisher)."""
    captured = []

    def keep(generators):
        captured[:] = generators

    signals.all_generators_finalized.connect(keep)
    try:
        yield captured
    finally:
        signals.all_generators_finalized.disconnect(keep)


def sources_stamp_path(output_dir):
    return Path(output_dir).parent / f".{Path(output_dir).name}.sources"


def sources_fingerprint(settings_file, settings):
    """One hash of what a build reads: the settings file and every file of the
    content and theme folders (path, size, modification time)."""
    digest = hashlib.sha256()
    paths = [Path(settings_file)]
    for root in (settings["PATH"], settings["THEME"]):
        paths += sorted(p for p in Path(root).rglob("*") if p.is_file())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def fingerprint_after_edit(fingerprint, path):
    """The fingerprint of the sources after one file of them (``path``) changed:
    the live preview re-renders one post, and hashing every file again would
    cost more than the re-render."""
    stat = Path(path).stat()
    digest = hashlib.sha256(fingerprint.encode())
    digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def read_sources_stamp(output_dir):
    """The fingerprint of the sources the live site was last built from (or None)."""
    try:
        return sources_stamp_path(output_dir).read_text()
    except FileNotFoundError:
        return None


def write_sources_stamp(output_dir, fingerprint):
    stamp = sources_stamp_path(output_dir)
    written = stamp.with_name(stamp.name + ".tmp")
    written.write_text(fingerprint)
    os.replace(written, stamp)


def build_site(
    settings_file, output_dir, overrides=None, after_sync=None, lock_file=None, still_live=None
):
    """Build the site described by ``settings_file`` and publish it into ``output_dir``.

    Returns the build's settings and generators (templates and context, warm).
    ``settings["SOURCES_FINGERPRINT"]`` is the fingerprint of the sources it
    was built from, also written beside the output (``read_sources_stamp``), so
    a warm publisher can tell that someone rebuilt the site from changed posts
    or theme. ``after_sync(generators)`` runs while the publishing lock
    (``lock_file``, by default beside the output) is still held.
    ``still_live()``, checked under the lock, says whether ``output_dir`` is
    still the live site; when it is not, nothing is written (``SwitchedAway``).
    """
    output_dir = Path(output_dir).resolve()
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-build-", dir=output_dir.parent))
    try:
        settings = read_settings(
            str(settings_file), override={**(overrides or {}), "OUTPUT_PATH": str(staging)}
        )
        # Before Pelican reads them: an edit made during the build shows as a change.
        settings["SOURCES_FINGERPRINT"] = sources_fingerprint(settings_file, settings)
        with pelican_lock, pelican_log() as errors, captured_generators() as generators:
            try:
                Pelican(settings).run()
            except ContentProblems as exc:
                raise BuildError(str(exc), exc.problems) from None
            # Any failure inside Pelican, a plugin or a template must leave
            # the live site as it was; the message goes to the caller.
            except Exception as exc:
                raise BuildError(f"{type(exc).__name__}: {exc}") from exc
        if errors:
            raise BuildError("; ".join(errors))
        staging.chmod(0o755)
        with publishing_lock(lock_file or default_lock_file(output_dir)):
            if still_live and not still_live():
                raise SwitchedAway(output_dir)
            sync_tree(staging, output_dir)
            remove_abandoned_staging(output_dir)
            write_sources_stamp(output_dir, settings["SOURCES_FINGERPRINT"])
            if after_sync:
                after_sync(generators)
        return settings, list(generators)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# A staging folder this old belongs to a build that was killed (a build of
# 10,000 posts takes about a minute).
ABANDONED_AFTER_SECONDS = 3600


def remove_abandoned_staging(output_dir):
    """Delete what killed builds left beside the output (never inside it)."""
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    for leftover in Path(output_dir).parent.glob(f".{Path(output_dir).name}-build-*"):
        if leftover.stat().st_mtime < cutoff:
            shutil.rmtree(leftover, ignore_errors=True)


def sync_tree(source, target):
    """Move every new or changed file of ``source`` into ``target`` atomically,
    then delete what ``source`` does not have. Unchanged files are not touched.
    """
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for dirpath, _dirnames, filenames in os.walk(source):
        rel_dir = Path(dirpath).relative_to(source)
        (target / rel_dir).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            rel = rel_dir / name
            wanted.add(rel)
            new, live = source / rel, target / rel
            if live.is_file() and filecmp.cmp(new, live, shallow=False):
                continue
            os.replace(new, live)
    for dirpath, dirnames, filenames in os.walk(target, topdown=False):
        rel_dir = Path(dirpath).relative_to(target)
        for name in filenames:
            if rel_dir / name not in wanted:
                (Path(dirpath) / name).unlink()
        for name in dirnames:
            folder = Path(dirpath) / name
            if not any(folder.iterdir()):
                folder.rmdir()
