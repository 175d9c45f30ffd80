"""Bad configs fail before any work, with one line naming the key, the value and what is allowed.

Three ways in: a value in params.yaml (what every stage validates first), an override of
``python -m neshmm.params`` (Hydra composition), and ``dvc exp run -S`` (DVC's own
composition). Plus the data-dependent checks that can only run once the data is known:
a sample fraction selecting no file and more HMM states than training tokens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from neshmm.config import to_config
from neshmm.models import model_class, model_names
from neshmm.errors import ConfigError
from neshmm.params import composed_text
from neshmm.data.token_store import training_files

from helpers import ROOT, dvc, init_repo, sh
from helpers import good_song, params_for, run_stage, write


def base() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def config_error(**updates) -> str:
    cfg = OmegaConf.create(base())
    OmegaConf.set_struct(cfg, False)
    for key, value in updates.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    with pytest.raises(ConfigError) as e:
        to_config(cfg)
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


BAD_VALUES = [
    # types
    ("model.n_components", "abc", "model.n_components='abc': must be an integer"),
    ("model.n_components", 2.5, "model.n_components=2.5: must be an integer"),
    ("model.n_components", True, "model.n_components=True: must be an integer"),
    ("data.sample_fraction", "half", "data.sample_fraction='half': must be a number"),
    ("tokenize.duration_bins", 5, "tokenize.duration_bins=5: must be a list of numbers"),
    ("tokenize.duration_bins", ["a"], "tokenize.duration_bins[0]='a': must be a number"),
    ("sample.beats", None, "sample.beats=None: must be a number"),
    ("data", 5, "data=5: must be a mapping with keys name, path, splits"),
    ("model", "foo", "model='foo': must be a mapping with a 'name'"),
    # ranges
    ("model.n_components", 0, "model.n_components=0: must be an integer >= 1"),
    ("model.n_iter", 0, "model.n_iter=0: must be an integer >= 1"),
    ("model.seed", -1, "model.seed=-1: must be an integer in [0, 2**32)"),
    ("model.implementation", "fast", "model.implementation='fast': must be 'scaling' or 'log'"),
    ("baseline.alpha", 0.0, "baseline.alpha=0.0: must be > 0"),
    ("data.sample_fraction", 0.0, "data.sample_fraction=0.0: must be in (0, 1]"),
    ("data.sample_fraction", 1.5, "data.sample_fraction=1.5: must be in (0, 1]"),
    ("data.max_failed_fraction", -0.1, "data.max_failed_fraction=-0.1: must be in [0, 1]"),
    ("data.min_train_tokens", 0, "data.min_train_tokens=0: must be an integer >= 1"),
    ("data.seed", -3, "data.seed=-3: must be an integer >= 0"),
    ("data.splits.train", "", "data.splits.train='': must be a sub-folder name"),
    ("sample.beats", float("inf"), "sample.beats=inf: must be a finite number"),
    ("model.tol", float("nan"), "model.tol=nan: must be a finite number"),
    ("sample.n_samples", 0, "sample.n_samples=0: must be an integer in [1, 1000]"),
    ("sample.n_samples", 1000000, "sample.n_samples=1000000: must be an integer in [1, 1000]"),
    ("sample.beats", 1e9, "sample.beats=1000000000.0: must be in (0, 4096]"),
    ("sample.beats", 0.0, "sample.beats=0.0: must be in (0, 4096]"),
    ("sample.ticks_per_beat", 40000, "sample.ticks_per_beat=40000: must be an integer in [1, 32767]"),
    ("sample.ticks_per_beat", 2, "sample.ticks_per_beat=2: must be fine enough"),
    ("evaluate.epsilon", 0.0, "evaluate.epsilon=0.0: must be in [1e-300, 0.1]"),
    ("evaluate.epsilon", 1e308, "evaluate.epsilon=1e+308: must be in [1e-300, 0.1]"),
    ("evaluate.epsilon", 5e-324, "evaluate.epsilon=5e-324: must be in [1e-300, 0.1]"),
    ("evaluate.unk_method", "laplace", "evaluate.unk_method='laplace': must be one of file_good_turing, good_turing, witten_bell"),
    ("evaluate.mgeval_mode", "x", "evaluate.mgeval_mode='x': must be one of toolbox, corrected"),
    ("evaluate.bootstrap.level", 1.0, "evaluate.bootstrap.level=1.0: must be in [0.5, 1) (e.g. 0.95)"),
    ("evaluate.heldout", "dev", "evaluate.heldout='dev': must be train, valid or test"),
    ("data.tune_split", "test", "data.tune_split='test': must be 'valid' (tuning on test would leak"),
    ("model.emission_prior", 0.9, "model.emission_prior=0.9: must be >= 1"),
    ("model.n_init", 0, "model.n_init=0: must be an integer >= 1"),
    ("baseline.alpha_grid", [0.1, -1.0], "baseline.alpha_grid=[0.1, -1.0]: must be a list of alphas > 0"),
    ("voices", ["p1", "zz"], "voices='zz': must be one of"),
    ("voices", ["p1", "p1"], "voices=['p1', 'p1']: must be without duplicates"),
    ("voices", [], "voices=[]: must be a non-empty subset"),
    ("jobs", -1, "jobs=-1: must be >= 0"),
    ("demo.n_train", 0, "demo.n_train=0: must be an integer >= 1"),
    # duration and velocity bins
    ("tokenize.duration_bins", [1.0, 0.5], "tokenize.duration_bins=[1.0, 0.5]: must be strictly increasing"),
    ("tokenize.duration_bins", [0.5, 0.5], "tokenize.duration_bins=[0.5, 0.5]: must be strictly increasing"),
    ("tokenize.duration_bins", [], "tokenize.duration_bins=[]: must be a non-empty list"),
    ("tokenize.duration_bins", [0.0, 1.0], "tokenize.duration_bins=[0.0, 1.0]: must be positive"),
    ("tokenize.velocity_edges", [2, 4, 8, 12, 16], "tokenize.velocity_edges=[2, 4, 8, 12, 16]: must be non-empty, starting at 1"),
    ("tokenize.velocity_edges", [1, 8, 4, 12, 16], "tokenize.velocity_edges=[1, 8, 4, 12, 16]: must be strictly increasing"),
    ("tokenize.velocity_values", [0, 2, 4], "tokenize.velocity_values=[0, 2, 4]: must be a list of len(velocity_edges)+1 = 6"),
    ("tokenize.velocity_values", [0, 4, 2, 6, 8, 10], "tokenize.velocity_values=[0, 4, 2, 6, 8, 10]: must be strictly increasing"),
    # unknown keys, at every level
    ("foo", 1, "foo: unknown key; allowed keys: demo, data, tokenize, model"),
    ("data.foo", 1, "data.foo: unknown key; allowed keys: name, path, splits"),
    ("data.splits.dev", "dev", "data.splits.dev: unknown key; allowed keys: train, valid, test"),
    ("model.alpha", 1.0, "model.alpha: unknown key; allowed keys: name, n_components"),
    ("baseline.n_components", 4, "baseline.n_components: unknown key; allowed keys: name, alpha"),
    ("model.name", "foo", "model.name='foo': unknown model; allowed: hmm, markov"),
]


@pytest.mark.parametrize("key,value,expected", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_value_is_one_line_naming_key_value_and_what_is_allowed(key, value, expected):
    msg = config_error(**{key: value})
    assert msg.startswith(expected), msg


def test_bounds_are_where_results_stop_being_finite():
    """The documented limits of evaluate.epsilon are where the KLs it feeds stop being
    finite (so the check refuses exactly the useless values)."""
    import numpy as np

    from neshmm.config import EPSILON_RANGE
    from neshmm.evaluation.metrics import histogram_kl

    ref, gen = np.array([1e9, 0, 3.0] + [0] * 125), np.array([0, 5e8, 2.0] + [0] * 125)
    for eps in EPSILON_RANGE:
        assert np.isfinite(histogram_kl(ref, gen, eps))
    assert not np.isfinite(histogram_kl(ref, gen, 1e307))  # what 1e308-like values gave: null
    assert not np.isfinite(histogram_kl(ref, gen, 5e-324))


def test_jobs_above_the_cpu_count_are_clamped_with_a_warning(capsys):
    from neshmm.config import cpu_count

    cfg = to_config({**base(), "jobs": 10_000})
    assert cfg.jobs == cpu_count()
    assert f"warning: jobs=10000 is more than the {cpu_count()} CPUs available; using jobs={cpu_count()}" in capsys.readouterr().err
    assert to_config({**base(), "jobs": 1}).jobs == 1


def test_committed_params_are_valid():
    to_config(base())


@pytest.mark.parametrize(
    "group,option",
    [(g.name, f.stem) for g in sorted((ROOT / "conf").iterdir()) if g.is_dir() and g.name != "hydra"
     for f in sorted(g.glob("*.yaml"))],
)
def test_every_config_group_option_composes_and_validates(group, option):
    text = composed_text([f"{group}={option}"], ROOT)
    to_config(OmegaConf.create(text))


def test_model_schemas_have_a_conf_file_each():
    assert {p.stem for p in (ROOT / "conf/model").glob("*.yaml")} == set(model_names())


def _all_model_keys() -> list[str]:
    """Every key of every model type, as the message lists them (sorted; grows with new types)."""
    from dataclasses import fields

    return sorted({f.name for n in model_names() for f in fields(model_class(n).Config)})


@pytest.mark.parametrize(
    "override,expected",
    [
        ("model=foo", "error: model=foo: no such option (no conf/model/foo.yaml); allowed: hmm, markov"),
        ("model@baseline=foo", "error: model@baseline=foo: no such option (no conf/model/foo.yaml); allowed: hmm, markov"),
        ("data=nope", "error: data=nope: no such option (no conf/data/nope.yaml); allowed: demo, nesmdb"),
        ("model.nc=3", "error: model.nc=3: conf/ has no key model.nc; keys under model: name, n_components"),
        ("modle=hmm", "error: modle=hmm: conf/ has no key modle; did you mean model?"),
        ("model.n_components=abc", "error: model.n_components='abc': must be an integer"),
        ("tokenize.duration_bins=[1.0,0.5]", "error: tokenize.duration_bins=[1.0, 0.5]: must be strictly increasing"),
        ("model=[hmm", "error: model=[hmm: not an override Hydra can parse"),
    ],
)
def test_params_cli_rejects_bad_overrides_in_one_line(tmp_path, override, expected):
    out = tmp_path / "params.yaml"
    proc = sh(ROOT, sys.executable, "-m", "neshmm.params", "--out", str(out), override, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith(expected), proc.stderr
    assert not out.exists()


@pytest.mark.e2e
def test_dvc_exp_run_with_bad_config_fails_before_any_stage(tmp_path):
    repo = init_repo(tmp_path / "repo")
    # An unknown group option: DVC's own Hydra composition refuses it (DVC prints Hydra's
    # message: the missing conf file and the available options), before any stage.
    proc = dvc(repo, "exp", "run", "-S", "model=foo", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "model/foo" in out and "hmm" in out and "markov" in out, out
    assert "Running stage" not in out and "Traceback" not in out
    sh(repo, "git", "checkout", "params.yaml")
    # A wrong type composes (Hydra has no schema) but the first stage refuses it in one line.
    proc = dvc(repo, "exp", "run", "-S", "model.n_components=abc", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    errors = [line for line in out.splitlines() if line.startswith("error [")]
    assert errors == ["error [params]: model.n_components='abc': must be an integer"], out
    assert out.count("Running stage") == 1 and "Traceback" not in out
    assert not (repo / "data/raw/demo").exists()


# --- checks that need the data --------------------------------------------------------------


def test_sample_fraction_selecting_no_file_names_the_minimum():
    with pytest.raises(ConfigError) as e:
        training_files(16, 0.01, 17)
    assert str(e.value) == (
        "data.sample_fraction=0.01: selects 0 of 16 training files; must be at least 1/16 = 0.0625 (and at most 1)"
    )
    assert len(training_files(16, 1 / 16, 17)) == 1


@pytest.fixture(scope="module")
def small_prepared(tmp_path_factory) -> Path:
    """A work dir with a prepared 12-file corpus: every voice has a handful of tokens."""
    root = tmp_path_factory.mktemp("small")
    corpus = root / "corpus"
    for split, n in (("train", 12), ("valid", 2), ("test", 2)):
        for i in range(n):
            write(corpus / split, f"{i:02d}.mid", good_song(shift=i % 5))
    work = root / "work"
    work.mkdir()
    params_for(work, corpus)
    assert run_stage(work, "prepare").returncode == 0
    return work


def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_tokenize_stage_refuses_a_sample_fraction_selecting_no_file(small_prepared):
    params_for(small_prepared, small_prepared.parent / "corpus", sample_fraction=0.01)
    line = one_error_line(run_stage(small_prepared, "tokenize"))
    assert line.startswith("error [tokenize]: data.sample_fraction=0.01: selects 0 of 12 training files")


def train(work: Path, voice: str, role: str = "model"):
    from helpers import tool_env
    import subprocess

    env = tool_env()
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "stages.train", "--voice", voice, "--role", role], cwd=work,
                          env=env, capture_output=True, text=True, timeout=300)


def test_more_hmm_states_than_tokens_fails_in_one_line_and_too_little_data_skips(small_prepared):
    corpus = small_prepared.parent / "corpus"
    params_for(small_prepared, corpus, min_train_tokens=1)
    assert run_stage(small_prepared, "tokenize").returncode == 0
    summary = json.loads((small_prepared / "data/tokens/summary.json").read_text())
    n_tr = summary["voices"]["tr"]["train"]["tokens"]
    assert n_tr == 6  # one note per file, 6 of 12 files sampled
    params = yaml.safe_load((small_prepared / "params.yaml").read_text())
    params["model"]["n_components"] = 7
    (small_prepared / "params.yaml").write_text(yaml.safe_dump(params))
    line = one_error_line(train(small_prepared, "tr"))
    assert line == (
        "error [train]: model.n_components=7: more than the 6 training tokens of voice tr; "
        "must be at most 6 (or train on more files: data.sample_fraction)"
    )
    assert not (small_prepared / "models/model/tr.npz").exists()
    # The same voice under the data threshold is skipped with a warning, not failed.
    params["data"]["min_train_tokens"] = 10
    (small_prepared / "params.yaml").write_text(yaml.safe_dump(params))
    proc = train(small_prepared, "tr")
    assert proc.returncode == 0, proc.stderr
    assert "warning: train tr/model: skipped, 6 training tokens < data.min_train_tokens=10" in proc.stderr
    from neshmm.models.base import read_model_file

    meta, _ = read_model_file(small_prepared / "models/model/tr.npz")
    assert meta["skipped"] is True and "min_train_tokens" in meta["reason"]
