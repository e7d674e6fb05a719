"""Fingerprinted theme files: pages link names that change exactly when the bytes do."""

import hashlib
import json
import re

from comments_service.static_site.assets import served_bytes
from comments_service.static_site.build import build_site
from support import MENTOR_URL, ORIGIN, Site, submit_comment

FINGERPRINTED = re.compile(r"^/theme/(?P<stem>.+)\.(?P<digest>[0-9a-f]{10})\.(?P<suffix>\w+)$")


def theme_links(page):
    """The stylesheet, icon and scripts a page links from the theme."""
    links = [link["href"] for link in page.select('link[rel="stylesheet"], link[rel="icon"]')]
    links += [script["src"] for script in page.select("script[src]")]
    return links


def build(project, output):
    build_site(project / "pelicanconf.py", output, {"SITE_ORIGIN": ORIGIN})
    return Site(output)


def test_every_page_links_fingerprinted_files_whose_bytes_match_the_name(site):
    seen = set()
    for path in site.html_pages():
        page = site.page("/" + str(path.relative_to(site.path)))
        links = theme_links(page)
        assert len(links) >= 3, path  # stylesheet, icon, consent script
        for url in links:
            match = FINGERPRINTED.match(url)
            assert match, (path, url)
            data = site.file(url).read_bytes()
            assert hashlib.sha256(data).hexdigest()[:10] == match["digest"], url
            seen.add(url)
            # The plain copy stays as the theme has it; the named copy is what
            # readers load: stylesheets and scripts minified, the rest as is.
            plain = site.file(f"/theme/{match['stem']}.{match['suffix']}")
            assert served_bytes(plain) == data, url
            if match["suffix"] in ("css", "js"):
                assert b"/*" not in data and b"\n  " not in data, url
                assert len(data) < 0.9 * len(plain.read_bytes()), url
            else:
                assert plain.read_bytes() == data, url
    assert {FINGERPRINTED.match(url)["stem"] for url in seen} == {
        "css/site",
        "favicon",
        "js/consent",
        "js/comments",
    }


def test_a_changed_css_file_gets_a_new_name_and_untouched_files_keep_theirs(project_copy, tmp_path):
    before = build(project_copy, tmp_path / "before")
    css = project_copy / "theme" / "static" / "css" / "site.css"
    css.write_text(css.read_text() + "\n.new-rule { color: red; }\n")
    script = project_copy / "theme" / "static" / "js" / "consent.js"
    script.write_bytes(script.read_bytes())  # a new modification time, same bytes
    after = build(project_copy, tmp_path / "after")

    def links(site):
        page = site.page(MENTOR_URL)
        return {
            "css": page.select_one('link[rel="stylesheet"]')["href"],
            "consent": page.select_one('script[src*="consent"]')["src"],
        }

    old, new = links(before), links(after)
    assert new["css"] != old["css"]
    assert ".new-rule" in after.text(new["css"])
    assert ".new-rule" not in before.text(old["css"])
    assert new["consent"] == old["consent"]


def test_the_registry_carries_the_same_map_for_the_service(site):
    registry = json.loads(site.text("/post-registry.json"))
    page = site.page("/")
    assets = registry["site"]["THEME_ASSETS"]
    assert "/" + assets["css/site.css"] == page.select_one('link[rel="stylesheet"]')["href"]
    assert "/" + assets["favicon.svg"] == page.select_one('link[rel="icon"]')["href"]


def test_service_pages_link_the_same_fingerprinted_files(client, live_site):
    static = live_site.page(MENTOR_URL)
    expected_css = static.select_one('link[rel="stylesheet"]')["href"]
    expected_script = static.select_one('script[src*="consent"]')["src"]
    error_page = submit_comment(client, json=False, body="x")
    assert error_page.status_code == 400
    login_page = client.get("/admin/login")
    for response in (error_page, login_page):
        html = response.get_data(as_text=True)
        assert f'href="{expected_css}"' in html
    assert f'src="{expected_script}"' in error_page.get_data(as_text=True)
    stylesheet = client.get(expected_css)
    assert stylesheet.status_code == 200
    assert stylesheet.mimetype == "text/css"
