"""Stage `render`: WAV, piano rolls and render/index.html (neshmm.pipeline.render)."""

from neshmm.pipeline import render
from stages._common import PATHS, run

if __name__ == "__main__":
    run("render", lambda cfg: render.run(cfg, PATHS.samples, PATHS.models, PATHS.prepared, PATHS.metrics / "kl.json", PATHS.render))
