"""What every stage shell shares: load validated params, run one step, turn user errors into one line."""

from __future__ import annotations

import sys
from typing import Callable

from neshmm import freshness
from neshmm.config import Config, load_params
from neshmm.errors import NeshmmError
from neshmm.pipeline.paths import Paths

PATHS = Paths()


def run(stage: str, step: Callable[[Config], str], params: str = "params.yaml") -> None:
    """Run ``step`` with the validated config and print its summary; a NeshmmError exits 2
    with one stderr line ``error [<stage>]: ...``. A params.yaml that is not what conf/
    composes to is such an error (neshmm.freshness): a stage never runs on stale values."""
    try:
        freshness.check(params)
        print(step(load_params(params)))
    except NeshmmError as exc:
        print(f"error [{stage}]: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C: outputs are written atomically, nothing half-done remains
        print(f"interrupted [{stage}]: nothing was written; run `dvc repro` to continue", file=sys.stderr)
        sys.exit(130)
