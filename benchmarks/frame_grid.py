"""What the joint model's frame grid loses on NES-MDB, for several frame lengths.

For each ``frame_beats`` the real train split goes MIDI notes -> frames -> notes and the
table says: notes lost (merged into a later note on the same onset frame), notes shorter
than a frame (kept as one-frame notes), sounding time lost and added (same pitch), frames
per song, vocabulary size per voice (with velocity ignored, and an upper bound with it
folded into the onset symbol: distinct (pitch, velocity) pairs + rest + hold), and the
share of valid frames that are ``<unk>``.

    python -m benchmarks.frame_grid [--train PATH.npz] [--valid PATH.npz] [--grids 1/4,1/8]

``--train``/``--valid`` take prepared splits (``data/prepared/*.npz``); without them the
MIDI folders of NES-MDB ($NESMDB_PATH or $NESMDB_DIR, else shared/nesmdb_midi beside the
checkout or its parent folder) are parsed.
"""

from __future__ import annotations

import argparse
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchmarks._measure import ROOT
from neshmm.data.corpus import Split, build_split, parse_folder
from neshmm.data.frames import FrameVocab, UNK_ID, split_frames
from neshmm.data.voices import VOICES

GRIDS = "1/4,1/6,1/8,1/12,1/16"


def nesmdb_root() -> Path:
    env = os.environ.get("NESMDB_PATH") or os.environ.get("NESMDB_DIR")
    if env:
        return Path(env)
    candidates = [p / "shared" / "nesmdb_midi" for p in (ROOT.parent, ROOT.parent.parent)]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def load_split(npz: str | None, name: str, jobs: int) -> Split:
    if npz:
        return Split.load(Path(npz))
    return build_split(parse_folder(nesmdb_root() / name, jobs))


def velocity_vocab(split: Split, voice: str) -> int:
    """Onset symbols if velocity were part of them, plus rest and hold (an upper bound)."""
    notes = split.notes[voice]
    return int(len(np.unique(notes[:, 2] * 128 + notes[:, 3]))) + 2


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train")
    ap.add_argument("--valid")
    ap.add_argument("--grids", default=GRIDS)
    ap.add_argument("--jobs", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    train = load_split(args.train, "train", args.jobs)
    valid = load_split(args.valid, "valid", args.jobs)
    print(f"train: {len(train.files)} files, valid: {len(valid.files)} files (read in {time.perf_counter() - t0:.1f} s)")
    with_vel = "/".join(str(velocity_vocab(train, v)) for v in VOICES)
    print(f"vocab with velocity folded in ({'/'.join(VOICES)}), any grid, upper bound: {with_vel}")
    head = ("frame", "notes lost %", "short %", "cut %", "time lost %", "time added %",
            "frames/song", "vocab " + "/".join(VOICES), "valid unk %")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for g in args.grids.split(","):
        fb = float(Fraction(g))
        tr = split_frames(train, fb, with_loss=True)
        va = split_frames(valid, fb)
        vocab = FrameVocab.build(tr.codes)
        unk = (vocab.encode(va.codes) == UNK_ID).mean(axis=0) * 100
        L = tr.loss
        row = (
            g,
            f"{100 * L.notes_lost:.2f}",
            f"{100 * L.notes_short:.2f}",
            f"{100 * L.cut / L.notes:.2f}",
            f"{100 * L.time_lost:.2f}",
            f"{100 * L.time_added:.2f}",
            f"{L.frames / L.songs:.0f}",
            "/".join(str(s) for s in vocab.sizes),
            "/".join(f"{u:.3f}" for u in unk),
        )
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
