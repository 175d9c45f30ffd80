"""Sweep records from DVC experiments, so a `dvc exp run --queue` sweep gets the same
table and plot as a Hydra multirun (`python -m stages.sweep_summary --dvc`).

`dvc exp show` lists params and metrics side by side but as hundreds of columns; this
reads the same data (`dvc.api.exp_show`) and keeps what the sweep summary shows. Fit time
is not a DVC metric, so that column stays empty here.
"""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path
from typing import Any

from neshmm.config import Config
from neshmm.sweep.scoring import totals

PARAM_ROOTS = {f.name for f in fields(Config)}
STATES = {None: "ok", "Success": "ok", "Queued": "unfinished", "Running": "unfinished", "Failed": "failed"}


def _get(row: dict, key: str) -> Any:
    """A metric by its key, also when DVC prefixed it with its file (name clashes)."""
    if key in row:
        return row[key]
    return next((v for k, v in row.items() if k.endswith(":" + key)), None)


def _num(x: Any) -> float | None:
    try:
        return None if x is None or x == "" else float(x)
    except (TypeError, ValueError):
        return None


def _params(row: dict) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k.split(".")[0] in PARAM_ROOTS and ":" not in k}


def _voices(params: dict) -> list[str]:
    v = params.get("voices", [])
    return list(ast.literal_eval(v) if isinstance(v, str) else v)


def record(index: int, row: dict, base: dict) -> dict:
    params = _params(row)
    voices = _voices(params)
    names = {"model": params.get("model.name"), "baseline": params.get("baseline.name")}
    figs: dict = {}
    for v in voices:
        figs[v] = {}
        for role, name in names.items():
            conv = None  # not in the headline metrics; the fit logs have it
            figs[v][role] = {
                "model": name,
                "heldout_loglik_per_beat": _num(_get(row, f"{v}.{name}.heldout_loglik_per_beat")),
                "kl_pitch_pooled": _num(_get(row, f"{v}.{name}.kl_pitch_pooled")),
                "converged": None if conv is None else bool(conv),
            }
    status = STATES.get(row.get("State"), "failed")
    overrides = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items() if base.get(k) != v]
    out = {
        "job": index,
        "name": row.get("Experiment") or row.get("rev"),
        "overrides": overrides,
        "status": status,
        "config": {
            "model": {
                "name": names["model"],
                "n_components": params.get("model.n_components"),
                "n_iter": params.get("model.n_iter"),
            },
            "baseline": {"name": names["baseline"]},
            "voices": voices,
            "evaluate": {"heldout": params.get("evaluate.heldout", "valid")},
        },
        "voices": figs,
    }
    if status == "ok":
        out.update(totals(figs), fit_seconds=None, cached=None)
        out["converged"] = sum(bool(f["model"]["converged"]) for f in figs.values())
    return out


def dvc_records(repo: Path = Path(".")) -> list[dict]:
    """One record per experiment of the current commit, plus the commit itself (job 0)."""
    import dvc.api

    rows = [r for r in dvc.api.exp_show(repo=str(repo)) if r.get("rev") != "workspace"]
    if not rows:
        return []
    base = _params(rows[0])
    return [record(i, r, base) for i, r in enumerate(rows)]
