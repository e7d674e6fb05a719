"""The built site to an S3-compatible bucket, against a local S3 server (moto's)."""

import uuid

import boto3
import pytest

from comments_service import db, object_store
from comments_service.object_store import ObjectStoreError, push_pages, upload_site
from support import MENTOR_URL, submit_comment

FINGERPRINTED_CSS = "theme/css/extra.0123abcd.css"  # ours: independent of the theme's names


@pytest.fixture
def bucket(s3_endpoint, monkeypatch, tmp_path):
    """A new bucket, named to the service as production would: by environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "S3_BUCKET": f"site-{uuid.uuid4().hex[:12]}",
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_PREFIX": "/blog/",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = object_store.bucket_from_env()
    s3_client(bucket).create_bucket(Bucket=bucket.name)
    return bucket


def s3_client(bucket):
    return boto3.client("s3", endpoint_url=bucket.endpoint_url)


class Recorder:
    """A client that notes the keys of every PutObject and DeleteObjects it sends."""

    def __init__(self, bucket):
        self.client = s3_client(bucket)
        self.put, self.deleted = [], []
        events = self.client.meta.events
        events.register("provide-client-params.s3.PutObject", self._on_put)
        events.register("provide-client-params.s3.DeleteObjects", self._on_delete)

    def _on_put(self, params, **kwargs):
        self.put.append(params["Key"])

    def _on_delete(self, params, **kwargs):
        self.deleted += [item["Key"] for item in params["Delete"]["Objects"]]


def keys_in(bucket):
    pages = s3_client(bucket).get_paginator("list_objects_v2").paginate(Bucket=bucket.name)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def head(bucket, relative):
    return s3_client(bucket).head_object(Bucket=bucket.name, Key=f"blog/{relative}")


def body(bucket, relative):
    return s3_client(bucket).get_object(Bucket=bucket.name, Key=f"blog/{relative}")["Body"].read()


@pytest.fixture
def site_dir(live_site):
    """The built sample site, plus a fingerprinted asset and a file nobody may see."""
    (live_site.path / FINGERPRINTED_CSS).write_text("body { color: #222 }\n")
    (live_site.path / ".publish-notes").write_text("private")
    return live_site.path


def public_files(site_dir):
    """Every file of the site but the private one (.well-known/ is public)."""
    files = {p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*") if p.is_file()}
    assert ".well-known/gpc.json" in files
    return files - {".publish-notes"}


EXPECTED_HEADERS = [
    ("index.html", "text/html; charset=utf-8", "no-cache"),
    (
        "2022/12/meet-mentors-through-informational-interviews/index.html",
        "text/html; charset=utf-8",
        "no-cache",
    ),
    ("feeds/all.atom.xml", "application/atom+xml; charset=utf-8", "no-cache"),
    ("feeds/all.rss.xml", "application/rss+xml; charset=utf-8", "no-cache"),
    ("sitemap.xml", "application/xml; charset=utf-8", "no-cache"),
    ("robots.txt", "text/plain; charset=utf-8", "no-cache"),
    ("theme/css/site.css", "text/css; charset=utf-8", "no-cache"),
    ("theme/js/comments.js", "text/javascript; charset=utf-8", "no-cache"),
    (".well-known/gpc.json", "application/json; charset=utf-8", "no-cache"),
    (FINGERPRINTED_CSS, "text/css; charset=utf-8", "public, max-age=31536000, immutable"),
]


def test_the_first_upload_sends_every_public_file_with_its_type_and_cache_policy(site_dir, bucket):
    recorder = Recorder(bucket)
    report = upload_site(site_dir, bucket, recorder.client)

    expected = public_files(site_dir)
    assert keys_in(bucket) == {f"blog/{relative}" for relative in expected}
    assert sorted(report.uploaded) == sorted(expected) and report.deleted == []
    assert "blog/.publish-notes" not in keys_in(bucket)
    for relative, content_type, cache_control in EXPECTED_HEADERS:
        answer = head(bucket, relative)
        assert (answer["ContentType"], answer["CacheControl"]) == (content_type, cache_control)
        assert body(bucket, relative) == (site_dir / relative).read_bytes()
    for relative in expected:  # the theme's own fingerprinted assets too
        fingerprinted = object_store.FINGERPRINTED.search(relative)
        policy = head(bucket, relative)["CacheControl"]
        assert policy == ("public, max-age=31536000, immutable" if fingerprinted else "no-cache")
    # Pages went last: a page never arrives before the assets it names.
    kinds = [key.endswith(".html") for key in recorder.put]
    assert kinds == sorted(kinds)


def test_a_second_upload_of_an_unchanged_site_sends_nothing(site_dir, bucket):
    upload_site(site_dir, bucket)
    recorder = Recorder(bucket)

    report = upload_site(site_dir, bucket, recorder.client)

    assert recorder.put == [] and recorder.deleted == []
    assert report.uploaded == [] and report.unchanged == len(public_files(site_dir))


def test_only_a_changed_file_is_sent_and_a_removed_one_is_deleted(site_dir, bucket):
    upload_site(site_dir, bucket)
    before = keys_in(bucket)
    changed, removed = "theme/css/site.css", "robots.txt"
    (site_dir / changed).write_text("body { color: rebeccapurple }\n")
    (site_dir / removed).unlink()
    recorder = Recorder(bucket)

    report = upload_site(site_dir, bucket, recorder.client)

    assert recorder.put == [f"blog/{changed}"]
    assert recorder.deleted == [f"blog/{removed}"]
    assert keys_in(bucket) == before - {f"blog/{removed}"}
    assert body(bucket, changed) == b"body { color: rebeccapurple }\n"
    assert (report.uploaded, report.deleted) == ([changed], [removed])


def test_push_pages_sends_exactly_the_pages_it_is_given(site_dir, bucket):
    upload_site(site_dir, bucket)
    pages = ["index.html", "2022/12/meet-mentors-through-informational-interviews/index.html"]
    for page in pages + ["about/index.html"]:
        (site_dir / page).write_text(f"<p>re-rendered {page}</p>")
    recorder = Recorder(bucket)

    sent = push_pages(site_dir, pages, bucket, recorder.client)

    assert sent == pages
    assert sorted(recorder.put) == sorted(f"blog/{page}" for page in pages)
    assert recorder.deleted == []
    assert body(bucket, "index.html") == b"<p>re-rendered index.html</p>"
    assert head(bucket, "index.html")["CacheControl"] == "no-cache"
    assert body(bucket, "about/index.html") != b"<p>re-rendered about/index.html</p>"


def test_push_pages_deletes_a_page_that_is_gone_and_refuses_paths_outside_the_site(
    site_dir, bucket
):
    upload_site(site_dir, bucket)
    (site_dir / "about" / "index.html").unlink()
    recorder = Recorder(bucket)

    assert push_pages(site_dir, ["about/index.html"], bucket, recorder.client) == []

    assert recorder.deleted == ["blog/about/index.html"]
    assert "blog/about/index.html" not in keys_in(bucket)
    for outside in ["../comments.db", "/etc/passwd"]:
        with pytest.raises(ObjectStoreError, match="is not a file of the site"):
            push_pages(site_dir, [outside], bucket, recorder.client)


def test_site_upload_command_uploads_the_live_site_incrementally(runner, app, bucket):
    first = runner.invoke(args=["site", "upload"])
    assert first.exit_code == 0, first.output
    assert "s3://" in first.output and " 0 deleted" in first.output
    assert "blog/index.html" in keys_in(bucket)

    again = runner.invoke(args=["site", "upload"])
    assert again.exit_code == 0, again.output
    assert ": 0 uploaded, 0 deleted" in again.output


def test_site_upload_command_without_a_bucket_says_so_in_one_line(runner, monkeypatch):
    monkeypatch.delenv("S3_BUCKET", raising=False)
    result = runner.invoke(args=["site", "upload"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: S3_BUCKET is not set: name the bucket to upload the site to "
        "(and S3_ENDPOINT_URL for a store other than AWS).\n"
    )


def test_a_moderation_decision_reaches_the_bucket(app, admin, bucket, without_rate_limits):
    """The publishing front door sends a decision's pages to the bucket when S3_BUCKET is set."""
    client = app.test_client()
    assert submit_comment(client, body="Mirrored to the bucket after approval.").status_code == 202
    admin.login()
    database = db.connect(app.config["COMMENTS_DB"])
    newest = database.execute("select max(id) from comments").fetchone()[0]
    database.close()
    assert admin.act("approve", newest).status_code == 303

    page = MENTOR_URL.strip("/") + "/index.html"
    assert b"Mirrored to the bucket after approval." in body(bucket, page)
    assert head(bucket, page)["CacheControl"] == "no-cache"
