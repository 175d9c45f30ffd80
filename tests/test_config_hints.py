"""Unknown keys in params.yaml name the closest valid key (neshmm.config._check_keys)."""

from __future__ import annotations

import pytest
import yaml

from helpers import ROOT
from neshmm.config import to_config
from neshmm.errors import ConfigError


def params(**edits) -> dict:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in edits.items():
        group, _, leaf = key.partition("__")
        raw[group][leaf] = value
    return raw


def test_typo_names_the_closest_key():
    raw = params(model__n_component=8)
    with pytest.raises(ConfigError, match=r"^model\.n_component: unknown key; did you mean model\.n_components\? allowed keys: "):
        to_config(raw)


def test_unrelated_key_lists_the_allowed_keys_only():
    with pytest.raises(ConfigError, match=r"^data\.zzz: unknown key; allowed keys: name, path"):
        to_config(params(data__zzz=1))
