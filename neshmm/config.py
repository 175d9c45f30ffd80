"""Typed schema of the configuration composed from ``conf/`` (and written to params.yaml).

OmegaConf structured configs reject wrong types and unknown keys; :func:`validate` adds
the range checks a type cannot express. Both surface as one :class:`ConfigError` line
naming the key, the value and what is allowed, before any stage does work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from neshmm.errors import ConfigError
from neshmm.voices import VOICES


@dataclass
class DemoConfig:
    out: str = "data/raw/demo"
    seed: int = 0
    n_train: int = 96
    n_valid: int = 24
    n_test: int = 24


@dataclass
class SplitsConfig:
    train: str = "train"
    valid: str = "valid"
    test: str = "test"


@dataclass
class DataConfig:
    name: str = "demo"
    path: str = "data/raw/demo"
    splits: SplitsConfig = field(default_factory=SplitsConfig)
    sample_fraction: float = 0.5
    seed: int = 17
    max_failed_fraction: float = 0.2


@dataclass
class TokenizeConfig:
    duration_bins: list[float] = field(
        default_factory=lambda: [0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    )
    velocity_edges: list[int] = field(default_factory=lambda: [1, 4, 8, 12, 16])
    velocity_values: list[int] = field(default_factory=lambda: [0, 2, 4, 6, 8, 10])


@dataclass
class HMMConfig:
    name: str = "hmm"
    n_components: int = 16
    n_iter: int = 100
    tol: float = 0.01
    seed: int = 17
    init_params: str = "ste"
    implementation: str = "scaling"


@dataclass
class MarkovConfig:
    name: str = "markov"
    alpha: float = 1.0


MODEL_SCHEMAS: dict[str, type] = {"hmm": HMMConfig, "markov": MarkovConfig}


@dataclass
class SampleConfig:
    n_samples: int = 5
    beats: float = 128.0
    seed: int = 0
    ticks_per_beat: int = 22050


@dataclass
class EvaluateConfig:
    epsilon: float = 1e-8
    unk_smoothing: float = 1e-6
    reference: str = "train"
    heldout: str = "valid"


@dataclass
class Config:
    demo: DemoConfig = field(default_factory=DemoConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    model: Any = field(default_factory=HMMConfig)
    baseline: Any = field(default_factory=MarkovConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    voices: list[str] = field(default_factory=lambda: list(VOICES))
    jobs: int = 0


def _one_line(exc: OmegaConfBaseException) -> str:
    key = getattr(exc, "full_key", None)
    msg = str(exc).splitlines()[0]
    return f"{key}: {msg}" if key else msg


def _structured_model(key: str, raw: Any) -> DictConfig:
    if not isinstance(raw, (dict, DictConfig)) or "name" not in raw:
        raise ConfigError(f"{key}: must be a mapping with a 'name' (one of {sorted(MODEL_SCHEMAS)})")
    name = raw["name"]
    if name not in MODEL_SCHEMAS:
        raise ConfigError(f"{key}.name={name!r}: unknown model; allowed: {sorted(MODEL_SCHEMAS)}")
    schema = OmegaConf.structured(MODEL_SCHEMAS[name])
    try:
        return OmegaConf.merge(schema, raw)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{key}.{_one_line(exc)}") from None


def to_config(raw: dict | DictConfig) -> Config:
    """Merge a raw mapping into the schema, validate ranges, return typed dataclasses."""
    raw = OmegaConf.create(raw) if not isinstance(raw, DictConfig) else raw.copy()
    OmegaConf.set_struct(raw, False)
    raw = OmegaConf.to_container(raw, resolve=True)
    raw.pop("hydra", None)
    models = {k: raw.pop(k) for k in ("model", "baseline") if k in raw}
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(Config), raw)
    except OmegaConfBaseException as exc:
        raise ConfigError(_one_line(exc)) from None
    for key, value in models.items():
        cfg[key] = _structured_model(key, value)
    obj: Config = OmegaConf.to_object(cfg)
    validate(obj)
    return obj


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r}: must be {allowed}")


def validate(cfg: Config) -> None:
    d = cfg.data
    _check(0.0 < d.sample_fraction <= 1.0, "data.sample_fraction", d.sample_fraction, "in (0, 1]")
    _check(0.0 <= d.max_failed_fraction <= 1.0, "data.max_failed_fraction", d.max_failed_fraction, "in [0, 1]")
    _check(bool(d.path), "data.path", d.path, "a folder path")
    for k in ("n_train", "n_valid", "n_test"):
        _check(getattr(cfg.demo, k) >= 1, f"demo.{k}", getattr(cfg.demo, k), "an integer >= 1")
    t = cfg.tokenize
    bins = list(t.duration_bins)
    _check(len(bins) >= 1, "tokenize.duration_bins", bins, "a non-empty list of beats")
    _check(all(b > 0 for b in bins), "tokenize.duration_bins", bins, "positive numbers of beats")
    _check(all(a < b for a, b in zip(bins, bins[1:])), "tokenize.duration_bins", bins, "strictly increasing")
    edges = list(t.velocity_edges)
    _check(all(a < b for a, b in zip(edges, edges[1:])), "tokenize.velocity_edges", edges, "strictly increasing")
    _check(len(t.velocity_values) == len(edges) + 1, "tokenize.velocity_values", list(t.velocity_values),
           f"a list of len(velocity_edges)+1 = {len(edges) + 1} values")
    _check(t.velocity_values[0] == 0 and all(v > 0 for v in t.velocity_values[1:]),
           "tokenize.velocity_values", list(t.velocity_values), "0 first (velocity 0), positive after it")
    vals = list(t.velocity_values)
    _check(all(a < b for a, b in zip(vals, vals[1:])), "tokenize.velocity_values", vals, "strictly increasing")
    _check(bool(edges) and edges[0] >= 1, "tokenize.velocity_edges", edges, "non-empty, first edge >= 1")
    for key in ("model", "baseline"):
        m = getattr(cfg, key)
        if isinstance(m, HMMConfig):
            _check(m.n_components >= 1, f"{key}.n_components", m.n_components, "an integer >= 1")
            _check(m.n_iter >= 1, f"{key}.n_iter", m.n_iter, "an integer >= 1")
            _check(m.tol >= 0, f"{key}.tol", m.tol, ">= 0")
            _check(m.implementation in ("scaling", "log"), f"{key}.implementation", m.implementation, "'scaling' or 'log'")
            _check(set(m.init_params) <= set("ste"), f"{key}.init_params", m.init_params, "letters of 'ste'")
        if isinstance(m, MarkovConfig):
            _check(m.alpha > 0, f"{key}.alpha", m.alpha, "> 0 (additive smoothing)")
    s = cfg.sample
    _check(s.n_samples >= 1, "sample.n_samples", s.n_samples, "an integer >= 1")
    _check(s.beats > 0, "sample.beats", s.beats, "> 0")
    _check(s.ticks_per_beat >= 1, "sample.ticks_per_beat", s.ticks_per_beat, "an integer >= 1")
    e = cfg.evaluate
    _check(e.epsilon > 0, "evaluate.epsilon", e.epsilon, "> 0")
    _check(e.unk_smoothing > 0, "evaluate.unk_smoothing", e.unk_smoothing, "> 0")
    for k in ("reference", "heldout"):
        _check(getattr(e, k) in ("train", "valid", "test"), f"evaluate.{k}", getattr(e, k), "train, valid or test")
    _check(len(cfg.voices) >= 1, "voices", list(cfg.voices), f"a non-empty subset of {list(VOICES)}")
    for v in cfg.voices:
        _check(v in VOICES, "voices", v, f"one of {list(VOICES)}")
    _check(len(set(cfg.voices)) == len(cfg.voices), "voices", list(cfg.voices), "without duplicates")
    _check(cfg.jobs >= 0, "jobs", cfg.jobs, ">= 0 (0 = one per core)")


def load_params(path: str | Path = "params.yaml") -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run from the project root (where dvc.yaml is)")
    return to_config(OmegaConf.load(path))


def model_config_dict(m: Any) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(m))
