"""A small site of the image and typography tests' own, built into a folder.

Three posts: one with a 2400x1000 photo as its cover, a photo-like PNG, a
small icon and a code block in its body; one with an SVG cover; one without a
cover. Images are made here (bench/pictures.py), not read from the author's
content. ``build`` uses the project's pelicanconf.py and theme with the
content, image cache and database pointed into the folder.
"""

import sys
from pathlib import Path

from PIL import Image

from support import ROOT, Site

sys.path.insert(0, str(ROOT / "bench"))
# (candidates: re-exported for the tests)
from pictures import candidates, chosen_url, photo_like, save_photo  # noqa: E402, F401

PHOTO_SLUG = "a-post-with-a-photo"
PHOTO_URL = "/2026/03/a-post-with-a-photo/"
SVG_URL = "/2026/02/a-post-with-an-illustration/"
PLAIN_URL = "/2026/01/a-post-without-a-cover/"
COVER_SIZE = (2400, 1000)
CHART_SIZE = (1000, 600)
ICON_SIZE = (200, 100)
PORTRAIT_SIZE = (600, 1000)  # as shown: stored 1000x600 with EXIF "rotate 90"

PHOTO_POST = """\
Title: A Post With a Photo
Date: 2026-03-02 09:00
Category: Growth
Tags: photos
Slug: a-post-with-a-photo
Summary: A post whose cover is a photograph.
Cover: images/covers/team.jpg
Cover_Alt: Colleagues around a table
Cover_Credit: Photo by the test suite

She said "ask for feedback" and it's the best advice -- I've had since the '90s... really.

## Why it matters

A chart of the results:

![A chart of the results]({static}/images/photos/chart.png "Results")

And a small icon: ![An icon]({static}/images/photos/icon.png)

![A portrait, taken with the phone upright]({static}/images/photos/portrait.jpg)

## Why it matters

Use `"straight"` quotes in code:

```python
def greet(name):
    # Say "hello"
    return f"Hello, {name}!"
```
"""

SVG_POST = """\
Title: A Post With an Illustration
Date: 2026-02-02 09:00
Category: Growth
Slug: a-post-with-an-illustration
Summary: A post whose cover is an SVG.
Cover: images/covers/plain.svg
Cover_Alt: A green circle on a sand background

Nothing here but "words".
"""

PLAIN_POST = """\
Title: A Post Without a Cover
Date: 2026-01-02 09:00
Category: Growth
Slug: a-post-without-a-cover
Summary: No cover at all.

Just text.
"""

SVG_COVER = """\
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1200 500">
<rect width="1200" height="500" fill="#f5efe6"/>
<circle cx="600" cy="250" r="200" fill="#0f766e"/>
</svg>
"""


def write_content(root):
    """The posts and their images under ``root/content``."""
    content = Path(root) / "content"
    for folder in ("posts", "images/covers", "images/photos"):
        (content / folder).mkdir(parents=True, exist_ok=True)
    (content / "posts" / "photo.md").write_text(PHOTO_POST, encoding="utf-8")
    (content / "posts" / "svg.md").write_text(SVG_POST, encoding="utf-8")
    (content / "posts" / "plain.md").write_text(PLAIN_POST, encoding="utf-8")
    save_photo(content / "images/covers/team.jpg", *COVER_SIZE)
    (content / "images/covers/plain.svg").write_text(SVG_COVER, encoding="utf-8")
    chart = photo_like(*CHART_SIZE, seed=2).convert("RGBA")
    chart.putalpha(230)  # a PNG with transparency
    chart.save(content / "images/photos/chart.png")
    Image.new("RGB", ICON_SIZE, "#d97706").save(content / "images/photos/icon.png")
    sideways = photo_like(PORTRAIT_SIZE[1], PORTRAIT_SIZE[0], seed=3)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to show
    sideways.save(content / "images/photos/portrait.jpg", exif=exif)
    return content


def write_settings(root, cache=None):
    """A settings file: the project's pelicanconf.py, content and cache in ``root``
    (or the image cache ``cache``, shared by tests that build the same images)."""
    root = Path(root)
    cache = Path(cache) if cache else root / "cache"
    conf = ROOT / "pelicanconf.py"
    path = root / "siteconf.py"
    path.write_text(
        f"""_conf = {str(conf)!r}
with open(_conf, encoding="utf-8") as _f:
    exec(compile(_f.read(), _conf, "exec"))
del _f, _conf
PATH = {str(root / "content")!r}
THEME = {str(ROOT / "theme")!r}
CACHE_PATH = {str(cache)!r}
COMMENTS = {{"DB": {str(root / "comments.db")!r}}}
SITE_ORIGIN = "https://careers.example"
""",
        encoding="utf-8",
    )
    return path


def make_site(root, cache=None):
    """Content and settings in ``root``; returns the settings file."""
    write_content(root)
    return write_settings(root, cache)


def build(settings_file, output):
    from comments_service.static_site.build import build_site

    build_site(settings_file, output)
    return Site(output)


def picked(element, viewport=412, density=2):
    """The URL a browser with AVIF loads for a ``<picture>`` or ``<img>`` element."""
    source = element.find("source") if element.name == "picture" else None
    img = element if element.name == "img" else element.find("img")
    chosen = source or img
    if not chosen.get("srcset"):
        return img["src"]
    return chosen_url(chosen["srcset"], chosen["sizes"], viewport, density)
