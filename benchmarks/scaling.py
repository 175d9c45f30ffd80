"""Benchmark: HMM fit cost per T*K^2 for hmmlearn's stock E-step and our compiled one.

    python -m benchmarks.scaling                      # voice p1 of the NES-MDB training half
    python -m benchmarks.scaling --ks 16 --stock-ks --log-ks --fractions   # ours at K=16 only
    python -m benchmarks.scaling --full-fit           # also a 100-iteration K=16 fit (HMMModel)

Each cell fits ``--iters`` EM iterations (tol disabled; hmmlearn's loop, M-step included)
and reports seconds per iteration (wall and CPU) and CPU nanoseconds per T*K^2. An E-step
is a forward and a backward pass of T (1 x K)(K x K) products plus the transition sums,
so that column should stay roughly flat (it rises for small K, where per-token work
dominates). The target for ours is <= 0.7 at K = 16, 64, 128.

Rows: ``ours`` is :class:`neshmm.models.hmmlearn_categorical.BatchedCategoricalHMM` (the
compiled kernel of neshmm/models/estep.py, ``--threads`` numba threads; compile time is paid in a warm-up
fit and reported separately); ``stock scaling`` / ``stock log`` are hmmlearn's
``CategoricalHMM`` unchanged, at the K of ``--ks`` that are also in ``--stock-ks`` /
``--log-ks`` ('log' is ~8x slower than 'scaling'). The previous E-step (hmmlearn's C forward/backward per sequence
plus batched NumPy statistics in forked processes) is gone; it measured 3.65 CPU-ns at
K=16 and 2.1 at K=64 (see the README).

CPU time is ``time.process_time``, which counts every thread of this process.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np

from benchmarks._data import take_fraction, voice_ids
from benchmarks._measure import load_average, render_table


def make_model(n_symbols, k, iters, threads, stock=None):
    from hmmlearn.hmm import CategoricalHMM

    from neshmm.models.hmmlearn_categorical import BatchedCategoricalHMM

    cls = BatchedCategoricalHMM if stock is None else CategoricalHMM
    model = cls(n_components=k, n_features=n_symbols, n_iter=iters, tol=-np.inf, random_state=17,
                implementation=stock or "scaling")
    model.n_workers = threads
    return model


def time_fit(ids, lengths, n_symbols, k, iters, threads=1, stock=None):
    model = make_model(n_symbols, k, iters, threads, stock)
    X = ids.reshape(-1, 1)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X, lengths)
    return (time.perf_counter() - t0) / iters, (time.process_time() - c0) / iters


def warm_up(n_symbols) -> float:
    """Compile (or load from numba's cache) the kernel; returns the seconds it took."""
    t0 = time.perf_counter()
    ids = np.arange(8, dtype=np.int64) % n_symbols
    make_model(n_symbols, 2, 1, 1).fit(ids.reshape(-1, 1), [5, 3])
    return time.perf_counter() - t0


def row(label, T, k, wall, cpu):
    return [label, f"{T:,}", str(k), f"{wall:.3f}", f"{cpu:.3f}", f"{cpu / (T * k * k) * 1e9:.3f}"]


def full_fit(data, threads: int) -> str:
    """A 100-iteration K=16 fit through HMMModel, as the train stage runs it."""
    from neshmm.models.hmm import HMMModel

    model = HMMModel(data.n_symbols, n_components=16, n_iter=100, tol=-np.inf, seed=17)
    model.n_jobs = threads
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(data.ids, data.lengths)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return (f"100-iteration K=16 fit (HMMModel, {threads or 'all'} thread(s)): {wall:.2f} s wall, "
            f"{cpu:.2f} s CPU, {model.fit_info['n_iter']} iterations, final log-likelihood "
            f"{model.fit_info['train_loglik']:.1f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voice", default="p1")
    p.add_argument("--files", type=int, default=None, help="parse only N training files (default all)")
    p.add_argument("--iters", type=int, default=3, help="EM iterations per cell of ours")
    p.add_argument("--stock-iters", type=int, default=1, help="EM iterations per stock cell")
    p.add_argument("--threads", type=int, default=1, help="numba threads for ours (0 = one per core)")
    p.add_argument("--ks", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128])
    p.add_argument("--stock-ks", type=int, nargs="*", default=[4, 8, 16, 32, 64, 128])
    p.add_argument("--log-ks", type=int, nargs="*", default=[16])
    p.add_argument("--fractions", type=float, nargs="*", default=[0.25, 0.5, 1.0])
    p.add_argument("--full-fit", action="store_true", help="also time a 100-iteration K=16 fit")
    args = p.parse_args(argv)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)

    data = voice_ids(args.voice, args.files)
    T = len(data.ids)
    print("# HMM fit cost per T*K^2: hmmlearn stock vs the compiled E-step")
    print(f"data: voice {args.voice}, {data.source}; training half: {T:,} tokens, "
          f"{len(data.lengths)} sequences, {data.n_symbols} symbols")
    print(f"ours: {args.iters} EM iterations per cell, {args.threads} thread(s); stock: {args.stock_iters}; "
          f"load average {load_average()}")
    print(f"kernel compile or cache load (first fit in this process): {warm_up(data.n_symbols):.2f} s\n")
    headers = ["fit", "T", "K", "wall_s/iter", "cpu_s/iter", "cpu_ns/(T*K^2)"]

    rows = []
    for k in args.ks:
        rows.append(row("ours (compiled kernel)", T, k, *time_fit(data.ids, data.lengths, data.n_symbols, k,
                                                                   args.iters, args.threads)))
        if k in args.stock_ks:
            rows.append(row("hmmlearn stock scaling", T, k, *time_fit(data.ids, data.lengths, data.n_symbols, k,
                                                                       args.stock_iters, stock="scaling")))
        if k in args.log_ks:
            rows.append(row("hmmlearn stock log", T, k, *time_fit(data.ids, data.lengths, data.n_symbols, k,
                                                                   args.stock_iters, stock="log")))
    print("## vs n_components (whole training half)\n")
    print(render_table(headers, rows))

    if args.fractions:
        rows = []
        for f in args.fractions:
            ids, lengths = take_fraction(data, f)
            rows.append(row(f"ours, {f:g} of tokens", len(ids), 16,
                            *time_fit(ids, lengths, data.n_symbols, 16, args.iters, args.threads)))
        print("\n## vs corpus size (K = 16)\n")
        print(render_table(headers, rows))
    if args.full_fit:
        print("\n" + full_fit(data, args.threads))
    print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
