"""The one front door for publishing: the admin, the console, `make serve`
(and its live preview of an edited post),
`make html`, `make publish`, `make rollback` and gunicorn's start-up build
all call it.

It owns the choice between the warm publisher's re-render of a few pages
(``comments_service.static_site.warm``) and a full build (``comments_service.static_site.build``),
and, in production, which release is live (``comments_service.static_site.releases``):
a moderation decision is written into the release ``live`` points at when
the site's lock is taken, so one that races `make publish` or `make
rollback` lands in the new live release, never in the one just switched away
from. Neither warm.py nor build.py imports this module.

``config`` is any mapping with the keys of ``config.Deployment.as_mapping``
(the Flask app's config has them).

Run as ``python -m comments_service.publish [--rollback]`` (what `make html`,
`make publish` and `make rollback` do; ``BLOG_ENV`` says which site).
"""

import argparse
import logging
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from comments_service import db
from comments_service.config import MISSING_SITE_URL, ConfigError, load
from comments_service.static_site import preview, releases
from comments_service.static_site.build import BuildError, SwitchedAway
from comments_service.static_site.warm import (
    WarmPublisher,
    all_publishers,
    publisher_for,
    read_published_mark,
)

__all__ = [
    "BuildError",
    "ConfigError",
    "publish_site",
    "publish_decision",
    "publish_changes",
    "publish_release",
    "rollback",
    "main",
]

log = logging.getLogger(__name__)

# `make publish` or `make rollback` can switch the site between a decision
# and its write; the write then goes to the new live release. Twice in a row
# within one decision is already unlikely.
SWITCH_RETRIES = 3


def publish_site(config, changed_posts=None):
    """Re-publish the live site with the comments as they are now in the database.

    With ``changed_posts`` (slugs), only their pages are re-rendered by the warm
    publisher, in milliseconds; without, the whole site is rebuilt. In
    production the first call ever builds the first release.
    """
    for _attempt in range(SWITCH_RETRIES):
        publisher, just_built = live_publisher(config)
        try:
            if just_built:
                written = None  # the first release: built a moment ago, decisions included
            elif changed_posts is None:
                written = publisher.full_build()
            else:
                written = publisher.publish_posts(changed_posts)
        except SwitchedAway:
            continue
        mirror_to_object_store(publisher.output_dir, written)
        return
    raise BuildError("the live release kept changing while publishing; try again")


def publish_decision(config, changed_posts):
    """Re-publish after a decision; return None, or why the site is not updated.

    The decision is saved whatever happens here, and a failed publish is
    retried in the background (``warm.py``): callers tell the person
    "Saved, but the site is not updated: <why>", never a bare error page."""
    if not changed_posts:
        return None
    try:
        publish_site(config, changed_posts)
    # Any failure (a build error, a full disk, a broken template): see above.
    except Exception as exc:  # noqa: BLE001
        log.exception("Publishing a decision failed")
        return str(exc) if isinstance(exc, BuildError) else f"{type(exc).__name__}: {exc}"
    return None


def publish_changes(config, changes, pages_written=None):
    """Re-publish the development site after the author saved files (`make
    serve`'s watcher; ``changes`` are watchfiles' (change, path) pairs).

    A post edited re-renders the pages that show it (``static_site.preview``);
    anything else is a full build. Returns the paths written or removed
    (``pages_written(paths)`` also hears of them as soon as they are on disk),
    or None after a full build. Raises ``BuildError`` like ``publish_site``."""
    if config.get("SITE_ROOT"):
        raise ConfigError("The live preview is for the development site (BLOG_ENV=development).")
    publisher, _ = live_publisher(config)
    try:
        written = preview.publish_edit(publisher, changes, pages_written)
    except preview.NeedsFullBuild as why:
        print(f"Rebuilding the whole site: {why}.", file=sys.stderr)
        written = publisher.full_build()
    mirror_to_object_store(publisher.output_dir, written)
    return written


def mirror_to_object_store(site_dir, written):
    """With ``S3_BUCKET`` set, send the bucket what changed: a decision's pages,
    or after a full build whatever differs (``comments_service.object_store``)."""
    # Imported here: boto3 is loaded only by sites that use a bucket.
    from comments_service import object_store

    if not object_store.configured():
        return
    try:
        if written is None:
            object_store.upload_site(site_dir)
        else:
            object_store.push_pages(site_dir, written)
    except object_store.ObjectStoreError as exc:
        raise BuildError(f"the site is updated, but not the bucket: {exc}") from exc


@dataclass(frozen=True)
class SiteState:
    """How far the live site is behind the database, for the admin pages."""

    posts_behind: int  # posts with decisions not yet on their pages
    last_error: str | None  # why the last publish failed, until one succeeds
    failing_since: float | None  # when publishes started failing (epoch seconds)

    @property
    def up_to_date(self):
        return self.posts_behind == 0 and self.last_error is None

    @property
    def failing_since_text(self):
        if self.failing_since is None:
            return None
        return datetime.fromtimestamp(self.failing_since, UTC).strftime("%Y-%m-%d %H:%M UTC")


def site_state(config):
    """The live site's state, read without publishing anything."""
    root = config.get("SITE_ROOT")
    release = releases.live_release(root) if root else None
    output = releases.site_of(release) if release else Path(config["SITE_DIR"])
    mark = read_published_mark(output)
    database = db.connect(config["COMMENTS_DB"], migrate=False)
    try:
        behind = db.posts_decided_since(database, mark) if mark is not None else set()
    finally:
        database.close()
    this_site = output.resolve()
    failures = sorted(
        p.last_error for p in all_publishers() if p.last_error and p.output_dir == this_site
    )
    return SiteState(
        posts_behind=len(behind),
        last_error=failures[-1][1] if failures else None,
        failing_since=failures[0][0] if failures else None,
    )


def flush_pending(config):
    """Run a scheduled Popular Posts build now (a console command is about to exit)."""
    live_publisher(config)[0].flush()


def live_publisher(config):
    """The process's warm publisher for the site as it is live now, and whether
    it has just built the site's first release."""
    root = config.get("SITE_ROOT")
    if root and not config.get("SITE_URL"):
        raise ConfigError(MISSING_SITE_URL)  # production pages link to the site's origin
    first_build = None
    if not root:
        target = releases.folder_target(config["PELICAN_SETTINGS"], config["SITE_DIR"])
        publisher = publisher_for(target, config["COMMENTS_DB"])
    else:
        release = releases.live_release(root)
        if release is None:  # a new server: its first release, from the project's sources
            release, first_build = _new_release(config)
        # Keyed on the ``live`` link itself too: after a publish and a rollback
        # to this same release, the warm copy from before is out of date.
        generation = releases.live_link(root).lstat().st_ino
        target = releases.release_target(root, release)
        publisher = publisher_for(target, config["COMMENTS_DB"], generation)
        if first_build:
            publisher.adopt(first_build)  # warm already: no second build
    if publisher.after_background_build is None:
        publisher.after_background_build = lambda: mirror_to_object_store(
            publisher.output_dir, None
        )
    return publisher, first_build is not None


def publish_release(config):
    """Build a complete new release from the project's sources and put it live.

    What `make publish` does. The build runs aside; under the site's lock it
    then catches up on decisions made meanwhile and switches ``live``, so no
    decision is lost between the two. A failed build removes the new
    release and leaves the live one as it was.
    """
    release = _new_release(config)[0]
    mirror_to_object_store(releases.site_of(release), None)
    return release


def _new_release(config):
    root = Path(config["SITE_ROOT"])
    project = Path(config["PELICAN_SETTINGS"]).parent
    release = releases.new_release(root, project)
    try:
        publisher = _build_and_switch(config, root, release)
    except BaseException:
        # Interrupted or failed before the switch: the new release is
        # nobody's. After it (Ctrl-C while unlocking), it is the live site.
        if releases.live_release(root) != release.resolve():
            shutil.rmtree(release, ignore_errors=True)
        raise
    return release, publisher


def rollback(config):
    """Put the previous release live again, with today's comments (`make rollback`).

    It is rebuilt from its own sources first, so decisions made since it was
    live are on its pages too."""
    root = Path(config["SITE_ROOT"])
    release = releases.previous_release(root)
    _build_and_switch(config, root, release)
    mirror_to_object_store(releases.site_of(release), None)
    return release


def _build_and_switch(config, root, release):
    """Build ``release`` aside, then, under the site's lock, catch up on the
    decisions made meanwhile, mark it built, switch ``live`` to it, and prune."""

    def go_live():
        if not release.is_dir():  # pruned by a concurrent `make publish`
            raise releases.ReleaseError(f"Release {release.name} was deleted meanwhile.")
        releases.mark_built(release)
        releases.switch(root, release)
        releases.prune(root)

    publisher = WarmPublisher(
        releases.release_target(root, release, live=False), config["COMMENTS_DB"]
    )
    publisher.full_build(before_unlock=go_live)
    return publisher


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Build the site: development into output/, production into a new "
        "release put live atomically (BLOG_ENV decides)."
    )
    parser.add_argument("--rollback", action="store_true", help="put the previous release live")
    args = parser.parse_args(argv)
    try:
        deployment = load()
        deployment.require("SITE_URL")
        config = deployment.as_mapping()
        if args.rollback:
            if deployment.development:
                raise ConfigError("Rollback is for production releases (BLOG_ENV=production).")
            release = rollback(config)
            print(f"Rolled back: {release.name} is live.")
        elif deployment.development:
            publish_site(config)
            print(f"Development site built into {deployment.site_dir}/")
        else:
            release = publish_release(config)
            print(f"Release {release.name} is live: {deployment.site_dir}/")
    except (ConfigError, releases.ReleaseError) as exc:
        print(exc, file=sys.stderr)
        return 2
    except BuildError as exc:
        print(f"Build failed, the live site is unchanged: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
