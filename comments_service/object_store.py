"""The built site to an S3-compatible bucket, for a CDN to serve.

``upload_site`` makes the bucket (under ``S3_PREFIX``) equal to a built site
folder and sends only what changed: it lists the bucket once and compares
each object's ETag with the file's MD5 (what S3 and the compatible stores
return for an object sent in one PUT, which is how every file is sent here),
uploads the files that differ, then deletes the objects the site no longer
has. Assets go first and pages last, so a page never reaches the bucket
before the stylesheet it names. A store whose ETags are not MD5s (SSE-KMS
encryption) gets every file each time: correct, only not incremental.

``push_pages`` sends just the pages a moderation decision re-rendered, so an
approved comment is in the bucket a moment after it is on disk.

Every object carries its Content-Type (with ``charset=utf-8`` for text) and
a Cache-Control a CDN must honour:

* fingerprinted assets (``site.3f2a9c1b.css``: the name changes with the
  content) ``public, max-age=31536000, immutable``;
* everything else (HTML, feeds, the sitemap, unfingerprinted files)
  ``no-cache``: cached, but revalidated at every request, so a new comment
  shows at once.

Configuration, from the environment: ``S3_BUCKET`` (required),
``S3_ENDPOINT_URL`` (for a store other than AWS), ``S3_PREFIX`` (a folder in
the bucket, optional); credentials and region the boto3 way
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, or
``~/.aws/``). The prefix belongs to the site: objects under it that the site
does not have are deleted. Files and folders whose name starts with a dot are
never uploaded (nginx does not serve them either), except ``.well-known/``
(``gpc.json``, the Global Privacy Control statement, lives there).

Console: ``flask --app comments_service site upload [FOLDER] [--force]``.
"""

import functools
import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import click
from flask import current_app
from flask.cli import AppGroup

FINGERPRINTED = re.compile(r"\.[0-9a-f]{8,}\.(css|js|svg|png|jpg|jpeg|webp|avif|woff2)$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
UPLOAD_THREADS = 8

# Explicit, not mimetypes: its answers depend on the machine's /etc/mime.types.
CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".pdf": "application/pdf",
}
FEED_TYPES = {".atom.xml": "application/atom+xml", ".rss.xml": "application/rss+xml"}
TEXT_TYPES = re.compile(r"^text/|^application/(json|manifest\+json|xml|atom\+xml|rss\+xml)$|\+xml$")


class ObjectStoreError(Exception):
    """Missing configuration or a refused request; the message is one sentence."""


@dataclass(frozen=True)
class Bucket:
    name: str
    prefix: str = ""  # "" or "folder/"
    endpoint_url: str | None = None

    def key(self, relative):
        return self.prefix + relative

    def __str__(self):
        return f"s3://{self.name}/{self.prefix}"


@dataclass
class UploadReport:
    uploaded: list = field(default_factory=list)  # relative paths sent
    deleted: list = field(default_factory=list)  # relative paths removed from the bucket
    unchanged: int = 0


def bucket_from_env(environ=None):
    """The bucket named by ``S3_BUCKET``, ``S3_PREFIX`` and ``S3_ENDPOINT_URL``."""
    env = os.environ if environ is None else environ
    name = (env.get("S3_BUCKET") or "").strip()
    if not name:
        raise ObjectStoreError(
            "S3_BUCKET is not set: name the bucket to upload the site to "
            "(and S3_ENDPOINT_URL for a store other than AWS)."
        )
    prefix = (env.get("S3_PREFIX") or "").strip("/ ")
    return Bucket(name, f"{prefix}/" if prefix else "", env.get("S3_ENDPOINT_URL") or None)


def configured(environ=None):
    """Whether the site is to be mirrored to a bucket at all."""
    env = os.environ if environ is None else environ
    return bool((env.get("S3_BUCKET") or "").strip())


@functools.cache
def client_for(endpoint_url):
    """One boto3 S3 client per endpoint and process (clients are thread-safe and
    cost a fifth of a second to make; a decision's push should not pay it)."""
    import boto3  # here: every `flask` command and app start would pay its import

    return boto3.client("s3", endpoint_url=endpoint_url)


def content_type(relative):
    name = relative.lower()
    for suffix, kind in FEED_TYPES.items():
        if name.endswith(suffix):
            return f"{kind}; charset=utf-8"
    kind = CONTENT_TYPES.get(PurePosixPath(name).suffix, "application/octet-stream")
    return f"{kind}; charset=utf-8" if TEXT_TYPES.search(kind) else kind


def cache_control(relative):
    return IMMUTABLE if FINGERPRINTED.search(relative.lower()) else REVALIDATE


def site_files(site_dir):
    """relative path (posix) -> file, for every public file of the site."""
    root = Path(site_dir)
    files = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        hidden = any(part.startswith(".") and part != ".well-known" for part in relative.parts)
        if path.is_file() and not hidden:
            files[relative.as_posix()] = path
    return files


def upload_site(site_dir, bucket=None, client=None, force=False):
    """Make the bucket hold exactly the site in ``site_dir``; return an ``UploadReport``.

    ``force`` sends every file (after a change of the headers' rules)."""
    bucket = bucket or bucket_from_env()
    client = client or client_for(bucket.endpoint_url)
    # A release switch during the upload must not mix two releases.
    site_dir = Path(site_dir).resolve()
    if not site_dir.is_dir():
        raise ObjectStoreError(f"There is no site folder at {site_dir}.")
    local = site_files(site_dir)
    remote = _listing(client, bucket)
    report = UploadReport()
    changed = []
    for relative, path in local.items():
        if force or remote.get(relative) != _md5(path):
            changed.append(relative)
        else:
            report.unchanged += 1
    pages = sorted(r for r in changed if _is_page(r))
    assets = sorted(r for r in changed if not _is_page(r))
    for group in (assets, pages):
        _put_all(client, bucket, site_dir, group)
        report.uploaded += group
    report.deleted = sorted(set(remote) - set(local))
    _delete_all(client, bucket, report.deleted)
    return report


def push_pages(site_dir, relative_paths, bucket=None, client=None):
    """Upload exactly these files of ``site_dir`` (a decision's re-rendered pages).

    A path the site no longer has is deleted from the bucket. Returns the
    relative paths sent."""
    bucket = bucket or bucket_from_env()
    client = client or client_for(bucket.endpoint_url)
    site_dir = Path(site_dir).resolve()
    sent, gone = [], []
    for relative in dict.fromkeys(relative_paths):
        relative = _inside(site_dir, relative)
        (sent if (site_dir / relative).is_file() else gone).append(relative)
    _put_all(client, bucket, site_dir, sent)
    _delete_all(client, bucket, gone)
    return sent


def _is_page(relative):
    return content_type(relative).startswith("text/html")


def _inside(site_dir, relative):
    """``relative`` as a posix path under ``site_dir``; refuses ``..`` and absolute paths."""
    path = (site_dir / relative).resolve()
    if not path.is_relative_to(site_dir) or path == site_dir:
        raise ObjectStoreError(f"{relative} is not a file of the site.")
    return path.relative_to(site_dir).as_posix()


def _listing(client, bucket):
    """relative path -> ETag of every object under the bucket's prefix."""
    listing = {}
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket.name, Prefix=bucket.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                listing[item["Key"][len(bucket.prefix) :]] = item["ETag"].strip('"')
    except client.exceptions.NoSuchBucket as exc:
        raise ObjectStoreError(f"There is no bucket {bucket.name!r} at that endpoint.") from exc
    return listing


def _put_all(client, bucket, site_dir, relative_paths):
    def put(relative):
        with open(site_dir / relative, "rb") as body:
            client.put_object(
                Bucket=bucket.name,
                Key=bucket.key(relative),
                Body=body,
                ContentType=content_type(relative),
                CacheControl=cache_control(relative),
            )

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        list(pool.map(put, relative_paths))  # list(): re-raises the first error


def _delete_all(client, bucket, relative_paths):
    for start in range(0, len(relative_paths), 1000):  # DeleteObjects takes 1000 keys
        batch = relative_paths[start : start + 1000]
        client.delete_objects(
            Bucket=bucket.name,
            Delete={"Objects": [{"Key": bucket.key(r)} for r in batch], "Quiet": True},
        )


def _md5(path):
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


# --- console ------------------------------------------------------------

site_cli = AppGroup("site", help="Mirror the built site to object storage (for a CDN).")


@site_cli.command("upload")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Send every file, changed or not.")
def site_upload(folder, force):
    """Upload FOLDER (default: the live site) to S3_BUCKET, changed files only."""
    from botocore.exceptions import BotoCoreError, ClientError

    folder = folder or current_app.config["SITE_DIR"]
    try:
        bucket = bucket_from_env()
        report = upload_site(folder, bucket, force=force)
    except ObjectStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    # The store's own words (no credentials, access denied...), in one line.
    except (BotoCoreError, ClientError) as exc:
        raise click.ClickException(f"The upload to {bucket} failed: {exc}") from exc
    click.echo(
        f"{bucket}: {len(report.uploaded)} uploaded, {len(report.deleted)} deleted, "
        f"{report.unchanged} unchanged."
    )
