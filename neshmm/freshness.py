"""Refuse to run a stage on a params.yaml that is not what ``conf/`` composes to.

``dvc repro`` reads params.yaml, not ``conf/``: after an edit of ``conf/`` without
``python -m neshmm.params`` DVC sees unchanged params and says "Data and pipelines are up
to date", or, worse, a stage that reruns for another reason uses the stale values. Every
stage shell calls :func:`check` first, and the cheap first stage ``params`` (whose only
dependency is ``conf/``) makes ``dvc repro`` itself notice an edit of ``conf/``.

Composition through Hydra costs about half a second, paid by every stage; a stamp holds
the hash of the last (conf/ files, params.yaml) pair found fresh, so an unchanged pair is
a few file reads (`.dvc/tmp/neshmm-params-fresh`, beside DVC's own temporary files).

Inside ``dvc exp run`` the check is relaxed, because DVC itself composes params.yaml from
``conf/`` plus the ``-S`` overrides, which no stage can see:

* queued/temp runs (a copy under ``.dvc/tmp/exps``, ``DVC_ROOT`` elsewhere) are not
  checked: DVC composed params.yaml in the workspace when the run was queued, and the copy
  lacks the git-ignored ``conf/local/``;
* a workspace run whose params.yaml differs from the baseline commit's was composed by
  ``-S`` (or edited by the user on purpose) and is taken as is; one whose params.yaml is
  the baseline's unchanged (``dvc exp run`` without ``-S``) is checked like ``dvc repro``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

from neshmm.errors import ConfigError

STAMP = Path(".dvc/tmp/neshmm-params-fresh")
FIX = "run `python -m neshmm.params` (or `python -m neshmm.sweep.adopt` to keep params.yaml's values in conf/)"


def fingerprint(params: Path, conf: Path) -> str:
    """Hash of every file under ``conf/`` (names and bytes) and of params.yaml."""
    h = hashlib.sha256()
    for p in sorted(conf.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(conf).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(b"params\0" + params.read_bytes())
    return h.hexdigest()


def _leaves(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict) and d:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): d}


def first_difference(have: str, want: str) -> str:
    """The first key where params.yaml (``have``) and the composition (``want``) differ, in words."""
    import yaml

    a, b = _leaves(yaml.safe_load(have) or {}), _leaves(yaml.safe_load(want) or {})
    for key in sorted(set(a) | set(b)):
        if key not in a:
            return f"conf/ has {key}={b[key]!r}, params.yaml lacks it"
        if key not in b:
            return f"params.yaml has {key}={a[key]!r}, conf/ lacks it"
        if a[key] != b[key]:
            return f"conf/ gives {key}={b[key]!r}, params.yaml has {a[key]!r}"
    return "they differ in formatting only"


def _exp_run_exempt(params: Path, root: Path) -> bool:
    """True inside `dvc exp run` where DVC composed params.yaml itself (see module doc)."""
    baseline = os.environ.get("DVC_EXP_BASELINE_REV")
    if not baseline:
        return False
    dvc_root = os.environ.get("DVC_ROOT")
    if dvc_root and Path(dvc_root).resolve() != root.resolve():
        return True
    proc = subprocess.run(["git", "show", f"{baseline}:{params.as_posix()}"], cwd=root,
                          capture_output=True)
    return proc.returncode != 0 or proc.stdout != (root / params).read_bytes()


def check(params: str | Path = "params.yaml", root: str | Path = ".") -> str:
    """Raise ConfigError (one line: where they differ, how to fix) unless params.yaml is
    what conf/ composes to; return a short word on how it was decided."""
    root = Path(root)
    params = Path(params)
    conf = root / "conf"
    path = root / params
    if not conf.is_dir() or not path.is_file():
        return "not checked (no conf/ or params.yaml)"
    if _exp_run_exempt(params, root):
        return "composed by dvc exp run, not checked"
    key = fingerprint(path, conf)
    stamp = root / STAMP
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == key:
        return "matches conf/ (cached)"
    from neshmm.params import compose_error_line, composed_text

    try:
        want = composed_text([], root)
    except Exception as exc:  # Hydra's errors, as one line
        raise ConfigError(f"conf/ does not compose: {compose_error_line(exc)}") from None
    have = path.read_text(encoding="utf-8")
    if have != want:
        raise ConfigError(f"{params} is stale: {first_difference(have, want)}; {FIX}")
    if stamp.parent.is_dir():
        from neshmm import atomic

        atomic.write_text(stamp, key + "\n")
    return "matches conf/"
