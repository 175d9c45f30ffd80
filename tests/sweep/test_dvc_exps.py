"""Which DVC experiments one `--dvc` summary ranks (neshmm.sweep.dvc_exps.select)."""

from __future__ import annotations

import pytest

from neshmm.errors import ConfigError
from neshmm.sweep.dvc_exps import select


def row(name, **params):
    base = {"data.name": "demo", "data.path": "data/raw/demo", "evaluate.heldout": "valid",
            "model.n_components": 16, "model.n_iter": 100, "voices": "['p1']"}
    base.update({k.replace("__", "."): v for k, v in params.items()})
    return {"Experiment": name, "rev": name, **base}


ROWS = [row(None), row("nc-2", model__n_components=2), row("nc-4", model__n_components=4),
        row("iter-5", model__n_iter=5),
        row("real", **{"data__name": "nesmdb", "data__path": "/x/nesmdb_midi", "model__n_components": 8})]


def names(rows):
    return [r["Experiment"] for r in rows]


def test_one_sweep_by_varied_key_or_name():
    assert names(select(ROWS, ["model.n_components"], None)) == [None, "nc-2", "nc-4"]
    assert names(select(ROWS, None, "iter-")) == [None, "iter-5"]


def test_no_sweep_named_lists_what_varies():
    with pytest.raises(ConfigError, match=r"--vary model.n_components \(3 experiments\).*--vary data.name \(1"):
        select(ROWS, None, None)


def test_runs_on_other_data_are_never_ranked_together():
    with pytest.raises(ConfigError, match=r"different data or held-out splits.*1 on data.name=nesmdb"):
        select(ROWS, ["model.n_components", "data"], None)
    # Alone, the real-data run is ranked, without the demo commit as row 0.
    assert names(select(ROWS, None, "real")) == ["real"]
