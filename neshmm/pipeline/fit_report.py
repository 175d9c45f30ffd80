"""What a train stage reports about its fit besides the model: a DVC metric and the EM curve.

``metrics/train/<role>_<voice>.json`` (a DVC metric, in git) holds the deterministic facts
of the fit — iterations, convergence, training log-likelihood, BIC, restarts, and a tuned
hyperparameter with its tuning curve — so ``dvc metrics diff`` shows when a change of
config moves them. No wall time: it would make equal fits differ.

``plots/em/<role>_<voice>.csv`` (a DVC plot) holds the training log-likelihood per token
after every EM iteration of every restart, so ``dvc plots show`` draws convergence. A model
without iterations (the Markov chain) or a skipped voice writes the header only, so every
train stage has the same outputs.
"""

from __future__ import annotations

import csv
import io

from neshmm.models.base import TokenModel

EM_COLUMNS = ("fit", "restart", "chosen", "iteration", "loglik", "loglik_per_token")


def em_curve_csv(fit: str, model: TokenModel | None) -> str:
    """The CSV text of every EM curve of ``model`` (header only without curves)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EM_COLUMNS)
    if model is not None:
        n = max(int(model.fit_info.get("n_tokens", 0)), 1)
        best = model.fit_info.get("best_restart", 0)
        for r, curve in enumerate(model.fit_curves):
            for i, ll in enumerate(curve, start=1):
                w.writerow((fit, r, "yes" if r == best else "no", i, repr(float(ll)), repr(float(ll) / n)))
    return buf.getvalue()


def _number_key(value: float) -> str:
    """``0.001`` -> ``"0_001"``: DVC flattens nested metric keys with dots, so keys avoid them."""
    return format(value, "g").replace(".", "_").replace("-", "m")


def train_metrics(model: TokenModel) -> dict:
    """The fit facts worth diffing across commits, flat enough for ``dvc metrics show``."""
    info = model.fit_info
    out = {"model": model.name}
    for key in ("n_tokens", "n_iter", "converged", "train_loglik", "train_loglik_per_token", "n_params", "bic",
                "best_restart"):
        if key in info:
            out[key] = info[key]
    if "restarts" in info:
        out["n_init"] = len(info["restarts"])
        out["restart_loglik"] = {str(i): r["train_loglik"] for i, r in enumerate(info["restarts"])}
        out["restarts_converged"] = sum(bool(r["converged"]) for r in info["restarts"])
    tuning = info.get("tuning")
    if tuning:
        param = tuning["param"]
        out[f"tuned_{param}"] = tuning["chosen"]
        if "curve" in tuning:
            out["tune_split"] = tuning["split"]
            out["tune_loglik_per_token"] = {
                f"{param}_{_number_key(c['value'])}": c["loglik_per_token"] for c in tuning["curve"]
            }
        else:
            out["tune_skipped"] = tuning.get("skipped")
    return out
