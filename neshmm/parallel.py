"""Ordered parallel map over worker processes that a Ctrl-C never reaches.

Why not joblib/loky (used before): loky starts each worker as a fresh ``python -m ...``
that imports numpy, matplotlib and this package again (about a second per worker, longer
than a demo-sized render), and a Ctrl-C sent to the stage's process group also reached
those workers while they were still importing, so each printed a traceback next to the
stage's one-line "interrupted" message (tests/e2e/test_interrupt.py caught it).

Here workers are forked (no imports: they start with the parent's modules) with SIGINT
*blocked*: the mask is inherited across fork, so only the stage process sees a Ctrl-C. It
raises KeyboardInterrupt there as usual (a SIGINT arriving while the workers are being
forked stays pending and is delivered right after, when no other thread took it), and the
workers are terminated at once rather than left to finish their queue. Results come back
in input order whatever the worker count, so outputs do not depend on ``jobs``. Where
``fork`` does not exist (not Linux/macOS) the map runs in-process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

# What the workers of :func:`shared_map` call: set just before they fork, so each worker
# inherits it with the parent's memory instead of receiving it pickled with every task.
_SHARED: tuple[Callable[[Any, Any], Any], Any] | None = None


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int, chunksize: int = 1) -> Iterator[R]:
    """``map(fn, items)`` on ``jobs`` forked workers, results in input order, lazily.

    ``jobs`` <= 1, fewer than two items, or no ``fork``: in this process. On any exception
    in the caller (a Ctrl-C included) the workers are terminated at once, not waited for.
    """
    items = list(items)
    if jobs <= 1 or len(items) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(fn, items)
        return
    context = multiprocessing.get_context("fork")
    with _sigint_blocked():
        # The pool forks its workers here, and its helper threads start here: all of them
        # inherit the blocked mask, so only this (main) thread ever takes a SIGINT.
        pool = context.Pool(min(jobs, len(items)))
    with pool:  # leaving it terminates the workers
        yield from pool.imap(fn, items, chunksize=chunksize)


def _call_shared(item):
    fn, shared = _SHARED
    return fn(shared, item)


def shared_map(fn: Callable[[S, T], R], shared: S, items: Iterable[T], jobs: int) -> Iterator[R]:
    """:func:`ordered_map` of ``fn(shared, item)``, where ``shared`` reaches the workers by
    fork, never pickled.

    Why: ``ordered_map`` pickles its function (a ``partial`` with its arguments) with every
    task; evaluate's tasks share large read-only inputs (a whole split's reference songs),
    which would be pickled and unpickled once per task. Here the workers fork with them in
    memory and only ``item`` and the result travel. In-process (``jobs`` <= 1, fewer than two
    items, no fork) it is plain ``fn(shared, item)`` in order.
    """
    global _SHARED
    items = list(items)
    if jobs <= 1 or len(items) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for item in items:
            yield fn(shared, item)
        return
    previous, _SHARED = _SHARED, (fn, shared)
    try:
        yield from ordered_map(_call_shared, items, jobs)
    finally:
        _SHARED = previous


@contextlib.contextmanager
def in_background(fn: Callable[..., R], *args, jobs: int) -> Iterator[Callable[[], R]]:
    """``fn(*args)`` on one forked worker while the ``with`` block runs; the block gets a
    function that waits for the result and returns it (or raises what ``fn`` raised).

    Why: a step whose inputs are ready early (evaluate's plot) can run beside the rest
    instead of after it. ``jobs`` <= 1 or no ``fork``: ``fn(*args)`` runs in this process
    when the result is asked for. Leaving the block terminates the worker (a Ctrl-C never
    reaches it, as for :func:`ordered_map`).
    """
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield lambda: fn(*args)
        return
    context = multiprocessing.get_context("fork")
    with _sigint_blocked():
        pool = context.Pool(1)
    with pool:  # leaving it terminates the worker
        pending = pool.apply_async(fn, args)
        yield pending.get
