"""Benchmarks of the site build, the comment service and the pages (`make bench`).

    .venv/bin/python bench/run.py                 # full run: N = 1,000 and 10,000 posts
    BENCH_QUICK=1 .venv/bin/python bench/run.py   # smoke run: N = 100, fewer repetitions

Goals, in the order they run (each comparison is measured side by side in
the same run):

1. build overhead: our site (theme + plugin + comments in SQLite) against
   plain Pelican (default theme ``notmyidea``, no plugins) on the same synthetic
   corpus, cold and with Pelican's content cache; a fresh subprocess per build.
   Goal: median ours/plain <= 1.15.
2. approval-to-live: from the admin's "Approve" POST until the comment is in
   the post's static HTML (``bench_approval_to_live``); p50/p95 and the RSS of
   the publishing process. Reported, no target yet.
3. comment intake: the production server (gunicorn, as ``make serve-prod``)
   under 16 concurrent clients posting valid comments (wrk). Goals: >= 1,000
   accepted comments/s, p99 <= 50 ms, and every 202 is a row in the database.
4. page weight: one post page of the sample site: HTML + CSS + JS bytes and
   requests. Goals: <= 30 KB (30,000 bytes), no third-party request.
5. render worst case: every comment of the adversarial table
   (tests/adversarial_comments.py) at the form's 5,000 characters, rendered in
   this process. Goal: the slowest <= 50 ms.
6. soak: the production server (as goal 3) takes 100 comments a second for
   BENCH_SOAK_SECONDS (300) while an admin decides one pending comment every
   2 s through the queue page's form and reads the queue every 30 s. Goals: 0
   errors, 0 acknowledged comments lost, worker RSS at the end within 10% of
   the start; reported: comment p99 in the first and last 30 s, decision and
   queue page latency. BENCH_QUICK: 10 s at 20 a second, the queue every 5 s.
7. queue page at 30,000 pending: the admin's ``/admin/`` (Flask test client,
   logged in) with 30,000 pending comments, loaded 20 times
   (``bench_queue_page``); p50/p95, a page deep in the queue, a search, a
   page of 50 of the costliest comments to render (goal 5's table), and
   the process's RSS before and after the loads. Goals: p95 <= 100 ms, at
   most 50 comments a page, RSS flat (grows <= 5 MB).
8. images: the sample site plus a post whose cover is a 2400x1000 JPEG photo
   (~350 KiB): the image bytes a phone (412 CSS px, 2x) loads on the home page
   and on that post. Goal: home page <= 60 KB. With ``LIGHTHOUSE`` set to a
   Lighthouse CLI (not in a quick run), also Lighthouse mobile on both pages.
   Goals: performance 100, LCP <= 1.5 s.
9. save-to-visible: `make serve` and Hugo 0.111's ``hugo server`` on the same
   corpus; the post's page open in Debian's chromium; from saving the post
   to the page's DOM holding the change, with no manual reload
   (``bench/save_to_visible.py``). Goals: ours p50 <= 300 ms at N = 1,000,
   and p50 at 10,000 within 1.5x of p50 at 1,000. Hugo side by side (info;
   in a quick run, skipped if hugo is not installed).

Prints progress to stderr and a table at the end; writes bench/RESULTS.md
(a quick run writes bench/out/RESULTS-quick.md and a partial one, with --only
or --sizes, bench/out/RESULTS-partial.md instead, so neither overwrites the
full figures; BENCH_RESULTS=path overrides). Full runs take a lock, so two
never share the machine (the second waits); the "other load" line tells how
much CPU anything else used meanwhile.
Work happens in a temporary folder under /tmp (BENCH_KEEP=1 keeps it).
Goals are reported as MET / NOT MET; the exit code is non-zero only when a
benchmark could not run.

Options: ``--only 1,3`` runs a subset of the goals; ``--sizes 1000`` other sizes;
``--site path/to/pelicanconf.py`` weighs another site in goal 4 (the tests
weigh their own test site, not the author's posts).
"""

import argparse
import contextlib
import gzip
import http.client
import json
import math
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import corpus  # noqa: E402  (bench/corpus.py, stdlib only)
import hugo_site  # noqa: E402  (bench/hugo_site.py: the corpus as a Hugo site)
import pictures  # noqa: E402  (bench/pictures.py: photo-like images, srcset choice)
import save_to_visible  # noqa: E402  (bench/save_to_visible.py: goal 9's servers and browser)

QUICK = os.environ.get("BENCH_QUICK", "").strip().lower() not in ("", "0", "false", "no")
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = sys.executable

# Sizes and repetitions.
SIZES = [100] if QUICK else [1_000, 10_000]
BUILD_REPS = {100: 2} if QUICK else {1_000: 5, 10_000: 3}
APPROVAL_SAMPLES = 5 if QUICK else 20
INTAKE_SECONDS = 5 if QUICK else 20
INTAKE_WARMUP_SECONDS = 1 if QUICK else 3
INTAKE_CLIENTS = 16
SAVE_SAMPLES = 3 if QUICK else 15

# Goals.
BUILD_RATIO_GOAL = 1.15
INTAKE_RATE_GOAL = 1_000
INTAKE_P99_GOAL_MS = 50
PAGE_BYTES_GOAL = 30_000
QUEUE_PENDING = 1_000 if QUICK else 30_000
QUEUE_LOADS = 5 if QUICK else 20
# Of the pending comments, the costliest to render (tests/adversarial_comments.py):
# a page of them costs what any page does (render.py stores their HTML).
QUEUE_HOSTILE = 50
QUEUE_P95_GOAL_S = 0.100
QUEUE_PAGE_MAX = 50
QUEUE_RSS_GROWTH_GOAL_MB = 5
HOME_IMAGE_BYTES_GOAL = 60_000
LIGHTHOUSE_PERFORMANCE_GOAL = 100
LIGHTHOUSE_LCP_GOAL_S = 1.5
LIGHTHOUSE_RUNS = 3  # a single run swings by several points on a shared machine
SAVE_TO_VISIBLE_GOAL_S = 0.300  # p50 at N = 1,000
SAVE_TO_VISIBLE_GROWTH_GOAL = 1.5  # p50 at 10,000 / p50 at 1,000
SAMPLE_POST_SLUG = "meet-mentors-through-informational-interviews"

MARK = "BENCH_JSON "  # a child process's result line on stdout


# --- small helpers ----------------------------------------------------------


def progress(message):
    print(message, file=sys.stderr, flush=True)


def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fmt_n(n):
    return f"{n:,}"


def fmt_s(seconds):
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def status(ok):
    return "MET" if ok else "NOT MET"


def child_result(stdout):
    """The JSON a child printed after MARK (the last such line)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    raise RuntimeError("the child process printed no result")


def run_child(args, capture_stderr=True, timeout=None):
    """Run ``python bench/run.py <args>`` and return (result, wall seconds)."""
    cmd = [PYTHON, str(Path(__file__).resolve()), *args]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_stderr else None,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or "")[-3000:] + proc.stdout[-2000:]
        raise RuntimeError(f"child {args[:1]} failed (exit {proc.returncode}):\n{tail}")
    return child_result(proc.stdout), wall


def quiet_build(settings_file, output_dir, overrides):
    """``build_site`` in this process, Pelican's "Done: ..." line sent to stderr."""
    from comments_service.static_site.build import build_site

    with contextlib.redirect_stdout(sys.stderr):
        return build_site(settings_file, output_dir, overrides)


def write_settings_file(path, corpus_dir, db_path, categories=corpus.CATEGORIES):
    """A Pelican settings file: the project's pelicanconf.py, PATH at a corpus."""
    conf = ROOT / "pelicanconf.py"
    Path(path).write_text(
        f'''"""Benchmark settings: {conf} with PATH pointed at a synthetic corpus."""

_conf = {str(conf)!r}
with open(_conf, encoding="utf-8") as _f:
    exec(compile(_f.read(), _conf, "exec"))
del _f, _conf

PATH = {str(corpus_dir)!r}
THEME = {str(ROOT / "theme")!r}
COMMENTS = {{"DB": {str(db_path)!r}}}
CATEGORIES = {list(categories)!r}
''',
        encoding="utf-8",
    )
    return Path(path)


class Workspace:
    """The run's temporary folder and the corpora built in it (one per size)."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="career-notes-bench-", dir="/tmp"))
        self._corpora = {}

    def corpus(self, n_posts):
        """(content dir, slugs, comments db) for ``n_posts``, written on first use."""
        if n_posts not in self._corpora:
            progress(f"      writing corpus of {fmt_n(n_posts)} posts and their comments ...")
            content = self.path / f"corpus-{n_posts}" / "content"
            slugs = corpus.write_corpus(content, n_posts, seed=1)
            db_path = self.path / f"corpus-{n_posts}" / "comments.db"
            n_comments = corpus.write_comments(db_path, slugs, seed=1)
            self._corpora[n_posts] = (content, slugs, db_path, n_comments)
        return self._corpora[n_posts]

    def cleanup(self):
        if os.environ.get("BENCH_KEEP"):
            progress(f"kept {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


# --- Goal 1: build overhead -------------------------------------------------


def build_child(spec):
    """In a fresh process: build one site with Pelican and print the timing."""
    import logging

    started = time.perf_counter()
    from pelican import Pelican
    from pelican.settings import read_settings

    import_s = time.perf_counter() - started

    class Errors(logging.Handler):
        count = 0

        def emit(self, record):
            Errors.count += 1

    logging.getLogger().addHandler(Errors(level=logging.ERROR))

    cache = {"CACHE_CONTENT": spec["cache"], "LOAD_CONTENT_CACHE": spec["cache"]}
    common = {
        "PATH": spec["path"],
        "OUTPUT_PATH": spec["output"],
        "CACHE_PATH": spec["cache_path"],
        **cache,
    }
    begin = time.perf_counter()
    if spec["kind"] == "ours":
        settings = read_settings(
            str(ROOT / "pelicanconf.py"),
            override={**common, "COMMENTS": {"DB": spec["db"]}, "CATEGORIES": corpus.CATEGORIES},
        )
    else:
        settings = read_settings(
            None,
            override={
                **common,
                "SITENAME": "Bench",
                "ARTICLE_PATHS": ["posts"],
                "PAGE_PATHS": ["pages"],
                "PLUGINS": [],
                "TIMEZONE": "UTC",
                "DEFAULT_LANG": "en",
            },
        )
    Pelican(settings).run()
    build_s = time.perf_counter() - begin
    print(MARK + json.dumps({"build_s": build_s, "import_s": import_s, "errors": Errors.count}))


def bench_build_overhead(ws, sizes, report):
    results = {}
    for n in sizes:
        content, _slugs, db_path, n_comments = ws.corpus(n)
        reps = BUILD_REPS.get(n, 3)
        base = ws.path / f"build-{n}"
        times = {(k, m): [] for k in ("ours", "plain") for m in ("cold", "cached")}
        walls = {key: [] for key in times}
        prime = {}

        def build(kind, mode, label, n=n, content=content, db_path=db_path, base=base):
            """One build in a fresh process, into ``base/<kind>-<mode>``."""
            progress(f"[1/9] build overhead: N={fmt_n(n)} {label} ...")
            folder = base / f"{kind}-{mode}"
            spec = {
                "kind": kind,
                "path": str(content),
                "output": str(folder / "output"),
                "cache_path": str(folder / "cache"),
                "db": str(db_path),
                "cache": mode != "cold",
            }
            result, wall = run_child(["--build-child", json.dumps(spec)])
            if result["errors"]:
                raise RuntimeError(f"{kind} build logged {result['errors']} errors")
            return result["build_s"], wall

        def run_reps(mode, fresh, reps=reps, base=base, build=build, times=times, walls=walls):
            # Alternate who goes first so drift (page cache, CPU boost) does
            # not favour one side.
            for rep in range(reps):
                order = ("ours", "plain") if rep % 2 == 0 else ("plain", "ours")
                for kind in order:
                    if fresh:
                        shutil.rmtree(base / f"{kind}-{mode}", ignore_errors=True)
                    b, w = build(kind, mode, f"{kind} {mode} run {rep + 1}/{reps}")
                    times[(kind, mode)].append(b)
                    walls[(kind, mode)].append(w)

        # Cold: fresh output and cache folders, caching off.
        run_reps("cold", fresh=True)
        # Cached: one priming run writes the content cache, then every run
        # is a "second run" over the same output and cache.
        for kind in ("ours", "plain"):
            shutil.rmtree(base / f"{kind}-cached", ignore_errors=True)
            prime[kind] = build(kind, "cached", f"{kind} cache priming run")[0]
        run_reps("cached", fresh=False)
        shutil.rmtree(base, ignore_errors=True)

        entry = {"reps": reps, "comments": n_comments, "prime": prime, "modes": {}}
        for mode in ("cold", "cached"):
            ours, plain = (statistics.median(times[(k, mode)]) for k in ("ours", "plain"))
            ours_w, plain_w = (statistics.median(walls[(k, mode)]) for k in ("ours", "plain"))
            ratio = ours / plain
            entry["modes"][mode] = {
                "ours": ours,
                "plain": plain,
                "ratio": ratio,
                "ours_wall": ours_w,
                "plain_wall": plain_w,
                "ours_samples": times[("ours", mode)],
                "plain_samples": times[("plain", mode)],
            }
            report.row(
                "1 build overhead",
                f"N={fmt_n(n)} {mode}: ours/plain (median of {reps})",
                f"{ratio:.2f} ({fmt_s(ours)} / {fmt_s(plain)})",
                f"<= {BUILD_RATIO_GOAL}",
                status(ratio <= BUILD_RATIO_GOAL),
            )
        results[n] = entry
    report.data["build"] = results


# --- Goal 2: approval-to-live -----------------------------------------------


def _csrf_token(client, path):
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    if not match:
        raise RuntimeError(f"no CSRF token on {path}")
    return match.group(1)


def _logged_in_admin(app):
    """A test client of ``app`` logged in as a fresh benchmark admin."""
    from comments_service import cli, db

    user, password = "bench-admin", secrets.token_urlsafe(16)
    with app.app_context():
        cli.set_admin_password(db.get_db(), user, password)
    client = app.test_client()
    answer = client.post(
        "/admin/login",
        data={
            "username": user,
            "password": password,
            "csrf_token": _csrf_token(client, "/admin/login"),
        },
    )
    if answer.status_code != 303:
        raise RuntimeError(f"admin login failed: HTTP {answer.status_code}")
    return client


def _seen_version(client, comment_id):
    """The version of a comment the queue shows: every decision carries it."""
    html = client.get("/admin/").get_data(as_text=True)
    match = re.search(rf'name="seen-{comment_id}" value="(\d+)"', html)
    if not match:
        raise RuntimeError(f"comment {comment_id} is not in the queue")
    return match.group(1)


def bench_approval_to_live(n_posts, samples=APPROVAL_SAMPLES, workdir=None):
    """GOAL 2, approval-to-live: seconds from the admin's Approve POST until the
    comment's text is in the post's static HTML file.

    Self-contained on purpose: writes its own corpus of ``n_posts`` posts
    with comments, creates the Flask app, builds the site in this process as
    the gunicorn master of `make serve-prod` does at start (which leaves the
    publisher warm), logs an admin in through the test client, then
    ``samples`` times (plus a first one, reported apart): submits
    a comment, fetches the queue's CSRF token, and times the Approve POST plus
    polling of the post's HTML file. Returns p50/p95 and, since this process
    is the one that publishes, its peak RSS (``ru_maxrss``). Run it in a
    process of its own (run.py does) so that figure is this process's alone.
    """
    from comments_service import create_app, db, publish, registry

    tmp = Path(workdir or tempfile.mkdtemp(prefix="approval-", dir="/tmp"))
    content = tmp / "content"
    slugs = corpus.write_corpus(content, n_posts, seed=2)
    db_path = tmp / "comments.db"
    corpus.write_comments(db_path, slugs, seed=2)
    settings_file = write_settings_file(tmp / "benchconf.py", content, db_path)
    site_dir = tmp / "output"

    app = create_app(
        {
            "TESTING": True,
            "SITE_DIR": str(site_dir),
            "COMMENTS_DB": str(db_path),
            "PELICAN_SETTINGS": str(settings_file),
            # Production's code paths, publishing straight into the corpus's
            # folder instead of releases under SITE_ROOT.
            "SITE_ROOT": None,
            "SITE_URL": "http://127.0.0.1",
            "SECRET_KEY": secrets.token_hex(32),
            "PASSWORD_HASH": "scrypt:1024:8:1",
            "RATELIMIT_ENABLED": False,
        }
    )
    # What the gunicorn master of `make serve-prod` does at start
    # (gunicorn_conf.when_ready): one full build that leaves the publisher
    # warm; the workers fork from it.
    progress(f"[2/9] approval-to-live: N={fmt_n(n_posts)} start-up build ...")
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        publish.publish_site(app.config)
    initial_build_s = time.perf_counter() - started

    client = _logged_in_admin(app)
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    posts = registry.load(site_dir)["posts"]
    open_posts = [p for p in posts if p["comments_open"]]
    to_live, responses, admin_sees = [], [], []
    # Sample 0 is the process's first decision (reported apart too); with the
    # publisher warmed at start it costs what the others do.
    # (one full build). `make serve` does that at start; it is reported apart.
    for i in range(samples + 1):
        progress(
            f"[2/9] approval-to-live: N={fmt_n(n_posts)} sample {i}/{samples} (0: the first) ..."
        )
        post = open_posts[(i * 7919) % len(open_posts)]
        marker = f"approvalsample{i}x{secrets.token_hex(6)}"
        answer = client.post(
            "/comments/",
            data={
                "post_slug": post["slug"],
                "name": "Bench Reader",
                "email": "reader@example.com",
                "website": "https://reader.example",
                "body": f"Thanks for this, {marker} is my note.",
            },
            headers={"Accept": "application/json", "Sec-Fetch-Site": "same-origin"},
        )
        if answer.status_code != 202:
            raise RuntimeError(f"comment refused: HTTP {answer.status_code} {answer.data[:200]}")
        with app.app_context():
            pending = db.comments_with_status(db.get_db(), "pending")
        comment_id = next(c["id"] for c in pending if marker in c["body"])
        token = _csrf_token(client, "/admin/")
        seen = _seen_version(client, comment_id)
        page = site_dir / post["url"].lstrip("/") / "index.html"

        start = time.perf_counter()
        answer = client.post(
            "/admin/moderate",
            data={
                "csrf_token": token,
                "view": "pending",
                "action": f"approve:{comment_id}",
                f"seen-{comment_id}": seen,
            },
        )
        responded = time.perf_counter()
        if answer.status_code != 303:
            raise RuntimeError(f"approve failed: HTTP {answer.status_code}")
        deadline = start + 900
        while marker not in page.read_text(encoding="utf-8"):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"comment {comment_id} not live after 900 s")
            time.sleep(0.002)
        live = time.perf_counter()
        to_live.append(live - start)
        responses.append(responded - start)
        # As the admin sees it: the Approve click answered (the queue page
        # reloaded through the redirect), then the post page showing the comment.
        client.get(answer.headers["Location"])
        while marker not in client.get(post["url"]).get_data(as_text=True):
            if time.perf_counter() > deadline:
                raise RuntimeError("the post page never showed the comment")
        admin_sees.append(time.perf_counter() - start)

    rss_after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if workdir is None:
        # A publisher may have scheduled a background full build: not into a
        # folder about to be deleted (best effort: the API may change).
        with contextlib.suppress(ImportError, AttributeError):
            from comments_service.static_site.warm import all_publishers

            for publisher in all_publishers():
                publisher.cancel_pending()
        shutil.rmtree(tmp, ignore_errors=True)
    warm_up, to_live, responses = to_live[0], to_live[1:], responses[1:]
    admin_sees = admin_sees[1:]
    return {
        "n_posts": n_posts,
        "samples": to_live,
        "responses": responses,
        "p50": percentile(to_live, 50),
        "p95": percentile(to_live, 95),
        "admin_p50": percentile(admin_sees, 50),
        "admin_p95": percentile(admin_sees, 95),
        "response_p50": percentile(responses, 50),
        "initial_build_s": initial_build_s,
        "maxrss_kb_before_samples": rss_before_kb,
        "maxrss_kb": rss_after_kb,
        "first": warm_up,
        "max": max(to_live, default=math.nan),
        "publisher": publisher_description(),
    }


def publisher_description():
    """What re-publishes after a decision, in the publisher's own words (its docstring)."""
    from comments_service import publish

    doc = " ".join((publish.publish_site.__doc__ or "").split())
    return f"comments_service.publish.publish_site: {doc}" if doc else "publish_site"


def approval_child(n_posts, samples, workdir=None):
    result = bench_approval_to_live(n_posts, samples, workdir)
    print(MARK + json.dumps(result))


def bench_approval(ws, sizes, report):
    results = {}
    for n in sizes:
        # A process of its own: its peak RSS is the publishing process's alone.
        # Its folder is deleted by the workspace, after the child (and any
        # background build of its publisher) has ended.
        workdir = ws.path / f"approval-{n}"
        workdir.mkdir()
        result, _wall = run_child(
            ["--approval-child", str(n), str(APPROVAL_SAMPLES), "--workdir", str(workdir)],
            capture_stderr=False,
        )
        results[n] = result
        report.row(
            "2 approval-to-live",
            f"N={fmt_n(n)}: approve request to HTML file, p50 / p95 of {len(result['samples'])}",
            f"{fmt_s(result['p50'])} / {fmt_s(result['p95'])}",
            "p50 <= 100 ms, p95 <= 250 ms",
            status(result["p50"] <= 0.100 and result["p95"] <= 0.250),
        )
        report.row(
            "2 approval-to-live",
            f"N={fmt_n(n)}: as the admin sees it (click to post page showing it), p50 / p95",
            f"{fmt_s(result['admin_p50'])} / {fmt_s(result['admin_p95'])}",
            "(info)",
            "-",
        )
        report.row(
            "2 approval-to-live",
            f"N={fmt_n(n)}: first decision after the server started",
            fmt_s(result["first"]),
            "(info)",
            "-",
        )
        report.row(
            "2 approval-to-live",
            f"N={fmt_n(n)}: peak RSS of the publishing process",
            f"{result['maxrss_kb'] / 1024:.0f} MB",
            "<= 512 MB" if n >= 10_000 else "(info)",
            status(result["maxrss_kb"] / 1024 <= 512) if n >= 10_000 else "-",
        )
    if len(results) > 1:
        small, large = min(results), max(results)
        growth = results[large]["p50"] / results[small]["p50"]
        report.row(
            "2 approval-to-live",
            f"p50 at N={fmt_n(large)} / p50 at N={fmt_n(small)}",
            f"{growth:.2f}",
            "<= 1.5",
            status(growth <= 1.5),
        )
    report.data["approval"] = results


# --- Goal 3: comment intake ---------------------------------------------------

WRK_SCRIPT = r"""
-- POST a valid comment per request; count statuses across threads.
local slugs = {%(slugs)s}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Sec-Fetch-Site"] = "same-origin"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  statuses = {}
  n = 0
  -- Each run (warm-up, load) numbers its requests from 1 again: a phase of
  -- its own in the submission key keeps every request a new comment.
  phase = args[1] or "0"
end

function request()
  n = n + 1
  local slug = slugs[(n %% #slugs) + 1]
  local body = "post_slug=" .. slug
    .. "&name=Bench+Reader&email=reader%%40example.com"
    .. "&website=https%%3A%%2F%%2Freader.example"
    .. "&body=Thank+you+for+the+practical+advice+t" .. tid .. "r" .. n
    .. "+it+helped+me+prepare+for+my+next+interview."
    -- A key per comment, as the page's script sends (see submission_keys.py).
    .. "&submission_key=bench-" .. phase .. "-" .. tid .. "-" .. n
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, count in pairs(s) do agg[code] = (agg[code] or 0) + count end
  end
  local parts = {}
  for code, count in pairs(agg) do
    table.insert(parts, string.format('"%%d": %%d', code, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %%d, "requests": %%d, "p50_us": %%d, "p90_us": %%d, '
    .. '"p99_us": %%d, "max_us": %%d, "mean_us": %%.1f, "statuses": {%%s}, '
    .. '"errors": {"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}}\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def ensure_wrk():
    """wrk from Debian: installed here if missing and we are root. Returns its path or None."""
    return ensure_debian_command("wrk", "wrk")


def ensure_debian_command(command, package):
    """``command`` from Debian's ``package``, installed with apt-get if it is
    missing and we are root (like the Makefile's system-packages). Its path, or None."""
    found = shutil.which(command)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    progress(f"      {command} is missing: apt-get install -y {package} ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "-qq", package], ["apt-get", "update", "-qq"]):
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if shutil.which(command):
            break
    else:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", package],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return shutil.which(command)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid):
    """utime + stime of one process, from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid):
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid:
                pids.append(int(entry.name))
    return pids


def server_cpu(master_pid):
    pids = [master_pid, *child_pids(master_pid)]
    return sum(proc_cpu_seconds(p) for p in pids)


@contextlib.contextmanager
def gunicorn_server(site_dir, db_path, workdir, settings_file, extra_env=None):
    """The production server as `make serve-prod` starts it; yields (base URL, pid, env)."""
    port = free_port()
    env = {
        **os.environ,
        "BLOG_ENV": "production",
        "PORT": str(port),
        "SITE_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": secrets.token_hex(32),
        "COMMENTS_DB": str(db_path),
        "RATELIMIT_ENABLED": "0",
        "FLASK_SITE_DIR": str(site_dir),
        "FLASK_SITE_ROOT": "null",  # the corpus's own folder, not releases (JSON null)
        # The master builds the site it serves (gunicorn_conf.py): this one.
        "FLASK_PELICAN_SETTINGS": str(settings_file),
    }
    env.pop("GUNICORN_ACCESS_LOG", None)
    env.update(extra_env or {})
    log_path = Path(workdir) / "gunicorn.log"
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "--config",
        "comments_service/gunicorn_conf.py",
        "comments_service:create_app()",
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # The master builds the whole site before its workers answer.
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(base + "/comments/thanks", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 900 s")
            time.sleep(0.1)
        yield base, proc, env, cmd, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def post_one(base, slug):
    data = (
        f"post_slug={slug}&name=Bench+Reader&email=reader%40example.com"
        "&website=https%3A%2F%2Freader.example&body=A+first+comment+to+check+the+setup."
    ).encode()
    request = urllib.request.Request(
        base + "/comments/",
        data=data,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def run_wrk(wrk, base, script, seconds, label):
    cmd = [
        wrk,
        "-t1",
        f"-c{INTAKE_CLIENTS}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        base + "/comments/",
        "--",
        secrets.token_hex(8),  # this run's phase in the submission keys
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    while proc.poll() is None:
        time.sleep(1)
        elapsed = min(time.monotonic() - started, seconds)
        if proc.poll() is None:
            progress(f"[3/9] comment intake: {label} {elapsed:.0f}/{seconds} s ...")
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {err or out}")
    result = child_result(out)
    statuses = {int(k): v for k, v in result["statuses"].items()}
    return {
        "tool": "wrk",
        "command": " ".join(cmd),
        "duration_s": result["duration_us"] / 1e6,
        "requests": result["requests"],
        "accepted": statuses.get(202, 0),
        "statuses": statuses,
        "socket_errors": {k: v for k, v in result["errors"].items() if k != "status"},
        "p50_ms": result["p50_us"] / 1000,
        "p90_ms": result["p90_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000,
        "mean_ms": result["mean_us"] / 1000,
    }


def run_python_load(base, slugs, seconds, label):
    """Fallback load generator, used only when wrk is unavailable: 16 threads with
    keep-alive connections. It shares the 2 cores (and the GIL) with nothing
    but itself, yet it takes CPU from the server: figures are pessimistic."""
    import http.client

    host, port = urlsplit(base).hostname, urlsplit(base).port
    stop_at = time.perf_counter() + seconds
    latencies, statuses, errors = [], {}, {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    lock = threading.Lock()
    phase = secrets.token_hex(8)  # see WRK_SCRIPT's init

    def client(tid):
        conn = http.client.HTTPConnection(host, port, timeout=5)
        n = 0
        while time.perf_counter() < stop_at:
            n += 1
            body = (
                f"post_slug={slugs[n % len(slugs)]}&name=Bench+Reader"
                "&email=reader%40example.com&website=https%3A%2F%2Freader.example"
                f"&body=Thank+you+for+the+practical+advice+t{tid}r{n}+it+helped."
                f"&submission_key=bench-{phase}-{tid}-{n}"
            )
            t0 = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    "/comments/",
                    body=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                        "Sec-Fetch-Site": "same-origin",
                    },
                )
                answer = conn.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors["read"] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=5)
                continue
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(INTAKE_CLIENTS)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        progress(
            f"[3/9] comment intake (Python fallback): {label} "
            f"{min(time.perf_counter() - started, seconds):.0f}/{seconds} s ..."
        )
    for t in threads:
        t.join()
    duration = time.perf_counter() - started
    return {
        "tool": "python-fallback",
        "command": f"Python threads ({INTAKE_CLIENTS} keep-alive connections)",
        "duration_s": duration,
        "requests": len(latencies),
        "accepted": statuses.get(202, 0),
        "statuses": statuses,
        "socket_errors": errors,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=0) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else math.nan,
    }


def error_summary(log_path):
    """The exceptions gunicorn's log shows, most frequent first: [(count, line)]."""
    counts = {}
    exception = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit)\b.*)$")
    for line in Path(log_path).read_text(errors="replace").splitlines():
        match = exception.match(line.strip())
        if match:
            counts[match.group(1)[:200]] = counts.get(match.group(1)[:200], 0) + 1
    return sorted(((n, line) for line, n in counts.items()), reverse=True)[:5]


def db_pragmas(db_path):
    """synchronous / journal_mode as the service's own connection sets them."""
    from comments_service import db

    conn = db.connect(db_path)
    try:
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    doc = (db.__doc__ or "").replace("\n", " ")
    said = re.search(r"Durability:[^.]*\.", doc)
    return {
        "synchronous": f"{names.get(sync, sync)} ({sync})",
        "journal_mode": journal,
        "docstring": said.group(0) if said else "",
    }


def count_comments(db_path):
    from comments_service import db

    conn = db.connect(db_path)
    try:
        return db.counts_by_status(conn)
    finally:
        conn.close()


def bench_intake(ws, sizes, report):
    from comments_service import registry

    wrk = ensure_wrk()
    if not wrk:
        progress("      wrk unavailable: falling back to a Python load generator")
    results = {}
    for n in sizes:
        content, _slugs, corpus_db, _ = ws.corpus(n)
        work = ws.path / f"intake-{n}"
        work.mkdir(parents=True, exist_ok=True)
        settings_file = write_settings_file(work / "benchconf.py", content, corpus_db)
        site_dir = work / "output"
        db_path = work / "intake.db"
        # Created and migrated once, like a deployed database.
        count_comments(db_path)

        # The gunicorn master builds the site before any worker answers.
        progress(f"[3/9] comment intake: N={fmt_n(n)} starting gunicorn (it builds the site) ...")
        server_run = gunicorn_server(site_dir, db_path, work, settings_file)
        with server_run as (base, server, env, cmd, log_path):
            slugs = [p["slug"] for p in registry.load(site_dir)["posts"] if p["comments_open"]]
            slugs = slugs[:: max(1, len(slugs) // 200)][:200]
            script = work / "post.lua"
            script.write_text(WRK_SCRIPT % {"slugs": ", ".join(f'"{s}"' for s in slugs)})
            master = server.pid
            code, body = post_one(base, slugs[0])
            if code != 202:
                raise RuntimeError(f"a valid comment was refused: HTTP {code} {body[:300]!r}")
            acked = 1
            load = run_wrk if wrk else None

            def generate(seconds, label, load=load, script=script, slugs=slugs, base=base):
                if load:
                    return load(wrk, base, script, seconds, label)
                return run_python_load(base, slugs, seconds, label)

            warm = generate(INTAKE_WARMUP_SECONDS, f"N={fmt_n(n)} warm-up")
            acked += warm["accepted"]
            cpu_before, wall_before = server_cpu(master), time.monotonic()
            children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            run = generate(INTAKE_SECONDS, f"N={fmt_n(n)} load")
            server_cpu_s = server_cpu(master) - cpu_before
            cpu_window = time.monotonic() - wall_before
            children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # wrk is the only child reaped meanwhile (gunicorn is still running).
            load_cpu_s = sum(
                getattr(children_after, f) - getattr(children_before, f)
                for f in ("ru_utime", "ru_stime")
            )
            acked += run["accepted"]
            workers = len(child_pids(master))
            threads = env.get("GUNICORN_THREADS", "4")
            if server.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited during the load (exit {server.returncode}):\n"
                    + log_path.read_text()[-3000:]
                )
        server_errors = error_summary(log_path)
        counts = count_comments(db_path)  # after gunicorn stopped: every commit is in
        rows = sum(counts.values())
        rate = run["accepted"] / run["duration_s"]
        errors = sum(run["socket_errors"].values()) + sum(
            v for k, v in run["statuses"].items() if k != 202
        )
        entry = {
            **run,
            "accepted_per_s": rate,
            "errors_total": errors,
            "acknowledged_all_phases": acked,
            "rows": rows,
            "rows_by_status": counts,
            "missing": max(0, acked - rows),
            "server_cpu_cores": server_cpu_s / cpu_window,
            "load_cpu_cores": load_cpu_s / cpu_window,
            "workers": workers,
            "threads": threads,
            "gunicorn_command": " ".join(cmd),
            "pragmas": db_pragmas(db_path),
            "server_errors": server_errors,
        }
        results[n] = entry
        tool = "" if wrk else " [Python fallback]"
        report.row(
            "3 comment intake",
            f"N={fmt_n(n)}: accepted comments/s{tool}",
            f"{rate:,.0f}",
            f">= {fmt_n(INTAKE_RATE_GOAL)}",
            status(rate >= INTAKE_RATE_GOAL),
        )
        report.row(
            "3 comment intake",
            f"N={fmt_n(n)}: latency p50 / p99",
            f"{run['p50_ms']:.1f} / {run['p99_ms']:.1f} ms",
            f"p99 <= {INTAKE_P99_GOAL_MS} ms",
            status(run["p99_ms"] <= INTAKE_P99_GOAL_MS),
        )
        report.row(
            "3 comment intake",
            f"N={fmt_n(n)}: errors (non-202 + socket)",
            fmt_n(errors),
            "0",
            status(errors == 0),
        )
        report.row(
            "3 comment intake",
            f"N={fmt_n(n)}: DB rows vs 202s (all phases)",
            f"{fmt_n(rows)} rows / {fmt_n(acked)} acked, {entry['missing']} missing",
            "0 missing",
            status(entry["missing"] == 0),
        )
        report.row(
            "3 comment intake",
            "PRAGMA synchronous / journal_mode",
            f"{entry['pragmas']['synchronous']} / {entry['pragmas']['journal_mode']}",
            "(info)",
            "-",
        )
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    report.data["intake"] = results


# --- Goal 4: page weight ------------------------------------------------------


class RefParser(HTMLParser):
    """Every URL a browser fetches while loading a page (not links it may follow)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs = []  # (kind, url)
        self._in_style = False
        self.inline_css = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        rel = (a.get("rel") or "").lower().split()
        if tag == "link" and a.get("href"):
            if "stylesheet" in rel:
                self.refs.append(("css", a["href"]))
            elif {"icon", "apple-touch-icon", "mask-icon"} & set(rel):
                self.refs.append(("image", a["href"]))
            elif {"preload", "modulepreload", "prefetch", "manifest"} & set(rel):
                self.refs.append(("other", a["href"]))
        elif tag == "script" and a.get("src"):
            self.refs.append(("js", a["src"]))
        elif tag in ("img", "source", "input") and (a.get("src") or a.get("srcset")):
            if tag == "input" and (a.get("type") or "").lower() != "image":
                return
            if a.get("src"):
                self.refs.append(("image", a["src"]))
            for candidate in (a.get("srcset") or "").split(","):
                if candidate.strip():
                    self.refs.append(("image", candidate.split()[0]))
        elif tag in ("iframe", "embed", "audio", "video", "track") and a.get("src"):
            self.refs.append(("other", a["src"]))
        elif tag == "object" and a.get("data"):
            self.refs.append(("other", a["data"]))
        if tag == "video" and a.get("poster"):
            self.refs.append(("image", a["poster"]))
        if a.get("style"):
            self.inline_css.append(a["style"])
        if tag == "style":
            self._in_style = True

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.inline_css.append(data)


CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


def css_refs(css):
    return [(m.group(1) or m.group(2)).strip() for m in CSS_URL.finditer(css)]


def page_weight(site_dir, page_url, origin):
    """Bytes (HTML + CSS + JS, no images), requests and third-party references of one page."""
    site_dir = Path(site_dir)

    def local_file(url):
        path = urlsplit(url).path
        rel = path.lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        return site_dir / rel

    def is_first_party(url):
        parts = urlsplit(url)
        if not parts.scheme and not parts.netloc:
            return True  # "/x" or relative: same origin
        return f"{parts.scheme}://{parts.netloc}" == origin

    html = local_file(page_url).read_bytes()
    parser = RefParser()
    parser.feed(html.decode("utf-8"))
    page_abs = origin + page_url
    refs = [(k, urljoin(page_abs, u)) for k, u in parser.refs if not u.startswith("data:")]
    for css in parser.inline_css:
        refs += [
            ("image", urljoin(page_abs, u)) for u in css_refs(css) if not u.startswith("data:")
        ]

    files = {"html": [(page_url, len(html))], "css": [], "js": [], "image": [], "other": []}
    seen, third_party, missing = set(), [], []
    queue = list(refs)
    compressed = len(gzip.compress(html))
    while queue:
        kind, url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if not is_first_party(url):
            third_party.append(url)
            files[kind].append((url, None))
            continue
        path = local_file(url)
        if not path.is_file():
            missing.append(url)
            files[kind].append((url, None))
            continue
        data = path.read_bytes()
        files[kind].append((urlsplit(url).path, len(data)))
        if kind in ("css", "js"):
            compressed += len(gzip.compress(data))
        if kind == "css":
            queue += [
                ("css" if u.endswith(".css") else "image", urljoin(url, u))
                for u in css_refs(data.decode("utf-8", "replace"))
                if not u.startswith("data:")
            ]
    text_bytes = sum(size or 0 for kind in ("html", "css", "js") for _, size in files[kind])
    requests = sum(len(v) for v in files.values())
    return {
        "page": page_url,
        "bytes": text_bytes,
        "gzip_bytes": compressed,
        "requests": requests,
        "files": files,
        "third_party": third_party,
        "missing": missing,
    }


def bench_page_weight(ws, report, settings_file):
    from pelican.settings import read_settings

    from comments_service import registry

    shown = settings_file.relative_to(ROOT) if settings_file.is_relative_to(ROOT) else settings_file
    progress(f"[4/9] page weight: building the sample site ({shown}) ...")
    site_dir = ws.path / "sample-site" / "output"
    # The development settings as they are; only the comments database is a
    # fresh (absent) one, so var/comments.db is never touched.
    quiet_build(
        settings_file,
        site_dir,
        {"COMMENTS": {"DB": str(ws.path / "sample-site" / "none.db")}},
    )
    origin = read_settings(str(settings_file))["SITE_ORIGIN"]
    posts = registry.load(site_dir)["posts"]
    chosen = next((p for p in posts if p["slug"] == SAMPLE_POST_SLUG), posts[0])
    progress(f"[4/9] page weight: measuring {chosen['url']} ...")
    result = page_weight(site_dir, chosen["url"], origin)
    weights = [page_weight(site_dir, p["url"], origin) for p in posts]
    heaviest = max(weights, key=lambda r: r["bytes"])
    result["heaviest_post"] = {k: heaviest[k] for k in ("page", "bytes", "requests")}
    result["heaviest_post"]["third_party"] = heaviest["third_party"]
    result["origin"] = origin
    result["settings"] = str(shown)
    report.data["page_weight"] = result
    report.row(
        "4 page weight",
        f"{chosen['url']}: HTML+CSS+JS bytes",
        f"{fmt_n(result['bytes'])} B ({fmt_n(result['gzip_bytes'])} B gzipped)",
        f"<= {fmt_n(PAGE_BYTES_GOAL)} B",
        status(result["bytes"] <= PAGE_BYTES_GOAL),
    )
    report.row(
        "4 page weight",
        "requests (HTML + CSS + JS + images)",
        str(result["requests"]),
        "(info)",
        "-",
    )
    report.row(
        "4 page weight",
        "third-party requests",
        ", ".join(result["third_party"]) or "none",
        "none",
        status(not result["third_party"]),
    )
    report.row(
        "4 page weight",
        f"heaviest of {len(posts)} post pages: {heaviest['page']}",
        f"{fmt_n(heaviest['bytes'])} B, {heaviest['requests']} requests",
        f"<= {fmt_n(PAGE_BYTES_GOAL)} B",
        status(heaviest["bytes"] <= PAGE_BYTES_GOAL and not heaviest["third_party"]),
    )


# --- Goal 5: render worst case -----------------------------------------------

RENDER_GOAL_MS = 50
RENDER_REPS = 1 if QUICK else 7


def bench_render_worst_case(report):
    """GOAL 5: the slowest comment to render. Each comment of the adversarial table
    (tests/adversarial_comments.py: what was quadratic in Python-Markdown, and its
    slowest linear inputs), at the form's maximum length, rendered RENDER_REPS
    times with ``render_comment`` in this process; the median per comment."""
    sys.path.insert(0, str(ROOT / "tests"))
    from adversarial_comments import ADVERSARIAL, NESTED, fill
    from comments_service.render import render_comment

    render_comment("Warm the thread's Markdown instance.")
    comments = [(repr(unit), fill(unit)) for unit in ADVERSARIAL]
    comments += [(f"nested {i + 1}", text) for i, text in enumerate(NESTED)]
    results = []
    for i, (label, text) in enumerate(comments, 1):
        progress(f"[5/9] render worst case: {i}/{len(comments)} {label[:30]} ...")
        times = []
        for _ in range(RENDER_REPS):
            started = time.perf_counter()
            render_comment(text)
            times.append((time.perf_counter() - started) * 1000)
        results.append({"input": label, "chars": len(text), "ms": statistics.median(times)})
    results.sort(key=lambda r: r["ms"], reverse=True)
    worst = results[0]
    report.data["render"] = {"reps": RENDER_REPS, "results": results}
    report.row(
        "5 render worst case",
        f"slowest of {len(results)} adversarial comments of {fmt_n(worst['chars'])} characters "
        f"(median of {RENDER_REPS}): {worst['input']}",
        f"{worst['ms']:.1f} ms",
        f"<= {RENDER_GOAL_MS} ms",
        status(worst["ms"] <= RENDER_GOAL_MS),
    )


# --- Goal 6: soak -------------------------------------------------------------

SOAK_SECONDS = int(os.environ.get("BENCH_SOAK_SECONDS") or (10 if QUICK else 300))
SOAK_RATE = int(os.environ.get("BENCH_SOAK_RATE") or (20 if QUICK else 100))  # comments/s
# Off the clock, before the start's RSS is read: every worker thread serves
# comments once (its database connection, its Markdown instance, templates).
SOAK_WARMUP_SECONDS = 2 if QUICK else 10
SOAK_CLIENTS = 8
SOAK_DECIDE_EVERY_S = 2
SOAK_QUEUE_EVERY_S = 5 if QUICK else 30
SOAK_RSS_EVERY_S = 2 if QUICK else 10
SOAK_RSS_GROWTH_GOAL = 0.10
SOAK_IDS_KEPT = 200  # pending ids taken from a queue page for the next decisions


def worker_rss_kb(master_pid):
    """Resident memory of the gunicorn workers (the master's children), summed."""
    total = 0
    for pid in child_pids(master_pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


class AdminBrowser:
    """The admin's browser: cookies kept for any origin (the session cookie is
    Secure and this is plain http on 127.0.0.1), forms filled from the page as a
    browser does, redirects not followed. A connection per request: gunicorn
    closes idle keep-alive connections after 2 s, and a browser then reconnects."""

    def __init__(self, base, cookies, lock):
        self._address = (urlsplit(base).hostname, urlsplit(base).port)
        self.cookies, self._lock = cookies, lock

    def request(self, method, path, fields=None):
        """(status, headers, body text, seconds)."""
        from urllib.parse import urlencode

        with self._lock:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}
        body = None
        if fields is not None:
            body = urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(*self._address, timeout=300)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            text = answer.read().decode("utf-8", "replace")
        finally:
            conn.close()
        seconds = time.perf_counter() - started
        with self._lock:
            for header in answer.headers.get_all("Set-Cookie") or []:
                name, _, value = header.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = value.strip()
        return answer.status, answer.headers, text, seconds

    def log_in(self, username, password):
        status_code, _, html, _ = self.request("GET", "/admin/login")
        if status_code != 200:
            raise RuntimeError(f"login page: HTTP {status_code}")
        fields = {**form_fields(html, html.find("csrf_token")), "username": username}
        fields["password"] = password
        status_code, _, _, _ = self.request("POST", "/admin/login", fields)
        if status_code != 303:
            raise RuntimeError(f"admin login failed: HTTP {status_code}")


_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'([\w-]+)\s*=\s*"([^"]*)"')
_DECISION_BUTTON = re.compile(r'<button\b[^>]*\bvalue="(approve|trash):(\d+)"', re.I)


def form_fields(html, position):
    """The hidden fields of the form around ``position``, as a browser sends them."""
    from html import unescape

    start = html.rfind("<form", 0, position)
    end = html.find("</form>", position)
    fields = {}
    for tag in _INPUT.finditer(html, max(start, 0), end if end >= 0 else len(html)):
        attrs = {k.lower(): unescape(v) for k, v in _ATTR.findall(tag.group(0))}
        if attrs.get("type", "").lower() == "hidden" and "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def soak_load(base, slugs, seconds, rate, run_id, started_at, stop):
    """Comments at ``rate`` a second for ``seconds``, on a fixed schedule: comment k
    is due at start + k / rate, and its latency is counted from then (a server
    that falls behind is not hidden by clients waiting for it)."""
    parts = urlsplit(base)
    total = int(seconds * rate)
    records = []  # (due s from start, latency s or None, status or error name)
    lock = threading.Lock()
    counter = iter(range(total))

    def client():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while not stop.is_set():
            with lock:
                k = next(counter, None)
            if k is None:
                break
            due = k / rate
            delay = started_at + due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body = (
                f"post_slug={slugs[k % len(slugs)]}&name=Soak+Reader"
                "&email=reader%40example.com&website=https%3A%2F%2Freader.example"
                f"&body=Thanks+for+the+advice%2C+it+helped.+soak{run_id}n{k}end"
            )
            try:
                conn.request(
                    "POST",
                    "/comments/",
                    body=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                        "Sec-Fetch-Site": "same-origin",
                    },
                )
                answer = conn.getresponse()
                answer.read()
                outcome = answer.status
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            latency = time.perf_counter() - started_at - due
            with lock:
                records.append((due, latency, outcome, k))
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(SOAK_CLIENTS)]
    for t in threads:
        t.start()
    return threads, records


class SoakAdmin:
    """The admin: logs in, reads the queue every SOAK_QUEUE_EVERY_S and decides one
    pending comment every SOAK_DECIDE_EVERY_S (approve and trash in turn) with the
    queue page's own form (its CSRF token and hidden fields, the button's name
    and value). Two threads, as two tabs of one browser session."""

    def __init__(self, base):
        self.base, self.cookies, self.lock = base, {}, threading.Lock()
        self.html, self.ids = "", []
        self.queue, self.decisions, self.errors = [], [], []
        self.started_at = time.perf_counter()

    def browser(self):
        return AdminBrowser(self.base, self.cookies, self.lock)

    def read_queue(self, browser):
        try:
            code, _, html, took = browser.request("GET", "/admin/")
        except (OSError, http.client.HTTPException) as exc:
            self.errors.append(f"queue: {type(exc).__name__}")
            return
        if code != 200:
            self.errors.append(f"queue: HTTP {code}")
            return
        ids = []
        for m in _DECISION_BUTTON.finditer(html):
            if m.group(2) not in ids:
                ids.append(m.group(2))
            if len(ids) >= SOAK_IDS_KEPT:
                break
        with self.lock:
            self.html, self.ids = html, ids
        self.queue.append(
            {
                "at": time.perf_counter() - self.started_at,
                "s": took,
                "bytes": len(html.encode()),
                "shown": html.count('name="action" value="approve:'),
            }
        )

    def start(self, started_at, stop):
        """Read the queue and decide on schedule from ``started_at`` until ``stop``."""
        self.started_at = started_at

        def every(seconds, step):
            browser, n = self.browser(), 0
            while not stop.wait(max(0.0, started_at + (n + 1) * seconds - time.perf_counter())):
                n += 1
                step(browser, n)

        threads = [
            threading.Thread(target=every, args=(SOAK_QUEUE_EVERY_S, self.read_queue_step)),
            threading.Thread(target=every, args=(SOAK_DECIDE_EVERY_S, self.decide)),
        ]
        for t in threads:
            t.daemon = True
            t.start()
        return threads

    def read_queue_step(self, browser, _n):
        self.read_queue(browser)

    def decide(self, browser, n):
        with self.lock:
            html, ids = self.html, self.ids
            comment_id = ids.pop(0) if ids else None
        if comment_id is None:
            self.read_queue(browser)  # every comment shown was decided: look again
            return
        action = "approve" if n % 2 else "trash"
        button = f'value="{action}:{comment_id}"'
        fields = {**form_fields(html, html.find(button)), "action": f"{action}:{comment_id}"}
        try:
            code, headers, _, took = browser.request("POST", "/admin/moderate", fields)
        except (OSError, http.client.HTTPException) as exc:
            self.errors.append(f"decision: {type(exc).__name__}")
            return
        if code != 303 or "/admin/login" in (headers.get("Location") or ""):
            self.errors.append(f"decision: HTTP {code} {headers.get('Location')}")
            return
        self.decisions.append({"action": action, "id": comment_id, "s": took})


def soak_markers(db_path, run_id):
    """The k of every soak comment stored (all statuses), from the database."""
    from comments_service import db

    conn = db.connect(db_path)
    try:
        rows = db.export_comments(conn)
    finally:
        conn.close()
    found = re.compile(rf"soak{run_id}n(\d+)end")
    return {int(m.group(1)) for row in rows for m in [found.search(row["body"] or "")] if m}


def bench_soak(ws, sizes, report):
    """GOAL 6: soak. The production server (as goal 3 starts it) takes SOAK_RATE
    comments a second for SOAK_SECONDS while an admin decides one every 2 s and
    reads the queue every 30 s: errors, acknowledged comments lost, worker RSS at
    the start and the end, comment latency in the first and last window."""
    from comments_service import registry

    n = min(sizes)
    content, _slugs, corpus_db, _ = ws.corpus(n)
    work = ws.path / "soak"
    work.mkdir(parents=True, exist_ok=True)
    settings_file = write_settings_file(work / "benchconf.py", content, corpus_db)
    db_path = work / "soak.db"
    count_comments(db_path)  # created and migrated, like a deployed database
    username, password = "soak-admin", secrets.token_urlsafe(16)
    run_id = secrets.token_hex(4)
    window = min(30.0, SOAK_SECONDS / 3)
    progress(f"[6/9] soak: N={fmt_n(n)} starting gunicorn (it builds the site) ...")
    admin_env = {"ADMIN_USERNAME": username, "ADMIN_PASSWORD": password}
    with gunicorn_server(work / "output", db_path, work, settings_file, admin_env) as (
        base,
        server,
        env,
        cmd,
        log_path,
    ):
        slugs = [p["slug"] for p in registry.load(work / "output")["posts"] if p["comments_open"]][
            :200
        ]
        master = server.pid
        # Logged in and the queue read once before the clock starts.
        admin = SoakAdmin(base)
        admin.browser().log_in(username, password)
        admin.read_queue(admin.browser())
        boot_rss = worker_rss_kb(master)
        progress(f"[6/9] soak: warm-up, {SOAK_WARMUP_SECONDS} s at {SOAK_RATE}/s ...")
        warm_threads, _ = soak_load(
            base,
            slugs,
            SOAK_WARMUP_SECONDS,
            SOAK_RATE,
            f"{run_id}warm",  # not this run's markers: not counted
            time.perf_counter(),
            threading.Event(),
        )
        for t in warm_threads:
            t.join()
        stop = threading.Event()
        rss = [(0.0, worker_rss_kb(master))]
        started_at = time.perf_counter()
        admin_threads = admin.start(started_at, stop)
        load_threads, records = soak_load(
            base, slugs, SOAK_SECONDS, SOAK_RATE, run_id, started_at, stop
        )
        while any(t.is_alive() for t in load_threads):
            time.sleep(min(SOAK_RSS_EVERY_S, 1))
            elapsed = time.perf_counter() - started_at
            if elapsed - rss[-1][0] >= SOAK_RSS_EVERY_S:
                rss.append((elapsed, worker_rss_kb(master)))
                progress(
                    f"[6/9] soak: {elapsed:.0f}/{SOAK_SECONDS} s, {len(records):,} comments, "
                    f"{len(admin.decisions)} decisions, workers {rss[-1][1] / 1024:.0f} MB ..."
                )
        rss.append((time.perf_counter() - started_at, worker_rss_kb(master)))
        stop.set()
        for t in admin_threads:
            t.join(timeout=180)
        workers = len(child_pids(master))
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited during the soak:\n{log_path.read_text()[-3000:]}")
    server_errors = error_summary(log_path)
    stored = soak_markers(db_path, run_id)  # after gunicorn stopped: every commit is in
    acked = {k for _due, _lat, outcome, k in records if outcome == 202}
    lost = sorted(acked - stored)
    comment_errors = [r for r in records if r[2] != 202]
    latencies = [(due, lat) for due, lat, outcome, _k in records if outcome == 202]

    def p99_ms(lo, hi):
        return percentile([lat for due, lat in latencies if lo <= due < hi], 99) * 1000

    first_p99 = p99_ms(0, window)
    last_p99 = p99_ms(SOAK_SECONDS - window, SOAK_SECONDS)
    rss_start, rss_end = rss[0][1], rss[-1][1]
    growth = (rss_end - rss_start) / rss_start if rss_start else math.nan
    decisions = [d["s"] * 1000 for d in admin.decisions]
    queue = admin.queue
    queue_ms = [q["s"] * 1000 for q in queue]
    errors = len(comment_errors) + len(admin.errors)
    result = {
        "seconds": SOAK_SECONDS,
        "rate": SOAK_RATE,
        "n_posts": n,
        "workers": workers,
        "window_s": window,
        "sent": len(records),
        "acked": len(acked),
        "stored": len(stored),
        "lost": lost[:20],
        "lost_count": len(lost),
        "comment_errors": sorted({str(r[2]) for r in comment_errors}),
        "comment_error_count": len(comment_errors),
        "admin_errors": admin.errors[:20],
        "p50_ms": percentile([lat for _d, lat in latencies], 50) * 1000,
        "p99_ms": percentile([lat for _d, lat in latencies], 99) * 1000,
        "first_p99_ms": first_p99,
        "last_p99_ms": last_p99,
        "rss": rss,
        "rss_boot": boot_rss,
        "rss_growth": growth,
        "decisions": len(decisions),
        "decision_p50_ms": percentile(decisions, 50),
        "decision_p95_ms": percentile(decisions, 95),
        "decision_max_ms": max(decisions, default=math.nan),
        "queue": queue,
        "queue_p50_ms": percentile(queue_ms, 50),
        "queue_max_ms": max(queue_ms, default=math.nan),
        "server_errors": server_errors,
        "gunicorn_command": " ".join(cmd),
    }
    report.data["soak"] = result
    label = f"{SOAK_SECONDS} s at {SOAK_RATE}/s"
    report.row(
        "6 soak",
        f"{label}: errors (comments + admin)",
        f"{len(comment_errors)} + {len(admin.errors)}",
        "0",
        status(errors == 0),
    )
    report.row(
        "6 soak",
        f"{label}: acknowledged comments lost",
        f"{len(lost)} of {fmt_n(len(acked))}",
        "0 lost",
        status(not lost),
    )
    report.row(
        "6 soak",
        f"worker RSS, start -> end ({workers} workers)",
        f"{rss_start / 1024:.0f} -> {rss_end / 1024:.0f} MB ({growth:+.0%})",
        f"end within {SOAK_RSS_GROWTH_GOAL:.0%} of start",
        status(abs(growth) <= SOAK_RSS_GROWTH_GOAL),
    )
    report.row(
        "6 soak",
        f"worker RSS at boot, before any comment (the warm-up: {SOAK_WARMUP_SECONDS} s)",
        f"{boot_rss / 1024:.0f} MB",
        "(info)",
        "-",
    )
    report.row(
        "6 soak",
        f"comment POST p99, first / last {window:.0f} s",
        f"{first_p99:.1f} / {last_p99:.1f} ms",
        "(info)",
        "-",
    )
    report.row(
        "6 soak",
        f"admin decision (POST /admin/moderate), p50 / p95 / max of {len(decisions)}",
        f"{result['decision_p50_ms']:.0f} / {result['decision_p95_ms']:.0f} / "
        f"{result['decision_max_ms']:.0f} ms",
        "(info)",
        "-",
    )
    shown = queue[-1]["shown"] if queue else 0
    report.row(
        "6 soak",
        f"queue page (GET /admin/), p50 / max of {len(queue)} reads",
        f"{result['queue_p50_ms']:.0f} / {result['queue_max_ms']:.0f} ms "
        f"(last: {fmt_n(shown)} comments, {queue[-1]['bytes'] / 1024:.0f} KB)"
        if queue
        else "no read",
        "(info)",
        "-",
    )
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)


# --- Goal 7: queue page at 30,000 pending -------------------------------------


def rss_mb():
    """This process's resident memory now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def bench_queue_page(n_pending=QUEUE_PENDING, loads=QUEUE_LOADS, workdir=None):
    """GOAL 7, the queue page: ``n_pending`` pending comments, then ``/admin/``
    loaded ``loads`` times through the Flask test client by a logged-in admin.

    The comments go in through ``db.add_pending_comment`` (as readers'
    submissions do; the seeding connection alone runs with
    ``synchronous=OFF`` so that 30,000 inserts take seconds, not minutes of
    fsyncs), spread over the sample site's posts. Reports p50/p95 of the
    queue's first page, of a page in the middle of the queue (keyset: it
    should cost what the first does), of a search, and of a page of the 50
    costliest comments to render (the adversarial table of goal 5, written
    first: the first page oldest first), the number of comments a page
    shows, and this process's RSS after a first load and after all of them.
    Run it in a process of its own (run.py does).
    """
    from comments_service import create_app, db, registry
    from comments_service.forms import position_text

    tmp = Path(workdir or tempfile.mkdtemp(prefix="queue-", dir="/tmp"))
    site_dir = tmp / "site"
    progress("[7/9] queue page: building the sample site ...")
    quiet_build(ROOT / "pelicanconf.py", site_dir, {"COMMENTS": {"DB": str(tmp / "none.db")}})
    slugs = [p["slug"] for p in registry.load(site_dir)["posts"]]
    db_path = tmp / "comments.db"
    progress(f"[7/9] queue page: {fmt_n(n_pending)} pending comments ...")
    rng = random.Random(5)
    conn = db.connect(db_path)
    started = time.perf_counter()
    try:
        conn.execute("PRAGMA synchronous=OFF")
        for n, text in enumerate(hostile_comments(QUEUE_HOSTILE)):
            db.add_pending_comment(
                conn, post_slug=slugs[n % len(slugs)], author_name=f"Bot {n}", body=text
            )
        ids = []
        for i in range(n_pending - QUEUE_HOSTILE):
            first, last = rng.choice(corpus.FIRST_NAMES), rng.choice(corpus.LAST_NAMES)
            body = "\n\n".join(
                corpus._sentence(rng, rng.randint(8, 25)) for _ in range(rng.randint(1, 3))
            )
            ids.append(
                db.add_pending_comment(
                    conn,
                    post_slug=slugs[i % len(slugs)],
                    author_name=f"{first} {last}",
                    email=f"{first.lower()}{i}@example.com",
                    body=body,
                )
            )
        middle = db.get_comment(conn, ids[len(ids) // 2])
    finally:
        conn.close()
    seed_s = time.perf_counter() - started

    app = create_app(
        {
            "TESTING": True,
            "SITE_DIR": str(site_dir),
            "COMMENTS_DB": str(db_path),
            "SITE_ROOT": None,
            "SITE_URL": "http://127.0.0.1",
            "SECRET_KEY": secrets.token_hex(32),
            "PASSWORD_HASH": "scrypt:1024:8:1",
            "RATELIMIT_ENABLED": False,
        }
    )
    client = _logged_in_admin(app)

    def timed(url):
        progress(f"[7/9] queue page: {loads} loads of {url[:70]} ...")
        client.get(url)  # the first load (templates compiled, registry read)
        rss_before = rss_mb()
        times, shown = [], 0
        for _ in range(loads):
            begin = time.perf_counter()
            answer = client.get(url)
            times.append(time.perf_counter() - begin)
            if answer.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {answer.status_code}")
            shown = answer.get_data(as_text=True).count('class="queued"')
        return {
            "url": url,
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
            "max": max(times),
            "shown": shown,
            "rss_before_mb": rss_before,
            "rss_after_mb": rss_mb(),
        }

    middle_position = db.Position(middle["created_at"], middle["id"])
    pages = {
        "first page": timed("/admin/"),
        "a page in the middle of the queue": timed(
            "/admin/?" + urllib.parse.urlencode({"after": position_text(middle_position)})
        ),
        "a search, two common words": timed("/admin/?q=mentor+network"),
        f"{QUEUE_HOSTILE} adversarial comments": timed("/admin/?order=oldest"),
    }
    if workdir is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "pending": n_pending,
        "loads": loads,
        "seed_s": seed_s,
        "pages": pages,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def hostile_comments(n):
    """``n`` of the costliest comments to render (goal 5's table), in turn."""
    sys.path.insert(0, str(ROOT / "tests"))
    from adversarial_comments import ADVERSARIAL, NESTED, fill

    table = [fill(unit) for unit in ADVERSARIAL] + NESTED
    return [table[i % len(table)] for i in range(n)]


def queue_child(n_pending, loads, workdir=None):
    print(MARK + json.dumps(bench_queue_page(n_pending, loads, workdir)))


def bench_queue(ws, report):
    workdir = ws.path / "queue"
    workdir.mkdir()
    result, _wall = run_child(
        ["--queue-child", str(QUEUE_PENDING), str(QUEUE_LOADS), "--workdir", str(workdir)],
        capture_stderr=False,
    )
    report.data["queue"] = result
    n, loads = fmt_n(result["pending"]), result["loads"]
    first = result["pages"]["first page"]
    report.row(
        "7 queue page",
        f"/admin/ at {n} pending: p50 / p95 of {loads}",
        f"{fmt_s(first['p50'])} / {fmt_s(first['p95'])}",
        f"p95 <= {fmt_s(QUEUE_P95_GOAL_S)}",
        status(first["p95"] <= QUEUE_P95_GOAL_S),
    )
    hostile = f"{QUEUE_HOSTILE} adversarial comments"
    for name in ("a page in the middle of the queue", "a search, two common words", hostile):
        page = result["pages"][name]
        report.row(
            "7 queue page",
            f"{name}: p50 / p95",
            f"{fmt_s(page['p50'])} / {fmt_s(page['p95'])}",
            f"p95 <= {fmt_s(QUEUE_P95_GOAL_S)}",
            status(page["p95"] <= QUEUE_P95_GOAL_S),
        )
    most = max(page["shown"] for page in result["pages"].values())
    report.row(
        "7 queue page",
        "comments on a page",
        str(most),
        f"<= {QUEUE_PAGE_MAX}",
        status(0 < most <= QUEUE_PAGE_MAX),
    )
    growth = max(p["rss_after_mb"] - p["rss_before_mb"] for p in result["pages"].values())
    report.row(
        "7 queue page",
        f"RSS over {loads} loads (first page: {first['rss_before_mb']:.0f} -> "
        f"{first['rss_after_mb']:.0f} MB)",
        f"+{growth:.1f} MB",
        f"<= {QUEUE_RSS_GROWTH_GOAL_MB} MB",
        status(growth <= QUEUE_RSS_GROWTH_GOAL_MB),
    )


# --- Goal 8: images -----------------------------------------------------------

PHOTO_POST = """\
Title: A Post With a Photo Cover
Date: 2030-01-01 09:00
Category: {category}
Slug: a-post-with-a-photo-cover
Summary: The benchmark's post whose cover is a 2400x1000 photograph.
Cover: images/covers/bench-photo.jpg
Cover_Alt: A blurred, colourful photograph

The cover above is an ordinary 2400x1000 JPEG, as a camera or a stock site gives it.
"""


class PictureParser(HTMLParser):
    """Each image of a page: the attributes of its <img> and of its <source>s."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images = []  # (img attributes, [source attributes])
        self._sources = None

    def handle_starttag(self, tag, attrs):
        if tag == "picture":
            self._sources = []
        elif tag == "source" and self._sources is not None:
            self._sources.append(dict(attrs))
        elif tag == "img":
            self.images.append((dict(attrs), self._sources or []))

    def handle_endtag(self, tag):
        if tag == "picture":
            self._sources = None


def image_bytes(site_dir, page_url, viewport=412, density=2):
    """The image files a phone loads for one page (all of them, lazy ones too)."""
    html = (Path(site_dir) / page_url.lstrip("/") / "index.html").read_text(encoding="utf-8")
    parser = PictureParser()
    parser.feed(html)
    loaded = []
    for img, sources in parser.images:
        chosen = next((s for s in sources if s.get("srcset")), img)  # AVIF first
        if chosen.get("srcset"):
            url = pictures.chosen_url(chosen["srcset"], chosen["sizes"], viewport, density)
        else:
            url = img["src"]
        path = Path(site_dir) / urlsplit(url).path.lstrip("/")
        loaded.append((urlsplit(url).path, path.stat().st_size))
    return loaded


def serve_folder(folder):
    """A static server of ``folder`` on a free loopback port: (url, stop)."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        thread.join()
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


def lighthouse(command, url, workdir):
    """Lighthouse mobile (its defaults: a Moto G Power, slow 4G simulated) on ``url``."""
    report = Path(workdir) / "lighthouse.json"
    subprocess.run(
        [
            *command.split(),
            url,
            "--only-categories=performance",
            "--output=json",
            f"--output-path={report}",
            "--quiet",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu "
            "--disable-background-networking --disable-component-update --disable-sync",
        ],
        env={**os.environ, "CHROME_PATH": shutil.which("chromium") or "/usr/bin/chromium"},
        check=True,
        timeout=300,
        capture_output=True,
    )
    data = json.loads(report.read_text())
    audits = data["audits"]
    return {
        "performance": round(data["categories"]["performance"]["score"] * 100),
        "lcp_s": audits["largest-contentful-paint"]["numericValue"] / 1000,
        "fcp_s": audits["first-contentful-paint"]["numericValue"] / 1000,
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "bytes": audits["total-byte-weight"]["numericValue"],
    }


def bench_images(ws, report, site_settings):
    progress("[8/9] images: the sample site plus a post with a 2400x1000 JPEG cover ...")
    root = ws.path / "images-site"
    content = root / "content"
    from pelican.settings import read_settings

    site = read_settings(str(site_settings))
    shutil.copytree(site["PATH"], content)
    # In the site's first category: the build refuses one it does not declare.
    post = PHOTO_POST.replace("{category}", site["CATEGORIES"][0])
    (content / "posts" / "bench-photo.md").write_text(post, encoding="utf-8")
    cover = pictures.save_photo(content / "images" / "covers" / "bench-photo.jpg")
    settings_file = write_settings_file(
        root / "benchconf.py", content, root / "none.db", site["CATEGORIES"]
    )
    site_dir = root / "output"
    started = time.perf_counter()
    quiet_build(settings_file, site_dir, {"CACHE_PATH": str(root / "cache")})
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    quiet_build(settings_file, root / "output-again", {"CACHE_PATH": str(root / "cache")})
    cached_s = time.perf_counter() - started
    post_url = "/2030/01/a-post-with-a-photo-cover/"
    home = image_bytes(site_dir, "/")
    post = image_bytes(site_dir, post_url)
    result = {
        "cover_bytes": cover.stat().st_size,
        "home": home,
        "post": post,
        "post_url": post_url,
        "cold_s": cold_s,
        "cached_s": cached_s,
        "lighthouse": {},
    }
    home_total = sum(size for _, size in home)
    report.row(
        "8 images",
        "home page: image bytes a phone loads (412 px, 2x)",
        f"{fmt_n(home_total)} B ({len(home)} images)",
        f"<= {fmt_n(HOME_IMAGE_BYTES_GOAL)} B",
        status(home_total <= HOME_IMAGE_BYTES_GOAL),
    )
    report.row(
        "8 images",
        f"post page: image bytes (the cover: {fmt_n(result['cover_bytes'])} B as a JPEG)",
        f"{fmt_n(sum(size for _, size in post))} B",
        "(info)",
        "-",
    )
    report.row(
        "8 images",
        "sample site build with its images: cold cache / warm cache",
        f"{fmt_s(cold_s)} / {fmt_s(cached_s)}",
        "(info)",
        "-",
    )
    command = os.environ.get("LIGHTHOUSE")
    if QUICK or not command:
        report.row(
            "8 images",
            "Lighthouse mobile",
            "not run" + (" (quick run)" if QUICK else ": set LIGHTHOUSE to its command"),
            "-",
            "-",
        )
    else:
        origin, stop = serve_folder(str(site_dir))
        try:
            for name, url in (("post", post_url), ("home", "/")):
                runs = []
                for run in range(LIGHTHOUSE_RUNS):
                    progress(
                        f"[8/9] images: Lighthouse mobile on {url}, {run + 1}/{LIGHTHOUSE_RUNS} ..."
                    )
                    runs.append(lighthouse(command, origin + url, root))
                scores = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                scores["runs"] = runs
                result["lighthouse"][name] = scores
                met = (
                    scores["performance"] >= LIGHTHOUSE_PERFORMANCE_GOAL
                    and scores["lcp_s"] <= LIGHTHOUSE_LCP_GOAL_S
                )
                report.row(
                    "8 images",
                    f"Lighthouse mobile {url}: performance, LCP (medians of {LIGHTHOUSE_RUNS})",
                    f"{scores['performance']:.0f}, {scores['lcp_s']:.2f} s",
                    f"{LIGHTHOUSE_PERFORMANCE_GOAL}, <= {LIGHTHOUSE_LCP_GOAL_S} s"
                    if name == "post"
                    else "(info)",
                    status(met) if name == "post" else "-",
                )
        finally:
            stop()
    report.data["images"] = result


# --- Goal 9: save-to-visible -------------------------------------------------


def bench_save_to_visible(ws, sizes, report):
    sys.path.insert(0, str(ROOT / "tests"))
    from support import CHROMIUM_ARGS  # the browser tests' launch arguments

    hugo = ensure_debian_command("hugo", "hugo")
    if not hugo and not QUICK:
        raise RuntimeError("hugo is needed (apt-get install hugo, as root)")
    ensure_debian_command("chromium", "chromium")
    results, failures = {}, []
    playwright, browser, page = save_to_visible.browser_session(CHROMIUM_ARGS)
    try:
        for n in sizes:
            try:
                results[n] = save_to_visible_at(ws, n, hugo, page)
            except Exception:
                # The other sizes are still measured and reported.
                failures.append(f"N={fmt_n(n)}:\n{traceback.format_exc()}")
    finally:
        browser.close()
        playwright.stop()
    report_save_to_visible(results, report)
    if failures:
        raise RuntimeError("\n".join(failures))


def save_to_visible_at(ws, n, hugo, page):
    """Goal 7 at one size: make serve, then hugo server, on copies of the corpus."""
    from comments_service import registry

    corpus_content, slugs, corpus_db, _ = ws.corpus(n)
    work = ws.path / f"save-{n}"
    # Copies: the saves must not change the corpus other goals read.
    content = work / "content"
    shutil.copytree(corpus_content, content)
    db_path = work / "comments.db"
    shutil.copy(corpus_db, db_path)
    settings_file = write_settings_file(work / "benchconf.py", content, db_path)
    chosen = slugs[:: max(1, len(slugs) // SAVE_SAMPLES)][:SAVE_SAMPLES]
    entry = {"samples": SAVE_SAMPLES}

    port = free_port()
    progress(f"[9/9] save-to-visible: N={fmt_n(n)} starting make serve (it builds) ...")
    ours = save_to_visible.start_ours(
        PYTHON, ROOT, settings_file, work / "output", db_path, port, work / "serve.log"
    )
    try:
        ours.wait_ready(f"http://127.0.0.1:{port}/", timeout=1800)
        urls = {p["slug"]: p["url"] for p in registry.load(work / "output")["posts"]}
        edits = [(urls[slug], content / "posts" / f"{slug}.md") for slug in chosen]
        progress(f"[9/9] save-to-visible: N={fmt_n(n)} make serve, {len(edits)} saves ...")
        measured = save_to_visible.measure(page, ours, f"http://127.0.0.1:{port}", edits)
        log = ours.log()
    finally:
        ours.stop()
    entry["ours"] = [seconds for seconds, _url in measured if seconds is not None]
    entry["ours_missed"] = sum(seconds is None for seconds, _url in measured)
    published = save_to_visible.server_times(log)[1:]  # after the start-up build
    entry["ours_server"] = [total for total, _first, again in published if again]
    entry["ours_first_pages"] = [first for _total, first, again in published if again]
    entry["ours_saves_published"] = len(published)

    if hugo:
        site = work / "hugo"
        files = hugo_site.write_hugo_site(content, site)
        edits = [(urls[slug], files[slug]) for slug in chosen]
        port = free_port()
        progress(f"[9/9] save-to-visible: N={fmt_n(n)} starting hugo server ...")
        server = save_to_visible.start_hugo(hugo, site, port, work / "hugo.log")
        try:
            server.wait_ready(f"http://127.0.0.1:{port}/", timeout=1800)
            progress(f"[9/9] save-to-visible: N={fmt_n(n)} hugo, {len(edits)} saves ...")
            measured = save_to_visible.measure(
                page, server, f"http://127.0.0.1:{port}", edits, websocket=True
            )
        finally:
            server.stop()
        entry["hugo"] = [seconds for seconds, _url in measured if seconds is not None]
        entry["hugo_missed"] = sum(seconds is None for seconds, _url in measured)
        version = re.search(r"v[\d.]+", command_output([hugo, "version"]))
        entry["hugo_version"] = f"hugo {version[0] if version else '?'}"
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    return entry


def report_save_to_visible(results, report):
    for n, entry in results.items():
        ours = entry["ours"]
        p50 = percentile(ours, 50)
        goal = n == 1_000
        report.row(
            "9 save-to-visible",
            f"N={fmt_n(n)}: make serve, save to page showing it, p50 / p95 of {len(ours)}"
            + missed(entry["ours_missed"]),
            f"{fmt_s(p50)} / {fmt_s(percentile(ours, 95))}",
            f"p50 <= {fmt_s(SAVE_TO_VISIBLE_GOAL_S)}" if goal else "(info)",
            status(p50 <= SAVE_TO_VISIBLE_GOAL_S) if goal else "-",
        )
        if "hugo" in entry:
            report.row(
                "9 save-to-visible",
                f"N={fmt_n(n)}: hugo server ({entry['hugo_version']}), p50 / p95 of "
                f"{len(entry['hugo'])}" + missed(entry["hugo_missed"]),
                f"{fmt_s(percentile(entry['hugo'], 50))} / {fmt_s(percentile(entry['hugo'], 95))}",
                "(side by side)",
                "-",
            )
        else:
            report.row(
                "9 save-to-visible", f"N={fmt_n(n)}: hugo server", "skipped", "(hugo absent)", "-"
            )
        report.row(
            "9 save-to-visible",
            f"N={fmt_n(n)}: make serve, saves re-rendered (not rebuilt); its own time "
            "to the first pages / to every file, p50",
            f"{len(entry['ours_server'])} of {entry['ours_saves_published']}; "
            f"{fmt_s(percentile(entry['ours_first_pages'], 50))} / "
            f"{fmt_s(percentile(entry['ours_server'], 50))}",
            "(info)",
            "-",
        )
    if len(results) > 1:
        small, large = min(results), max(results)
        growth = percentile(results[large]["ours"], 50) / percentile(results[small]["ours"], 50)
        report.row(
            "9 save-to-visible",
            f"p50 at N={fmt_n(large)} / p50 at N={fmt_n(small)}",
            f"{growth:.2f}",
            f"<= {SAVE_TO_VISIBLE_GROWTH_GOAL}",
            status(growth <= SAVE_TO_VISIBLE_GROWTH_GOAL),
        )
    report.data["save_to_visible"] = results


def missed(count):
    """What a row says of saves the open page never showed (within 30 s)."""
    return f" ({count} more never shown without a manual reload)" if count else ""


# --- report -------------------------------------------------------------------


class Report:
    def __init__(self):
        self.rows = []  # (goal, measure, value, target, status)
        self.data = {}
        self.errors = {}

    def row(self, goal, measure, value, target, state):
        self.rows.append((goal, measure, value, target, state))

    def table(self):
        header = ("Goal", "Measure", "Result", "Target", "Status")
        rows = [header, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = []
        for i, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def system_busy_seconds():
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU seconds of this process and every descendant it has waited for."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def other_benchmarks():
    """Other bench or test runs on the machine now (they would skew the figures)."""
    mine, pid = set(), os.getpid()  # this process and its ancestors (pytest may run us)
    while pid > 1 and pid not in mine:
        mine.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if ("bench/run.py" in args and "-child" not in args) or "pytest" in args:
            found.append(f"{entry.name}: {args[:100]}")
    return found


LOCK_FILE = Path(tempfile.gettempdir()) / "career-notes-bench.lock"


def wait_for_other_full_runs():
    """One full run at a time on this machine: two would share the 2 cores and skew
    each other's figures. The lock is held until this process exits. (Quick runs,
    e.g. the test suite's, do not wait; the other-load figure records them.)"""
    import fcntl

    handle = open(LOCK_FILE, "a+")  # noqa: SIM115 (kept open: holds the lock)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        progress(f"      waiting for another full benchmark run to finish (pid {holder}) ...")
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    wait_for_other_full_runs.handle = handle


class Contention:
    """How much CPU other processes used while the benchmarks ran."""

    def __init__(self):
        self.busy0, self.own0, self.wall0 = system_busy_seconds(), own_cpu_seconds(), time.time()
        self.others_at_start = other_benchmarks()

    def summary(self):
        wall = time.time() - self.wall0
        other = max(0.0, (system_busy_seconds() - self.busy0) - (own_cpu_seconds() - self.own0))
        share = other / (wall * (os.cpu_count() or 1))
        return {
            "other_cpu_s": other,
            "share": share,
            "others_at_start": self.others_at_start,
            "others_at_end": other_benchmarks(),
        }


def machine_info():
    from importlib.metadata import version

    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    import sqlite3

    commit = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = command_output(["git", "-C", str(ROOT), "status", "--porcelain"])
    wrk = shutil.which("wrk")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": command_output(["nproc"]) or str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pelican": version("pelican"),
        "flask": version("flask"),
        "gunicorn": version("gunicorn"),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (command_output([wrk, "--version"]).splitlines() or ["?"])[0] if wrk else "absent",
        "commit": commit + (" (uncommitted changes)" if dirty else ""),
    }


def write_markdown(report, info, path, total_s, sizes):
    mode = "quick (BENCH_QUICK=1)" if QUICK else "full"
    out = [
        "# Benchmark results",
        "",
        f"Generated by `bench/run.py` ({mode} run, {total_s / 60:.1f} min). Re-run with "
        "`make bench` (or `BENCH_QUICK=1 .venv/bin/python bench/run.py` for the smoke run).",
        "",
        "## Commands",
        "",
        "```sh",
        (
            "BENCH_QUICK=1 .venv/bin/python bench/run.py   # the smoke run (make bench: full)"
            if QUICK
            else ".venv/bin/python bench/run.py   # = make bench (BENCH_QUICK=1: smoke run)"
        ),
        "# inside it, each a process of its own:",
        ".venv/bin/python bench/run.py --build-child '<json spec>'        # goal 1, one build",
        ".venv/bin/python bench/run.py --approval-child N SAMPLES         # goal 2",
        ".venv/bin/python bench/run.py --queue-child PENDING LOADS        # goal 7",
        ".venv/bin/python -m comments_service.publish --settings <file> --output <dir>",
        ".venv/bin/gunicorn --config comments_service/gunicorn_conf.py "
        "'comments_service:create_app()'  # goal 3",
        f"wrk -t1 -c{INTAKE_CLIENTS} -d{INTAKE_SECONDS}s --timeout 5s -s post.lua "
        "http://127.0.0.1:PORT/comments/",
        "BLOG_ENV=development .venv/bin/python -m comments_service.serve  # goal 9: make serve",
        "hugo server --source <corpus as a Hugo site> --port PORT  # goal 9: Hugo's, side by side",
        "```",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    for key in (
        "date",
        "nproc",
        "cpu",
        "memory",
        "os",
        "python",
        "pelican",
        "flask",
        "gunicorn",
        "sqlite",
        "wrk",
        "commit",
        "other load",
    ):
        out.append(f"| {key} | {info[key]} |")
    out += ["", "## Summary", "", "| Goal | Measure | Result | Target | Status |"]
    out.append("| --- | --- | --- | --- | --- |")
    for r in report.rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    if report.errors:
        out += ["", "## Benchmarks that could not run", ""]
        for goal, err in report.errors.items():
            out += [f"### {goal}", "", "```", err.strip()[-3000:], "```", ""]

    corpus_note = (
        f"Synthetic corpus (`bench/corpus.py`, seed 1): N posts of ~700 words (6-9 "
        f"paragraphs, a `##` heading, a list, a link), 8 categories, 40 tags, dates over five "
        f"years, plus `pages/about.md`; a fifth of the posts have 1-4 approved comments. "
        f"Sizes: {', '.join(fmt_n(n) for n in sizes)}."
    )
    build = report.data.get("build")
    if build:
        out += [
            "",
            "## Goal 1: build overhead (our site vs plain Pelican)",
            "",
            corpus_note,
            "",
            "Each build runs in a fresh process: "
            "`python bench/run.py --build-child '{...}'`, which times "
            "`read_settings(...)` + `Pelican(settings).run()`.",
            "",
            "* ours: `read_settings('pelicanconf.py', override={PATH, OUTPUT_PATH, CACHE_PATH, "
            "COMMENTS: {DB}, CACHE_CONTENT, LOAD_CONTENT_CACHE})`: theme `theme/`, plugin "
            "`comments_service.static_site.pelican_plugin`, comments from SQLite.",
            "* plain: `read_settings(None, override={PATH, OUTPUT_PATH, CACHE_PATH, SITENAME, "
            "ARTICLE_PATHS: ['posts'], PAGE_PATHS: ['pages'], PLUGINS: [], TIMEZONE, "
            "CACHE_CONTENT, LOAD_CONTENT_CACHE})`: theme `notmyidea`, no plugins, Pelican's "
            "default URLs and pages.",
            "* cold: fresh output and cache folders, `CACHE_CONTENT=False`. cached: "
            "`CACHE_CONTENT=True, LOAD_CONTENT_CACHE=True`, after one priming run, over the "
            "same output and cache (the second run onwards). Ours and plain alternate.",
            "",
            "| N | mode | ours median | plain median | ours/plain | goal | ours runs (s) | "
            "plain runs (s) | process wall, ours / plain |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for n, entry in build.items():
            for mode, m in entry["modes"].items():
                out.append(
                    f"| {fmt_n(n)} | {mode} | {m['ours']:.2f} s | {m['plain']:.2f} s | "
                    f"**{m['ratio']:.2f}** | {status(m['ratio'] <= BUILD_RATIO_GOAL)} | "
                    f"{', '.join(f'{x:.2f}' for x in m['ours_samples'])} | "
                    f"{', '.join(f'{x:.2f}' for x in m['plain_samples'])} | "
                    f"{m['ours_wall']:.2f} / {m['plain_wall']:.2f} s |"
                )
        out.append("")
        for n, entry in build.items():
            out.append(
                f"* N={fmt_n(n)}: cache priming run (writes the cache): ours "
                f"{entry['prime']['ours']:.2f} s, plain {entry['prime']['plain']:.2f} s; "
                f"{fmt_n(entry['comments'])} approved comments in the database."
            )
    approval = report.data.get("approval")
    if approval:
        out += [
            "",
            "## Goal 2: approval-to-live",
            "",
            "`bench_approval_to_live(n_posts)` in `bench/run.py`, in a process of its own "
            "(`python bench/run.py --approval-child N SAMPLES`): its own corpus (seed 2) with "
            "comments, the site built by `python -m comments_service.publish`, then "
            "`create_app({SITE_DIR, COMMENTS_DB, PELICAN_SETTINGS, SECRET_KEY, "
            "PASSWORD_HASH: 'scrypt:1024:8:1', RATELIMIT_ENABLED: False})`, an admin "
            "logged in through the Flask test client. Per sample: submit a comment, fetch the "
            "queue's CSRF token and the comment's version, then time from just before `POST "
            "/admin/moderate action=approve:<id> seen-<id>=<version>` until the comment text "
            "is in the post's `index.html`.",
            "",
            "| N | samples | p50 | p95 | first | p50 / p95 without the first | max | "
            "approve response p50 | initial build | peak RSS (publishing process) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for n, r in approval.items():
            out.append(
                f"| {fmt_n(n)} | {len(r['samples'])} | {fmt_s(r['p50'])} | {fmt_s(r['p95'])} | "
                f"{fmt_s(r['first'])} | {fmt_s(r['p50'])} / {fmt_s(r['p95'])} | "
                f"{fmt_s(r['max'])} | "
                f"{fmt_s(r['response_p50'])} | {fmt_s(r['initial_build_s'])} | "
                f"{r['maxrss_kb'] / 1024:.0f} MB (before the samples: "
                f"{r['maxrss_kb_before_samples'] / 1024:.0f} MB) |"
            )
        out += [
            "",
            "Initial build: the start-up build, in the publishing process, that builds the "
            "site and leaves the publisher warm, as the gunicorn master of `make serve-prod` "
            "does before it forks its workers (`gunicorn_conf.when_ready`). The first sample "
            "is the first decision after it, reported apart.",
            "",
            f"Publisher measured: {next(iter(approval.values()))['publisher']}",
        ]
        out += [
            "",
            "Samples (s): "
            + "; ".join(
                f"N={fmt_n(n)}: " + ", ".join(f"{x:.3f}" for x in r["samples"])
                for n, r in approval.items()
            ),
        ]
    intake = report.data.get("intake")
    if intake:
        first = next(iter(intake.values()))
        fallback = first["tool"] != "wrk"
        out += [
            "",
            "## Goal 3: comment intake",
            "",
            "The production server as `make serve-prod` starts it:",
            "",
            "```sh",
            "PORT=<free port> SECRET_KEY=<random> COMMENTS_DB=<fresh db> RATELIMIT_ENABLED=0 \\",
            "  FLASK_PELICAN_SETTINGS=<corpus settings> FLASK_SITE_DIR=<site folder> "
            + first["gunicorn_command"],
            "```",
            "",
            f"(The master builds the corpus site, then forks {first['workers']} workers x "
            f"{first['threads']} threads, gthread.) "
            f"Load: {INTAKE_CLIENTS} concurrent keep-alive clients POSTing valid comments to "
            f"`/comments/` (`Accept: application/json`, `Sec-Fetch-Site: same-origin`, a slug "
            f"from the post registry) after a {INTAKE_WARMUP_SECONDS} s warm-up:",
            "",
            "```sh",
            first["command"],
            "```",
            "",
        ]
        if fallback:
            out += [
                "**wrk was not available: the figures come from the Python fallback load "
                "generator, which competes with the server for the same 2 cores.**",
                "",
            ]
        out += [
            "| N | duration | requests | 202 | accepted/s | p50 | p90 | p99 | max | errors | "
            "CPU used, server / wrk (cores of 2) | server CPU per comment | "
            "rows / 202s (all phases) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for n, r in intake.items():
            out.append(
                f"| {fmt_n(n)} | {r['duration_s']:.1f} s | {fmt_n(r['requests'])} | "
                f"{fmt_n(r['accepted'])} | **{r['accepted_per_s']:,.0f}** | "
                f"{r['p50_ms']:.1f} ms | {r['p90_ms']:.1f} ms | **{r['p99_ms']:.1f} ms** | "
                f"{r['max_ms']:.1f} ms | {r['errors_total']} "
                f"(statuses {r['statuses']}, socket {r['socket_errors']}) | "
                f"{r['server_cpu_cores']:.2f} / {r['load_cpu_cores']:.2f} | "
                f"{r['server_cpu_cores'] * 1000 / max(r['accepted_per_s'], 1e-9):.2f} ms | "
                f"{fmt_n(r['rows'])} / "
                f"{fmt_n(r['acknowledged_all_phases'])} ({r['missing']} missing) |"
            )
        p = first["pragmas"]
        out += [
            "",
            f"Database durability: `PRAGMA synchronous` = {p['synchronous']}, `journal_mode` = "
            f"{p['journal_mode']} (queried on a `comments_service.db.connect` connection). "
            f'db.py says: "{p["docstring"]}"',
            "",
            "Rows are counted after gunicorn has stopped; requests still in flight when the "
            "load generator stops may be stored without being counted as 202, so rows >= 202s "
            "is the expected result and `missing` must be 0.",
        ]
        for n, r in intake.items():
            if r["server_errors"]:
                out += ["", f"Exceptions in gunicorn's log at N={fmt_n(n)} (warm-up included):", ""]
                out += [f"* {count:,} x `{line}`" for count, line in r["server_errors"]]
        notes = report.data.get("intake_notes")
        if notes:
            out += ["", notes]
    pw = report.data.get("page_weight")
    if pw:
        out += [
            "",
            "## Goal 4: page weight",
            "",
            f"The sample site built with `{pw.get('settings', 'pelicanconf.py')}` as it is "
            f"(only `COMMENTS.DB` points at "
            f"an absent database, so `var/comments.db` is not read). Page: `{pw['page']}`, "
            f"origin {pw['origin']}. Bytes are uncompressed file sizes of the HTML, its "
            f"stylesheets and scripts (images count as requests, not bytes); "
            f"30 KB is taken as 30,000 bytes.",
            "",
            "| file | kind | bytes |",
            "| --- | --- | --- |",
        ]
        for kind, items in pw["files"].items():
            for url, size in items:
                out.append(f"| `{url}` | {kind} | {fmt_n(size) if size is not None else '-'} |")
        out += [
            "",
            f"Total HTML + CSS + JS: **{fmt_n(pw['bytes'])} bytes** ({fmt_n(pw['gzip_bytes'])} "
            f"gzipped), **{pw['requests']} requests**, third-party: "
            f"{', '.join(pw['third_party']) or '**none**'}"
            + (f"; missing files: {', '.join(pw['missing'])}" if pw["missing"] else "")
            + ".",
            "",
            f"Heaviest post page of the sample site: `{pw['heaviest_post']['page']}`, "
            f"{fmt_n(pw['heaviest_post']['bytes'])} bytes, "
            f"{pw['heaviest_post']['requests']} requests.",
        ]
    render_data = report.data.get("render")
    if render_data:
        out += [
            "",
            "## Goal 5: render worst case",
            "",
            "`bench_render_worst_case` in `bench/run.py`: each comment of the adversarial table "
            "(`tests/adversarial_comments.py`: inputs that were quadratic or overflowed the "
            "stack in Python-Markdown, and its slowest linear ones), repeated to the form's "
            f"5,000 characters, rendered {render_data['reps']} times with "
            "`comments_service.render.render_comment` in the benchmark's process "
            "(`time.perf_counter` around each render); the median per comment, slowest first. "
            "The tests hold the same table to a deterministic count of steps "
            "(`tests/test_render_bounds.py`).",
            "",
            "| comment (repeated to 5,000 characters) | ms per render |",
            "| --- | --- |",
        ]
        for r in render_data["results"]:
            label = html_escape(r["input"]).replace("`", "&#96;").replace("|", "&#124;")
            out.append(f"| <code>{label}</code> | {r['ms']:.1f} |")
    soak = report.data.get("soak")
    if soak:
        out += [
            "",
            "## Goal 6: soak",
            "",
            f"The production server as goal 3 starts it (`{soak['gunicorn_command']}`, "
            f"{soak['workers']} workers, the corpus of N={fmt_n(soak['n_posts'])} posts, "
            "`ADMIN_USERNAME`/`ADMIN_PASSWORD` set), for "
            f"{soak['seconds']} s (`BENCH_SOAK_SECONDS`):",
            "",
            f"* readers: {soak['rate']} comments a second on a fixed schedule (comment k due "
            f"at k / {soak['rate']} s, {SOAK_CLIENTS} keep-alive clients; latency counted from "
            "the due time, so a server that falls behind shows), each with a unique marker;",
            f"* the admin: logs in through the login form, reads `/admin/` every "
            f"{SOAK_QUEUE_EVERY_S} s and every {SOAK_DECIDE_EVERY_S} s approves or (in turn) "
            "trashes the next comment the last queue page showed, posting that page's form "
            "(CSRF token, hidden fields, the button's name and value) without following the "
            "redirect;",
            "* lost: markers of 202-acknowledged comments missing from the database, read after "
            "gunicorn stopped; RSS: `VmRSS` of the gunicorn workers summed, from `/proc`; "
            f"the start is read after a warm-up of {SOAK_WARMUP_SECONDS} s at the same rate "
            "(off the clock, so that every worker thread has served comments), "
            f"{soak['rss_boot'] / 1024:.0f} MB at boot before it.",
            "",
            "| duration | rate | sent | 202 | lost | errors (comments / admin) | POST p50 | "
            f"p99 first {soak['window_s']:.0f} s | p99 last {soak['window_s']:.0f} s | "
            "worker RSS start -> end | decisions p50 / p95 / max | queue page p50 / max |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| {soak['seconds']} s | {soak['rate']}/s | {fmt_n(soak['sent'])} | "
            f"{fmt_n(soak['acked'])} | **{soak['lost_count']}** | "
            f"**{soak['comment_error_count']} / {len(soak['admin_errors'])}** | "
            f"{soak['p50_ms']:.1f} ms | **{soak['first_p99_ms']:.1f} ms** | "
            f"**{soak['last_p99_ms']:.1f} ms** | "
            f"**{soak['rss'][0][1] / 1024:.0f} -> {soak['rss'][-1][1] / 1024:.0f} MB "
            f"({soak['rss_growth']:+.0%})** | {soak['decisions']}: "
            f"{soak['decision_p50_ms']:.0f} / {soak['decision_p95_ms']:.0f} / "
            f"{soak['decision_max_ms']:.0f} ms | {soak['queue_p50_ms']:.0f} / "
            f"{soak['queue_max_ms']:.0f} ms |",
            "",
            "Worker RSS over the run (s: MB): "
            + ", ".join(f"{t:.0f}: {kb / 1024:.0f}" for t, kb in soak["rss"]),
            "",
            "Queue page reads (s: ms, comments shown, KB): "
            + ", ".join(
                f"{q['at']:.0f}: {q['s'] * 1000:.0f}, {fmt_n(q['shown'])}, {q['bytes'] / 1024:.0f}"
                for q in soak["queue"]
            ),
        ]
        if soak["comment_errors"] or soak["admin_errors"]:
            out += [
                "",
                f"Errors: comments {', '.join(soak['comment_errors']) or 'none'}; admin "
                f"{'; '.join(soak['admin_errors']) or 'none'}.",
            ]
        if soak["server_errors"]:
            out += ["", "Exceptions in gunicorn's log:", ""]
            out += [f"* {count:,} x `{line}`" for count, line in soak["server_errors"]]
    queue = report.data.get("queue")
    if queue:
        out += [
            "",
            "## Goal 7: queue page at 30,000 pending",
            "",
            f"{fmt_n(queue['pending'])} pending comments written with "
            f"`db.add_pending_comment` ({queue['seed_s']:.0f} s; the seeding connection "
            f"with `synchronous=OFF`), over the sample site's posts, the first "
            f"{QUEUE_HOSTILE} of them the costliest to render (goal 5's table: the "
            "oldest-first page shows them); a logged-in admin "
            f"loads each page {queue['loads']} times through the Flask test client, after "
            f"one first load (`bench_queue_page`, a process of its own; peak RSS "
            f"{queue['maxrss_mb']:.0f} MB).",
            "",
            "| page | p50 | p95 | max | comments shown | RSS before / after the loads |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, page in queue["pages"].items():
            out.append(
                f"| {name} (`{page['url']}`) | {fmt_s(page['p50'])} | {fmt_s(page['p95'])} | "
                f"{fmt_s(page['max'])} | {page['shown']} | "
                f"{page['rss_before_mb']:.1f} / {page['rss_after_mb']:.1f} MB |"
            )
    images = report.data.get("images")
    if images:
        out += [
            "",
            "## Goal 8: images",
            "",
            "The sample site (`content/`, `pelicanconf.py`) plus one newest post whose "
            "cover is a 2400x1000 photo-like JPEG of "
            f"{fmt_n(images['cover_bytes'])} bytes (`bench/pictures.py`). Bytes are the "
            "files a phone loads, 412 CSS px wide at 2x: from each `<picture>` the first "
            "`<source>` (AVIF), the srcset candidate a browser picks for the `sizes` given "
            "(`pictures.chosen_url`), lazy images included.",
            "",
            "| page | image | bytes |",
            "| --- | --- | --- |",
        ]
        for page, key in (("/", "home"), (images["post_url"], "post")):
            for url, size in images[key]:
                out.append(f"| `{page}` | `{url}` | {fmt_n(size)} |")
        out += [
            "",
            f"Build of that site: {fmt_s(images['cold_s'])} with an empty image cache, "
            f"{fmt_s(images['cached_s'])} with it (nothing encoded again).",
        ]
        for name, scores in images["lighthouse"].items():
            out.append(
                f"* Lighthouse mobile, {name} (medians of {len(scores['runs'])} runs): "
                f"performance {scores['performance']:.0f}, LCP "
                f"{scores['lcp_s']:.2f} s, FCP {scores['fcp_s']:.2f} s, CLS {scores['cls']:.3f}, "
                f"{fmt_n(round(scores['bytes']))} bytes transferred."
            )
        out += [
            "",
            "Lighthouse runs when `LIGHTHOUSE` names its command (e.g. "
            "`LIGHTHOUSE=/tmp/lh/node_modules/.bin/lighthouse make bench`, after "
            "`npm i --prefix /tmp/lh -E lighthouse@12.2.3`), against a static server "
            "of the built site on 127.0.0.1, with Debian's chromium "
            "(`--headless=new --no-sandbox --disable-gpu ...`).",
        ]
    save = report.data.get("save_to_visible")
    if save:
        method = " ".join(save_to_visible.__doc__.split("\n\n")[1].split())
        out += [
            "",
            "## Goal 9: save-to-visible (`make serve` and `hugo server`)",
            "",
            method,
            "",
            "The corpus is goal 1's (seed 1); each server works on its own copy. Ours: "
            "`BLOG_ENV=development PORT=<free> FLASK_PELICAN_SETTINGS=<corpus settings> "
            "FLASK_SITE_DIR=<folder> .venv/bin/python -m comments_service.serve`. Hugo: "
            "`hugo server --source <site> --port <free> --bind 127.0.0.1 --baseURL "
            "http://127.0.0.1:<port>/ --appendPort=false` over `bench/hugo_site.py`'s "
            "conversion. The same posts are saved on both.",
            "",
            "| N | server | saves | p50 | p95 | each save (s) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for n, entry in save.items():
            servers = [("make serve", entry["ours"])]
            if "hugo" in entry:
                servers.append((f"hugo server ({entry['hugo_version']})", entry["hugo"]))
            for name, samples in servers:
                key = "hugo_missed" if name.startswith("hugo") else "ours_missed"
                out.append(
                    f"| {fmt_n(n)} | {name} | {len(samples)} | {fmt_s(percentile(samples, 50))} "
                    f"| {fmt_s(percentile(samples, 95))} | "
                    f"{', '.join(f'{x:.3f}' for x in samples)}{missed(entry[key])} |"
                )
        out += [
            "",
            "make serve's own time per save re-rendered, from the change seen to the "
            "first pages written (the open pages told) and to the last file written "
            "(its log's `Published ... in N ms (the first pages after M ms)`): "
            + "; ".join(
                f"N={fmt_n(n)}: p50 {fmt_s(percentile(e['ours_first_pages'], 50))} / "
                f"{fmt_s(percentile(e['ours_server'], 50))}, "
                f"{len(e['ours_server'])} of {e['ours_saves_published']} saves re-rendered"
                for n, e in save.items()
            )
            + ".",
        ]
    out.append("")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    notes = ROOT / "bench" / "OPTIMISATIONS.md"  # hand-written: what was changed and why
    if notes.is_file():
        out += ["", notes.read_text(encoding="utf-8").rstrip(), ""]
    Path(path).write_text("\n".join(out), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8,9", help="goals to run, e.g. 1,3")
    parser.add_argument("--sizes", default=None, help="post counts, e.g. 1000,10000")
    parser.add_argument(
        "--site",
        type=Path,
        default=ROOT / "pelicanconf.py",
        help="Pelican settings of the site goals 4 and 8 weigh (default: pelicanconf.py, content/)",
    )
    parser.add_argument("--build-child", help=argparse.SUPPRESS)
    parser.add_argument("--approval-child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--queue-child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build_child:
        build_child(json.loads(args.build_child))
        return 0
    if args.approval_child:
        approval_child(*args.approval_child, args.workdir)
        return 0
    if args.queue_child:
        queue_child(*args.queue_child, args.workdir)
        return 0

    os.chdir(ROOT)
    if not QUICK:
        wait_for_other_full_runs()
    goals = {int(g) for g in args.only.split(",") if g.strip()}
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")] if args.sizes else SIZES
    started = time.perf_counter()
    progress(
        f"Benchmarks ({'quick' if QUICK else 'full'}): sizes {', '.join(map(fmt_n, sizes))}; "
        f"goals {sorted(goals)}"
    )
    report = Report()
    contention = Contention()
    if contention.others_at_start:
        progress("      WARNING: other benchmark/test runs are running; figures will be skewed:")
        for line in contention.others_at_start:
            progress(f"        {line}")
    ws = Workspace()
    steps = [
        (1, "1 build overhead", lambda: bench_build_overhead(ws, sizes, report)),
        (2, "2 approval-to-live", lambda: bench_approval(ws, sizes, report)),
        (3, "3 comment intake", lambda: bench_intake(ws, sizes, report)),
        (4, "4 page weight", lambda: bench_page_weight(ws, report, args.site.resolve())),
        (5, "5 render worst case", lambda: bench_render_worst_case(report)),
        (6, "6 soak", lambda: bench_soak(ws, sizes, report)),
        (7, "7 queue page", lambda: bench_queue(ws, report)),
        (8, "8 images", lambda: bench_images(ws, report, args.site.resolve())),
        (9, "9 save-to-visible", lambda: bench_save_to_visible(ws, sizes, report)),
    ]
    try:
        for number, name, step in steps:
            if number not in goals:
                continue
            try:
                step()
            except Exception:
                err = traceback.format_exc()
                progress(f"{name}: FAILED\n{err}")
                report.errors[name] = err
                report.row(name, "could not run", "see RESULTS", "-", "ERROR")
    finally:
        ws.cleanup()
    total = time.perf_counter() - started
    info = machine_info()
    load = contention.summary()
    info["other load"] = (
        f"{load['other_cpu_s']:.0f} CPU-s used by other processes during the run "
        f"({load['share']:.0%} of the machine)"
        + (
            "; **other benchmark/test runs were seen: figures are skewed**: "
            + "; ".join(f"`{x}`" for x in load["others_at_start"] + load["others_at_end"])
            if load["others_at_start"] or load["others_at_end"]
            else ""
        )
    )
    # Only a complete full run replaces bench/RESULTS.md; a quick or partial run
    # (--only, --sizes) goes to bench/out/ unless BENCH_RESULTS says otherwise.
    partial = goals != {1, 2, 3, 4, 5, 6, 7, 8, 9} or sizes != SIZES
    kind = "quick" if QUICK else "partial" if partial else None
    default = BENCH_DIR / (f"out/RESULTS-{kind}.md" if kind else "RESULTS.md")
    path = Path(os.environ.get("BENCH_RESULTS") or default)
    write_markdown(report, info, path, total, sizes)
    raw = BENCH_DIR / "out" / (f"results-{kind}.json" if kind else "results.json")
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(
        json.dumps({"machine": info, "rows": report.rows, "data": report.data}, indent=1)
    )
    print()
    print(
        f"Benchmarks ({'quick' if QUICK else 'full'}) on {info['nproc']} CPUs, "
        f"{info['memory']}, Python {info['python']}, Pelican {info['pelican']}, "
        f"{total / 60:.1f} min"
    )
    print(report.table())
    print(f"\nOther load: {info['other load']}")
    print(f"Written to {path}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
