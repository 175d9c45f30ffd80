"""Step `train_joint`: fit the joint four-voice HMM on the frame grid of the training files.

The training files are the per-voice models' (:func:`neshmm.data.token_store.training_files`
with ``data.sample_fraction`` and ``data.seed``), so the two systems learn from the same
songs and differ only in what they model. The frame vocabulary (and each voice's playback
velocity) goes into the model file's header, so ``models/joint.npz`` alone turns sampled
ids back into notes; nothing else is read at sampling time.
"""

from __future__ import annotations

from pathlib import Path

from neshmm import atomic
from neshmm.config import Config
from neshmm.data.corpus import Split
from neshmm.data.frames import FrameVocab, split_frames
from neshmm.data.token_store import training_files
from neshmm.errors import ConfigError, DataError
from neshmm.models.joint import JointModel


def build(cfg: Config, n_symbols) -> JointModel:
    """The unfitted model of ``joint.*`` (already range-checked by the config schema)."""
    return JointModel.from_config(cfg.joint, n_symbols)


def run(cfg: Config, prepared: Path, out: Path, fit_log: Path) -> str:
    """Fit and save ``models/joint.npz``; ``fit_log`` gets the fit's facts and wall time."""
    j = cfg.joint
    split = Split.load(prepared / "train.npz")
    chosen = training_files(len(split.files), cfg.data.sample_fraction, cfg.data.seed)
    seqs = split_frames(split, j.frame_beats, chosen, with_loss=True)
    if len(seqs.codes) == 0:
        raise DataError(f"{prepared}/train.npz: the {len(chosen)} training files have no notes; nothing to train joint on")
    vocab = FrameVocab.build(seqs.codes, seqs.velocities)
    ids = vocab.encode(seqs.codes)
    model = build(cfg, vocab.sizes)
    n_free = model.n_components * (model.n_components - 1) + sum(
        model.n_components * (n - 1) for n in vocab.sizes)
    if model.n_components > len(ids):
        raise ConfigError(f"joint.n_components={model.n_components}: more hidden states than the {len(ids)} "
                          "training frames; lower it (or train on more files: data.sample_fraction)")
    model.n_jobs = cfg.jobs  # E-step threads; never saved, the fit is the same for any value
    model.fit(ids, seqs.lengths)
    loss = seqs.loss
    grid = {
        "notes": loss.notes, "notes_merged": round(loss.notes_lost, 6), "notes_short": round(loss.notes_short, 6),
        "time_lost": round(loss.time_lost, 6), "time_added": round(loss.time_added, 6),
    }
    model.save(out, vocab=vocab.to_dict(), train_files=[split.files[i] for i in chosen], grid_loss=grid,
               free_parameters=int(n_free))
    info = model.fit_info
    atomic.write_json(fit_log, {**info, "grid_loss": grid, "fit_seconds": round(model.fit_seconds, 3)})
    return (
        f"train_joint: {len(chosen)} files, {info['n_frames']} frames of {j.frame_beats:g} beat, vocab {vocab.sizes}, "
        f"K={j.n_components}, {info['n_iter']} iterations, converged={info['converged']}, "
        f"{grid['notes_merged']:.1%} notes merged by the grid, {model.fit_seconds:.1f} s"
    )
