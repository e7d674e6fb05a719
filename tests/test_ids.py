"""Comment ids are never handed out twice, and old databases migrate losslessly."""

import shutil
import sqlite3
from pathlib import Path

from comments_service import db
from support import submit_comment

FIXTURES = Path(__file__).parent / "fixtures"


def delete_newest(admin, client, database):
    submit_comment(client, body="An older comment that stays")
    submit_comment(client, body="Buy cheap watches now")
    admin.login()
    admin.act("spam", 2)
    admin.act("delete", 2, view="spam")
    assert [c["id"] for c in db.export_comments(database)] == [1]


def test_a_new_comment_never_gets_the_id_of_one_deleted_permanently(admin, client, database):
    delete_newest(admin, client, database)
    response = submit_comment(client, body="A new reader's honest comment")
    assert response.status_code == 202
    new = [c for c in db.export_comments(database) if c["body"].startswith("A new reader")]
    assert [c["id"] for c in new] == [3]
    assert db.decisions_for(database, 3) == []
    # The erased comment's history stays with its own id.
    assert [d["action"] for d in db.decisions_for(database, 2)] == ["spam", "deleted"]


def test_spam_on_the_deleted_id_leaves_the_new_comment_alone(admin, client, database):
    delete_newest(admin, client, database)
    submit_comment(client, body="A new reader's honest comment")
    # The admin's queue page still showed the spammer's row with id 2.
    response = admin.act("spam", 2)
    assert response.status_code == 303
    assert db.get_comment(database, 2) is None
    assert db.get_comment(database, 3)["status"] == "pending"
    assert db.decisions_for(database, 3) == []
    assert db.counts_by_status(database)["spam"] == 0
    queue = client.get("/admin/").get_data(as_text=True)
    assert "A new reader&#39;s honest comment" in queue or "A new reader's honest comment" in queue


def rows(path, table):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"select * from {table} order by 1")]
    finally:
        conn.close()


def test_a_database_of_the_first_schema_migrates_losslessly(tmp_path):
    path = tmp_path / "comments.db"
    shutil.copy(FIXTURES / "schema-v1.db", path)
    before = {t: rows(path, t) for t in ("comments", "decisions", "admins")}
    assert len(before["comments"]) == 3 and len(before["decisions"]) == 4

    database = db.connect(path)
    try:
        after = db.export_comments(database)
        # Columns added since, empty for comments of our own (m009).
        new_columns = {"import_source": None, "import_id": None}
        assert after == [{**comment, **new_columns} for comment in before["comments"]]
        decisions = [
            {k: v for k, v in d.items() if k != "post_slug"} for d in rows(path, "decisions")
        ]
        assert decisions == before["decisions"]
        assert rows(path, "admins") == before["admins"]
        create_sql = database.execute(
            "select sql from sqlite_master where name = 'comments'"
        ).fetchone()[0]
        assert "AUTOINCREMENT" in create_sql
        indexes = {i.name for i in database["comments"].indexes}
        assert "idx_comments_status_created_at" in indexes
        assert "idx_comments_post_slug_status_created_at_id" in indexes
        assert [i.name for i in database["admins"].indexes if i.unique] == ["idx_admins_username"]

        # Comment 4 was erased in the old database; its id stays used.
        new_id = db.add_pending_comment(
            database, post_slug=after[0]["post_slug"], author_name="Cy", body="After the move"
        )
        assert new_id == 5
        assert db.decisions_for(database, new_id) == []
    finally:
        database.close()
    # Opening it again finds nothing left to migrate and changes nothing.
    again = db.connect(path)
    try:
        assert [c["id"] for c in db.export_comments(again)] == [1, 2, 3, 5]
    finally:
        again.close()
