"""Live reload for `make serve`: a page open in the browser reloads itself when
a rebuild changed it.

Only the development server (``serve.py``) calls ``init_app``; nothing of it
is in the built site, in `make publish`'s releases or in the production app.
It adds to every page of the static site it serves (and to its 404 page) one
script file, ``/__livereload.js``: a file, because the Content-Security-Policy
(``security.py``) runs no inline script. The script opens a Server-Sent Events
stream, ``/__livereload``, carrying the page's path and the build it was
served from; the stream answers ``reload`` as soon as a later build changed
that page (or maybe every page: a full build, a failed one whose banner must
show, the first good one after it), and the page reloads, unless a form on
it holds text being typed. A page no build changed is not reloaded. A tab
in the background closes its stream (browsers open at most six connections
to a site) and, shown again, opens it with the same build number: what was
built meanwhile reloads it then.

The `livereload` package (2.7.1) was considered: it serves the site from its
own Tornado server over a WebSocket, runs its own file watcher and injects
its script inline; `make serve` already has a server (Flask), a watcher
(watchfiles) and a CSP without inline script, and what remains here is a
counter, a condition and an event stream on the server the pages come from.
"""

import secrets
import threading
from collections import deque
from html import escape
from urllib.parse import quote, unquote

from flask import g, request

KEY = "live_reload"  # app.extensions key: the ``Builds``
SCRIPT_URL = "/__livereload.js"
EVENTS_URL = "/__livereload"
# A stream says something at least this often: a tab closed meanwhile is
# noticed at the next write, and its thread let go.
KEEP_ALIVE_SECONDS = 15
RELOAD = "event: reload\ndata: \n\n"
SCRIPT = """\
// make serve only: reload this page when a rebuild changed it (comments_service/live_reload.py).
(function () {
  var url = document.currentScript.dataset.events;
  var events = null;
  function typing() {
    return Array.prototype.some.call(
      document.querySelectorAll("form textarea, form input"),
      function (field) {
        // A box's value is "on" whatever its state: what counts is whether it is ticked.
        if (field.type === "checkbox" || field.type === "radio") {
          return field.checked !== field.defaultChecked;
        }
        return field.value !== field.defaultValue;
      }
    );
  }
  function disconnect() {
    if (events) { events.close(); events = null; }
  }
  function connect() {
    if (events || document.visibilityState === "hidden") return;
    events = new EventSource(url);
    events.addEventListener("reload", function () {
      disconnect();
      if (typing()) {
        console.info("The site was rebuilt; reload when you are done typing.");
      } else {
        location.reload();
      }
    });
  }
  // A hidden tab lets its connection go (a browser opens six at most to a
  // site); shown again, it asks for what was built meanwhile.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { disconnect(); } else { connect(); }
  });
  connect();
})();
"""


class Builds:
    """The builds since the server started, numbered, and which pages each
    changed (URL paths; None: maybe every page). Kept for the last
    ``remembered`` builds; a page older than that reloads."""

    def __init__(self, remembered=200):
        self.server = secrets.token_hex(4)  # a page from another run of the server reloads
        self.number = 0
        self._changed = deque(maxlen=remembered)  # (number, paths or None)
        self._condition = threading.Condition()
        self._closed = False

    @property
    def version(self):
        return f"{self.server}.{self.number}"

    def built(self, output_paths=None):
        """A build changed these files (paths relative to the output; None: any)."""
        paths = None if output_paths is None else frozenset(map(url_path, output_paths))
        with self._condition:
            self.number += 1
            self._changed.append((self.number, paths))
            self._condition.notify_all()

    def close(self):
        """End every stream (the server is stopping)."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def stream(self, path, version):
        """The event stream of a page at ``path`` served at build ``version``."""
        server, _, number = version.partition(".")
        yield "retry: 1000\n\n"
        if server != self.server or not number.isdigit():
            yield RELOAD  # served by another run of the server
            return
        seen = int(number)
        while True:
            with self._condition:
                self._condition.wait_for(
                    lambda seen=seen: self._closed or self.number > seen,
                    timeout=KEEP_ALIVE_SECONDS,
                )
                if self._closed:
                    return
                reload = self._changed_since(seen, path)
                seen = self.number
            if reload:
                yield RELOAD
                return
            yield ": still here\n\n"

    def _changed_since(self, seen, path):
        newer = [(number, paths) for number, paths in self._changed if number > seen]
        if newer and newer[0][0] != seen + 1:
            return True  # builds forgotten in between
        return any(paths is None or path in paths for _number, paths in newer)


def url_path(output_path):
    """The URL path a file of the site is served at: ``2022/12/x/index.html`` -> ``/2022/12/x/``."""
    path = "/" + str(output_path).lstrip("/")
    return path.removesuffix("index.html")


def page_path(path):
    """A request's path as ``url_path`` names it (``/x/index.html`` and ``/x/`` are one page)."""
    return unquote(path).removesuffix("index.html")


def init_app(app):
    """Serve the script and the stream, and add the script to the static site's pages."""
    builds = app.extensions[KEY] = Builds()

    @app.route(SCRIPT_URL)
    def live_reload_script():
        response = app.response_class(SCRIPT, mimetype="text/javascript")
        response.cache_control.no_store = True
        return response

    @app.route(EVENTS_URL)
    def live_reload_events():
        path = page_path(request.args.get("path", "/"))
        response = app.response_class(
            builds.stream(path, request.args.get("version", "")), mimetype="text/event-stream"
        )
        response.cache_control.no_store = True
        return response

    @app.before_request
    def remember_the_build():
        # Before the page is read: a build finishing meanwhile is a newer one
        # (at worst the page reloads once more than needed, never once less).
        g.live_reload_version = builds.version
        if request.blueprint == "site":
            # The page carries the build's number: never "304 Not Modified",
            # or the browser would keep a copy carrying an older one.
            for header in ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE"):
                request.environ.pop(header, None)

    @app.after_request
    def add_script(response):
        if (
            request.blueprint != "site"
            or response.mimetype != "text/html"
            or response.direct_passthrough
        ):
            return response
        events = f"{EVENTS_URL}?version={g.live_reload_version}&path={quote(request.path)}"
        tag = f'<script src="{SCRIPT_URL}" data-events="{escape(events)}" defer></script>'
        page = response.get_data(as_text=True)
        response.set_data(page.replace("</head>", tag + "</head>", 1))
        response.headers.pop("ETag", None)
        response.headers.pop("Last-Modified", None)
        response.cache_control.no_store = True
        return response

    return builds
