"""Stage `render`: WAV, piano rolls and render/index.html (neshmm.pipeline.render)."""

import gc

from neshmm.pipeline import render
from stages._common import PATHS, run

if __name__ == "__main__":
    run("render", lambda cfg: render.run(cfg, PATHS.samples, PATHS.models, PATHS.prepared, PATHS.metrics / "kl.json", PATHS.render))
    # Everything is written and closed; exit without the interpreter's last garbage
    # collections over numba's and matplotlib's objects (~0.3 s of a ~3 s stage). Frozen
    # objects are still freed by reference counting; only cycles are left to the OS.
    gc.freeze()
