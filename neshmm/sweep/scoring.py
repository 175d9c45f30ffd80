"""The figures a sweep compares, per voice and model role, from one run's files.

Only what the sweep table shows: held-out log-likelihood per token (the honest measure;
training likelihood always favours more states), KL(reference || generated) of the pitch
histogram with its spread over samples, fit time and convergence. The numbers are computed
exactly as the `evaluate` stage computes its kl_pitch and heldout_loglik_per_token (a test
checks they agree); the slower MGEval scores are left to `dvc repro`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neshmm.evaluation import metrics
from neshmm.config import Config
from neshmm.evaluation.scoring import finite, piece_tokens, score_likelihood
from neshmm.models import load_model
from neshmm.models.base import read_model_file
from neshmm.data.token_store import load_voice
from neshmm.data.tokens import quantizer_from_config

EMPTY = np.zeros((0, 3), dtype=np.int64)


def score_run(cfg: Config, tokens_dir: Path, models_dir: Path, samples_dir: Path, logs_dir: Path) -> dict:
    """{"voices": {voice: {role: figures}}, "objective": mean model log-lik, ...}."""
    q = quantizer_from_config(cfg.tokenize)
    ev = cfg.evaluate
    index = json.loads((samples_dir / "index.json").read_text())
    roles = list(index["roles"])
    pieces = {r: [piece_tokens(samples_dir / f["file"], q) for f in index["roles"][r]["files"]] for r in roles}
    voices: dict[str, dict] = {}
    for voice in cfg.voices:
        tokens = load_voice(tokens_dir, voice)
        ref = tokens.sequences(ev.reference).as_list()
        held = tokens.sequences(ev.heldout)
        voices[voice] = {}
        for role in roles:
            path = models_dir / role / f"{voice}.npz"
            meta, _ = read_model_file(path)
            if meta.get("skipped"):
                voices[voice][role] = {"model": meta["model"], "skipped": meta["reason"]}
                continue
            gen = [p.get(voice, EMPTY) for p in pieces[role]]
            kl_mean, kl_std = metrics.mean_std([metrics.kl_pitch(ref, [g], ev.epsilon) for g in gen])
            model = load_model(path)
            ll = score_likelihood(model, tokens.vocab, held.tokens, held.lengths, gen, ev.unk_smoothing)
            log_path = logs_dir / f"train_{role}_{voice}.json"
            fit = json.loads(log_path.read_text()) if log_path.exists() else {}
            voices[voice][role] = {
                "model": meta["model"],
                "heldout_loglik": ll.get("heldout_loglik_per_token"),
                "heldout_perplexity": ll.get("heldout_perplexity"),
                "heldout_unknown_tokens": ll.get("heldout_unknown_tokens"),
                "kl_pitch": finite(kl_mean),
                "kl_pitch_std": finite(kl_std),
                "train_loglik": finite(fit.get("train_loglik")),
                "n_iter": int(model.fit_info.get("n_iter", 0)),
                "converged": bool(model.fit_info.get("converged", True)),
                "fit_seconds": fit.get("fit_seconds"),
            }
    return {"voices": voices, **totals(voices)}


def totals(voices: dict[str, dict]) -> dict:
    """Per-role means over voices and the sweep objective (mean held-out log-lik of `model`)."""
    out: dict = {}
    for role in ("model", "baseline"):
        figs = [v[role] for v in voices.values() if role in v and not v[role].get("skipped")]
        for key in ("heldout_loglik", "kl_pitch"):
            vals = [f[key] for f in figs if f.get(key) is not None]
            out[f"{role}_{key}_mean"] = finite(float(np.mean(vals))) if vals else None
        if role == "model":
            out["fit_seconds"] = round(sum(f.get("fit_seconds") or 0.0 for f in figs), 3)
            out["converged"] = sum(bool(f.get("converged")) for f in figs)
            out["trained"] = len(figs)
    out["objective"] = out.get("model_heldout_loglik_mean")  # None when no voice trained
    return out
