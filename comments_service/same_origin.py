"""Cross-site request forgery protection for the public POSTs (comments, privacy
choices, page-view beacons), which come from cached static pages and so cannot
carry a per-session token.

Every such POST must come from this site's own pages. Browsers say where a
request comes from: ``Sec-Fetch-Site`` (anything but ``same-origin`` or
``none`` is refused) and ``Origin`` (it must be this site's origin, or
``SITE_URL`` behind a proxy). A request with neither header does not come
from a modern browser, so it cannot be a forgery riding on a reader's
browser. This follows OWASP's "Fetch Metadata" and "Verifying Origin With
Standard Headers" guidance, and Go's ``http.CrossOriginProtection``.
"""

from flask import current_app, request

from comments_service.errors import error_response


def allowed_origins():
    origins = {request.host_url.rstrip("/")}
    if current_app.config.get("SITE_URL"):
        origins.add(current_app.config["SITE_URL"].rstrip("/"))
    return origins


def is_cross_site():
    """True when the request comes from another site's page."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    return origin is not None and origin not in allowed_origins()


def refuse_cross_site_posts():
    """A ``before_request`` hook for public blueprints."""
    if request.method == "POST" and is_cross_site():
        return error_response(403, "This form can only be sent from this site's own pages.")
    return None
