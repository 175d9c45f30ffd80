"""Measure how trustworthy the evaluate stage's numbers are on real NES-MDB (issue 11).

    python -m benchmarks.evaluation_ci                 # p1, HMM K=16 on a quarter of the training half
    python -m benchmarks.evaluation_ci --voice p2 --resamples 2000

Prints: per-file log-likelihood timing (per sequence vs total), bootstrap CIs of held-out
log-lik per token / beat / second for the HMM and the Markov baseline plus their paired
difference, the <unk> estimators against the valid split's actual unknown rate, the
effect of the old uniform floor vs the p_unk policy, the share of valid songs shorter than
``--beats``, and the half-width of the pooled pitch KL CI as the number of pieces grows.
Needs the real corpus ($NESMDB_DIR or ../shared/nesmdb_midi); tokens are cached in
$TMPDIR/neshmm-evaluation-ci (delete it to rebuild).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._measure import ROOT

BINS = (0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def quantizer():
    from neshmm.data.tokens import Quantizer

    return Quantizer(BINS, (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))


def split_tokens(split: str, voice: str, fraction: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, lengths) of a split's voice, tokenized with the pipeline's functions (cached)."""
    from neshmm.data.corpus import build_split, effective_jobs, find_midi_files, parse_file
    from neshmm.data.token_store import tokenize_split, training_files

    cache = Path(tempfile.gettempdir()) / "neshmm-evaluation-ci" / f"{split}-{voice}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return z["tokens"], z["lengths"]
    root = Path(os.environ.get("NESMDB_DIR", ROOT.parent / "shared" / "nesmdb_midi"))
    paths = find_midi_files(root / split)
    if not paths:
        raise SystemExit(f"{root / split}: no MIDI files; set NESMDB_DIR to the NES-MDB MIDI folder")
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=effective_jobs(0), batch_size=64)(delayed(parse_file)(p, p.name) for p in paths)
    sp = build_split(results)
    chosen = training_files(len(sp.files), fraction, 17) if fraction else None
    seqs = tokenize_split(sp, voice, quantizer(), chosen)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, tokens=seqs.tokens, lengths=seqs.lengths)
    return seqs.tokens, seqs.lengths


def split_list(tokens, lengths) -> list[np.ndarray]:
    return np.split(tokens, np.cumsum(lengths)[:-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="p1")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--train-share", type=float, default=0.25, help="share of the training half's files used (every 1/share-th file)")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--beats", type=float, default=128.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from neshmm.data.tokens import UNK_ID, Vocab
    from neshmm.evaluation import likelihood, metrics, statistics, unknown
    from neshmm.evaluation.scoring import control_set
    from neshmm.models.hmm import HMMModel
    from neshmm.models.markov import MarkovModel
    from neshmm.models.sampling import VoiceModel

    q = quantizer()
    tr_tok, tr_len = split_tokens("train", args.voice, 0.5)
    va_tok, va_len = split_tokens("valid", args.voice, None)
    # The fitted files are the training data: vocabulary, models and <unk> estimates all
    # come from them, as in the pipeline (a vocabulary from more files than the HMM saw
    # would hold ids the HMM gives probability 0).
    step = max(1, round(1 / args.train_share))
    keep = np.zeros(len(tr_len), dtype=bool)
    keep[::step] = True
    seqs = [s for s, k in zip(split_list(tr_tok, tr_len), keep) if k]
    tr_tok, tr_len = np.concatenate(seqs), tr_len[keep]
    vocab = Vocab.build(tr_tok)
    tr_ids, va_ids = vocab.encode(tr_tok), vocab.encode(va_tok)
    fit_ids, fit_len = tr_ids, tr_len
    print(f"voice {args.voice}: training files {len(tr_len)} ({len(tr_ids)} tokens), vocab {vocab.size}; "
          f"valid {len(va_len)} files {len(va_ids)} tokens; HMM K={args.k} {args.iters} EM iterations")
    t0 = time.perf_counter()
    hmm = HMMModel(vocab.size, n_components=args.k, n_iter=args.iters, tol=-1.0, seed=17).fit(fit_ids, fit_len)
    markov = MarkovModel(vocab.size, alpha=1.0).fit(tr_ids, tr_len)
    print(f"fit: {time.perf_counter() - t0:.1f} s")

    unk = unknown.unk_probability(tr_ids, tr_len, "file_good_turing")
    per_file = {}
    for name, m in (("hmm", hmm), ("markov", markov)):
        t0 = time.perf_counter()
        total = m.log_likelihood(va_ids, va_len, unk)
        t_total = time.perf_counter() - t0
        t0 = time.perf_counter()
        per_file[name] = m.log_likelihood(va_ids, va_len, unk, per_sequence=True)
        t_seq = time.perf_counter() - t0
        print(f"{name}: total log-lik {t_total:.2f} s, per file {t_seq:.2f} s; "
              f"sum of per-file - total = {per_file[name].sum() - total:.2e}")

    beats = likelihood.sequence_beats(va_tok, va_len, q)
    seconds = likelihood.beats_to_seconds(beats)
    n_tok = va_len.astype(float)
    print(f"\nbootstrap over {len(va_len)} valid files, {args.resamples} resamples, 95%:")
    for name in per_file:
        for unit, den in (("token", n_tok), ("beat", beats), ("second", seconds)):
            t0 = time.perf_counter()
            ci = statistics.ratio_ci(per_file[name], den, args.resamples, args.seed)
            dt = time.perf_counter() - t0
            print(f"  {name:6s} per {unit:6s} {ci.format()}  half-width {ci.half_width:.3f}  ({dt * 1e3:.0f} ms)")
    for unit, den in (("token", n_tok), ("beat", beats)):
        t0 = time.perf_counter()
        pc = statistics.paired_ratio_ci(per_file["hmm"], per_file["markov"], den, args.resamples, args.seed)
        dt = time.perf_counter() - t0
        print(f"  hmm - markov per {unit}: {pc.difference.format()} significant={pc.significant} ({dt * 1e3:.0f} ms)")

    print("\n<unk>: estimates from the training half vs the valid split's actual unknown rate")
    actual = float((va_ids == UNK_ID).mean())
    print(f"  actual valid unknown rate {actual:.4f} ({int((va_ids == UNK_ID).sum())} tokens)")
    for method in unknown.METHODS:
        print(f"  {method:17s} p_unk = {unknown.unk_probability(tr_ids, tr_len, method):.4f}")
    for method in unknown.METHODS:
        p_unk = unknown.unk_probability(tr_ids, tr_len, method)
        total_new = hmm.log_likelihood(va_ids, va_len, p_unk)
        parts = unknown.decompose(total_new, va_ids, p_unk)
        print(f"  HMM, {method}: log-lik per token {total_new / len(va_ids):.4f}, known tokens "
              f"{parts.known_loglik_per_token:.4f} per known token (the same for every p_unk)")
    best = hmm.emissionprob_[:, 1:].max(axis=0)
    print(f"  known ids whose emission is 0 in every state: {int((best == 0).sum())}; smallest best-state "
          f"emission of a known id: {best.min():.3g}")

    va_songs = split_list(va_tok, va_len)
    short = float(np.mean(beats < args.beats))
    print(f"\nvalid songs with voice {args.voice}: {len(va_songs)}, shorter than {args.beats:g} beats: {short:.0%}; "
          f"median length {np.median(beats):.0f} beats")

    print("\npooled pitch KL vs train (epsilon 1e-8), CI over pieces; generated = HMM samples of "
          f"{args.beats:g} beats, control = length-matched valid excerpts")
    ref = metrics.pitch_histogram(split_list(tr_tok, tr_len))
    kl = statistics.kl_rows(ref, 1e-8)
    vm = VoiceModel(hmm, vocab)
    bpi, rest = vm.beats_per_id(q), vm.rest_ids()
    n_max = 200
    gen = []
    for i in range(n_max):
        ids = hmm.sample(np.random.default_rng([args.seed, 0, i]), bpi, args.beats, rest_ids=rest)
        gen.append(vocab.decode(ids) if len(ids) else np.zeros((0, 3), dtype=np.int64))
    ctrl = control_set(va_songs, q, n_max, args.beats, args.seed, args.voice)
    print(f"  control: {ctrl.n_short} of {ctrl.n_songs} valid songs excluded as shorter than {args.beats:g} beats")
    for label, pieces in (("hmm", gen), ("control", ctrl.pieces)):
        counts = np.stack([metrics.pitch_histogram([p]) for p in pieces])
        for n in (5, 10, 20, 50, 100, 200):
            ci = statistics.pooled_ci(counts[:n], kl, args.resamples, args.seed)
            per_piece = [metrics.histogram_kl(ref, c, 1e-8) for c in counts[:n]]
            mci = statistics.mean_ci(per_piece, args.resamples, args.seed)
            print(f"  {label:7s} n={n:3d}  kl_pitch_pooled {ci.format()} (hw/value {ci.half_width / ci.value:4.0%})"
                  f"   kl_pitch mean over pieces {mci.format('.3f')} (hw/value {mci.half_width / mci.value:4.0%})")


if __name__ == "__main__":
    main()
