"""Stage `evaluate`: metrics JSON/tables and pitch-histogram plots (neshmm.pipeline.evaluate)."""

from neshmm.pipeline import evaluate
from stages._common import PATHS, run

if __name__ == "__main__":
    run("evaluate", lambda cfg: evaluate.run(cfg, PATHS.tokens, PATHS.models, PATHS.samples, PATHS.metrics, PATHS.plots,
                                                   prepared=PATHS.prepared))
