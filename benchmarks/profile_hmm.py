"""Where an EM iteration of the 16-state CategoricalHMM spends its time (cProfile).

    python -m benchmarks.profile_hmm                  # voice p1, 3 iterations per variant
    python -m benchmarks.profile_hmm --convergence    # also: how many iterations tol needs

Profiles hmmlearn's stock E-step ('log', the notebook's default, and 'scaling') and ours
(the compiled 'scaling' E-step, one thread; cProfile sees it as one call), printing the functions with
the most own time. ``--convergence`` fits the full ``--max-iter`` iterations and prints the
iteration at which the log-likelihood gain first drops below a few tolerances, absolute
(hmmlearn's ``tol``, what ``model.tol`` sets) and per token.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import sys
import time

import numpy as np

from benchmarks._data import voice_ids
from benchmarks._measure import load_average


def profile_fit(model, X, lengths, top: int) -> tuple[float, str]:
    prof = cProfile.Profile()
    c0 = time.process_time()
    prof.runcall(model.fit, X, lengths)
    cpu = time.process_time() - c0
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return cpu, "\n".join(lines[start:])


def main(argv=None) -> int:
    from hmmlearn.hmm import CategoricalHMM

    from neshmm.models.hmmlearn_categorical import BatchedCategoricalHMM

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voice", default="p1")
    p.add_argument("--files", type=int, default=None)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--convergence", action="store_true")
    p.add_argument("--max-iter", type=int, default=100)
    args = p.parse_args(argv)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)

    data = voice_ids(args.voice, args.files)
    X, lengths = data.ids.reshape(-1, 1), data.lengths
    print(f"# profile: voice {args.voice}, {len(X):,} tokens, {len(lengths)} sequences, "
          f"{data.n_symbols} symbols, K=16, {args.iters} iterations; load average {load_average()}")
    variants = [
        ("hmmlearn stock, implementation='log' (the notebook)", CategoricalHMM, "log"),
        ("hmmlearn stock, implementation='scaling'", CategoricalHMM, "scaling"),
        ("ours: BatchedCategoricalHMM, compiled 'scaling' E-step, 1 thread", BatchedCategoricalHMM, "scaling"),
    ]
    for label, cls, impl in variants:
        model = cls(n_components=16, n_features=data.n_symbols, n_iter=args.iters, tol=-np.inf,
                    random_state=17, implementation=impl)
        model.n_workers = 1
        cpu, table = profile_fit(model, X, lengths, args.top)
        print(f"\n## {label}: {cpu / args.iters:.3f} CPU s per iteration (under the profiler)\n")
        print(table)

    if args.convergence:
        model = BatchedCategoricalHMM(n_components=16, n_features=data.n_symbols, n_iter=args.max_iter,
                                      tol=-np.inf, random_state=17, implementation="scaling")
        model.n_workers = 2
        model.fit(X, lengths)
        hist = np.asarray(model.monitor_.history)
        gains = np.diff(hist)
        print(f"\n## convergence over {len(hist)} iterations (final log-likelihood {hist[-1]:.1f}, "
              f"{hist[-1] / len(X):.4f} per token)\n")
        print("| stop when gain < | first iteration |")
        print("|---|---:|")
        for label, thr in [("0.01 (tol default, absolute)", 0.01), ("10.0", 10.0),
                           ("1e-5 per token", 1e-5 * len(X)), ("1e-4 per token", 1e-4 * len(X)),
                           ("1e-3 per token", 1e-3 * len(X))]:
            below = np.flatnonzero(gains < thr)
            print(f"| {label} | {int(below[0]) + 2 if len(below) else 'not within ' + str(len(hist))} |")
        print("\n| iteration | log-likelihood per token | gain per token over the previous iteration |")
        print("|---:|---:|---:|")
        for it in (2, 5, 10, 25, 50, 75, len(hist)):
            if 2 <= it <= len(hist):
                print(f"| {it} | {hist[it - 1] / len(X):.5f} | {gains[it - 2] / len(X):.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
