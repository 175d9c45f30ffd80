"""Sweep records from DVC experiments, so a `dvc exp run --queue` sweep gets the same
table and plot as a Hydra multirun (`python -m stages.sweep_summary --dvc`).

`dvc exp show` lists params and metrics side by side but as hundreds of columns; this
reads the same data (`dvc.api.exp_show`) and keeps what the sweep summary shows. Fit time
is not a DVC metric, so that column stays empty here.

`dvc exp show` lists every experiment of the commit: several sweeps, one-off runs, runs on
other data. A summary ranks one sweep only, chosen by the parameters it varies
(``vary``: the experiments that differ from the commit in those keys only) or by an
experiment-name prefix (``dvc exp run --queue --name``-style names); and it never ranks
runs on different data or held-out splits together (:data:`DATA_KEYS`).
"""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path
from typing import Any

from neshmm.config import Config
from neshmm.errors import ConfigError
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
                "kl_pitch": _num(_get(row, f"{v}.{name}.kl_pitch")),
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


# What must be equal for held-out scores to be comparable: the corpus and its splits, the
# held-out and reference splits, the voices. (data.sample_fraction and data.seed choose the
# training subset only, and are fair sweep parameters.)
DATA_KEYS = ("data.name", "data.path", "data.splits.train", "data.splits.valid", "data.splits.test",
             "evaluate.heldout", "evaluate.reference", "voices")


def _changed(params: dict, base: dict) -> set[str]:
    return {k for k in set(params) | set(base) if params.get(k) != base.get(k)}


def _under(key: str, roots: list[str]) -> bool:
    return any(key == r or key.startswith(r + ".") for r in roots)


def _signature(params: dict) -> tuple:
    return tuple(str(params.get(k)) for k in DATA_KEYS)


def _describe(sig: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(DATA_KEYS, sig) if k in ("data.name", "data.path", "evaluate.heldout"))


def select(rows: list[dict], vary: list[str] | None, name: str | None) -> list[dict]:
    """The commit's row (first) and the experiments of one sweep, all on the same data.

    Raises ConfigError (one line) when no sweep is named or the chosen runs use different
    data or held-out splits.
    """
    base = _params(rows[0])
    exps = rows[1:]
    if not vary and not name:
        varied: dict[str, int] = {}
        for r in exps:
            for k in _changed(_params(r), base):
                varied[k] = varied.get(k, 0) + 1
        listed = ", ".join(f"--vary {k} ({n} experiments)" for k, n in sorted(varied.items(), key=lambda kv: (-kv[1], kv[0]))) or "none vary"
        raise ConfigError(f"--dvc: name the sweep to rank: {listed}, or --name PREFIX")
    if vary:
        exps = [r for r in exps if (c := _changed(_params(r), base)) and all(_under(k, vary) for k in c)]
    if name:
        exps = [r for r in exps if str(r.get("Experiment") or "").startswith(name)]
    if not exps:
        how = f"varying only {', '.join(vary)}" if vary else f"named {name}*"
        raise ConfigError(f"--dvc: no experiment {how} in `dvc exp show`")
    groups: dict[tuple, list[str]] = {}
    for r in exps:
        groups.setdefault(_signature(_params(r)), []).append(str(r.get("Experiment") or r.get("rev")))
    if len(groups) > 1:
        parts = "; ".join(f"{len(v)} on {_describe(k)} ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})"
                          for k, v in groups.items())
        raise ConfigError(f"--dvc: these experiments use different data or held-out splits and cannot be "
                          f"ranked together: {parts}; narrow with --name or --vary")
    keep_base = _signature(base) in groups
    return ([rows[0]] if keep_base else []) + exps


def dvc_records(repo: Path = Path("."), vary: list[str] | None = None, name: str | None = None) -> list[dict]:
    """One record per experiment of one sweep of the current commit (:func:`select`), plus
    the commit itself (job 0) when it used the same data."""
    import dvc.api

    rows = [r for r in dvc.api.exp_show(repo=str(repo)) if r.get("rev") != "workspace"]
    if not rows:
        return []
    base = _params(rows[0])
    return [record(i, r, base) for i, r in enumerate(select(rows, vary, name))]
