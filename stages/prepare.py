"""Stage `prepare`: parse the files of the corpus manifest once, skip and count bad ones (neshmm.pipeline.prepare)."""

from neshmm.pipeline import prepare
from stages._common import PATHS, run

if __name__ == "__main__":
    run("prepare", lambda cfg: prepare.run(cfg, manifest=PATHS.manifest, out=PATHS.prepared))
