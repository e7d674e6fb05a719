"""The admin's login: a browser session by default, 30 days with "Remember me",
and "Log out everywhere" ending every session, remembered ones included."""

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from bs4 import BeautifulSoup

from comments_service import admin as admin_module
from support import ADMIN_PASSWORD, ADMIN_USER, AdminSession, csrf_token


def log_in(client, remember):
    data = {
        "username": ADMIN_USER,
        "password": ADMIN_PASSWORD,
        "csrf_token": csrf_token(client, "/admin/login"),
    }
    if remember:
        data["remember"] = "y"  # the ticked checkbox
    response = client.post("/admin/login", data=data)
    assert response.status_code == 303
    return response.headers["Set-Cookie"]


def expires(cookie):
    """The cookie's Expires as a datetime, or None for a browser-session cookie."""
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "expires":
            return parsedate_to_datetime(value)
    return None


def logged_in(client):
    return client.get("/admin/").status_code == 200


@pytest.fixture
def later(monkeypatch):
    """Move the clock of the admin's login forward by ``hours`` (only that
    clock: the cookie's own signature still counts real time)."""

    def move(hours):
        moved = time.time() + hours * 3600
        monkeypatch.setattr(admin_module, "clock", lambda: moved)

    return move


def test_the_login_form_offers_remember_me_unticked(client):
    page = BeautifulSoup(client.get("/admin/login").get_data(as_text=True), "html.parser")
    box = page.select_one("#remember")
    assert box["type"] == "checkbox" and not box.has_attr("checked")
    assert page.select_one('label[for="remember"]').get_text(strip=True) == "Remember me"


def test_without_remember_me_the_cookie_ends_with_the_browser(app, client):
    AdminSession(app, client)
    cookie = log_in(client, remember=False)
    assert expires(cookie) is None and "Max-Age" not in cookie


def test_remember_me_keeps_the_cookie_for_30_days(app, client):
    AdminSession(app, client)
    cookie = log_in(client, remember=True)
    lifetime = expires(cookie) - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < lifetime <= timedelta(days=30)
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_a_remembered_login_lasts_30_days_from_the_login(app, client, later):
    AdminSession(app, client)
    log_in(client, remember=True)
    later(hours=29 * 24)
    assert logged_in(client)
    later(hours=30 * 24 + 1)
    assert not logged_in(client)


def test_a_browser_that_keeps_its_session_cookie_is_still_logged_out_after_12_hours(
    app, client, later
):
    # Browsers that restore their tabs keep "session" cookies for days.
    AdminSession(app, client)
    log_in(client, remember=False)
    later(hours=11)
    assert logged_in(client)
    later(hours=13)
    assert not logged_in(client)


def test_log_out_everywhere_ends_a_remembered_session_in_another_browser(app, client):
    phone, laptop = app.test_client(), client
    AdminSession(app, laptop)
    log_in(phone, remember=True)
    log_in(laptop, remember=False)
    assert logged_in(phone) and logged_in(laptop)
    page = BeautifulSoup(laptop.get("/admin/").get_data(as_text=True), "html.parser")
    button = page.select_one('form[action="/admin/logout"] button')
    assert button.get_text(strip=True) == "Log out everywhere"
    response = laptop.post("/admin/logout", data={"csrf_token": csrf_token(laptop, "/admin/")})
    assert response.status_code == 303
    assert not logged_in(laptop)
    assert not logged_in(phone)
    assert "You are logged out, on every browser." in laptop.get("/admin/login").get_data(
        as_text=True
    )
