"""The cookie choice endpoints, Global Privacy Control, and the page-view counter."""

import json

import pytest
from bs4 import BeautifulSoup

from comments_service import db
from support import MENTOR_SLUG, MENTOR_URL, published_posts

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
JSON = {**SAME_ORIGIN, "Accept": "application/json"}
ANALYTICS_COOKIE = {
    "name": "_ga",
    "purpose": "Analytics",
    "kind": "Analytics",
    "lifetime": "2 years",
    "who": "Readers who allow analytics",
}


def change_registry_site(live_site, **settings):
    """Rebuild-free way to change what the build told the service about the site."""
    path = live_site.path / "post-registry.json"
    registry = json.loads(path.read_text())
    registry["site"].update(settings)
    path.write_text(json.dumps(registry))


def set_cookies(response):
    return response.headers.getlist("Set-Cookie")


def preference_cookie(response):
    return next(c for c in set_cookies(response) if c.startswith("privacy_choice="))


def test_opting_out_with_a_form_sets_one_preference_cookie_and_goes_back(client):
    response = client.post("/privacy/opt-out", data={"next": MENTOR_URL}, headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert response.headers["Location"] == MENTOR_URL + "#cookie-choice-out"
    cookie = preference_cookie(response)
    assert cookie.startswith("privacy_choice=out;")
    for attribute in ("Path=/", "SameSite=Lax", "HttpOnly", "Secure", "Max-Age=15724800"):
        assert attribute in cookie


def test_in_development_the_preference_cookie_works_over_plain_http(app, client):
    app.config["DEVELOPMENT"] = True
    response = client.post("/privacy/opt-out", headers=SAME_ORIGIN)
    assert "Secure" not in preference_cookie(response)


def test_opting_out_expires_every_non_essential_cookie_on_the_list(app, client, live_site):
    change_registry_site(
        live_site,
        COOKIES=[
            *json.loads(live_site.text("/post-registry.json"))["site"]["COOKIES"],
            ANALYTICS_COOKIE,
        ],
    )
    app.config["SITE_URL"] = "https://careers.example"
    response = client.post("/privacy/opt-out", headers=SAME_ORIGIN)
    expired = [c for c in set_cookies(response) if c.startswith("_ga=")]
    assert len(expired) == 2, "host cookie and domain cookie"
    assert all("Max-Age=0" in c and "Path=/" in c for c in expired)
    assert any("Domain=careers.example" in c for c in expired)
    names = {c.split("=", 1)[0] for c in set_cookies(response)}
    assert names == {"privacy_choice", "_ga"}, "strictly necessary cookies are kept"


def test_opting_back_in_removes_the_preference(client):
    client.post("/privacy/opt-out", headers=SAME_ORIGIN)
    response = client.post("/privacy/opt-in", data={"next": "/about/"}, headers=SAME_ORIGIN)
    assert response.headers["Location"] == "/about/#cookie-choice-in"
    assert "Max-Age=0" in preference_cookie(response)
    assert client.get("/privacy/status").json == {
        "opted_out": False,
        "gpc": False,
        "allowed": True,
        "mode": "opt-out",
    }


def test_json_answers_for_the_banner_script(client):
    response = client.post("/privacy/opt-out", headers=JSON)
    assert response.status_code == 200
    assert response.json["opted_out"] is True and response.json["allowed"] is False
    response = client.post("/privacy/opt-in", headers=JSON)
    assert response.json["opted_out"] is False and response.json["allowed"] is True


def test_status_reports_the_choice_and_gpc(client):
    status = client.get("/privacy/status")
    assert status.json["opted_out"] is False and status.json["gpc"] is False
    assert status.headers["Cache-Control"] == "no-store"
    client.post("/privacy/opt-out", headers=SAME_ORIGIN)
    assert client.get("/privacy/status").json["opted_out"] is True


def test_sec_gpc_counts_as_opted_out_whatever_the_cookie_says(client, live_site):
    change_registry_site(live_site, CONSENT_MODE="opt-in")
    client.post("/privacy/opt-in", headers=SAME_ORIGIN)
    assert client.get("/privacy/status").json["allowed"] is True
    status = client.get("/privacy/status", headers={"Sec-GPC": "1"}).json
    assert status == {"opted_out": True, "gpc": True, "allowed": False, "mode": "opt-in"}


def test_opt_in_mode_allows_nothing_before_acceptance(client, live_site):
    change_registry_site(live_site, CONSENT_MODE="opt-in")
    assert client.get("/privacy/status").json == {
        "opted_out": False,
        "gpc": False,
        "allowed": False,
        "mode": "opt-in",
    }
    response = client.post("/privacy/opt-in", headers=SAME_ORIGIN)
    assert preference_cookie(response).startswith("privacy_choice=in;")
    assert client.get("/privacy/status").json["allowed"] is True
    client.post("/privacy/opt-out", headers=SAME_ORIGIN)
    assert client.get("/privacy/status").json["allowed"] is False


@pytest.mark.parametrize(
    ("form", "referrer", "location"),
    [
        ({"next": "/2022/12/"}, None, "/2022/12/#cookie-choice-out"),
        ({"next": "/archives/?page=2"}, None, "/archives/?page=2#cookie-choice-out"),
        ({"next": "https://evil.example/"}, None, "/#cookie-choice-out"),
        ({"next": "//evil.example/"}, None, "/#cookie-choice-out"),
        ({"next": "/\\evil.example"}, None, "/#cookie-choice-out"),
        ({"next": "javascript:alert(1)"}, None, "/#cookie-choice-out"),
        ({}, "http://localhost/about/", "/about/#cookie-choice-out"),
        ({}, None, "/#cookie-choice-out"),
    ],
)
def test_redirects_only_go_back_to_a_page_of_this_site(client, form, referrer, location):
    headers = {**SAME_ORIGIN, **({"Referer": referrer} if referrer else {})}
    response = client.post("/privacy/opt-out", data=form, headers=headers)
    assert response.status_code == 303
    assert response.headers["Location"] == location


@pytest.mark.parametrize("path", ["/privacy/opt-out", "/privacy/opt-in", "/stats/"])
@pytest.mark.parametrize(
    "headers", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}]
)
def test_public_privacy_posts_refuse_other_sites(client, database, path, headers):
    response = client.post(path, data=MENTOR_SLUG, headers=headers)
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    assert db.views_since(database) == {}


def test_the_gpc_support_file_is_published(live_site):
    assert json.loads(live_site.text("/.well-known/gpc.json"))["gpc"] is True


# --- the page-view counter ------------------------------------------------------


def beacon(client, slug=MENTOR_SLUG, headers=None):
    return client.post(
        "/stats/",
        data=slug,
        headers={**SAME_ORIGIN, **(headers or {})},
        content_type="text/plain;charset=UTF-8",
    )


def test_a_beacon_is_counted_per_post_and_day_with_nothing_about_the_reader(client, database):
    first_day = db.today()
    assert beacon(client).status_code == 204
    assert beacon(client).status_code == 204
    response = beacon(client, "keep-a-brag-document")
    assert "Set-Cookie" not in response.headers
    assert db.views_since(database) == {MENTOR_SLUG: 2, "keep-a-brag-document": 1}
    assert set(database["page_views"].columns_dict) == {"post_slug", "day", "views"}
    # Either side of midnight, the day is the one the beacon arrived on.
    assert {row["day"] for row in database["page_views"].rows} <= {first_day, db.today()}


def test_beacons_from_opted_out_or_gpc_readers_are_ignored(client, database):
    assert beacon(client, headers={"Sec-GPC": "1"}).status_code == 204
    client.post("/privacy/opt-out", headers=SAME_ORIGIN)
    assert beacon(client).status_code == 204
    assert db.views_since(database) == {}


def test_in_opt_in_mode_only_accepting_readers_are_counted(client, database, live_site):
    change_registry_site(live_site, CONSENT_MODE="opt-in")
    beacon(client)
    assert db.views_since(database) == {}
    client.post("/privacy/opt-in", headers=SAME_ORIGIN)
    beacon(client)
    assert db.views_since(database) == {MENTOR_SLUG: 1}


@pytest.mark.parametrize("slug", ["no-such-post", "", "../admin", "draft-salary-bands"])
def test_beacons_for_posts_not_in_the_registry_are_refused(client, database, slug):
    assert beacon(client, slug).status_code == 404
    assert db.views_since(database) == {}


def test_only_the_last_30_days_count(database):
    db.count_view(database, MENTOR_SLUG, day="2020-01-01")
    db.count_view(database, MENTOR_SLUG)
    assert db.views_since(database, days=30) == {MENTOR_SLUG: 1}


def test_views_rank_popular_posts_at_the_next_publish(app, client, database, live_site):
    for _ in range(3):
        beacon(client, "negotiate-your-first-job-offer")
    from comments_service.publish import publish_site

    publish_site(app.config)
    popular = live_site.page("/").select("#popular-heading + ol a")
    assert popular[0].get_text() == "Negotiating Your First Job Offer Without the Dread"


def test_the_admin_stats_page_shows_views_as_a_chart_and_a_table(admin, client, database):
    assert client.get("/admin/stats").status_code == 302
    for _ in range(4):
        db.count_view(database, "keep-a-brag-document")
    db.count_view(database, MENTOR_SLUG)
    admin.login()
    page = BeautifulSoup(client.get("/admin/stats").data, "html.parser")
    rows = [[td.get_text(strip=True) for td in tr.select("td")] for tr in page.select("tbody tr")]
    assert rows[0] == ["1", "Why You Should Keep a Brag Document (and How to Start Today)", "4"]
    assert rows[1][1:] == ["How to Meet Potential Mentors Through Informational Interviews", "1"]
    assert len(rows) == len(published_posts())
    svg = page.select_one("svg[role=img]")
    assert len(svg.select("rect")) == len(published_posts())
    assert [t.get_text() for t in svg.select("text")][:2] == ["4", "1"]
    assert "opted out of cookies" in page.get_text() and "not counted at all" in page.get_text()
