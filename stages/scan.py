"""Stage `scan`: write the corpus manifest that `prepare` depends on (neshmm.pipeline.scan)."""

from neshmm.pipeline import scan
from stages._common import PATHS, run

if __name__ == "__main__":
    run("scan", lambda cfg: scan.run(cfg, out=PATHS.manifest, paths=PATHS))
