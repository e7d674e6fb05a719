"""The author's own content/: the one test that builds it.

Every other test builds the test posts (tests/fixtures/site/, see support.py),
so writing, editing or deleting a post never changes their outcome. This one
checks only what holds for any content: it builds, and every published post
has its page and is in the post registry and the sitemap. Pelican's own list
of the posts is the reference, not the Markdown headers read by hand.
"""

import xml.etree.ElementTree as ET

from pelican.generators import ArticlesGenerator

from comments_service import registry
from comments_service.static_site.build import build_site
from support import ORIGIN, ROOT


def test_the_authors_content_builds_and_every_post_is_published(tmp_path):
    output = tmp_path / "output"
    # build_site raises BuildError on any error Pelican logs (a post without a
    # date, a broken cover path...). The author's comments are not read.
    overrides = {"SITE_ORIGIN": ORIGIN, "COMMENTS": {"DB": str(tmp_path / "absent.db")}}
    _settings, generators = build_site(ROOT / "pelicanconf.py", output, overrides)
    posts = next(g for g in generators if isinstance(g, ArticlesGenerator)).articles

    for post in posts:
        assert (output / post.save_as).is_file(), post.source_path
    listed = {entry["slug"]: entry["url"] for entry in registry.load(output)["posts"]}
    assert listed == {post.slug: "/" + post.url for post in posts}
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    sitemap = ET.fromstring((output / "sitemap.xml").read_bytes())
    locations = {loc.text for loc in sitemap.iterfind("s:url/s:loc", ns)}
    assert {f"{ORIGIN}/{post.url}" for post in posts} <= locations
