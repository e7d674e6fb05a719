"""The admin's moderation rules (words, link domains, senders), and comments
closing on posts older than COMMENTS_CLOSE_AFTER_DAYS."""

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from bs4 import BeautifulSoup

from comments_service import create_app, db, rules
from comments_service.extensions import limiter
from comments_service.moderation import RULES_MAX
from comments_service.static_site import pelican_plugin
from comments_service.static_site.build import build_site
from support import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    MENTOR_URL,
    ORIGIN,
    ROOT,
    TEST_PASSWORD_HASH,
    AdminSession,
    Site,
    copy_project,
    csrf_token,
    submit_comment,
)


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def add_rule(database, kind, pattern, outcome="hold"):
    return db.add_rule(
        database,
        kind=kind,
        pattern=rules.normalise_pattern(kind, pattern) if kind != "address" else pattern,
        outcome=outcome,
        by="test",
    )


def last_comment(database):
    return db.export_comments(database)[-1]


def submitted(client, database, **fields):
    """Send a comment as a reader does; the row stored for it."""
    assert submit_comment(client, **fields).status_code == 202
    return last_comment(database)


def sender_hash(app, address="127.0.0.1"):
    return db.hash_ip(app.config["SECRET_KEY"], address)


# --- what each kind of rule matches -----------------------------------------

MATCHING = {
    "word": ("casino", {"body": "I won at the casino last night, what a story"}),
    "domain": ("example.biz", {"body": "See https://shop.example.biz/deal for more"}),
    "address": (None, {}),  # the test client's own address
}
REASONS = {
    "word": "word 'casino'",
    "domain": "link to example.biz",
    "address": "sender's address",
}


@pytest.mark.parametrize(
    "outcome, status, prefix", [("hold", "pending", "held"), ("spam", "spam", "spam")]
)
@pytest.mark.parametrize("kind", ["word", "domain", "address"])
def test_each_kind_of_rule_holds_or_sends_to_spam_and_the_reason_names_it(
    app, client, database, without_rate_limits, kind, outcome, status, prefix
):
    pattern, fields = MATCHING[kind]
    before = submitted(client, database, **fields)
    assert (before["status"], before["reason"]) == ("pending", None)
    rule_id = add_rule(database, kind, pattern or sender_hash(app), outcome)
    row = submitted(client, database, **fields)
    assert row["status"] == status
    assert row["reason"] == f"{prefix}: {REASONS[kind]} (rule {rule_id})"


def test_a_comment_matching_no_rule_is_an_ordinary_pending_comment(
    app, client, database, without_rate_limits
):
    add_rule(database, "word", "casino")
    add_rule(database, "domain", "example.biz")
    add_rule(database, "address", sender_hash(app, "203.0.113.9"))
    row = submitted(client, database, body="A plain comment about mentors, https://example.com")
    assert (row["status"], row["reason"]) == ("pending", None)


@pytest.mark.parametrize(
    "body, held",
    [
        ("What an ass.", True),
        ("ASS!", True),
        ("(ass)", True),
        ("A first-class answer", False),
        ("I assume you passed", False),
        ("Bass players and assassins", False),
        ("class", False),
    ],
)
def test_words_match_whole_words_only(client, database, without_rate_limits, body, held):
    rule_id = add_rule(database, "word", "ass")
    row = submitted(client, database, body=body)
    assert row["reason"] == (f"held: word 'ass' (rule {rule_id})" if held else None)


@pytest.mark.parametrize("typed", ["viagra", "Viagra", "ＶＩＡＧＲＡ"])
@pytest.mark.parametrize(
    "fields",
    [
        {"body": "Cheap VIAGRA here"},
        {"body": "Cheap ｖｉａｇｒａ here"},
        {"body": "Cheap Viagra here"},
        {"name": "Viagra Seller"},
        {"email": "viagra@example.com"},
        {"website": "https://example.com/viagra/"},
    ],
)
def test_words_match_any_case_and_unicode_form_in_every_field(
    client, database, without_rate_limits, typed, fields
):
    rule_id = add_rule(database, "word", typed)
    assert db.all_rules(database)[0]["pattern"] == "viagra"
    row = submitted(client, database, **fields)
    assert row["reason"] == f"held: word 'viagra' (rule {rule_id})"


def test_a_phrase_matches_its_words_in_a_row(client, database, without_rate_limits):
    rule_id = add_rule(database, "word", "Free  Money")
    assert submitted(client, database, body="Get FREE money now")["reason"] == (
        f"held: phrase 'free money' (rule {rule_id})"
    )
    assert submitted(client, database, body="Free advice, no money asked")["reason"] is None
    hyphenated = add_rule(database, "word", "Pay-Day")
    for body in ("A payday loan", "A pay-day loan", "A PAY DAY loan"):
        expected = (
            None if body == "A payday loan" else f"held: phrase 'pay-day' (rule {hyphenated})"
        )
        assert submitted(client, database, body=body)["reason"] == expected


@pytest.mark.parametrize(
    "fields, held",
    [
        ({"body": "Look: https://example.biz"}, True),
        ({"body": "Look: http://EXAMPLE.BIZ:8080/x?y=1"}, True),
        ({"body": "Look: www.example.biz/offer"}, True),
        ({"body": "Look at [this](https://deep.shop.example.biz/x)."}, True),
        ({"website": "https://blog.example.biz/"}, True),
        ({"body": "Look: https://notexample.biz"}, False),
        ({"body": "Look: https://example.biz.elsewhere.com"}, False),
        ({"body": "Plain text naming example.biz is not a link"}, False),
    ],
)
def test_a_link_domain_matches_the_domain_and_its_subdomains(
    client, database, without_rate_limits, fields, held
):
    rule_id = add_rule(database, "domain", "example.biz")
    row = submitted(client, database, **fields)
    assert row["reason"] == (f"held: link to example.biz (rule {rule_id})" if held else None)


def test_an_international_domain_matches_however_it_is_written(
    client, database, without_rate_limits
):
    rule_id = add_rule(database, "domain", "Bücher.de")
    for body in ("https://shop.bücher.de/", "https://shop.xn--bcher-kva.de/"):
        assert submitted(client, database, body=body)["reason"] == (
            f"held: link to bücher.de (rule {rule_id})"
        )


def test_spam_wins_over_hold(client, database, without_rate_limits):
    add_rule(database, "word", "crypto", "hold")
    spam = add_rule(database, "domain", "example.biz", "spam")
    row = submitted(client, database, body="Crypto tips at https://example.biz")
    assert (row["status"], row["reason"]) == ("spam", f"spam: link to example.biz (rule {spam})")


def test_rule_reasons_join_the_built_in_ones(client, database, without_rate_limits):
    rule_id = add_rule(database, "word", "crypto")
    row = submitted(client, database, body="Crypto at https://a.example and https://b.example")
    assert row["reason"] == f"held: 2 links, word 'crypto' (rule {rule_id})"


def test_a_spam_rule_answers_the_sender_as_usual_and_sends_no_email(
    client, database, without_rate_limits
):
    add_rule(database, "word", "casino", "spam")
    response = submit_comment(client, body="Best casino bonus")
    assert response.status_code == 202 and response.json["status"] == "pending"
    assert last_comment(database)["status"] == "spam"


# --- rules made by another process are seen at once ---------------------------


def second_app(app):
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "COMMENTS_DB": app.config["COMMENTS_DB"],
            "SITE_DIR": app.config["SITE_DIR"],
            "PASSWORD_HASH": TEST_PASSWORD_HASH,
        }
    )


def test_a_rule_added_on_one_app_is_applied_by_another(app, client, database, without_rate_limits):
    assert submitted(client, database, body="The casino story")["reason"] is None  # compiled
    other = second_app(app)
    other_admin = AdminSession(other, other.test_client())
    other_admin.login()
    token = csrf_token(other_admin.client, "/admin/rules")
    response = other_admin.client.post(
        "/admin/rules",
        data={"csrf_token": token, "kind": "word", "pattern": "Casino", "outcome": "hold"},
    )
    assert response.status_code == 303
    assert submitted(client, database, body="The casino story")["reason"].startswith(
        "held: word 'casino'"
    )


def test_a_rule_deleted_by_another_process_stops_applying(
    app, client, database, without_rate_limits
):
    rule_id = add_rule(database, "word", "casino")
    assert submitted(client, database, body="The casino story")["reason"] is not None
    script = (
        "import sys; from comments_service import db; "
        "database = db.connect(sys.argv[1]); assert db.delete_rule(database, int(sys.argv[2]))"
    )
    subprocess.run(
        [sys.executable, "-c", script, app.config["COMMENTS_DB"], str(rule_id)],
        check=True,
        cwd=ROOT,
    )
    assert submitted(client, database, body="The casino story")["reason"] is None


# --- cost, whatever the input and the number of rules --------------------------


class CountingPattern:
    """A compiled regex that counts the scans made with it."""

    def __init__(self, pattern):
        self.pattern, self.scans = pattern, 0

    def __getattr__(self, name):
        method = getattr(self.pattern, name)

        def counted(*args, **kwargs):
            self.scans += 1
            return method(*args, **kwargs)

        return counted


class CountingDict(dict):
    """A dict that counts its look-ups and the entries read by walking it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.lookups = 0

    def _walk(self, entries):
        for entry in entries:
            self.lookups += 1
            yield entry

    def get(self, key, default=None):
        self.lookups += 1
        return super().get(key, default)

    def __getitem__(self, key):
        self.lookups += 1
        return super().__getitem__(key)

    def __contains__(self, key):
        self.lookups += 1
        return super().__contains__(key)

    def __iter__(self):
        return self._walk(super().__iter__())

    def keys(self):
        return self._walk(super().keys())

    def values(self):
        return self._walk(super().values())

    def items(self):
        return self._walk(super().items())


def insert_rules(database, rows):
    """Store many rules at once (one transaction), as ``db.add_rule`` would each."""
    now = db.now()
    database["rules"].insert_all(
        {**row, "note": "", "created_by": "test", "created_at": now} for row in rows
    )
    database.execute("update rules_state set stamp = ? where id = 1", [str(uuid.uuid4())])
    database.conn.commit()


def test_a_hostile_comment_against_a_thousand_rules_costs_what_one_rule_does(
    client, database, without_rate_limits, monkeypatch
):
    # 5,000 characters of words, every one the first word of hundreds of
    # phrases: a scan per rule would be 2,500 words x 1,000 rules.
    body = ("buy " * 1249 + "zzz")[:5000]
    assert len(body) == 4999

    def scans_and_lookups():
        ruleset = rules.current(database)  # compiled once per change of the rules
        ruleset.phrases = CountingDict(ruleset.phrases)
        word = CountingPattern(rules._WORD)
        monkeypatch.setattr(rules, "_WORD", word)
        row = submitted(client, database, body=body)
        monkeypatch.setattr(rules, "_WORD", word.pattern)
        return row, word.scans, ruleset.phrases.lookups

    insert_rules(database, [{"kind": "word", "pattern": "zzz", "outcome": "hold"}])
    one_row, one_scans, _ = scans_and_lookups()
    assert one_row["reason"] == "held: word 'zzz' (rule 1)"

    many = [{"kind": "word", "pattern": f"word{n}", "outcome": "hold"} for n in range(300)]
    many += [
        {"kind": "word", "pattern": f"buy{' x' * (n % 4 + 1)} {n}", "outcome": "hold"}
        for n in range(400)
    ]
    many += [
        {"kind": "domain", "pattern": f"site{n}.example", "outcome": "spam"} for n in range(299)
    ]
    insert_rules(database, many)
    assert len(db.all_rules(database)) == RULES_MAX
    row, scans, lookups = scans_and_lookups()
    assert row["reason"] == "held: word 'zzz' (rule 1)"
    # One regex pass per field (name, email, website, text), whatever the rules.
    assert scans == one_scans == 4
    # A phrase is looked up where its first word is, once per phrase length
    # in use (4 here): never once per rule.
    words = body.count(" ") + 1
    assert lookups <= words * 4 < words * 400


def test_at_most_a_thousand_rules(admin, client, database):
    insert_rules(
        database,
        [{"kind": "word", "pattern": f"word{n}", "outcome": "hold"} for n in range(RULES_MAX)],
    )
    admin.login()
    token = csrf_token(client, "/admin/rules")
    response = client.post(
        "/admin/rules",
        data={"csrf_token": token, "kind": "word", "pattern": "one more", "outcome": "hold"},
    )
    assert response.status_code == 400
    error = soup(response).select_one("#pattern-error").get_text()
    assert f"There are {RULES_MAX:,} rules" in error
    assert len(db.all_rules(database)) == RULES_MAX


# --- the admin's rules page ------------------------------------------------------


def post_rule(client, **fields):
    data = {"kind": "word", "pattern": "", "outcome": "hold", "note": "", **fields}
    data["csrf_token"] = csrf_token(client, "/admin/rules")
    return client.post("/admin/rules", data=data)


def test_the_admin_adds_lists_and_deletes_rules(admin, client, database, without_rate_limits):
    admin.login()
    response = post_rule(client, pattern="Casino", outcome="spam", note="gambling spam")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/rules"
    page = soup(client.get("/admin/rules"))
    assert "Rule 1 added: comments with the word 'casino' go to spam." in page.get_text()
    row = page.select_one("#rule-1").get_text(" ", strip=True)
    assert "Word or phrase" in row and "casino" in row and "Send to spam" in row
    assert "gambling spam" in row and "by editor" in row
    post_rule(client, kind="domain", pattern="https://www.Example.BIZ/path", note="")
    assert db.all_rules(database)[1]["pattern"] == "www.example.biz"
    assert submitted(client, database, body="casino")["status"] == "spam"

    token = csrf_token(client, "/admin/rules")
    delete = page.select_one('#rule-1 button[name="rule"]')
    assert delete.get_text() == "Delete rule 1"
    response = client.post("/admin/rules/delete", data={"csrf_token": token, "rule": "1"})
    assert response.status_code == 303
    assert [r["id"] for r in db.all_rules(database)] == [2]
    assert submitted(client, database, body="casino")["status"] == "pending"
    again = client.post("/admin/rules/delete", data={"csrf_token": token, "rule": "1"})
    assert again.status_code == 303
    assert "Rule 1 was deleted already." in admin.messages("/admin/rules")


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"pattern": "   "}, "pattern", "Enter a word, a phrase or a domain."),
        ({"pattern": "c++"}, "pattern", "Letters and digits only"),
        ({"pattern": "one two three four five six"}, "pattern", "at most 5 words"),
        ({"pattern": "x" * 101}, "pattern", "at most 100 characters"),
        ({"pattern": "㍿" * 30}, "pattern", "at most 100 characters"),  # NFKC: 120
        ({"kind": "domain", "pattern": "not a domain"}, "pattern", "Enter a domain such as"),
        ({"kind": "domain", "pattern": "http://["}, "pattern", "Enter a domain such as"),
        ({"kind": "address", "pattern": "0" * 64}, "kind", "Choose a word or phrase"),
        ({"outcome": "approve", "pattern": "casino"}, "outcome", "Choose to hold"),
        ({"pattern": "casino", "note": "n" * 201}, "note", "at most 200 characters"),
    ],
)
def test_an_invalid_rule_comes_back_with_a_message_and_what_was_typed(
    admin, client, database, fields, field, message
):
    admin.login()
    fields = {"note": "why I added it", **fields}
    response = post_rule(client, **fields)
    assert response.status_code == 400
    page = soup(response)
    assert message in page.select_one(f"#{field}-error").get_text()
    assert page.select_one(f"#{field}")["aria-invalid"] == "true"
    assert page.select_one("#pattern")["value"] == fields["pattern"].strip()
    assert page.select_one("#note")["value"] == fields["note"]
    assert db.all_rules(database) == []


def test_a_rule_that_exists_already_is_named(admin, client, database):
    admin.login()
    post_rule(client, pattern="casino")
    response = post_rule(client, pattern="CASINO", outcome="spam", note="again")
    assert response.status_code == 400
    page = soup(response)
    assert "Rule 1 is on this already: comments with the word 'casino' are held for review." in (
        page.select_one("#pattern-error").get_text()
    )
    assert page.select_one("#pattern")["value"] == "CASINO"
    assert page.select_one("#note")["value"] == "again"
    assert len(db.all_rules(database)) == 1


def test_a_rule_refused_for_a_full_disk_comes_back_as_typed(admin, client, database, monkeypatch):
    admin.login()

    def full(*args, **kwargs):
        raise db.DiskFull("database or disk is full")

    monkeypatch.setattr(db, "add_rule", full)
    response = post_rule(client, pattern="Casino", note="keep this")
    assert response.status_code == 503 and response.headers["Retry-After"] == "120"
    page = soup(response)
    assert "disk is full" in page.select_one(".flash-error").get_text()
    assert page.select_one("#pattern")["value"] == "Casino"
    assert page.select_one("#note")["value"] == "keep this"


def test_rule_forms_need_the_csrf_token(admin, client, database, without_rate_limits):
    admin.login()
    response = client.post(
        "/admin/rules", data={"kind": "word", "pattern": "casino", "outcome": "hold"}
    )
    assert response.status_code == 400
    assert db.all_rules(database) == []
    add_rule(database, "word", "casino")
    assert client.post("/admin/rules/delete", data={"rule": "1"}).status_code == 400
    submit_comment(client)
    sender = client.post("/admin/rules/sender", data={"sender": "hold:1", "view": "pending"})
    assert sender.status_code == 400
    assert len(db.all_rules(database)) == 1


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/admin/rules"),
        ("post", "/admin/rules"),
        ("post", "/admin/rules/delete"),
        ("post", "/admin/rules/sender"),
    ],
)
def test_rules_pages_send_visitors_to_the_login(client, database, method, path):
    add_rule(database, "word", "casino")
    # A visitor's session has a CSRF token too (the login form's).
    data = {"csrf_token": csrf_token(client, "/admin/login"), "pattern": "poker", "rule": "1"}
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/login?next={path}"
    assert [r["pattern"] for r in db.all_rules(database)] == ["casino"]


def test_the_navigation_links_the_rules_page(admin, client):
    admin.login()
    nav = soup(client.get("/admin/")).select_one('nav[aria-label="Moderation"]')
    assert nav.find("a", string="Rules")["href"] == "/admin/rules"


# --- a rule from a queued comment: everything from this sender ---------------------


def press_sender_button(admin, client, comment_id, label):
    page = soup(client.get("/admin/"))
    [article] = [a for a in page.select("article.queued") if a["id"] == f"comment-{comment_id}"]
    button = article.find("button", string=label)
    data = {
        "csrf_token": page.select_one('input[name="csrf_token"]')["value"],
        "view": "pending",
        "query": "",
        button["name"]: button["value"],
    }
    return client.post(button["formaction"], data=data)


def test_hold_everything_from_a_sender(app, admin, client, database, without_rate_limits):
    submit_comment(client, body="First from this sender")
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    submit_comment(other, body="From another sender")
    admin.login()
    article = soup(client.get("/admin/")).select_one("#comment-1")
    buttons = [b.get_text() for b in article.select("button")]
    assert buttons[:3] == ["Approve", "Spam", "Trash"]
    assert "Hold everything from this sender" in buttons
    response = press_sender_button(admin, client, 1, "Hold everything from this sender")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    [rule] = db.all_rules(database)
    assert (rule["kind"], rule["pattern"], rule["outcome"]) == (
        "address",
        sender_hash(app),
        "hold",
    )
    assert rule["note"] == "the sender of comment #1 (Ada Reader)"
    assert db.get_comment(database, 1)["status"] == "pending"  # the comment stays

    queue = client.get("/admin/").get_data(as_text=True)
    assert "Rule 1 added: from now on, comments from this sender are held for review" in queue
    assert "rule 1" in soup(client.get("/admin/")).select_one("#comment-1 .sender-rule").get_text()
    rules_page = client.get("/admin/rules").get_data(as_text=True)
    for html in (queue, rules_page):
        assert sender_hash(app) not in html and "127.0.0.1" not in html

    assert submitted(client, database, body="Second from this sender")["reason"] == (
        "held: sender's address (rule 1)"
    )
    assert submitted(other, database, body="Another from elsewhere")["reason"] is None


def test_spam_everything_from_a_sender(app, admin, client, database, without_rate_limits):
    submit_comment(client, body="First from this sender")
    admin.login()
    press_sender_button(admin, client, 1, "Spam everything from this sender")
    assert submitted(client, database, body="Again")["status"] == "spam"


def test_a_sender_forgotten_after_30_days_cannot_be_ruled(admin, client, database):
    submit_comment(client)
    database.execute("update comments set ip_hash = null")
    database.conn.commit()
    admin.login()
    article = soup(client.get("/admin/")).select_one("#comment-1")
    assert article.select_one(".sender-rule") is None
    token = csrf_token(client, "/admin/")
    response = client.post(
        "/admin/rules/sender", data={"csrf_token": token, "sender": "hold:1", "view": "pending"}
    )
    assert response.status_code == 303
    assert "addresses are forgotten after 30 days" in " ".join(admin.messages())
    assert db.all_rules(database) == []


def test_address_rules_are_forgotten_with_the_addresses(
    app, admin, client, database, without_rate_limits
):
    add_rule(database, "address", sender_hash(app))
    add_rule(database, "word", "casino")
    assert submitted(client, database, body="Hello")["reason"] is not None
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    database.execute("update rules set created_at = ?", [old])
    database.conn.commit()
    admin.login()
    client.get("/admin/")  # the queue forgets old address hashes
    assert [r["kind"] for r in db.all_rules(database)] == ["word"]
    assert submitted(client, database, body="Hello")["reason"] is None


# --- closing comments after N days ------------------------------------------------

CLOSE_AFTER = 30


def write_post(project, slug, date):
    (project / "content" / "posts" / f"{slug}.md").write_text(
        f"Title: {slug.replace('-', ' ').title()}\n"
        f"Date: {date:%Y-%m-%d %H:%M}\n"
        "Category: Growth\n"
        f"Slug: {slug}\n"
        "Summary: A post for the closing tests.\n\n"
        "Some advice.\n",
        encoding="utf-8",
    )


@pytest.fixture
def closing_site(tmp_path, monkeypatch):
    """The test project with COMMENTS_CLOSE_AFTER_DAYS = 30 and two posts dated
    31 and 29 days ago, built two days ago (both pages then had the form), and
    an app serving it."""
    project = copy_project(tmp_path / "project")
    settings = project / "pelicanconf.py"
    settings.write_text(
        settings.read_text() + f"\nCOMMENTS_CLOSE_AFTER_DAYS = {CLOSE_AFTER}\n", encoding="utf-8"
    )
    now = datetime.now(UTC)
    write_post(project, "an-old-post", now - timedelta(days=CLOSE_AFTER + 1))
    write_post(project, "a-recent-post", now - timedelta(days=CLOSE_AFTER - 1))
    output = tmp_path / "output"
    db_path = tmp_path / "comments.db"
    db.connect(db_path).close()
    with monkeypatch.context() as clock:
        clock.setattr(pelican_plugin, "utc_now", lambda: now - timedelta(days=2))
        build_site(settings, output, {"SITE_ORIGIN": ORIGIN, "COMMENTS": {"DB": str(db_path)}})
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "COMMENTS_DB": str(db_path),
            "SITE_DIR": str(output),
            "PELICAN_SETTINGS": str(settings),
            "PASSWORD_HASH": TEST_PASSWORD_HASH,
        }
    )
    limiter.reset()
    return app, Site(output)


def page_of(site, slug):
    """The post's page as built, and its entry in the post registry."""
    registry = json.loads((site.path / "post-registry.json").read_text())
    post = next(p for p in registry["posts"] if p["slug"] == slug)
    return site.page(post["url"]), post


def test_comments_close_n_days_after_the_post_date(closing_site):
    app, site = closing_site
    client = app.test_client()
    old_page, old_post = page_of(site, "an-old-post")
    recent_page, recent_post = page_of(site, "a-recent-post")
    # Built two days ago, when both were open: both pages show the form...
    assert old_page.select_one("#comments form") is not None
    assert old_post["comments_close_at"] is not None
    # ...but the service goes by the time now.
    for as_json in (True, False):
        refused = submit_comment(client, json=as_json, post_slug="an-old-post")
        assert refused.status_code == 403
        assert "Comments are closed for this post." in refused.get_data(as_text=True)
    accepted = submit_comment(client, post_slug="a-recent-post")
    assert accepted.status_code == 202
    assert recent_page.select_one("#comments form") is not None


def test_the_daily_maintenance_republishes_posts_that_closed(closing_site):
    app, site = closing_site
    runner = app.test_cli_runner()
    result = runner.invoke(args=["comments", "close-old-posts"])
    assert result.exit_code == 0, result.output
    assert "an-old-post" in result.output and "a-recent-post" not in result.output
    old_page, old_post = page_of(site, "an-old-post")
    assert old_page.select_one("#comments form") is None
    assert "Comments are closed" in old_page.select_one("#comments").get_text()
    assert old_post["comments_open"] is False
    recent_page, recent_post = page_of(site, "a-recent-post")
    assert recent_page.select_one("#comments form") is not None
    assert recent_post["comments_open"] is True
    again = runner.invoke(args=["comments", "close-old-posts"])
    assert again.exit_code == 0
    assert "No post has closed its comments since the site was built." in again.output


def test_a_decision_on_a_closed_post_renders_its_page_closed(closing_site):
    app, site = closing_site
    from comments_service import publish

    with app.app_context():
        database = db.get_db()
        comment_id = db.add_pending_comment(
            database, post_slug="an-old-post", author_name="Early", body="Said in time."
        )
    admin = AdminSession(app, app.test_client())
    admin.login()
    with pytest.MonkeyPatch.context() as clock:  # the warm build from two days ago
        clock.setattr(pelican_plugin, "utc_now", lambda: datetime.now(UTC) - timedelta(days=2))
        publish.publish_site(app.config)
    assert page_of(site, "an-old-post")[0].select_one("#comments form") is not None
    admin.act("approve", comment_id)  # re-rendered by the warm publisher, now
    old_page, _ = page_of(site, "an-old-post")
    assert "Said in time." in old_page.select_one("#comments").get_text()
    assert old_page.select_one("#comments form") is None


def test_the_maintenance_unit_closes_comments_daily():
    unit = (Path(ROOT) / "deploy" / "systemd" / "career-notes-maintenance.service").read_text()
    assert "flask --app comments_service comments close-old-posts" in unit


@pytest.mark.parametrize("days", [0.5, "30", -1, True])
def test_a_bad_closing_setting_is_named(days):
    with pytest.raises(ValueError, match="COMMENTS_CLOSE_AFTER_DAYS must be a whole number"):
        pelican_plugin.close_after_days({"COMMENTS_CLOSE_AFTER_DAYS": days})


def assert_accessible(page):
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_the_rules_page_and_the_sender_buttons_work_in_a_browser_and_are_accessible(
    browser, comment_server
):
    app = comment_server
    context = browser.new_context(java_script_enabled=False)
    reader = context.new_page()
    reader.goto(app.base_url + MENTOR_URL)
    reader.get_by_label("Name", exact=True).fill("Grace Reader")
    reader.get_by_label("Comment", exact=True).fill("A first comment from this browser.")
    reader.get_by_role("button", name="Submit").click()
    context.close()

    admin = browser.new_page()
    admin.goto(app.base_url + "/admin/")
    admin.get_by_label("Username").fill(ADMIN_USER)
    admin.get_by_label("Password").fill(ADMIN_PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    item = admin.locator("article.queued").filter(has_text="A first comment from this browser.")
    item.get_by_role("button", name="Hold everything from this sender").click()
    admin.get_by_text("Rule 1 added: from now on, comments from this sender").wait_for()
    assert item.get_by_role("link", name="rule 1").is_visible()
    assert_accessible(admin)

    admin.get_by_role("link", name="Rules").click()
    admin.get_by_label("Word, phrase or domain").fill("c++")
    admin.get_by_label("Note (optional)").fill("a typo")
    admin.get_by_role("button", name="Add rule").click()
    assert admin.get_by_text("Letters and digits only").is_visible()
    assert admin.get_by_label("Note (optional)").input_value() == "a typo"
    assert_accessible(admin)
    admin.get_by_label("Word, phrase or domain").fill("Casino")
    admin.get_by_label("Then").select_option(label="Send to spam")
    admin.get_by_role("button", name="Add rule").click()
    admin.get_by_text("Rule 2 added: comments with the word 'casino' go to spam.").wait_for()
    admin.get_by_role("button", name="Delete rule 1").click()
    admin.get_by_text("Rule 1 deleted.").wait_for()
    assert_accessible(admin)
    with app.app_context():
        assert [(r["id"], r["outcome"]) for r in db.all_rules(db.get_db())] == [(2, "spam")]
    admin.close()
