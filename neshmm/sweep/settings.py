"""The ``sweep:`` section of conf/sweep.yaml, split from the pipeline config and validated.

conf/sweep.yaml is the pipeline's config.yaml plus this section; the pipeline schema
(neshmm.config) rejects unknown keys, so the section is taken off before validation.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from neshmm.config import ROLES, Config, to_config
from neshmm.errors import ConfigError
from neshmm.models import model_class, model_names


@dataclass
class SweepSettings:
    # Content-addressed cache of corpora, tokens and finished jobs; relative to the
    # folder the sweep was started from (the project root).
    cache_dir: str = ".cache/neshmm"
    # Processes of `hydra/launcher=parallel` (joblib); -1 = one per CPU core.
    n_jobs: int = -1


def not_applicable(raw: dict[str, Any]) -> list[str]:
    """Drop model keys the chosen model type does not have; return the set ones as ``role.key``.

    conf/sweep.yaml gives `model` every key of every model type (null when unset), so a
    grid such as ``model.n_components=4,8 model=hmm,markov`` composes. Unset keys go
    silently; set keys that belong to another type are ignored and reported, so the Markov
    jobs of that grid collapse into one cached run. A key no model type knows is still an
    error, reported by the schema.
    """
    schemas = {name: model_class(name).Config for name in model_names()}
    known = {f.name for schema in schemas.values() for f in fields(schema)} - {"name"}
    dropped = []
    for role in ROLES:
        node = raw.get(role)
        if not isinstance(node, dict) or node.get("name") not in schemas:
            continue
        own = {f.name for f in fields(schemas[node["name"]])}
        for key in [k for k in node if k in known]:
            if node[key] is None:
                del node[key]
            elif key not in own:
                del node[key]
                dropped.append(f"{role}.{key}")
    return dropped


def split_config(cfg: DictConfig | dict[str, Any]) -> tuple[SweepSettings, Config, list[str]]:
    """(sweep settings, validated pipeline config, ignored model keys) of a sweep config."""
    raw = OmegaConf.to_container(OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg, resolve=True)
    section = raw.pop("sweep", None) or {}
    ignored = not_applicable(raw)
    try:
        settings: SweepSettings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SweepSettings), section))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        raise ConfigError(f"sweep.{key}: {str(exc).splitlines()[0]}" if key else str(exc).splitlines()[0]) from None
    if not (settings.n_jobs == -1 or settings.n_jobs >= 1):
        raise ConfigError(f"sweep.n_jobs={settings.n_jobs!r}: must be -1 (one per core) or an integer >= 1")
    if not settings.cache_dir:
        raise ConfigError("sweep.cache_dir='': must be a folder path")
    return settings, to_config(raw), ignored
