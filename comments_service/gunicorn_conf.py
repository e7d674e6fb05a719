"""gunicorn settings for `make serve-prod` and the systemd unit (the production entry point).

gunicorn --config comments_service/gunicorn_conf.py 'comments_service:create_app()'
"""

import ctypes
import multiprocessing
import os
import sys

from comments_service.config import ConfigError, load

# Refuse to start, in one line, before anything is bound or built.
try:
    load().require("SITE_URL", "SECRET_KEY")
except ConfigError as exc:
    print(f"Not starting: {exc}", file=sys.stderr)
    sys.exit(2)

# glibc gives each thread that allocates a malloc arena of its own (up to
# eight a core), and memory freed in one arena is not reused by the others: in
# the soak (bench goal 6: 100 comments a second for two minutes) the workers
# grew by 23 MB with the default, 12 MB with two arenas. MALLOC_ARENA_MAX=2 is
# the usual cure for threaded servers; asked for here, before the master
# starts a thread or forks, it holds however gunicorn is started.
M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas(arenas=2):
    """Ask glibc for at most ``arenas`` malloc arenas, unless MALLOC_ARENA_MAX
    already chose; False where the C library has no ``mallopt`` (not glibc)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return True
    try:
        return ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas) == 1
    except (OSError, AttributeError):
        return False


limit_malloc_arenas()

# GUNICORN_BIND=unix:/run/career-notes/gunicorn.sock behind nginx (deploy/).
bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
# Two per core: requests spend part of their time waiting on SQLite's fsync.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG")  # off unless asked: it costs throughput

# The master loads the app, builds the site once and keeps the publisher warm
# (the build's posts, context and templates in memory); the workers are forked
# from it and start warm, so even a worker's first moderation decision only
# re-renders a few pages, instead of rebuilding the site (about a minute at
# 10,000 posts) while the admin waits.
preload_app = True
# A worker still rebuilds when the site changed under it (new posts): about a
# minute at 10,000 posts; do not kill it meanwhile.
timeout = 120


def when_ready(server):
    """In the master, once the app is loaded and before the workers fork."""
    import gc
    from pathlib import Path

    from comments_service.serve import prepare_admin, rebuild

    app = server.app.wsgi()
    prepare_admin(app)
    if not rebuild(app) and not Path(app.config["SITE_DIR"], "index.html").exists():
        server.log.error("The site could not be built and there is no previous one to serve.")
        sys.exit(1)
    # The warm build is read, hardly ever written: keep the collector from
    # touching it, so the workers share its memory pages with the master.
    gc.freeze()


def post_worker_init(worker):
    """Each worker sends the outbox's emails from a thread of its own (threads
    do not survive the fork, so not from the master); the senders claim rows
    in the database, so none is sent twice (``comments_service/outbox.py``)."""
    from comments_service.outbox import start_sender

    start_sender(worker.wsgi.config, name=f"worker-{worker.pid}")


def worker_exit(server, worker):
    """A graceful stop (SIGTERM, a restart) finishes a pending Popular Posts
    build: it is debounced by two seconds, and would otherwise be lost. The
    email sender finishes the email it is sending and gives back the others
    it claimed: they wait in the outbox for the next worker."""
    from comments_service.outbox import stop_senders
    from comments_service.static_site.warm import all_publishers

    if not stop_senders(timeout=10):
        server.log.warning("The email sender did not stop in time; its emails are retried")
    for publisher in all_publishers():
        try:
            publisher.flush()
        # Logged, not raised: the other publishers must still be flushed, and
        # whatever is left is finished by the next publish (warm.py).
        except Exception:
            server.log.exception("Could not finish the pending site build")
