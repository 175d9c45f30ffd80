"""Stage `sample`: seeded four-voice pieces per role as MIDI (neshmm.pipeline.sample)."""

from neshmm.pipeline import sample
from stages._common import PATHS, run

if __name__ == "__main__":
    run("sample", lambda cfg: sample.run(cfg, models=PATHS.models, tokens_dir=PATHS.tokens, out=PATHS.samples))
