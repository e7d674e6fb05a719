"""Blueprint: the site's own cookieless page-view counter.

Each post page sends one beacon (``navigator.sendBeacon``) to ``POST /stats/``
with the post's slug, and only when the reader allows it. The server checks
again: a beacon carrying the opt-out choice or ``Sec-GPC: 1`` (or, in opt-in
mode, no acceptance) is ignored, and a slug not in the post registry is
refused. What is stored is a count per post and day: no cookie is set and no
address or user agent is kept.
"""

from flask import Blueprint, current_app, request

from comments_service import db, registry
from comments_service.errors import error_response
from comments_service.extensions import csrf, limiter
from comments_service.privacy import consent_state
from comments_service.same_origin import refuse_cross_site_posts

bp = Blueprint("stats", __name__, url_prefix="/stats")
bp.before_request(refuse_cross_site_posts)


def beacon_slug():
    # sendBeacon with a string sends text/plain; a form post sends a field.
    return (request.form.get("post") or request.get_data(as_text=True)).strip()[:200]


@bp.post("/")
@csrf.exempt  # sent from static pages, which carry no token: checked by origin instead
@limiter.limit(lambda: current_app.config["BEACON_RATE_LIMIT"])
def beacon():
    slug = beacon_slug()
    if registry.find_post(slug) is None:
        return error_response(404, "There is no such post to count.")
    if consent_state()["allowed"]:
        db.count_view(db.get_db(), slug)
    return "", 204
