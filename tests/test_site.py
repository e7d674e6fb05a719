"""The static site as a reader sees it, built in-process from the test posts
(tests/fixtures/site/content/, see support.py)."""

import json
import xml.etree.ElementTree as ET

from comments_service.static_site import assets
from support import MENTOR_SLUG, MENTOR_URL, ORIGIN, ROOT, draft_posts, published_posts

POSTS = published_posts()
MENTOR_POST = next(p for p in POSTS if p.slug == MENTOR_SLUG)


def texts(elements):
    return [" ".join(e.get_text(" ", strip=True).split()) for e in elements]


def test_the_test_posts_have_what_the_tests_need():
    """What the site tests below rely on: change the test posts, not the tests."""
    assert len(POSTS) > 5, "more than one page of the home page"
    assert len({p.category for p in POSTS}) >= 3
    assert len({(p.date.year, p.date.month) for p in POSTS}) >= 4
    assert MENTOR_POST.month_name == "December 2022" and MENTOR_POST.url == MENTOR_URL
    assert draft_posts(), "keep one draft so the drafts-are-hidden tests check something"
    assert [p for p in POSTS if not p.comments_open], "and one post with comments closed"
    assert [p for p in POSTS if p.featured], "and a featured one"


def test_home_lists_newest_posts_first_five_a_page(site):
    home = site.page("/")
    titles = texts(home.select(".post-list .card h2 a"))
    assert titles == [p.title for p in POSTS[:5]]
    second = site.page("/page/2/")
    assert texts(second.select(".post-list .card h2 a")) == [p.title for p in POSTS[5:10]]
    assert home.select_one('.pagination a[rel="next"]')["href"] == "/page/2/"
    assert second.select_one('.pagination a[rel="prev"]')["href"] == "/"


def test_each_home_card_has_thumbnail_date_summary_and_comment_count(site):
    for card, post in zip(site.page("/").select(".post-list .card"), POSTS, strict=False):
        assert card.select_one("img.thumb")["src"] == f"/images/covers/{post.slug}.svg"
        assert card.select_one("h2 a")["href"] == post.url
        assert card.select_one("time")["datetime"].startswith(post.date.strftime("%Y-%m-%d"))
        assert card.select_one(".summary").get_text(strip=True)
        assert "0 Comments" in card.select_one(".meta").get_text(" ", strip=True)


def test_post_page_shows_cover_title_body_signoff_and_empty_comments(site):
    page = site.page(MENTOR_POST.url)
    cover = page.select_one(".cover figure")
    assert cover.img["src"] == f"/images/covers/{MENTOR_POST.slug}.svg"
    assert cover.img["alt"]
    assert cover.figcaption.get_text(strip=True) == "Illustration by the Career Notes studio"
    assert page.h1.get_text(strip=True) == MENTOR_POST.title
    meta = page.select_one("article.post .meta").get_text(" ", strip=True)
    assert "December 6, 2022" in meta and "Networking" in meta
    assert texts(page.select(".tags a")) == [f"#{t}" for t in MENTOR_POST.tags]
    assert page.select(".body h2"), "the Markdown body is rendered"
    assert "Keep going" in page.select_one(".signoff").get_text()
    assert page.select_one("#comments-heading").get_text(strip=True) == "0 Comments"
    assert page.select(".comment") == []


def test_post_page_has_the_reply_form_of_the_contract(site):
    form = site.page(MENTOR_POST.url).select_one("form.comment-form")
    assert form["method"] == "post" and form["action"] == "/comments/"
    assert "Leave a Reply." in form.get_text()
    assert "Your comment will be posted after it is approved." in form.get_text()
    labels = {
        label.get_text(strip=True): label["for"] for label in form.select("label:not(.hp label)")
    }
    assert list(labels) == [
        "Name",
        "Email",
        "Website",
        "Comment",
        # Optional email notifications (subscriptions.py).
        "Notify me of replies to my comment",
        "Notify me of new comments on this post",
        "Email me when my comment is published",
    ]
    for field_id in labels.values():
        assert form.select_one(f"#{field_id}"), f"label points at a real field: {field_id}"
    assert form.select_one("#email-hint").get_text(strip=True) == "(not published)"
    assert form.select_one('input[name="post_slug"]')["value"] == MENTOR_POST.slug
    assert form.select_one('button[type="submit"]').get_text(strip=True) == "Submit"
    honeypot = form.select_one(".hp")
    assert honeypot["aria-hidden"] == "true" and honeypot.input["tabindex"] == "-1"


def test_a_post_with_comments_closed_has_no_form(site):
    closed = [p for p in POSTS if not p.comments_open]
    assert closed
    for post in closed:
        page = site.page(post.url)
        assert page.select_one("form.comment-form") is None
        assert "Comments are closed" in page.select_one("#comments").get_text()


def every_html_page(site):
    return [p for p in site.html_pages() if "drafts" not in p.parts]


def test_every_page_has_header_sidebar_and_cookie_banner(site):
    pages = every_html_page(site)
    assert len(pages) > len(POSTS)
    for path in pages:
        page = site.page("/" + str(path.relative_to(site.path)))
        assert page.select_one(".site-name a").get_text(strip=True) == "Career Notes", path
        headings = texts(page.select(".sidebar h2"))
        assert headings == ["Popular Posts", "Categories", "Archives"], path
        banner = page.select_one(".cookie-banner")
        assert "marketing and tracking technologies" in banner.get_text(), path
        form = banner.select_one("form")
        assert form["method"] == "post" and form["action"] == "/privacy/opt-out"
        assert form.button.get_text(strip=True) == "Opt Out of Cookies"


def test_sidebar_categories_show_all_and_each_category_with_counts(site):
    items = texts(site.page("/").select("#categories-heading + ul li"))
    categories = sorted({p.category for p in POSTS})
    expected = [f"All ({len(POSTS)})"] + [
        f"{c} ({sum(p.category == c for p in POSTS)})" for c in categories
    ]
    assert items == expected


def test_sidebar_archives_one_link_a_month_newest_first(site):
    links = site.page("/").select("#archives-heading + ul a")
    months = []
    for post in POSTS:
        if post.month_name not in months:
            months.append(post.month_name)
    assert texts(links) == months
    assert "December 2022" in months
    assert links[months.index("December 2022")]["href"] == "/2022/12/"


def test_popular_posts_fall_back_to_featured_then_newest(site):
    featured = [p for p in POSTS if p.featured]
    others = [p for p in POSTS if not p.featured]
    expected = (featured + others)[:5]
    assert texts(site.page("/").select("#popular-heading + ol a")) == [p.title for p in expected]


def test_month_archive_lists_exactly_that_months_posts(site):
    page = site.page("/2022/12/")
    assert page.h1.get_text(strip=True) == "Posts from December 2022"
    expected = [p.title for p in POSTS if (p.date.year, p.date.month) == (2022, 12)]
    assert texts(page.select(".post-list h2 a")) == expected


def test_category_and_tag_pages(site):
    networking = [p.title for p in POSTS if p.category == "Networking"]
    page = site.page("/category/networking/")
    assert page.h1.get_text(strip=True) == "Category: Networking"
    assert texts(page.select(".post-list h2 a")) == networking
    tagged = [p.title for p in POSTS if "mentors" in p.tags]
    assert texts(site.page("/tag/mentors/").select(".post-list h2 a")) == tagged


def test_all_posts_archive_lists_every_published_post(site):
    page = site.page("/archives/")
    assert texts(page.select(".archive-list a")) == [p.title for p in POSTS]


def test_about_and_privacy_pages(site):
    about = site.page("/about/")
    assert about.h1.get_text(strip=True) == "About"
    privacy = site.page("/privacy-policy/")
    table = privacy.select("table.cookies tbody tr")
    from pelicanconf import SITE_COOKIES

    assert [row.code.get_text() for row in table] == [c["name"] for c in SITE_COOKIES]
    for row, cookie in zip(table, SITE_COOKIES, strict=True):
        assert cookie["purpose"] in row.get_text()
    nav = texts(about.select('nav[aria-label="Site"] a'))
    assert {"About", "Privacy"} <= set(nav)


def test_404_page(site):
    page = site.page("/404.html")
    assert page.h1.get_text(strip=True) == "Page not found"
    assert page.select_one(".sidebar")


def test_drafts_stay_out_of_listings_feeds_sitemap_and_registry(site):
    for draft in draft_posts():
        for listing in (
            "/",
            "/page/2/",
            "/archives/",
            "/sitemap.xml",
            "/feeds/all.atom.xml",
            "/feeds/all.rss.xml",
            "/post-registry.json",
        ):
            assert draft.title not in site.text(listing), listing
            assert draft.slug not in site.text(listing), listing
        assert not site.file(draft.url).exists()
        # The author can preview it, unlisted and marked noindex.
        preview = site.page(f"/drafts/{draft.slug}/")
        assert preview.h1.get_text(strip=True) == draft.title
        assert preview.select_one('meta[name="robots"]')["content"] == "noindex"
        assert preview.select_one("form.comment-form") is None


def test_atom_and_rss_feeds_have_every_post_with_absolute_links(published_site):
    site = published_site
    ns = {"a": "http://www.w3.org/2005/Atom"}
    atom = ET.fromstring(site.file("/feeds/all.atom.xml").read_bytes())
    links = [e.find("a:link", ns).get("href") for e in atom.findall("a:entry", ns)]
    assert links == [ORIGIN + p.url for p in POSTS]
    rss = ET.fromstring(site.file("/feeds/all.rss.xml").read_bytes())
    assert [i.findtext("link") for i in rss.iter("item")] == [ORIGIN + p.url for p in POSTS]
    head = site.page("/").select('link[rel="alternate"]')
    assert {link["type"] for link in head} == {"application/atom+xml", "application/rss+xml"}
    assert all(link["href"].startswith(ORIGIN + "/feeds/") for link in head)


def test_production_build_has_absolute_urls_and_no_drafts(published_site):
    page = published_site.page(MENTOR_POST.url)
    assert page.select_one(".sidebar a")["href"].startswith(ORIGIN + "/")
    stylesheet = assets.theme_assets(ROOT / "theme")["css/site.css"]
    assert page.select_one('link[rel="stylesheet"]')["href"] == f"{ORIGIN}/{stylesheet}"
    assert page.select_one('link[rel="canonical"]')["href"] == ORIGIN + MENTOR_POST.url
    assert not (published_site.path / "drafts").exists()
    for draft in draft_posts():
        assert draft.slug not in " ".join(str(p) for p in published_site.path.rglob("*"))


def test_sitemap_lists_every_post_page_and_archive(site):
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ET.fromstring(site.file("/sitemap.xml").read_bytes())
    locs = {loc.text for loc in root.iterfind("s:url/s:loc", ns)}
    for post in POSTS:
        assert ORIGIN + post.url in locs
    assert {
        ORIGIN + "/",
        ORIGIN + "/about/",
        ORIGIN + "/2022/12/",
        ORIGIN + "/category/growth/",
    } <= locs
    assert all(loc.startswith(ORIGIN + "/") for loc in locs)


def test_robots_txt_and_favicon(site):
    robots = site.text("/robots.txt")
    assert f"Sitemap: {ORIGIN}/sitemap.xml" in robots
    assert "Disallow: /admin/" in robots
    icon = site.page("/").select_one('link[rel="icon"]')["href"]
    assert site.file(icon).read_text().startswith("<svg")


def test_canonical_and_open_graph_tags(site):
    page = site.page(MENTOR_POST.url)
    assert page.select_one('link[rel="canonical"]')["href"] == ORIGIN + MENTOR_POST.url
    og = {m["property"]: m["content"] for m in page.select("meta[property]")}
    assert og["og:url"] == ORIGIN + MENTOR_POST.url
    assert og["og:type"] == "article"
    assert og["og:title"].startswith(MENTOR_POST.title)
    # A raster copy of the SVG cover: social sites do not show SVG (tests/test_images.py).
    assert og["og:image"].startswith(f"{ORIGIN}/images/og/{MENTOR_POST.slug}.")
    assert og["og:image"].endswith(".png")
    assert og["og:description"]
    home = site.page("/page/2/")
    assert home.select_one('link[rel="canonical"]')["href"] == ORIGIN + "/page/2/"


def test_post_registry_lists_published_posts_for_the_service(site):
    registry = json.loads(site.text("/post-registry.json"))
    assert registry["posts"] == [
        {
            "slug": p.slug,
            "url": p.url,
            "title": p.title,
            "comments_open": p.comments_open,
            "comments_close_at": None,  # COMMENTS_CLOSE_AFTER_DAYS: None (test_rules.py)
        }
        for p in POSTS
    ]


def local_assets(page):
    """Every stylesheet, script and image a page loads."""
    refs = [link["href"] for link in page.select('link[rel="stylesheet"]')]
    refs += [s["src"] for s in page.select("script[src]")]
    refs += [i["src"] for i in page.select("img[src]")]
    return refs


def test_no_page_loads_anything_from_another_site(site):
    for path in every_html_page(site):
        page = site.page("/" + str(path.relative_to(site.path)))
        for ref in local_assets(page):
            assert ref.startswith("/") and not ref.startswith("//"), (path, ref)
        assert "@import" not in site.text("/theme/css/site.css")


def test_post_page_without_cover_weighs_at_most_30_kb(site):
    page = site.page(MENTOR_POST.url)
    total = len(site.file(MENTOR_POST.url).read_bytes())
    for ref in local_assets(page):
        if not ref.startswith("/images/"):
            total += len(site.file(ref).read_bytes())
    assert total <= 30 * 1024, f"{total} bytes"


def test_month_archives_list_what_pelicans_own_code_lists(tmp_path):
    """The plugin replaces Pelican's quadratic month grouping: same archives,
    posts in the same order, on a corpus with several posts a month."""
    import sys

    from pelican.generators import ArticlesGenerator

    from comments_service.static_site import pelican_plugin
    from comments_service.static_site.build import build_site
    from support import ROOT

    sys.path.insert(0, str(ROOT / "bench"))
    import corpus

    corpus.write_corpus(tmp_path / "content", 150, seed=3)
    _settings, generators = build_site(
        ROOT / "pelicanconf.py",
        tmp_path / "output",
        {"PATH": str(tmp_path / "content"), "CATEGORIES": corpus.CATEGORIES},
    )
    posts = next(g for g in generators if isinstance(g, ArticlesGenerator))
    ours = pelican_plugin.period_archives_in_linear_time(
        posts, posts.dates, posts.articles, posts.settings
    )
    pelicans = pelican_plugin._pelican_period_archives(
        posts, posts.dates, posts.articles, posts.settings
    )
    assert max(len(month["articles"]) for month in ours["month"]) > 1
    assert ours == pelicans
