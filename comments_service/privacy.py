"""Blueprint: the cookie choice (opt-out, opt-in, status) behind the banner.

The reader's choice lives in one strictly necessary first-party cookie,
``privacy_choice`` ("out" or "in"), for about six months. A request with
``Sec-GPC: 1`` (Global Privacy Control) counts as opted out whatever the
cookie says. Two consent modes, set by the author in ``pelicanconf.py``
(``CONSENT_MODE``) and read here from the post registry:

* ``opt-out`` (default, the original site's behaviour): non-essential scripts
  may run until the reader opts out; opting back in removes the preference.
* ``opt-in`` (what EU law expects): nothing non-essential runs until the
  reader accepts; accepting records "in", refusing records "out".

Opting out also expires every non-essential cookie listed in the site's one
cookie list (``SITE_COOKIES`` in ``pelicanconf.py``, also shown on the Privacy
page). Both POSTs work as plain HTML forms (303 back to the page, never to
another site) and answer JSON to ``Accept: application/json``.
"""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, redirect, request

from comments_service import registry
from comments_service.errors import wants_json
from comments_service.extensions import csrf
from comments_service.same_origin import refuse_cross_site_posts

bp = Blueprint("privacy", __name__, url_prefix="/privacy")
bp.before_request(refuse_cross_site_posts)

PREFERENCE_COOKIE = "privacy_choice"
PREFERENCE_MAX_AGE = 182 * 24 * 3600  # about six months
MODES = ("opt-out", "opt-in")


def consent_mode():
    mode = registry.current().get("site", {}).get("CONSENT_MODE", "opt-out")
    return mode if mode in MODES else "opt-out"


def consent_state(choice=None):
    """What the reader chose and whether non-essential scripts and counting may run."""
    if choice is None:
        choice = request.cookies.get(PREFERENCE_COOKIE)
    choice = choice if choice in ("in", "out") else None
    gpc = request.headers.get("Sec-GPC", "").strip() == "1"
    mode = consent_mode()
    opted_out = gpc or choice == "out"
    allowed = not opted_out and (mode == "opt-out" or choice == "in")
    return {"opted_out": opted_out, "gpc": gpc, "allowed": allowed, "mode": mode}


def non_essential_cookies():
    cookies = registry.current().get("site", {}).get("COOKIES", [])
    return [c["name"] for c in cookies if c.get("kind") != "Strictly necessary"]


def safe_next():
    """The page to go back to: a path on this site, never another site."""
    target = request.form.get("next") or urlsplit(request.referrer or "").path or "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def answer(choice_after, fragment):
    """JSON for the banner's script, else 303 back to the page the reader was on."""
    if wants_json():
        return jsonify(consent_state(choice_after or ""))
    # The fragment lets the static page show the new state without JavaScript
    # (CSS :target); the page itself is served unchanged from cache.
    return redirect(f"{safe_next()}#{fragment}", 303)


def set_preference(response, value):
    response.set_cookie(
        PREFERENCE_COOKIE,
        value,
        max_age=PREFERENCE_MAX_AGE,
        path="/",
        secure=not current_app.config["DEVELOPMENT"],
        httponly=True,
        samesite="Lax",
    )


def expire_non_essential(response):
    host = urlsplit(current_app.config.get("SITE_URL") or "").hostname
    for name in non_essential_cookies():
        response.delete_cookie(name, path="/")
        if host:  # analytics often set theirs on the domain, not the host
            response.delete_cookie(name, path="/", domain=host)


@bp.post("/opt-out")
@csrf.exempt  # cached static pages carry no token: checked by origin instead
def opt_out():
    response = answer("out", "cookie-choice-out")
    set_preference(response, "out")
    expire_non_essential(response)
    return response


@bp.post("/opt-in")
@csrf.exempt  # cached static pages carry no token: checked by origin instead
def opt_in():
    if consent_mode() == "opt-in":
        response = answer("in", "cookie-choice-in")
        set_preference(response, "in")
    else:
        response = answer(None, "cookie-choice-in")
        response.delete_cookie(PREFERENCE_COOKIE, path="/")
    return response


@bp.get("/status")
def status():
    response = jsonify(consent_state())
    response.headers["Cache-Control"] = "no-store"
    response.vary.update(["Cookie", "Sec-GPC"])
    return response
