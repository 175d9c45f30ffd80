"""Benchmark: what a user waits for: stage start-up, and a whole `dvc repro` in a fresh clone.

    python -m benchmarks.repro                 # demo corpus: start-up per stage, then `dvc repro`
    python -m benchmarks.repro --nesmdb        # the same on NES-MDB ($NESMDB_DIR or ../shared/nesmdb_midi)
    python -m benchmarks.repro --startup-only  # only the import time of each stage shell

Start-up: ``python -c "import stages.<name>"`` per stage shell (best of 3), i.e. what a
stage costs before it does any work. The repro: the project is cloned from git (committed
files only) into a temporary folder, NES-MDB is chosen through ``conf/local`` when asked,
and ``dvc repro`` runs once; per stage the wall time between DVC's "Running stage" lines
(so DVC's own per-stage bookkeeping is included), the total, the CPU time of all stage
processes and the largest resident set of any single one (``ru_maxrss`` of the children).
A fresh clone compiles the E-step kernel only if no copy of this code ever ran on the
machine (the numba cache is keyed by the kernel's source, neshmm/models/numba_cache.py);
``--cold`` points numba at an empty cache to include that compilation.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._measure import ROOT, load_average, render_table

STAGES = ("params", "demo", "scan", "prepare", "tokenize", "train", "train_joint", "sample", "evaluate", "render")


def startup(python: str, cwd: Path, repeat: int = 3) -> list[list]:
    rows = []
    for name in STAGES:
        best = min(_timed([python, "-c", f"import stages.{name}"], cwd) for _ in range(repeat))
        rows.append([name, f"{best:.2f}"])
    return rows


def _timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def nesmdb_dir() -> Path:
    env = os.environ.get("NESMDB_DIR") or os.environ.get("NESMDB_PATH")
    return Path(env) if env else ROOT.parent / "shared" / "nesmdb_midi"


def repro(work: Path, nesmdb: bool, cold: bool) -> tuple[list[list], float]:
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    if cold:
        env["NUMBA_CACHE_DIR"] = str(work / "numba-cache")
    if nesmdb:
        (clone / "conf/local").mkdir(parents=True, exist_ok=True)
        (clone / "conf/local/default.yaml").write_text(
            f"# @package _global_\ndefaults:\n  - override /data: nesmdb\ndata:\n  path: {nesmdb_dir()}\n")
        subprocess.run([sys.executable, "-m", "neshmm.params"], cwd=clone, env=env, check=True, capture_output=True)
    rows, start = [], time.perf_counter()
    last, name = start, "dvc start-up"
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        # Anywhere in the line: a stage whose last output has no newline shares its line.
        if "Running stage '" in line:
            now = time.perf_counter()
            rows.append([name, f"{now - last:.2f}"])
            last, name = now, line.split("Running stage '", 1)[1].split("'")[0]
    proc.wait()
    end = time.perf_counter()
    rows.append([name, f"{end - last:.2f}"])
    if proc.returncode != 0:
        raise SystemExit(f"dvc repro failed ({proc.returncode}) in {clone}")
    return rows, end - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nesmdb", action="store_true", help="run on NES-MDB instead of the demo corpus")
    p.add_argument("--startup-only", action="store_true")
    p.add_argument("--cold", action="store_true", help="empty numba cache: include compiling the E-step")
    p.add_argument("--repeat", type=int, default=3, help="start-up: best of this many imports")
    args = p.parse_args(argv)
    if args.nesmdb and not (nesmdb_dir() / "train").is_dir():
        raise SystemExit(f"NES-MDB not found at {nesmdb_dir()} (set NESMDB_DIR)")
    print(f"# neshmm: stage start-up and dvc repro\nmachine: {os.cpu_count()} CPUs; load average before: {load_average()}")
    print(f"\n## import time of each stage shell (s, best of {args.repeat})\n")
    print(render_table(["stage", "import_s"], startup(sys.executable, ROOT, args.repeat), "lr"))
    if args.startup_only:
        return 0
    with tempfile.TemporaryDirectory(prefix="neshmm-repro-") as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows, total = repro(Path(tmp), args.nesmdb, args.cold)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    corpus = f"NES-MDB ({nesmdb_dir()})" if args.nesmdb else "demo corpus (generated)"
    print(f"\n## dvc repro in a fresh clone, {corpus}{', cold numba cache' if args.cold else ''}\n")
    rows.append(["TOTAL", f"{total:.2f}"])
    print(render_table(["stage (from DVC's 'Running stage' lines)", "wall_s"], rows, "lr"))
    print(f"\nCPU time of all processes: {cpu:.1f} s; largest resident set of one process: "
          f"{after.ru_maxrss / 1024:.0f} MB")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
