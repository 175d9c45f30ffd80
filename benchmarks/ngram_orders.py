"""Benchmark: the n-gram model per voice and order on real NES-MDB, valid split held out.

    NESMDB_DIR=/path/to/nesmdb_midi python -m benchmarks.ngram_orders
    python -m benchmarks.ngram_orders --voices p1 --orders 1 2 3 --floors 0.5

For every voice: held-out log-likelihood per token on the valid split (``unk_smoothing``
1e-6, the evaluate default) for orders 1-5 with and without the discount floor, and the
Markov chain at alpha 1, 0.1, 0.01 for reference; fit wall time, peak memory of the fit
(numpy allocations traced by tracemalloc, which slows the fit a little: times are taken in
a separate, untraced fit) and the size of the saved arrays. Training data: the seeded half
of the train split, tokenized as the pipeline does (``benchmarks/_data.py``).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from benchmarks._data import voice_splits
from benchmarks._measure import load_average, render_table

UNK_SMOOTHING = 1e-6


def measure(make, h) -> list:
    t0 = time.perf_counter()
    model = make().fit(h.train.ids, h.train.lengths)
    fit_s = time.perf_counter() - t0
    tracemalloc.start()
    make().fit(h.train.ids, h.train.lengths)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.perf_counter()
    ll = model.log_likelihood(h.valid_ids, h.valid_lengths, UNK_SMOOTHING) / len(h.valid_ids)
    score_s = time.perf_counter() - t0
    size = sum(a.nbytes for a in model.arrays().values())
    return [f"{ll:.4f}", f"{np.exp(-ll):.1f}", f"{fit_s:.2f}", f"{score_s:.2f}", f"{peak / 2**20:.0f}", f"{size / 2**20:.1f}"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voices", nargs="+", default=["p1", "p2", "tr", "no"])
    p.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--floors", type=float, nargs="+", default=[0.0, 0.5])
    p.add_argument("--alphas", type=float, nargs="+", default=[1.0, 0.1, 0.01])
    args = p.parse_args(argv)
    from neshmm.models.markov import MarkovModel
    from neshmm.models.ngram import NGramModel

    data = voice_splits(tuple(args.voices))
    print(f"# n-gram orders on {next(iter(data.values())).train.source}; load average {load_average()}")
    headers = ["voice", "model", "valid log-lik/token", "perplexity", "fit s", "score s", "fit peak MiB", "arrays MiB"]
    rows = []
    for voice, h in data.items():
        print(f"{voice}: {len(h.train.ids):,} train tokens, {h.train.n_symbols} ids, {len(h.valid_ids):,} valid tokens", flush=True)
        v = h.train.n_symbols
        for alpha in args.alphas:
            rows.append([voice, f"markov alpha={alpha:g}", *measure(lambda: MarkovModel(v, alpha=alpha), h)])
        for floor in args.floors:
            for order in args.orders:
                rows.append([voice, f"ngram order={order} floor={floor:g}",
                             *measure(lambda: NGramModel(v, order=order, discount_floor=floor), h)])
    print(render_table(headers, rows, "ll" + "r" * (len(headers) - 2)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
