"""Benchmark: n-gram libraries vs the project's own model, on real NES-MDB (valid held out).

    NESMDB_DIR=/path/to/nesmdb_midi python -m benchmarks.ngram_libraries
    python -m benchmarks.ngram_libraries --order 3 --nltk-fraction 0.1 --lmplz /path/to/lmplz

Why this exists: before writing modified Kneser–Ney by hand (neshmm/models/ngram.py) the
well-kept libraries were measured on the data the pipeline trains on (docs/models.md has
the table and the decision). Per library and order ``--order``:

* fit: seconds to estimate the model from voice p1's training half (~0.44 M tokens) and
  from all four voices (~2.1 M tokens, fitted one voice at a time, as the pipeline does);
* score: seconds to score p1's valid split (~72 k tokens), and the log-likelihood per token;
* sample: seconds per 1,000 tokens drawn from the full conditional distribution;
* storage: whether the fitted model can be saved and loaded without pickle.

Times are CPU seconds (this process, plus waited-for children for lmplz, which is
multi-threaded), so a loaded machine changes them less than wall time would.

nltk.lm is far too slow to run at full size, so it is fitted on ``--nltk-fraction`` of p1
and timed on a few hundred scores / a few draws; its row extrapolates linearly (marked ~).
kenlm's estimator ``lmplz`` is a separate C++ program (pip installs only the query module):
it is run when found on PATH or given with ``--lmplz``, else its row says so.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._data import take_fraction, voice_splits
from benchmarks._measure import load_average, render_table

UNK_SMOOTHING = 1e-6


def ours(data, order: int) -> list:
    from neshmm.models.ngram import NGramModel

    h = data["p1"]
    t0 = time.process_time()
    m = NGramModel(h.train.n_symbols, order=order).fit(h.train.ids, h.train.lengths)
    fit_p1 = time.process_time() - t0
    t0 = time.process_time()
    for v in data.values():
        NGramModel(v.train.n_symbols, order=order).fit(v.train.ids, v.train.lengths)
    fit_all = time.process_time() - t0
    t0 = time.process_time()
    ll = m.log_likelihood(h.valid_ids, h.valid_lengths, UNK_SMOOTHING) / len(h.valid_ids)
    score = time.process_time() - t0
    stream = m._token_stream(np.random.default_rng(0))
    t0 = time.process_time()
    for _ in range(1000):
        next(stream)
    sample = time.process_time() - t0
    return ["neshmm ngram (numpy)", f"{fit_p1:.1f}", f"{fit_all:.1f}", f"{score:.2f}", f"{ll:.4f}",
            f"{sample:.2f}", "yes (npz arrays)", "interpolated modified KN, D1/D2/D3+ per order"]


def nltk_row(data, order: int, fraction: float, n_score: int, n_draws: int) -> list:
    try:
        from nltk.lm import KneserNeyInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline
    except ImportError:
        return ["nltk.lm KneserNeyInterpolated", "not installed (pip install nltk)", "-", "-", "-", "-",
                "no (pickle only)", "one fixed discount (0.1), not modified KN"]

    h = data["p1"]
    ids, lengths = take_fraction(h.train, fraction)
    sents = [[str(t) for t in s] for s in np.split(ids, np.cumsum(lengths)[:-1])]
    t0 = time.process_time()
    lm = KneserNeyInterpolated(order)
    train, vocab = padded_everygram_pipeline(order, sents)
    lm.fit(train, vocab)
    fit = (time.process_time() - t0) * len(h.train.ids) / len(ids)
    fit_all = fit * sum(len(v.train.ids) for v in data.values()) / len(h.train.ids)
    # Score the first n_score valid tokens with their real contexts (padded sequence starts).
    valid = np.split(h.valid_ids, np.cumsum(h.valid_lengths)[:-1])
    pairs = []
    for s in valid:
        toks = ["<s>"] * (order - 1) + [str(t) if t else "<UNK>" for t in s]
        for i in range(order - 1, len(toks)):
            pairs.append((toks[i], toks[i - order + 1:i]))
            if len(pairs) >= n_score:
                break
        if len(pairs) >= n_score:
            break
    t0 = time.process_time()
    logs = np.array([lm.logscore(w, ctx) for w, ctx in pairs])
    score = (time.process_time() - t0) * len(h.valid_ids) / len(pairs)
    # nltk's KN has no uniform base: a word never seen as a continuation gets probability 0.
    finite = np.isfinite(logs)
    ll = f"-inf: p=0 for {int((~finite).sum())} of {len(pairs)}; rest {float(logs[finite].mean()) * math.log(2):.3f}"
    t0 = time.process_time()
    lm.generate(n_draws, random_seed=0)
    sample = (time.process_time() - t0) * 1000 / n_draws
    return [f"nltk.lm KneserNeyInterpolated ({fraction:g} of p1, ~ = extrapolated)", f"~{fit:.0f}", f"~{fit_all:.0f}",
            f"~{score:.0f}", ll, f"~{sample:.0f}",
            "no (pickle only)", "one fixed discount (0.1), not modified KN"]


def kenlm_row(data, order: int, lmplz: str | None) -> list:
    note = "interpolated modified KN (needs </s>)"
    try:
        import kenlm
    except ImportError:
        return ["kenlm", "not installed (pip install kenlm)", "-", "-", "-", "-", "yes (ARPA / binary)", note]
    exe = (lmplz if Path(lmplz).is_file() else None) if lmplz else shutil.which("lmplz")
    if not exe:
        return ["kenlm", "lmplz not found", "-", "-", "-", "-", "yes (ARPA / binary)",
                note + "; pip builds only the query module"]
    h = data["p1"]
    with tempfile.TemporaryDirectory() as tmp:
        fits = []
        for voice, v in data.items():
            text = Path(tmp) / f"{voice}.txt"
            text.write_text("\n".join(" ".join(f"w{t}" for t in s) for s in np.split(v.train.ids, np.cumsum(v.train.lengths)[:-1])) + "\n")
            t0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([exe, "-o", str(order), "--discount_fallback", "-S", "20%", "-T", tmp,
                            "--text", str(text), "--arpa", str(Path(tmp) / f"{voice}.arpa")],
                           check=True, capture_output=True)
            t1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            fits.append(t1.ru_utime + t1.ru_stime - t0.ru_utime - t0.ru_stime)
        model = kenlm.Model(str(Path(tmp) / "p1.arpa"))
        valid = [" ".join(f"w{t}" if t else "<unk>" for t in s) for s in np.split(h.valid_ids, np.cumsum(h.valid_lengths)[:-1])]
        t0 = time.process_time()
        total = sum(model.score(s, bos=True, eos=False) for s in valid)
        score = time.process_time() - t0
        ll = total * math.log(10) / len(h.valid_ids)
        # Sampling: kenlm has no distribution call; one draw = one BaseScore per vocabulary word.
        words = [f"w{i}" for i in range(1, h.train.n_symbols)]
        state, out = kenlm.State(), kenlm.State()
        model.BeginSentenceWrite(state)
        rng = np.random.default_rng(0)
        t0 = time.process_time()
        for _ in range(100):
            p = np.array([10 ** model.BaseScore(state, w, out) for w in words])
            w = words[int(rng.choice(len(words), p=p / p.sum()))]
            nxt = kenlm.State()
            model.BaseScore(state, w, nxt)
            state = nxt
        sample = (time.process_time() - t0) * 10
    return ["kenlm (lmplz + query module)", f"{fits[0]:.1f}", f"{sum(fits):.1f}", f"{score:.2f}", f"{ll:.4f}",
            f"{sample:.1f}", "yes (ARPA / binary)", note]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--order", type=int, default=3)
    p.add_argument("--nltk-fraction", type=float, default=0.1)
    p.add_argument("--nltk-scores", type=int, default=300)
    p.add_argument("--nltk-draws", type=int, default=2)
    p.add_argument("--lmplz", default=None, help="path to kenlm's lmplz (default: on PATH)")
    args = p.parse_args(argv)
    data = voice_splits()
    print(f"# n-gram libraries, order {args.order}, {data['p1'].train.source}; load average {load_average()}", flush=True)
    rows = [ours(data, args.order)]
    print(render_table(["library"], [[rows[0][0]]]), flush=True)
    rows.append(kenlm_row(data, args.order, args.lmplz))
    rows.append(nltk_row(data, args.order, args.nltk_fraction, args.nltk_scores, args.nltk_draws))
    headers = ["library", "fit p1 CPU s", "fit 4 voices CPU s", "score p1 valid CPU s", "p1 valid log-lik/token",
               "sample CPU s/1000 tokens", "save without pickle", "smoothing"]
    print(render_table(headers, rows, "l" + "r" * 5 + "ll"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
