"""neshmm.parallel: ordered results for any worker count, and workers a Ctrl-C does not reach."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import ROOT, tool_env
from neshmm import parallel
from neshmm.parallel import in_background, ordered_map, shared_map


def square(x: int) -> int:
    return x * x


def pid_and_mask(_: int) -> tuple[int, bool]:
    time.sleep(0.05)  # keep both workers busy, so both are used
    return os.getpid(), signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_results_in_input_order_whatever_the_worker_count(jobs):
    assert list(ordered_map(square, range(50), jobs)) == [x * x for x in range(50)]
    assert list(ordered_map(square, range(50), jobs, chunksize=7)) == [x * x for x in range(50)]
    assert list(ordered_map(square, [], jobs)) == []


def test_workers_are_other_processes_with_sigint_blocked_and_the_parent_is_not():
    out = list(ordered_map(pid_and_mask, range(8), 2))
    assert {pid for pid, _ in out} - {os.getpid()}, "ran in this process"
    assert all(blocked for _, blocked in out)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())  # restored here


SLOW_MAP = """
import os, sys, time
from neshmm.parallel import ordered_map

def slow(x):
    with open(sys.argv[1], "a") as fh:  # which items a worker ever started
        fh.write(f"{x}\\n")
    time.sleep(0.5)
    return x

print("started", flush=True)
try:
    for x in ordered_map(slow, range(40), 2):
        print(x, flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_ctrl_c_to_the_process_group_stops_the_map_at_once_and_only_the_parent_reports_it(tmp_path):
    """As a terminal does: SIGINT to the whole process group, workers included."""
    started = tmp_path / "started.txt"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_MAP, str(started)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=tool_env(), cwd=ROOT, start_new_session=True)
    assert proc.stdout.readline().strip() == "started"
    assert proc.stdout.readline().strip() == "0"  # the workers are running
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    # Stopped, not drained: the workers never start most of the 40 items.
    assert len(started.read_text().split()) < 10, started.read_text()
    assert proc.returncode == 130 and out.strip().endswith("interrupted"), (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err  # no worker spoke
    leftovers = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], leftovers  # every worker is gone


def scaled_by(shared: dict, x: int) -> tuple[int, int]:
    return x * shared["factor"], os.getpid()


@pytest.mark.parametrize("jobs", [1, 2])
def test_shared_map_gives_fn_of_shared_and_item_in_input_order(jobs):
    shared = {"factor": 3, "big": np.zeros(1000)}  # reaches the workers by fork
    out = list(shared_map(scaled_by, shared, range(20), jobs))
    assert [x for x, _ in out] == [3 * x for x in range(20)]
    pids = {pid for _, pid in out}
    assert (pids == {os.getpid()}) == (jobs == 1)


def test_shared_map_restores_nothing_left_behind_after_a_run():
    list(shared_map(scaled_by, {"factor": 2}, range(4), 2))
    assert parallel._SHARED is None


def pid_plus(x: int) -> tuple[int, int]:
    return x + 1, os.getpid()


def failing(_: int) -> None:
    raise ValueError("from the worker")


@pytest.mark.parametrize("jobs", [1, 2])
def test_in_background_returns_the_result_and_runs_elsewhere_only_with_jobs(jobs):
    with in_background(pid_plus, 41, jobs=jobs) as result:
        value, pid = result()
    assert value == 42
    assert (pid == os.getpid()) == (jobs == 1)


def test_in_background_raises_what_the_function_raised():
    with pytest.raises(ValueError, match="from the worker"):
        with in_background(failing, 0, jobs=2) as result:
            result()
