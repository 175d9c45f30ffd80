"""neshmm.parallel: ordered results for any worker count, and workers a Ctrl-C does not reach."""

from __future__ import annotations

import os
import signal
import time

import pytest

from neshmm.parallel import ordered_map


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


def test_a_sigint_while_workers_are_forked_is_raised_right_after():
    from neshmm.parallel import _sigint_blocked

    reached_end_of_block = False
    with pytest.raises(KeyboardInterrupt):
        with _sigint_blocked():
            os.kill(os.getpid(), signal.SIGINT)  # pending, not lost
            time.sleep(0.05)
            reached_end_of_block = True
    assert reached_end_of_block
