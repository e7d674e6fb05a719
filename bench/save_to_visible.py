"""Goal 9, save-to-visible: from the author saving a post to the open page
showing the change, in a real browser, for `make serve` and for `hugo server`.

Each server serves its own copy of the same corpus (for Hugo converted by
``hugo_site``): ours as `make serve` runs it (``python -m
comments_service.serve``, development settings, its live reload), Hugo
0.111's ``hugo server`` with its defaults (pages from memory, Fast Render
Mode, its live reload). Debian's chromium (driven by Playwright) opens a
post's page; a second later (an author reads before saving; sooner, Hugo's
page can come back "304 Not Modified", its HTTP date being the same second's)
the post's Markdown file gets a new word at the start of its first paragraph,
saved as many editors save (a new file renamed over the old one); the time
is from just before the write to the moment the
page's DOM holds the word. That moment is taken inside the page (a script
Playwright adds to every page: a MutationObserver that notes ``Date.now()``
when the word appears, during the reloaded page's parsing), so the figure
does not depend on how often the benchmark polls. No manual reload: each
server's own live reload must bring the change. The next save waits until
the server says it is done with the previous one (our "Published ..." line,
Hugo's "Total in ..."), so saves do not overlap.

Stdlib and Playwright only; the servers run in processes of their own.
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

# Notes when the marker (sessionStorage "bench-marker") first appears in the DOM.
INIT_SCRIPT = """
(() => {
  const marker = sessionStorage.getItem("bench-marker");
  if (!marker || sessionStorage.getItem("bench-seen")) return;
  const check = () => {
    const root = document.documentElement;
    if (root && root.textContent.includes(marker)) {
      sessionStorage.setItem("bench-seen", String(Date.now()));
      return true;
    }
    return false;
  };
  const observer = new MutationObserver(() => { if (check()) observer.disconnect(); });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
  document.addEventListener("DOMContentLoaded", () => { if (check()) observer.disconnect(); });
})();
"""


class Server:
    """A server process writing its log to a file; ``done`` counts the lines
    saying it finished publishing a change."""

    def __init__(self, name, cmd, env, cwd, log_path, done_pattern):
        self.name, self.log_path = name, Path(log_path)
        self.done_pattern = re.compile(done_pattern, re.M)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=log)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def done(self):
        return len(self.done_pattern.findall(self.log()))

    def wait_ready(self, url, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.log()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer within {timeout} s")
            time.sleep(0.2)

    def wait_done(self, count, timeout=300):
        """Wait until the server has finished ``count`` changes."""
        deadline = time.monotonic() + timeout
        while self.done() < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not finish a change:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_ours(python, root, settings_file, site_dir, db_path, port, log_path):
    """`make serve` over a corpus: what the Makefile runs, with the corpus's settings."""
    env = {
        **os.environ,
        "BLOG_ENV": "development",
        "PORT": str(port),
        "COMMENTS_DB": str(db_path),
        "FLASK_PELICAN_SETTINGS": str(settings_file),
        "FLASK_SITE_DIR": str(site_dir),
        "FLASK_PASSWORD_HASH": "scrypt:1024:8:1",  # the admin's hash: not what is measured
        "ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "RATELIMIT_ENABLED": "0",
    }
    return Server(
        "make serve",
        [python, "-m", "comments_service.serve"],
        env,
        root,
        log_path,
        r"^(Published |\*\*\* Build failed)",
    )


def start_hugo(hugo, site_dir, port, log_path, extra=()):
    cmd = [
        hugo,
        "server",
        "--source",
        str(site_dir),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--baseURL",
        f"http://127.0.0.1:{port}/",
        "--appendPort=false",
        *extra,
    ]
    return Server("hugo server", cmd, dict(os.environ), site_dir, log_path, r"^Total in ")


def add_marker(path, marker):
    """Put ``marker`` at the start of the first paragraph of a post (Pelican's
    header or Hugo's front matter, then a blank line, then the body).

    Saved as many editors save: a new file renamed over the old one. (Written
    in place, the file is empty for a moment after it is truncated, and a
    watcher may read it then: Hugo sometimes did, and never showed the edit.)"""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    temporary = path.with_name(f".{path.name}.saving")
    temporary.write_text(text.replace("\n\n", f"\n\n{marker} ", 1), encoding="utf-8")
    os.replace(temporary, path)


def seen_at(page):
    """When the marker appeared in the page (epoch ms), or None yet."""
    from playwright.sync_api import Error

    try:
        value = page.evaluate("sessionStorage.getItem('bench-seen')")
    except Error:  # the page is reloading right now
        return None
    return int(value) if value else None


def measure(page, server, base, edits, websocket=False, timeout=30):
    """Seconds from each save to the open page showing it: [(seconds or None, url)],
    None for a save the page did not show within ``timeout`` seconds.

    With ``websocket`` (Hugo's live reload), each save waits until the page's
    WebSocket has had its first answer: Hugo tells only the pages connected
    when it rebuilds, and a save a moment earlier would never show. (Ours
    needs no wait: a page asks for the builds since the one it was served from.)
    """
    answered = []

    def on_socket(socket):
        socket.on("framereceived", lambda payload: answered.append(payload))

    if websocket:
        page.on("websocket", on_socket)
    results = []
    for url, path in edits:
        answered.clear()
        page.goto(base + url, wait_until="load")
        deadline = time.monotonic() + 60
        while websocket and not answered:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name}: the page's live reload never connected")
            page.wait_for_timeout(20)
        # The author reads for a moment before saving. (Saved within the second
        # the page was served, Hugo's page would come back "304 Not Modified":
        # HTTP dates count whole seconds, and the browser would keep its copy.)
        page.wait_for_timeout(1100)
        marker = f"visible{secrets.token_hex(5)}"
        page.evaluate(
            "m => { sessionStorage.setItem('bench-marker', m);"
            " sessionStorage.removeItem('bench-seen'); }",
            marker,
        )
        finished = server.done()
        saved = time.time()
        add_marker(path, marker)
        deadline = time.monotonic() + timeout
        while (seen := seen_at(page)) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        results.append((None if seen is None else seen / 1000 - saved, url))
        server.wait_done(finished + 1)
        time.sleep(0.3)  # what the server does after saying so (our phase 2 is before it)
    return results


def browser_session(chromium_args):
    """(playwright, browser, page) with the marker script on every page."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if not executable:
        raise RuntimeError("Debian's chromium is needed (apt-get install chromium)")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=executable, args=chromium_args)
    context = browser.new_context()
    context.add_init_script(INIT_SCRIPT)
    return playwright, browser, context.new_page()


def server_times(log):
    """Our server's own figures per change, from its log: (seconds to publish
    every file, seconds to the first pages or None, whether it re-rendered)."""
    pattern = r"^Published (.*?) in (\d+) ms(?: \(the first pages after (\d+) ms\))?\.$"
    return [
        (float(total) / 1000, float(first) / 1000 if first else None, "re-rendered" in what)
        for what, total, first in re.findall(pattern, log, re.M)
    ]
