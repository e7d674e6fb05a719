"""The one front door for publishing: the admin, the console, `make serve`,
`make html`/`make publish` and gunicorn's start-up build all call it.

It chooses between the warm publisher's re-render of a few pages
(``comments_service.warm``) and a full build (``comments_service.build``);
neither of those modules imports this one.

Run as ``python -m comments_service.publish --settings pelicanconf.py --output output``
(what `make html` and `make publish` do).
"""

import argparse
import sys

from comments_service.build import BuildError, build_site
from comments_service.warm import publisher_for

__all__ = ["BuildError", "publish_site", "main"]


def publish_site(config, changed_posts=None):
    """Re-publish the live site with the comments as they are now in the database.

    With ``changed_posts`` (slugs), only their pages are re-rendered by the warm
    publisher, in milliseconds; without, the whole site is rebuilt.
    """
    publisher = publisher_for(config)
    if changed_posts is None:
        publisher.full_build()
    else:
        publisher.publish_posts(changed_posts)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the site into a folder, atomically.")
    parser.add_argument("--settings", default="pelicanconf.py")
    parser.add_argument("--output", default="output")
    args = parser.parse_args(argv)
    try:
        build_site(args.settings, args.output)
    except BuildError as exc:
        print(f"Build failed, {args.output}/ left unchanged: {exc}", file=sys.stderr)
        return 1
    print(f"Site built into {args.output}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
