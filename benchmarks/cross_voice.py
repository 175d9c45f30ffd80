"""Do the cross-voice metrics tell real music from four independent radios?

Three sets of 128-beat excerpts are scored against real training excerpts (the
reference of every KL):

- ``real valid``: held-out songs as they are (the level a model should reach);
- ``shuffled valid``: each excerpt takes p1, p2, tr and no from four different held-out
  songs' excerpts (a stand-in for independently sampled per-voice models);
- ``real train``: the reference against itself, for the KLs' floor.

Excerpts: one per song that lasts at least ``--beats`` (:mod:`neshmm.data.excerpts`, which
the evaluate stage's cross-voice control uses too). Same seed, same table.

    python -m benchmarks.cross_voice            # real NES-MDB if found, else a demo corpus
    python -m benchmarks.cross_voice --quick    # a few songs, for a smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._measure import ROOT
from neshmm.data.excerpts import song_excerpts
from neshmm.data.voices import VOICES
from neshmm.evaluation.cross_voice import cross_voice_scores
from neshmm.evaluation.joint_scoring import CROSS_VOICE_METRICS as METRICS



def nesmdb_root() -> Path | None:
    """$NESMDB_PATH or $NESMDB_DIR, else ``shared/nesmdb_midi`` beside the checkout or its parent (worktrees)."""
    for env in ("NESMDB_PATH", "NESMDB_DIR"):
        if os.environ.get(env):
            candidates = [Path(os.environ[env])]
            break
    else:
        candidates = [ROOT.parent / "shared" / "nesmdb_midi", ROOT.parent.parent / "shared" / "nesmdb_midi"]
    for c in candidates:
        if (c / "train").is_dir() and any((c / "train").glob("*.mid")):
            return c
    return None


def load_splits(quick: bool, jobs: int):
    """Parsed train and valid splits of NES-MDB (or of a demo corpus when absent) and where they came from."""
    from neshmm.data.corpus import build_split, parse_folder

    root = nesmdb_root()
    source = f"real NES-MDB ({root})"
    if root is None:
        from neshmm.data.demo_corpus import generate_corpus

        root = Path(tempfile.gettempdir()) / "neshmm-bench-crossvoice-demo"
        if not (root / "COMPLETE").exists():
            generate_corpus(root, seed=0, n_train=40, n_valid=20, n_test=1)
            (root / "COMPLETE").write_text("ok\n")
        source = f"demo corpus ({root}): NES-MDB not found"
    splits = {}
    for name in ("train", "valid"):
        results = parse_folder(root / name, jobs)
        if quick:
            results = results[:30]
        splits[name] = build_split(results)
    return splits, source


def excerpts(split, beats: float, rng: np.random.Generator) -> tuple[list[dict], list[int]]:
    """One ``beats``-long excerpt per song at least that long (:func:`neshmm.data.excerpts.song_excerpts`)."""
    pieces, tpbs, _ = song_excerpts(split, beats, rng)
    return pieces, tpbs


def shuffled(pieces: list[dict], tpbs: list[int], rng: np.random.Generator) -> tuple[list[dict], list[int]]:
    """As many pieces, each voice taken from a different song's excerpt (needs 4 songs and equal ticks per beat)."""
    if len(pieces) < len(VOICES):
        raise SystemExit(f"cross_voice: {len(pieces)} excerpts, need at least {len(VOICES)} to shuffle voices")
    if len(set(tpbs)) != 1:
        raise SystemExit("cross_voice: excerpts with different ticks per beat cannot be mixed")
    out = []
    for _ in range(len(pieces)):
        donors = rng.choice(len(pieces), size=len(VOICES), replace=False)
        out.append({v: pieces[d][v] for v, d in zip(VOICES, donors) if v in pieces[d]})
    return out, [tpbs[0]] * len(out)


def fmt(s: dict, name: str) -> str:
    if s[name] is None:
        return "n/a"
    return f"{s[name]:.3f} [{s[name + '_ci_low']:.3f}, {s[name + '_ci_high']:.3f}]"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--beats", type=float, default=128.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--tolerance", type=float, default=1 / 16, help="onset tolerance in beats")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--quick", action="store_true", help="30 files per split, 32 beats, 100 resamples")
    args = p.parse_args(argv)
    if args.quick:
        args.beats, args.n_boot = 32.0, 100
    t0 = time.perf_counter()
    splits, source = load_splits(args.quick, args.jobs)
    rng = np.random.default_rng(args.seed)
    ref, ref_tpb = excerpts(splits["train"], args.beats, rng)
    valid, valid_tpb = excerpts(splits["valid"], args.beats, rng)
    mixed, mixed_tpb = shuffled(valid, valid_tpb, rng)
    print(f"corpus: {source}")
    print(
        f"excerpts of {args.beats:g} beats: train {len(ref)} of {len(splits['train'].files)} songs, "
        f"valid {len(valid)} of {len(splits['valid'].files)}; tolerance {args.tolerance:g} beat; "
        f"{args.n_boot} bootstrap resamples, 95% CI; seed {args.seed}"
    )
    sets = {"real train (ref)": (ref, ref_tpb), "real valid": (valid, valid_tpb), "shuffled valid": (mixed, mixed_tpb)}
    scores = {
        name: cross_voice_scores(
            pieces, ref, tpb, reference_ticks_per_beat=ref_tpb, tolerance_beats=args.tolerance,
            n_boot=args.n_boot, seed=args.seed,
        )
        for name, (pieces, tpb) in sets.items()
    }
    width = max(len(m) for m in (*METRICS, "pieces (with harmony)"))
    cols = list(scores)
    print()
    print(f"| {'metric':<{width}} | " + " | ".join(f"{c:<27}" for c in cols) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 29 for _ in cols) + "|")
    for m in METRICS:
        print(f"| {m:<{width}} | " + " | ".join(f"{fmt(scores[c], m):<27}" for c in cols) + " |")
    print(f"| {'pieces (with harmony)':<{width}} | " + " | ".join(
        f"{str(scores[c]['cross_voice_pieces']) + ' (' + str(scores[c]['harmony_consonance_n']) + ')':<27}" for c in cols
    ) + " |")
    print(f"\n{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
