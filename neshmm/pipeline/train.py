"""Step `train@<voice>-<role>`: fit one model (role `model` or `baseline`) on one voice."""

from __future__ import annotations

import sys
from pathlib import Path

from neshmm import atomic
from neshmm.config import Config
from neshmm.data.token_store import load_voice
from neshmm.errors import ConfigError
from neshmm.models import build_model
from neshmm.models.skipped import save_skipped


def too_little_data(cfg: Config, n_tokens: int) -> str | None:
    """Why a voice is skipped (not failed): fewer tokens than ``data.min_train_tokens``.

    A corpus may simply have (almost) no notes for a voice; that voice gets a placeholder
    model marked ``skipped`` that sample and evaluate carry through, and the other voices
    still train.
    """
    if n_tokens < max(1, cfg.data.min_train_tokens):
        return f"{n_tokens} training tokens < data.min_train_tokens={cfg.data.min_train_tokens}"
    return None


def run(cfg: Config, voice: str, role: str, tokens_dir: Path, out: Path, fit_log: Path) -> str:
    """Fit and save one model; ``fit_log`` gets the fit's facts and wall time."""
    cfg_model = getattr(cfg, role)
    tokens = load_voice(tokens_dir, voice)
    ids, lengths = tokens.ids("train")
    reason = too_little_data(cfg, len(ids))
    if reason:
        save_skipped(out, cfg_model.name, voice, reason)
        print(f"warning: train {voice}/{role}: skipped, {reason}", file=sys.stderr)
        return f"train {voice}/{role}: skipped"
    model = build_model(cfg_model, tokens.vocab.size)
    # More parameters than data (e.g. more hidden states than tokens) measures nothing:
    # a config error naming the key, before any fitting.
    problem = model.data_problem(len(ids), voice)
    if problem:
        raise ConfigError(f"{role}.{problem} (or train on more files: data.sample_fraction)")
    model.n_jobs = cfg.jobs  # worker count, where a model uses one; never saved
    model.fit(ids, lengths)
    model.save(out, voice=voice, role=role)
    info = model.fit_info
    atomic.write_json(fit_log, {**info, "fit_seconds": round(model.fit_seconds, 3)})
    return (
        f"train {voice}/{role} ({model.name}): {info['n_tokens']} tokens, vocab {tokens.vocab.size}, "
        f"{info.get('n_iter', 0)} iterations, converged={info.get('converged')}, {model.fit_seconds:.2f} s"
    )
