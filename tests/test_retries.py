"""A submission sent again (its answer was lost on the way) is stored once and
acknowledged every time: by its key from the page's script or a form the
service rendered, or by its content when it carries no key."""

import subprocess
import sys
import threading
import uuid

import pytest
from bs4 import BeautifulSoup

from comments_service import db, public, submission_keys
from support import MENTOR_SLUG, ROOT, submit_comment

WAIT_SECONDS = 30  # only a hung submission takes this long


def stored(database):
    return db.export_comments(database)


@pytest.mark.parametrize("as_json", [True, False])
def test_the_same_submission_sent_twice_is_one_comment_and_two_acknowledgements(
    client, database, as_json
):
    key = str(uuid.uuid4())
    first = submit_comment(client, json=as_json, submission_key=key)
    retry = submit_comment(client, json=as_json, submission_key=key)
    assert first.status_code == retry.status_code == (202 if as_json else 303)
    assert first.get_data() == retry.get_data()
    assert first.headers.get("Location") == retry.headers.get("Location")
    [row] = stored(database)
    assert row["body"] == "This helped me prepare for my first informational interview."


def test_a_form_posted_again_without_javascript_is_one_comment(client, database):
    # A static page's form carries no key: the browser resubmits the same
    # fields, and the content recognises it.
    first = submit_comment(client, json=False, submission_key=None)
    again = submit_comment(client, json=False, submission_key=None)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert len(stored(database)) == 1


def test_different_submissions_are_different_comments(client, database):
    assert submit_comment(client, submission_key=str(uuid.uuid4())).status_code == 202
    assert submit_comment(client, submission_key=str(uuid.uuid4())).status_code == 202
    assert len(stored(database)) == 2


@pytest.mark.parametrize("key", [str(uuid.uuid4()), None])
def test_text_edited_after_an_error_is_never_dropped_as_a_retry(client, database, key):
    submit_comment(client, submission_key=key, body="First words.")
    submit_comment(client, submission_key=key, body="First words, corrected.")
    assert [row["body"] for row in stored(database)] == ["First words.", "First words, corrected."]


def test_without_a_key_the_same_text_from_another_address_is_another_comment(client, database):
    form = {"post_slug": MENTOR_SLUG, "name": "Ada", "body": "Great advice, thank you."}
    for address in ("192.0.2.1", "198.51.100.7", "192.0.2.1"):
        response = client.post("/comments/", data=form, environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 303
    assert len(stored(database)) == 2


def test_a_resubmission_across_the_edge_of_a_time_window_is_recognised(app, database):
    comment = {
        "post_slug": MENTOR_SLUG,
        "parent_id": None,
        "author_name": "Ada",
        "email": "",
        "website": "",
        "body": "Sent at the edge of a window.",
        "ip_hash": "h",
    }
    edge = 1_000 * submission_keys.CONTENT_WINDOW_SECONDS
    before = submission_keys.keys_for(comment, now=edge - 1)
    after = submission_keys.keys_for(comment, now=edge + 1)
    assert before[0] != after[0]
    first = db.add_submission(database, submission_keys=before, **comment)
    again = db.add_submission(database, submission_keys=after, **comment)
    assert (first.is_new, again.is_new) == (True, False)
    assert again.comment_id == first.comment_id
    later = submission_keys.keys_for(comment, now=edge + 2 * submission_keys.CONTENT_WINDOW_SECONDS)
    assert db.add_submission(database, submission_keys=later, **comment).is_new


@pytest.mark.parametrize(
    "garbage", ["short", "x" * 65, "<script>alert(1)</script>", "ключ-ключ-ключ-ключ", " " * 20]
)
def test_a_malformed_key_is_ignored_and_the_content_recognises_the_retry(client, database, garbage):
    # No person types the key or can fix it: refusing the comment over it
    # would lose what they wrote.
    assert submit_comment(client, submission_key=garbage).status_code == 202
    assert submit_comment(client, submission_key=garbage).status_code == 202
    [row] = stored(database)
    assert row["status"] == "pending"
    assert submission_keys.client_key(garbage) is None


def test_retries_do_not_use_up_the_rate_limit(client, database):
    key = str(uuid.uuid4())
    for _ in range(6):
        assert submit_comment(client, submission_key=key).status_code == 202
    for _ in range(4):
        assert submit_comment(client).status_code == 202
    assert submit_comment(client).status_code == 429
    assert len(stored(database)) == 5


def test_the_admin_is_told_about_a_comment_once(app, client, monkeypatch):
    told = []
    monkeypatch.setattr(public, "notifications_enabled", lambda config: True)
    monkeypatch.setattr(public, "notify_new_comment", lambda *args: told.append(args))
    key = str(uuid.uuid4())
    submit_comment(client, submission_key=key)
    submit_comment(client, submission_key=key)
    assert len(told) == 1


def test_two_threads_sending_the_same_submission_at_once_store_one_comment(app, database):
    key = str(uuid.uuid4())
    start = threading.Barrier(2)
    answers = []

    def send():
        client = app.test_client()
        start.wait()
        answers.append(submit_comment(client, submission_key=key).status_code)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert answers == [202, 202]
    assert len(stored(database)) == 1


def comment_fields(body="Sent twice in one batch."):
    return {"post_slug": MENTOR_SLUG, "author_name": "Ada", "body": body}


def wait_for(condition, what):
    done = threading.Event()
    for _ in range(WAIT_SECONDS * 100):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_copies_in_one_group_commit_batch_store_one_comment(app, database):
    """The leader commits a third comment while both copies queue behind it,
    so they reach the database in one transaction."""
    path = app.config["COMMENTS_DB"]
    group = db._group_commit_for(database)
    results = {}

    def insert(name, keys, body):
        connection = db.connect(path, migrate=False)
        try:
            results[name] = db.add_submission(
                connection, submission_keys=keys, **comment_fields(body)
            )
        finally:
            connection.close()

    copy_keys = [f"same-{uuid.uuid4()}"]
    with db.writers_lock(f"{path}.write-lock"):  # the leader waits here
        leader = threading.Thread(
            target=insert, args=("leader", [], "Leading the batch."), daemon=True
        )
        leader.start()
        wait_for(lambda: group._leading and not group._queue, "a leader")
        copies = [
            threading.Thread(
                target=insert, args=(n, copy_keys, "Sent twice in one batch."), daemon=True
            )
            for n in ("one", "two")
        ]
        for thread in copies:
            thread.start()
        wait_for(lambda: len(group._queue) == 2, "both copies queued")
    for thread in (leader, *copies):
        thread.join(WAIT_SECONDS)
    assert results["one"].comment_id == results["two"].comment_id
    assert sorted([results["one"].is_new, results["two"].is_new]) == [False, True]
    assert [row["body"] for row in stored(database)] == [
        "Leading the batch.",
        "Sent twice in one batch.",
    ]


SUBMITTING_PROCESS = """
import sys
from comments_service import db
database = db.connect(sys.argv[1], migrate=False)
submission = db.add_submission(database, submission_keys=[sys.argv[2]],
                               post_slug="p", author_name="Process", body="From a worker.")
print(submission.comment_id, submission.is_new)
"""


def test_two_worker_processes_sending_the_same_submission_store_one_comment(app, database):
    path = app.config["COMMENTS_DB"]
    key = f"process-{uuid.uuid4()}"
    # Both wait on the writers' lock, then write one after the other.
    with db.writers_lock(f"{path}.write-lock"):
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", SUBMITTING_PROCESS, path, key],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for _ in range(2)
        ]
    answers = sorted(worker.communicate(timeout=WAIT_SECONDS)[0].split() for worker in workers)
    assert [worker.returncode for worker in workers] == [0, 0]
    [row] = stored(database)
    assert answers == [[str(row["id"]), "False"], [str(row["id"]), "True"]]


def test_forms_the_service_renders_carry_a_key_of_their_own(client, database):
    pages = [submit_comment(client, json=False, submission_key=None, name="") for _ in range(2)]
    keys = []
    for page in pages:
        assert page.status_code == 400
        assert page.headers["Cache-Control"] == "no-store"
        html = BeautifulSoup(page.get_data(as_text=True), "html.parser")
        keys.append(html.select_one('input[name="submission_key"]')["value"])
    assert keys[0] != keys[1] and all(submission_keys.client_key(k) for k in keys)
    # The fixed form, sent twice from that page (the browser's resubmission).
    for _ in range(2):
        assert submit_comment(client, json=False, submission_key=keys[0]).status_code == 303
    assert len(stored(database)) == 1


def test_a_refused_submission_keeps_its_key_for_the_next_try(client):
    key = str(uuid.uuid4())
    page = submit_comment(client, json=False, submission_key=key, name="")
    html = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert html.select_one('input[name="submission_key"]')["value"] == key


def test_the_static_pages_carry_no_key(site):
    from support import MENTOR_URL

    form = site.page(MENTOR_URL).select_one("form#comment-form")
    assert form.select_one('input[name="post_slug"]')
    assert form.select_one('input[name="submission_key"]') is None


def test_keys_are_forgotten_with_the_address_hashes_and_left_out_of_exports(client, database):
    submit_comment(client)
    [row] = database.query("select id, submission_key from comments")
    assert row["submission_key"]
    assert "submission_key" not in stored(database)[0]
    database.execute(
        "update comments set created_at = '2000-01-01T00:00:00+00:00' where id = ?", [row["id"]]
    )
    database.conn.commit()
    db.forget_old_ip_hashes(database)
    assert list(database.query("select submission_key, ip_hash from comments")) == [
        {"submission_key": None, "ip_hash": None}
    ]


def test_the_migration_keeps_every_comment_and_leaves_their_key_empty(tmp_path):
    path = tmp_path / "before.db"
    database = db.connect(path, migrate=False)
    try:
        db.migrations.apply(database, stop_before="m008_submission_keys")
        database["comments"].insert(
            {
                "post_slug": "p",
                "author_name": "Old",
                "body": "From before keys.",
                "status": "pending",
                "created_at": "2024-01-01T00:00:00+00:00",
            }
        )
        database.conn.commit()
    finally:
        database.close()
    database = db.connect(path)
    try:
        [row] = database.query("select * from comments")
        assert (row["author_name"], row["body"], row["submission_key"]) == (
            "Old",
            "From before keys.",
            None,
        )
        # Many comments without a key may coexist; two with one key may not.
        for _ in range(2):
            db.add_pending_comment(database, post_slug="p", author_name="New", body="No key.")
        assert database["comments"].count == 3
    finally:
        database.close()
