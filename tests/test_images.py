"""Images at build time: srcsets of real files, share images, the cache, the warm path.

Every test reads a small site of its own (tests/picture_site.py): a post with
a 2400x1000 photo cover, a PNG and a small icon in its body, a post with an
SVG cover, and one without a cover.
"""

import shutil
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from comments_service import db
from comments_service.static_site import imaging, releases
from comments_service.static_site.build import BuildError
from comments_service.static_site.warm import WarmPublisher
from picture_site import (
    CHART_SIZE,
    COVER_SIZE,
    ICON_SIZE,
    PHOTO_SLUG,
    PHOTO_URL,
    PLAIN_URL,
    PORTRAIT_SIZE,
    SVG_URL,
    build,
    candidates,
    make_site,
    picked,
    write_content,
)
from support import ROOT, Site

FORMATS = {"image/avif": "AVIF", "image/webp": "WEBP", "image/jpeg": "JPEG", "image/png": "PNG"}
# The home page's images as a phone at 2x loads them (the goal is 60 KB).
HOME_IMAGE_BUDGET = 60_000


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One image cache for the module: encoding is the slow part of these builds."""
    return tmp_path_factory.mktemp("image-cache")


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache):
    """The picture site, built once."""
    root = tmp_path_factory.mktemp("pictures")
    settings_file = make_site(root, cache)
    return build(settings_file, root / "output"), root, settings_file


@pytest.fixture
def site(built):
    return built[0]


def open_image(site, url):
    """Format and size of an image as a browser shows it (EXIF orientation applied)."""
    with Image.open(site.file(urlsplit(url).path)) as image:
        return image.format, ImageOps.exif_transpose(image).size


def check_picture(site, picture, original_size):
    """Each candidate is a file of the format its type says and the width it claims,
    never wider than the original, and the <img> has the original's size."""
    img = picture.find("img")
    assert (int(img["width"]), int(img["height"])) == original_size
    typed = [(s["type"], s["srcset"]) for s in picture.find_all("source")]
    # AVIF first where Pillow has it (it has here), then WebP.
    assert [mime for mime, _ in typed] == ["image/avif", "image/webp"]
    # The <img>'s srcset: resized copies in the original's own format.
    original = open_image(site, img["src"])[0]
    for mime, srcset in [*typed, (None, img["srcset"])]:
        for url, width in candidates(srcset):
            fmt, (w, h) = open_image(site, url)
            assert fmt == (FORMATS[mime] if mime else original), url
            assert w == width <= original_size[0], url
            assert abs(h - original_size[1] * width / original_size[0]) <= 1, url
    return img


def test_the_cover_photo_is_a_picture_of_real_smaller_files(site):
    page = site.page(PHOTO_URL)
    picture = page.select_one(".cover picture")
    img = check_picture(site, picture, COVER_SIZE)
    assert img["src"] == "/images/covers/team.jpg"  # the original, as the fallback
    assert open_image(site, img["src"]) == ("JPEG", COVER_SIZE)
    assert img["alt"] == "Colleagues around a table"
    widths = [w for _, w in candidates(picture.find("source")["srcset"])]
    assert widths == [160, 320, 480, 640, 960, 1280, 1920]  # never the 2400 original
    assert img["sizes"] == "100vw"
    # The page's main image: fetched first, never lazily.
    assert img["fetchpriority"] == "high"
    assert not img.has_attr("loading")


def test_a_photo_in_a_post_becomes_a_lazy_picture(site):
    page = site.page(PHOTO_URL)
    picture = page.select_one(".body picture")
    img = check_picture(site, picture, CHART_SIZE)
    assert img["src"] == "/images/photos/chart.png"
    assert img["alt"] == "A chart of the results"
    assert img["title"] == "Results"
    assert img["loading"] == "lazy"
    assert not img.has_attr("fetchpriority")
    # Not upscaled: the widths below the original, then the original's own.
    assert [w for _, w in candidates(img["srcset"])] == [320, 640, 960, 1000]
    with Image.open(site.file(picked(picture))) as image:
        assert image.mode == "RGBA", "transparency kept"


def test_a_photo_taken_sideways_is_offered_upright(site):
    picture = site.page(PHOTO_URL).select_one('.body img[alt^="A portrait"]').parent
    check_picture(site, picture, PORTRAIT_SIZE)  # 600x1000: copies 320 px wide are 533 high


def test_a_broken_image_fails_the_build_and_names_the_file(tmp_path):
    settings_file = make_site(tmp_path)
    photo = tmp_path / "content/images/photos/chart.png"
    photo.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])  # cut off
    with pytest.raises(BuildError, match="chart.png"):
        build(settings_file, tmp_path / "output")


def test_a_small_image_is_kept_as_it_is(site):
    icon = site.page(PHOTO_URL).select_one('.body img[alt="An icon"]')
    assert icon.parent.name != "picture"
    assert icon["src"] == "/images/photos/icon.png"
    assert not icon.has_attr("srcset")
    assert (int(icon["width"]), int(icon["height"])) == ICON_SIZE
    assert icon["loading"] == "lazy"


def test_an_svg_cover_stays_svg(site):
    img = site.page(SVG_URL).select_one(".cover img")
    assert img.parent.name != "picture"
    assert img["src"] == "/images/covers/plain.svg"
    assert (img["width"], img["height"]) == ("1200", "500")
    assert img["fetchpriority"] == "high"


@pytest.mark.parametrize(
    ("url", "fmt", "alt"),
    [
        (PHOTO_URL, "JPEG", "Colleagues around a table"),
        (SVG_URL, "PNG", "A green circle on a sand background"),
        (PLAIN_URL, "PNG", "Career Notes: Practical advice for the next step in your career"),
    ],
)
def test_every_post_has_a_raster_share_image(site, url, fmt, alt):
    page = site.page(url)
    meta = {m.get("property") or m.get("name"): m["content"] for m in page.select("meta[content]")}
    origin = "https://careers.example"
    assert meta["og:image"].startswith(f"{origin}/images/og/")
    assert open_image(site, meta["og:image"].removeprefix(origin)) == (fmt, (1200, 630))
    assert (meta["og:image:width"], meta["og:image:height"]) == ("1200", "630")
    assert meta["og:image:type"] == f"image/{fmt.lower()}"
    assert meta["og:image:alt"] == alt
    assert meta["twitter:card"] == "summary_large_image"


def test_the_photo_share_image_is_the_cover_cropped(site):
    page = site.page(PHOTO_URL)
    url = page.select_one('meta[property="og:image"]')["content"].split("example", 1)[1]
    with (
        Image.open(site.file(url)) as share,
        Image.open(site.file("/images/covers/team.jpg")) as cover,
    ):
        # The middle of the cover: 1000 px high cropped to 1.91:1 is 1905 px wide.
        middle = cover.crop((247, 0, 2153, 1000)).resize((1200, 630)).convert("RGB")
        difference = ImageChops.difference(share.convert("RGB"), middle)
        assert max(ImageStat.Stat(difference).mean) < 12


def test_home_page_thumbnails_are_small_and_only_the_first_is_eager(site):
    home = site.page("/")
    thumbs = home.select(".card img.thumb")
    assert len(thumbs) == 2  # the photo and the SVG; the third post has no cover
    assert not thumbs[0].has_attr("loading")
    assert all(t["loading"] == "lazy" for t in thumbs[1:])
    photo = home.select_one(".card picture")
    assert photo.find("img")["sizes"] == "10rem"
    for srcset in [s["srcset"] for s in photo.find_all("source")] + [photo.find("img")["srcset"]]:
        assert max(w for _, w in candidates(srcset)) <= 480
    src = photo.find("img")["src"]  # for a browser without srcset: small too
    assert ".480w." in src and open_image(site, src) == ("JPEG", (480, 200))
    loaded = [picked(p) for p in home.select(".card picture")] + [
        t["src"] for t in thumbs if t.parent.name != "picture"
    ]
    total = sum(site.file(url).stat().st_size for url in loaded)
    assert total <= HOME_IMAGE_BUDGET, loaded
    assert site.file(picked(photo)).stat().st_size <= 20_000


def test_a_rebuild_encodes_nothing_again(built, tmp_path, monkeypatch):
    site, _root, settings_file = built
    made = []
    render = imaging.render

    def counting_render(item):
        made.append(item.url)
        return render(item)

    monkeypatch.setattr(imaging, "render", counting_render)
    again = build(settings_file, tmp_path / "again")
    assert made == []
    for path in (site.path / "images").rglob("*"):
        if path.is_file():
            assert (again.path / path.relative_to(site.path)).read_bytes() == path.read_bytes()


def test_a_changed_image_is_encoded_again_under_new_names(tmp_path, monkeypatch, cache):
    settings_file = make_site(tmp_path, cache)
    first = build(settings_file, tmp_path / "first")
    old = set(candidates(first.page(PHOTO_URL).select_one(".cover source")["srcset"]))
    with Image.open(tmp_path / "content/images/covers/team.jpg") as cover:
        cover.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            tmp_path / "content/images/covers/team.jpg"
        )
    made = []
    render = imaging.render
    monkeypatch.setattr(imaging, "render", lambda item: made.append(item.url) or render(item))
    second = build(settings_file, tmp_path / "second")
    new = set(candidates(second.page(PHOTO_URL).select_one(".cover source")["srcset"]))
    assert not old & new
    assert {url for url, _ in new} <= {"/" + url for url in made}
    assert all(second.file(url).is_file() for url, _ in new)


def test_an_unwritable_cache_only_costs_speed(tmp_path):
    settings_file = make_site(tmp_path)
    (tmp_path / "cache").write_text("not a folder")  # the cache cannot be created
    site = build(settings_file, tmp_path / "output")
    picture = site.page(PHOTO_URL).select_one(".cover picture")
    check_picture(site, picture, COVER_SIZE)


def test_the_warm_path_writes_what_a_full_build_writes(tmp_path, cache):
    settings_file = make_site(tmp_path, cache)
    db_path = tmp_path / "comments.db"
    publisher = WarmPublisher.for_folder(settings_file, tmp_path / "live", db_path)
    publisher.full_build()
    database = db.connect(db_path)
    try:
        comment = db.add_pending_comment(
            database, post_slug=PHOTO_SLUG, author_name="Reader", body="Lovely photo"
        )
        db.set_status(database, [comment], "approved", by="test", reason="approved")
        written = publisher.publish_posts({PHOTO_SLUG})
    finally:
        database.close()
        publisher.cancel_pending()
    fresh = build(settings_file, tmp_path / "fresh")
    assert "2026/03/a-post-with-a-photo/index.html" in written
    for name in written:
        live = (tmp_path / "live" / name).read_bytes()
        assert live == (fresh.path / name).read_bytes(), name
    assert b"Lovely photo" in (tmp_path / "live" / PHOTO_URL.strip("/") / "index.html").read_bytes()
    assert b"<picture>" in (tmp_path / "live" / PHOTO_URL.strip("/") / "index.html").read_bytes()


def test_production_writes_no_share_image_for_a_draft(tmp_path, cache):
    settings_file = make_site(tmp_path, cache)
    draft = tmp_path / "content/posts/draft.md"
    draft.write_text(
        "Title: Secret Plans\nDate: 2026-03-03 09:00\nCategory: Growth\nSlug: secret-plans\n"
        "Status: draft\nCover: images/covers/plain.svg\nCover_Alt: A circle\n\nNot yet.\n"
    )
    production = tmp_path / "prodconf.py"
    production.write_text(
        settings_file.read_text()
        + 'SITEURL = "https://careers.example"\nRELATIVE_URLS = False\n'
        + 'DRAFT_SAVE_AS = ""\n'
    )
    site = build(production, tmp_path / "output")
    assert not list((site.path / "images/og").glob("secret-plans*"))
    # A draft written in development gets one (the preview shows it).
    preview = build(settings_file, tmp_path / "preview")
    assert list((preview.path / "images/og").glob("secret-plans.*.png"))


def test_a_new_release_reads_the_live_releases_cache_and_writes_only_its_own(tmp_path, monkeypatch):
    """Production: each release has its own image cache (beside its sources);
    `make publish` reads the live release's on a miss, so it encodes nothing
    already encoded, and never writes into it."""
    monkeypatch.setenv("SITE_URL", "https://careers.example")
    project = tmp_path / "project"
    write_content(project)
    shutil.copytree(ROOT / "theme", project / "theme")
    for name in ("pelicanconf.py", "publishconf.py"):
        shutil.copy(ROOT / name, project / name)
    root = tmp_path / "site"

    def publish():
        release = releases.new_release(root, project)
        build(releases.settings_of(release), releases.site_of(release))
        releases.mark_built(release)
        releases.switch(root, release)
        return release

    first = publish()
    first_cache = first / "sources" / "cache" / "images"
    before = {p: p.stat().st_mtime_ns for p in first_cache.rglob("*")}
    assert before
    made = []
    render = imaging.render
    monkeypatch.setattr(imaging, "render", lambda item: made.append(item.url) or render(item))
    second = publish()
    assert made == []
    assert {p: p.stat().st_mtime_ns for p in first_cache.rglob("*")} == before
    own = {p.name for p in (second / "sources" / "cache" / "images").rglob("*.*")}
    assert own == {p.name for p in before if p.is_file()}
    live = Site(releases.live_site_dir(root))
    check_picture(live, live.page(PHOTO_URL).select_one(".cover picture"), COVER_SIZE)
