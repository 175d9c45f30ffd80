"""Step `sample`: draw `sample.n_samples` seeded four-voice pieces per role, and as many
from the joint model (:mod:`neshmm.pipeline.sample_joint`), as MIDI files."""

from __future__ import annotations

from pathlib import Path

from neshmm import atomic
from neshmm.config import JOINT, ROLES, Config
from neshmm.data.tokens import Vocab, quantizer_from_config
from neshmm.errors import DataError
from neshmm.models import load_model
from neshmm.models.base import read_model_file
from neshmm.models.sampling import VoiceModel, sample_piece, write_piece
from neshmm.pipeline import sample_joint


def load_role(role: str, voices: list[str], models: Path, tokens_dir: Path) -> tuple[dict[str, VoiceModel], dict[str, str], str]:
    """The role's fitted models per voice, the voices skipped at training (with why), and
    the model's name."""
    loaded, skipped, name = {}, {}, ""
    for voice in voices:
        path = models / role / f"{voice}.npz"
        if not path.exists():
            raise DataError(f"{path}: model missing; run `dvc repro train`")
        meta, _ = read_model_file(path)
        name = meta["model"]
        if meta.get("skipped"):
            skipped[voice] = meta["reason"]
            continue
        model, vocab = load_model(path), Vocab.load(tokens_dir / f"{voice}.vocab.json")
        if model.n_symbols != vocab.size:
            raise DataError(f"{path}: model has {model.n_symbols} symbols, the vocabulary {vocab.size}; "
                            f"retrain it with `dvc repro -f train@{voice}-{role}`")
        loaded[voice] = VoiceModel(model, vocab)
    return loaded, skipped, name


def run(cfg: Config, models: Path, tokens_dir: Path, out: Path, joint: bool = True) -> str:
    """``joint=False`` leaves the joint model out (a sweep job trains none)."""
    q = quantizer_from_config(cfg.tokenize)
    s = cfg.sample
    index = {"beats": s.beats, "ticks_per_beat": s.ticks_per_beat, "seed": s.seed, "roles": {}}
    # Rebuilt from scratch and swapped in whole: a smaller n_samples leaves no old pieces.
    with atomic.atomic_dir(out) as tmp:
        for role_index, role in enumerate(ROLES):
            voice_models, skipped, name = load_role(role, list(cfg.voices), models, tokens_dir)
            files = []
            for piece in range(s.n_samples):
                tokens = sample_piece(voice_models, q, s.beats, s.seed, role_index, piece)
                write_piece(tmp / role / f"{piece:03d}.mid", tokens, q, s.ticks_per_beat, s.beats)
                files.append({"file": f"{role}/{piece:03d}.mid", "tokens": {v: len(t) for v, t in tokens.items()}})
            index["roles"][role] = {"model": name, "files": files, "skipped_voices": skipped}
        # The joint four-voice model, beside the roles (neshmm/pipeline/sample_joint.py).
        if joint:
            index["roles"][JOINT] = sample_joint.write(cfg, models / "joint.npz", tmp)
        atomic.write_json(tmp / "index.json", index)
    n = sum(len(r["files"]) for r in index["roles"].values())
    return f"sample: {n} pieces of {s.beats:g} beats in {out}/ ({', '.join(r['model'] for r in index['roles'].values())})"
