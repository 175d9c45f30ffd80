"""What every stage entry point shares: load validated params, turn user errors into one line."""

from __future__ import annotations

import sys
from typing import Callable

from neshmm.config import Config, load_params
from neshmm.errors import NeshmmError


def stage_name(main: Callable) -> str:
    """``prepare`` for stages.prepare, also when run as ``python -m stages.prepare``."""
    module = main.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else sys.argv[0].rsplit("/", 1)[-1].removesuffix(".py")
    return module.rsplit(".", 1)[-1]


def run(main: Callable[[Config], None], params: str = "params.yaml") -> None:
    """Run ``main`` with the validated config; a NeshmmError exits 2 with one stderr line."""
    try:
        main(load_params(params))
    except NeshmmError as exc:
        stage = stage_name(main)
        print(f"error [{stage}]: {exc}", file=sys.stderr)
        sys.exit(2)
