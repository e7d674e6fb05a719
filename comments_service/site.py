"""Blueprint: the built static site, for `make serve` (one process for everything).

In production nginx serves these files and proxies only /comments/, /admin/,
/privacy/ and /stats/ to the service; this blueprint mirrors that layout, so
a page served here behaves as it will there, 404 page included.
"""

import mimetypes
from pathlib import Path

from flask import Blueprint, current_app, redirect, request
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

bp = Blueprint("site", __name__)


@bp.route("/", defaults={"path": ""})
@bp.route("/<path:path>")
def static_file(path):
    """Serve a file of the built site; a folder serves its index.html."""
    site_dir = current_app.config["SITE_DIR"]
    full_path = safe_join(site_dir, path)
    # A NUL byte names no file (the OS refuses it with ValueError): 404.
    if full_path is None or "\0" in full_path:
        raise NotFound()
    file = Path(full_path)
    if file.is_dir():
        if path and not path.endswith("/"):
            # Like nginx: /2022/12 -> /2022/12/, so relative links keep working.
            query = f"?{request.query_string.decode()}" if request.query_string else ""
            return redirect(f"/{path}/{query}", code=301)
        file = file / "index.html"
    try:
        # Read whole (site files are small): a publish may replace the file
        # any moment, and a reader must get either the old or the new one.
        body = file.read_bytes()
        modified = file.stat().st_mtime
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound() from None
    mimetype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    response = current_app.response_class(body, mimetype=mimetype)
    response.last_modified = modified
    response.add_etag()
    # Revalidate every time: after a rebuild or a moderation decision the
    # reader must see the new page, not a cached one.
    response.cache_control.no_cache = True
    return response.make_conditional(request)


def not_found(error):
    """Answer any 404 with the site's themed 404 page, if the site is built."""
    page = Path(current_app.config["SITE_DIR"]) / "404.html"
    if page.is_file():
        return page.read_text(encoding="utf-8"), 404
    return "Page not found", 404
