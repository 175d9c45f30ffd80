"""Stage `params`: the first stage, whose only dependency is conf/, so that `dvc repro`
notices an edit of conf/ (DVC reads params.yaml, not conf/) and stops with one line when
params.yaml was not recomposed (neshmm.freshness). It writes nothing: a stage that
rewrote params.yaml would change the params of stages DVC has already judged unchanged,
and would undo `dvc exp run -S` overrides."""

import sys

from neshmm import freshness
from neshmm.config import load_params
from neshmm.errors import NeshmmError

if __name__ == "__main__":
    try:
        how = freshness.check("params.yaml")
        load_params("params.yaml")  # the schema and range checks, before any work
    except NeshmmError as exc:
        print(f"error [params]: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"params.yaml {how}")
