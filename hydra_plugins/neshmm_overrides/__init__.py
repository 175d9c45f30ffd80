"""One-line errors, with the closest valid key, for a mistyped override such as
``dvc exp run -S model.n_component=8``.

Why a Hydra plugin: ``dvc exp run -S`` composes conf/ with Hydra inside DVC, before any
stage runs, so no stage can word that error. DVC imports the ``hydra_plugins`` package
from the project root before composing (``dvc.utils.hydra.load_hydra_plugins``), and so
do ``python -m neshmm.params`` and the Hydra sweep. Hydra itself would print five lines
and advise ``+model.n_component=8``, which composes, writes the typo into params.yaml and
fails later in a stage; DVC adds "unexpected error" and a support link.

This module wraps Hydra's override step (``ConfigLoaderImpl._apply_overrides_to_config``,
hydra-core 1.3, pinned <1.4 in pyproject.toml; if the name is absent it does nothing):

* ``key=value`` and ``+key=value`` whose key conf/ does not define stop with one line
  naming the closest defined key. conf/ defines every key the schema allows
  (neshmm/config.py), so adding one with ``+`` can only fail later;
* ``++key=value`` (Hydra's explicit "add or override") and ``hydra.*`` keys are left to
  Hydra and to the schema checks.

The error is a ``ConfigCompositionException`` (what Hydra raises) and, when DVC is
installed, a ``DvcException``, which DVC prints as a single ``ERROR: ...`` line. Nothing is
written: DVC and neshmm.params write params.yaml only after a successful composition.
"""

from __future__ import annotations

import difflib

from hydra.errors import ConfigCompositionException

try:
    from dvc.exceptions import DvcException

    _BASES: tuple = (ConfigCompositionException, DvcException)
except ImportError:  # Hydra without DVC (e.g. the sweep on a cluster node)
    _BASES = (ConfigCompositionException,)


class UnknownOverrideKey(*_BASES):
    """An override names a key conf/ does not define; the message is one line."""

    one_line = True

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


def _children(node) -> list[str]:
    from omegaconf import DictConfig

    return [str(k) for k in node.keys()] if isinstance(node, DictConfig) else []


def unknown_key_message(cfg, key: str, input_line: str) -> str | None:
    """The one line for an override of ``key`` absent from ``cfg``, or None if it exists."""
    node, path = cfg, []
    for part in key.split("."):
        names = _children(node)
        if part in names:
            node, path = node[part], path + [part]
            continue
        if not path:
            names = [n for n in names if n != "hydra"]
        where = ".".join(path)
        close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {'.'.join(path + close)}?"
        elif names:
            hint = f"keys{' under ' + where if where else ''}: {', '.join(names)}"
        else:
            hint = f"{where or 'it'} has no keys"
        return f"{input_line}: conf/ has no key {'.'.join(path + [part])}; {hint}"
    return None


def _install() -> None:
    try:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
    except ImportError:
        return
    original = ConfigLoaderImpl.__dict__.get("_apply_overrides_to_config")
    if original is None or getattr(original, "_neshmm", False):
        return
    apply = original.__func__ if isinstance(original, staticmethod) else original

    def _apply_overrides_to_config(overrides, cfg):
        for o in overrides:
            key = o.key_or_group
            if o.package is not None or o.is_delete() or o.is_force_add() or key.split(".")[0] == "hydra":
                continue
            msg = unknown_key_message(cfg, key, o.input_line or key)
            if msg:
                raise UnknownOverrideKey(msg)
        return apply(overrides, cfg)

    _apply_overrides_to_config._neshmm = True
    ConfigLoaderImpl._apply_overrides_to_config = staticmethod(_apply_overrides_to_config)


_install()
