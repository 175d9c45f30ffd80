"""BASELINE: the original notebook's path, reimplemented for timing (not used by the pipeline).

This follows the notebook as described in shared/design.md section 1, deliberately
without any of this project's speed-ups, so that ``benchmarks.pipeline`` can compare the
two on the same files:

- ``parse``: every training file parsed with miditoolkit, one after another; tokens built
  note by note in Python (rest token for a gap, duration snapped to the nearest of
  ``TPB * bins`` by argmin, velocity mapped 0/2/4/6/8/10), one list of tuples per file and
  voice;
- ``fit``: per voice, vocabulary = sorted set of the training tokens, ids by a dict lookup
  per token, ``hmmlearn.hmm.CategoricalHMM(n_components=16, n_iter=100,
  random_state=17)`` with hmmlearn's default ``implementation="log"``, fitted on all
  sequences with ``lengths``;
- ``markov``: the first-order Markov chain the notebook compares against (its code is not
  in the notebook; this is the plain-Python dictionary version one would write), fitted
  and sampled for 400 tokens per voice;
- ``sample``: ``model.sample(400)`` per voice, decoded, written as one four-track MIDI
  with miditoolkit, normalized self log-likelihood ``model.score(sample) / 400``;
- ``evaluate``: every training file parsed *again* with miditoolkit for the pitch
  histograms (129 bins, summed over files, ``+1e-8``, normalized) and
  ``scipy.stats.entropy(ref, gen)`` against the HMM and Markov samples.

Differences from the notebook, all for comparability: the random half of the training
files is chosen by the caller (the same files the pipeline trains on) instead of an
unseeded draw; sampling uses a fixed seed; ``--n-iter`` can stop EM early so that the
per-iteration cost can be timed and extrapolated (``benchmarks.pipeline`` labels such rows
"extrapolated").

Each phase is one command run in a working directory that holds the previous phases'
pickles, so the harness measures every phase as its own process:

    python -m benchmarks.notebook_baseline parse --files files.json
    python -m benchmarks.notebook_baseline fit --voice p1 [--n-iter 100]
    python -m benchmarks.notebook_baseline markov
    python -m benchmarks.notebook_baseline sample
    python -m benchmarks.notebook_baseline evaluate
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from pathlib import Path

import numpy as np

VOICES = ("p1", "p2", "tr", "no")
PROGRAMS = {"p1": 80, "p2": 81, "tr": 38, "no": 121}
TPB = 22050  # the notebook hard-codes NES-MDB's resolution
DURATION_BINS = TPB * np.array([0.25, 0.5, 0.75, 1, 2, 4, 8, 16, 32])
N_SAMPLE = 400
SEED = 17


def quantize_duration(ticks: int) -> int:
    return int(DURATION_BINS[np.argmin(np.abs(DURATION_BINS - ticks))])


def quantize_velocity(v: int) -> int:
    if v == 0:
        return 0
    if 1 <= v <= 3:
        return 2
    if 4 <= v <= 7:
        return 4
    if 8 <= v <= 11:
        return 6
    if 12 <= v <= 15:
        return 8
    return 10


def tokenize_notes(notes) -> list[tuple[int, int, int]]:
    tokens = []
    current = 0
    for note in sorted(notes, key=lambda n: n.start):
        if note.start > current:
            tokens.append((0, quantize_duration(note.start - current), 0))
        tokens.append((note.pitch, quantize_duration(note.end - note.start), quantize_velocity(note.velocity)))
        current = note.end
    return tokens


def parse_file(path: str):
    import miditoolkit

    try:
        return miditoolkit.MidiFile(path)
    except Exception:  # the notebook would crash; skipping keeps the file sets comparable
        return None


def phase_parse(args) -> dict:
    files = json.loads(Path(args.files).read_text())
    tokens = {v: [] for v in VOICES}  # voice -> list of (file index, tokens)
    n_tokens = 0
    for i, path in enumerate(files["all"]):
        midi = parse_file(path)
        if midi is None:
            continue
        for inst in midi.instruments:
            if inst.name in VOICES and inst.notes:
                seq = tokenize_notes(inst.notes)
                tokens[inst.name].append((i, seq))
                n_tokens += len(seq)
    with open("tokens.pkl", "wb") as fh:
        pickle.dump({"tokens": tokens, "train": files["train"], "voices": files.get("voices", VOICES)}, fh)
    return {"tokens": n_tokens, "files": len(files["all"])}


def voices() -> list[str]:
    """The voices to model (all four unless the harness restricted them)."""
    return list(json.loads(Path("files.json").read_text()).get("voices", VOICES))


def load_training(voice: str) -> list[list[tuple]]:
    with open("tokens.pkl", "rb") as fh:
        data = pickle.load(fh)
    chosen = set(data["train"])
    return [seq for i, seq in data["tokens"][voice] if i in chosen]


def phase_fit(args) -> dict:
    from hmmlearn import hmm

    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    seqs = load_training(args.voice)
    if not seqs:
        return {"tokens": 0, "vocab": 0, "em_iters": 0, "converged": None, "fit_wall": 0.0, "fit_cpu": 0.0}
    vocab = sorted({tok for seq in seqs for tok in seq})
    index = {tok: i for i, tok in enumerate(vocab)}
    X = np.array([[index[tok]] for seq in seqs for tok in seq])
    lengths = [len(seq) for seq in seqs]
    model = hmm.CategoricalHMM(n_components=16, n_iter=args.n_iter, random_state=17)
    if args.implementation:
        model.implementation = args.implementation
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X, lengths)
    fit_wall, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    with open(f"hmm_{args.voice}.pkl", "wb") as fh:
        pickle.dump({"model": model, "vocab": vocab}, fh)
    hist = model.monitor_.history
    return {
        "tokens": int(len(X)),
        "vocab": len(vocab),
        "em_iters": int(model.monitor_.iter),
        "converged": bool(len(hist) >= 2 and hist[-1] - hist[-2] < model.tol),
        "fit_wall": fit_wall,
        "fit_cpu": fit_cpu,
        "implementation": model.implementation,
    }


def markov_fit(seqs):
    counts: dict = {}
    starts: dict = {}
    for seq in seqs:
        starts[seq[0]] = starts.get(seq[0], 0) + 1
        for a, b in zip(seq, seq[1:]):
            row = counts.setdefault(a, {})
            row[b] = row.get(b, 0) + 1
    return starts, counts


def markov_sample(starts, counts, n, rng):
    def draw(table):
        keys = list(table)
        p = np.array([table[k] for k in keys], dtype=float)
        return keys[rng.choice(len(keys), p=p / p.sum())]

    tok = draw(starts)
    out = [tok]
    while len(out) < n:
        tok = draw(counts[tok]) if tok in counts else draw(starts)
        out.append(tok)
    return out


def phase_markov(args) -> dict:
    rng = np.random.default_rng(SEED)
    samples, n_tokens = {}, 0
    for voice in voices():
        seqs = load_training(voice)
        if not seqs:
            continue
        n_tokens += sum(len(s) for s in seqs)
        starts, counts = markov_fit(seqs)
        samples[voice] = markov_sample(starts, counts, N_SAMPLE, rng)
    with open("markov_samples.pkl", "wb") as fh:
        pickle.dump(samples, fh)
    return {"tokens": n_tokens}


def tokens_to_notes(tokens):
    from miditoolkit.midi.containers import Note

    notes, t = [], 0
    for pitch, dur, vel in tokens:
        if vel > 0:
            notes.append(Note(vel, pitch, t, t + dur))
        t += dur
    return notes


def phase_sample(args) -> dict:
    import miditoolkit
    from miditoolkit.midi.containers import Instrument

    midi = miditoolkit.MidiFile(ticks_per_beat=TPB)
    samples, scores = {}, {}
    for voice in voices():
        path = Path(f"hmm_{voice}.pkl")
        if not path.exists():
            continue
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        model, vocab = data["model"], data["vocab"]
        X, _ = model.sample(N_SAMPLE, random_state=SEED)
        scores[voice] = float(model.score(X) / N_SAMPLE)
        tokens = [vocab[i] for i in X.ravel()]
        samples[voice] = tokens
        inst = Instrument(program=PROGRAMS[voice], is_drum=(voice == "no"), name=voice)
        inst.notes = tokens_to_notes(tokens)
        midi.instruments.append(inst)
    midi.dump("hmm_sample.mid")
    with open("hmm_samples.pkl", "wb") as fh:
        pickle.dump(samples, fh)
    return {"tokens": N_SAMPLE * len(samples), "self_loglik_per_token": scores}


def pitch_hist(pitches) -> np.ndarray:
    h = np.zeros(129)
    for p in pitches:
        h[p] += 1
    h = h + 1e-8
    return h / h.sum()


def phase_evaluate(args) -> dict:
    from scipy.stats import entropy

    files = json.loads(Path(args.files).read_text())
    ref_pitches = {v: [] for v in VOICES}
    n_notes = 0
    for path in files["all"]:  # the second full parse of the corpus
        midi = parse_file(path)
        if midi is None:
            continue
        for inst in midi.instruments:
            if inst.name in VOICES:
                ref_pitches[inst.name].extend(n.pitch for n in inst.notes)
                n_notes += len(inst.notes)
    with open("hmm_samples.pkl", "rb") as fh:
        hmm_samples = pickle.load(fh)
    with open("markov_samples.pkl", "rb") as fh:
        markov_samples = pickle.load(fh)
    kl = {}
    for voice in voices():
        if voice not in hmm_samples or not ref_pitches[voice]:
            continue
        ref = pitch_hist(ref_pitches[voice])
        kl[voice] = {
            "hmm": float(entropy(ref, pitch_hist(p for p, _, v in hmm_samples[voice] if v > 0))),
            "markov": float(entropy(ref, pitch_hist(p for p, _, v in markov_samples.get(voice, []) if v > 0))),
        }
    return {"notes": n_notes, "kl_pitch": kl}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="the original notebook's path, phase by phase (BASELINE)")
    sub = p.add_subparsers(dest="phase", required=True)
    a = sub.add_parser("parse")
    a.add_argument("--files", default="files.json", help='JSON {"all": [paths], "train": [indices]}')
    a = sub.add_parser("fit")
    a.add_argument("--voice", required=True, choices=VOICES)
    a.add_argument("--n-iter", type=int, default=100)
    a.add_argument("--implementation", default=None, help="default: hmmlearn's default ('log')")
    sub.add_parser("markov")
    sub.add_parser("sample")
    a = sub.add_parser("evaluate")
    a.add_argument("--files", default="files.json")
    args = p.parse_args(argv)
    phase = {"parse": phase_parse, "fit": phase_fit, "markov": phase_markov, "sample": phase_sample,
             "evaluate": phase_evaluate}[args.phase]
    result = phase(args)
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
