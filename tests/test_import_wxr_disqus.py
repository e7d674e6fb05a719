"""Imports for authors who migrate: WordPress (WXR) and Disqus exports into comments.

The exports are files of our own making in the formats' documented structure
(tests/fixtures/imports/): wordpress.xml as WordPress core's exporter writes
it, disqus.xml as Disqus documents its export.
"""

import json
import tracemalloc
from pathlib import Path

import pytest

from comments_service import create_app, db, foreign_exports, imports
from support import MENTOR_SLUG, MENTOR_URL

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
WORDPRESS = FIXTURES / "wordpress.xml"
DISQUS = FIXTURES / "disqus.xml"
BRAG_SLUG = "keep-a-brag-document"
CLOSED_SLUG = "answer-tell-me-about-yourself"  # its comments are closed


def run_import(runner, path, *options):
    result = runner.invoke(args=["comments", "import", str(path), *options])
    assert "Traceback" not in result.output
    return result


def by_import_id(database):
    return {row["import_id"]: row for row in database["comments"].rows}


def test_a_wordpress_export_maps_threads_dates_statuses_names_and_websites(
    runner, database, live_site
):
    result = run_import(runner, WORDPRESS)
    assert result.exit_code == 0, result.output
    assert "7 comments imported, 7 refused." in result.output
    rows = by_import_id(database)
    assert set(rows) == {"101", "102", "103", "104", "105", "106", "201"}
    assert {key: row["status"] for key, row in rows.items()} == {
        "101": "approved",
        "102": "approved",
        "103": "approved",
        "104": "pending",
        "105": "spam",
        "106": "trash",
        "201": "approved",
    }
    ada = rows["101"]
    assert ada["post_slug"] == MENTOR_SLUG  # by <wp:post_name>: the old link's path differs
    assert rows["201"]["post_slug"] == BRAG_SLUG  # by the URL path of <link>
    assert ada["author_name"] == "Ada Lovelace"
    assert ada["email"] == "ada@example.com"
    assert ada["website"] == "https://ada.example/"
    assert ada["created_at"] == "2022-12-07T10:15:00+00:00"  # wp:comment_date_gmt, as db.now()
    assert ada["import_source"] == "wordpress https://old-blog.example"
    assert ada["body"] == (
        "Thank you for this!\n\nIt **really** helped: see [my notes](https://ada.example/notes)."
    )
    # New ids; a reply keeps its parent, a reply to a reply its top-level ancestor.
    assert ada["id"] not in (101, 102, 103)
    assert rows["102"]["parent_id"] == ada["id"]
    assert rows["103"]["parent_id"] == ada["id"]
    assert rows["102"]["website"] == ""  # javascript: dropped, as imports always did
    assert rows["102"]["body"] == "Agreed.  \nThe second line of my reply."
    assert rows["103"]["author_name"] == "Anonymous"  # what WordPress showed for no name
    assert rows["104"]["decided_at"] is None and ada["decided_by"] == "console import"
    assert all(row["ip_hash"] is None for row in rows.values())
    dump = "\n".join(database.conn.iterdump())
    assert "203.0.113." not in dump, "no IP address is stored"
    assert [d["action"] for d in db.decisions_for(database, ada["id"])] == ["imported"]


def test_refused_wordpress_comments_are_reported_with_their_reasons(runner, database, live_site):
    output = run_import(runner, WORDPRESS).output
    for line in [
        "Refused WordPress comment 107: a pingback, not a comment",
        "Refused WordPress comment 108: invalid email 'not-an-email'",
        "Refused WordPress comment 109: replies to WordPress comment 108, which was refused",
        "Refused WordPress comment 110: an empty comment",
        "Refused WordPress comment 111: a comment is between 2 and 5,000 characters",
        "Refused WordPress comment 301: no post here matches "
        "link 'https://old-blog.example/2021/05/02/a-post-that-did-not-move/' "
        "or slug 'a-post-that-did-not-move'",
        f"Refused WordPress comment 401: approved, but comments on '{CLOSED_SLUG}' are closed",
    ]:
        assert line in output
    assert output.count("Refused ") == 7


def test_a_disqus_export_maps_threads_dates_statuses_and_names(runner, database, live_site):
    result = run_import(runner, DISQUS)
    assert result.exit_code == 0, result.output
    assert "9 comments imported, 4 refused." in result.output
    rows = by_import_id(database)
    assert set(rows) == {"5001", "5002", "5003", "5004", "5006", "5007", "5011", "5012", "5013"}
    linus = rows["5001"]
    assert linus["post_slug"] == MENTOR_SLUG  # by the URL path of the thread's <link>
    assert rows["5007"]["post_slug"] == BRAG_SLUG  # by the thread's <id>
    assert linus["author_name"] == "Linus Reader" and linus["email"] == "linus@example.com"
    assert linus["created_at"] == "2023-01-02T03:04:05+00:00"
    assert linus["import_source"] == "disqus"
    assert linus["body"] == (
        "Great advice on mentors.\n\nI wrote up [what worked for me](https://linus.example/mentors)."
    )
    assert rows["5002"]["parent_id"] == linus["id"]
    assert rows["5002"]["email"] == ""  # a guest left none
    assert rows["5003"]["parent_id"] == linus["id"]  # a reply to a reply: to its top
    assert rows["5004"]["status"] == "spam"
    # The deleted comment is not imported; the answer to it takes its place.
    assert rows["5006"]["parent_id"] is None
    assert rows["5011"]["body"] == "Please click here now."  # no javascript: link, no script
    assert rows["5012"]["parent_id"] == rows["5013"]["id"]  # its parent came later in the file
    output = result.output
    for line in [
        "Refused Disqus comment 5005: deleted on Disqus: not imported",
        "Refused Disqus comment 5008: no post here matches "
        "link 'https://old-blog.example/2021/05/a-post-that-did-not-move/'",
        "Refused Disqus comment 5009: invalid email 'reader at example dot com'",
        "Refused Disqus comment 5010: an empty comment",
    ]:
        assert line in output


@pytest.mark.parametrize(("export", "imported", "refused"), [(WORDPRESS, 7, 7), (DISQUS, 9, 4)])
def test_running_an_import_again_skips_every_comment(runner, database, export, imported, refused):
    assert run_import(runner, export).exit_code == 0
    before = list(database["comments"].rows)
    again = run_import(runner, export)
    assert again.exit_code == 0, again.output
    assert (
        f"0 comments imported, {refused} refused, {imported} skipped (already imported)."
        in again.output
    )
    assert list(database["comments"].rows) == before


def test_a_reply_refused_with_its_parent_comes_in_once_the_parent_is_fixed(
    runner, database, tmp_path
):
    run_import(runner, WORDPRESS)
    fixed = tmp_path / "wordpress-fixed.xml"
    fixed.write_text(WORDPRESS.read_text().replace("not-an-email", "typo@example.com"))
    result = run_import(runner, fixed)
    assert "2 comments imported, 5 refused, 7 skipped (already imported)." in result.output
    rows = by_import_id(database)
    assert rows["109"]["parent_id"] == rows["108"]["id"]


@pytest.mark.parametrize("export", [WORDPRESS, DISQUS])
def test_a_dry_run_reports_and_writes_nothing(runner, database, live_site, export):
    page_before = live_site.text(MENTOR_URL)
    result = run_import(runner, export, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run, nothing written: " in result.output
    assert "would be imported" in result.output and "Refused " in result.output
    assert database["comments"].count == 0 and database["decisions"].count == 0
    assert live_site.text(MENTOR_URL) == page_before


def test_imported_approved_comments_appear_on_the_built_post_page(runner, live_site):
    assert "Ada Lovelace" not in live_site.text(MENTOR_URL)
    assert run_import(runner, WORDPRESS).exit_code == 0
    page = live_site.page(MENTOR_URL)
    comments = page.select(".comment-list > .comment")
    assert [c.select_one(".comment-author").get_text() for c in comments] == ["Ada Lovelace"]
    ada = comments[0]
    assert ada.select_one(".comment-author a")["href"] == "https://ada.example/"
    assert ada.select_one(".comment-body a")["href"] == "https://ada.example/notes"
    assert ada.select_one(".comment-body strong").get_text() == "really"
    replies = [r.select_one(".comment-author").get_text() for r in ada.select(".replies .comment")]
    assert replies == ["Grace Hopper", "Anonymous"]
    assert ada.select_one("time")["datetime"] == "2022-12-07T10:15:00+00:00"
    text = page.get_text()
    assert "3 Comments" in text
    for hidden in ("Still waiting for approval", "cheap watches", "put in the trash"):
        assert hidden not in text
    assert "I keep mine in a plain text file" in live_site.text(f"/2023/03/{BRAG_SLUG}/")


@pytest.mark.parametrize("name", ["billion-laughs.xml", "external-entity.xml"])
def test_hostile_xml_is_refused_in_one_readable_line(runner, database, name):
    result = run_import(runner, FIXTURES / name)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: Nothing imported: the file has a document type declaration (<!DOCTYPE>), "
        "which no WordPress or Disqus export has; refused, as it can define entities that "
        "expand without end or read other files"
    ]
    assert database["comments"].count == 0


def test_a_file_malformed_half_way_is_refused_before_anything_is_written(
    runner, database, tmp_path
):
    text = WORDPRESS.read_text()
    broken = tmp_path / "broken.xml"
    # Cut inside the second post: the first one's comments were well-formed.
    broken.write_text(text[: text.index("<wp:comment_id>201")])
    result = run_import(runner, broken)
    assert result.exit_code == 1
    assert "Error: Nothing imported: the file is not well-formed XML (no element found: line" in (
        result.output
    )
    assert database["comments"].count == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<html><body>Not an export</body></html>", "not a WordPress (WXR) or Disqus export"),
        ("<rss version='2.0'><channel></channel></rss>", "the file has no comments"),
        ("<rss><channel><item><title>&nbsp;</title></item></channel></rss>", "undefined entity"),
    ],
)
def test_files_that_are_no_export_are_refused_readably(runner, tmp_path, content, message):
    path = tmp_path / "file.xml"
    path.write_text(content)
    result = run_import(runner, path)
    assert result.exit_code == 1 and "Error: Nothing imported: " in result.output
    assert message in result.output


def test_an_import_that_races_another_keeps_one_copy(app, database):
    """Two imports at once: the unique index, not the earlier look-up, decides."""
    row = {
        "post_slug": MENTOR_SLUG,
        "author_name": "Ada",
        "email": "",
        "website": "",
        "body": "Imported twice at once.",
        "status": "approved",
        "created_at": "2023-01-01T00:00:00+00:00",
        "import_source": "disqus",
        "import_id": "77",
        "reason": "imported from Disqus",
    }
    [(first, inserted)] = db.add_imported_comments(database, [row])
    assert inserted
    assert db.add_imported_comments(database, [row]) == [(first, False)]
    assert database["comments"].count == 1


def test_reading_a_huge_export_keeps_memory_bounded(tmp_path):
    """Many comments, and one with 8 MB of text: read in chunks, each field cut."""
    comment = (
        "<wp:comment><wp:comment_id>{n}</wp:comment_id>"
        "<wp:comment_author>Reader {n}</wp:comment_author>"
        "<wp:comment_date_gmt>2023-01-01 00:00:00</wp:comment_date_gmt>"
        "<wp:comment_content>{text}</wp:comment_content>"
        "<wp:comment_approved>1</wp:comment_approved><wp:comment_parent>0</wp:comment_parent>"
        "</wp:comment>"
    )
    path = tmp_path / "huge.xml"
    with path.open("w") as out:
        out.write('<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><item>')
        out.write(f"<wp:post_name>{MENTOR_SLUG}</wp:post_name>")
        out.write(comment.format(n=0, text="x" * 8_000_000))
        for n in range(1, 2_001):
            out.write(comment.format(n=n, text="A comment of a few words."))
        out.write("</item></channel></rss>")
    tracemalloc.start()
    try:
        with path.open("rb") as f:
            comments = foreign_exports.comments_in(f)
            first = next(comments)
            count = 1 + sum(1 for _ in comments)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 2_001
    with pytest.raises(ValueError, match="longer than 20,000 characters even as HTML"):
        first.markdown()
    assert peak < 2_000_000, f"peak {peak:,} bytes for a {path.stat().st_size:,}-byte file"


def test_html_becomes_the_markdown_subset_we_render():
    convert = foreign_exports.html_to_markdown
    assert convert("<p>One</p><p>Two <em>words</em></p>") == "One\n\nTwo *words*"
    assert convert('<a href="https://ok.example/">ok</a>') == "[ok](https://ok.example/)"
    assert convert('<a href="data:text/html,x">no</a> <img src=x alt=y>') == "no"
    assert convert("<h2>Title</h2><div>Text</div><script>alert(1)</script>") == "Title\n\nText"
    assert convert("2*3*4 and snake_case") == r"2\*3\*4 and snake\_case"
    assert convert("https://example.com") == "https://example.com"  # no bs4 warning either


def test_a_copy_of_an_export_with_an_unexpected_nesting_is_refused(runner, tmp_path):
    deep = tmp_path / "deep.xml"
    deep.write_text("<rss>" + "<x>" * 100 + "</x>" * 100 + "</rss>")
    result = run_import(runner, deep)
    assert result.exit_code == 1 and "nested more than 64 deep" in result.output


def test_our_json_export_goes_through_the_same_row_check(runner, database, tmp_path):
    """One row check for every format: a JSON row is refused as a WordPress one is."""
    row = {
        "id": 7,
        "post_slug": MENTOR_SLUG,
        "author_name": "Ada",
        "email": "ada@example.com",
        "body": "x" * 5001,
        "status": "approved",
        "created_at": "2023-01-01T01:00:00+01:00",
    }
    export = tmp_path / "comments.json"
    export.write_text(json.dumps({"comments": [row, {**row, "id": 8, "body": "Kept."}]}))
    dry = run_import(runner, export, "--dry-run")
    assert "Refused comment 1: a comment is between 2 and 5,000 characters" in dry.output
    assert "Dry run, nothing written: 1 comment would be imported, 1 refused." in dry.output
    assert database["comments"].count == 0
    assert run_import(runner, export).exit_code == 0
    [stored] = database["comments"].rows
    assert stored["id"] == 8 and stored["created_at"] == "2023-01-01T00:00:00+00:00"


def test_html_nested_too_deeply_is_refused_not_a_crash():
    comment = foreign_exports.ForeignComment(
        system="Disqus", source="disqus", source_id="1", thread=foreign_exports.Thread()
    )
    comment.html = "<b>" * 4000 + "deep"  # 12,000 characters, 4,000 deep
    with pytest.raises(ValueError, match="its HTML is nested too deeply"):
        comment.markdown()
    comment.html = "<p>Fine again.</p>"
    assert comment.markdown() == "Fine again."


def disqus_export(*posts):
    """A small Disqus export of one thread (MENTOR's) and ``posts``: (id, parent id)."""
    items = "".join(
        f'<post dsq:id="{post_id}"><message>Comment {post_id}.</message>'
        "<createdAt>2023-01-02T03:04:05Z</createdAt>"
        "<isDeleted>false</isDeleted><isSpam>false</isSpam>"
        f"<author><name>Reader {post_id}</name><email/></author>"
        '<thread dsq:id="1"/>' + (f'<parent dsq:id="{parent}"/>' if parent else "") + "</post>"
        for post_id, parent in posts
    )
    return (
        '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
        f'<thread dsq:id="1"><id/><link>https://old.example{MENTOR_URL}</link></thread>'
        f"{items}</disqus>"
    )


def test_replies_whose_parents_are_in_no_file_or_in_a_loop_are_refused(runner, tmp_path):
    path = tmp_path / "disqus.xml"
    path.write_text(disqus_export((1, None), (2, 99), (3, 2), (4, 5), (5, 4)))
    output = run_import(runner, path).output
    assert "1 comment imported, 4 refused." in output
    assert "Refused Disqus comment 2: it replies to 99, not in the file" in output
    assert "Refused Disqus comment 3: replies to Disqus comment 2, which was refused" in output
    assert "its parents go round in a loop" in output


def test_an_export_split_in_two_files_keeps_its_replies_in_place(runner, database, tmp_path):
    first, second = tmp_path / "first.xml", tmp_path / "second.xml"
    first.write_text(disqus_export((1, None)))
    second.write_text(disqus_export((2, 1)))
    run_import(runner, first)
    assert "1 comment imported." in run_import(runner, second).output
    rows = by_import_id(database)
    assert rows["2"]["parent_id"] == rows["1"]["id"]


def test_an_import_before_the_site_is_built_says_so(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "COMMENTS_DB": str(tmp_path / "comments.db"),
            "SITE_DIR": str(tmp_path / "no-site-yet"),
        }
    )
    result = run_import(app.test_cli_runner(), WORDPRESS)
    assert result.exit_code == 1
    assert "Nothing imported: the site has no posts yet" in result.output


def test_an_import_stopped_half_way_is_finished_by_running_it_again(runner, database, monkeypatch):
    """Batches are committed one by one: a full disk keeps what was written."""
    monkeypatch.setattr(imports, "BATCH", 3)
    write = db.add_imported_comments
    calls = []

    def full_disk_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise db.DiskFull("database or disk is full")
        return write(*args, **kwargs)

    monkeypatch.setattr(db, "add_imported_comments", full_disk_on_the_second_batch)
    stopped = run_import(runner, DISQUS)
    assert stopped.exit_code == 1
    assert "Error: Import stopped: database or disk is full. 3 comments imported, " in (
        stopped.output
    )
    assert "Run it again to add the rest." in stopped.output
    assert database["comments"].count == 3
    monkeypatch.setattr(db, "add_imported_comments", write)
    again = run_import(runner, DISQUS)
    assert "6 comments imported, 4 refused, 3 skipped (already imported)." in again.output
    assert database["comments"].count == 9
