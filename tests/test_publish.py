"""Building and publishing: a failed build never touches the live site."""

import os
import subprocess
import sys

import pytest

from comments_service import config, publish
from comments_service.static_site.build import BuildError, build_site, sync_tree


def snapshot(folder):
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_a_template_error_leaves_the_live_site_as_it_was(project_copy, tmp_path):
    live = tmp_path / "live"
    build_site(project_copy / "pelicanconf.py", live)
    before = snapshot(live)
    article = project_copy / "theme" / "templates" / "article.html"
    article.write_text(article.read_text() + "{% if %}")
    with pytest.raises(BuildError):
        build_site(project_copy / "pelicanconf.py", live)
    assert snapshot(live) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".live-build-")] == []


def test_a_post_pelican_cannot_read_fails_the_build(project_copy, tmp_path):
    live = tmp_path / "live"
    build_site(project_copy / "pelicanconf.py", live)
    before = snapshot(live)
    (project_copy / "content" / "posts" / "broken.md").write_text("Title: No date\n\nBody\n")
    with pytest.raises(BuildError, match="broken.md"):
        build_site(project_copy / "pelicanconf.py", live)
    assert snapshot(live) == before


def test_a_new_post_appears_and_a_removed_one_disappears(project_copy, tmp_path):
    live = tmp_path / "live"
    build_site(project_copy / "pelicanconf.py", live)
    gone = project_copy / "content" / "posts" / "keep-a-brag-document.md"
    gone.unlink()
    (project_copy / "content" / "posts" / "fresh.md").write_text(
        "Title: A Fresh Post\nDate: 2025-01-10 08:00\nCategory: Growth\n\nHello.\n"
    )
    build_site(project_copy / "pelicanconf.py", live)
    assert (live / "2025" / "01" / "a-fresh-post" / "index.html").is_file()
    assert not (live / "2023" / "03" / "keep-a-brag-document").exists()
    assert "A Fresh Post" in (live / "index.html").read_text()


def test_sync_replaces_changed_files_only_and_removes_stale_ones(tmp_path):
    source, target = tmp_path / "staging", tmp_path / "live"
    (source / "a").mkdir(parents=True)
    (source / "a" / "same.html").write_text("same")
    (source / "changed.html").write_text("new")
    (target / "a").mkdir(parents=True)
    (target / "a" / "same.html").write_text("same")
    (target / "changed.html").write_text("old")
    (target / "old" / "deep").mkdir(parents=True)
    (target / "old" / "deep" / "stale.html").write_text("stale")
    os.utime(target / "a" / "same.html", (1, 1))

    sync_tree(source, target)

    assert snapshot(target) == {"a/same.html": b"same", "changed.html": b"new"}
    assert (target / "a" / "same.html").stat().st_mtime == 1, "unchanged files are not rewritten"
    assert not (target / "old").exists()


def test_make_publish_refuses_to_build_without_site_url(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BLOG_ENV", "production")
    monkeypatch.setenv("SITE_ROOT", str(tmp_path / "site"))
    monkeypatch.delenv("SITE_URL", raising=False)
    assert publish.main([]) == 2
    assert capsys.readouterr().err.strip().startswith("SITE_URL is not set")
    assert not (tmp_path / "site").exists()


def test_publish_command_reports_a_failed_build(project_copy, monkeypatch, tmp_path, capsys):
    (project_copy / "theme" / "templates" / "index.html").write_text("{% block %}")
    monkeypatch.setattr(config, "PROJECT_ROOT", project_copy)
    monkeypatch.setenv("COMMENTS_DB", str(tmp_path / "c.db"))
    assert publish.main([]) == 1
    assert "Build failed, the live site is unchanged" in capsys.readouterr().err
    assert not (project_copy / "output").exists()


def test_the_build_time_package_never_imports_flask():
    """comments_service/static_site/ runs inside Pelican and in `make publish`."""
    code = (
        "import sys, pkgutil, importlib, comments_service.static_site as p\n"
        "for m in pkgutil.iter_modules(p.__path__):\n"
        "    importlib.import_module(f'{p.__name__}.{m.name}')\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('flask', 'werkzeug')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
