"""`make serve`: build the site, then serve site + service from one process.

While it runs, saving a post, a page, a template or the settings rebuilds the
site, so a browser refresh shows the change. A build that fails prints why
and keeps serving the last good site.
"""

import os
import sys
import threading
from pathlib import Path

from watchfiles import watch

from comments_service import create_app
from comments_service.cli import ensure_admin
from comments_service.db import get_db
from comments_service.publish import BuildError, publish_site
from comments_service.static_site.warm import all_publishers


def rebuild(app):
    try:
        publish_site(app.config)
    except BuildError as exc:
        print(f"\n*** Build failed; still serving the previous site.\n*** {exc}\n", file=sys.stderr)
        return False
    return True


def watch_and_rebuild(app, stop_event):
    project = Path(app.config["PELICAN_SETTINGS"]).parent
    watched = [project / "content", project / "theme", Path(app.config["PELICAN_SETTINGS"])]
    for _changes in watch(*watched, stop_event=stop_event):
        print("Change detected, rebuilding the site...", file=sys.stderr)
        rebuild(app)


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
    port = int(os.environ.get("PORT", "8000"))
    prepare_admin(app)
    if not rebuild(app) and not Path(app.config["SITE_DIR"], "index.html").exists():
        return 1
    stop_event = threading.Event()
    threading.Thread(target=watch_and_rebuild, args=(app, stop_event), daemon=True).start()
    print(f"\nCareer Notes is running at http://127.0.0.1:{port}/  (Ctrl+C to stop)\n")
    try:
        app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)
    finally:
        stop_event.set()
        # Ctrl+C within the debounce of a Popular Posts build: run it now.
        for publisher in all_publishers():
            publisher.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
