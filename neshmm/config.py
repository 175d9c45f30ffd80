"""Typed schema of the configuration composed from ``conf/`` (and written to params.yaml).

OmegaConf structured configs reject wrong types and unknown keys; :func:`validate` adds
the range checks a type cannot express. Both surface as one :class:`ConfigError` line
naming the key, the value and what is allowed, before any stage does work.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from neshmm.data.voices import VOICES
from neshmm.errors import ConfigError, require
from neshmm.models import model_class, model_names
from neshmm.models.hmm import HMMConfig
from neshmm.models.markov import MarkovConfig

# Choices owned by the modules that implement them (listed here for validation).
UNK_METHODS = ("file_good_turing", "good_turing", "witten_bell")
MGEVAL_MODES = ("toolbox", "corrected")

# The config keys that hold a model; every role is trained, sampled and scored alike.
ROLES = ("model", "baseline")
# What is sampled, scored and rendered side by side: the two per-voice roles and the joint
# four-voice model (config key `joint`, stage `train_joint`), which is not a role: it has
# no per-voice model file and no registry entry (see docs/pipeline.md#the-joint-model).
JOINT = "joint"
SYSTEMS = ROLES + (JOINT,)

# Upper bounds that keep a run finite (docs/robustness.md). A sampled piece is a Python loop
# over tokens: 4096 beats (34 minutes at 120 bpm, longer than any NES-MDB piece) is a few
# thousand tokens per voice; 1000 pieces per role is 8000 MIDI files and WAVs to render.
# Both were accepted up to 1e9 / 1e6 before and then ran for hours.
MAX_SAMPLE_BEATS = 4096.0
MAX_SAMPLES = 1000
# evaluate.epsilon is a pseudo-count added to every histogram bin (1 = one observation).
# Above 0.1 the smoothing rather than the data decides the KL of a sparse histogram (a
# 128-beat piece has a few hundred notes over up to 128 pitch bins), and from ~1e308/bins
# the sum overflows and every KL becomes NaN (written as null). Below 1e-300,
# epsilon / (1e9 counts) is no longer a normal float and a missed bin gives KL = inf.
EPSILON_RANGE = (1e-300, 0.1)


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
    min_train_tokens: int = 100
    # Held-out split that training may read to choose hyperparameters (the Markov chain's
    # alpha from its alpha_grid). Never `test`: the final evaluation may use test.
    tune_split: str = "valid"


@dataclass
class TokenizeConfig:
    duration_bins: list[float] = field(
        default_factory=lambda: [0.25, 0.5, 0.75, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    )
    velocity_edges: list[int] = field(default_factory=lambda: [1, 4, 8, 12, 16])
    velocity_values: list[int] = field(default_factory=lambda: [0, 2, 4, 6, 8, 10])


@dataclass
class SampleConfig:
    n_samples: int = 50
    beats: float = 128.0
    seed: int = 0
    ticks_per_beat: int = 22050


@dataclass
class BootstrapConfig:
    """File-level (held-out likelihood) and piece-level (generated music) bootstrap CIs."""

    n_resamples: int = 1000
    level: float = 0.95
    seed: int = 0
    # Resamples of the generated pieces for the CI of the MGEval mean overlap; each reruns
    # MGEval (about a second per voice and system), so 0 = no CI unless asked for.
    mgeval_resamples: int = 0


@dataclass
class CrossVoiceConfig:
    """Settings of :func:`neshmm.evaluation.cross_voice.cross_voice_scores`; its CIs use
    ``evaluate.bootstrap``."""

    onset_tolerance_beats: float = 0.0625


@dataclass
class EvaluateConfig:
    epsilon: float = 1e-8
    # How the probability of a held-out token never seen in training is estimated from the
    # training tokens (neshmm.evaluation.unknown): file_good_turing, good_turing, witten_bell.
    unk_method: str = "file_good_turing"
    reference: str = "train"
    heldout: str = "valid"
    # MGEval as the original toolbox defines it ("toolbox", comparable with published
    # tables) or with its bugs fixed ("corrected"); neshmm.evaluation.mgeval.
    mgeval_mode: str = "corrected"
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    cross_voice: CrossVoiceConfig = field(default_factory=CrossVoiceConfig)


@dataclass
class DutyConfig:
    """Pulse duty cycle per voice: NES-MDB keeps it in CC 12, which the MIDI reader drops."""

    p1: float = 0.5
    p2: float = 0.5


@dataclass
class JointConfig:
    """The joint four-voice HMM (:class:`neshmm.models.joint.JointModel`), stage `train_joint`."""

    frame_beats: float = 0.125
    n_components: int = 16
    n_iter: int = 100
    tol: float = 0.01
    seed: int = 17
    n_init: int = 1
    emission_prior: float = 0.1
    implementation: str = "scaling"


@dataclass
class RenderConfig:
    sample_rate: int = 44100
    roles: list[str] = field(default_factory=lambda: list(SYSTEMS))
    max_per_role: int = 5
    reference_split: str = "valid"
    n_reference: int = 2
    duty: DutyConfig = field(default_factory=DutyConfig)
    noise_short_mode: bool = False
    gain: float = 2.0


@dataclass
class Config:
    demo: DemoConfig = field(default_factory=DemoConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    model: Any = field(default_factory=HMMConfig)
    baseline: Any = field(default_factory=MarkovConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    joint: JointConfig = field(default_factory=JointConfig)
    voices: list[str] = field(default_factory=lambda: list(VOICES))
    jobs: int = 0


_WORDS = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings"),
          bool: ("true or false", "booleans")}


def _schema_fields(cls: type) -> dict[str, Any]:
    """Field name -> resolved type of a schema dataclass (annotations are strings here)."""
    return typing.get_type_hints(cls)


def _describe(tp: Any) -> str:
    """What a value of schema type ``tp`` must look like, in words for the error line."""
    if typing.get_origin(tp) is list:
        (arg,) = typing.get_args(tp)
        return f"a list of {_WORDS.get(arg, (None, str(arg)))[1]}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(_schema_fields(tp))}"
    return _WORDS.get(tp, (str(tp), None))[0]


def _type_at(schema: type, path: list[str]) -> Any:
    tp: Any = schema
    for part in path:
        if dataclasses.is_dataclass(tp) and part in _schema_fields(tp):
            tp = _schema_fields(tp)[part]
        elif typing.get_origin(tp) is list:
            continue  # a [i] element: describe the list it belongs to
        else:
            return None
    return tp


def _split_key(full_key: str) -> list[str]:
    return [p for p in re.split(r"\.|\[\d+\]", full_key) if p]


def _check_keys(raw: Any, schema: type, prefix: str) -> None:
    """Unknown keys and non-mappings where a group belongs, with the allowed keys named.

    Done before OmegaConf's merge because its messages for these cases ("Merge error: int
    is not a subclass of DataConfig") name neither the key nor what is allowed.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.')}={raw!r}: must be {_describe(schema)}")
    fields = _schema_fields(schema)
    for key, value in raw.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            raise ConfigError(f"{prefix}{key}: unknown key; {hint}allowed keys: {', '.join(fields)}")
        if dataclasses.is_dataclass(fields[key]) and value is not None:
            _check_keys(value, fields[key], f"{prefix}{key}.")


def _one_line(exc: OmegaConfBaseException, schema: type, prefix: str = "") -> str:
    """OmegaConf's multi-line error as ``key=value: must be <what the schema allows>``."""
    full_key = str(getattr(exc, "full_key", "") or "")
    tp = _type_at(schema, _split_key(full_key))
    if full_key and tp is not None:
        if full_key.endswith("]") and typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]  # one element of a list
        return f"{prefix}{full_key}={getattr(exc, 'value', None)!r}: must be {_describe(tp)}"
    msg = str(exc).splitlines()[0]
    return f"{prefix}{full_key}: {msg}" if full_key else msg


def _structured_model(key: str, raw: Any) -> DictConfig:
    if not isinstance(raw, (dict, DictConfig)) or "name" not in raw:
        raise ConfigError(
            f"{key}={raw!r}: must be a mapping with a 'name' (one of {model_names()}); "
            f"choose one with {'model' if key == 'model' else 'model@baseline'}=<name>"
        )
    schema = model_class(raw["name"], where=f"{key}.name").Config
    _check_keys(dict(raw), schema, f"{key}.")
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), raw)
    except OmegaConfBaseException as exc:
        raise ConfigError(_one_line(exc, schema, f"{key}.")) from None


def allowed_keys(dotted: str) -> list[str]:
    """Keys allowed next to ``dotted`` (e.g. ``model.nc`` -> the model keys), for messages."""
    parts = dotted.lstrip("+~").split("=")[0].split(".")[:-1]
    if parts and parts[0] in ROLES:
        keys = set()
        for name in model_names():
            keys |= set(_schema_fields(model_class(name).Config))
        return sorted(keys) if len(parts) == 1 else []
    tp = _type_at(Config, parts)
    return list(_schema_fields(tp)) if dataclasses.is_dataclass(tp) else []


def to_config(raw: dict | DictConfig) -> Config:
    """Merge a raw mapping into the schema, validate ranges, return typed dataclasses."""
    raw = OmegaConf.create(raw) if not isinstance(raw, DictConfig) else raw.copy()
    OmegaConf.set_struct(raw, False)
    try:
        raw = OmegaConf.to_container(raw, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{getattr(exc, 'full_key', '') or 'params'}: {str(exc).splitlines()[0]}") from None
    raw.pop("hydra", None)
    models = {k: raw.pop(k) for k in ROLES if k in raw}
    _check_keys(raw, Config, "")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(Config), raw)
    except OmegaConfBaseException as exc:
        raise ConfigError(_one_line(exc, Config)) from None
    for key, value in models.items():
        cfg[key] = _structured_model(key, value)
    obj: Config = OmegaConf.to_object(cfg)
    validate(obj)
    clamp_jobs(obj)
    return obj


def _finite_numbers(obj: Any, prefix: str) -> None:
    """No NaN or infinity anywhere: ``sample.beats=inf`` would sample forever, a NaN
    passes every ``<``/``>`` range check below unnoticed."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            _finite_numbers(value, key + ".")
        elif isinstance(value, float):
            require(math.isfinite(value), key, value, "a finite number")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, float):
                    require(math.isfinite(v), f"{key}[{i}]", v, "a finite number")


def validate(cfg: Config) -> None:
    _finite_numbers(cfg, "")
    d = cfg.data
    require(0.0 < d.sample_fraction <= 1.0, "data.sample_fraction", d.sample_fraction, "in (0, 1]")
    require(0.0 <= d.max_failed_fraction <= 1.0, "data.max_failed_fraction", d.max_failed_fraction, "in [0, 1]")
    require(bool(d.path), "data.path", d.path, "a folder path")
    for k in ("train", "valid", "test"):
        require(bool(getattr(d.splits, k)), f"data.splits.{k}", getattr(d.splits, k), "a sub-folder name of data.path")
    require(d.min_train_tokens >= 1, "data.min_train_tokens", d.min_train_tokens,
           "an integer >= 1 (voices with fewer training tokens are skipped)")
    require(d.tune_split == "valid", "data.tune_split", d.tune_split,
           "'valid' (tuning on test would leak into the final evaluation; on train it always picks the least smoothing)")
    for key, seed in (("data.seed", d.seed), ("demo.seed", cfg.demo.seed), ("sample.seed", cfg.sample.seed)):
        require(seed >= 0, key, seed, "an integer >= 0 (numpy seeds are non-negative)")
    for k in ("n_train", "n_valid", "n_test"):
        require(getattr(cfg.demo, k) >= 1, f"demo.{k}", getattr(cfg.demo, k), "an integer >= 1")
    t = cfg.tokenize
    bins = list(t.duration_bins)
    require(len(bins) >= 1, "tokenize.duration_bins", bins, "a non-empty list of beats")
    require(all(b > 0 for b in bins), "tokenize.duration_bins", bins, "positive numbers of beats")
    require(all(a < b for a, b in zip(bins, bins[1:])), "tokenize.duration_bins", bins, "strictly increasing")
    edges = list(t.velocity_edges)
    require(all(a < b for a, b in zip(edges, edges[1:])), "tokenize.velocity_edges", edges, "strictly increasing")
    require(len(t.velocity_values) == len(edges) + 1, "tokenize.velocity_values", list(t.velocity_values),
           f"a list of len(velocity_edges)+1 = {len(edges) + 1} values")
    require(t.velocity_values[0] == 0 and all(v > 0 for v in t.velocity_values[1:]),
           "tokenize.velocity_values", list(t.velocity_values), "0 first (velocity 0), positive after it")
    vals = list(t.velocity_values)
    require(all(a < b for a, b in zip(vals, vals[1:])), "tokenize.velocity_values", vals, "strictly increasing")
    require(bool(edges) and edges[0] == 1 and edges[-1] <= 127, "tokenize.velocity_edges", edges,
           "non-empty, starting at 1 (only velocity 0 maps to 0, the rest marker), at most 127")
    for key in ROLES:
        m = getattr(cfg, key)
        model_class(m.name, where=f"{key}.name").validate_config(m, key)
    s = cfg.sample
    require(1 <= s.n_samples <= MAX_SAMPLES, "sample.n_samples", s.n_samples,
            f"an integer in [1, {MAX_SAMPLES}] (pieces per model; each is sampled, written and rendered)")
    require(0 < s.beats <= MAX_SAMPLE_BEATS, "sample.beats", s.beats,
            f"in (0, {MAX_SAMPLE_BEATS:g}] (beats per piece; {MAX_SAMPLE_BEATS:g} beats = 34 min at 120 bpm)")
    require(1 <= s.ticks_per_beat <= 0x7FFF, "sample.ticks_per_beat", s.ticks_per_beat,
           "an integer in [1, 32767] (a MIDI file's resolution is 15 bits)")
    ticks = [round(b * s.ticks_per_beat) for b in bins]
    require(ticks[0] >= 1 and all(a < b for a, b in zip(ticks, ticks[1:])), "sample.ticks_per_beat",
           s.ticks_per_beat, f"fine enough that every duration bin {bins} is a distinct, non-zero number of ticks")
    e = cfg.evaluate
    lo, hi = EPSILON_RANGE
    require(lo <= e.epsilon <= hi, "evaluate.epsilon", e.epsilon,
            f"in [{lo:g}, {hi:g}] (a pseudo-count per histogram bin: larger swamps the data or overflows "
            "to a null KL, smaller underflows to an infinite one)")
    require(e.unk_method in UNK_METHODS, "evaluate.unk_method", e.unk_method, f"one of {', '.join(UNK_METHODS)}")
    require(e.mgeval_mode in MGEVAL_MODES, "evaluate.mgeval_mode", e.mgeval_mode, f"one of {', '.join(MGEVAL_MODES)}")
    b = e.bootstrap
    require(1 <= b.n_resamples <= 100_000, "evaluate.bootstrap.n_resamples", b.n_resamples,
            "an integer in [1, 100000] (1000 or more for reporting)")
    require(0.5 <= b.level < 1, "evaluate.bootstrap.level", b.level, "in [0.5, 1) (e.g. 0.95)")
    require(b.seed >= 0, "evaluate.bootstrap.seed", b.seed, "an integer >= 0")
    require(0 <= b.mgeval_resamples <= 10_000, "evaluate.bootstrap.mgeval_resamples", b.mgeval_resamples,
            "an integer in [0, 10000] (0 = no CI for the MGEval mean overlap)")
    for k in ("reference", "heldout"):
        require(getattr(e, k) in ("train", "valid", "test"), f"evaluate.{k}", getattr(e, k), "train, valid or test")
    require(len(cfg.voices) >= 1, "voices", list(cfg.voices), f"a non-empty subset of {list(VOICES)}")
    for v in cfg.voices:
        require(v in VOICES, "voices", v, f"one of {list(VOICES)}")
    require(len(set(cfg.voices)) == len(cfg.voices), "voices", list(cfg.voices), "without duplicates")
    require(cfg.jobs >= 0, "jobs", cfg.jobs, ">= 0 (0 = one per core; more than the cores are clamped to them)")
    r = cfg.render
    require(8000 <= r.sample_rate <= 192000, "render.sample_rate", r.sample_rate, "in [8000, 192000] Hz")
    require(len(r.roles) >= 1 and set(r.roles) <= set(SYSTEMS) and len(set(r.roles)) == len(r.roles),
           "render.roles", list(r.roles), f"a non-empty list of {', '.join(SYSTEMS)} without duplicates")
    require(r.max_per_role >= 0, "render.max_per_role", r.max_per_role, ">= 0 (0 = every sample)")
    require(r.reference_split in ("train", "valid", "test"), "render.reference_split", r.reference_split, "train, valid or test")
    require(r.n_reference >= 0, "render.n_reference", r.n_reference, ">= 0")
    for v in ("p1", "p2"):
        duty = getattr(r.duty, v)
        require(duty in (0.125, 0.25, 0.5, 0.75), f"render.duty.{v}", duty, "one of 0.125, 0.25, 0.5, 0.75 (the NES duty cycles)")
    require(r.gain > 0, "render.gain", r.gain, "> 0")
    validate_joint(cfg)


def validate_joint(cfg: Config) -> None:
    """Range checks of ``joint.*`` and ``evaluate.cross_voice.*`` (kept apart from :func:`validate`)."""
    j = cfg.joint
    require(j.frame_beats > 0, "joint.frame_beats", j.frame_beats, "a number of beats > 0 (e.g. 0.125)")
    frames = cfg.sample.beats / j.frame_beats
    require(abs(frames - round(frames)) < 1e-6, "joint.frame_beats", j.frame_beats,
           f"a divisor of sample.beats={cfg.sample.beats:g} (joint pieces are whole frames long)")
    for k in ("n_components", "n_iter", "n_init"):
        require(getattr(j, k) >= 1, f"joint.{k}", getattr(j, k), "an integer >= 1")
    require(j.tol >= 0, "joint.tol", j.tol, ">= 0 (EM stops when the log-likelihood gains less)")
    require(j.seed >= 0, "joint.seed", j.seed, "an integer >= 0 (numpy seeds are non-negative)")
    require(j.emission_prior > 0, "joint.emission_prior", j.emission_prior,
           "> 0 (a zero prior gives symbols unseen in training probability 0)")
    require(j.implementation in ("scaling", "log"), "joint.implementation", j.implementation, "'scaling' or 'log'")
    c = cfg.evaluate.cross_voice
    require(0 <= c.onset_tolerance_beats <= 0.5, "evaluate.cross_voice.onset_tolerance_beats",
           c.onset_tolerance_beats, "in [0, 0.5] beats")


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def clamp_jobs(cfg: Config) -> None:
    """``jobs`` above the CPU count is clamped to it, with a one-line warning.

    Clamped rather than refused because a config is shared across machines (params.yaml is
    committed) and no result depends on the number of workers; unclamped, ``jobs=24`` on 2
    cores ran 26 processes that only fought over the cores and memory.
    """
    cpus = cpu_count()
    if cfg.jobs > cpus:
        print(f"warning: jobs={cfg.jobs} is more than the {cpus} CPUs available; using jobs={cpus}", file=sys.stderr)
        cfg.jobs = cpus


def load_params(path: str | Path = "params.yaml") -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run from the project root (where dvc.yaml is)")
    return to_config(OmegaConf.load(path))


def model_config_dict(m: Any) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(m))
