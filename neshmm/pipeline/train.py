"""Step `train@<voice>-<role>`: fit one model (role `model` or `baseline`) on one voice."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from neshmm import atomic
from neshmm.config import Config
from neshmm.data.token_store import load_voice
from neshmm.errors import ConfigError
from neshmm.evaluation.unknown import unk_probability
from neshmm.models import build_model
from neshmm.models.skipped import save_skipped
from neshmm.models.tuning import TuningData
from neshmm.pipeline.fit_report import em_curve_csv, train_metrics


def available_memory() -> int:
    """Bytes of memory a fit may use: what the OS reports as available (psutil when
    installed, else free physical pages), capped by a cgroup (container) limit if any."""
    try:
        import psutil

        avail = int(psutil.virtual_memory().available)
    except ImportError:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            avail = min(avail, int(text))
    return avail


def too_little_data(cfg: Config, n_tokens: int) -> str | None:
    """Why a voice is skipped (not failed): fewer tokens than ``data.min_train_tokens``.

    A corpus may simply have (almost) no notes for a voice; that voice gets a placeholder
    model marked ``skipped`` that sample and evaluate carry through, and the other voices
    still train.
    """
    if n_tokens < max(1, cfg.data.min_train_tokens):
        return f"{n_tokens} training tokens < data.min_train_tokens={cfg.data.min_train_tokens}"
    return None


def tuning_data(cfg: Config, tokens) -> TuningData:
    """The tuning split's tokens (``data.tune_split``, never test) and evaluate's scoring policy."""
    ids, lengths = tokens.ids(cfg.data.tune_split)
    train_ids, train_lengths = tokens.ids("train")
    p_unk = unk_probability(train_ids, train_lengths, cfg.evaluate.unk_method)
    return TuningData(cfg.data.tune_split, ids, lengths, p_unk)


def run(
    cfg: Config,
    voice: str,
    role: str,
    tokens_dir: Path,
    out: Path,
    fit_log: Path,
    metrics_out: Path | None = None,
    em_curve: Path | None = None,
) -> str:
    """Fit and save one model; ``fit_log`` gets the fit's facts and wall time,
    ``metrics_out`` the DVC metric and ``em_curve`` the EM curves (see fit_report)."""
    cfg_model = getattr(cfg, role)
    tokens = load_voice(tokens_dir, voice)
    ids, lengths = tokens.ids("train")
    reason = too_little_data(cfg, len(ids))
    if reason:
        save_skipped(out, cfg_model.name, voice, reason)
        if metrics_out is not None:
            atomic.write_json(metrics_out, {"model": cfg_model.name, "skipped": reason})
        if em_curve is not None:
            atomic.write_text(em_curve, em_curve_csv(f"{role} {voice}", None))
        print(f"warning: train {voice}/{role}: skipped, {reason}", file=sys.stderr)
        return f"train {voice}/{role}: skipped"
    model = build_model(cfg_model, tokens.vocab.size)
    # More parameters than data (e.g. more hidden states than tokens) measures nothing:
    # a config error naming the key, before any fitting.
    problem = model.data_problem(len(ids), voice)
    if problem:
        raise ConfigError(f"{role}.{problem} (or train on more files: data.sample_fraction)")
    model.n_jobs = cfg.jobs  # worker count, where a model uses one; never saved
    # A model too big for this machine's memory fails here, in one line naming how much
    # it needs, instead of swapping for hours or dying with a MemoryError mid-fit.
    problem = model.memory_problem(len(ids), voice, available_memory())
    if problem:
        raise ConfigError(f"{role}.{problem} (or train on fewer tokens: data.sample_fraction)")
    model.tuning = tuning_data(cfg, tokens)  # read only by models with a hyperparameter to tune
    model.fit(ids, lengths)
    model.save(out, voice=voice, role=role)
    info = model.fit_info
    atomic.write_json(fit_log, {**info, "fit_seconds": round(model.fit_seconds, 3)})
    if metrics_out is not None:
        atomic.write_json(metrics_out, train_metrics(model))
    if em_curve is not None:
        atomic.write_text(em_curve, em_curve_csv(f"{role} {voice}", model))
    extra = ""
    if "tuning" in info:
        extra += f", {info['tuning']['param']}={info['tuning']['chosen']:g} (chosen on {info['tuning'].get('split', '-')})"
    if "restarts" in info and len(info["restarts"]) > 1:
        extra += f", best of {len(info['restarts'])} restarts: #{info['best_restart']}"
    return (
        f"train {voice}/{role} ({model.name}): {info['n_tokens']} tokens, vocab {tokens.vocab.size}, "
        f"{info.get('n_iter', 0)} iterations, converged={info.get('converged')}{extra}, {model.fit_seconds:.2f} s"
    )
