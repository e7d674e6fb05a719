"""The build checks the author's work: every mistake named with its file, line
and a hint, all at once, and nothing of a failed build goes live."""

import os
import shutil
import subprocess

import pytest

from comments_service import create_app, newpost, publish, serve
from comments_service.static_site import releases, warm
from comments_service.static_site.build import BuildError, build_site
from comments_service.static_site.warm import WarmPublisher
from support import ORIGIN, ROOT

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>\n'


def write_post(content, name, body="A short post.", **header):
    """Write content/posts/<name> with a Pelican header (keys as Title, Date, ...)."""
    lines = [
        f"{key.replace('_', ' ').title().replace(' ', '_')}: {value}"
        for key, value in header.items()
    ]
    path = content / "posts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + f"\n\n{body}\n", encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path):
    """A small clean site: two posts in two months, a page, a cover and an
    image, beside copies of the project's theme and settings (no database)."""
    project = tmp_path / "project"
    content = project / "content"
    (content / "images" / "covers").mkdir(parents=True)
    (content / "images" / "covers" / "first.svg").write_text(SVG)
    (content / "images" / "chart.svg").write_text(SVG)
    (content / "pages").mkdir()
    (content / "pages" / "about.md").write_text("Title: About\n\nWho writes here.\n")
    write_post(
        content,
        "first.md",
        "Read [the second]({filename}second.md), see ![A chart]({static}/images/chart.svg).",
        title="First Post",
        date="2024-01-10 09:00",
        category="Growth",
        slug="first-post",
        cover="images/covers/first.svg",
        cover_alt="A square",
    )
    write_post(
        content,
        "second.md",
        title="Second Post",
        date="2024-02-05 09:00",
        category="Job Search",
        slug="second-post",
    )
    shutil.copytree(ROOT / "theme", project / "theme")
    for name in ("pelicanconf.py", "publishconf.py"):
        shutil.copy(ROOT / name, project / name)
    return project


def build(project, output):
    return build_site(project / "pelicanconf.py", output)


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# Each mistake: the files that make it, and what the message must name.
MISTAKES = {
    "missing date": (
        [("no-date.md", {"title": "No Date", "category": "Growth"}, "Body.")],
        ["content/posts/no-date.md: has no Date: line", "hint: add one"],
    ),
    "impossible date": (
        [("bad-date.md", {"title": "Bad", "date": "2026-13-45", "category": "Growth"}, "B.")],
        ["content/posts/bad-date.md:2: Date: '2026-13-45' is not a real date", "YYYY-MM-DD"],
    ),
    "duplicate slug in two months": (
        [
            (
                "again.md",
                {
                    "title": "Again",
                    "date": "2024-03-01 09:00",
                    "slug": "first-post",
                    "category": "Growth",
                },
                "",
            ),
        ],
        ["content/posts/again.md:3", "content/posts/again.md and content/posts/first.md"],
    ),
    "duplicate slug in one month": (
        [
            (
                "twin.md",
                {
                    "title": "Twin",
                    "date": "2024-01-20 09:00",
                    "slug": "first-post",
                    "category": "Growth",
                },
                "",
            )
        ],
        ["'first-post' is used by 2 posts: content/posts/first.md and content/posts/twin.md"],
    ),
    "unknown category": (
        [("typo.md", {"title": "Typo", "date": "2024-03-01 09:00", "category": "Job Serach"}, "")],
        ["content/posts/typo.md:3: category 'Job Serach'", "did you mean 'Job Search'?"],
    ),
    "category in other capitals": (
        [
            (
                "lower.md",
                {"title": "Lower", "date": "2024-03-01 09:00", "category": "job search"},
                "",
            )
        ],
        ["content/posts/lower.md:3: category 'job search'", "did you mean 'Job Search'?"],
    ),
    "broken {filename} link": (
        [
            (
                "linker.md",
                {"title": "Linker", "date": "2024-03-01 09:00", "category": "Growth"},
                "See [this]({filename}no-such-post.md).",
            )
        ],
        ["content/posts/linker.md:5: the link {filename}no-such-post.md names no file"],
    ),
    "missing {static} image": (
        [
            (
                "pictures.md",
                {"title": "Pictures", "date": "2024-03-01 09:00", "category": "Growth"},
                "![A graph]({static}/images/graph.svg)",
            )
        ],
        ["content/posts/pictures.md:5: the link {static}/images/graph.svg names no file"],
    ),
    "missing {attach} file": (
        [
            (
                "attached.md",
                {"title": "Attached", "date": "2024-03-01 09:00", "category": "Growth"},
                "[The slides]({attach}/images/slides.pdf)",
            )
        ],
        ["content/posts/attached.md:5: the link {attach}/images/slides.pdf names no file"],
    ),
    "{static} path relative to the post": (
        [
            (
                "relative.md",
                {"title": "Relative", "date": "2024-03-01 09:00", "category": "Growth"},
                "![A chart]({static}images/chart.svg)",
            )
        ],
        ["content/posts/relative.md:5", "did you mean {static}/images/chart.svg?"],
    ),
    "missing inline image": (
        [
            (
                "inline.md",
                {"title": "Inline", "date": "2024-03-01 09:00", "category": "Growth"},
                "![A graph](/images/graph.svg)",
            )
        ],
        ["content/posts/inline.md:5: the image '/images/graph.svg' is not a file of the site"],
    ),
    "missing cover": (
        [
            (
                "covered.md",
                {
                    "title": "Covered",
                    "date": "2024-03-01 09:00",
                    "category": "Growth",
                    "cover": "images/covers/firts.svg",
                },
                "",
            )
        ],
        [
            "content/posts/covered.md:4: Cover: 'images/covers/firts.svg' is not a file",
            "did you mean images/covers/first.svg?",
        ],
    ),
    "unknown link kind": (
        [
            (
                "kind.md",
                {"title": "Kind", "date": "2024-03-01 09:00", "category": "Growth"},
                "See [this]({filname}second.md).",
            )
        ],
        ["content/posts/kind.md:5", "did you mean {filename}?"],
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_fails_the_build_naming_its_file(project, tmp_path, mistake):
    files, expected = MISTAKES[mistake]
    for name, header, body in files:
        write_post(project / "content", name, body, **header)
    output = tmp_path / "output"
    with pytest.raises(BuildError) as failure:
        build(project, output)
    message = str(failure.value)
    for text in expected:
        assert text in message
    assert len(failure.value.problems) == 1, message
    assert not output.exists()  # nothing was published


@pytest.mark.parametrize(
    ("category", "overwritten"), [("All", "FEED_ALL_ATOM"), ("Comments", "COMMENTS_FEED_ATOM")]
)
def test_a_category_whose_feed_would_replace_the_sites_fails(
    project, tmp_path, category, overwritten
):
    settings = project / "pelicanconf.py"
    settings.write_text(
        settings.read_text().replace(
            'CATEGORIES = ["Growth",', f'CATEGORIES = ["{category}", "Growth",', 1
        )
    )
    header = {"title": "Feeds", "date": "2024-03-01 09:00", "category": category}
    write_post(project / "content", "feeds.md", "", **header)
    with pytest.raises(BuildError) as failure:
        build(project, tmp_path / "output")
    feed = f"feeds/{category.lower()}.atom.xml"
    assert (
        f"content/posts/feeds.md:3: category '{category}' would write its feed to {feed}, "
        f"overwriting the site's {overwritten}"
    ) in str(failure.value)
    assert len(failure.value.problems) == 1


def test_a_clean_site_builds_without_a_problem_or_a_warning(project, tmp_path, capsys):
    output = tmp_path / "output"
    build(project, output)
    assert (output / "2024" / "01" / "first-post" / "index.html").is_file()
    page = (output / "2024" / "01" / "first-post" / "index.html").read_text()
    assert 'href="/2024/02/second-post/"' in page and 'src="/images/chart.svg"' in page
    err = capsys.readouterr().err
    assert "pelican" not in err.lower()


def test_every_problem_is_reported_together_and_the_live_site_stays(project, tmp_path):
    output = tmp_path / "output"
    build(project, output)
    before = snapshot(output)
    content = project / "content"
    write_post(content, "no-date.md", title="No Date", category="Growth")
    write_post(content, "typo.md", title="Typo", date="2024-03-01 09:00", category="Netwrking")
    first = content / "posts" / "first.md"
    first.write_text(first.read_text().replace("{filename}second.md", "{filename}secnd.md"))
    with pytest.raises(BuildError) as failure:
        build(project, output)
    message = str(failure.value)
    assert message.startswith("3 problems in the content:")
    assert [p.source for p in failure.value.problems] == [
        "content/posts/first.md",
        "content/posts/no-date.md",
        "content/posts/typo.md",
    ]
    assert "did you mean 'Networking'?" in message
    assert "did you mean {filename}/posts/second.md?" in message
    assert snapshot(output) == before


def test_pelicans_warnings_are_shown_at_every_build(project, tmp_path, capsys):
    """A warning Pelican logs (and would drop the second time in this process)."""
    first = project / "content" / "posts" / "first.md"
    first.write_text(first.read_text() + "\n[Chart]({filename}/images/chart.svg)\n")
    for attempt in ("output", "again"):
        build(project, tmp_path / attempt)
        err = capsys.readouterr().err
        assert "pelican WARNING: {filename} used for linking to static content" in err
        assert "/images/chart.svg in posts/first.md" in err


def test_make_html_fails_on_a_mistake_and_writes_nothing(project, tmp_path):
    """`make html` in a small copy of the project: non-zero exit, the file named."""
    copy = project
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(
        ROOT / "comments_service",
        copy / "comments_service",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (copy / ".venv").symlink_to(ROOT / ".venv")
    env = {**os.environ, "COMMENTS_DB": str(tmp_path / "c.db")}
    # -o: never reinstall the shared .venv from this copy.
    make = ["make", "--no-print-directory", "-o", ".venv/.runtime-installed"]

    done = subprocess.run(
        [*make, "html"], cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    before = snapshot(copy / "output")

    write_post(copy / "content", "bad-date.md", title="Bad", date="2026-13-45", category="Growth")
    done = subprocess.run(
        [*make, "html"], cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert "Build failed, the live site is unchanged" in done.stderr
    assert "content/posts/bad-date.md:2: Date: '2026-13-45' is not a real date" in done.stderr
    assert "Done: Processed" not in done.stdout
    assert snapshot(copy / "output") == before

    done = subprocess.run(
        [*make, "newpost", "TITLE=Saying No", "CATEGORY=Job Serach"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "Did you mean 'Job Search'?" in done.stderr
    assert not (copy / "content" / "posts" / "saying-no.md").exists()


def test_make_publish_fails_and_the_live_release_stays(project, tmp_path, monkeypatch):
    monkeypatch.setenv("SITE_URL", ORIGIN)  # publishconf.py reads it
    root = tmp_path / "site"
    config = {
        "SITE_ROOT": str(root),
        "SITE_DIR": str(releases.live_site_dir(root)),
        "SITE_URL": ORIGIN,
        "PELICAN_SETTINGS": str(project / "publishconf.py"),
        "COMMENTS_DB": str(tmp_path / "c.db"),
    }
    live = publish.publish_release(config)
    before = snapshot(releases.live_site_dir(root))

    write_post(
        project / "content",
        "twin.md",
        title="Twin",
        date="2024-01-20 09:00",
        slug="first-post",
        category="Growth",
    )
    with pytest.raises(BuildError, match="content/posts/first.md and content/posts/twin.md"):
        publish.publish_release(config)
    assert releases.live_release(root) == live.resolve()
    assert snapshot(releases.live_site_dir(root)) == before
    assert [r.name for r in releases.releases_dir(root).iterdir()] == [live.name]


def test_the_dev_server_keeps_the_last_good_site_and_shows_the_problems(project, tmp_path, capsys):
    live = tmp_path / "live"
    app = create_app(
        {
            "SECRET_KEY": "x",
            "COMMENTS_DB": str(tmp_path / "c.db"),
            "SITE_DIR": str(live),
            "PELICAN_SETTINGS": str(project / "pelicanconf.py"),
        }
    )
    serve.show_build_failures(app)
    client = app.test_client()
    assert serve.rebuild(app)
    good = client.get("/2024/01/first-post/")
    assert b'role="alert"' not in good.data

    write_post(
        project / "content",
        "lower.md",
        title="Lower",
        date="2024-03-01 09:00",
        category="job search",
    )
    assert not serve.rebuild(app)
    err = capsys.readouterr().err
    assert "content/posts/lower.md:3: category 'job search'" in err

    # The last good page, revalidated by the browser: the whole page, with the problems.
    page = client.get("/2024/01/first-post/", headers={"If-None-Match": good.headers["ETag"]})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "First Post" in html
    assert 'role="alert"' in html and "The last build failed" in html
    assert "content/posts/lower.md:3: category &#x27;job search&#x27;" in html
    assert "Content-Security-Policy" in page.headers and "ETag" not in page.headers
    assert 'role="alert"' in client.get("/no-such-page/").get_data(as_text=True)
    css = client.get(serve.BANNER_CSS_URL)
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "build-failed" not in (live / "2024" / "01" / "first-post" / "index.html").read_text()

    (project / "content" / "posts" / "lower.md").unlink()
    assert serve.rebuild(app)
    assert b'role="alert"' not in client.get("/2024/01/first-post/").data


def test_the_warm_publisher_survives_a_failed_checked_build(project, tmp_path, capsys):
    live = tmp_path / "live"
    publisher = WarmPublisher.for_folder(project / "pelicanconf.py", live, tmp_path / "c.db")
    publisher.full_build()
    before = snapshot(live)

    broken = write_post(project / "content", "no-date.md", title="No Date", category="Growth")
    # A full build (a Popular Posts refresh, an admin's "publish everything") fails...
    with pytest.raises(BuildError, match="content/posts/no-date.md: has no Date: line"):
        publisher.full_build()
    assert snapshot(live) == before
    # ... and so does the debounced one in a child process, saying why.
    assert warm.main(publisher._arguments()) == 1
    assert "content/posts/no-date.md: has no Date: line" in capsys.readouterr().err
    assert snapshot(live) == before
    # The warm copy is intact: a decision still re-renders its post's pages.
    assert "2024/01/first-post/index.html" in publisher.publish_posts({"first-post"})
    assert publisher.last_error is None

    broken.unlink()
    publisher.full_build()
    assert (live / "2024" / "02" / "second-post" / "index.html").is_file()


def test_newpost_lists_the_categories_and_refuses_an_unknown_one(project, capsys):
    posts = project / "content" / "posts"
    settings = str(project / "pelicanconf.py")
    args = ["--posts-dir", str(posts), "--settings", settings]
    assert newpost.main([*args, "--category", "Netwrking", "Coffee chats"]) == 1
    err = capsys.readouterr().err
    assert "'Netwrking' is not one of the site's categories: Growth, Job Search, Networking" in err
    assert "Did you mean 'Networking'?" in err
    assert not (posts / "coffee-chats.md").exists()

    assert newpost.main([*args, "--category", "networking", "Coffee chats"]) == 0
    out = capsys.readouterr().out
    assert "The site's categories: Growth, Job Search, Networking" in out
    assert "Category: Networking\n" in (posts / "coffee-chats.md").read_text()

    assert newpost.main([*args, "Saying no"]) == 0
    assert "Category: Growth." in capsys.readouterr().out


def test_a_new_post_passes_the_checks(project, tmp_path):
    newpost.create_post(
        "Saying No Gracefully",
        project / "content" / "posts",
        category="Job Search",
        categories=["Growth", "Job Search", "Networking"],
    )
    build(project, tmp_path / "output")
    assert (tmp_path / "output" / "drafts" / "saying-no-gracefully" / "index.html").is_file()


def test_files_are_named_from_the_content_folder(project, tmp_path):
    """`make publish` builds a release's copy of the sources: the message names
    content/posts/x.md, the file as the author knows it, not where it was read."""
    write_post(project / "content", "no-date.md", title="No Date", category="Growth")
    with pytest.raises(BuildError) as failure:
        build(project, tmp_path / "output")
    assert str(failure.value).splitlines()[1] == "content/posts/no-date.md: has no Date: line"
