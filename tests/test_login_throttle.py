"""Login throttling that an attacker cannot turn against the admin: failures
refuse only their own (username, address) pair and address; across addresses
a username is only slowed down, so the right password from the admin's own
address always gets in."""

import pytest
from bs4 import BeautifulSoup

from support import ADMIN_PASSWORD, ADMIN_USER, csrf_token

ATTACKER, ADMIN_HOME = "203.0.113.9", "198.51.100.7"


@pytest.fixture
def throttle(app, admin):
    """The app's login throttle, sleeping into a list and on a clock the test moves."""
    throttle = app.extensions["login_throttle"]
    throttle.sleeps = []
    throttle.sleep = throttle.sleeps.append
    throttle.now = 1000.0
    throttle.clock = lambda: throttle.now
    return throttle


def browser_at(app, address):
    """A person's browser (its own cookies) connecting from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def log_in(client, password, username=ADMIN_USER):
    token = csrf_token(client, "/admin/login")
    return client.post(
        "/admin/login", data={"username": username, "password": password, "csrf_token": token}
    )


def fail(client, times, username=ADMIN_USER):
    for _ in range(times):
        assert log_in(client, "wrong-password", username).status_code == 401


def test_an_attackers_failures_refuse_their_address_with_a_readable_page(app, throttle):
    attacker = browser_at(app, ATTACKER)
    fail(attacker, 5)
    response = log_in(attacker, "another-guess")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == 60
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert "Too many failed attempts from your address" in page.select_one('[role="alert"]').text
    assert page.select_one("#username")["value"] == ADMIN_USER  # the form is kept
    assert page.select_one("button[type=submit]").text == "Log in"


def test_the_admin_logs_in_from_their_own_address_right_after_an_attack(app, throttle):
    fail(browser_at(app, ATTACKER), 5)
    admin = browser_at(app, ADMIN_HOME)
    response = log_in(admin, ADMIN_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    assert admin.get("/admin/").status_code == 200


def test_the_same_pair_is_refused_after_five_failures_even_with_the_right_password(app, throttle):
    admin = browser_at(app, ADMIN_HOME)
    fail(admin, 5)
    assert log_in(admin, ADMIN_PASSWORD).status_code == 429
    assert admin.get("/admin/").status_code == 302  # not logged in
    throttle.now += 61  # the failures leave the one-minute window
    assert log_in(admin, ADMIN_PASSWORD).status_code == 303


def test_a_success_resets_the_pairs_count(app, throttle):
    admin = browser_at(app, ADMIN_HOME)
    fail(admin, 4)
    assert log_in(admin, ADMIN_PASSWORD).status_code == 303
    admin = browser_at(app, ADMIN_HOME)  # logged out, same address
    fail(admin, 4)  # 8 failures in the minute, but only 4 since the success
    assert log_in(admin, ADMIN_PASSWORD).status_code == 303


def test_one_address_trying_many_usernames_is_refused(app, throttle):
    attacker = browser_at(app, ATTACKER)
    for n in range(20):
        fail(attacker, 1, username=f"user{n}")
    assert log_in(attacker, "guess", username="someone-else").status_code == 429
    assert log_in(browser_at(app, ADMIN_HOME), ADMIN_PASSWORD).status_code == 303


def test_a_guess_spread_over_addresses_is_slowed_down_not_refused(app, throttle):
    for n in range(9):  # one failure from each of nine addresses
        fail(browser_at(app, f"192.0.2.{n + 1}"), 1)
    # Free for five failures, then doubling from 0.25 s, capped at 2 s.
    assert throttle.sleeps == [0.25, 0.5, 1.0, 2.0]
    response = log_in(browser_at(app, ADMIN_HOME), ADMIN_PASSWORD)
    assert response.status_code == 303  # slowed, but in
    assert throttle.sleeps[-1] == 2.0
    # Other usernames are not slowed by the attack on this one.
    fail(browser_at(app, "192.0.2.200"), 1, username="nobody")
    assert len(throttle.sleeps) == 5
