"""`make bench` keeps working: its quick smoke run goes end to end once.

It asserts that every goal was measured, never how fast anything was:
speed is judged by `make bench` and bench/RESULTS.md, not by tests.
"""

import os
import subprocess
import sys

from support import ROOT


def test_the_quick_benchmark_runs_every_goal(tmp_path):
    env = {**os.environ, "BENCH_QUICK": "1"}
    done = subprocess.run(
        [sys.executable, "bench/run.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    goals = (
        "1 build overhead",
        "2 approval-to-live",
        "3 comment intake",
        "4 page weight",
        "7 save-to-visible",
    )
    for goal in goals:
        assert goal in table, goal
    assert "0 missing" in table, "every acknowledged comment is in the database"
    assert (ROOT / "bench" / "out" / "RESULTS-quick.md").is_file()
