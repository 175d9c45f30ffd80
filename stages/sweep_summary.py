"""Summarize a sweep (table and plot): a Hydra multirun folder, or the DVC experiments.

    python -m stages.sweep_summary multirun/2025-01-01/12-00-00
    python -m stages.sweep_summary --latest        # the newest folder under multirun/
    python -m stages.sweep_summary --dvc --vary model.n_components   # one DVC sweep
    python -m stages.sweep_summary --dvc --name nc-                  # experiments named nc-*

Writes summary.csv, summary.md and summary.png into the folder (or --out; for --dvc the
default is multirun/dvc-exps/) and prints the best configuration by held-out likelihood.
A multirun of `python -m stages.sweep` writes its summary by itself when it ends; run this
after an interrupted sweep, or to compare queued DVC experiments.
"""

import argparse
import sys
from pathlib import Path

from neshmm.sweep.summary import build, summarize, write

DVC_OUT = Path("multirun/dvc-exps")


def latest(root: Path) -> Path | None:
    """The most recently started sweep folder (each holds the multirun.yaml Hydra saves)."""
    found = sorted(root.rglob("multirun.yaml"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="summarize a sweep as summary.{csv,md,png}")
    p.add_argument("sweep_dir", nargs="?", type=Path, help="a Hydra multirun folder")
    p.add_argument("--latest", action="store_true", help="the newest folder under multirun/")
    p.add_argument("--dvc", action="store_true", help="the DVC experiments of the current commit")
    p.add_argument("--vary", action="append", default=None,
                   help="with --dvc: the sweep's varied key (or group, e.g. model); repeatable")
    p.add_argument("--name", default=None, help="with --dvc: only experiments whose name starts with this")
    p.add_argument("--out", type=Path, default=None, help="folder for the summary files")
    args = p.parse_args(argv)
    if args.dvc:
        from neshmm.errors import NeshmmError
        from neshmm.sweep.dvc_exps import dvc_records

        try:
            records = dvc_records(Path("."), args.vary, args.name)
        except NeshmmError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        summary, out = build(records, "dvc exp show"), args.out or DVC_OUT
    else:
        sweep_dir = latest(Path("multirun")) if args.latest else args.sweep_dir
        if sweep_dir is None or not sweep_dir.is_dir():
            print(f"error: {sweep_dir or 'multirun/'}: no sweep folder; give a multirun/<date>/<time> folder",
                  file=sys.stderr)
            return 2
        summary, out = summarize(sweep_dir), args.out or sweep_dir
    if summary.df.empty:
        print(f"error: {summary.source}: nothing to summarize (no job folders / experiments)", file=sys.stderr)
        return 2
    write(summary, out)
    print(summary.headline())
    print("summary: " + ", ".join(str(p) for p in summary.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
