"""Sweep building blocks: config split, cache semantics, Pareto front, conf/ adoption, configs."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir

from helpers import ROOT
from neshmm.errors import ConfigError
from neshmm.sweep.cache import Cache, digest
from neshmm.sweep.settings import split_config
from neshmm.sweep.summary import pareto_front


def composed(*overrides: str, name: str = "sweep", hydra: bool = False):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose(name, overrides=list(overrides), return_hydra_config=hydra)


def test_sweep_config_is_pipeline_config_plus_sweep_section():
    from neshmm.config import to_config

    settings, cfg, ignored = split_config(composed("model.n_components=3", "sweep.n_jobs=2"))
    assert cfg.model.n_components == 3 and settings.n_jobs == 2 and ignored == []
    # Apart from `sweep`, a job's config is exactly what DVC composes into params.yaml.
    assert split_config(composed())[1] == to_config(composed(name="config"))
    assert split_config(composed("model=markov"))[1] == to_config(composed("model=markov", name="config"))


def test_sweep_config_lists_every_model_setting():
    from dataclasses import fields

    from neshmm.models import model_class, model_names

    listed = yaml.safe_load((ROOT / "conf" / "sweep.yaml").read_text())["model"]
    assert set(listed) == {f.name for n in model_names() for f in fields(model_class(n).Config)} - {"name"}
    assert set(listed.values()) == {None}


def test_state_count_is_ignored_for_markov_but_typos_are_errors():
    # The grid `model.n_components=... model=hmm,markov` composes and runs.
    _, cfg, ignored = split_config(composed("model=markov", "model.n_components=8"))
    assert cfg.model.name == "markov" and ignored == ["model.n_components"]
    with pytest.raises(ConfigError, match="n_componentz"):
        split_config(composed("++model.n_componentz=8"))
    with pytest.raises(ConfigError, match=r"sweep.n_jobs=0: must be -1"):
        split_config(composed("sweep.n_jobs=0"))
    with pytest.raises(ConfigError, match=r"model.n_components=0: must be an integer >= 1"):
        split_config(composed("model.n_components=0"))


@pytest.mark.parametrize(
    "overrides, target",
    [
        (["hydra/launcher=parallel", "sweep.n_jobs=3"], "hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
        (["hydra/launcher=slurm"], "hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
        (["hydra/launcher=submitit_local"], "hydra_submitit_launcher.submitit_launcher.LocalLauncher"),
    ],
)
def test_launcher_configs_compose(overrides, target):
    if "joblib" not in target:
        pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="extra [slurm] not installed")
    launcher = composed(*overrides, hydra=True).hydra.launcher
    assert launcher._target_.endswith(target)
    if "joblib" in target:
        assert launcher.n_jobs == 3  # from sweep.n_jobs


def test_optuna_sweeper_config_maximizes_heldout_loglik():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="extra [optuna] not installed")
    sweeper = composed("hydra/sweeper=optuna_loglik", hydra=True).hydra.sweeper
    assert sweeper.direction == "maximize"
    assert set(sweeper.params) == {"model.n_components", "model.n_iter"}


def _build(tmp: Path) -> None:
    (tmp / "a.txt").write_text("done")


def test_cache_builds_once_and_reuses(tmp_path):
    cache = Cache(tmp_path)
    calls = []

    def build(d: Path) -> None:
        calls.append(d)
        _build(d)

    first, reused_first = cache.ensure("k", "key1", {"x": 1}, build)
    second, reused_second = cache.ensure("k", "key1", {"x": 1}, build)
    assert first == second and (reused_first, reused_second) == (False, True) and len(calls) == 1
    assert (first / "a.txt").read_text() == "done"
    assert yaml.safe_load((first / "inputs.json").read_text()) == {"x": 1}


def test_failed_or_killed_build_leaves_no_entry(tmp_path):
    cache = Cache(tmp_path)

    def boom(d: Path) -> None:
        (d / "half.txt").write_text("half")
        raise KeyboardInterrupt  # what Ctrl-C does in the middle of a build

    with pytest.raises(KeyboardInterrupt):
        cache.ensure("k", "key2", {}, boom)
    assert not cache.entry("k", "key2").exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    # Scratch of a process killed outright (no cleanup ran) is removed by the next build,
    # also a stage's own temporary sibling of its output folder.
    stale = [tmp_path / "tmp" / "k-key2.99999", tmp_path / "tmp" / ".k-key2.99999.abc.tmp"]
    for s in stale:
        s.mkdir()
        (s / "half.txt").write_text("half")
    entry, _ = cache.ensure("k", "key2", {}, _build)
    assert not any(s.exists() for s in stale)
    assert (entry / "a.txt").exists() and not (entry / "half.txt").exists()


def _ensure_in_process(root: str, out: str) -> None:
    def build(d: Path) -> None:
        with open(out, "a") as fh:
            fh.write("built\n")
        _build(d)

    Cache(Path(root)).ensure("k", "shared", {}, build)


def test_concurrent_jobs_build_a_shared_entry_once(tmp_path):
    log = tmp_path / "builds.log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_ensure_in_process, args=(str(tmp_path / "c"), str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    assert log.read_text() == "built\n"


def test_digest_ignores_key_order():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1}) != digest({"a": 2, "b": [1, 2]})


def test_pareto_front_marks_jobs_not_beaten_on_both_metrics():
    df = pd.DataFrame(
        {
            "status": ["ok", "ok", "ok", "ok", "failed"],
            "loglik_mean": [-3.0, -2.0, -2.5, -2.0, None],
            "kl_mean": [0.1, 0.3, 0.4, 0.3, None],
        }
    )
    # job 2 is beaten by job 1 on both; jobs 1 and 3 tie (both kept); a failed job never is.
    assert pareto_front(df) == [True, True, False, True, False]


def _experiment(tmp_path: Path, *overrides: str) -> str:
    from neshmm.params import composed_text

    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    text = composed_text(list(overrides), tmp_path)
    (tmp_path / "params.yaml").write_text(text)
    return text


def test_adopt_writes_an_experiment_back_into_conf(tmp_path):
    from neshmm.params import composed_text
    from neshmm.sweep.adopt import adopt

    experiment = _experiment(tmp_path, "model.n_iter=7", "data.seed=3", "voices=[p1,tr]")
    before = (tmp_path / "conf" / "model" / "hmm.yaml").read_text()
    changes = adopt(tmp_path)
    assert composed_text([], tmp_path) == experiment
    assert sorted(changes) == [
        "conf/config.yaml: voices = ['p1', 'tr']",
        "conf/data/demo.yaml: seed = 3",
        "conf/model/hmm.yaml: n_iter = 7",
    ]
    after = (tmp_path / "conf" / "model" / "hmm.yaml").read_text()
    # Comments survive: only the changed line differs.
    assert [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b] == [("n_iter: 100", "n_iter: 7")]
    assert "voices: [p1, tr]" in (tmp_path / "conf" / "config.yaml").read_text()
    assert adopt(tmp_path) == []


def test_adopt_switches_a_config_group(tmp_path):
    from neshmm.params import composed_text
    from neshmm.sweep.adopt import adopt

    experiment = _experiment(tmp_path, "model=markov")
    assert adopt(tmp_path) == ["conf/config.yaml: model: hmm -> markov"]
    assert composed_text([], tmp_path) == experiment


def test_adopt_refuses_what_conf_cannot_express(tmp_path):
    from neshmm.sweep.adopt import adopt

    # model and baseline would both read conf/model/markov.yaml, with different alphas.
    _experiment(tmp_path, "model=markov", "model.alpha=0.5")
    with pytest.raises(ConfigError, match="still differs from params.yaml at model.alpha"):
        adopt(tmp_path)
