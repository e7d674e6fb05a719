"""`make newpost TITLE="..."`: create a dated post skeleton in content/posts/.

The new post starts as a draft, previewable at /drafts/<slug>/ under
`make serve`; delete the `Status: draft` line to publish it. An existing file
is never overwritten.
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

from pelican.settings import DEFAULT_CONFIG
from pelican.utils import slugify

SKELETON = """\
Title: {title}
Date: {date}
Category: Growth
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


def create_post(title, posts_dir, now=None):
    """Write the skeleton and return its path; refuse to overwrite an existing post."""
    title = title.strip()
    if not title:
        raise ValueError("The title is empty.")
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
        SKELETON.format(title=title, slug=slug, date=now.strftime("%Y-%m-%d %H:%M")),
        encoding="utf-8",
    )
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Create a dated post skeleton.")
    parser.add_argument("title", nargs="+")
    parser.add_argument("--posts-dir", default="content/posts")
    args = parser.parse_args(argv)
    try:
        path = create_post(" ".join(args.title), args.posts_dir)
    except (ValueError, FileExistsError) as exc:
        print(f"newpost: {exc}", file=sys.stderr)
        return 1
    print(f"Created {path} (a draft: preview it at /drafts/{path.stem}/ under `make serve`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
