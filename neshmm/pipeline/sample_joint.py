"""The joint model's part of step `sample`: ``sample.n_samples`` pieces under ``samples/joint/``.

Every voice of a joint piece is one column of the same frame sequence, so all four last
exactly ``sample.beats`` beats (``joint.frame_beats`` divides it, checked by the config).
Pieces are written with the project's NES-MDB MIDI writer, like the per-voice roles'
pieces, and listed in ``samples/index.json`` under ``roles.joint`` in the same shape, so
evaluate and render read all three systems alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neshmm.config import JOINT, Config
from neshmm.data.frames import FrameVocab
from neshmm.data.midi_io import write_midi
from neshmm.data.voices import PROGRAMS
from neshmm.errors import DataError
from neshmm.models.joint import JointModel

# Mixed into the joint pieces' random streams; the per-voice roles use [seed, role, piece,
# voice] keys, so the joint streams never coincide with theirs.
JOINT_STREAM = 2_000_003


def joint_rng(seed: int, piece: int) -> np.random.Generator:
    return np.random.default_rng([seed, JOINT_STREAM, piece])


def load(path: Path) -> tuple[JointModel, FrameVocab]:
    """The fitted joint model and the frame vocabulary saved in its header."""
    if not path.exists():
        raise DataError(f"{path}: joint model missing; run `dvc repro train_joint`")
    model, meta = JointModel.load(path)
    if "vocab" not in meta:
        raise DataError(f"{path}: no frame vocabulary in the header; rerun `dvc repro train_joint`")
    return model, FrameVocab.from_dict(meta["vocab"])


def piece_notes(model: JointModel, vocab: FrameVocab, cfg: Config, piece: int) -> dict[str, np.ndarray]:
    """Notes per configured voice of joint piece ``piece`` (a seeded, pure function)."""
    s = cfg.sample
    ids = model.sample(joint_rng(s.seed, piece), s.beats)
    notes = vocab.to_notes(ids, s.ticks_per_beat, model.frame_beats)
    return {v: n for v, n in notes.items() if v in cfg.voices}


def write(cfg: Config, model_path: Path, out: Path) -> dict:
    """Write the joint pieces under ``out/joint/``; return their ``samples/index.json`` entry."""
    model, vocab = load(model_path)
    s = cfg.sample
    files = []
    for piece in range(s.n_samples):
        notes = piece_notes(model, vocab, cfg, piece)
        rel = f"{JOINT}/{piece:03d}.mid"
        write_midi(out / rel, notes, s.ticks_per_beat, PROGRAMS, end_tick=int(round(s.beats * s.ticks_per_beat)))
        files.append({"file": rel, "notes": {v: int(len(n)) for v, n in notes.items()}})
    return {"model": JOINT, "files": files, "skipped_voices": {}, "frame_beats": model.frame_beats}
