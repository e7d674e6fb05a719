"""A small project the live-preview tests edit: its own posts (never the
author's content/), beside copies of the project's theme and settings.

Twelve published posts over three months (the home page has three pages),
in three categories, some tags shared and some a post's own, one cover, a
draft and a page. Without comments or views, Popular Posts are the five
newest posts; ``OLD`` is outside them, ``NEWEST`` on top.
"""

import shutil
from datetime import datetime, timedelta

from support import ROOT

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>\n'
CATEGORIES = ["Growth", "Job Search", "Networking"]
TAGS = ["resume", "mentors", "salary", "habits"]
FIRST_DATE = datetime(2024, 1, 3, 9, 0)


def post_header(number):
    """The header of post ``number`` (1 = oldest): title, date, category, tags..."""
    date = FIRST_DATE + timedelta(days=7 * (number - 1))
    tags = [TAGS[number % len(TAGS)], TAGS[(number + 1) % len(TAGS)]]
    if number == 3:
        tags.append("only-three")  # a tag no other post has
    return {
        "Title": f"Post number {number}",
        "Date": f"{date:%Y-%m-%d %H:%M}",
        "Category": CATEGORIES[number % len(CATEGORIES)],
        "Tags": ", ".join(tags),
        "Slug": f"post-{number}",
        "Summary": f"What post {number} is about, in one sentence.",
    }


POSTS = 12
OLD = 3  # in January 2024, outside Popular Posts, the only one tagged "only-three"
NEWEST = POSTS  # first in Popular Posts


def post_body(number):
    return (
        f"The first paragraph of post {number}, with [a link](https://example.org/{number}).\n\n"
        f"## A heading\n\nThe second paragraph of post {number}.\n"
    )


def write_post(content, name, header, body):
    """Write ``content/posts/<name>`` (a dict of header lines, then the Markdown)."""
    lines = [f"{key}: {value}" for key, value in header.items()]
    path = content / "posts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n\n" + body, encoding="utf-8")
    return path


def post_path(project, number):
    return project / "content" / "posts" / f"post-{number}.md"


def write_project(project):
    """Write the project into the folder ``project``; return it."""
    content = project / "content"
    for number in range(1, POSTS + 1):
        header = post_header(number)
        if number == 5:
            header["Cover"] = "images/covers/five.svg"
            header["Cover_Alt"] = "A small square"
        write_post(content, f"post-{number}.md", header, post_body(number))
    write_post(
        content,
        "draft.md",
        {
            "Title": "A draft",
            "Date": "2024-03-30 09:00",
            "Category": "Growth",
            "Slug": "a-draft",
            "Status": "draft",
        },
        "Not finished yet.\n",
    )
    (content / "images" / "covers").mkdir(parents=True)
    (content / "images" / "covers" / "five.svg").write_text(SVG)
    (content / "images" / "chart.svg").write_text(SVG)
    (content / "pages").mkdir()
    (content / "pages" / "about.md").write_text("Title: About\n\nWho writes here.\n")
    shutil.copytree(ROOT / "theme", project / "theme")
    for name in ("pelicanconf.py", "publishconf.py"):
        shutil.copy(ROOT / name, project / name)
    return project


def edit_post(project, number, body=None, **header):
    """Rewrite post ``number`` with header lines changed (None removes one)."""
    path = post_path(project, number)
    current = path.read_text(encoding="utf-8")
    head, _, old_body = current.partition("\n\n")
    values = dict(line.split(": ", 1) for line in head.splitlines())
    for key, value in header.items():
        key = key.replace("_", " ").title().replace(" ", "_")
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return write_post(project / "content", path.name, values, old_body if body is None else body)
