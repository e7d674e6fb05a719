"""The live preview re-renders only what an edit changes, and leaves the site a
full build of the same sources would: every file, byte for byte, none more,
none fewer. Edits it does not re-render fall back to a full build."""

import pytest
from watchfiles import Change

from comments_service import db, publish
from comments_service.static_site.build import BuildError, build_site
from comments_service.static_site.warm import WarmPublisher
from preview_site import (
    NEWEST,
    OLD,
    POSTS,
    edit_post,
    post_header,
    post_path,
    write_post,
    write_project,
)


@pytest.fixture
def preview(tmp_path):
    """The small project, built warm into tmp_path/live as `make serve` does."""
    project = write_project(tmp_path / "project")
    config = {
        "PELICAN_SETTINGS": str(project / "pelicanconf.py"),
        "SITE_DIR": str(tmp_path / "live"),
        "SITE_ROOT": None,
        "COMMENTS_DB": str(tmp_path / "comments.db"),
    }
    publish.publish_site(config)
    return Preview(project, config, tmp_path)


class Preview:
    def __init__(self, project, config, tmp_path):
        self.project, self.config, self.tmp_path = project, config, tmp_path
        self.live = tmp_path / "live"

    def save(self, *paths, change=Change.modified):
        """What the watcher does after the author saved ``paths``: the paths
        written (None: it was a full build)."""
        return publish.publish_changes(self.config, {(change, str(p)) for p in paths})

    def full_build(self, name="fresh"):
        """A fresh full build of the project as it is now, into another folder."""
        output = self.tmp_path / name
        build_site(
            self.project / "pelicanconf.py",
            output,
            {"COMMENTS": {"DB": self.config["COMMENTS_DB"]}},
        )
        return snapshot(output)

    def page(self, path):
        return (self.live / path).read_text(encoding="utf-8")


def snapshot(folder):
    """Every file of a built site ({relative path: bytes}) and its folders."""
    files = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
    folders = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_dir()}
    return files, folders


def assert_same_site(live, fresh):
    (live_files, live_folders), (fresh_files, fresh_folders) = live, fresh
    assert sorted(live_files.keys() - fresh_files.keys()) == [], "files a full build has not"
    assert sorted(fresh_files.keys() - live_files.keys()) == [], "files missing"
    assert [name for name in fresh_files if live_files[name] != fresh_files[name]] == []
    assert live_folders == fresh_folders


POST_PAGE = f"2024/01/post-{OLD}/index.html"

# Each edit: what it does to the project, and whether the preview re-renders
# it (True) or falls back to a full build (False).
EDITS = {
    "body": (lambda p: edit_post(p, OLD, body="A new first paragraph.\n"), True),
    "title": (lambda p: edit_post(p, OLD, title="A better title"), True),
    "summary": (lambda p: edit_post(p, OLD, summary="A sharper summary."), True),
    "a new tag": (lambda p: edit_post(p, OLD, tags="resume, brand new tag"), True),
    "its own tag dropped": (lambda p: edit_post(p, OLD, tags="mentors"), True),
    "date in its month": (lambda p: edit_post(p, OLD, date="2024-01-30 18:00"), True),
    "modified date": (lambda p: edit_post(p, OLD, modified="2024-06-01 10:00"), True),
    "comments closed": (lambda p: edit_post(p, OLD, comments="closed"), True),
    "cover added": (
        lambda p: edit_post(p, OLD, cover="images/covers/five.svg", cover_alt="Square"),
        True,
    ),
    "an image of the site": (
        lambda p: edit_post(p, OLD, body="See ![A chart]({static}/images/chart.svg).\n"),
        True,
    ),
    "draft edited": (
        lambda p: write_post(
            p / "content",
            "draft.md",
            {
                "Title": "A draft, further on",
                "Date": "2024-03-30 09:00",
                "Category": "Networking",
                "Slug": "a-draft",
                "Status": "draft",
            },
            "Nearly finished.\n",
        ),
        True,
    ),
    "new draft": (
        lambda p: write_post(
            p / "content",
            "new-draft.md",
            {"Title": "Fresh", "Date": "2024-04-02 08:00", "Category": "Growth", "Status": "draft"},
            "Just started.\n",
        ),
        True,
    ),
    "title of a Popular Post": (lambda p: edit_post(p, NEWEST, title="Now on every page"), False),
    "date in another month": (lambda p: edit_post(p, OLD, date="2024-02-20 09:00"), False),
    "category": (lambda p: edit_post(p, OLD, category="Networking"), False),
    "featured": (lambda p: edit_post(p, OLD, featured="yes"), False),
    "slug": (lambda p: edit_post(p, OLD, slug="post-three"), False),
    "draft published": (
        lambda p: write_post(
            p / "content",
            "draft.md",
            {
                "Title": "A draft",
                "Date": "2024-03-30 09:00",
                "Category": "Growth",
                "Slug": "a-draft",
            },
            "Finished.\n",
        ),
        False,
    ),
    "new post": (
        lambda p: write_post(
            p / "content",
            "new.md",
            {"Title": "Brand new", "Date": "2024-04-01 08:00", "Category": "Growth"},
            "Hello.\n",
        ),
        False,
    ),
}


@pytest.mark.parametrize("kind", EDITS)
def test_after_each_edit_the_site_is_what_a_full_build_writes(preview, kind):
    edit, previewed = EDITS[kind]
    path = edit(preview.project)
    written = preview.save(path)
    assert (written is not None) == previewed, "re-rendered" if previewed else "full build"
    assert_same_site(snapshot(preview.live), preview.full_build())


def test_a_body_edit_rewrites_only_the_files_that_show_the_body(preview):
    edit_post(preview.project, OLD, body="A new first paragraph.\n")
    written = preview.save(post_path(preview.project, OLD))
    # The Atom feeds carry whole posts; the listings show titles and summaries.
    assert sorted(written) == sorted(
        [POST_PAGE, "feeds/all.atom.xml", f"feeds/{category_slug(OLD)}.atom.xml"]
    )
    assert "A new first paragraph." in preview.page(POST_PAGE)


def category_slug(number):
    return post_header(number)["Category"].lower().replace(" ", "-")


def tag_slugs(number):
    return [tag.replace(" ", "-") for tag in post_header(number)["Tags"].split(", ")]


def test_a_title_edit_rewrites_the_pages_listing_the_post(preview):
    edit_post(preview.project, OLD, title="A better title")
    written = set(preview.save(post_path(preview.project, OLD)))
    home_page = f"page/{(POSTS - OLD) // 5 + 1}/index.html"  # newest first, 5 a page
    assert written == {
        POST_PAGE,
        home_page,
        "2024/01/index.html",
        f"category/{category_slug(OLD)}/index.html",
        *(f"tag/{tag}/index.html" for tag in tag_slugs(OLD)),
        "archives/index.html",
        "post-registry.json",
        "feeds/all.atom.xml",
        "feeds/all.rss.xml",
        f"feeds/{category_slug(OLD)}.atom.xml",
    }
    assert "A better title" in preview.page(home_page)


def test_a_tag_no_post_has_any_more_loses_its_page(preview):
    assert (preview.live / "tag/only-three/index.html").is_file()
    edit_post(preview.project, OLD, tags="mentors")
    written = preview.save(post_path(preview.project, OLD))
    assert "tag/only-three/index.html" in written
    assert not (preview.live / "tag/only-three").exists()


def test_saving_files_no_build_reads_publishes_nothing(preview):
    before = snapshot(preview.live)
    swap = preview.project / "content" / "posts" / "4913"
    swap.write_text("")
    assert preview.save(swap) == []
    assert snapshot(preview.live) == before


def test_a_template_change_is_a_full_build(preview):
    base = preview.project / "theme" / "templates" / "base.html"
    base.write_text(base.read_text().replace("All posts</a>", "Every post</a>"))
    assert preview.save(base) is None
    assert "Every post</a>" in preview.page("about/index.html")


def test_a_deleted_post_is_a_full_build(preview):
    path = post_path(preview.project, OLD)
    path.unlink()
    assert preview.save(path, change=Change.deleted) is None
    assert not (preview.live / POST_PAGE).exists()
    assert_same_site(snapshot(preview.live), preview.full_build())


@pytest.mark.parametrize(
    "mistake",
    [
        "See [the other post]({filename}no-such-post.md).\n",
        "A picture: ![Chart](/images/no-such-chart.svg)\n",
    ],
)
def test_a_mistake_in_the_edit_fails_as_the_full_build_fails(preview, mistake):
    before = snapshot(preview.live)
    edit_post(preview.project, OLD, body=mistake)
    with pytest.raises(BuildError) as previewed:
        preview.save(post_path(preview.project, OLD))
    assert snapshot(preview.live) == before, "nothing of a failed edit is published"
    with pytest.raises(BuildError) as full:
        preview.full_build()
    assert str(previewed.value) == str(full.value)
    assert "content/posts/post-3.md" in str(previewed.value)

    edit_post(preview.project, OLD, body="Fixed.\n")
    assert preview.save(post_path(preview.project, OLD)) is not None, "re-rendered"
    assert_same_site(snapshot(preview.live), preview.full_build("fixed"))


def test_a_new_draft_with_a_posts_slug_fails_as_the_full_build_fails(preview):
    header = {"Title": "Copy", "Date": "2024-04-02 08:00", "Category": "Growth"}
    header.update({"Slug": "post-4", "Status": "draft"})
    draft = write_post(preview.project / "content", "copy.md", header, "A copy.\n")
    with pytest.raises(BuildError) as previewed:
        preview.save(draft)
    with pytest.raises(BuildError) as full:
        preview.full_build()
    assert str(previewed.value) == str(full.value)
    assert "the slug 'post-4' is used by 2 posts" in str(previewed.value)


def test_an_impossible_date_fails_as_the_full_build_fails(preview):
    edit_post(preview.project, OLD, date="2024-02-30 09:00")
    with pytest.raises(BuildError) as previewed:
        preview.save(post_path(preview.project, OLD))
    with pytest.raises(BuildError) as full:
        preview.full_build()
    assert str(previewed.value) == str(full.value)
    assert "not a real date" in str(previewed.value)


def test_several_edits_in_a_row_stay_a_full_build(preview):
    """The preview keeps the site in memory from edit to edit: after many, it
    still equals a fresh build."""
    for number, title in [(OLD, "One"), (4, "Two"), (OLD, "Three"), (2, "Four")]:
        edit_post(preview.project, number, title=title, tags="salary, habits")
        assert preview.save(post_path(preview.project, number)) is not None
    assert_same_site(snapshot(preview.live), preview.full_build())


def approve_comment(db_path, slug, body):
    database = db.connect(db_path)
    try:
        comment_id = db.add_pending_comment(
            database, post_slug=slug, author_name="Reader", body=body
        )
        db.set_status(database, [comment_id], "approved", by="test", reason="approved")
    finally:
        database.close()


def test_a_decision_after_an_edit_keeps_the_edit(preview):
    """`make serve` also takes comments: a decision re-renders the edited post
    from the same warm build, so it shows the edit and the comment."""
    edit_post(preview.project, OLD, body="Edited before the comment.\n")
    assert preview.save(post_path(preview.project, OLD)) is not None
    approve_comment(preview.config["COMMENTS_DB"], f"post-{OLD}", "Approved after the edit")
    publish.publish_site(preview.config, changed_posts={f"post-{OLD}"})
    page = preview.page(POST_PAGE)
    assert "Edited before the comment." in page and "Approved after the edit" in page
    assert snapshot(preview.live)[0][POST_PAGE] == preview.full_build()[0][POST_PAGE]


def test_another_process_does_not_undo_an_edit(preview):
    """Another process's warm build (the console approving a comment) is out of
    date after an edit: its decision rebuilds instead of putting the old post back."""
    other = WarmPublisher.for_folder(
        preview.project / "pelicanconf.py", preview.live, preview.config["COMMENTS_DB"]
    )
    other.full_build()
    edit_post(preview.project, OLD, body="Edited while another process was warm.\n")
    assert preview.save(post_path(preview.project, OLD)) is not None
    approve_comment(preview.config["COMMENTS_DB"], f"post-{OLD}", "Approved elsewhere")
    other.publish_posts({f"post-{OLD}"})
    page = preview.page(POST_PAGE)
    assert "Edited while another process was warm." in page and "Approved elsewhere" in page
    other.cancel_pending()
