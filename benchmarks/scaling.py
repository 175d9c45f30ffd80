"""Benchmark: how the HMM fit's cost grows with n_components (K) and corpus size (T tokens).

    python -m benchmarks.scaling                      # voice p1 of the NES-MDB training half
    python -m benchmarks.scaling --iters 3 --workers 1 --ks 4 8 16 32 64 --fractions 0.125 0.25 0.5 1

Each cell fits ``--iters`` EM iterations (tol disabled) and reports seconds per iteration
(wall and CPU) and the CPU nanoseconds per T*K^2: an E-step is a forward and a backward pass
of T (1 x K)(K x K) products plus O(T*K) emission work, so that column should stay roughly
flat (it falls a little for small K, where per-token overhead dominates). Vocabulary size
does not enter: the emission matrix is only gathered by token id.

One process by default: CPU time is then the whole cost (worker processes' CPU is not\nvisible to ``time.process_time``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np

from benchmarks._data import take_fraction, voice_ids
from benchmarks._measure import load_average, render_table


def time_fit(ids, lengths, n_symbols, k, iters, workers, implementation="scaling", stock=False):
    from hmmlearn.hmm import CategoricalHMM

    from neshmm.models.hmm import BatchedCategoricalHMM

    cls = CategoricalHMM if stock else BatchedCategoricalHMM
    model = cls(n_components=k, n_features=n_symbols, n_iter=iters, tol=-np.inf, random_state=17,
                implementation=implementation)
    model.n_workers = workers
    X = ids.reshape(-1, 1)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X, lengths)
    return (time.perf_counter() - t0) / iters, (time.process_time() - c0) / iters


def row(label, T, k, wall, cpu):
    return [label, f"{T:,}", str(k), f"{wall:.3f}", f"{cpu:.3f}", f"{cpu / (T * k * k) * 1e9:.2f}"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voice", default="p1")
    p.add_argument("--files", type=int, default=None, help="parse only N training files (default all)")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--workers", type=int, default=1, help="E-step worker processes")
    p.add_argument("--ks", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    p.add_argument("--fractions", type=float, nargs="+", default=[0.125, 0.25, 0.5, 1.0])
    p.add_argument("--stock", action="store_true", help="also time hmmlearn's own scaling E-step at K=16")
    args = p.parse_args(argv)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)

    data = voice_ids(args.voice, args.files)
    T = len(data.ids)
    print("# HMM fit cost vs n_components and corpus size")
    print(f"data: voice {args.voice}, {data.source}; training half: {T:,} tokens, "
          f"{len(data.lengths)} sequences, {data.n_symbols} symbols")
    print(f"{args.iters} EM iterations per cell, {args.workers} E-step process(es); load average {load_average()}\n")
    headers = ["fit", "T", "K", "wall_s/iter", "cpu_s/iter", "cpu_ns/(T*K^2)"]

    rows = []
    for k in args.ks:
        wall, cpu = time_fit(data.ids, data.lengths, data.n_symbols, k, args.iters, args.workers)
        rows.append(row("ours (batched scaling)", T, k, wall, cpu))
    if args.stock:
        for impl in ("scaling", "log"):
            wall, cpu = time_fit(data.ids, data.lengths, data.n_symbols, 16, args.iters, 1, impl, stock=True)
            rows.append(row(f"hmmlearn stock {impl}", T, 16, wall, cpu))
    print("## vs n_components (whole training half)\n")
    print(render_table(headers, rows))

    rows = []
    for f in args.fractions:
        ids, lengths = take_fraction(data, f)
        wall, cpu = time_fit(ids, lengths, data.n_symbols, 16, args.iters, args.workers)
        rows.append(row(f"ours, {f:g} of tokens", len(ids), 16, wall, cpu))
    print("\n## vs corpus size (K = 16)\n")
    print(render_table(headers, rows))
    print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
