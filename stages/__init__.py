"""Stage shells (`python -m stages.<name>`, run by `dvc repro`).

A Ctrl-C reaches the stage at any moment, often while it is still importing numpy or
hmmlearn, before :func:`stages._common.run` can catch it: this hook, installed before any
stage module loads, turns an uncaught KeyboardInterrupt into one line instead of a traceback
(outputs are written atomically, so an interrupted stage has written nothing).
"""

import sys

_default_hook = sys.excepthook


def _interrupted(exc_type, exc, tb):
    if issubclass(exc_type, KeyboardInterrupt):
        stage = (sys.argv[0].rsplit("/", 1)[-1].removesuffix(".py") or "stage") if sys.argv else "stage"
        print(f"interrupted [{stage}]: nothing was written; run `dvc repro` to continue", file=sys.stderr)
        return
    _default_hook(exc_type, exc, tb)


sys.excepthook = _interrupted
