"""Fit time and held-out log-likelihood per beat of the joint four-voice HMM on NES-MDB.

Trains :class:`~neshmm.models.joint.JointModel` on the pipeline's seeded training half
(``data.sample_fraction=0.5``, seed 17) at one frame grid and scores the valid split.
``--per-voice`` also fits the pipeline's per-voice :class:`~neshmm.models.hmm.HMMModel`
(same K and iterations, default tokenize bins) on the same files and sums their valid
log-likelihoods; both totals are divided by the same denominator, the valid songs'
length in beats (frames x frame_beats), so the per-beat numbers are comparable in scale.
They model different representations (frames vs. duration/velocity tokens), so the
difference is a rough guide, not a likelihood ratio of one data set.

    python -m benchmarks.joint_fit [--train PATH.npz --valid PATH.npz] [--frame-beats 1/8]
        [--k 16] [--n-iter 100] [--fraction 0.5] [--max-files N] [--per-voice]
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction


from benchmarks.frame_grid import load_split
from neshmm.data.frames import FrameVocab, split_frames
from neshmm.data.token_store import tokenize_split, training_files
from neshmm.data.tokens import Quantizer, Vocab
from neshmm.data.voices import VOICES
from neshmm.models.joint import JointModel

QUANTIZER = Quantizer((0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0), (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train")
    ap.add_argument("--valid")
    ap.add_argument("--frame-beats", default="1/8")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--n-iter", type=int, default=100)
    ap.add_argument("--n-init", type=int, default=1)
    ap.add_argument("--emission-prior", type=float, default=0.1)
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--max-files", type=int, default=0, help="first N of the chosen training files (0 = all)")
    ap.add_argument("--per-voice", action="store_true")
    ap.add_argument("--jobs", type=int, default=0)
    args = ap.parse_args(argv)
    fb = float(Fraction(args.frame_beats))
    train, valid = load_split(args.train, "train", args.jobs), load_split(args.valid, "valid", args.jobs)
    chosen = training_files(len(train.files), args.fraction, 17)
    if args.max_files:
        chosen = chosen[: args.max_files]
    tr, va = split_frames(train, fb, chosen), split_frames(valid, fb)
    vocab = FrameVocab.build(tr.codes, tr.velocities)
    x_tr, x_va = vocab.encode(tr.codes), vocab.encode(va.codes)
    valid_beats = len(x_va) * fb
    print(f"grid {args.frame_beats}: {len(chosen)} train songs, {len(x_tr)} frames; valid {len(va.lengths)} songs, "
          f"{len(x_va)} frames = {valid_beats:.0f} beats; vocab {vocab.sizes}", flush=True)
    model = JointModel(vocab.sizes, n_components=args.k, n_iter=args.n_iter, n_init=args.n_init,
                       emission_prior=args.emission_prior, frame_beats=fb)
    t0 = time.perf_counter()
    model.fit(x_tr, tr.lengths)
    fit_s = time.perf_counter() - t0
    info = model.fit_info
    t0 = time.perf_counter()
    ll = model.log_likelihood(x_va, va.lengths)
    score_s = time.perf_counter() - t0
    print(f"joint K={args.k}: fit {fit_s:.1f} s ({info['n_iter']} iterations, converged={info['converged']}, "
          f"{fit_s / info['n_iter']:.2f} s/iter), train loglik/beat {info['train_loglik'] / (len(x_tr) * fb):.3f}; "
          f"valid loglik {ll:.1f} nats = {ll / valid_beats:.3f} per beat (scored in {score_s:.1f} s)", flush=True)
    if not args.per_voice:
        return
    from neshmm.evaluation.unknown import unk_probability
    from neshmm.models.hmm import HMMModel

    total, fit_total = 0.0, 0.0
    for v in VOICES:
        seq_tr = tokenize_split(train, v, QUANTIZER, chosen)
        seq_va = tokenize_split(valid, v, QUANTIZER)
        voc = Vocab.build(seq_tr.tokens)
        hmm = HMMModel(voc.size, n_components=args.k, n_iter=args.n_iter)
        hmm.n_jobs = args.jobs
        t0 = time.perf_counter()
        hmm.fit(voc.encode(seq_tr.tokens), seq_tr.lengths)
        fit_total += time.perf_counter() - t0
        p_unk = unk_probability(voc.encode(seq_tr.tokens), seq_tr.lengths, "file_good_turing")  # evaluate's default
        lv = hmm.log_likelihood(voc.encode(seq_va.tokens), seq_va.lengths, p_unk)
        total += lv
        print(f"  per-voice {v}: vocab {voc.size}, {len(seq_tr.tokens)} train tokens, {hmm.fit_info['n_iter']} iterations, "
              f"valid loglik {lv:.1f} nats", flush=True)
    print(f"per-voice HMMs K={args.k}: fit {fit_total:.1f} s total; valid loglik {total:.1f} nats = "
          f"{total / valid_beats:.3f} per beat (same beats)", flush=True)


if __name__ == "__main__":
    main()
