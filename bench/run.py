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
7. save-to-visible: `make serve` and Hugo 0.111's ``hugo server`` on the same
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

Options: ``--only 1,3`` runs a subset of the goals; ``--sizes 1000`` other sizes.
"""

import argparse
import contextlib
import gzip
import json
import math
import os
import platform
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
import urllib.request
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import corpus  # noqa: E402  (bench/corpus.py, stdlib only)
import hugo_site  # noqa: E402  (bench/hugo_site.py: the corpus as a Hugo site)
import save_to_visible  # noqa: E402  (bench/save_to_visible.py: goal 7's servers and browser)

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


def write_settings_file(path, corpus_dir, db_path):
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
CATEGORIES = {corpus.CATEGORIES!r}
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
            progress(f"[1/4] build overhead: N={fmt_n(n)} {label} ...")
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
    from comments_service import cli, create_app, db, publish, registry

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
    progress(f"[2/4] approval-to-live: N={fmt_n(n_posts)} start-up build ...")
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        publish.publish_site(app.config)
    initial_build_s = time.perf_counter() - started

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
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    posts = registry.load(site_dir)["posts"]
    open_posts = [p for p in posts if p["comments_open"]]
    to_live, responses, admin_sees = [], [], []
    # Sample 0 is the process's first decision (reported apart too); with the
    # publisher warmed at start it costs what the others do.
    # (one full build). `make serve` does that at start; it is reported apart.
    for i in range(samples + 1):
        progress(
            f"[2/4] approval-to-live: N={fmt_n(n_posts)} sample {i}/{samples} (0: the first) ..."
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
        page = site_dir / post["url"].lstrip("/") / "index.html"

        start = time.perf_counter()
        answer = client.post(
            "/admin/moderate",
            data={"csrf_token": token, "view": "pending", "action": f"approve:{comment_id}"},
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
end

function request()
  n = n + 1
  local slug = slugs[(n %% #slugs) + 1]
  local body = "post_slug=" .. slug
    .. "&name=Bench+Reader&email=reader%%40example.com"
    .. "&website=https%%3A%%2F%%2Freader.example"
    .. "&body=Thank+you+for+the+practical+advice+t" .. tid .. "r" .. n
    .. "+it+helped+me+prepare+for+my+next+interview."
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
def gunicorn_server(site_dir, db_path, workdir, settings_file):
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
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    while proc.poll() is None:
        time.sleep(1)
        elapsed = min(time.monotonic() - started, seconds)
        if proc.poll() is None:
            progress(f"[3/4] comment intake: {label} {elapsed:.0f}/{seconds} s ...")
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

    def client(tid):
        conn = http.client.HTTPConnection(host, port, timeout=5)
        n = 0
        while time.perf_counter() < stop_at:
            n += 1
            body = (
                f"post_slug={slugs[n % len(slugs)]}&name=Bench+Reader"
                "&email=reader%40example.com&website=https%3A%2F%2Freader.example"
                f"&body=Thank+you+for+the+practical+advice+t{tid}r{n}+it+helped."
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
            f"[3/4] comment intake (Python fallback): {label} "
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
        progress(f"[3/4] comment intake: N={fmt_n(n)} starting gunicorn (it builds the site) ...")
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


def bench_page_weight(ws, report):
    from pelican.settings import read_settings

    from comments_service import registry

    progress("[4/4] page weight: building the sample site (pelicanconf.py) ...")
    site_dir = ws.path / "sample-site" / "output"
    # The development settings as they are; only the comments database is a
    # fresh (absent) one, so var/comments.db is never touched.
    quiet_build(
        ROOT / "pelicanconf.py",
        site_dir,
        {"COMMENTS": {"DB": str(ws.path / "sample-site" / "none.db")}},
    )
    origin = read_settings(str(ROOT / "pelicanconf.py"))["SITE_ORIGIN"]
    posts = registry.load(site_dir)["posts"]
    chosen = next((p for p in posts if p["slug"] == SAMPLE_POST_SLUG), posts[0])
    progress(f"[4/4] page weight: measuring {chosen['url']} ...")
    result = page_weight(site_dir, chosen["url"], origin)
    weights = [page_weight(site_dir, p["url"], origin) for p in posts]
    heaviest = max(weights, key=lambda r: r["bytes"])
    result["heaviest_post"] = {k: heaviest[k] for k in ("page", "bytes", "requests")}
    result["heaviest_post"]["third_party"] = heaviest["third_party"]
    result["origin"] = origin
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


# --- Goal 7: save-to-visible -------------------------------------------------


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
    progress(f"[7] save-to-visible: N={fmt_n(n)} starting make serve (it builds) ...")
    ours = save_to_visible.start_ours(
        PYTHON, ROOT, settings_file, work / "output", db_path, port, work / "serve.log"
    )
    try:
        ours.wait_ready(f"http://127.0.0.1:{port}/", timeout=1800)
        urls = {p["slug"]: p["url"] for p in registry.load(work / "output")["posts"]}
        edits = [(urls[slug], content / "posts" / f"{slug}.md") for slug in chosen]
        progress(f"[7] save-to-visible: N={fmt_n(n)} make serve, {len(edits)} saves ...")
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
        progress(f"[7] save-to-visible: N={fmt_n(n)} starting hugo server ...")
        server = save_to_visible.start_hugo(hugo, site, port, work / "hugo.log")
        try:
            server.wait_ready(f"http://127.0.0.1:{port}/", timeout=1800)
            progress(f"[7] save-to-visible: N={fmt_n(n)} hugo, {len(edits)} saves ...")
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
            "7 save-to-visible",
            f"N={fmt_n(n)}: make serve, save to page showing it, p50 / p95 of {len(ours)}"
            + missed(entry["ours_missed"]),
            f"{fmt_s(p50)} / {fmt_s(percentile(ours, 95))}",
            f"p50 <= {fmt_s(SAVE_TO_VISIBLE_GOAL_S)}" if goal else "(info)",
            status(p50 <= SAVE_TO_VISIBLE_GOAL_S) if goal else "-",
        )
        if "hugo" in entry:
            report.row(
                "7 save-to-visible",
                f"N={fmt_n(n)}: hugo server ({entry['hugo_version']}), p50 / p95 of "
                f"{len(entry['hugo'])}" + missed(entry["hugo_missed"]),
                f"{fmt_s(percentile(entry['hugo'], 50))} / {fmt_s(percentile(entry['hugo'], 95))}",
                "(side by side)",
                "-",
            )
        else:
            report.row(
                "7 save-to-visible", f"N={fmt_n(n)}: hugo server", "skipped", "(hugo absent)", "-"
            )
        report.row(
            "7 save-to-visible",
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
            "7 save-to-visible",
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
        ".venv/bin/python -m comments_service.publish --settings <file> --output <dir>",
        ".venv/bin/gunicorn --config comments_service/gunicorn_conf.py "
        "'comments_service:create_app()'  # goal 3",
        f"wrk -t1 -c{INTAKE_CLIENTS} -d{INTAKE_SECONDS}s --timeout 5s -s post.lua "
        "http://127.0.0.1:PORT/comments/",
        "BLOG_ENV=development .venv/bin/python -m comments_service.serve  # goal 7: make serve",
        "hugo server --source <corpus as a Hugo site> --port PORT  # goal 7: Hugo's, side by side",
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
            "queue's CSRF token, then time from just before `POST /admin/moderate "
            "action=approve:<id>` until the comment text is in the post's `index.html`.",
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
            f"The sample site built with `pelicanconf.py` as it is (only `COMMENTS.DB` points at "
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
    save = report.data.get("save_to_visible")
    if save:
        method = " ".join(save_to_visible.__doc__.split("\n\n")[1].split())
        out += [
            "",
            "## Goal 7: save-to-visible (`make serve` and `hugo server`)",
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
    parser.add_argument("--only", default="1,2,3,4,7", help="goals to run, e.g. 1,3")
    parser.add_argument("--sizes", default=None, help="post counts, e.g. 1000,10000")
    parser.add_argument("--build-child", help=argparse.SUPPRESS)
    parser.add_argument("--approval-child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build_child:
        build_child(json.loads(args.build_child))
        return 0
    if args.approval_child:
        approval_child(*args.approval_child, args.workdir)
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
        (4, "4 page weight", lambda: bench_page_weight(ws, report)),
        (7, "7 save-to-visible", lambda: bench_save_to_visible(ws, sizes, report)),
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
    partial = goals != {1, 2, 3, 4, 7} or sizes != SIZES
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
