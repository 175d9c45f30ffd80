"""Token sequence models behind one interface (fit, log_likelihood, sample, save/load).

The registry is the package itself: a model named ``<name>`` is the module
``neshmm.models.<name>``, which sets ``MODEL`` to its :class:`TokenModel` subclass; the
class carries its config schema as ``MODEL.Config`` and its range checks as
``MODEL.validate_config``. Adding a model type is that module plus ``conf/model/<name>.yaml``;
nothing else in the project names model types. Model modules import heavy libraries only
inside methods, so listing and validating models stays fast for every stage.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from pathlib import Path

from neshmm.errors import ConfigError, DataError
from neshmm.models.base import TokenModel, read_model_file

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@functools.lru_cache(maxsize=1)
def _registered() -> tuple[str, ...]:
    """Read once per process: every lookup (config validation, each model file loaded)
    would otherwise re-read the package's sources."""
    here = Path(__file__).parent
    return tuple(sorted(
        m.name
        for m in pkgutil.iter_modules([str(here)])
        if "\nMODEL = " in (here / f"{m.name}.py").read_text(encoding="utf-8")
    ))


def model_names() -> list[str]:
    """Every registered model name (modules of this package that define ``MODEL``)."""
    return list(_registered())


def model_class(name: str, error=ConfigError, where: str = "model.name") -> type[TokenModel]:
    """The class registered as ``name``; ``error(one line)`` when there is none.

    Only names of modules in this package are imported (checked against
    :func:`model_names`), so a crafted model-file header cannot import anything else.
    """
    names = model_names()
    if not isinstance(name, str) or not _NAME.match(name) or name not in names:
        raise error(f"{where}={name!r}: unknown model; allowed: {', '.join(names)}")
    return importlib.import_module(f"{__name__}.{name}").MODEL


def build_model(cfg, n_symbols: int) -> TokenModel:
    """A fresh, unfitted model for the typed config object ``cfg`` (``MODEL.Config``)."""
    return model_class(cfg.name).from_config(cfg, n_symbols)


def load_model(path: str | Path) -> TokenModel:
    """The fitted model saved at ``path`` (see :meth:`TokenModel.save`), never unpickled."""
    meta, arrays = read_model_file(path)
    if meta.get("skipped"):
        raise DataError(f"{path}: model was skipped at training ({meta.get('reason')})")
    cls = model_class(meta.get("model"), error=DataError, where=f"{path}: header model")
    try:
        return cls.from_arrays(arrays, meta)
    except DataError as exc:
        raise DataError(f"{path}: {exc}; retrain it with `dvc repro -f train@<voice>-<role>`") from None


__all__ = ["TokenModel", "build_model", "load_model", "model_class", "model_names"]
