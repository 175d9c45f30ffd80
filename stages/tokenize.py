"""Stage `tokenize`: per-voice tokens and vocabularies (neshmm.pipeline.tokenize)."""

from neshmm.pipeline import tokenize
from stages._common import PATHS, run

if __name__ == "__main__":
    run("tokenize", lambda cfg: tokenize.run(cfg, prepared=PATHS.prepared, out=PATHS.tokens))
