"""The figures a sweep compares, per voice and model role, from one run's files.

Only what the sweep table shows: held-out log-likelihood per beat with its CI (the honest
measure, and comparable across tokenizations, unlike per token; training likelihood
always favours more states), KL(reference || generated) of the pitch histogram (mean
over pieces), BIC from the training fit, fit time and convergence. The numbers are computed
exactly as the `evaluate` stage computes them (a test checks they agree), with one difference on
purpose: the held-out split is the tuning split ``data.tune_split`` (valid), never
``evaluate.heldout``, because a sweep *chooses* a configuration and choosing on test would
leak into the final evaluation. The slower MGEval scores are left to `dvc repro`.

A sweep ranks jobs by one named figure, :data:`OBJECTIVE` (mean over voices of the swept
model's figure of that name); a better held-out figure (e.g. per beat) is a change of this
one name.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from neshmm.config import ROLES, Config
from neshmm.evaluation.scoring import finite
from neshmm.evaluation.tables import column_name
from neshmm.pipeline.evaluate import score_all
from neshmm.pipeline.paths import Paths

# The figure a sweep ranks by (higher is better), and where it is measured.
OBJECTIVE = "heldout_loglik_per_beat"


def tuning_config(cfg: Config) -> Config:
    """``cfg`` with the held-out split set to the tuning split: what a sweep scores on."""
    return replace(cfg, evaluate=replace(cfg.evaluate, heldout=cfg.data.tune_split))


def score_run(cfg: Config, tokens_dir, paths: Paths) -> dict:
    """{"voices": {voice: {role: figures}}, "objective": mean model log-lik, ...}."""
    scores, _ = score_all(tuning_config(cfg), tokens_dir, paths.models, paths.samples, with_mgeval=False)
    index = json.loads((paths.samples / "index.json").read_text())
    roles = {role: index["roles"][role] for role in ROLES}
    voices: dict[str, dict] = {}
    for voice, by_column in scores.items():
        voices[voice] = {}
        for role, info in roles.items():
            score = by_column[column_name(roles, role)]
            if score.skipped:
                voices[voice][role] = {"model": info["model"], "skipped": score.skipped}
                continue
            log_path = paths.fit_log(role, voice)
            fit = json.loads(log_path.read_text()) if log_path.exists() else {}
            ll = score.loglik
            voices[voice][role] = {
                "model": info["model"],
                "heldout_loglik_per_beat": ll.get("heldout_loglik_per_beat"),
                "heldout_loglik_per_beat_low": ll.get("heldout_loglik_per_beat_ci_low"),
                "heldout_loglik_per_beat_high": ll.get("heldout_loglik_per_beat_ci_high"),
                "heldout_loglik_per_token": ll.get("heldout_loglik_per_token"),
                "heldout_perplexity": ll.get("heldout_perplexity"),
                "heldout_unknown_tokens": ll.get("heldout_unknown_tokens"),
                "kl_pitch": score.kl.get("kl_pitch"),
                "kl_pitch_low": score.kl.get("kl_pitch_ci_low"),
                "kl_pitch_high": score.kl.get("kl_pitch_ci_high"),
                "train_loglik": finite(fit.get("train_loglik")),
                "bic": finite(fit.get("bic")),
                "tuned": (fit.get("tuning") or {}).get("chosen"),
                "n_iter": int(ll.get("n_iter", 0)),
                "converged": bool(ll.get("converged", True)),
                "fit_seconds": fit.get("fit_seconds"),
            }
    return {"voices": voices, **totals(voices)}


def totals(voices: dict[str, dict]) -> dict:
    """Per-role means over voices and the sweep objective (mean held-out log-lik of `model`)."""
    out: dict = {}
    for role in ROLES:
        figs = [v[role] for v in voices.values() if role in v and not v[role].get("skipped")]
        for key in ("heldout_loglik_per_beat", "kl_pitch", "bic"):
            vals = [f[key] for f in figs if f.get(key) is not None]
            out[f"{role}_{key}_mean"] = finite(float(np.mean(vals))) if vals else None
        if role == "model":
            out["fit_seconds"] = round(sum(f.get("fit_seconds") or 0.0 for f in figs), 3)
            out["converged"] = sum(bool(f.get("converged")) for f in figs)
            out["trained"] = len(figs)
    out["objective"] = out.get(f"model_{OBJECTIVE}_mean")  # None when no voice trained
    return out
