"""`joint.*`, `evaluate.cross_voice.*` and `render.roles` with the joint system: one-line errors."""

from __future__ import annotations

import pytest
import yaml
from omegaconf import OmegaConf

from helpers import ROOT
from neshmm.config import SYSTEMS, to_config
from neshmm.errors import ConfigError


def config(**updates):
    cfg = OmegaConf.create(yaml.safe_load((ROOT / "params.yaml").read_text()))
    OmegaConf.set_struct(cfg, False)
    for key, value in updates.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return to_config(cfg)


BAD = [
    ({"joint.frame_beats": 0.3}, "joint.frame_beats=0.3: must be a divisor of sample.beats=128"),
    ({"joint.frame_beats": 0.0}, "joint.frame_beats=0.0: must be a number of beats > 0"),
    ({"sample.beats": 10.1}, "joint.frame_beats=0.125: must be a divisor of sample.beats=10.1"),
    ({"joint.n_components": 0}, "joint.n_components=0: must be an integer >= 1"),
    ({"joint.n_iter": 0}, "joint.n_iter=0: must be an integer >= 1"),
    ({"joint.n_init": 0}, "joint.n_init=0: must be an integer >= 1"),
    ({"joint.tol": -1.0}, "joint.tol=-1.0: must be >= 0"),
    ({"joint.seed": -1}, "joint.seed=-1: must be an integer >= 0"),
    ({"joint.emission_prior": 0.0}, "joint.emission_prior=0.0: must be > 0"),
    ({"joint.implementation": "fast"}, "joint.implementation='fast': must be 'scaling' or 'log'"),
    ({"joint.n_components": 2.5}, "joint.n_components=2.5: must be an integer"),
    ({"joint.foo": 1}, "joint.foo: unknown key; allowed keys: frame_beats, n_components"),
    ({"evaluate.cross_voice.onset_tolerance_beats": 0.75}, "evaluate.cross_voice.onset_tolerance_beats=0.75: must be in [0, 0.5]"),
    ({"render.roles": ["model", "jiont"]}, "render.roles=['model', 'jiont']: must be a non-empty list of model, baseline, joint"),
]


@pytest.mark.parametrize("updates,expected", BAD, ids=[str(u) for u, _ in BAD])
def test_bad_joint_settings_are_one_line_errors(updates, expected):
    with pytest.raises(ConfigError) as e:
        config(**updates)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(expected), msg


def test_defaults_are_the_library_authors_and_joint_is_rendered():
    cfg = config()
    j = cfg.joint
    assert (j.frame_beats, j.n_components, j.n_iter, j.tol, j.seed, j.n_init, j.emission_prior, j.implementation) == (
        0.125, 16, 100, 0.01, 17, 1, 0.1, "scaling")
    assert list(cfg.render.roles) == list(SYSTEMS) == ["model", "baseline", "joint"]
    assert config(**{"sample.beats": 12.5, "joint.frame_beats": 0.25}).joint.frame_beats == 0.25
