"""Progress lines for long steps (an EM fit, parsing thousands of files), for people only.

A real-data HMM fit takes minutes; without a sign of life a user cannot tell a slow fit
from a hung one. Lines go to stderr, at most one every ``NESHMM_PROGRESS_SECONDS``
(default 5) seconds, and only when stderr is a terminal: DVC passes its terminal through to
the stage, while logs, pipes, the test suite and CI (``CI`` set to a true value) stay
quiet. ``NESHMM_PROGRESS=1`` forces the lines on, ``=0`` off. Progress never touches an
artifact: it only reads what the step computes anyway.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

_TRUE = ("1", "true", "yes", "on")


def enabled(stream: TextIO | None = None) -> bool:
    """Whether progress lines are wanted on ``stream`` (stderr by default)."""
    forced = os.environ.get("NESHMM_PROGRESS", "").strip().lower()
    if forced:
        return forced in _TRUE
    if os.environ.get("CI", "").strip().lower() in _TRUE:
        return False
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("NESHMM_PROGRESS_SECONDS", "5")))
    except ValueError:
        return 5.0


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Counts ``done`` of ``total`` units and prints ``label: done/total ... ETA`` now and then.

    ``eta_is_bound`` says the total is a maximum (EM stops early when it converges), so the
    ETA is printed as an upper bound ("at most").
    """

    def __init__(self, label: str, total: int, unit: str = "", eta_is_bound: bool = False,
                 stream: TextIO | None = None):
        self.label, self.total, self.unit, self.eta_is_bound = label, total, unit, eta_is_bound
        self.stream = stream or sys.stderr
        self.on = enabled(self.stream)
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.every = _interval()

    def update(self, done: int, info: str = "", force: bool = False) -> None:
        if not self.on:
            return
        now = time.perf_counter()
        if not force and now - self.last < self.every and done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        left = elapsed / done * (self.total - done) if done else 0.0
        eta = "done" if done >= self.total else f"ETA {'at most ' if self.eta_is_bound else ''}{_duration(left)}"
        unit = f" {self.unit}" if self.unit else ""
        extra = f", {info}" if info else ""
        print(f"{self.label}: {done}/{self.total}{unit}{extra}, {_duration(elapsed)} so far, {eta}",
              file=self.stream, flush=True)


def em_monitor(monitor, label: str):
    """An EM convergence monitor (:class:`neshmm.models.em.ConvergenceMonitor` or
    hmmlearn's) that also reports each iteration to a :class:`Progress`.

    Returns ``monitor`` itself when progress is off, so a non-interactive fit runs the
    plain monitor. The replacement is a subclass of the monitor's own class: same tol,
    n_iter, history and convergence rule.
    """
    progress = Progress(label, int(monitor.n_iter), "EM iterations", eta_is_bound=True)
    if not progress.on:
        return monitor

    class _Reporting(type(monitor)):
        def report(self, log_prob):
            super().report(log_prob)
            gain = f" ({log_prob - self.history[-2]:+.3g})" if len(self.history) > 1 else ""
            progress.update(self.iter, f"log-likelihood {log_prob:.6g}{gain}", force=self.iter == 1)

    reporting = _Reporting.__new__(_Reporting)
    reporting.__dict__.update(monitor.__dict__)
    return reporting
