"""What every stage entry point shares: load validated params, turn user errors into one line."""

from __future__ import annotations

import sys
from typing import Callable

from neshmm.config import Config, load_params
from neshmm.errors import NeshmmError


def run(main: Callable[[Config], None], params: str = "params.yaml") -> None:
    """Run ``main`` with the validated config; a NeshmmError exits 2 with one stderr line."""
    try:
        main(load_params(params))
    except NeshmmError as exc:
        stage = main.__module__.rsplit(".", 1)[-1]
        print(f"error [{stage}]: {exc}", file=sys.stderr)
        sys.exit(2)
