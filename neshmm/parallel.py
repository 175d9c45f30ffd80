"""Ordered parallel map over worker processes that a Ctrl-C never reaches.

Why not joblib/loky (used before): loky starts each worker as a fresh ``python -m ...``
that imports numpy, matplotlib and this package again (about a second per worker, longer
than a demo-sized render), and a Ctrl-C sent to the stage's process group also reached
those workers while they were still importing, so each printed a traceback next to the
stage's one-line "interrupted" message (tests/e2e/test_interrupt.py caught it).

Here workers are forked (no imports: they start with the parent's modules) with SIGINT
*blocked*: the mask is inherited across fork, so only the stage process sees a Ctrl-C. It
raises KeyboardInterrupt there as usual (a SIGINT arriving while the workers are being
forked stays pending and is delivered right after), and the pool's workers are stopped
when the stage exits. Results come back in input order whatever the worker count, so
outputs do not depend on ``jobs``. Where ``fork`` does not exist (not Linux/macOS) the map
runs in-process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int, chunksize: int = 1) -> Iterator[R]:
    """``map(fn, items)`` on ``jobs`` forked workers, results in input order, lazily.

    ``jobs`` <= 1, fewer than two items, or no ``fork``: in this process.
    """
    items = list(items)
    if jobs <= 1 or len(items) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(fn, items)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=context) as pool:
        with _sigint_blocked():
            # With fork, the pool forks all its workers at the first submission (inside map).
            results = pool.map(fn, items, chunksize=chunksize)
        yield from results
