"""Typography of posts: curly quotes and dashes, heading links, coloured code,
checked on the built site (tests/picture_site.py), in a browser with axe-core too."""

import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import markdown
import pytest
from axe_playwright_python.sync_playwright import Axe

from comments_service.static_site import typography
from picture_site import PHOTO_URL, PLAIN_URL, SVG_URL, build, make_site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("typography")
    return build(make_site(root), root / "output")


def body(site, url):
    return site.page(url).select_one(".body")


def test_prose_gets_curly_quotes_dashes_and_ellipses(site):
    text = body(site, PHOTO_URL).p.get_text()
    assert text == (
        "She said \u201cask for feedback\u201d and it\u2019s the best advice \u2013 "
        "I\u2019ve had since the \u201990s\u2026 really."
    )
    assert "\u201cwords\u201d" in body(site, SVG_URL).get_text()


def test_code_keeps_its_straight_quotes(site):
    page = body(site, PHOTO_URL)
    assert page.select_one("p code").get_text() == '"straight"'
    assert 'return f"Hello, {name}!"' in page.select_one(".highlight").get_text()


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ('"Quoted"', "\u201cQuoted\u201d"),
        ("'single'", "\u2018single\u2019"),
        ("don't", "don\u2019t"),
        ("the '90s", "the \u201990s"),
        ("(\"nested 'quotes'\")", "(\u201cnested \u2018quotes\u2019\u201d)"),
        ("a -- b --- c", "a \u2013 b \u2014 c"),
        ("wait...", "wait\u2026"),
        ('*"emphasis"* and "a [link](/x)"', None),
    ],
)
def test_punctuation_rules(typed, shown):
    html = markdown.markdown(typed, extensions=[typography.Typography()])
    if shown is None:  # quotes around inline markup open and close all the same
        assert html == (
            '<p><em>\u201cemphasis\u201d</em> and \u201ca <a href="/x">link</a>\u201d</p>'
        )
    else:
        assert html == f"<p>{shown}</p>"


def test_each_heading_has_an_id_and_a_labelled_link_beside_it(site):
    page = body(site, PHOTO_URL)
    wrappers = page.select(".heading")
    assert [w.h2["id"] for w in wrappers] == ["why-it-matters", "why-it-matters_1"]
    for wrapper in wrappers:
        heading, link = wrapper.h2, wrapper.select_one("a.heading-link")
        # The heading's own text is unchanged: the link is beside it, not in it.
        assert heading.get_text() == "Why it matters"
        assert link["href"] == f"#{heading['id']}"
        assert link.get_text() == "#"
        assert link["aria-label"] == "Link to section: Why it matters"


def test_code_blocks_are_coloured_in_both_schemes_and_only_pages_with_code_load_it(site):
    page = site.page(PHOTO_URL)
    used = {c for span in page.select(".highlight span[class]") for c in span["class"]}
    coloured = {"k", "nf", "c1", "s2"}  # keyword, function name, comment, string
    assert coloured <= used
    link = page.select_one('link[rel="stylesheet"][href*="/css/code."]')
    css = site.file(link["href"]).read_text()
    for block in scheme_blocks(css):
        for token in coloured:
            assert re.search(rf"\.highlight \.{token}\{{[^}}]*color:", block), token
        # Tokens a style leaves plain (names, punctuation) take the block's colour.
        assert re.search(r"\.highlight\{[^}]*(?<!-)color:", block)
    for url in (SVG_URL, PLAIN_URL, "/"):
        assert not site.page(url).select('link[href*="/css/code."]'), url


def scheme_blocks(css):
    # As served: minified (one "}" closes the last rule, the next the block).
    light, dark = (
        re.search(rf"@media \(prefers-color-scheme: ?{scheme}\) ?\{{(.*?\}})\s*\}}", css, re.S)
        for scheme in ("light", "dark")
    )
    return light.group(1), dark.group(1)


def test_the_code_stylesheet_is_generated_from_the_styles_named():
    assert typography.CODE_CSS.read_text(encoding="utf-8") == typography.code_stylesheet(), (
        "run: python -m comments_service.static_site.typography"
    )


def contrast(a, b):
    def luminance(colour):
        colour = colour.lstrip("#")
        if len(colour) == 3:
            colour = "".join(c * 2 for c in colour)
        channels = [int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", [0, 1], ids=["light", "dark"])
def test_every_code_colour_is_readable_on_its_background(scheme):
    block = scheme_blocks(typography.code_stylesheet())[scheme]
    background = re.search(r"\.highlight\{[^}]*background:(#[0-9a-fA-F]+)", block).group(1)
    colours = re.findall(r"\.highlight(?: \.(\w+))?\{[^}]*?(?<!-)color:(#[0-9a-fA-F]+)", block)
    assert len(colours) > 20
    for token, colour in colours:
        if token in ("w", "err"):  # whitespace shows nothing; errors are outlined
            continue
        assert contrast(colour, background) >= 4.5, (token, colour, background)


@pytest.fixture(scope="module")
def static_server(site):
    """The built site over HTTP on loopback (a plain static server is enough here)."""
    handler = functools.partial(QuietHandler, directory=str(site.path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("url", [PHOTO_URL, "/"])
def test_axe_finds_no_violations_with_pictures_headings_and_code(page, static_server, url, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto(static_server + url)
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_a_heading_link_shows_when_focused(page, static_server):
    page.goto(static_server + PHOTO_URL)
    link = page.get_by_role("link", name="Link to section: Why it matters").first
    link.focus()
    assert link.evaluate("a => getComputedStyle(a).opacity") == "1"
    link.press("Enter")
    assert page.url.endswith("#why-it-matters")
