"""gunicorn settings for `make serve-prod` (the production entry point)."""

import multiprocessing
import os

bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
# Two per core: requests spend part of their time waiting on SQLite's fsync.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG")  # off unless asked: it costs throughput
# A worker's first moderation decision warms its publisher with one full build
# (seconds; about a minute at 10,000 posts): do not kill it meanwhile.
timeout = 120
