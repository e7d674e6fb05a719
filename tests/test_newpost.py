"""`make newpost`: a dated draft skeleton that never overwrites a post."""

from datetime import datetime

import pytest

from comments_service import newpost
from comments_service.static_site.build import build_site


def test_newpost_creates_a_dated_draft_skeleton(tmp_path):
    path = newpost.create_post(
        "How to meet potential mentors", tmp_path, now=datetime(2026, 11, 27, 9, 30)
    )
    assert path == tmp_path / "how-to-meet-potential-mentors.md"
    text = path.read_text()
    assert text.startswith("Title: How to meet potential mentors\nDate: 2026-11-27 09:30\n")
    assert "Status: draft\n" in text


def test_newpost_refuses_to_overwrite(tmp_path, capsys):
    args = ["How to meet potential mentors", "--posts-dir", str(tmp_path)]
    assert newpost.main(args) == 0
    (tmp_path / "how-to-meet-potential-mentors.md").write_text("my words")
    assert newpost.main(args) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "how-to-meet-potential-mentors.md").read_text() == "my words"


@pytest.mark.parametrize("title", ["", "   ", "!!!"])
def test_newpost_rejects_a_title_without_words(tmp_path, title):
    with pytest.raises(ValueError):
        newpost.create_post(title, tmp_path)


def test_the_skeleton_builds_as_an_unlisted_draft(project_copy, tmp_path):
    newpost.create_post("Saying No Gracefully", project_copy / "content" / "posts")
    live = tmp_path / "live"
    build_site(project_copy / "pelicanconf.py", live)
    assert (live / "drafts" / "saying-no-gracefully" / "index.html").is_file()
    assert "Saying No Gracefully" not in (live / "index.html").read_text()
