"""Run a command as a child process and measure it: wall time, CPU time, peak memory.

CPU time is the child's user+system time from ``wait4``, which on Linux includes every
descendant the child waited for (joblib/loky workers, threads are in the process anyway).
Peak memory is the largest sum of resident set sizes over the child's process tree, polled
every 100 ms with psutil; without psutil it falls back to ``ru_maxrss`` (largest single
process), which undercounts parallel stages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    """One measured child process."""

    cmd: list[str]
    wall: float
    cpu: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str
    extra: dict = field(default_factory=dict)

    def check(self) -> "Run":
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.cmd)} exited {self.returncode}\n--- stdout\n{self.stdout[-4000:]}"
                f"\n--- stderr\n{self.stderr[-4000:]}"
            )
        return self


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _tree_rss(proc) -> int:
    try:
        procs = [proc] + proc.children(recursive=True)
    except Exception:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except Exception:
            pass
    return total


def run_measured(cmd: list[str], cwd: Path, poll: float = 0.1) -> Run:
    """Run ``cmd`` in ``cwd`` and measure it (see module docstring)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with dvc
        psutil = None
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = [0]
    done = threading.Event()

    def watch():
        if psutil is None:
            return
        try:
            ps = psutil.Process(proc.pid)
        except Exception:
            return
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(ps))
            done.wait(poll)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out: dict[str, str] = {}

    def drain(name, stream):
        out[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n, s)) for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    watcher.join()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    maxrss_mb = usage.ru_maxrss / 1024.0
    return Run(
        cmd=cmd,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_mb=max(peak[0] / 2**20, maxrss_mb),
        returncode=proc.returncode,
        stdout=out.get("out", ""),
        stderr=out.get("err", ""),
    )


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} {five:.2f} {fifteen:.2f}"
    except OSError:  # pragma: no cover
        return "n/a"


def fmt(value, spec: str = ".2f") -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return format(value, spec)


def render_table(headers: list[str], rows: list[list], aligns: str | None = None) -> str:
    """A GitHub-markdown table (readable as plain text too)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    aligns = aligns or ("l" + "r" * (len(headers) - 1))

    def line(vals):
        return "| " + " | ".join(
            v.ljust(w) if a == "l" else v.rjust(w) for v, w, a in zip(vals, widths, aligns)
        ) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, aligns)) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in cells)])
