"""`make newpost TITLE="..." [CATEGORY="..."]`: create a dated post skeleton in content/posts/.

The new post starts as a draft, previewable at /drafts/<slug>/ under
`make serve`; delete the `Status: draft` line to publish it. An existing file
is never overwritten. Its category is one of the site's (``CATEGORIES`` in
pelicanconf.py, listed after each new post); an unknown one is refused with
the nearest suggestion, as the build would refuse it.
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

from pelican.settings import DEFAULT_CONFIG, read_settings
from pelican.utils import slugify

from comments_service.config import ConfigError, load
from comments_service.static_site.checks import declared_categories, nearest_category

SKELETON = """\
Title: {title}
Date: {date}
Category: {category}
Tags:
Slug: {slug}
Summary: One or two sentences that tell a reader why this post is worth their time.
Cover:
Cover_Alt:
Cover_Credit:
Status: draft

Start with the reader's problem in a sentence or two.

## The first idea

Write here. For a cover, put an image in content/images/covers/ and fill in
Cover (its path, e.g. images/covers/{slug}.svg), Cover_Alt and Cover_Credit.
Remove `Status: draft` above when the post is ready to publish.
"""


def choose_category(category, declared):
    """The declared spelling of ``category`` (the first declared one if None);
    ``ValueError`` naming the nearest declared one when it is not declared."""
    if not declared:
        return category or DEFAULT_CONFIG["DEFAULT_CATEGORY"]
    if category is None:
        return declared[0]
    for name in declared:
        if name.lower() == category.strip().lower():
            return name
    nearest = nearest_category(category, declared)
    guess = f" Did you mean {nearest!r}?" if nearest else ""
    raise ValueError(
        f"{category!r} is not one of the site's categories: {', '.join(declared)}.{guess} "
        "A new category is added to CATEGORIES in pelicanconf.py first."
    )


def create_post(title, posts_dir, now=None, category=None, categories=None):
    """Write the skeleton and return its path; refuse to overwrite an existing post.

    ``categories`` are the site's (default: ``CATEGORIES`` of the development
    settings); ``category`` must be one of them (default: the first)."""
    title = title.strip()
    if not title:
        raise ValueError("The title is empty.")
    if categories is None:
        categories = site_categories()
    category = choose_category(category, list(categories))
    # The same slug Pelican would make from the title.
    slug = slugify(title, regex_subs=DEFAULT_CONFIG["SLUG_REGEX_SUBSTITUTIONS"])
    if not slug:
        raise ValueError("The title needs at least one letter or digit.")
    path = Path(posts_dir) / f"{slug}.md"
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose another title or edit that post.")
    now = now or datetime.now()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        SKELETON.format(
            title=title, slug=slug, date=now.strftime("%Y-%m-%d %H:%M"), category=category
        ),
        encoding="utf-8",
    )
    return path


def site_categories(settings_file=None):
    """The ``CATEGORIES`` of the site's Pelican settings (development's by default)."""
    if settings_file is None:
        settings_file = load().settings_file
    return declared_categories(read_settings(str(settings_file)))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Create a dated post skeleton.")
    parser.add_argument("title", nargs="+")
    parser.add_argument("--posts-dir", default="content/posts")
    parser.add_argument("--category", help="one of the site's categories (CATEGORIES)")
    parser.add_argument("--settings", help="Pelican settings declaring CATEGORIES")
    args = parser.parse_args(argv)
    try:
        categories = site_categories(args.settings)
        path = create_post(
            " ".join(args.title), args.posts_dir, category=args.category, categories=categories
        )
    except (ValueError, FileExistsError, ConfigError) as exc:
        print(f"newpost: {exc}", file=sys.stderr)
        return 1
    print(f"Created {path} (a draft: preview it at /drafts/{path.stem}/ under `make serve`)")
    if categories:
        chosen = choose_category(args.category, categories)
        print(
            f"Category: {chosen}. The site's categories: {', '.join(categories)} "
            '(choose with CATEGORY="..." or edit the Category: line).'
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
