"""Training token ids of one voice, made with the pipeline's library functions (no files kept)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks._measure import ROOT


@dataclass
class VoiceData:
    ids: np.ndarray
    lengths: np.ndarray
    n_symbols: int
    source: str


def corpus_train_dir(demo_files: int = 200) -> tuple[Path, str]:
    """NES-MDB's train folder ($NESMDB_PATH, $NESMDB_DIR or ../shared/nesmdb_midi), else a demo corpus.

    From a git worktree under /work/wt/<name>, ``../shared`` is not the shared folder, so
    /work/shared/nesmdb_midi is tried too.
    """
    env = os.environ.get("NESMDB_PATH") or os.environ.get("NESMDB_DIR")
    candidates = [Path(env)] if env else [ROOT.parent / "shared" / "nesmdb_midi", Path("/work/shared/nesmdb_midi")]
    real = next((c / "train" for c in candidates if (c / "train").is_dir()), candidates[0] / "train")
    if real.is_dir() and any(real.glob("*.mid")):
        return real, f"real NES-MDB ({real})"
    from neshmm.data.demo_corpus import generate_corpus

    out = Path(tempfile.gettempdir()) / f"neshmm-bench-demo-{demo_files}-1"
    if not (out / "COMPLETE").exists():
        generate_corpus(out, seed=0, n_train=demo_files, n_valid=1, n_test=1)
        (out / "COMPLETE").write_text("ok\n")
    return out / "train", f"demo corpus ({out}): NES-MDB not found at {real.parent}"


def voice_ids(voice: str = "p1", files: int | None = None, sample_fraction: float = 0.5, jobs: int = 0) -> VoiceData:
    """Ids and lengths of ``voice`` over the seeded training half, as the pipeline makes them."""
    from neshmm.data.corpus import build_split, effective_jobs, parse_file, find_midi_files
    from neshmm.data.token_store import tokenize_split, training_files
    from neshmm.data.tokens import Quantizer, Vocab

    folder, source = corpus_train_dir(demo_files=files or 200)
    paths = find_midi_files(folder)
    if files:
        paths = paths[:: max(1, len(paths) // files)][:files]
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=effective_jobs(jobs), batch_size=64)(
        delayed(parse_file)(p, p.name) for p in paths
    )
    split = build_split(results)
    chosen = training_files(len(split.files), sample_fraction, 17)
    q = Quantizer((0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0), (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))
    seqs = tokenize_split(split, voice, q, chosen)
    vocab = Vocab.build(seqs.tokens)
    return VoiceData(vocab.encode(seqs.tokens), seqs.lengths, vocab.size, f"{source}, {len(paths)} files")


def take_fraction(data: VoiceData, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The first sequences holding about ``fraction`` of the tokens."""
    if fraction >= 1:
        return data.ids, data.lengths
    n = max(1, int(np.searchsorted(np.cumsum(data.lengths), fraction * len(data.ids))) + 1)
    lengths = data.lengths[:n]
    return data.ids[: lengths.sum()], lengths


@dataclass
class HeldoutVoice:
    """One voice's seeded training half and its valid split, encoded with the training vocabulary."""

    train: VoiceData
    valid_ids: np.ndarray
    valid_lengths: np.ndarray


def voice_splits(voices=("p1", "p2", "tr", "no"), sample_fraction: float = 0.5, jobs: int = 0) -> dict[str, HeldoutVoice]:
    """Train and valid ids of every voice, as the tokenize stage makes them (``data.seed`` 17).

    Parsing ~4,900 MIDI files takes a minute on a loaded machine, so the result is kept in the
    temp folder (keyed by the corpus folder and the arguments) for the next benchmark run.
    """
    import hashlib

    from neshmm.data.corpus import build_split, effective_jobs, find_midi_files, parse_file
    from neshmm.data.token_store import tokenize_split, training_files
    from neshmm.data.tokens import Quantizer, Vocab

    train_dir, source = corpus_train_dir()
    key = hashlib.sha256(f"{train_dir.resolve()}|{sorted(voices)}|{sample_fraction}|v1".encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"neshmm-bench-splits-{key}.npz"
    if not cache.exists():
        from joblib import Parallel, delayed

        def parse(folder):
            paths = find_midi_files(folder)
            return build_split(Parallel(n_jobs=effective_jobs(jobs), batch_size=64)(
                delayed(parse_file)(p, p.name) for p in paths))

        train, valid = parse(train_dir), parse(train_dir.parent / "valid")
        chosen = training_files(len(train.files), sample_fraction, 17)
        q = Quantizer((0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0), (1, 4, 8, 12, 16), (0, 2, 4, 6, 8, 10))
        arrays = {}
        for v in voices:
            tr = tokenize_split(train, v, q, chosen)
            va = tokenize_split(valid, v, q)
            vocab = Vocab.build(tr.tokens)
            arrays.update({f"{v}_train_ids": vocab.encode(tr.tokens), f"{v}_train_lengths": tr.lengths,
                           f"{v}_valid_ids": vocab.encode(va.tokens), f"{v}_valid_lengths": va.lengths,
                           f"{v}_n_symbols": np.array(vocab.size)})
        from neshmm import atomic

        atomic.write_npz(cache, **arrays)
    with np.load(cache, allow_pickle=False) as z:
        return {
            v: HeldoutVoice(
                VoiceData(z[f"{v}_train_ids"], z[f"{v}_train_lengths"], int(z[f"{v}_n_symbols"]), source),
                z[f"{v}_valid_ids"], z[f"{v}_valid_lengths"],
            )
            for v in voices
        }
