"""`make bench` keeps working: its quick smoke run goes end to end once.

It asserts that every goal was measured, never how fast anything was:
speed is judged by `make bench` and bench/RESULTS.md, not by tests.
"""

import os
import re
import subprocess
import sys

from support import ROOT


def test_the_quick_benchmark_runs_every_goal(tmp_path, fixture_project):
    env = {**os.environ, "BENCH_QUICK": "1"}
    # Goal 4 weighs the test site's pages, not the author's posts.
    site = fixture_project / "pelicanconf.py"
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--site", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    for goal in (
        "1 build overhead",
        "2 approval-to-live",
        "3 comment intake",
        "4 page weight",
        "5 render worst case",
        "6 soak",
        "7 queue page",
        "8 images",
        "9 save-to-visible",
    ):
        assert goal in table, goal
    assert "0 missing" in table, "every acknowledged comment is in the database"
    assert re.search(r"acknowledged comments lost +0 of", table), "the soak lost none either"
    assert (ROOT / "bench" / "out" / "RESULTS-quick.md").is_file()
