"""`make serve`: build the site, then serve site + service from one process.

While it runs, saving a post, a page, a template or the settings publishes
the change, and the pages open in a browser that it changed reload by
themselves (``live_reload``). A post edited re-renders only the pages that
show it, in a fraction of a second (``static_site.preview``); anything else
rebuilds the site. A build that fails prints why and keeps serving the last
good site, and until a build succeeds again every page of it carries a
banner listing the problems (development only: this module is `make serve`,
never production).
"""

import html
import os
import re
import sys
import threading
import time
from pathlib import Path

from flask import request
from pelican.settings import read_settings
from watchfiles import watch

from comments_service import create_app, live_reload
from comments_service.cli import ensure_admin
from comments_service.db import get_db
from comments_service.outbox import start_sender
from comments_service.publish import BuildError, publish_changes, publish_site
from comments_service.static_site.warm import all_publishers


def rebuild(app, changes=None):
    """Publish the site: all of it, or what ``changes`` (watchfiles' pairs) need;
    then tell the open pages (live reload). Return whether it succeeded."""
    builds = app.extensions.get(live_reload.KEY)

    def tell(paths):
        if builds is not None:
            builds.built(paths)

    told = []

    def written(paths):
        told.append(time.perf_counter())
        # The first pages of an edit are written: it passed the checks.
        if app.extensions.get(BUILD_FAILURE):
            app.extensions[BUILD_FAILURE] = None
            tell(None)  # the banner goes from every page
        elif paths:
            tell(paths)

    started = time.perf_counter()
    try:
        if changes is None:
            publish_site(app.config)
            done = None
        else:
            done = publish_changes(app.config, changes, written)
    except BuildError as exc:
        print(f"\n*** Build failed; still serving the previous site.\n*** {exc}\n", file=sys.stderr)
        app.extensions[BUILD_FAILURE] = str(exc)
        tell(None)  # the banner shows on every page
        return False
    if done is None or app.extensions.get(BUILD_FAILURE):
        app.extensions[BUILD_FAILURE] = None
        tell(None)  # a full build may have changed any page
    took = f"{(time.perf_counter() - started) * 1000:.0f} ms"
    what = "the whole site" if done is None else f"{len(done)} changed files (re-rendered)"
    first = f" (the first pages after {(told[0] - started) * 1000:.0f} ms)" if told else ""
    print(f"Published {what} in {took}{first}.", file=sys.stderr)
    return True


# --- the failed build, shown on every page ------------------------------------

BUILD_FAILURE = "serve.build_failure"  # app.extensions key: the message, or None
BANNER_CSS_URL = "/__build-failed.css"
# A file, not a style attribute: the Content-Security-Policy allows no inline style.
BANNER_CSS = """\
.build-failed { margin: 0; padding: 1rem 1.5rem; background: #fff0f0; color: #5c0000;
  border-bottom: 4px solid #b00020; font: 1rem/1.4 system-ui, sans-serif; }
.build-failed h2 { margin: 0 0 .5rem; font-size: 1.25rem; }
.build-failed pre { margin: .5rem 0 0; white-space: pre-wrap; font-size: .9rem; }
"""


def banner(message):
    return (
        '<section class="build-failed" role="alert" aria-labelledby="build-failed-title">'
        '<h2 id="build-failed-title">The last build failed: this is the last good site</h2>'
        "<p>Fix what is listed here and save: this page reloads after the next build.</p>"
        f"<pre>{html.escape(message)}</pre></section>"
    )


def show_build_failures(app):
    """While the last build failed, put the reasons on top of every HTML page."""

    @app.route(BANNER_CSS_URL)
    def build_failed_css():
        return app.response_class(BANNER_CSS, mimetype="text/css")

    @app.before_request
    def no_cached_pages():
        # A page unchanged since the last good build would be answered "304
        # Not Modified", and the browser would show its copy without the banner.
        if app.extensions.get(BUILD_FAILURE):
            for header in ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE"):
                request.environ.pop(header, None)

    @app.after_request
    def add_banner(response):
        message = app.extensions.get(BUILD_FAILURE)
        if not message or response.mimetype != "text/html" or response.direct_passthrough:
            return response
        page = response.get_data(as_text=True)
        page = page.replace("</head>", f'<link rel="stylesheet" href="{BANNER_CSS_URL}"></head>', 1)
        page = re.sub(r"<body\b[^>]*>", lambda m: m[0] + banner(message), page, count=1)
        response.set_data(page)
        # Not to be kept: the next good build must show without the banner.
        response.headers.pop("ETag", None)
        response.headers.pop("Last-Modified", None)
        response.cache_control.no_store = True
        return response


def watch_and_rebuild(app, stop_event):
    """Publish each change to the author's files until ``stop_event`` is set."""
    settings_file = Path(app.config["PELICAN_SETTINGS"])
    settings = read_settings(str(settings_file))
    watched = [Path(settings["PATH"]), Path(settings["THEME"]), settings_file]
    pending = set()  # changes not yet published by a successful build
    for changes in watch(*watched, stop_event=stop_event):
        print("Change detected, publishing...", file=sys.stderr)
        # After a failed build, what it failed on is published again with the
        # next change: a fix elsewhere must not clear the banner alone.
        pending |= changes
        if rebuild(app, pending):
            pending.clear()


def prepare_admin(app):
    """Make sure an admin can log in (ADMIN_USERNAME / ADMIN_PASSWORD, or a first one)."""
    username = os.environ.get("ADMIN_USERNAME") or "admin"
    with app.app_context():
        password = ensure_admin(get_db(), username, os.environ.get("ADMIN_PASSWORD"))
    if password:
        print(
            f"\nCreated the admin account '{username}' with the password:\n\n    {password}\n\n"
            "It is shown only this once. Change it with:\n"
            f"    .venv/bin/flask --app comments_service admin set-password {username}\n"
        )


def main():
    app = create_app()
    show_build_failures(app)
    builds = live_reload.init_app(app)
    port = int(os.environ.get("PORT", "8000"))
    prepare_admin(app)
    if not rebuild(app) and not Path(app.config["SITE_DIR"], "index.html").exists():
        return 1
    stop_event = threading.Event()
    threading.Thread(target=watch_and_rebuild, args=(app, stop_event), daemon=True).start()
    sender = start_sender(app.config, name="serve")  # the outbox's emails (None: no SMTP_HOST)
    print(f"\nCareer Notes is running at http://127.0.0.1:{port}/  (Ctrl+C to stop)\n")
    try:
        app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)
    finally:
        stop_event.set()
        # The email being sent is finished; the others wait for the next start.
        if sender:
            sender.stop()
        builds.close()
        # Ctrl+C within the debounce of a Popular Posts build: run it now.
        for publisher in all_publishers():
            publisher.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
