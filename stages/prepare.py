"""Stage `prepare`: parse the corpus once, skip and count bad files (neshmm.pipeline.prepare)."""

from neshmm.pipeline import prepare
from stages._common import PATHS, run

if __name__ == "__main__":
    run("prepare", lambda cfg: prepare.run(cfg, out=PATHS.prepared))
